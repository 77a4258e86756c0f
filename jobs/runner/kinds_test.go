package runner

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/stylelab/stylelab/experiments/train"
	"github.com/stylelab/stylelab/experiments/vgg"
	"github.com/stylelab/stylelab/jobs/spec"
	"github.com/stylelab/stylelab/tracker"
	"github.com/stylelab/stylelab/tracker/pgtest"
)

// copyImages copies shipped images (paths under images/) into dir and returns the copies' paths.
func copyImages(t *testing.T, dir string, names ...string) []string {
	t.Helper()
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

// tinyTrainSpec is a 2-step tiny-preset training run of kind (cin or adain) on a folder of two photos
// (dir/content) and two style images, writing its checkpoint to dir/<kind>.safetensors.
func tinyTrainSpec(t *testing.T, dir, kind string) *spec.Spec {
	t.Helper()
	cdir := filepath.Join(dir, "content")
	if err := os.MkdirAll(cdir, 0o755); err != nil {
		t.Fatal(err)
	}
	copyImages(t, cdir, "content/chelsea.jpg", "content/astronaut.jpg")
	styles := copyImages(t, dir, "style/vangogh_starry_night.jpg", "style/munch_scream.jpg")
	cfg, err := train.Preset("tiny", kind)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Steps = 2
	sp := &spec.Spec{Version: spec.Version, Kind: spec.KindTrain, Experiment: "kinds-test", Seed: 3, Train: &cfg,
		Output: filepath.Join(dir, kind+".safetensors"), Inputs: spec.Inputs{ContentDir: &spec.Folder{Path: cdir}}}
	for _, s := range styles {
		sp.Inputs.Styles = append(sp.Inputs.Styles, spec.Input{Path: s})
	}
	return sp
}

// inferenceSpec is a 32 px stylize, interpolate or adain run of the checkpoint model.
func inferenceSpec(t *testing.T, dir, kind, model string) *spec.Spec {
	t.Helper()
	content := copyImages(t, dir, "content/chelsea.jpg")[0]
	sp := &spec.Spec{Version: spec.Version, Kind: kind, Experiment: "kinds-test", Seed: 3,
		Output: filepath.Join(dir, kind+".png"), Inputs: spec.Inputs{Content: spec.Input{Path: content}, Model: &spec.Input{Path: model}}}
	switch kind {
	case spec.KindStylize:
		sp.Stylize = &spec.StylizeParams{Size: 32, Mix: []float64{0.5, 0.5}}
	case spec.KindInterpolate:
		sp.Interpolate = &spec.InterpolateParams{Size: 32, Styles: []int{0, 1}, Steps: 2}
	case spec.KindAdaIN:
		sp.Inputs.Styles = []spec.Input{{Path: copyImages(t, dir, "style/hokusai_great_wave.jpg")[0]}}
		sp.AdaIN = &spec.AdaINParams{Size: 32}
	}
	return sp
}

// Every kind's run gets Options.RunOptions (the feed-forward copy of the shell dropped them, so WithRetry and
// WithFlush never reached training runs): tracker.WithID makes it visible, the run's id is the one asked for.
// The runs are FINISHED and write their output file, each through the one shell.
func TestEveryKindGetsRunOptions(t *testing.T) {
	if testing.Short() {
		t.Skip("trains two tiny networks: skipped with -short")
	}
	dir := t.TempDir()
	st := openStore(t)
	run := func(sp *spec.Spec) *Outcome {
		t.Helper()
		id := uuid.NewString()
		out, err := Run(sp, Options{Store: st, RunOptions: []tracker.RunOption{tracker.WithID(id), tracker.WithFlush(1, time.Hour)}})
		if err != nil {
			t.Fatalf("%s: %v", sp.Kind, err)
		}
		if out.RunID != id {
			t.Fatalf("%s: run id %s, RunOptions asked for %s: the options did not reach StartRun", sp.Kind, out.RunID, id)
		}
		info, err := st.GetRun(id)
		if err != nil || info.Status != tracker.StatusFinished || info.Params["kind"] != sp.Kind {
			t.Fatalf("%s: %+v %v", sp.Kind, info, err)
		}
		if !out.OutputWritten {
			t.Fatalf("%s: output %s not written", sp.Kind, sp.Output)
		}
		if _, err := os.Stat(sp.Output); err != nil {
			t.Fatal(err)
		}
		return out
	}
	opt := tinySpec(t, dir)
	opt.Output = filepath.Join(dir, "optimise.png")
	run(opt)
	cin := tinyTrainSpec(t, filepath.Join(dir, "cin"), train.KindCIN)
	run(cin)
	for _, k := range []string{spec.KindStylize, spec.KindInterpolate} {
		run(inferenceSpec(t, dir, k, cin.Output))
	}
	ada := tinyTrainSpec(t, filepath.Join(dir, "adain"), train.KindAdaIN)
	run(ada)
	run(inferenceSpec(t, dir, spec.KindAdaIN, ada.Output))
	got := map[string]bool{} // the test-only kinds (panic-test, the example's count) are registered too
	for _, k := range Kinds() {
		got[k] = true
	}
	for _, k := range []string{spec.KindOptimise, spec.KindTrain, spec.KindStylize, spec.KindInterpolate, spec.KindAdaIN} {
		if !got[k] {
			t.Errorf("kind %s is not registered (registered: %v)", k, Kinds())
		}
	}
}

// A test-only kind, registered the way every kind is (no hook in production code): its job logs one step and
// then panics; its Prepare panics when the spec's seed is 99.
const panicKind = "panic-test"

type panicTestKind struct{}

type panicTestJob struct{}

func init() {
	spec.RegisterKind(spec.KindSpec{Name: panicKind, Resolve: func(*spec.Spec) error { return nil },
		Section: func(s *spec.Spec) any { return s.Seed }})
	Register(panicKind, panicTestKind{})
}

func (panicTestKind) Prepare(sp *spec.Spec, _ *vgg.Weights, _ InputPolicy) (Job, error) {
	if sp.Seed == 99 {
		var m map[string]int
		m["boom"]++ // a nil-map write: a runtime error panic
	}
	return panicTestJob{}, nil
}
func (panicTestJob) Name() string                       { return "panicky" }
func (panicTestJob) Describe() string                   { return "panics" }
func (panicTestJob) Params() (map[string]string, error) { return map[string]string{"p": "1"}, nil }
func (panicTestJob) Steps() int                         { return 3 }
func (panicTestJob) Execute(x *Exec, _ *Outcome) (Result, error) {
	x.Step(Progress{Step: 1, Metrics: map[string]float64{"total": 1}})
	panic("boom in step 2")
}

// A panic inside a run ends it FAILED with the panic's text (tracker.Run.End called inside a deferred closure
// cannot recover it, so the run read FINISHED): Run returns a *PanicError, and what was logged before stays.
// A panic while preparing is an error too, before any run exists.
func TestPanicInRunIsFailed(t *testing.T) {
	st := openStore(t)
	sp := &spec.Spec{Version: spec.Version, Kind: panicKind, Experiment: "panic", Seed: 1}
	out, err := Run(sp, Options{Store: st})
	var pe *PanicError
	if !errors.As(err, &pe) || !strings.Contains(err.Error(), "panic: boom in step 2") || len(pe.Stack) == 0 {
		t.Fatalf("Run: %v (want a *PanicError with the panic text and a stack)", err)
	}
	info, err := st.GetRun(out.RunID)
	if err != nil {
		t.Fatal(err)
	}
	if info.Status != tracker.StatusFailed || !strings.Contains(info.Error, "panic: boom in step 2") {
		t.Fatalf("run recorded %s (%q), want FAILED with the panic text", info.Status, info.Error)
	}
	if h, err := st.History(info.ID, "total"); err != nil || len(h) != 1 {
		t.Fatalf("the step logged before the panic: %v %v", h, err)
	}
	if info.Name != "panicky" || info.Params["p"] != "1" || info.Params["kind"] != panicKind {
		t.Fatalf("name %q params %v", info.Name, info.Params)
	}

	before, _ := st.SearchRuns(tracker.Query{})
	sp = &spec.Spec{Version: spec.Version, Kind: panicKind, Experiment: "panic", Seed: 99}
	if _, err := Run(sp, Options{Store: st}); !errors.As(err, &pe) || !strings.Contains(err.Error(), "nil map") {
		t.Fatalf("panic in Prepare: %v", err)
	}
	if after, _ := st.SearchRuns(tracker.Query{}); len(after) != len(before) {
		t.Fatalf("a run was recorded for a spec whose preparation panicked")
	}
}

// A PostgreSQL store without an artifact folder is refused before any run row exists (it was refused only
// after StartRun, leaving a FAILED run behind).
func TestNoArtifactFolderRefusedBeforeTheRun(t *testing.T) {
	_, url := openPostgres(t)
	t.Setenv("STYLELAB_ARTIFACTS", "")
	noArt, err := tracker.Open(url)
	if err != nil {
		t.Fatal(err)
	}
	defer noArt.Close()
	_, err = Run(tinySpec(t, t.TempDir()), Options{Store: noArt})
	if err == nil || !strings.Contains(err.Error(), "STYLELAB_ARTIFACTS") {
		t.Fatalf("Run without an artifact folder: %v", err)
	}
	runs, err := noArt.SearchRuns(tracker.Query{Deleted: tracker.IncludeDeleted})
	if err != nil || len(runs) != 0 {
		t.Fatalf("runs recorded: %d %v", len(runs), err)
	}
}

// An output path that is a folder is refused before the run starts: nothing recorded, nothing run.
func TestOutputFolderRefusedBeforeTheRun(t *testing.T) {
	st := openStore(t)
	dir := t.TempDir()
	sp := tinySpec(t, dir)
	sp.Output = dir
	_, err := Run(sp, Options{Store: st})
	if err == nil || !strings.Contains(err.Error(), "is a folder") {
		t.Fatalf("output a folder: %v", err)
	}
	if runs, _ := st.SearchRuns(tracker.Query{}); len(runs) != 0 {
		t.Fatalf("%d runs recorded", len(runs))
	}
}

// openPostgres starts a throwaway PostgreSQL server (tracker/pgtest, stopped at the test's end) and returns it
// with the URL of a fresh database on it, or skips when PostgreSQL is not installed (a failure when
// STYLELAB_REQUIRE_POSTGRES is set).
func openPostgres(t *testing.T) (*pgtest.Server, string) {
	t.Helper()
	srv, err := pgtest.Start()
	if err != nil {
		if pgtest.Required() {
			t.Fatalf("STYLELAB_REQUIRE_POSTGRES=1 but PostgreSQL cannot be started: %v", err)
		}
		t.Skipf("PostgreSQL unavailable: %v", err)
	}
	t.Cleanup(func() { srv.Stop() })
	url, err := srv.NewDatabase()
	if err != nil {
		t.Fatal(err)
	}
	return srv, url
}

// A training run's rerun with a photo added to its content folder: refused without AllowChangedInputs, naming
// the added file; allowed, it trains on the folder as it is now and says so in a warning and in the verdict,
// which is not "identical" (it used to ignore the photo and say "identical" with no warning).
func TestRerunSeesAddedPhoto(t *testing.T) {
	if testing.Short() {
		t.Skip("trains a tiny network: skipped with -short")
	}
	dir := t.TempDir()
	st := openStore(t)
	sp := tinyTrainSpec(t, dir, train.KindCIN)
	out, err := Run(sp, Options{Store: st})
	if err != nil {
		t.Fatal(err)
	}
	copyImages(t, filepath.Join(dir, "content"), "content/coffee.jpg")
	_, err = Rerun(st, out.RunID, RerunOptions{})
	if err == nil || !strings.Contains(err.Error(), "added coffee.jpg") || !strings.Contains(err.Error(), "--allow-changed-inputs") {
		t.Fatalf("rerun with an added photo: %v", err)
	}
	var warned []string
	v, err := Rerun(st, out.RunID, RerunOptions{Options: Options{AllowChangedInputs: true, Warn: func(w string) { warned = append(warned, w) }}})
	if err != nil {
		t.Fatal(err)
	}
	if len(warned) != 1 || !strings.Contains(warned[0], "now has 3 images, the spec records 2 (added coffee.jpg)") {
		t.Fatalf("warnings %q", warned)
	}
	if len(v.Warnings) == 0 || !strings.Contains(v.Warnings[0], "added coffee.jpg") || v.Verdict == Identical {
		t.Fatalf("verdict %s, warnings %q", v.Verdict, v.Warnings)
	}
	re, err := LoadSpec(st, v.Rerun)
	if err != nil || len(re.Inputs.ContentDir.Files) != 3 {
		t.Fatalf("the rerun's spec: %v, %d files", err, len(re.Inputs.ContentDir.Files))
	}
}
