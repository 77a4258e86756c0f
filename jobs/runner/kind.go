package runner

import (
	"context"
	"fmt"
	"runtime/debug"
	"sort"
	"time"

	"github.com/stylelab/stylelab/experiments/imageio"
	"github.com/stylelab/stylelab/experiments/vgg"
	"github.com/stylelab/stylelab/jobs/spec"
	"github.com/stylelab/stylelab/tracker"
)

// A Kind is one run kind's execution, registered under its spec kind (Register) the way GoMLX registers
// backends. The shell — Prepare, Run, Rerun — does, once for every kind, what all runs share: resolving the
// spec, hashing its inputs, loading the loss network, provenance and Store.StartRun with Options.RunOptions,
// the common params, tags and the spec artifact, per-step metrics, artifacts, the outcome and the output file,
// stopping at a step boundary on SIGINT/SIGTERM, panics recorded as FAILED, rerun and compare. A Kind says only
// what differs. Its spec side (section, defaults, extra inputs) is a spec.KindSpec registered under the same
// name.
type Kind interface {
	// Prepare loads and checks what a resolved spec sp of this kind needs beyond its hashed inputs (images at
	// their working size, model checkpoints, a content folder's files) and returns the job Run executes. w is
	// the loss network, already loaded. Prepare must not record or write anything, and must refuse here,
	// naming the input and the fix, whatever would otherwise fail after the run was recorded. Checks that need
	// the inputs' hashes go in the job's Check (Checker).
	Prepare(sp *spec.Spec, w *vgg.Weights, in InputPolicy) (Job, error)
}

// InputPolicy is the caller's word on inputs that differ from the spec's record (Options.AllowChangedInputs,
// Options.Warn).
type InputPolicy struct {
	// AllowChanged: run with the inputs as they are now (a content folder with other files, say), saying so
	// through Warn; otherwise such a difference is an error that names it and the fix.
	AllowChanged bool
	// Warn receives the differences that were allowed; never nil.
	Warn func(string)
}

// A Job is one prepared run of a kind.
type Job interface {
	// Name is the run's name when the spec gives none (optimise: the style loss; train: "cin-gram").
	Name() string
	// Describe is a short description for progress displays ("gram, 128 px").
	Describe() string
	// Params are the kind's tracker params, usually Params(section) (optimise: the resolved gatys.Config).
	// The shell adds the common ones: kind, seed, content, content_dir, style (comma-separated), model, mask,
	// weights. Keys must not collide with those.
	Params() (map[string]string, error)
	// Steps is the number of steps a progress display counts to (0: the kind has no steps).
	Steps() int
	// Execute runs the job. It reports each step through x.Step, logs other artifacts (sample grids,
	// checkpoints) through x.Artifact, asks x.Stop at each step boundary, fills the kind's part of out (Result,
	// Train, MsPerImage, Tags; sp.Backend when it knows better than backend.Choose) and returns the run's
	// Result — also when it fails, with what it made so far (the last good image).
	Execute(x *Exec, out *Outcome) (Result, error)
}

// A Checker is a Job that checks its inputs against each other once their hashes are known: Prepare calls
// Check after hashing every input file and recording the weights' hash in the spec (train: the checkpoint to
// resume must have been trained on the same style images). It must not record or write anything.
type Checker interface {
	Check() error
}

// Result is what a job produced, for the shell to record and write.
type Result struct {
	// Image is the run's output image, recorded as the artifact output.png (with tag output.sha256); nil for
	// none.
	Image *imageio.Image
	// ImageIsOutput says that the spec's output file is Image as PNG, written by the shell after the run
	// (optimise, stylize, interpolate, adain). A kind whose output file is something else (train: its
	// checkpoint) writes it itself through Exec.WriteOutput and leaves this false.
	ImageIsOutput bool
	// PNG16 encodes Image as a 16-bit PNG (optimise's png16), output file and artifact alike.
	PNG16 bool
}

// Progress is one completed step, as a job reports it (Exec.Step) and Options.OnProgress receives it.
type Progress struct {
	Step  int // the step just completed (optimise counts from 0, train from 1)
	Steps int // the job's Steps
	// Metrics are the step's values, logged to the run at Step (total, content, style, …).
	Metrics           map[string]float64
	StepTime, Elapsed time.Duration
}

// Exec is what the shell gives a running job: its spec and loss network, the caller's options, and the hooks
// through which everything the job reports reaches the tracker and the caller.
type Exec struct {
	Spec    *spec.Spec
	Weights *vgg.Weights
	// Options are the caller's (a kind with typed progress hooks calls them: optimise OnStep, train
	// OnTrainStep). Their Context is the run's, signals included.
	Options Options

	run      *tracker.Run
	steps    int
	trackErr error // the first failed write to the tracker: recording stops, the job goes on
	wrote    bool  // the spec's output file was written
	dry      bool  // a dry run (dryrun.go): WriteOutput writes nothing
}

// Recording reports whether the run is recorded in a store (a job may skip work only the record needs, such
// as encoding sample grids).
func (x *Exec) Recording() bool { return x.run != nil }

// Step reports a completed step: its metrics are logged to the run at p.Step, then Options.OnProgress is
// called. A metric write that fails (the tracker retries an unreachable server for a bounded time first) does
// not stop the job: recording stops, the job goes on and its output is still written, and the run then fails
// saying it is not fully recorded.
func (x *Exec) Step(p Progress) {
	p.Steps = x.steps
	if x.run != nil && x.trackErr == nil && len(p.Metrics) > 0 {
		if err := x.run.LogMetrics(int64(p.Step), p.Metrics); err != nil {
			x.trackErr = fmt.Errorf("recording the run failed at step %d, so the run is not fully recorded (the run went on and its output image is still written; a training run's checkpoint too): %w", p.Step, err)
		}
	}
	if x.Options.OnProgress != nil {
		x.Options.OnProgress(p)
	}
}

// Artifact logs an artifact of the run (no-op without a store). A failed write is treated as in Step.
func (x *Exec) Artifact(name, mediaType string, data []byte) {
	if x.run == nil || x.trackErr != nil {
		return
	}
	if _, err := x.run.LogArtifact(name, mediaType, data); err != nil {
		x.trackErr = fmt.Errorf("recording the run's artifact %s failed, so the run is not fully recorded (the run went on and its output is still written): %w", name, err)
	}
}

// WriteOutput writes data to the spec's output file (no-op when the spec names none), atomically and never
// through a fixed temporary name (see writeFile). A kind that writes its output as it goes (train's periodic
// checkpoints) calls it; the others leave it to the shell (Result.ImageIsOutput).
func (x *Exec) WriteOutput(data []byte) error {
	if x.Spec.Output == "" || x.dry {
		return nil
	}
	if err := writeFile(x.Spec.Output, data); err != nil {
		return err
	}
	x.wrote = true
	return nil
}

// Stop is asked at each step boundary, after the step was reported: nil to go on, or — once the run's context
// is done (SIGINT/SIGTERM with Options.StopOnSignal or NotifyInterrupt) — the *Interrupted error with lastStep,
// which the job returns with what it made so far; the run is then recorded KILLED.
func (x *Exec) Stop(lastStep int) error { return interruption(x.Options.Context, lastStep) }

// kindsByName holds the registered kinds.
var kindsByName = map[string]Kind{}

// Register makes k the execution of spec kind name (spec.RegisterKind must register the same name, for the
// spec side). Call it from an init function. It panics on an empty name, a nil Kind or a second registration
// of a name: programming errors, found at start-up.
func Register(name string, k Kind) {
	switch {
	case name == "":
		panic("runner.Register: empty kind name")
	case k == nil:
		panic("runner.Register: nil Kind for " + name)
	}
	if _, dup := kindsByName[name]; dup {
		panic("runner.Register: kind " + name + " registered twice")
	}
	kindsByName[name] = k
}

// Kinds lists the registered run kinds, sorted.
func Kinds() []string {
	var out []string
	for n := range kindsByName {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// PanicError is a panic inside a run (a bug), turned into the run's error: the run is recorded FAILED with
// this text, and the CLI exits 1. Stack is the panicking goroutine's stack.
type PanicError struct {
	Value any
	Stack []byte
}

func (e *PanicError) Error() string {
	return fmt.Sprintf("panic: %v (a bug in stylelab: please report it with this message)", e.Value)
}

// safely calls f, turning a panic into a *PanicError.
func safely(f func() error) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = &PanicError{Value: p, Stack: debug.Stack()}
		}
	}()
	return f()
}

// contextOrBackground is ctx, or context.Background() when nil.
func contextOrBackground(ctx context.Context) context.Context {
	if ctx == nil {
		return context.Background()
	}
	return ctx
}
