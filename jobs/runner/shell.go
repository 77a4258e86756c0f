package runner

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/stylelab/stylelab/backends/backend"
	"github.com/stylelab/stylelab/experiments/gatys"
	"github.com/stylelab/stylelab/experiments/imageio"
	"github.com/stylelab/stylelab/experiments/train"
	"github.com/stylelab/stylelab/experiments/vgg"
	"github.com/stylelab/stylelab/jobs/spec"
	"github.com/stylelab/stylelab/tracker"
	"github.com/stylelab/stylelab/tracker/provenance"
)

// Options control Run (every kind alike).
type Options struct {
	// Context, when done, stops the run at the next step boundary: the run ends with what its last completed
	// step made as its output (an optimisation's image; a training run's resumable checkpoint), recorded KILLED
	// (NotifyInterrupt gives a context cancelled by SIGINT/SIGTERM). nil runs to the end.
	Context context.Context
	// StopOnSignal makes SIGINT and SIGTERM stop the run at the next step boundary for as long as Run runs
	// (NotifyInterrupt over Context): the error is then *Interrupted (exit status 130/143 in the CLI).
	StopOnSignal bool
	// Store records the run; nil runs without recording (tests, dry runs).
	Store *tracker.Store
	// OnProgress, when set, is called after each step of any kind has been logged (progress bars).
	OnProgress func(Progress)
	// OnStep is the optimise kind's typed progress hook (called after OnProgress).
	OnStep func(gatys.StepReport)
	// OnTile is the optimise kind's progress hook within a tiled step (scale, step, pass, tile, ETA).
	OnTile func(gatys.TileReport)
	// OnTrainStep is the train kind's typed progress hook (called after OnProgress).
	OnTrainStep func(train.StepReport)
	// Notebook names the notebook the run came from, recorded in provenance.
	Notebook string
	// Tags are extra tags for the run.
	Tags map[string]string
	// AllowChangedInputs runs even when an input's bytes no longer have the SHA-256 recorded in the spec.
	AllowChangedInputs bool
	// Warn receives warnings (changed inputs that were allowed); nil discards them.
	Warn func(string)
	// RunOptions are passed to Store.StartRun after the provenance record (flush and retry settings), for
	// every kind.
	RunOptions []tracker.RunOption
	// StoreInputs also copies a training run's content folder into the store (inputs/content_dir/…), so that
	// it can be rerun where the folder is gone; the single images of every run are stored anyway (inputs.go).
	StoreInputs bool
}

// Outcome is what Run produced.
type Outcome struct {
	RunID string // "" when no store was given
	Spec  *spec.Spec
	// Image is the run's output image (recorded as output.png), OutputPNG its PNG bytes and OutputSHA256 their
	// hash (when recorded).
	Image        *imageio.Image
	OutputPNG    []byte
	OutputSHA256 string
	// OutputWritten reports whether the spec's output file (Spec.Output) was written: false when the run
	// failed before writing it, or when the spec names none.
	OutputWritten bool
	// Tags are the kind's outcome tags, recorded on the run (backend, seconds_per_step, ms_per_image, …).
	Tags map[string]string

	// The kinds' own results: Result of an optimise run, Train of a training run (its final checkpoint bytes in
	// Train.Checkpoint), MsPerImage of stylize, interpolate and adain runs (the inference time per image; the
	// first call, compilation included, is not counted when there are several images).
	Result     *gatys.Result
	Train      *train.Result
	MsPerImage float64
}

// Prepared is a resolved spec with its inputs loaded and checked: what Run needs before it starts a tracker
// run.
type Prepared struct {
	Spec    *spec.Spec
	Weights *vgg.Weights
	// Job is the kind's prepared work.
	Job Job

	storeFolder bool // Options.StoreInputs of the run being recorded
}

// Steps is the number of steps the run counts to (for progress displays made before it starts).
func (p *Prepared) Steps() int { return p.Job.Steps() }

// Name is the run's name: the spec's, else the kind's default.
func (p *Prepared) Name() string {
	if p.Spec.Name != "" {
		return p.Spec.Name
	}
	return p.Job.Name()
}

// Prepare resolves sp (in place), loads the loss network's weights, lets the spec's kind load and check its
// inputs, and hashes every input file (a file whose bytes differ from the recorded SHA-256 is an error unless
// allowChanged; warn then receives the differences), recording the weights' hash in sp. Nothing is recorded
// or written. A panic inside is returned as a *PanicError.
func Prepare(sp *spec.Spec, allowChanged bool, warn func(string)) (p *Prepared, err error) {
	err = safely(func() error {
		p, err = prepare(sp, allowChanged, warn)
		return err
	})
	return p, err
}

func prepare(sp *spec.Spec, allowChanged bool, warn func(string)) (*Prepared, error) {
	if err := sp.Resolve(); err != nil {
		return nil, err
	}
	k, ok := kindsByName[sp.Kind]
	if !ok {
		return nil, fmt.Errorf("spec kind %q has no runner (registered: %s): import the package that registers it (runner.Register)", sp.Kind, strings.Join(Kinds(), ", "))
	}
	w, err := sp.LoadWeights()
	if err != nil {
		return nil, err
	}
	if warn == nil {
		warn = func(string) {}
	}
	job, err := k.Prepare(sp, w, InputPolicy{AllowChanged: allowChanged, Warn: warn})
	if err != nil {
		return nil, err
	}
	// Hashed after loading, so that a missing or unreadable file gets the loader's error, which names it.
	warnings, err := sp.HashInputs(allowChanged)
	if err != nil {
		return nil, err
	}
	for _, m := range warnings {
		warn(m)
	}
	if sp.Weights.SHA256 != "" && sp.Weights.SHA256 != w.SHA256 && !allowChanged {
		return nil, fmt.Errorf("loss network weights have SHA-256 %.12s, the spec records %.12s (pass --allow-changed-inputs to run anyway)", w.SHA256, sp.Weights.SHA256)
	}
	sp.Weights.SHA256 = w.SHA256
	if c, ok := job.(Checker); ok {
		if err := c.Check(); err != nil {
			return nil, err
		}
	}
	return &Prepared{Spec: sp, Weights: w, Job: job}, nil
}

// Run prepares sp and executes it, recording it in o.Store when one is given. The spec is resolved in place,
// with its input hashes, weights hash and backend filled in. When the run fails (a NaN stop, say), it is
// recorded as FAILED with the last good image as its output, and the Outcome is returned with the error.
func Run(sp *spec.Spec, o Options) (*Outcome, error) {
	p, err := Prepare(sp, o.AllowChangedInputs, o.Warn)
	if err != nil {
		return nil, err
	}
	return p.Run(o)
}

// Run executes a prepared spec of any kind. In order, once for every kind: the output path is checked (a
// folder, or a folder that cannot be written, is refused before anything runs); with a store, the store's
// artifact folder is checked, provenance is collected and the run started with o.RunOptions, and the params
// (the kind's plus the common ones), tags (spec.key, weights.sha256, o.Tags) and the spec artifact are
// recorded; the job executes with its steps logged and o.Context (and signals, with o.StopOnSignal) stopping
// it at a step boundary; then the outcome (tags, the spec with its backend, output.png and output.sha256) is
// recorded and the output file written. The run ends FINISHED, FAILED with the error's text (a panic
// included: *PanicError), or KILLED when stopped (*Interrupted).
func (p *Prepared) Run(o Options) (out *Outcome, err error) {
	sp := p.Spec
	if o.StopOnSignal {
		ctx, stop := NotifyInterrupt(contextOrBackground(o.Context))
		defer stop()
		o.Context = ctx
	}
	if err := interruption(o.Context, -1); err != nil {
		return nil, err
	}
	if sp.Output != "" {
		if err := checkOutput(sp.Output); err != nil {
			return nil, err
		}
	}
	out = &Outcome{Spec: sp}
	x := &Exec{Spec: sp, Weights: p.Weights, Options: o, steps: p.Job.Steps()}
	if o.Store != nil {
		if o.Store.ArtifactDir() == "" {
			return nil, fmt.Errorf("no artifact folder for database %s: set STYLELAB_ARTIFACTS (or pass --artifacts) to a folder every machine writing or reading runs shares (e.g. export STYLELAB_ARTIFACTS=/shared/stylelab/artifacts), or pass --no-track", o.Store.Path())
		}
		run, e := p.startRun(o) // not :=  on err: the deferred End below must see the named result
		if e != nil {
			return nil, e
		}
		x.run, out.RunID = run, run.ID()
		// The run's error (a panic is already an error here: safely) decides its status.
		defer func() {
			if e := run.End(&err); err == nil {
				err = e
			}
		}()
		p.storeFolder = o.StoreInputs
		if err = safely(func() error { return p.recordStart(run, o.Tags) }); err != nil {
			return out, err
		}
	}
	sp.Backend = backend.Choose().Name
	rssScope := peakRSSStart() // peakrss.go
	var res Result
	err = safely(func() error {
		var e error
		res, e = p.Job.Execute(x, out)
		return e
	})
	out.OutputWritten = x.wrote
	if res.Image != nil {
		var buf bytes.Buffer
		enc := imageio.EncodePNG
		if res.PNG16 {
			enc = imageio.EncodePNG16
		}
		if e := enc(&buf, res.Image); e != nil {
			return out, errors.Join(err, e)
		}
		out.Image, out.OutputPNG = res.Image, buf.Bytes()
	}
	writeImage := func() error {
		if !res.ImageIsOutput || sp.Output == "" || out.OutputPNG == nil {
			return nil
		}
		if e := writeFile(sp.Output, out.OutputPNG); e != nil {
			return e
		}
		out.OutputWritten = true
		return nil
	}
	if x.trackErr != nil {
		return out, errors.Join(err, x.trackErr, writeImage())
	}
	if x.run != nil {
		tags := map[string]string{"backend": sp.Backend}
		peakRSSTags(tags, rssScope)
		for k, v := range out.Tags {
			tags[k] = v
		}
		if e := recordOutcome(x.run, sp, tags, out); e != nil {
			return out, errors.Join(err, e, writeImage())
		}
	}
	return out, errors.Join(err, writeImage())
}

// checkOutput refuses, before anything runs, an output path that cannot be written: a folder, or a path whose
// folder cannot be created or written (a temporary file is created there and removed).
func checkOutput(path string) error {
	if fi, err := os.Stat(path); err == nil && fi.IsDir() {
		return fmt.Errorf("output %s is a folder: name a file (e.g. %s)", path, filepath.Join(path, "out"+filepath.Ext(path)))
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("output %s: %w", path, err)
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return fmt.Errorf("output %s cannot be written: %w (check that the folder is writable)", path, err)
	}
	f.Close()
	return os.Remove(f.Name())
}

// startRun collects the provenance of the spec's run and starts it in o.Store with o.RunOptions.
func (p *Prepared) startRun(o Options) (*tracker.Run, error) {
	sp := p.Spec
	rec := provenance.Collect(provenance.Options{Dir: sp.BaseDir})
	for _, ref := range sp.Files() {
		if e := rec.AddFile(ref.Role, sp.FilePath(ref.Input.Path)); e != nil {
			return nil, e
		}
	}
	rec.SetSeed(sp.Seed)
	rec.WeightsSource, rec.WeightsSHA256 = p.Weights.Source, p.Weights.SHA256
	recordWeights(&rec, p.Weights)
	rec.Notebook = o.Notebook
	info := backend.Current() // as New created it: the matmul engine, a fallback (doctor reports the same)
	rec.Backend = info.Name + " (" + info.Config + ")"
	rec.Device = info.Device()
	if e := rec.SetConfig(sp); e != nil {
		return nil, e
	}
	return o.Store.StartRun(sp.Experiment, p.Name(), append([]tracker.RunOption{tracker.WithProvenance(rec)}, o.RunOptions...)...)
}

// recordStart logs the run's params (the kind's, then the common ones), tags and the spec artifact.
func (p *Prepared) recordStart(run *tracker.Run, extra map[string]string) error {
	sp := p.Spec
	params, err := p.Job.Params()
	if err != nil {
		return err
	}
	if params == nil {
		params = map[string]string{}
	}
	params["kind"] = sp.Kind
	params["seed"] = fmt.Sprint(sp.Seed)
	if sp.Inputs.Content.Path != "" {
		params["content"] = sp.Inputs.Content.Path
	}
	styles := make([]string, len(sp.Inputs.Styles))
	for i, s := range sp.Inputs.Styles {
		styles[i] = s.Path
	}
	params["style"] = strings.Join(styles, ",")
	if sp.Inputs.ContentDir != nil {
		params["content_dir"] = sp.Inputs.ContentDir.Path
	}
	if sp.Inputs.Model != nil {
		params["model"] = sp.Inputs.Model.Path
	}
	if sp.Inputs.Mask != nil {
		params["mask"] = sp.Inputs.Mask.Path
	}
	params["weights"] = p.Weights.Source
	if err := run.LogParams(params); err != nil {
		return err
	}
	tags := map[string]string{KeyTag: sp.Key(), "weights.sha256": p.Weights.SHA256}
	for k, v := range extra {
		tags[k] = v
	}
	if err := run.SetTags(tags); err != nil {
		return err
	}
	if err := recordInputs(run, sp, p.storeFolder); err != nil { // inputs.go: content, style(s), mask as artifacts
		return err
	}
	_, err = run.LogArtifact(SpecArtifact, "application/json", sp.JSON())
	return err
}

// recordOutcome records what a finished run produced: its tags, the spec again (now with the backend filled
// in; artifacts of one name: the later one wins), and the output image (artifact + OutputHashTag, and
// out.OutputSHA256) when there is one.
func recordOutcome(run *tracker.Run, sp *spec.Spec, tags map[string]string, out *Outcome) error {
	if err := run.SetTags(tags); err != nil {
		return err
	}
	if _, err := run.LogArtifact(SpecArtifact, "application/json", sp.JSON()); err != nil {
		return err
	}
	if out.OutputPNG == nil {
		return nil
	}
	a, err := run.LogArtifact(OutputArtifact, "image/png", out.OutputPNG)
	if err != nil {
		return err
	}
	out.OutputSHA256 = a.SHA256
	return run.SetTag(OutputHashTag, a.SHA256)
}
