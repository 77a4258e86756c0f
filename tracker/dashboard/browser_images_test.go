package dashboard

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stylelab/stylelab/tracker"
	"github.com/stylelab/stylelab/tracker/charts/chartstest"
)

// halfPNG is a w×h PNG, its left half left and its right half right.
func halfPNG(t testing.TB, w, h int, left, right color.RGBA) []byte {
	t.Helper()
	im := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			c := left
			if x >= w/2 {
				c = right
			}
			im.SetRGBA(x, y, c)
		}
	}
	var b bytes.Buffer
	if err := png.Encode(&b, im); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

var (
	red, blue    = color.RGBA{220, 30, 30, 255}, color.RGBA{30, 30, 220, 255}
	green, amber = color.RGBA{30, 200, 30, 255}, color.RGBA{220, 200, 30, 255}
)

// The compare page's image comparison in Chromium: two outputs (A red|blue, B green|amber) at full size;
// the difference map holds |A − B| per pixel and its mean; the slider shows A left of the line and B right
// of it; flip swaps them; a wheel zoom on B's view zooms A's too (synced); an image of another size is
// scaled and the page says so; a comparison of one run says there is nothing to compare it with.
func TestBrowserImageCompare(t *testing.T) {
	ctx := chartstest.Browser(t)
	path, ids := fillStore(t, []testRun{
		{name: "a", steps: 1, metrics: map[string]func(int) float64{"total": decay(1)},
			files: map[string][]byte{"output.png": halfPNG(t, 24, 16, red, blue), "inputs/content.png": halfPNG(t, 48, 32, blue, blue)}},
		{name: "b", steps: 1, metrics: map[string]func(int) float64{"total": decay(2)},
			files: map[string][]byte{"output.png": halfPNG(t, 24, 16, green, amber)}},
	})
	_, srv := openServer(t, path, Options{})
	if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/compare?ids="+strings.Join(ids, ","))); err != nil {
		t.Fatal(err)
	}
	type state struct {
		Ready  bool      `json:"ready"`
		W      int       `json:"w"`
		H      int       `json:"h"`
		Scale  float64   `json:"scale"`
		Mean   float64   `json:"mean"`
		Scaled bool      `json:"scaled"`
		Note   string    `json:"note"`
		A, B   string    `json:"-"`
		PA     [][]int   `json:"pa"` // canvas A pixels at the probe points
		PB     [][]int   `json:"pb"`
		CW     []float64 `json:"cw"`
	}
	// probe reads canvases A and B at fractions fx of their width (y at a third of the height).
	probe := func(js string, fx ...float64) state {
		t.Helper()
		xs := fmt.Sprint(fx)
		xs = "[" + strings.Join(strings.Fields(strings.Trim(xs, "[]")), ",") + "]"
		s, err := chromedp.Run(ctx, chromedp.Poll[*state](`(function () {
			var st = window.stylelabImgCompare; if (!st || !st.ready) return null;
			`+js+`
			var px = function (id) { var c = document.getElementById(id), g = c.getContext("2d");
				return `+xs+`.map(function (f) { var d = g.getImageData(Math.floor(c.width * f), Math.floor(c.height / 3), 1, 1).data; return [d[0], d[1], d[2]]; }); };
			var a = document.getElementById("imgcmp-ca");
			return {ready: st.ready, w: st.w, h: st.h, scale: st.scale, mean: st.stats.mean, scaled: st.scaled,
				note: document.getElementById("imgcmp-note").textContent, pa: px("imgcmp-ca"), pb: px("imgcmp-cb"), cw: [a.width, a.height]};
		})()`, chromedp.WithPollingTimeout(20*time.Second)))
		if err != nil {
			t.Fatalf("image comparison not ready: %v", err)
		}
		return *s
	}
	setMode := func(m string) string {
		return `var md = document.getElementById("imgcmp-mode"); if (md.value !== "` + m + `") { md.value = "` + m + `"; md.dispatchEvent(new Event("change")); }`
	}
	rgb := func(c color.RGBA) []int { return []int{int(c.R), int(c.G), int(c.B)} }
	same := func(got []int, want []int) bool {
		for i := range want {
			if math.Abs(float64(got[i]-want[i])) > 1 {
				return false
			}
		}
		return true
	}
	abs := func(a, b color.RGBA) []int {
		d := func(x, y uint8) int { return int(math.Abs(float64(x) - float64(y))) }
		return []int{d(a.R, b.R), d(a.G, b.G), d(a.B, b.B)}
	}

	// Side by side, fitted: A's view shows red | blue, B's green | amber.
	s := probe(setMode("side"), 0.25, 0.75)
	if s.W != 24 || s.H != 16 || s.Scaled || !same(s.PA[0], rgb(red)) || !same(s.PA[1], rgb(blue)) ||
		!same(s.PB[0], rgb(green)) || !same(s.PB[1], rgb(amber)) {
		t.Fatalf("side by side: %+v", s)
	}
	// Difference map and its mean.
	s = probe(setMode("diff"), 0.25, 0.75)
	wantMean := float64(190+170+0+190+170+190) / 6
	if math.Abs(s.Mean-wantMean) > 1e-9 || !same(s.PA[0], abs(red, green)) || !same(s.PA[1], abs(blue, amber)) {
		t.Errorf("difference: mean %v (want %v), pixels %v (want %v %v)", s.Mean, wantMean, s.PA, abs(red, green), abs(blue, amber))
	}
	if !strings.Contains(s.Note, fmt.Sprintf("Mean absolute difference %.2f of 255", wantMean)) {
		t.Errorf("note %q lacks the mean difference", s.Note)
	}
	// Slider at 75 %: A left of the line (red, then blue), B right of it (amber).
	s = probe(setMode("slider")+`var sp = document.getElementById("imgcmp-split"); sp.value = "75"; sp.dispatchEvent(new Event("input"));`, 0.25, 0.6, 0.9)
	if !same(s.PA[0], rgb(red)) || !same(s.PA[1], rgb(blue)) || !same(s.PA[2], rgb(amber)) {
		t.Errorf("slider at 75%%: %v, want red, blue | amber", s.PA)
	}
	// Flip: A, then B after the button.
	s = probe(setMode("flip"), 0.25)
	if !same(s.PA[0], rgb(red)) {
		t.Errorf("flip shows %v first, want A (red)", s.PA[0])
	}
	s = probe(`document.getElementById("imgcmp-flip").click();`, 0.25)
	if !same(s.PA[0], rgb(green)) {
		t.Errorf("after flip: %v, want B (green)", s.PA[0])
	}
	// Synced zoom: wheel on B's view at its top-left corner, in side-by-side mode: both views zoom, so both
	// right edges now show the left halves (red and green).
	s = probe(setMode("side")+`var b = document.getElementById("imgcmp-cb"), r = b.getBoundingClientRect();
		if (!window.__zoomed) { window.__zoomed = true; for (var i = 0; i < 6; i++) b.dispatchEvent(new WheelEvent("wheel", {deltaY: -100, clientX: r.left, clientY: r.top, bubbles: true, cancelable: true})); }`, 0.95)
	if s.Scale < 3 || !same(s.PA[0], rgb(red)) || !same(s.PB[0], rgb(green)) {
		t.Errorf("after zooming B: scale %v, right edges A %v B %v; want both zoomed (red, green)", s.Scale, s.PA[0], s.PB[0])
	}
	if dir := os.Getenv("STYLELAB_SCREENSHOT_DIR"); dir != "" {
		probe(setMode("slider")+`var sp = document.getElementById("imgcmp-split"); sp.value = "60"; sp.dispatchEvent(new Event("input"));`, 0.5)
		screenshot(t, ctx, dir+"/compare-images.png")
	}
	// B of another size (a's 48×32 content): scaled to A's size, and said.
	s = probe(`var sb = document.getElementById("imgcmp-b"); if (!window.__other) { window.__other = true;
		for (var i = 0; i < sb.options.length; i++) if (/inputs\/content\.png$/.test(sb.options[i].textContent)) sb.selectedIndex = i;
		sb.dispatchEvent(new Event("change")); return null; }`, 0.5)
	if !s.Scaled || !strings.Contains(s.Note, "differ in size: B is scaled to 24×16") || !strings.Contains(s.Note, "(48×32)") {
		t.Errorf("different sizes: scaled %v, note %q", s.Scaled, s.Note)
	}

	// The self-contained report (runs compare --out) compares its inlined images offline, each image once.
	ro, err := tracker.OpenReadOnly(path)
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	var report bytes.Buffer
	if err := WriteCompareReport(&report, ro, ids, Options{}); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(report.String(), "data:image/png;base64,"); n != 3 {
		t.Errorf("report inlines %d images, want 3 (each once)", n)
	}
	file := filepath.Join(t.TempDir(), "compare.html")
	if err := os.WriteFile(file, report.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(ctx, chromedp.Navigate("file://"+file)); err != nil {
		t.Fatal(err)
	}
	s = probe(setMode("diff"), 0.25)
	if math.Abs(s.Mean-wantMean) > 1e-9 || !same(s.PA[0], abs(red, green)) {
		t.Errorf("offline report difference: mean %v, pixel %v", s.Mean, s.PA[0])
	}

	// One run: a clear sentence, and its own images can still be compared.
	if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/compare?ids="+ids[0])); err != nil {
		t.Fatal(err)
	}
	one, err := chromedp.Run(ctx, chromedp.Evaluate[string](`(document.getElementById("one-run") || {}).textContent || ""`))
	if err != nil || !strings.Contains(one, "Only one run is selected") || !strings.Contains(one, "add another run id") {
		t.Errorf("one-run message %q (%v)", one, err)
	}
	s = probe("", 0.5)
	if !s.Scaled { // A = output.png (24×16), B = inputs/content.png (48×32)
		t.Errorf("one run: its two images should be compared (scaled), got %+v", s)
	}
}
