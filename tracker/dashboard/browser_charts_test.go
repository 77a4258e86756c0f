package dashboard

import (
	"context"
	"math"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stylelab/stylelab/tracker/charts/chartstest"
)

// lossRun logs what an optimise run logs: losses between 0.003 and 0.4, a per-layer style term, and the
// counters evals (1) and evals_total (1…41), plus one judge score.
func lossRun(name string, scale float64) testRun {
	return testRun{name: name, steps: 41, params: map[string]string{"loss": name},
		metrics: map[string]func(int) float64{
			"total": decay(0.4 * scale), "style": decay(0.3 * scale), "content": decay(0.05 * scale),
			"tv":            func(i int) float64 { return 0.003 * scale * (1 + 0.1*math.Sin(float64(i))) },
			"style/relu1_1": decay(0.1 * scale),
			"evals":         func(int) float64 { return 1 },
			"evals_total":   func(i int) float64 { return float64(i + 1) },
			"judge/ssim":    func(i int) float64 { return 0.5 + 0.01*float64(i) },
		}}
}

// The run and compare pages draw metrics grouped by kind, losses first (total, style, content, tv), the
// counters on a chart of their own; losses open on a log axis, counters on a linear one; the y-axis toggle,
// the smoothing slider (checked against the debiased EMA computed here) and the wall-time x axis redraw the
// charts of their group. STYLELAB_SCREENSHOT_DIR saves run-charts.png.
func TestBrowserChartGroups(t *testing.T) {
	ctx := chartstest.Browser(t)
	path, ids := fillStore(t, []testRun{lossRun("gram", 1), lossRun("mmd", 2)})
	_, srv := openServer(t, path, Options{})

	if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/runs/"+ids[0])); err != nil {
		t.Fatal(err)
	}
	loss, err := chartstest.Inspect(ctx, "run-loss", 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if loss.Series != 4 || loss.Pixels < 300 {
		t.Errorf("loss chart %+v, want 4 drawn series (total, style, content, tv)", loss)
	}
	type chartInfo struct {
		Legend []string `json:"legend"`
		YType  string   `json:"y"`
		XName  string   `json:"x"`
		First  []any    `json:"first"` // series 0's data
	}
	const infoJS = `(function (id) {
		var c = echarts.getInstanceByDom(document.getElementById(id)), o = c.getOption();
		return {legend: o.series.map(function (s) { return s.name; }), y: o.yAxis[0].type, x: o.xAxis[0].name,
			first: o.series[0].data.map(function (p) { return p[1]; })};
	})(%q)`
	info := func(id string) chartInfo {
		t.Helper()
		v, err := chromedp.Run(ctx, chromedp.Evaluate[chartInfo](strings.Replace(infoJS, "%q", `"`+id+`"`, 1)))
		if err != nil {
			t.Fatalf("reading chart %s: %v", id, err)
		}
		return v
	}
	order, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll(".chart-group")).map(function (g) {
		return g.getAttribute("data-kind") + ":" + Array.from(g.querySelectorAll(".stylelab-chart")).map(function (c) { return c.id; }).join("+"); })`))
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(order, " "); got != "loss:run-loss+run-loss-terms judge:run-judge counter:run-counter" {
		t.Errorf("chart groups %q, want losses first, then judge, then counters", got)
	}
	l := info("run-loss")
	if strings.Join(l.Legend, ",") != "total,style,content,tv" || l.YType != "log" {
		t.Errorf("loss chart: legend %v, y %s; want total,style,content,tv on a log axis", l.Legend, l.YType)
	}
	c := info("run-counter")
	if strings.Join(c.Legend, ",") != "evals,evals_total" || c.YType != "value" {
		t.Errorf("counter chart: legend %v, y %s; want evals,evals_total on a linear axis", c.Legend, c.YType)
	}
	if lt := info("run-loss-terms"); strings.Join(lt.Legend, ",") != "style/relu1_1" {
		t.Errorf("loss terms chart: %v", lt.Legend)
	}
	// Toggle the loss group to linear, smooth with 0.5, x by wall time.
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`(function () {
		var box = document.querySelector('.chart-group[data-kind="loss"] .chart-controls');
		var y = box.querySelector('[data-control="y"]'); y.value = "value"; y.dispatchEvent(new Event("change"));
		var s = box.querySelector('[data-control="smooth"]'); s.value = "0.5"; s.dispatchEvent(new Event("input"));
		var x = box.querySelector('[data-control="x"]'); x.value = "time"; x.dispatchEvent(new Event("change"));
		return true; })()`)); err != nil {
		t.Fatal(err)
	}
	l = info("run-loss")
	if l.YType != "value" || l.XName != "wall time (s)" {
		t.Errorf("after the toggles: y %s, x %q; want a linear y axis and wall time on x", l.YType, l.XName)
	}
	if lt := info("run-loss-terms"); lt.YType != "value" {
		t.Errorf("the toggle must apply to the whole group: loss terms y %s", lt.YType)
	}
	if c := info("run-counter"); c.YType != "value" || c.XName != "step" {
		t.Errorf("the counter group must not change: %+v", c)
	}
	// The smoothed total is the debiased EMA (w = 0.5) of 0.4/(1+i).
	m, n := 0.0, 0
	for i, got := range l.First {
		v := 0.4 / (1 + float64(i))
		m = 0.5*m + 0.5*v
		n++
		want := m / (1 - math.Pow(0.5, float64(n)))
		g, ok := got.(float64)
		if !ok || math.Abs(g-want) > 1e-6*want {
			t.Fatalf("smoothed total at step %d = %v, want %.8g", i, got, want)
		}
	}
	if dir := os.Getenv("STYLELAB_SCREENSHOT_DIR"); dir != "" {
		screenshot(t, ctx, dir+"/run-charts.png")
	}

	// The compare page: one chart per metric, grouped the same way, losses first.
	if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/compare?ids="+strings.Join(ids, ","))); err != nil {
		t.Fatal(err)
	}
	if _, err := chartstest.Inspect(ctx, "metric-0", 30*time.Second); err != nil {
		t.Fatal(err)
	}
	titles, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll(".chart-group")).map(function (g) {
		return g.getAttribute("data-kind") + ":" + Array.from(g.querySelectorAll(".stylelab-chart")).map(function (c) {
			var o = echarts.getInstanceByDom(c).getOption(); return o.title[0].text + "/" + o.yAxis[0].type; }).join("+"); })`))
	if err != nil {
		t.Fatal(err)
	}
	want := "loss:total/log+style/log+content/log+tv/log+style/relu1_1/log judge:judge/ssim/value counter:evals/value+evals_total/value"
	if got := strings.Join(titles, " "); got != want {
		t.Errorf("compare charts\n got %s\nwant %s", got, want)
	}
}

// screenshot saves the whole page as a PNG.
func screenshot(t *testing.T, ctx context.Context, file string) {
	t.Helper()
	shot, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, shot, 0o644); err != nil {
		t.Fatal(err)
	}
}
