package dashboard

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stylelab/stylelab/tracker"
	"github.com/stylelab/stylelab/tracker/charts/chartstest"
)

// The compare page, served from a real store under the dashboard's Content-Security-Policy, is drawn by a
// real headless Chromium: every metric chart exists, the "total" chart holds the three runs' curves with
// the diverged run's NaN steps as gaps, its canvas shows the first curve's colour, and the images load.
func TestBrowserComparePage(t *testing.T) {
	ctx := chartstest.Browser(t)
	path, ids := fillStore(t, threeRuns())
	_, srv := openServer(t, path, Options{})

	if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/compare?ids="+strings.Join(ids, ","))); err != nil {
		t.Fatal(err)
	}
	total, err := chartstest.Inspect(ctx, "metric-0", 30*time.Second)
	// Losses come first in rank order: total, style, content (charts.GroupMetrics).
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("total chart: %+v", total)
	if total.Series != 3 {
		t.Fatalf("total chart has %d series, want 3 (one per run)", total.Series)
	}
	for i, n := range total.Points {
		if n != 40 {
			t.Errorf("series %d has %d points, want 40", i, n)
		}
	}
	if total.Gaps[0] != 0 || total.Gaps[1] != 0 || total.Gaps[2] != 10 {
		t.Errorf("gaps per series %v, want [0 0 10] (the third run is NaN from step 30)", total.Gaps)
	}
	if total.Pixels < 300 {
		t.Errorf("only %d pixels of the first curve's colour %s: the chart is blank", total.Pixels, total.Color)
	}
	// Every metric chart was mounted (total, style, content) and the three output images decoded.
	state, err := chromedp.Run(ctx, chromedp.Evaluate[struct {
		Charts int `json:"charts"`
		Images int `json:"images"`
		Loaded int `json:"loaded"`
	}](`(function () {
		var imgs = Array.from(document.querySelectorAll("table.images img"));
		return {charts: window.stylelabCharts.charts.length, images: imgs.length,
			loaded: imgs.filter(function (i) { return i.complete && i.naturalWidth === 24; }).length};
	})()`))
	if err != nil {
		t.Fatal(err)
	}
	if state.Charts != 3 || state.Images != 3 || state.Loaded != 3 {
		t.Errorf("page state %+v, want 3 charts and 3 loaded images", state)
	}

	// The run page draws its chart too.
	if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/runs/"+ids[0])); err != nil {
		t.Fatal(err)
	}
	run, err := chartstest.Inspect(ctx, "run-loss", 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if run.Series != 2 || run.Pixels < 300 {
		t.Errorf("run chart %+v, want 2 drawn series (style, total)", run)
	}

	// The self-contained report (stylelab runs compare --out) draws offline from a file:// URL.
	st, err := tracker.OpenReadOnly(path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var report bytes.Buffer
	if err := WriteCompareReport(&report, st, ids, Options{}); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "compare.html")
	if err := os.WriteFile(file, report.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(ctx, chromedp.Navigate("file://"+file)); err != nil {
		t.Fatal(err)
	}
	offline, err := chartstest.Inspect(ctx, "metric-0", 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if offline.Series != 3 || offline.Gaps[2] != 10 || offline.Pixels < 300 {
		t.Errorf("report's total chart %+v, want 3 drawn series with 10 gaps in the third", offline)
	}
	loaded, err := chromedp.Run(ctx, chromedp.Evaluate[int](`Array.from(document.querySelectorAll("table.images img")).filter(function (i) { return i.complete && i.naturalWidth === 24; }).length`))
	if err != nil || loaded != 3 {
		t.Errorf("report: %d inlined images decoded (%v), want 3", loaded, err)
	}
}

// Many runs in a real headless Chromium: the runs table's thumbnails decode, its group counts match the
// store, the run page puts its images before its metrics, and the sweep view draws its parallel chart (one
// line per run) and a scatter plot that follows the param/metric selection. STYLELAB_SCREENSHOT=FILE.png
// saves the sweep view as the browser drew it.
func TestBrowserManyRuns(t *testing.T) {
	ctx := chartstest.Browser(t)
	path, ids := fillStore(t, sweepRuns())
	st, srv := openServer(t, path, Options{})

	// Runs table grouped by sweep.
	if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/?group=sweep&metric=total")); err != nil {
		t.Fatal(err)
	}
	table, err := chromedp.Run(ctx, chromedp.Poll[*struct {
		Thumbs int            `json:"thumbs"`
		Loaded int            `json:"loaded"`
		MaxW   int            `json:"maxw"`
		Groups map[string]int `json:"groups"`
	}](`(function () {
		var imgs = Array.from(document.querySelectorAll("img.thumb"));
		imgs.forEach(function (i) { i.loading = "eager"; });
		var loaded = imgs.filter(function (i) { return i.complete && i.naturalWidth > 0; });
		if (loaded.length < imgs.length) return null;
		var groups = {};
		document.querySelectorAll("table.groups tbody tr").forEach(function (tr) {
			groups[tr.getAttribute("data-group")] = parseInt(tr.querySelector("td.count").textContent, 10);
		});
		return {thumbs: imgs.length, loaded: loaded.length, groups: groups,
			maxw: Math.max.apply(null, imgs.map(function (i) { return i.getBoundingClientRect().width; }))};
	})()`, chromedp.WithPollingTimeout(30*time.Second)))
	if err != nil {
		t.Fatalf("thumbnails did not all load: %v", err)
	}
	if table.Thumbs != 12 || table.Loaded != 12 || table.MaxW > 98 {
		t.Errorf("runs table: %+v, want 12 loaded thumbnails at most 96 px wide (+border)", table)
	}
	for group, n := range table.Groups {
		f := "not tags.`sweep.id` like '%'"
		if group != "" {
			f = "tags.`sweep.id` = '" + group + "'"
		}
		runs, err := st.Search(f, "", 1000)
		if err != nil || len(runs) != n {
			t.Errorf("group %q shows %d runs, the store has %d (%v)", group, n, len(runs), err)
		}
	}
	if len(table.Groups) != 3 {
		t.Errorf("groups %v, want s1, s2 and the runs without a sweep", table.Groups)
	}

	// The run page: the images come first (above the metrics table and chart) and load.
	if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/runs/"+ids[0])); err != nil {
		t.Fatal(err)
	}
	if _, err := chartstest.Inspect(ctx, "run-loss", 30*time.Second); err != nil {
		t.Fatal(err)
	}
	layout, err := chromedp.Run(ctx, chromedp.Poll[*struct {
		Images  []string `json:"images"`
		ImgY    float64  `json:"imgY"`
		ChartY  float64  `json:"chartY"`
		MetricY float64  `json:"metricY"`
		ParamY  float64  `json:"paramY"`
	}](`(function () {
		var imgs = Array.from(document.querySelectorAll(".images-top img"));
		imgs.forEach(function (i) { i.loading = "eager"; });
		if (!imgs.length || imgs.some(function (i) { return !(i.complete && i.naturalWidth > 0); })) return null;
		var y = function (sel) { return document.querySelector(sel).getBoundingClientRect().top; };
		return {images: imgs.map(function (i) { return i.alt; }), imgY: Math.max.apply(null, imgs.map(function (i) { return i.getBoundingClientRect().bottom; })),
			chartY: y("#run-loss"), metricY: y("#metrics"), paramY: y("#params")};
	})()`, chromedp.WithPollingTimeout(30*time.Second)))
	if err != nil {
		t.Fatalf("run page images: %v", err)
	}
	if strings.Join(layout.Images, ",") != "content.png,output.png" || layout.ImgY > layout.MetricY ||
		layout.MetricY > layout.ChartY || layout.ChartY > layout.ParamY {
		t.Errorf("run page layout %+v: want the images (content, output) above the metrics, then the params", layout)
	}

	// The sweep view.
	if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/sweeps/s1")); err != nil {
		t.Fatal(err)
	}
	par, err := chartstest.Inspect(ctx, "sweep-parallel", 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	type chartState struct {
		Canvas bool      `json:"canvas"`
		Ink    int       `json:"ink"`
		Len    int       `json:"len"`
		Axes   []string  `json:"axes"`
		XName  string    `json:"xname"`
		YName  string    `json:"yname"`
		X      []any     `json:"x"`
		Y      []float64 `json:"y"`
	}
	const stateJS = `(function (id) {
		var el = document.getElementById(id), c = echarts.getInstanceByDom(el), o = c.getOption();
		var cv = el.querySelector("canvas"), img = cv.getContext("2d").getImageData(0, 0, cv.width, cv.height).data, ink = 0;
		for (var k = 0; k < img.length; k += 4) if (img[k + 3] > 128 && img[k] + img[k + 1] + img[k + 2] < 600) ink++;
		var s = o.series[0], out = {canvas: !!cv, ink: ink, len: s.data.length, axes: [], x: [], y: []};
		if (o.parallelAxis) out.axes = o.parallelAxis.map(function (a) { return a.name; });
		if (o.xAxis) { out.xname = o.xAxis[0].name; out.yname = o.yAxis[0].name;
			s.data.forEach(function (d) { out.x.push(d.value[0]); out.y.push(d.value[1]); }); }
		return out;
	})(%q)`
	read := func(id string) chartState {
		t.Helper()
		s, err := chromedp.Run(ctx, chromedp.Evaluate[chartState](fmt.Sprintf(stateJS, id)))
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	p := read("sweep-parallel")
	t.Logf("parallel: %+v (%+v)", p, par)
	if !p.Canvas || p.Len != 12 || strings.Join(p.Axes, ",") != "loss,style_weight,seed,total" || p.Ink < 2000 {
		t.Errorf("parallel chart %+v: want a drawn canvas, 12 lines, axes loss, style_weight, seed, total", p)
	}
	sc := read("sweep-scatter")
	if sc.XName != "loss" || sc.YName != "total" || sc.Len != 12 {
		t.Errorf("scatter starts as %+v, want loss against total, 12 points", sc)
	}
	// Choose style_weight × style in the page: the scatter redraws with those values.
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`(function () {
		var x = document.getElementById("scatter-x"), y = document.getElementById("scatter-y");
		x.value = "style_weight"; x.dispatchEvent(new Event("change"));
		y.value = "style"; y.dispatchEvent(new Event("change"));
		return true;
	})()`)); err != nil {
		t.Fatal(err)
	}
	sc = read("sweep-scatter")
	if sc.XName != "style_weight" || sc.YName != "style" || sc.Len != 12 {
		t.Fatalf("scatter after the selection: %+v, want style_weight against style", sc)
	}
	// Each point is its run's (style_weight, final style) from the store.
	want := map[string]int{}
	found, _ := st.Search("tags.`sweep.id` = 's1'", "", 100)
	for _, r := range found {
		want[fmt.Sprintf("%s %.6g", r.Params["style_weight"], r.Latest["style"])]++
	}
	for i := range sc.X {
		k := fmt.Sprintf("%v %.6g", sc.X[i], sc.Y[i])
		if want[k] == 0 {
			t.Errorf("scatter point %s is no run's (style_weight, style)", k)
		}
		want[k]--
	}
	if out := os.Getenv("STYLELAB_SCREENSHOT"); out != "" {
		if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`(function () {
			var m = document.getElementById("sweep-metric"); m.value = "total"; m.dispatchEvent(new Event("change"));
			var x = document.getElementById("scatter-x"); x.value = "style_weight"; x.dispatchEvent(new Event("change"));
			var y = document.getElementById("scatter-y"); y.value = "total"; y.dispatchEvent(new Event("change")); return true; })()`)); err != nil {
			t.Fatal(err)
		}
		shot, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(out, shot, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
