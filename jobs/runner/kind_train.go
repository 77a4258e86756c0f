package runner

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"

	"github.com/stylelab/stylelab/experiments/imageio"
	"github.com/stylelab/stylelab/experiments/train"
	"github.com/stylelab/stylelab/experiments/vgg"
	"github.com/stylelab/stylelab/jobs/spec"
)

// Artifacts of training runs.
const (
	// ModelArtifact is a training run's final checkpoint.
	ModelArtifact = "model.safetensors"
	// SamplePrefix names the sample grids of a training run: samples/step-000050.png (zero-padded, so that
	// sorting by name is step order).
	SamplePrefix = "samples/step-"
	// CheckpointPrefix names periodic checkpoints: checkpoints/step-000100.safetensors.
	CheckpointPrefix = "checkpoints/step-"
)

func init() { Register(spec.KindTrain, trainKind{}) }

// trainKind trains a feed-forward network (spec section "train": train.Config).
type trainKind struct{}

type trainJob struct {
	sp     *spec.Spec
	w      *vgg.Weights
	files  []string          // the content folder's files
	resume *train.Checkpoint // the checkpoint training continues from (nil: from scratch)
}

// Prepare lists the content folder (recording its files in the spec when it lists none), loads the checkpoint
// to resume and checks it against the configuration, and checks that the style images exist.
func (trainKind) Prepare(sp *spec.Spec, w *vgg.Weights, in InputPolicy) (Job, error) {
	j := &trainJob{sp: sp, w: w}
	d := sp.Inputs.ContentDir
	files, err := train.ContentFiles(sp.FilePath(d.Path))
	if err != nil {
		return nil, err
	}
	var now []spec.Input // the folder as it is, paths as the spec records them
	for _, f := range files {
		rel := f
		if r, err := filepath.Rel(sp.FilePath(d.Path), f); err == nil && !filepath.IsAbs(d.Path) {
			rel = filepath.Join(d.Path, r)
		}
		now = append(now, spec.Input{Path: rel})
	}
	if len(d.Files) == 0 {
		d.Files = now
	} else if diff := folderDiff(d.Files, now); diff != "" {
		msg := fmt.Sprintf("content folder %s now has %d images, the spec records %d (%s)", d.Path, len(now), len(d.Files), diff)
		if !in.AllowChanged {
			return nil, fmt.Errorf("%s: restore it, or pass --allow-changed-inputs to train on the folder as it is now", msg)
		}
		in.Warn(msg + ": training on the folder as it is now")
		recorded := map[string]string{}
		for _, f := range d.Files {
			recorded[f.Path] = f.SHA256
		}
		for i := range now {
			now[i].SHA256 = recorded[now[i].Path] // files still there keep their record: a changed one is reported
		}
		d.Files = now
	}
	for _, f := range d.Files {
		j.files = append(j.files, sp.FilePath(f.Path))
	}
	if sp.Inputs.Resume != nil {
		if j.resume, err = train.LoadCheckpoint(sp.FilePath(sp.Inputs.Resume.Path)); err != nil {
			return nil, fmt.Errorf("--resume: %w", err)
		}
	}
	for i, in := range sp.Inputs.Styles {
		if _, err := os.Stat(sp.FilePath(in.Path)); err != nil {
			return nil, fmt.Errorf("style image %d: %w", i+1, err)
		}
	}
	return j, nil
}

// Check refuses a resume checkpoint of another network, loss network, styles or loss (the style images'
// hashes are known now).
func (j *trainJob) Check() error {
	if j.resume == nil {
		return nil
	}
	return train.CheckResume(*j.sp.Train, j.inputs(nil), j.resume)
}

// folderDiff describes how the folder's files now differ from the recorded ones ("" when the same paths):
// the added and removed names, at most three of each.
func folderDiff(recorded, now []spec.Input) string {
	was, is := map[string]bool{}, map[string]bool{}
	for _, f := range recorded {
		was[f.Path] = true
	}
	for _, f := range now {
		is[f.Path] = true
	}
	list := func(verb string, a []spec.Input, other map[string]bool) string {
		var names []string
		for _, f := range a {
			if !other[f.Path] {
				names = append(names, filepath.Base(f.Path))
			}
		}
		if len(names) == 0 {
			return ""
		}
		if len(names) > 3 {
			names = append(names[:3], fmt.Sprintf("and %d more", len(names)-3))
		}
		return verb + " " + strings.Join(names, ", ")
	}
	var parts []string
	for _, p := range []string{list("added", now, was), list("removed", recorded, is)} {
		if p != "" {
			parts = append(parts, p)
		}
	}
	return strings.Join(parts, "; ")
}

// inputs are the training inputs; keys (optional) receives the metric name of each style.
func (j *trainJob) inputs(keys []string) train.Inputs {
	sp := j.sp
	in := train.Inputs{ContentFiles: j.files, Weights: j.w}
	names := map[string]bool{}
	for i, s := range sp.Inputs.Styles {
		n := train.StyleName(s.Path)
		in.Styles = append(in.Styles, train.StyleRef{Name: n, Path: sp.FilePath(s.Path), SHA256: s.SHA256})
		if names[n] {
			n = fmt.Sprintf("%d-%s", i, n)
		}
		names[n] = true
		if keys != nil {
			keys[i] = n
		}
	}
	return in
}

func (j *trainJob) Name() string { return j.sp.Train.Kind + "-" + j.sp.Train.Loss }

func (j *trainJob) Describe() string {
	return fmt.Sprintf("%s, %s, %d px", j.sp.Train.Kind, j.sp.Train.Loss, j.sp.Train.Size)
}

func (j *trainJob) Steps() int { return j.sp.Train.Steps }

func (j *trainJob) Params() (map[string]string, error) { return Params(j.sp.Train) }

// Execute trains; metrics per step (total, content, style, tv, style/<style name>, content/<style name>),
// sample grids and checkpoints go to the run; every checkpoint (the final one last) is also written to the
// spec's output. Once the run's context is done, training stops at the next step boundary and that step's
// checkpoint (resumable: Adam state included) is the final one, written to the output and logged as
// ModelArtifact; the error is *Interrupted (the run is then recorded KILLED). The output image is the last
// sample grid.
func (j *trainJob) Execute(x *Exec, out *Outcome) (Result, error) {
	sp := j.sp
	keys := make([]string, len(sp.Inputs.Styles))
	in := j.inputs(keys)
	hooks := train.Hooks{
		OnStep: func(r train.StepReport) error {
			m := map[string]float64{"total": r.Total, "content": r.Content, "style": r.Style, "tv": r.TV}
			if len(keys) > 1 {
				for k, v := range r.StyleByStyle {
					if !math.IsNaN(v) {
						m["style/"+keys[k]] = v
						m["content/"+keys[k]] = r.ContentByStyle[k]
					}
				}
			}
			x.Step(Progress{Step: r.Step, Metrics: m, StepTime: r.StepTime, Elapsed: r.Elapsed})
			if x.Options.OnTrainStep != nil {
				x.Options.OnTrainStep(r)
			}
			return nil
		},
		OnSample: func(step int, grid *imageio.Image) error {
			if !x.Recording() {
				return nil
			}
			b, err := pngBytes(grid)
			if err != nil {
				return err
			}
			x.Artifact(fmt.Sprintf("%s%06d.png", SamplePrefix, step), "image/png", b)
			return nil
		},
		OnCheckpoint: func(step int, data []byte, final bool) error {
			n := fmt.Sprintf("%s%06d.safetensors", CheckpointPrefix, step)
			if final {
				n = ModelArtifact
			}
			x.Artifact(n, "application/octet-stream", data)
			return x.WriteOutput(data)
		},
		Stop: func(step int) error {
			err := x.Stop(step)
			if in, ok := err.(*Interrupted); ok {
				in.Kept = "its checkpoint"
			}
			return err
		},
	}
	res, err := train.Run(*sp.Train, in, j.resume, hooks)
	out.Train = res
	if res == nil {
		return Result{}, err
	}
	out.Tags = map[string]string{"seconds_per_step": fmt.Sprintf("%.4f", res.SecondsPerStep)}
	return Result{Image: res.Samples}, err
}
