// Package chartstest drives a real headless Chromium (through chromedp) to check that stylelab's charts are
// drawn: it is imported by tests only (charts, dashboard).
//
// Skipping rule, shared by every browser test: a test skips, saying why, only when STYLELAB_REQUIRE_BROWSER
// is unset and either `go test -short` is used or no Chromium is found. With STYLELAB_REQUIRE_BROWSER=1 (CI) a
// missing browser fails the test. Chromium is looked up as $STYLELAB_CHROMIUM, then chromium,
// chromium-browser, google-chrome on PATH (Debian: apt-get install -y --no-install-recommends chromium).
package chartstest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// ChromiumPath is the Chromium executable to use, or "" when none is installed.
func ChromiumPath() string {
	if p := os.Getenv("STYLELAB_CHROMIUM"); p != "" {
		if q, err := exec.LookPath(p); err == nil {
			return q
		}
		return ""
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// Browser starts a fresh headless Chromium (own temporary profile, no sandbox, no GPU, no background
// networking) and returns a chromedp context for it, closed when the test ends. It skips or fails t as the
// package comment says.
func Browser(t testing.TB) context.Context {
	t.Helper()
	require := os.Getenv("STYLELAB_REQUIRE_BROWSER") != ""
	path := ChromiumPath()
	switch {
	case path == "" && require:
		t.Fatal("STYLELAB_REQUIRE_BROWSER is set but no Chromium was found: install it (apt-get install -y --no-install-recommends chromium) or set STYLELAB_CHROMIUM to its path")
	case path == "":
		t.Skip("browser test skipped: no Chromium found (apt-get install -y --no-install-recommends chromium, or set STYLELAB_CHROMIUM); set STYLELAB_REQUIRE_BROWSER=1 to make this a failure")
	case testing.Short() && !require:
		t.Skip("browser test skipped under -short; set STYLELAB_REQUIRE_BROWSER=1 to run it anyway")
	}
	profile := t.TempDir()
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.UserDataDir(profile),
		chromedp.WindowSize(1280, 1000),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-default-apps", true),
		chromedp.Flag("force-device-scale-factor", "1"),
	)
	ctx, cancel := chromedp.NewContext(allocCtx)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	// Start the browser now, without a deadline (a deadline on the first Run would bound the browser's life).
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("starting Chromium (%s): %v", path, err)
	}
	return ctx
}

// Drawn is a chart as the browser drew it, read back from the ECharts instance and its canvas.
type Drawn struct {
	Series int   `json:"series"` // series in the chart
	Points []int `json:"points"` // data items per series
	Gaps   []int `json:"gaps"`   // items per series whose y value is NaN (drawn as a gap)
	// Pixels counts canvas pixels within a small distance of the first series' line colour: the curve
	// itself (plus the legend swatch), zero when nothing was plotted.
	Pixels int    `json:"pixels"`
	Color  string `json:"color"`  // the first series' line colour
	Width  int    `json:"width"`  // canvas width in pixels
	Height int    `json:"height"` // canvas height in pixels
}

const inspectJS = `(function (id) {
  var el = document.getElementById(id);
  if (!el || typeof echarts === "undefined") return null;
  var chart = echarts.getInstanceByDom(el);
  if (!chart) return null;
  var cv = el.querySelector("canvas");
  if (!cv || cv.width === 0) return null;
  var model = chart.getModel(), n = model.getSeriesCount(), points = [], gaps = [];
  for (var i = 0; i < n; i++) {
    var d = model.getSeriesByIndex(i).getData(), dim = d.mapDimension("y"), g = 0;
    for (var j = 0; j < d.count(); j++) { var v = d.get(dim, j); if (v !== v) g++; }
    points.push(d.count()); gaps.push(g);
  }
  var color = "", px = 0;
  if (n > 0) {
    var st = model.getSeriesByIndex(0).getData().getVisual("style");
    color = String(st.stroke || st.fill || "");
    var probe = document.createElement("canvas").getContext("2d");
    probe.fillStyle = color; var hex = probe.fillStyle; // normalised to #rrggbb
    var r = parseInt(hex.substr(1, 2), 16), gg = parseInt(hex.substr(3, 2), 16), b = parseInt(hex.substr(5, 2), 16);
    var img = cv.getContext("2d").getImageData(0, 0, cv.width, cv.height).data;
    for (var k = 0; k < img.length; k += 4) {
      if (img[k + 3] > 128 && Math.abs(img[k] - r) + Math.abs(img[k + 1] - gg) + Math.abs(img[k + 2] - b) < 60) px++;
    }
  }
  return {series: n, points: points, gaps: gaps, pixels: px, color: color, width: cv.width, height: cv.height};
})(%q)`

// Inspect waits up to timeout for ECharts to have drawn the chart in the element with the given id, and
// reads it back. It fails when the chart does not appear in time.
func Inspect(ctx context.Context, elementID string, timeout time.Duration) (Drawn, error) {
	tctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	d, err := chromedp.Run(tctx, chromedp.Poll[*Drawn](fmt.Sprintf(inspectJS, elementID), chromedp.WithPollingTimeout(timeout)))
	if err != nil {
		return Drawn{}, fmt.Errorf("chart #%s was not drawn within %v: %w", elementID, timeout, err)
	}
	if d == nil {
		return Drawn{}, errors.New("chart #" + elementID + " read back as null")
	}
	return *d, nil
}
