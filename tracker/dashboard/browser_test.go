package dashboard

import (
	"bytes"
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
	total, err := chartstest.Inspect(ctx, "metric-1", 30*time.Second)
	// Keys come in first-seen order and each run's keys sorted: style, total (run 1), content (run 3).
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
	run, err := chartstest.Inspect(ctx, "run-chart", 30*time.Second)
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
	offline, err := chartstest.Inspect(ctx, "metric-1", 30*time.Second)
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
