package dashboard

import (
	"bytes"
	"encoding/json"
	"image/color"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stylelab/stylelab/tracker"
	"github.com/stylelab/stylelab/tracker/charts/chartstest"
)

// studyStore records a study evaluation as jobs/studies does: a run tagged study.id and study.role with the
// report data and its images as artifacts (2 units × 2 arms, one output missing).
func studyStore(t *testing.T) (string, *StudyReport) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "runs", "stylelab.db")
	st, err := tracker.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	r, err := st.StartRun("tiny", "evaluation of study tiny", tracker.WithoutProvenance())
	if err != nil {
		t.Fatal(err)
	}
	img := func(name string, c color.RGBA) string {
		a, err := r.LogArtifact(name, "image/png", tinyPNG(t, c))
		if err != nil {
			t.Fatal(err)
		}
		return a.SHA256
	}
	one := 1.5
	rep := &StudyReport{Version: StudyReportVersion, ID: "tiny-0123abcd", Name: "tiny", Evaluated: time.Now().UTC(),
		Arms:  []StudyArm{{Name: "gram", Set: `optimise.loss="gram"`}, {Name: "meanvar", Set: `optimise.loss="meanvar"`}},
		Seeds: []uint64{1, 2}, GridSeed: 1,
		Units: []StudyUnit{{ID: "a×b", Content: "a.jpg", Style: "b.jpg", ContentImage: img("u0c.png", color.RGBA{200, 0, 0, 255}), StyleImage: img("u0s.png", color.RGBA{0, 200, 0, 255})},
			{ID: "c×d", Content: "c.jpg", Style: "d.jpg", ContentImage: img("u1c.png", color.RGBA{0, 0, 200, 255}), StyleImage: img("u1s.png", color.RGBA{200, 200, 0, 255})}},
		Settings: []StudySetting{{"base", "optimise.size", "32"}, {"statistics", "level", "95%"}},
		Runs:     StudyRunCounts{Planned: 8, Judged: 7, Missing: []string{"run 7 (meanvar × c×d, seed 2): FAILED diverged"}, WallTime: 61},
		Metrics:  []string{"judge/style/gram", "judge/ssim"}, Own: []string{"own/style"}, Cost: []string{"cost/seconds_per_step"},
		Findings: []string{"gram vs meanvar: 1 of 2 judges differ."},
	}
	rep.Grid = []StudyGridRow{
		{Unit: "a×b", Cells: []StudyGridCell{{Arm: "gram", RunID: "r1", Image: img("o1.png", color.RGBA{10, 10, 10, 255})}, {Arm: "meanvar", RunID: "r2", Image: img("o2.png", color.RGBA{90, 90, 90, 255})}}},
		{Unit: "c×d", Cells: []StudyGridCell{{Arm: "gram", RunID: "r3", Image: img("o3.png", color.RGBA{150, 150, 150, 255})}, {Arm: "meanvar"}}},
	}
	for _, arm := range []string{"gram", "meanvar"} {
		for i, m := range append(append(append([]string{}, rep.Metrics...), rep.Own...), rep.Cost...) {
			rep.Means = append(rep.Means, StudyMean{Arm: arm, Metric: m, Mean: float64(i + 1), Lo: float64(i), Hi: float64(i + 2), SeedSD: &one, Units: 2})
		}
	}
	rep.Comparisons = []StudyComparison{
		{A: "gram", B: "meanvar", Metric: "judge/style/gram", Units: 2, Diff: -0.5, Lo: -0.7, Hi: -0.3, Scale: 2, Relative: 0.25, W: 0, P: 0.5, Exact: true, PHolm: 1},
		{A: "gram", B: "meanvar", Metric: "judge/ssim", Units: 2, Diff: 0.01, Lo: -0.02, Hi: 0.04, Scale: 0.5, Relative: 0.02, W: 1, P: 1, Exact: true, PHolm: 1},
	}
	rep.CrossLoss = StudyMatrix{Rows: []string{"gram", "meanvar"}, Columns: []string{"judge/style/gram", "judge/style/meanvar"},
		Values: [][]float64{{0.01, 0.2}, {0.03, 0.1}}}
	b, _ := json.Marshal(rep)
	if _, err := r.LogArtifact(StudyReportArtifact, "application/json", b); err != nil {
		t.Fatal(err)
	}
	if err := r.SetTags(map[string]string{StudyTag: rep.ID, StudyRoleTag: StudyRoleEvaluation}); err != nil {
		t.Fatal(err)
	}
	var noErr error
	if err := r.End(&noErr); err != nil {
		t.Fatal(err)
	}
	return path, rep
}

func TestStudyPage(t *testing.T) {
	path, rep := studyStore(t)
	st, srv := openServer(t, path, Options{})
	resp, body := get(t, srv, "/studies/"+rep.ID)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	for _, want := range []string{`<table class="means">`, `<table class="comparisons">`, `<table class="images study-grid">`,
		`id="study-forest"`, `id="study-heatmap"`, `id="study-cost"`, "gram vs meanvar: 1 of 2 judges differ.",
		"run 7 (meanvar × c×d, seed 2): FAILED diverged", `src="/artifacts/` + rep.Grid[0].Cells[0].Image + `"`, ">missing<",
		`<script src="/assets/echarts.min.js">`} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	// No inline script: every script element loads a file or carries JSON (the CSP allows nothing else).
	for _, tag := range regexp.MustCompile(`<script[^>]*>`).FindAllString(body, -1) {
		if !strings.Contains(tag, ` src="`) && !strings.Contains(tag, `type="application/json"`) {
			t.Errorf("inline script %s on the study page", tag)
		}
	}
	if got := strings.Count(body, `data-stylelab-chart=`); got != 3 {
		t.Errorf("%d chart blocks, want 3", got)
	}
	// The forest plot has one box per comparison, on the relative scale (−0.5 / 2 = −25%).
	m := regexp.MustCompile(`data-stylelab-chart="study-forest">([^<]*)</script>`).FindStringSubmatch(body)
	if m == nil || !strings.Contains(m[1], `[-35,-35,-25,-15,-15]`) {
		t.Errorf("forest option %v", m)
	}
	if resp, body := get(t, srv, "/studies/nope-00000000"); resp.StatusCode != http.StatusNotFound || !strings.Contains(body, "stylelab study evaluate nope-00000000") {
		t.Errorf("unknown study: %d %s", resp.StatusCode, body)
	}
	// The standalone report: same content, images inlined, scripts inlined, no server path.
	var b bytes.Buffer
	if err := WriteStudyReport(&b, st, rep.ID, Options{}); err != nil {
		t.Fatal(err)
	}
	html := b.String()
	if n := strings.Count(html, `src="data:image/png;base64,`); n != 7 {
		t.Errorf("%d inlined images, want 7 (4 unit images, 3 outputs)", n)
	}
	if strings.Contains(html, `src="/artifacts/`) || strings.Contains(html, `src="/assets/`) || !strings.Contains(html, "Apache ECharts") {
		t.Error("standalone report refers to the server")
	}
	// The notebook fragment: the same content, no page around it, charts mounted within it.
	snip, err := StudySnippet(st, rep.ID)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(snip, "<html") || strings.Count(snip, `data-stylelab-chart="study-`) != 3 || strings.Count(snip, `src="data:image/png;base64,`) != 7 ||
		!strings.Contains(snip, "stylelabCharts.scan(document.currentScript.parentNode)") {
		t.Error("study snippet is not a self-contained fragment")
	}
}

// The study page under the dashboard's CSP, drawn by headless Chromium: the three charts are drawn with their
// data, and the images load.
func TestBrowserStudyPage(t *testing.T) {
	ctx := chartstest.Browser(t)
	path, rep := studyStore(t)
	_, srv := openServer(t, path, Options{})
	if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/studies/"+rep.ID)); err != nil {
		t.Fatal(err)
	}
	for id, points := range map[string]int{"study-forest": 2, "study-heatmap": 4, "study-cost": 2} {
		d, err := chartstest.Inspect(ctx, id, 30*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if d.Series < 1 || d.Points[0] != points || d.Width == 0 {
			t.Errorf("%s drawn as %+v, want %d data items", id, d, points)
		}
		if d.Pixels < 20 {
			t.Errorf("%s: only %d pixels of its series colour %s: blank", id, d.Pixels, d.Color)
		}
	}
	loaded, err := chromedp.Run(ctx, chromedp.Evaluate[int](`Array.from(document.querySelectorAll("table.study-grid img")).filter(function (i) { return i.complete && i.naturalWidth === 24; }).length`))
	if err != nil {
		t.Fatal(err)
	}
	if loaded != 7 {
		t.Errorf("%d images loaded, want 7", loaded)
	}
}
