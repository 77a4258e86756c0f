package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nlpodyssey/safetensors"

	"github.com/stylelab/stylelab/experiments/train"
	"github.com/stylelab/stylelab/jobs/spec"
	"github.com/stylelab/stylelab/tracker"
)

// writeSpecFile writes sp as a spec file and returns its path.
func writeSpecFile(t *testing.T, dir, name string, sp *spec.Spec) string {
	t.Helper()
	p := filepath.Join(dir, name+".json")
	if err := os.WriteFile(p, sp.JSON(), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// tinyTrain is a 2-step tiny-preset training spec of kind (cin or adain) on the shipped photos and two styles.
func tinyTrain(t *testing.T, kind, out string) *spec.Spec {
	t.Helper()
	cfg, err := train.Preset("tiny", kind)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Steps = 2
	abs := func(p string) string { a, _ := filepath.Abs(p); return a }
	return &spec.Spec{Version: spec.Version, Kind: spec.KindTrain, Experiment: "kinds", Seed: 4, Train: &cfg, Output: out,
		Inputs: spec.Inputs{ContentDir: &spec.Folder{Path: abs("../../images/content")},
			Styles: []spec.Input{{Path: abs(testStyle)}, {Path: abs(testStyle2)}}}}
}

// `stylelab run --spec` runs a spec of every kind (it read sp.Optimise.Steps and panicked with a nil pointer on
// train, stylize, interpolate and adain specs, so every sweep of those kinds crashed), and so does a sweep of
// each kind (one point each, local workers).
func TestRunSpecEveryKindAndSweep(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: trains two tiny networks and runs ten tiny runs")
	}
	dir := t.TempDir()
	db := filepath.Join(dir, "runs.db")
	env := []string{"STYLELAB_DB=" + db}
	abs := func(p string) string { a, _ := filepath.Abs(p); return a }
	specs := map[string]*spec.Spec{
		"cin":   tinyTrain(t, train.KindCIN, filepath.Join(dir, "cin.safetensors")),
		"adain": tinyTrain(t, train.KindAdaIN, filepath.Join(dir, "adain.safetensors")),
	}
	infer := func(kind, model string) *spec.Spec {
		return &spec.Spec{Version: spec.Version, Kind: kind, Experiment: "kinds", Seed: 4, Output: filepath.Join(dir, kind+".png"),
			Inputs: spec.Inputs{Content: spec.Input{Path: abs(testContent)}, Model: &spec.Input{Path: model}}}
	}
	specs["stylize"] = infer(spec.KindStylize, specs["cin"].Output)
	specs["stylize"].Stylize = &spec.StylizeParams{Size: 32, Mix: []float64{0, 1}}
	specs["interpolate"] = infer(spec.KindInterpolate, specs["cin"].Output)
	specs["interpolate"].Interpolate = &spec.InterpolateParams{Size: 32, Styles: []int{0, 1}, Steps: 2}
	specs["adain-run"] = infer(spec.KindAdaIN, specs["adain"].Output)
	specs["adain-run"].Inputs.Styles = []spec.Input{{Path: abs(testStyle)}}
	specs["adain-run"].AdaIN = &spec.AdaINParams{Size: 32}
	for _, name := range []string{"cin", "adain", "stylize", "interpolate", "adain-run"} {
		sp := specs[name]
		r := runStylelab(t, env, "run", "--spec", writeSpecFile(t, dir, name, sp), "--json")
		if r.code != 0 {
			t.Fatalf("run --spec %s (kind %s): exit %d\n%s\n%s", name, sp.Kind, r.code, r.stdout, r.stderr)
		}
		var o struct {
			RunID string `json:"run_id"`
		}
		if err := json.Unmarshal([]byte(r.stdout), &o); err != nil || o.RunID == "" {
			t.Fatalf("run --spec %s --json: %v %q", name, err, r.stdout)
		}
		if fi, err := os.Stat(sp.Output); err != nil || fi.Size() == 0 {
			t.Fatalf("run --spec %s wrote no %s: %v", name, sp.Output, err)
		}
		// The same kind as a sweep: one point, the spec's seed swept.
		base, _ := json.Marshal(sp)
		sw := filepath.Join(dir, "sweep-"+name+".json")
		doc := `{"name": "` + name + `", "base": ` + string(base) + `, "grid": {"seed": [9]}}`
		if err := os.WriteFile(sw, []byte(doc), 0o644); err != nil {
			t.Fatal(err)
		}
		id := startSweep(t, env, sw, "--wait", "--workers", "1")
		if s := sweepStatusOf(t, env, id); s.Counts.Total != 1 || s.Counts.Finished != 1 {
			t.Fatalf("sweep of kind %s: %+v", sp.Kind, s.Counts)
		}
	}
}

// `stylelab train` says "wrote <checkpoint>" only when it wrote one, and checks --out before step 1: an --out
// that is a folder is refused before anything trains or is recorded; a run that fails at step 1 (NaN) says
// no "wrote"; an input that cannot be read on a fresh run is not called "changed since the run was recorded"
// with advice to pass a flag train does not have.
func TestTrainMessages(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: starts tiny training runs")
	}
	dir := t.TempDir()
	db := filepath.Join(dir, "runs.db")
	styles := testStyle + "," + testStyle2
	base := []string{"train", "--preset", "tiny", "--kind", "cin", "--styles", styles, "--content-dir", "../../images/content", "--steps", "2", "--db", db}

	folder := filepath.Join(dir, "ckpt-folder")
	os.Mkdir(folder, 0o755)
	r := runStylelab(t, nil, append(base, "--out", folder)...)
	if r.code != 1 || !strings.Contains(r.stderr, "is a folder") || strings.Contains(r.stdout, "wrote") || strings.Contains(r.stderr, "step 1/") {
		t.Fatalf("--out a folder: exit %d\nstdout %s\nstderr %s", r.code, r.stdout, r.stderr)
	}
	if n := countRuns(t, db); n != 0 {
		t.Fatalf("--out a folder recorded %d runs", n)
	}

	nan := filepath.Join(dir, "nan.safetensors")
	r = runStylelab(t, nil, append(base, "--style-weight", "1e39", "--out", nan)...)
	if r.code != 1 || strings.Contains(r.stdout, "wrote") {
		t.Fatalf("NaN at step 1: exit %d\nstdout %s\nstderr %s", r.code, r.stdout, r.stderr)
	}
	if _, err := os.Stat(nan); err == nil {
		t.Fatal("a checkpoint was written by a run that failed at step 1")
	}

	unreadable := filepath.Join(dir, "style-is-a-folder.jpg")
	os.Mkdir(unreadable, 0o755)
	r = runStylelab(t, nil, "train", "--preset", "tiny", "--styles", unreadable, "--content-dir", "../../images/content", "--out", filepath.Join(dir, "x.safetensors"), "--db", db)
	if r.code != 1 || !strings.Contains(r.stderr, "style-is-a-folder.jpg") || strings.Contains(r.stderr, "--allow-changed-inputs") || strings.Contains(r.stderr, "changed since") {
		t.Fatalf("unreadable style on a fresh train: exit %d, stderr %s", r.code, r.stderr)
	}
}

// A panic inside a run (a resume checkpoint with an extra /targets/style_relu1_1 tensor panicked inside
// training) must not leave a FINISHED run: the command exits 1 (not 2, the usage code) with a message, not a
// crash trace, and any run it recorded is FAILED.
func TestPanickingResumeIsNotFinished(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: trains a tiny network")
	}
	dir := t.TempDir()
	db := filepath.Join(dir, "runs.db")
	ckpt := filepath.Join(dir, "cin.safetensors")
	styles := testStyle + "," + testStyle2
	base := []string{"train", "--preset", "tiny", "--kind", "cin", "--styles", styles, "--content-dir", "../../images/content", "--db", db}
	if r := runStylelab(t, nil, append(base, "--steps", "2", "--checkpoint-every", "2", "--out", ckpt)...); r.code != 0 {
		t.Fatalf("train: exit %d: %s", r.code, r.stderr)
	}
	data, err := os.ReadFile(ckpt)
	if err != nil {
		t.Fatal(err)
	}
	st, err := safetensors.Deserialize(data)
	if err != nil {
		t.Fatal(err)
	}
	_, meta, err := safetensors.ReadMetadata(data)
	if err != nil {
		t.Fatal(err)
	}
	views := map[string]safetensors.TensorView{}
	for _, nt := range st.Tensors() {
		views[nt.Name] = nt.TensorView
	}
	extra, err := safetensors.NewTensorView(safetensors.F32, []uint64{1}, make([]byte, 4))
	if err != nil {
		t.Fatal(err)
	}
	views["/targets/style_relu1_1"] = extra
	bad, err := safetensors.Serialize(views, meta.Metadata())
	if err != nil {
		t.Fatal(err)
	}
	badPath := filepath.Join(dir, "extra-tensor.safetensors")
	if err := os.WriteFile(badPath, bad, 0o644); err != nil {
		t.Fatal(err)
	}
	before := countRuns(t, db)
	r := runStylelab(t, nil, append(base, "--steps", "4", "--resume", badPath, "--out", filepath.Join(dir, "resumed.safetensors"))...)
	if r.code != 1 || strings.Contains(r.stderr, "goroutine ") {
		t.Fatalf("resume with an extra tensor: exit %d (want 1, a message and no crash trace)\n%s", r.code, r.stderr)
	}
	s, err := tracker.Open(db)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	runs, err := s.SearchRuns(tracker.Query{OrderBy: "start_time DESC"})
	if err != nil {
		t.Fatal(err)
	}
	for _, ri := range runs[:len(runs)-before] {
		if ri.Status != tracker.StatusFailed || ri.Error == "" {
			t.Fatalf("run %s of the failing resume is %s (%q), want FAILED with the reason", ri.ID, ri.Status, ri.Error)
		}
		t.Logf("recorded FAILED: %s", ri.Error)
	}
}

// countRuns is the number of runs in the database at db (0 when it does not exist yet).
func countRuns(t *testing.T, db string) int {
	t.Helper()
	if _, err := os.Stat(db); err != nil {
		return 0
	}
	s, err := tracker.Open(db)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	runs, err := s.SearchRuns(tracker.Query{Deleted: tracker.IncludeDeleted})
	if err != nil {
		t.Fatal(err)
	}
	return len(runs)
}
