package dashboard

import (
	"image/color"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stylelab/stylelab/tracker"
	"github.com/stylelab/stylelab/tracker/charts/chartstest"
	"github.com/stylelab/stylelab/tracker/format"
)

// The run page in Chromium: an optimise run opens with its stored inputs (content, style) before its
// output; a training run's timeline steps through its sample grids with the per-style loss logged at the
// sample's step (the last logged step ≤ it), plays to the end and stops; a training run without samples
// says so in a sentence and has no slider. STYLELAB_SCREENSHOT_DIR saves run-inputs.png and timeline.png.
func TestBrowserRunInputsAndTimeline(t *testing.T) {
	ctx := chartstest.Browser(t)
	styleA := func(i int) float64 { return 10 / (1 + float64(i)) }
	styleB := func(i int) float64 { return 3 / (1 + float64(i)) }
	path, ids := fillStore(t, []testRun{
		{name: "optimise", steps: 3, params: map[string]string{"kind": "optimise"}, metrics: map[string]func(int) float64{"total": decay(1)},
			files: map[string][]byte{"output.png": halfPNG(t, 24, 16, red, blue), "inputs/content.png": halfPNG(t, 24, 16, green, green),
				"inputs/style-0.jpg": tinyPNG(t, amber)}},
		{name: "train", steps: 25, params: map[string]string{"kind": "train"},
			metrics: map[string]func(int) float64{"total": decay(20), "style": decay(13), "style/starry": styleA, "style/scream": styleB},
			images:  map[string]color.RGBA{"samples/step-000000.png": red, "samples/step-000010.png": green, "samples/step-000020.png": blue, "output.png": blue}},
		{name: "train-nosamples", steps: 3, params: map[string]string{"kind": "train"}, metrics: map[string]func(int) float64{"total": decay(1)}},
	})
	st, srv := openServer(t, path, Options{})
	dir := os.Getenv("STYLELAB_SCREENSHOT_DIR")

	// Inputs beside the output, content first.
	if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/runs/"+ids[0])); err != nil {
		t.Fatal(err)
	}
	names, err := chromedp.Run(ctx, chromedp.Poll[*[]string](`(function () {
		var imgs = Array.from(document.querySelectorAll(".images-top img"));
		if (!imgs.length || imgs.some(function (i) { return !(i.complete && i.naturalWidth > 0); })) return null;
		return imgs.map(function (i) { return i.alt; }); })()`, chromedp.WithPollingTimeout(20*time.Second)))
	if err != nil {
		t.Fatalf("run page images: %v", err)
	}
	if got := strings.Join(*names, ","); got != "inputs/content.png,inputs/style-0.jpg,output.png" {
		t.Errorf("run page images %s: want the content, the style, then the output", got)
	}
	if dir != "" {
		screenshot(t, ctx, dir+"/run-inputs.png")
	}

	// The timeline.
	arts, _ := st.Artifacts(ids[1])
	sha := map[string]string{}
	for _, a := range arts {
		sha[a.Name] = a.SHA256
	}
	if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/runs/"+ids[1])); err != nil {
		t.Fatal(err)
	}
	type tl struct {
		Max     string            `json:"max"`
		Src     string            `json:"src"`
		Label   string            `json:"label"`
		Losses  map[string]string `json:"losses"`
		Play    string            `json:"play"`
		Index   int               `json:"index"`
		Gallery []string          `json:"gallery"`
	}
	read := func(js string) tl {
		t.Helper()
		v, err := chromedp.Run(ctx, chromedp.Poll[*tl](`(function () {
			if (!window.stylelabTimeline) return null;
			`+js+`
			var losses = {};
			document.querySelectorAll("#timeline-losses tr").forEach(function (tr) { losses[tr.cells[0].textContent] = tr.cells[1].textContent; });
			return {max: document.getElementById("timeline-step").max, src: document.getElementById("timeline-img").getAttribute("src"),
				label: document.getElementById("timeline-label").textContent, losses: losses,
				play: document.getElementById("timeline-play").textContent, index: window.stylelabTimeline.index,
				gallery: Array.from(document.querySelectorAll(".images-top img")).map(function (i) { return i.alt; })};
		})()`, chromedp.WithPollingTimeout(20*time.Second)))
		if err != nil {
			t.Fatalf("timeline: %v", err)
		}
		return *v
	}
	v := read("")
	if v.Max != "2" || v.Src != "/artifacts/"+sha["samples/step-000000.png"] || v.Label != "step 0 (1 of 3)" {
		t.Errorf("timeline starts as %+v, want 3 frames from step 0", v)
	}
	if strings.Join(v.Gallery, ",") != "output.png" {
		t.Errorf("gallery %v: the samples belong to the timeline, the gallery keeps the output", v.Gallery)
	}
	v = read(`var s = document.getElementById("timeline-step"); if (s.value !== "1") { s.value = "1"; s.dispatchEvent(new Event("input")); }`)
	want := map[string]string{"starry": format.Value(styleA(10)), "scream": format.Value(styleB(10))}
	if v.Src != "/artifacts/"+sha["samples/step-000010.png"] || v.Label != "step 10 (2 of 3)" ||
		v.Losses["starry"] != want["starry"] || v.Losses["scream"] != want["scream"] || len(v.Losses) != 2 {
		t.Errorf("at frame 1: %+v, want step 10 with losses %v", v, want)
	}
	if dir != "" {
		screenshot(t, ctx, dir+"/timeline.png")
	}
	// Play: runs to the last frame (step 20; losses logged to step 24, so step 20's values) and stops.
	read(`document.getElementById("timeline-play").click();`)
	var end tl
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		end = read("")
		if end.Index == 2 && end.Play == "play" {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if end.Index != 2 || end.Play != "play" || end.Losses["starry"] != format.Value(styleA(20)) {
		t.Errorf("after play: %+v, want the last frame (step 20) and the button back to play", end)
	}

	// A training run without samples: a sentence, no slider.
	if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/runs/"+ids[2])); err != nil {
		t.Fatal(err)
	}
	none, err := chromedp.Run(ctx, chromedp.Evaluate[[]any](`[(document.getElementById("timeline-none") || {}).textContent || "", !!document.getElementById("timeline-step")]`))
	if err != nil || len(none) != 2 || !strings.Contains(none[0].(string), "logged no sample grids") || none[1].(bool) {
		t.Errorf("run without samples: %v (%v)", none, err)
	}
	_ = tracker.StatusFinished
}
