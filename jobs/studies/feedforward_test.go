package studies

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stylelab/stylelab/experiments/study"
	"github.com/stylelab/stylelab/tracker"
)

func copyTo(t *testing.T, dir string, names ...string) []string {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, n := range names {
		b, err := os.ReadFile(filepath.Join("..", "..", "images", n))
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, filepath.Base(n))
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		out = append(out, p)
	}
	return out
}

// Two losses × (2 single nets + 1 CIN net) on tiny 2-step nets, judged on a held-out photo in both styles,
// with a 5-point interpolation path per CIN net.
func TestFeedForwardStudy(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: trains 6 tiny networks")
	}
	dir := t.TempDir()
	st, err := tracker.Open(filepath.Join(dir, "runs", "stylelab.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	trainDir := filepath.Join(dir, "train")
	copyTo(t, trainDir, "content/chelsea.jpg", "content/astronaut.jpg")
	held := copyTo(t, filepath.Join(dir, "held"), "content/colosseum.jpg")
	styles := copyTo(t, filepath.Join(dir, "styles"), "style/vangogh_starry_night.jpg", "style/munch_scream.jpg")
	jcfg, err := Judge{}.JudgeConfig(dir)
	if err != nil {
		t.Fatal(err)
	}
	d := FeedForwardDesign{Losses: []string{"gram", "meanvar"}, Styles: styles, TrainContent: trainDir, HeldOut: held,
		Preset: "tiny", Steps: 2, Size: 32, PathSteps: 5, Dir: filepath.Join(dir, "out"), Seed: 3, Experiment: "ff"}
	if err := os.MkdirAll(d.Dir, 0o755); err != nil {
		t.Fatal(err)
	}
	// A held-out image that is a training image is refused before anything trains.
	bad := d
	bad.HeldOut = []string{filepath.Join(trainDir, "chelsea.jpg")}
	if _, err := RunFeedForward(bad, jcfg, st); err == nil || !strings.Contains(err.Error(), "never be seen in training") {
		t.Fatalf("training image as held-out: %v", err)
	}
	if runs, _ := st.Search("", "", 0); len(runs) != 0 {
		t.Fatalf("the refused design started %d runs", len(runs))
	}
	res, err := RunFeedForward(d, jcfg, st)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.TrainRuns) != 6 {
		t.Errorf("%d training runs, want 2 losses × (2 single + 1 cin)", len(res.TrainRuns))
	}
	// Every (loss, arm, style) scored on the held-out content: 2 × 2 × 2 rows with every judge metric.
	seen := map[string]bool{}
	for _, s := range res.Scores {
		seen[s.Loss+"/"+s.Arm+"/"+string(rune('0'+s.Style))] = true
		if s.Content != held[0] || s.RunID == "" {
			t.Errorf("row %+v", s)
		}
		if s.Scores[MetricSecondsPerStep] <= 0 || s.Scores[MetricPeakRSS] <= 0 {
			t.Errorf("%s %s style %d: training cost %v s/step, %v MB", s.Loss, s.Arm, s.Style, s.Scores[MetricSecondsPerStep], s.Scores[MetricPeakRSS])
		}
		for _, m := range SummaryMetrics() {
			if _, ok := s.Scores[m]; !ok {
				t.Errorf("%s %s style %d: no %s", s.Loss, s.Arm, s.Style, m)
			}
		}
	}
	// The judge scores sit on the stylize runs themselves: the filter finds the 8, with the same values.
	judged, err := st.Search("metrics.`judge/ssim` > -2 AND params.kind = 'stylize'", "", 0)
	if err != nil || len(judged) != 8 {
		t.Fatalf("stylize runs with judge/ssim: %d, %v", len(judged), err)
	}
	byID := map[string]tracker.RunInfo{}
	for _, r := range judged {
		byID[r.ID] = r
	}
	for _, s := range res.Scores {
		if r, ok := byID[s.RunID]; !ok || r.Latest[study.MetricSSIM] != s.Scores[study.MetricSSIM] || r.Tags["study.feedforward.arm"] != s.Arm {
			t.Errorf("run %s: judge/ssim %v tags %v; scored %v (%s)", s.RunID, r.Latest[study.MetricSSIM], r.Tags, s.Scores[study.MetricSSIM], s.Arm)
		}
	}
	if len(res.Scores) != 8 || len(seen) != 8 {
		t.Errorf("%d score rows over %d arms×styles, want 8", len(res.Scores), len(seen))
	}
	// The CIN net in style 1 and in style 0 are different outputs: their judge distance to their own style differs.
	for _, s := range res.Scores {
		t.Logf("%s %-6s style %d: ssim %.4f style/gram %.4g; training %.3g s/step, peak %.0f MB", s.Loss, s.Arm, s.Style, s.Scores[study.MetricSSIM], s.Scores[study.StyleMetric("gram")], s.Scores[MetricSecondsPerStep], s.Scores[MetricPeakRSS])
	}
	for loss, sm := range res.Smoothness {
		t.Logf("%s: %d of %d interpolation paths monotone (%.2f)", loss, sm.Monotone, sm.Paths, sm.Fraction)
		if sm.Paths != 5 || sm.Fraction != float64(sm.Monotone)/float64(sm.Paths) {
			t.Errorf("%s smoothness %+v: want 5 paths (1 held-out content × 5 judge style losses)", loss, sm)
		}
	}
	// The path starts at mix (1, 0): the CIN net's style-0 output, so its first point is that row's score; the
	// fraction is recomputed from the recorded paths.
	for _, s := range res.Scores {
		if s.Arm != ArmCIN || s.Style != 0 {
			continue
		}
		p := res.Paths[s.Loss]
		if len(p) != 5 || len(p[0]) != 5 || p[0][0] != s.Scores[study.StyleMetric("gram")] {
			t.Errorf("%s: path %v does not start at the style-0 output's judge gram distance %v", s.Loss, p, s.Scores[study.StyleMetric("gram")])
		}
		if f, n, err := study.MonotoneFraction(p, +1, SmoothnessTolerance); err != nil || n != res.Smoothness[s.Loss].Monotone || f != res.Smoothness[s.Loss].Fraction {
			t.Errorf("%s: fraction %v/%d recomputed vs %+v", s.Loss, f, n, res.Smoothness[s.Loss])
		}
	}
	if len(res.Smoothness) != 2 {
		t.Errorf("smoothness for %d losses", len(res.Smoothness))
	}
}

// The "feedforward" study-file form: the shipped example parses and plans 48 runs; mixing it with the optimise
// form, and bad fields, are refused naming the field; it does not expand to a sweep.
func TestFeedForwardFile(t *testing.T) {
	path := filepath.Join("..", "..", "studies", "feedforward-tiny.json")
	f, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	p, err := f.PlanFeedForward(filepath.Dir(path))
	if err != nil {
		t.Fatal(err)
	}
	// 2 seeds × 2 losses × (2 single + 1 cin trainings; 2 arms × 2 styles × 1 held-out judged; 1 × 5 path points).
	if p.TrainRuns != 12 || p.JudgedRuns != 16 || p.PathRuns != 20 || p.Runs != 48 || len(p.Units) != 2 ||
		strings.Join(p.Arms, ",") != "gram/single,gram/cin,meanvar/single,meanvar/cin" || p.Units[0].ID != "colosseum×vangogh_starry_night" {
		t.Errorf("plan %+v", p)
	}
	if n, err := f.Count(filepath.Dir(path)); err != nil || n != 48 {
		t.Errorf("Count = %d, %v", n, err)
	}
	if _, err := f.Expand(filepath.Dir(path), 0); err == nil || !strings.Contains(err.Error(), "does not expand to a sweep") {
		t.Errorf("Expand of a feed-forward file: %v", err)
	}
	ff := `"feedforward": {"losses": ["gram"], "styles": ["a.jpg", "b.jpg"], "content_dir": "train", "held_out": ["c.jpg"], "preset": "tiny", "steps": 2, "size": 32}`
	for _, tc := range []struct{ doc, want string }{
		{`{"name": "s", ` + ff + `, "seeds": [1, 2]}`, ""},
		{`{"name": "s", ` + ff + `, "seeds": [1, 2], "base": {"version": 2}}`, `"base" with "feedforward"`},
		{`{"name": "s", ` + ff + `, "seeds": [1, 2], "units": {"pairs": [{"content": "a", "style": "b"}]}}`, `"units" with "feedforward"`},
		{`{"name": "s", ` + strings.Replace(ff, `"gram"]`, `"gram", "gram"]`, 1) + `, "seeds": [1, 2]}`, `feedforward.losses[1] "gram" is listed twice`},
		{`{"name": "s", ` + strings.Replace(ff, `"size": 32`, `"size": 32, "path_steps": 1`, 1) + `, "seeds": [1, 2]}`, `feedforward.path_steps = 1`},
		{`{"name": "s", ` + strings.Replace(ff, `"content_dir": "train"`, `"content_dir": ""`, 1) + `, "seeds": [1, 2]}`, `feedforward.content_dir is empty`},
		{`{"name": "s", ` + strings.Replace(ff, `"size": 32`, `"size": 0`, 1) + `, "seeds": [1, 2]}`, `feedforward.size = 0`},
		{`{"name": "s", ` + ff + `, "seeds": []}`, `"seeds" is empty`},
		{`{"name": "s", ` + ff + `, "seeds": [1, 2], "judge": {"projections": -1}}`, `judge.projections = -1`},
	} {
		_, err := Parse(strings.NewReader(tc.doc))
		if (tc.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%s: %v, want %q", tc.doc, err, tc.want)
		}
	}
	// Inputs are checked when planned: one style image, a missing training folder.
	one := *f
	ffc := *f.FeedForward
	ffc.Styles = ffc.Styles[:1]
	one.FeedForward = &ffc
	if _, err := one.PlanFeedForward(filepath.Dir(path)); err == nil || !strings.Contains(err.Error(), "feedforward.styles: 1 style image") {
		t.Errorf("one style: %v", err)
	}
	ffc = *f.FeedForward
	ffc.ContentDir = "no-such-folder"
	one.FeedForward = &ffc
	if _, err := one.PlanFeedForward(filepath.Dir(path)); err == nil || !strings.Contains(err.Error(), `feedforward.content_dir "no-such-folder" is not a folder`) {
		t.Errorf("missing training folder: %v", err)
	}
}
