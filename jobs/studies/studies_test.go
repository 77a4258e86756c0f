package studies

import (
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stylelab/stylelab/experiments/study"
	"github.com/stylelab/stylelab/experiments/vgg"
	"github.com/stylelab/stylelab/jobs/spec"
	"github.com/stylelab/stylelab/jobs/sweep"
	"github.com/stylelab/stylelab/tracker"
	"github.com/stylelab/stylelab/tracker/dashboard"
)

// tinyStudy is studies/tiny.json's design in a temporary folder: gram, mmd-poly and meanvar × 2 pairs × 2
// seeds at 32 px, few steps.
func tinyStudy(t *testing.T, steps int, extra string) string {
	t.Helper()
	dir := t.TempDir()
	images, _ := filepath.Abs(filepath.Join("..", "..", "images"))
	doc := fmt.Sprintf(`{"name": "tiny",
	 "base": {"version": 2, "kind": "optimise", "weights": {"random_seed": 0},
	          "optimise": {"size": 32, "steps": %d, "optimizer": "adam", "init": "content"}},
	 "arms": [{"name": "gram", "set": {"optimise.loss": "gram"}},
	          {"name": "mmd-poly", "set": {"optimise.loss": "mmd-poly", "optimise.loss_options.poly_degree": 2, "optimise.loss_options.poly_c": 0}},
	          {"name": "meanvar", "set": {"optimise.loss": "meanvar"}}],
	 "units": {"pairs": [{"content": %q, "style": %q}, {"content": %q, "style": %q}]},
	 "seeds": [1, 2],
	 "judge": {"weights": {"random_seed": 1000}, "projections": 32, "projection_seed": 5},
	 "statistics": {"bootstrap": 2000, "seed": 3}%s}`, steps,
		filepath.Join(images, "content", "chelsea.jpg"), filepath.Join(images, "style", "vangogh_starry_night.jpg"),
		filepath.Join(images, "content", "colosseum.jpg"), filepath.Join(images, "style", "munch_scream.jpg"), extra)
	p := filepath.Join(dir, "tiny.json")
	if err := os.WriteFile(p, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestBadStudyFiles(t *testing.T) {
	good := `"name": "s", "base": {"version": 2, "kind": "optimise", "optimise": {"size": 32, "steps": 2}},
	 "units": {"pairs": [{"content": "a.jpg", "style": "b.jpg"}, {"content": "c.jpg", "style": "d.jpg"}]}`
	arms := `"arms": [{"name": "gram", "set": {"optimise.loss": "gram"}}, {"name": "meanvar", "set": {"optimise.loss": "meanvar"}}]`
	for _, tc := range []struct{ name, doc, want string }{
		{"unknown arm path", `{` + good + `, "seeds": [1, 2], "arms": [{"name": "a", "set": {"optimise.los": "gram"}}, {"name": "b", "set": {}}]}`,
			`arms[0] (a).set: unknown arm path: "optimise.los" is not a spec field`},
		{"empty units", `{"name": "s", "base": {"version": 2}, ` + arms + `, "seeds": [1, 2], "units": {}}`, `"units": the unit list is empty`},
		{"one seed with bootstrap", `{` + good + `, ` + arms + `, "seeds": [7]}`, `seeds has one seed (7) but statistics.bootstrap asks for intervals`},
		{"one arm", `{` + good + `, "seeds": [1, 2], "arms": [{"name": "a", "set": {}}]}`, `"arms" has one arm`},
		{"arm sets the inputs", `{` + good + `, "seeds": [1, 2], "arms": [{"name": "a", "set": {"inputs.content.path": "x"}}, {"name": "b", "set": {}}]}`, `set by the study's units and seeds`},
		{"unknown field", `{` + good + `, ` + arms + `, "seeds": [1, 2], "sedes": [1]}`, `unknown field "sedes"`},
		{"duplicate arm", `{` + good + `, "seeds": [1, 2], "arms": [{"name": "a", "set": {}}, {"name": "a", "set": {}}]}`, `used twice`},
		{"key twice", `{` + good + `, ` + arms + `, "seeds": [1, 2], "seeds": [3, 4]}`, `key "seeds" appears twice`},
		{"bad level", `{` + good + `, ` + arms + `, "seeds": [1, 2], "statistics": {"level": 95}}`, `statistics.level = 95`},
	} {
		_, err := Parse(strings.NewReader(tc.doc))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
	}
	// Checks that need the design: the judge is an optimising network; too many runs; one unit.
	f, err := Load(tinyStudy(t, 2, ""))
	if err != nil {
		t.Fatal(err)
	}
	f.Judge.Weights = &spec.Weights{RandomSeed: 0}
	if _, err := f.Expand("", 0); err == nil || !strings.Contains(err.Error(), "judge.weights: the judge network is the optimising network of run 0") {
		t.Errorf("judge = optimiser: %v", err)
	}
	f.Judge.Weights = nil
	if _, err := f.Expand("", 11); err == nil || !strings.Contains(err.Error(), "3 arms × 2 units × 2 seeds = 12 runs is more than 11") {
		t.Errorf("bound: %v", err)
	}
	f.Units.Pairs = f.Units.Pairs[:1]
	if _, err := f.Expand("", 0); err == nil || !strings.Contains(err.Error(), "1 unit: a bootstrap over units needs at least 2") {
		t.Errorf("one unit: %v", err)
	}
}

func TestExpand(t *testing.T) {
	f, err := Load(tinyStudy(t, 2, ""))
	if err != nil {
		t.Fatal(err)
	}
	d, err := f.Expand("", 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Runs) != 12 || len(d.Units) != 2 || d.Units[0].ID != "chelsea×vangogh_starry_night" {
		t.Fatalf("%d runs, units %+v", len(d.Runs), d.Units)
	}
	// Seed, then unit, then arm (fastest).
	r := d.Runs[4] // seed 1, unit 1, arm mmd-poly
	if r.Seed != 1 || r.Unit != "colosseum×munch_scream" || r.Arm != "mmd-poly" || r.Index != 4 {
		t.Fatalf("run 4 = %+v", r)
	}
	sp := r.Spec
	if sp.Optimise.Loss != "mmd-poly" || sp.Seed != 1 || sp.Optimise.Seed != 1 || !strings.HasSuffix(sp.Inputs.Content.Path, "colosseum.jpg") ||
		!strings.HasSuffix(sp.Inputs.Styles[0].Path, "munch_scream.jpg") || sp.Experiment != "tiny" || sp.Name != "tiny/mmd-poly/colosseum×munch_scream/s1" {
		t.Fatalf("run 4 spec: %s", sp.JSON())
	}
	if d.Runs[11].Seed != 2 || d.Runs[11].Arm != "meanvar" {
		t.Fatalf("last run %+v", d.Runs[11])
	}
	// The sweep points carry the study tags, so every task is tagged with its arm, unit and seed.
	def, pts := d.Sweep()
	if def.Name != "tiny" || pts[4].Tags[TagArm] != "mmd-poly" || pts[4].Tags[TagUnit] != "colosseum×munch_scream" || pts[4].Tags[TagSeed] != "1" {
		t.Fatalf("sweep point 4: %+v", pts[4])
	}
	if !strings.Contains(strings.Join(def.Paths(), ","), "optimise.loss") {
		t.Fatalf("paths %v", def.Paths())
	}
}

// TestStudyEndToEnd runs the tiny study and checks its science: gram and mmd-poly (degree 2, c = 0) come out
// identical on every judge (Li et al. 2017), while meanvar differs from gram on the judge's Gram distance on
// every unit. Then the evaluation's record: the report data, the rendered report, the export.
func TestStudyEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: 12 optimisation runs")
	}
	dir := t.TempDir()
	st, err := tracker.Open(filepath.Join(dir, "runs", "stylelab.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	path := tinyStudy(t, 8, "")
	f, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	d, err := f.Expand(filepath.Dir(path), 0)
	if err != nil {
		t.Fatal(err)
	}
	rec, sw, err := Create(filepath.Join(dir, "sweeps"), d, st.Path(), "/nonexistent/stylelab", sweep.ExecutorLocal, false)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := Open(filepath.Join(dir, "sweeps"), rec.ID); err != nil {
		t.Fatal(err)
	}
	// One run is left out: the evaluation must report it missing and pair over the units both arms have.
	// (RunHere skips FINISHED runs: a run recorded FINISHED before it stands for "already done".)
	fake, err := st.StartRun("tiny", "stands in for run 11", tracker.WithoutProvenance())
	if err != nil {
		t.Fatal(err)
	}
	fake.SetTags(map[string]string{sweep.TagID: sw.ID, sweep.TagIndex: "11", "spec.key": sw.Runs[11].Key})
	var noErr error
	fake.End(&noErr)
	done := 0
	if err := RunHere(context.Background(), sw, st, func(n, total int, err error) {
		if err != nil || total != 11 {
			t.Errorf("progress %d/%d: %v", n, total, err)
		}
		done = n
	}); err != nil || done != 11 {
		t.Fatalf("RunHere: %d runs, %v", done, err)
	}
	// The stand-in is not an output: delete it, so run 11 reads as never run.
	if _, err := st.Delete(fake.ID(), true); err != nil {
		t.Fatal(err)
	}
	ev, err := Evaluate(rec, sw, EvaluateOptions{Store: st})
	if err != nil {
		t.Fatal(err)
	}
	an := ev.Analysis
	for _, f := range an.Findings {
		t.Log(f)
	}
	for _, m := range SummaryMetrics() {
		c := an.Comparison("gram", "mmd-poly", m)
		if c == nil || c.Units != 2 {
			t.Fatalf("gram vs mmd-poly on %s: %+v", m, c)
		}
		t.Logf("gram vs mmd-poly on %s: relative |Δ| %.2g; gram vs meanvar %.2g", m, c.Relative, an.Comparison("gram", "meanvar", m).Relative)
		if c.Relative >= 1e-3 {
			t.Errorf("gram and mmd-poly differ on %s: relative |Δ| %.3g (Δ %.3g)", m, c.Relative, c.Diff.Estimate)
		}
	}
	// Per unit and seed too, not only on average.
	gram := study.StyleMetric("gram")
	for _, u := range an.Units {
		g, p, mv := an.UnitMeans[gram]["gram"][u], an.UnitMeans[gram]["mmd-poly"][u], an.UnitMeans[gram]["meanvar"][u]
		if math.Abs(g-p) > 1e-3*math.Abs(g) {
			t.Errorf("%s: judge gram distance of gram %v vs mmd-poly %v", u, g, p)
		}
		// meanvar matches means and variances only: its judge Gram distance is clearly another value.
		if math.Abs(mv-g) < 1e-2*math.Abs(g) {
			t.Errorf("%s: meanvar's judge gram distance %v is not different from gram's %v", u, mv, g)
		}
	}
	if c := an.Comparison("gram", "meanvar", gram); c.Relative < 1e-2 || c.Units != 2 {
		t.Errorf("gram vs meanvar on %s: %+v", gram, c)
	}
	if !strings.Contains(strings.Join(an.Findings, "\n"), "Built-in check passed: gram and mmd-poly are the same loss") {
		t.Errorf("findings lack the built-in check: %q", an.Findings)
	}
	if !strings.Contains(strings.Join(an.Findings, "\n"), "gram and mmd-poly do not differ on any judge") {
		t.Errorf("findings: %q", an.Findings)
	}
	// meanvar's unit 1 has one seed (run 11 missing); the report names the run.
	rep := ev.Report
	// The two arms really optimised different formulas (the identity is the science, not a shared code path):
	// their runs record different losses; at 8 bits per channel their outputs come out the same.
	for u := range rep.Grid {
		g, p := rep.Grid[u].Cells[0], rep.Grid[u].Cells[1]
		gi, _ := st.GetRun(g.RunID)
		pi, _ := st.GetRun(p.RunID)
		if gi.Params["loss"] != "gram" || pi.Params["loss"] != "mmd-poly" || pi.Params["loss_options.poly_degree"] != "2" {
			t.Errorf("unit %d: losses %q and %q (degree %q)", u, gi.Params["loss"], pi.Params["loss"], pi.Params["loss_options.poly_degree"])
		}
		t.Logf("unit %d: output of gram %.12s…, of mmd-poly %.12s…; own style loss %.9g and %.9g", u, g.Image, p.Image, gi.Latest["style"], pi.Latest["style"])
	}
	if rep.Runs.Planned != 12 || rep.Runs.Judged != 11 || len(rep.Runs.Missing) != 1 || !strings.Contains(rep.Runs.Missing[0], "run 11 (meanvar × colosseum×munch_scream, seed 2)") {
		t.Errorf("runs %+v", rep.Runs)
	}
	if len(rep.Grid) != 2 || rep.Grid[1].Cells[2].Image == "" || rep.Units[0].ContentImage == "" {
		t.Errorf("grid %+v units %+v", rep.Grid, rep.Units)
	}
	if len(rep.CrossLoss.Rows) != 3 || len(rep.CrossLoss.Columns) != 5 || len(rep.Own) != 3 ||
		!slices.Equal(rep.Cost, []string{"cost/seconds_per_step", "cost/peak_rss_mb"}) { // every run records peak_rss_bytes
		t.Errorf("cross-loss %+v cost %v own %v", rep.CrossLoss, rep.Cost, rep.Own)
	}
	// The evaluation run holds the judge scores as metrics, at each judged run's index.
	hist, err := st.History(ev.RunID, study.MetricSSIM)
	if err != nil || len(hist) != 11 || hist[10].Step != 10 {
		t.Errorf("judge/ssim history of the evaluation: %v %v", hist, err)
	}
	ri, err := st.GetRun(ev.RunID)
	if err != nil || ri.Tags[TagID] != rec.ID || ri.Tags[TagRole] != RoleEvaluation || ri.Params["judge.weights"] != "random(seed=1000)" {
		t.Errorf("evaluation run %+v %v", ri, err)
	}
	// The judge scores are also metrics of each judged run: the filter finds the 11 runs by them, with the values
	// the analysis used, written at step 1 (the first evaluation) and tagged with the evaluation.
	judged, err := st.Search("metrics.`"+study.MetricSSIM+"` > -1 AND tags.`study.id` = '"+rec.ID+"' AND params.kind = 'optimise'", "metrics.`"+study.MetricSSIM+"` DESC", 0)
	if err != nil || len(judged) != 11 {
		t.Fatalf("runs with a judge/ssim metric: %d, %v", len(judged), err)
	}
	want := map[string]float64{}
	for _, o := range ev.Observations {
		if o.Metric == study.MetricSSIM {
			want[o.Run] = o.Value
		}
	}
	for _, r := range judged {
		h, err := st.History(r.ID, study.MetricSSIM)
		if err != nil || len(h) != 1 || h[0].Step != 1 || h[0].Value != want[r.ID] || r.Tags[TagEvaluation] != ev.RunID {
			t.Errorf("run %s: judge/ssim %v (want %v at step 1), evaluation tag %q, %v", r.ID, h, want[r.ID], r.Tags[TagEvaluation], err)
		}
	}
	// Every study run is tagged with its arm, unit and seed.
	runs, err := st.SearchRuns(tracker.Query{Filter: "tags.`study.arm` = 'meanvar' AND tags.`study.seed` = '1'"})
	if err != nil || len(runs) != 2 {
		t.Errorf("meanvar seed-1 runs: %d, %v", len(runs), err)
	}
	// The report renders from the store, with every table and image.
	var html bytes.Buffer
	if err := dashboard.WriteStudyReport(&html, st, rec.ID, dashboard.Options{}); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`id="study-forest"`, `id="study-heatmap"`, `id="study-cost"`, `<table class="means">`, `<table class="comparisons">`,
		"gram and mmd-poly do not differ", "run 11 (meanvar"} {
		if !strings.Contains(html.String(), want) {
			t.Errorf("report lacks %q", want)
		}
	}
	// 2 content + 2 style + 3·2 outputs minus the missing one... the grid shows seed 1, all present: 4 + 6.
	if n := strings.Count(html.String(), `src="data:image/png;base64,`); n != 10 {
		t.Errorf("%d inlined images, want 10", n)
	}
	// The tidy export has a row per run and judge metric, and reads back.
	_, obs, err := LatestEvaluation(st, rec.ID)
	if err != nil {
		t.Fatal(err)
	}
	var csvOut bytes.Buffer
	if err := Export(&csvOut, obs, "csv"); err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(&csvOut).ReadAll()
	if err != nil || len(rows) != len(obs)+1 || strings.Join(rows[0], ",") != "run,arm,unit,seed,metric,value" {
		t.Fatalf("csv: %d rows (want %d), %v, header %v", len(rows), len(obs)+1, err, rows[0])
	}
	// A second evaluation with another judge is a new evaluation of the same runs; the report follows it.
	other := f.Judge
	other.Weights = &spec.Weights{RandomSeed: 2000}
	ev2, err := Evaluate(rec, sw, EvaluateOptions{Store: st, Judge: &other})
	if err != nil {
		t.Fatal(err)
	}
	got, _, err := dashboard.ReadStudy(st, rec.ID)
	if err != nil || ev2.RunID == ev.RunID || !strings.Contains(fmt.Sprint(got.Settings), "random(seed=2000)") {
		t.Errorf("second evaluation not the latest: %v", err)
	}
	if n, _ := st.SearchRuns(tracker.Query{Filter: "tags.`study.id` = '" + rec.ID + "' AND params.kind = 'optimise'"}); len(n) != 11 {
		t.Errorf("re-evaluation made new optimisation runs: %d", len(n))
	}
	// The second judge's scores are added at step 2 beside the first's, not over them; the latest is what the
	// filter sees, and the run says which evaluation wrote it.
	for _, r := range judged[:2] {
		h, err := st.History(r.ID, study.MetricSSIM)
		ri, _ := st.GetRun(r.ID)
		if err != nil || len(h) != 2 || h[0].Step != 1 || h[1].Step != 2 || h[0].Value != want[r.ID] || ri.Tags[TagEvaluation] != ev2.RunID {
			t.Errorf("run %s after a second evaluation: judge/ssim %v, evaluation tag %q, %v", r.ID, h, ri.Tags[TagEvaluation], err)
		}
	}
	// Rerunning the study reruns its runs and its (latest) evaluation: on the CPU backend every number reproduces.
	rr, err := Rerun(rec, sw, st, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Log(rr.Summary())
	if !rr.OK || len(rr.Runs) != 11 || rr.RunsReproduced != 11 || rr.JudgeEqual != 11 || !rr.AnalysisEqual || rr.Evaluation != ev2.RunID {
		t.Errorf("rerun %+v", rr)
	}
	if n, _ := st.SearchRuns(tracker.Query{Filter: "tags.`" + TagRerunOf + "` = '" + rec.ID + "'"}); len(n) != 11 {
		t.Errorf("%d reruns tagged %s", len(n), TagRerunOf)
	}
}

// The built-in check: gram and mmd-poly (degree 2, c = 0) must not differ; when scores say they do, the
// findings say the check failed. meanvar is another loss: never checked.
func TestIdentityCheck(t *testing.T) {
	f, err := Load(tinyStudy(t, 2, ""))
	if err != nil {
		t.Fatal(err)
	}
	d, err := f.Expand("", 0)
	if err != nil {
		t.Fatal(err)
	}
	rec, sw, err := Create(t.TempDir(), d, filepath.Join(t.TempDir(), "t.db"), "", sweep.ExecutorLocal, false)
	if err != nil {
		t.Fatal(err)
	}
	findings := func(mmdOffset float64) string {
		var obs []study.Observation
		for _, p := range rec.Runs {
			v := 1 + float64(p.Index/len(f.Arms)) // the unit and seed's value, the same for every arm
			switch p.Arm {
			case "mmd-poly":
				v += mmdOffset
			case "meanvar":
				v += 3
			}
			obs = append(obs, study.Observation{Run: fmt.Sprint(p.Index), Arm: p.Arm, Unit: p.Unit, Seed: p.Seed, Metric: study.MetricContent, Value: v})
		}
		an, err := study.Analyse(obs, study.AnalysisOptions{Resamples: 100})
		if err != nil {
			t.Fatal(err)
		}
		return strings.Join(identityCheck(rec, sw, an), "\n")
	}
	if got := findings(0); !strings.Contains(got, "Built-in check passed: gram and mmd-poly") || strings.Contains(got, "meanvar") {
		t.Errorf("identical arms: %q", got)
	}
	if got := findings(0.5); !strings.Contains(got, "Built-in check FAILED: gram and mmd-poly are the same loss") || !strings.Contains(got, "judge/content") {
		t.Errorf("differing arms: %q", got)
	}
}

// The cross-loss finding reads the matrix's diagonal: is the arm optimising a loss the best under that loss?
func TestCrossLossFinding(t *testing.T) {
	f, err := Load(tinyStudy(t, 2, ""))
	if err != nil {
		t.Fatal(err)
	}
	d, err := f.Expand("", 0)
	if err != nil {
		t.Fatal(err)
	}
	rec, sw, err := Create(t.TempDir(), d, filepath.Join(t.TempDir(), "t.db"), "", sweep.ExecutorLocal, false)
	if err != nil {
		t.Fatal(err)
	}
	finding := func(meanvarOnMeanvar float64) string {
		var obs []study.Observation
		for _, p := range rec.Runs {
			score := map[string]float64{"gram": 1, "mmd-poly": 1, "meanvar": 2} // judge/style/gram and mmd-poly
			mv := map[string]float64{"gram": 1.5, "mmd-poly": 1.5, "meanvar": meanvarOnMeanvar}
			for _, m := range []string{"gram", "mmd-poly"} {
				obs = append(obs, study.Observation{Run: fmt.Sprint(p.Index), Arm: p.Arm, Unit: p.Unit, Seed: p.Seed, Metric: study.StyleMetric(m), Value: score[p.Arm]})
			}
			obs = append(obs, study.Observation{Run: fmt.Sprint(p.Index), Arm: p.Arm, Unit: p.Unit, Seed: p.Seed, Metric: study.StyleMetric("meanvar"), Value: mv[p.Arm]})
		}
		an, err := study.Analyse(obs, study.AnalysisOptions{Resamples: 100})
		if err != nil {
			t.Fatal(err)
		}
		return crossLossFinding(rec, sw, an)
	}
	if got := finding(1); !strings.Contains(got, "under 3 of the 3 judge style losses") || !strings.Contains(got, "each loss is best at its own statistic") {
		t.Errorf("diagonal best: %q", got)
	}
	if got := finding(2); !strings.Contains(got, "under 2 of the 3") || !strings.Contains(got, "not under meanvar (best: gram)") {
		t.Errorf("meanvar not best under meanvar: %q", got)
	}
}

// A judge named like any run's loss network: weights.net picks VGG-16 or VGG-19 for seeded random weights too.
func TestJudgeNet(t *testing.T) {
	for _, net := range []vgg.Net{vgg.VGG16, vgg.VGG19} {
		cfg, err := Judge{Weights: &spec.Weights{RandomSeed: 7, Net: string(net)}}.JudgeConfig(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		if want := vgg.RandomNet(net, 7); cfg.Weights.SHA256 != want.SHA256 || len(cfg.Weights.Kernels) != len(want.Kernels) {
			t.Errorf("judge net %s: got weights %.12s with %d convolutions, want %.12s with %d", net,
				cfg.Weights.SHA256, len(cfg.Weights.Kernels), want.SHA256, len(want.Kernels))
		}
	}
	if _, err := (Judge{Weights: &spec.Weights{RandomSeed: 7, Net: "vgg11"}}).JudgeConfig(""); err == nil {
		t.Error("judge net vgg11 accepted")
	}
}
