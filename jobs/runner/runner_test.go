package runner

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stylelab/stylelab/experiments/gatys"
	"github.com/stylelab/stylelab/experiments/train"
	"github.com/stylelab/stylelab/jobs/spec"
	"github.com/stylelab/stylelab/tracker"
)

// tinySpec is a 32 px, 3-step optimisation of copies of two shipped images (copied so tests may change them).
func tinySpec(t *testing.T, dir string) *spec.Spec {
	t.Helper()
	copyFile := func(src, name string) string {
		b, err := os.ReadFile(filepath.Join("..", "..", "images", src))
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	c := copyFile("content/chelsea.jpg", "content.jpg")
	s := copyFile("style/vangogh_starry_night.jpg", "style.jpg")
	cfg := gatys.DefaultConfig()
	cfg.Size, cfg.Steps, cfg.Seed = 32, 3, 11
	cfg.StyleLayers = []string{"relu1_1", "relu2_1", "relu3_1"}
	cfg.ContentLayers = []string{"relu3_1"}
	return spec.NewOptimise("runner-test", "tiny", c, []string{s}, cfg)
}

func openStore(t *testing.T) *tracker.Store {
	t.Helper()
	s, err := tracker.Open(filepath.Join(t.TempDir(), "runs", "stylelab.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestRunRecordsAndRerunIsIdentical(t *testing.T) {
	if testing.Short() {
		t.Skip("optimisation runs: skipped with -short")
	}
	dir := t.TempDir()
	st := openStore(t)
	sp := tinySpec(t, dir)
	sp.Output = filepath.Join(dir, "out", "o.png")
	out, err := Run(sp, Options{Store: st})
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.GetRun(out.RunID)
	if err != nil {
		t.Fatal(err)
	}
	if info.Status != tracker.StatusFinished {
		t.Fatalf("status %s (%s)", info.Status, info.Error)
	}
	if info.Params["loss"] != "gram" || info.Params["size"] != "32" || info.Params["seed"] != "11" {
		t.Fatalf("params not recorded: %v", info.Params)
	}
	if info.Tags[KeyTag] != sp.Key() || info.Tags["provenance.input.content.sha256"] != sp.Inputs.Content.SHA256 {
		t.Fatalf("tags: key %q (want %q), content hash %q", info.Tags[KeyTag], sp.Key(), info.Tags["provenance.input.content.sha256"])
	}
	hist, err := st.History(out.RunID, "total")
	if err != nil || len(hist) != 4 {
		t.Fatalf("total history: %d points, %v (want steps 0..3)", len(hist), err)
	}
	if _, err := st.History(out.RunID, "style/relu2_1"); err != nil {
		t.Fatal(err)
	}
	disk, err := os.ReadFile(sp.Output)
	if err != nil || string(disk) != string(out.OutputPNG) {
		t.Fatalf("output file missing or different from the artifact: %v", err)
	}
	stored, err := LoadSpec(st, out.RunID)
	if err != nil || stored.Key() != sp.Key() || stored.Backend == "" {
		t.Fatalf("stored spec: %v (key %s vs %s, backend %q)", err, stored.Key(), sp.Key(), stored.Backend)
	}

	v, err := Rerun(st, out.RunID, RerunOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if v.Verdict != Identical || !v.OK() {
		t.Fatalf("verdict %s: %s", v.Verdict, v.Summary())
	}
	if len(v.Artifacts) == 0 || !v.Artifacts[0].Equal || v.Artifacts[0].Name != OutputArtifact {
		t.Fatalf("artifacts compared: %+v", v.Artifacts)
	}
	re, _ := st.GetRun(v.Rerun)
	if re.Tags[RerunOfTag] != out.RunID {
		t.Fatalf("rerun not tagged with its origin: %v", re.Tags[RerunOfTag])
	}

	// A changed input is refused, naming the file; with the override the rerun runs and differs.
	if err := os.WriteFile(filepath.Join(dir, "style.jpg"), mustRead(t, filepath.Join("..", "..", "images", "style", "munch_scream.jpg")), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = Rerun(st, out.RunID, RerunOptions{})
	var ce *spec.ChangedInputError
	if !errors.As(err, &ce) || !strings.Contains(err.Error(), "style.jpg") {
		t.Fatalf("changed input: got %v", err)
	}
	var warned []string
	v, err = Rerun(st, out.RunID, RerunOptions{Options: Options{AllowChangedInputs: true, Warn: func(s string) { warned = append(warned, s) }}})
	if err != nil {
		t.Fatal(err)
	}
	if v.Verdict != Different || v.Divergence == nil || v.Divergence.Step != 0 || len(warned) != 1 {
		t.Fatalf("changed style: verdict %s, divergence %+v, warnings %v", v.Verdict, v.Divergence, warned)
	}
}

func TestPerturbedParameterDivergesAfterStepZero(t *testing.T) {
	if testing.Short() {
		t.Skip("optimisation runs: skipped with -short")
	}
	dir := t.TempDir()
	st := openStore(t)
	a := tinySpec(t, dir)
	outA, err := Run(a, Options{Store: st})
	if err != nil {
		t.Fatal(err)
	}
	b := tinySpec(t, dir)
	b.Optimise.LearningRate *= 1.5
	outB, err := Run(b, Options{Store: st})
	if err != nil {
		t.Fatal(err)
	}
	v, err := Compare(st, outA.RunID, outB.RunID, 0)
	if err != nil {
		t.Fatal(err)
	}
	// Same init, so step 0 agrees; the learning rate changes the first update.
	if v.Verdict != Different || v.Divergence == nil || v.Divergence.Step != 1 {
		t.Fatalf("verdict %s, divergence %+v", v.Verdict, v.Divergence)
	}
	if !strings.Contains(v.Summary(), "first divergence at step 1") {
		t.Fatalf("summary: %s", v.Summary())
	}
}

func TestRunRefusesIncompleteFeedForwardSpecs(t *testing.T) {
	sp := &spec.Spec{Version: 1, Kind: spec.KindAdaIN}
	if _, err := Run(sp, Options{}); err == nil || !strings.Contains(err.Error(), "needs inputs.model") {
		t.Fatalf("got %v", err)
	}
	sp = &spec.Spec{Version: 1, Kind: spec.KindTrain, Train: &train.Config{Kind: "cin"},
		Inputs: spec.Inputs{ContentDir: &spec.Folder{Path: t.TempDir()}, Styles: []spec.Input{{Path: "../../images/style/munch_scream.jpg"}}}}
	if _, err := Run(sp, Options{}); err == nil || !strings.Contains(err.Error(), "has no images") {
		t.Fatalf("empty content folder: got %v", err)
	}
}

func TestParamsFlatten(t *testing.T) {
	cfg := gatys.DefaultConfig()
	p, err := Params(&cfg)
	if err != nil {
		t.Fatal(err)
	}
	if p["style_layers"] != "relu1_1,relu2_1,relu3_1,relu4_1,relu5_1" || p["loss"] != "gram" ||
		p["loss_options.gauss_exact_max"] != "1048576" || p["loss_options.poly_degree"] != "2" || p["learning_rate"] != fmt.Sprint(cfg.LearningRate) {
		t.Fatalf("params: %v", p)
	}
	for k := range p {
		if strings.HasPrefix(k, "loss_options.") {
			return
		}
	}
	t.Fatalf("nested loss options not flattened: %v", p)
}

func mustRead(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestCodeDifferencesAndCompareOfRecordedRuns(t *testing.T) {
	st := openStore(t)
	mk := func(commit string, values []float64) string {
		r, err := st.StartRun("code", "r", tracker.WithoutProvenance())
		if err != nil {
			t.Fatal(err)
		}
		if err := r.SetTags(map[string]string{"provenance.git.commit": commit, "provenance.host": "h-" + commit}); err != nil {
			t.Fatal(err)
		}
		for i, v := range values {
			if err := r.LogMetric("total", int64(i), v); err != nil {
				t.Fatal(err)
			}
		}
		var err2 error
		if err := r.End(&err2); err != nil {
			t.Fatal(err)
		}
		return r.ID()
	}
	a := mk("aaa", []float64{1, 0.5, 0.25})
	b := mk("bbb", []float64{1, 0.5 * (1 + 1e-6), 0.25})
	c := mk("aaa", []float64{1, 0.5, 0.3})
	w, err := CodeDifferences(st, a, b)
	if err != nil || len(w) != 1 || !strings.Contains(w[0], `git.commit was "aaa", now "bbb"`) {
		t.Fatalf("code differences: %v %v (the host is not code)", w, err)
	}
	if w, _ := CodeDifferences(st, a, c); len(w) != 0 {
		t.Fatalf("same commit reported as different: %v", w)
	}
	v, err := Compare(st, a, b, 1e-3)
	if err != nil || v.Verdict != WithinTolerance || v.MaxRelDiff < 9e-7 || v.MaxRelDiff > 1.1e-6 {
		t.Fatalf("tiny difference: %+v %v", v, err)
	}
	v, err = Compare(st, a, c, 1e-3)
	if err != nil || v.Verdict != Different || v.Divergence == nil || v.Divergence.Step != 2 || v.Divergence.Metric != "total" {
		t.Fatalf("real difference: %+v %v", v, err)
	}
	if v, _ := Compare(st, a, a, 0); v.Verdict != Identical {
		t.Fatalf("a run against itself: %s", v.Verdict)
	}
}
