package dashboard

import (
	"math"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stylelab/stylelab/tracker/charts/chartstest"
	"github.com/stylelab/stylelab/tracker/format"
)

// Aggregates in Chromium. The runs table grouped by loss shows, per group, n, mean, std (sample), min and
// max of the chosen metric — checked against a two-pass computation over the store's runs — and a chart of
// error bars (box mean ± std, whiskers min–max) per group. The sweep view's parallel coordinates take the
// axes and log axes from the URL, offer no log axis for a param with a value ≤ 0, and write the reader's
// choices back into the URL.
func TestBrowserAggregates(t *testing.T) {
	ctx := chartstest.Browser(t)
	path, _ := fillStore(t, sweepRuns())
	st, srv := openServer(t, path, Options{})

	if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/?group=params.loss&metric=total")); err != nil {
		t.Fatal(err)
	}
	if _, err := chartstest.Inspect(ctx, "group-chart", 30*time.Second); err != nil {
		t.Fatal(err)
	}
	type row struct {
		Group                  string
		N, Mean, Std, Min, Max string
	}
	rows, err := chromedp.Run(ctx, chromedp.Evaluate[[]row](`Array.from(document.querySelectorAll("table.groups tbody tr")).map(function (tr) {
		var c = function (k) { return tr.querySelector("td." + k).textContent; };
		return {Group: tr.getAttribute("data-group"), N: c("n"), Mean: c("mean"), Std: c("std"), Min: c("min"), Max: c("max")}; })`))
	if err != nil {
		t.Fatal(err)
	}
	box, err := chromedp.Run(ctx, chromedp.Evaluate[struct {
		Cats []string    `json:"cats"`
		Box  [][]float64 `json:"box"`
	}](`(function () { var o = echarts.getInstanceByDom(document.getElementById("group-chart")).getOption();
		return {cats: o.xAxis[0].data, box: o.series[0].data.map(function (d) { return Array.isArray(d) ? d : d.value; })}; })()`))
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 2 || len(box.Cats) != 2 {
		t.Fatalf("groups %+v, chart categories %v: want gram and meanvar", rows, box.Cats)
	}
	for _, r := range rows {
		found, err := st.Search("params.loss = '"+r.Group+"'", "", 1000)
		if err != nil {
			t.Fatal(err)
		}
		var xs []float64
		for _, ri := range found {
			if x, ok := ri.Latest["total"]; ok && !math.IsNaN(x) && !math.IsInf(x, 0) {
				xs = append(xs, x)
			}
		}
		mean, lo, hi := 0.0, math.Inf(1), math.Inf(-1)
		for _, x := range xs {
			mean += x
			lo, hi = math.Min(lo, x), math.Max(hi, x)
		}
		mean /= float64(len(xs))
		ss := 0.0
		for _, x := range xs {
			ss += (x - mean) * (x - mean)
		}
		std := math.Sqrt(ss / float64(len(xs)-1))
		want := row{r.Group, strconv.Itoa(len(xs)), format.Value(mean), format.Value(std), format.Value(lo), format.Value(hi)}
		if r != want {
			t.Errorf("group row %+v, want %+v", r, want)
		}
		i := strings.Index(strings.Join(box.Cats, "\x00")+"\x00", r.Group+"\x00")
		k := strings.Count((strings.Join(box.Cats, "\x00") + "\x00")[:max(i, 0)], "\x00")
		b := box.Box[k]
		wb := []float64{lo, math.Max(lo, mean-std), mean, math.Min(hi, mean+std), hi}
		for j := range wb {
			if math.Abs(b[j]-wb[j]) > 1e-9*math.Abs(wb[j]) {
				t.Errorf("group %s error bar %v, want %v", r.Group, b, wb)
				break
			}
		}
	}
	dir := os.Getenv("STYLELAB_SCREENSHOT_DIR")
	if dir != "" {
		screenshot(t, ctx, dir+"/groups.png")
	}

	// Parallel coordinates from the URL: style_weight (log) and seed, then the metric.
	if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/sweeps/s1?axes=style_weight,seed&log=style_weight")); err != nil {
		t.Fatal(err)
	}
	if _, err := chartstest.Inspect(ctx, "sweep-parallel", 30*time.Second); err != nil {
		t.Fatal(err)
	}
	type par struct {
		Axes    []string `json:"axes"`
		URL     string   `json:"url"`
		SeedLog bool     `json:"seedLogDisabled"`
	}
	read := func(js string) par {
		t.Helper()
		v, err := chromedp.Run(ctx, chromedp.Evaluate[par](`(function () { `+js+`
			var o = window.stylelabSweep.parallel.getOption();
			var s = document.querySelector('[data-axis="log:seed"]');
			return {axes: o.parallelAxis.map(function (a) { return a.name + ":" + a.type; }), url: location.search,
				seedLogDisabled: !!(s && s.disabled)}; })()`))
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	p := read("")
	if strings.Join(p.Axes, ",") != "style_weight:log,seed:value,total:value" || !p.SeedLog {
		t.Errorf("parallel from the URL: %+v, want style_weight on a log axis, seed (log disabled: seed 0), total", p)
	}
	p = read(`var c = document.querySelector('[data-axis="log:total"]'); c.checked = true; c.dispatchEvent(new Event("change"));
		var s = document.querySelector('[data-axis="show:seed"]'); s.checked = false; s.dispatchEvent(new Event("change"));`)
	q, _ := urlQuery(p.URL)
	if strings.Join(p.Axes, ",") != "style_weight:log,total:log" || q["axes"] != "style_weight" || q["log"] != "style_weight,total" || q["metric"] != "total" {
		t.Errorf("after choosing: %+v (query %v), want axes style_weight (log), total (log) remembered in the URL", p, q)
	}
	if dir != "" {
		screenshot(t, ctx, dir+"/sweep-parallel.png")
	}
	// The remembered URL reopens the same view.
	if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/sweeps/s1"+p.URL)); err != nil {
		t.Fatal(err)
	}
	if _, err := chartstest.Inspect(ctx, "sweep-parallel", 30*time.Second); err != nil {
		t.Fatal(err)
	}
	if again := read(""); strings.Join(again.Axes, ",") != "style_weight:log,total:log" {
		t.Errorf("reopened %s: axes %v", p.URL, again.Axes)
	}
}

func urlQuery(search string) (map[string]string, error) {
	out := map[string]string{}
	for _, kv := range strings.Split(strings.TrimPrefix(search, "?"), "&") {
		k, v, _ := strings.Cut(kv, "=")
		v = strings.ReplaceAll(v, "%2C", ",")
		out[k] = v
	}
	return out, nil
}
