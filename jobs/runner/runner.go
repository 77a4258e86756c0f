// Package runner executes an experiment spec and records it in the tracker: the resolved spec (artifact
// spec.json), its parameters, provenance (input hashes, weights, backend, code), a metric per loss term at every
// step, and the output image (artifact output.png). It is the one place the CLI and the notebooks run
// experiments through, so every run, wherever it started, can be found, compared and rerun.
package runner

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"

	"github.com/stylelab/stylelab/backends/backend"
	"github.com/stylelab/stylelab/experiments/gatys"
	"github.com/stylelab/stylelab/experiments/imageio"
	"github.com/stylelab/stylelab/jobs/spec"
	"github.com/stylelab/stylelab/experiments/train"
	"github.com/stylelab/stylelab/experiments/vgg"
	"github.com/stylelab/stylelab/tracker"
	"github.com/stylelab/stylelab/tracker/provenance"
)

// Artifact names and tags a recorded run carries.
const (
	SpecArtifact   = "spec.json"
	OutputArtifact = "output.png"
	KeyTag         = "spec.key"      // spec.Spec.Key of the run
	RerunOfTag     = "rerun.of"      // id of the run a rerun re-executed
	OutputHashTag  = "output.sha256" // SHA-256 of the output PNG bytes
)

// Options control Run.
type Options struct {
	// Context, when done, stops the optimisation at the next step boundary: the run ends with the last completed
	// step's image as its output, recorded KILLED (NotifyInterrupt gives one cancelled by SIGINT/SIGTERM); a
	// training run likewise stops with a resumable checkpoint of its last completed step as its model. nil runs
	// to the end.
	Context context.Context
	// Store records the run; nil runs without recording (tests, dry runs).
	Store *tracker.Store
	// OnStep, when set, is called after each step has been logged (progress bars).
	OnStep func(gatys.StepReport)
	// OnTrainStep is OnStep for training runs.
	OnTrainStep func(train.StepReport)
	// Notebook names the notebook the run came from, recorded in provenance.
	Notebook string
	// Tags are extra tags for the run.
	Tags map[string]string
	// AllowChangedInputs runs even when an input's bytes no longer have the SHA-256 recorded in the spec.
	AllowChangedInputs bool
	// Warn receives warnings (changed inputs that were allowed); nil discards them.
	Warn func(string)
	// RunOptions are passed to Store.StartRun after the provenance record (flush and retry settings).
	RunOptions []tracker.RunOption
}

// Outcome is what Run produced.
type Outcome struct {
	RunID        string // "" when no store was given
	Spec         *spec.Spec
	Result       *gatys.Result
	OutputPNG    []byte // the output image, PNG-encoded
	OutputSHA256 string
	// Train is the result of a training run (its final checkpoint bytes in Train.Checkpoint).
	Train *train.Result
	// MsPerImage is the inference time per image of stylize, interpolate and adain runs (the first call,
	// compilation included, is not counted when there are several images).
	MsPerImage float64
}

// Prepared is a resolved spec with its inputs loaded: what Run needs before it starts a tracker run.
type Prepared struct {
	Spec    *spec.Spec
	Content *imageio.Image
	Styles  []*imageio.Image
	// Guide is spatial control's mask and region style images (nil without a mask).
	Guide   *gatys.Guide
	Weights *vgg.Weights
	// Feed-forward kinds: the model checkpoint (stylize, interpolate, adain), the checkpoint a training run
	// resumes, the content folder's files.
	Model        *train.Checkpoint
	Resume       *train.Checkpoint
	ContentFiles []string
}

// Prepare resolves sp (in place), checks and hashes its inputs, loads the images at the working size and the
// loss network's weights, and records the weights' hash in sp. Nothing is recorded or written.
func Prepare(sp *spec.Spec, allowChanged bool, warn func(string)) (*Prepared, error) {
	if err := sp.Resolve(); err != nil {
		return nil, err
	}
	if sp.Kind != spec.KindOptimise {
		return prepareFeedForward(sp, allowChanged, warn)
	}
	cfg := sp.Optimise
	content, err := imageio.Load(sp.FilePath(sp.Inputs.Content.Path), cfg.Size)
	if err != nil {
		return nil, fmt.Errorf("content image: %w", err)
	}
	// Style images are loaded at the size the run uses them (StyleScale × Size when above 1; the run resizes).
	styleSize := cfg.Size
	if cfg.StyleScale > 1 && cfg.Size > 0 {
		styleSize = min(imageio.MaxSize, int(math.Ceil(cfg.StyleScale*float64(cfg.Size))))
	}
	styles := make([]*imageio.Image, len(sp.Inputs.Styles))
	for i, in := range sp.Inputs.Styles {
		if styles[i], err = imageio.Load(sp.FilePath(in.Path), styleSize); err != nil {
			return nil, fmt.Errorf("style image %d: %w", i+1, err)
		}
	}
	var guide *gatys.Guide
	if sp.Inputs.Mask != nil {
		guide = &gatys.Guide{}
		if guide.Mask, err = imageio.Load(sp.FilePath(sp.Inputs.Mask.Path), 0); err != nil {
			return nil, fmt.Errorf("mask: %w", err)
		}
		for i, in := range sp.Inputs.RegionStyles {
			im, err := imageio.Load(sp.FilePath(in.Path), styleSize)
			if err != nil {
				return nil, fmt.Errorf("region style image %d: %w", i+1, err)
			}
			guide.RegionStyles = append(guide.RegionStyles, im)
		}
	}
	var w *vgg.Weights
	if sp.Weights.File != nil {
		w, err = vgg.LoadSafetensors(sp.FilePath(sp.Weights.File.Path))
	} else {
		w = vgg.Random(sp.Weights.RandomSeed)
	}
	if err != nil {
		return nil, err
	}
	// Hashed after loading, so that a missing or unreadable file gets the loader's error, which names it.
	warnings, err := sp.HashInputs(allowChanged)
	if err != nil {
		return nil, err
	}
	for _, w := range warnings {
		if warn != nil {
			warn(w)
		}
	}
	if sp.Weights.SHA256 != "" && sp.Weights.SHA256 != w.SHA256 && !allowChanged {
		return nil, fmt.Errorf("loss network weights have SHA-256 %s, the spec records %s (pass --allow-changed-inputs to run anyway)", w.SHA256[:12], sp.Weights.SHA256[:12])
	}
	sp.Weights.SHA256 = w.SHA256
	return &Prepared{Spec: sp, Content: content, Styles: styles, Guide: guide, Weights: w}, nil
}

// Run prepares sp and executes it, recording it in o.Store when one is given. The spec is resolved in place,
// with its input hashes, weights hash and backend filled in. When the optimisation fails (a NaN stop, say), the
// run is recorded as FAILED with the last good image as its output, and the Outcome is returned with the error.
func Run(sp *spec.Spec, o Options) (*Outcome, error) {
	p, err := Prepare(sp, o.AllowChangedInputs, o.Warn)
	if err != nil {
		return nil, err
	}
	return p.Run(o)
}

// Run executes a prepared spec (see the package Run).
func (p *Prepared) Run(o Options) (out *Outcome, err error) {
	sp := p.Spec
	if sp.Kind != spec.KindOptimise {
		return p.runFeedForward(o)
	}
	out = &Outcome{Spec: sp}
	if err := interruption(o.Context, -1); err != nil {
		return nil, err
	}
	var run *tracker.Run
	if o.Store != nil {
		rec := provenance.Collect(provenance.Options{Dir: sp.BaseDir})
		for _, ref := range sp.Files() {
			if e := rec.AddFile(ref.Role, sp.FilePath(ref.Input.Path)); e != nil {
				return nil, e
			}
		}
		rec.SetSeed(sp.Seed)
		rec.WeightsSource = p.Weights.Source
		rec.WeightsSHA256 = p.Weights.SHA256
		rec.Notebook = o.Notebook
		info := backend.Choose()
		rec.Backend = info.Name + " (" + info.Config + ")"
		rec.Device = device(info)
		if e := rec.SetConfig(sp); e != nil {
			return nil, e
		}
		name := sp.Name
		if name == "" {
			name = sp.Optimise.Loss
		}
		run, err = o.Store.StartRun(sp.Experiment, name, append([]tracker.RunOption{tracker.WithProvenance(rec)}, o.RunOptions...)...)
		if err != nil {
			return nil, err
		}
		out.RunID = run.ID()
		defer func() {
			if e := run.End(&err); err == nil {
				err = e
			}
		}()
		if err = recordSpec(run, sp, p.Weights, o.Tags); err != nil {
			return out, err
		}
	}

	var style0 float64
	evals := 0
	// A metric write that fails (the tracker retries an unreachable server for a bounded time first) does
	// not stop the optimisation: logging stops, the image is still made and written to sp.Output, and the
	// run then fails with trackErr.
	var trackErr error
	res, err := gatys.RunGuided(*sp.Optimise, p.Content, p.Styles, p.Guide, p.Weights, func(r gatys.StepReport) (e error) {
		if r.Step == 0 {
			style0 = r.Style
		}
		evals += r.Evals
		defer func() { // stop at this step boundary once interrupted, after the step has been logged
			if e == nil {
				e = interruption(o.Context, r.Step)
			}
		}()
		if run != nil && trackErr == nil {
			m := Metrics(r, style0)
			m["evals_total"] = float64(evals)
			if e := run.LogMetrics(int64(r.Step), m); e != nil {
				trackErr = fmt.Errorf("recording the run's metrics failed at step %d, so the run is not fully recorded (the optimisation went on and its output image is still written): %w", r.Step, e)
			}
		}
		if o.OnStep != nil {
			o.OnStep(r)
		}
		return nil
	})
	out.Result = res
	if res != nil {
		sp.Backend = res.Backend.Name
		if res.Image != nil {
			var buf bytes.Buffer
			if e := imageio.EncodePNG(&buf, res.Image); e != nil {
				return out, errors.Join(err, e)
			}
			out.OutputPNG = buf.Bytes()
		}
	}
	if trackErr != nil {
		if sp.Output != "" && out.OutputPNG != nil {
			if e := writeFile(sp.Output, out.OutputPNG); e != nil {
				return out, errors.Join(err, trackErr, e)
			}
		}
		return out, errors.Join(err, trackErr)
	}
	if run != nil && res != nil {
		tags := map[string]string{"backend": res.Backend.Name, "backend.config": res.Backend.Config,
			"seconds_per_step": fmt.Sprintf("%.4f", res.SecondsPerStep)}
		if res.StoppedEarly != "" {
			tags["stopped_early"] = res.StoppedEarly
		}
		if e := recordOutcome(run, sp, tags, out); e != nil {
			return out, errors.Join(err, e)
		}
	}
	if sp.Output != "" && out.OutputPNG != nil {
		if e := writeFile(sp.Output, out.OutputPNG); e != nil {
			return out, errors.Join(err, e)
		}
	}
	return out, err
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

// recordSpec logs the run's parameters (the flattened resolved spec), tags and the spec artifact.
func recordSpec(run *tracker.Run, sp *spec.Spec, w *vgg.Weights, extra map[string]string) error {
	params, err := Params(sp.Optimise)
	if err != nil {
		return err
	}
	params["kind"] = sp.Kind
	params["seed"] = fmt.Sprint(sp.Seed)
	params["content"] = sp.Inputs.Content.Path
	styles := make([]string, len(sp.Inputs.Styles))
	for i, s := range sp.Inputs.Styles {
		styles[i] = s.Path
	}
	params["style"] = strings.Join(styles, ",")
	if sp.Inputs.Mask != nil {
		params["mask"] = sp.Inputs.Mask.Path
		for i, in := range sp.Inputs.RegionStyles {
			params["region_style."+sp.Optimise.RegionColours[i]] = in.Path
		}
	}
	params["weights"] = w.Source
	if err := run.LogParams(params); err != nil {
		return err
	}
	tags := map[string]string{KeyTag: sp.Key(), "weights.sha256": w.SHA256}
	for k, v := range extra {
		tags[k] = v
	}
	if err := run.SetTags(tags); err != nil {
		return err
	}
	_, err = run.LogArtifact(SpecArtifact, "application/json", sp.JSON())
	return err
}

// Metrics are the values logged for one step: total, content, style, tv and style/<layer> for every style
// layer (unweighted terms, as gatys.StepReport defines them), style_rel = style / style0, the style loss
// relative to its value at step 0 (style0), which is comparable across style losses of different scales, and
// evals, the number of loss evaluations of the step (1 for Adam; L-BFGS's line search may take several). Run
// also logs evals_total, the evaluations so far (steps 0..this one): the cost axis on which Adam and L-BFGS
// runs compare.
func Metrics(r gatys.StepReport, style0 float64) map[string]float64 {
	m := map[string]float64{"total": r.Total, "content": r.Content, "style": r.Style, "tv": r.TV, "evals": float64(r.Evals)}
	if style0 != 0 {
		m["style_rel"] = r.Style / style0
	}
	for l, v := range r.StyleByLayer {
		m["style/"+l] = v
	}
	return m
}

// Params flattens a configuration into tracker params: its JSON fields, nested objects joined with dots
// (loss_options.poly_degree), lists as comma-separated values, absent (null) fields left out.
func Params(cfg any) (map[string]string, error) {
	b, err := json.Marshal(cfg)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber() // numbers keep their JSON text: 1048576, not 1.048576e+06
	if err := dec.Decode(&m); err != nil {
		return nil, err
	}
	out := map[string]string{}
	var walk func(prefix string, v any)
	walk = func(prefix string, v any) {
		switch x := v.(type) {
		case map[string]any:
			keys := make([]string, 0, len(x))
			for k := range x {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				key := k
				if prefix != "" {
					key = prefix + "." + k
				}
				walk(key, x[k])
			}
		case []any:
			parts := make([]string, len(x))
			for i, e := range x {
				parts[i] = fmt.Sprint(e)
			}
			out[prefix] = strings.Join(parts, ",")
		case nil:
		default:
			out[prefix] = fmt.Sprint(x)
		}
	}
	walk("", m)
	return out, nil
}

// LoadSpec reads the recorded spec of a run from the store.
func LoadSpec(s *tracker.Store, runID string) (*spec.Spec, error) {
	a, err := s.FindArtifact(runID, SpecArtifact)
	if err != nil {
		return nil, fmt.Errorf("run %s has no %s artifact (was it recorded by stylelab run or a notebook?): %w", runID, SpecArtifact, err)
	}
	b, err := s.ReadArtifact(a.SHA256) // checked against its SHA-256 (tracker.ErrDamaged)
	if err != nil {
		return nil, fmt.Errorf("the recorded spec of run %s: %w", runID, err)
	}
	return spec.Parse(bytes.NewReader(b))
}

// Output loads the output image of a recorded run.
func Output(s *tracker.Store, runID string) (*imageio.Image, error) {
	a, err := s.FindArtifact(runID, OutputArtifact)
	if err != nil {
		return nil, fmt.Errorf("run %s has no %s artifact: %w", runID, OutputArtifact, err)
	}
	b, err := s.ReadArtifact(a.SHA256) // checked against its SHA-256 (tracker.ErrDamaged)
	if err != nil {
		return nil, fmt.Errorf("output image of run %s: %w", runID, err)
	}
	return imageio.DecodeBytes(OutputArtifact, b, 0)
}

// writeFile writes data to path (creating its folder) without ever opening a fixed temporary name: the bytes
// go to a fresh file made with os.CreateTemp in the same folder (O_CREATE|O_EXCL, so a symlink or another file
// planted at a guessable name is never followed or overwritten), are synced, given mode 0644, and renamed over
// path (atomic on one file system: readers see the old file or the whole new one). On any failure the temporary
// file is removed and path is untouched. Every output file of a run (an image, a training run's checkpoint,
// `rerun --out`) is written by this one function.
func writeFile(path string, data []byte) (err error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("output: %w", err)
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return fmt.Errorf("output %s: %w (check that the folder is writable)", path, err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
			err = fmt.Errorf("output %s: %w", path, err)
		}
	}()
	if _, err = f.Write(data); err != nil {
		return err
	}
	if err = f.Chmod(0o644); err != nil {
		return err
	}
	if err = f.Sync(); err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}

// device describes where the computation runs, for provenance.
func device(info backend.Info) string {
	if info.Name == "xla" {
		return "PJRT plugin " + info.PluginPath
	}
	return fmt.Sprintf("CPU (pure Go, %d cores)", runtime.NumCPU())
}
