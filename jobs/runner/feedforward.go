package runner

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/stylelab/stylelab/backends/backend"
	"github.com/stylelab/stylelab/experiments/imageio"
	"github.com/stylelab/stylelab/jobs/spec"
	"github.com/stylelab/stylelab/experiments/train"
	"github.com/stylelab/stylelab/experiments/vgg"
	"github.com/stylelab/stylelab/tracker"
	"github.com/stylelab/stylelab/tracker/provenance"
)

// Artifacts of feed-forward runs.
const (
	// ModelArtifact is a training run's final checkpoint.
	ModelArtifact = "model.safetensors"
	// SamplePrefix names the sample grids of a training run: samples/step-000050.png (zero-padded, so that
	// sorting by name is step order).
	SamplePrefix = "samples/step-"
	// CheckpointPrefix names periodic checkpoints: checkpoints/step-000100.safetensors.
	CheckpointPrefix = "checkpoints/step-"
)

// prepareFeedForward lists the content folder, loads the checkpoints and the loss network, and hashes every input.
func prepareFeedForward(sp *spec.Spec, allowChanged bool, warn func(string)) (*Prepared, error) {
	p := &Prepared{Spec: sp}
	if d := sp.Inputs.ContentDir; d != nil {
		files, err := train.ContentFiles(sp.FilePath(d.Path))
		if err != nil {
			return nil, err
		}
		if len(d.Files) == 0 {
			for _, f := range files {
				rel := f
				if r, err := filepath.Rel(sp.FilePath(d.Path), f); err == nil && !filepath.IsAbs(d.Path) {
					rel = filepath.Join(d.Path, r)
				}
				d.Files = append(d.Files, spec.Input{Path: rel})
			}
		} else if len(d.Files) != len(files) && !allowChanged {
			return nil, fmt.Errorf("content folder %s now has %d images, the spec records %d (restore it, or pass --allow-changed-inputs)", d.Path, len(files), len(d.Files))
		}
		for _, f := range d.Files {
			p.ContentFiles = append(p.ContentFiles, sp.FilePath(f.Path))
		}
	}
	var err error
	if sp.Inputs.Model != nil {
		if p.Model, err = train.LoadCheckpoint(sp.FilePath(sp.Inputs.Model.Path)); err != nil {
			return nil, err
		}
	}
	if sp.Inputs.Resume != nil {
		if p.Resume, err = train.LoadCheckpoint(sp.FilePath(sp.Inputs.Resume.Path)); err != nil {
			return nil, fmt.Errorf("--resume: %w", err)
		}
	}
	for i, in := range sp.Inputs.Styles {
		if _, err := os.Stat(sp.FilePath(in.Path)); err != nil {
			return nil, fmt.Errorf("style image %d: %w", i+1, err)
		}
	}
	if sp.Inputs.Content.Path != "" {
		if _, err := imageio.Load(sp.FilePath(sp.Inputs.Content.Path), 16); err != nil {
			return nil, fmt.Errorf("content image: %w", err)
		}
	}
	if p.Weights, err = sp.LoadWeights(); err != nil {
		return nil, err
	}
	warnings, err := sp.HashInputs(allowChanged)
	if err != nil {
		return nil, err
	}
	for _, w := range warnings {
		if warn != nil {
			warn(w)
		}
	}
	if sp.Weights.SHA256 != "" && sp.Weights.SHA256 != p.Weights.SHA256 && !allowChanged {
		return nil, fmt.Errorf("loss network weights have SHA-256 %.12s, the spec records %.12s (pass --allow-changed-inputs to run anyway)", p.Weights.SHA256, sp.Weights.SHA256)
	}
	sp.Weights.SHA256 = p.Weights.SHA256
	return p, p.check()
}

// check refuses, before anything is recorded, what would fail later: a resume checkpoint of another network, a
// model of the wrong kind, style weights or indices that do not fit the model.
func (p *Prepared) check() error {
	sp := p.Spec
	if p.Resume != nil {
		if err := train.CheckResume(*sp.Train, p.trainInputs(nil), p.Resume); err != nil {
			return err
		}
	}
	if p.Model == nil {
		return nil
	}
	h := p.Model.Header
	isAdaIN := h.Kind == train.KindAdaIN
	switch sp.Kind {
	case spec.KindStylize:
		if isAdaIN {
			return fmt.Errorf("%s is an AdaIN model: use stylelab adain", sp.Inputs.Model.Path)
		}
		return train.CheckMix(sp.Stylize.Mix, len(h.Styles))
	case spec.KindInterpolate:
		if isAdaIN {
			return fmt.Errorf("%s is an AdaIN model: interpolate needs a cin model", sp.Inputs.Model.Path)
		}
		seen := map[int]bool{}
		for _, k := range sp.Interpolate.Styles {
			if k < 0 || k >= len(h.Styles) {
				return fmt.Errorf("style %d is out of range: the model has %d styles, numbered 0 to %d", k, len(h.Styles), len(h.Styles)-1)
			}
			seen[k] = true
		}
	case spec.KindAdaIN:
		if !isAdaIN {
			return fmt.Errorf("%s is a %s model, not an AdaIN one: use stylelab stylize", sp.Inputs.Model.Path, h.Kind)
		}
		if err := train.CheckMix(sp.AdaIN.StyleWeights, len(sp.Inputs.Styles)); err != nil {
			return fmt.Errorf("--style-weights: %w", err)
		}
		// An imported decoder (pytorch-AdaIN) does not name its encoder; train.NewModel checks it is a VGG-19.
		if p.Weights.SHA256 != h.LossNet.SHA256 && !(h.Imported != "" && h.LossNet.SHA256 == "") {
			return fmt.Errorf("model %s was trained with encoder weights %s (SHA-256 %.12s), this run uses %s: pass the same --weights",
				sp.Inputs.Model.Path, h.LossNet.Source, h.LossNet.SHA256, p.Weights.Source)
		}
	}
	return nil
}

// trainInputs are the training inputs of a train spec; keys (optional) receives the metric name of each style.
func (p *Prepared) trainInputs(keys []string) train.Inputs {
	sp := p.Spec
	in := train.Inputs{ContentFiles: p.ContentFiles, Weights: p.Weights}
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

// startRun opens the tracker run of a spec with its provenance, params, tags and spec artifact.
func startRun(sp *spec.Spec, o Options, w *vgg.Weights, name string, params any) (*tracker.Run, error) {
	rec := provenance.Collect(provenance.Options{Dir: sp.BaseDir})
	for _, ref := range sp.Files() {
		if e := rec.AddFile(ref.Role, sp.FilePath(ref.Input.Path)); e != nil {
			return nil, e
		}
	}
	rec.SetSeed(sp.Seed)
	rec.WeightsSource, rec.WeightsSHA256 = w.Source, w.SHA256
	recordWeights(&rec, w)
	rec.Notebook = o.Notebook
	info := backend.Choose()
	rec.Backend = info.Name + " (" + info.Config + ")"
	rec.Device = device(info)
	if e := rec.SetConfig(sp); e != nil {
		return nil, e
	}
	if sp.Name != "" {
		name = sp.Name
	}
	run, err := o.Store.StartRun(sp.Experiment, name, tracker.WithProvenance(rec))
	if err != nil {
		return nil, err
	}
	ps, err := Params(params)
	if err != nil {
		return run, err
	}
	ps["kind"] = sp.Kind
	ps["seed"] = fmt.Sprint(sp.Seed)
	var styles []string
	for _, s := range sp.Inputs.Styles {
		styles = append(styles, s.Path)
	}
	ps["style"] = strings.Join(styles, ",")
	if sp.Inputs.Content.Path != "" {
		ps["content"] = sp.Inputs.Content.Path
	}
	if sp.Inputs.ContentDir != nil {
		ps["content_dir"] = sp.Inputs.ContentDir.Path
	}
	if sp.Inputs.Model != nil {
		ps["model"] = sp.Inputs.Model.Path
	}
	ps["weights"] = w.Source
	if err := run.LogParams(ps); err != nil {
		return run, err
	}
	tags := map[string]string{KeyTag: sp.Key(), "weights.sha256": w.SHA256}
	for k, v := range o.Tags {
		tags[k] = v
	}
	if err := run.SetTags(tags); err != nil {
		return run, err
	}
	_, err = run.LogArtifact(SpecArtifact, "application/json", sp.JSON())
	return run, err
}

func pngBytes(im *imageio.Image) ([]byte, error) {
	var buf bytes.Buffer
	err := imageio.EncodePNG(&buf, im)
	return buf.Bytes(), err
}

// runFeedForward executes the train, stylize, interpolate and adain kinds.
func (p *Prepared) runFeedForward(o Options) (out *Outcome, err error) {
	sp := p.Spec
	out = &Outcome{Spec: sp}
	var run *tracker.Run
	var params any
	name := sp.Kind
	switch sp.Kind {
	case spec.KindTrain:
		params, name = sp.Train, sp.Train.Kind+"-"+sp.Train.Loss
	case spec.KindStylize:
		params = sp.Stylize
	case spec.KindInterpolate:
		params = sp.Interpolate
	case spec.KindAdaIN:
		params = sp.AdaIN
	}
	if err := interruption(o.Context, -1); err != nil {
		return nil, err
	}
	if o.Store != nil {
		run, err = startRun(sp, o, p.Weights, name, params)
		if run != nil {
			out.RunID = run.ID()
			defer func() {
				if e := run.End(&err); err == nil {
					err = e
				}
			}()
		}
		if err != nil {
			return out, err
		}
	}
	sp.Backend = backend.Choose().Name
	var img *imageio.Image
	switch sp.Kind {
	case spec.KindTrain:
		img, err = p.runTrain(o, run, out)
	default:
		img, err = p.runInference(out)
	}
	if img != nil {
		if b, e := pngBytes(img); e == nil {
			out.OutputPNG = b
		} else {
			err = errors.Join(err, e)
		}
	}
	if run != nil {
		tags := map[string]string{"backend": sp.Backend}
		if out.Train != nil {
			tags["seconds_per_step"] = fmt.Sprintf("%.4f", out.Train.SecondsPerStep)
		}
		if out.MsPerImage > 0 {
			tags["ms_per_image"] = fmt.Sprintf("%.1f", out.MsPerImage)
		}
		if e := recordOutcome(run, sp, tags, out); e != nil {
			return out, errors.Join(err, e)
		}
	}
	if err == nil && sp.Kind != spec.KindTrain && sp.Output != "" && out.OutputPNG != nil {
		err = writeFile(sp.Output, out.OutputPNG)
	}
	return out, err
}

// runTrain trains; metrics per step (total, content, style, tv, style/<style name>, content/<style name>),
// sample grids and checkpoints go to the run; the final checkpoint is also written to sp.Output. Once o.Context
// is done, training stops at the next step boundary and that step's checkpoint (resumable: Adam state
// included) is the final one, written to sp.Output and logged as ModelArtifact; the error is *Interrupted (the
// run is then recorded KILLED).
func (p *Prepared) runTrain(o Options, run *tracker.Run, out *Outcome) (*imageio.Image, error) {
	sp := p.Spec
	keys := make([]string, len(sp.Inputs.Styles))
	in := p.trainInputs(keys)
	hooks := train.Hooks{
		OnStep: func(r train.StepReport) error {
			if run != nil {
				m := map[string]float64{"total": r.Total, "content": r.Content, "style": r.Style, "tv": r.TV}
				if len(keys) > 1 {
					for k, v := range r.StyleByStyle {
						if !math.IsNaN(v) {
							m["style/"+keys[k]] = v
							m["content/"+keys[k]] = r.ContentByStyle[k]
						}
					}
				}
				if err := run.LogMetrics(int64(r.Step), m); err != nil {
					return err
				}
			}
			if o.OnTrainStep != nil {
				o.OnTrainStep(r)
			}
			return nil
		},
		OnSample: func(step int, grid *imageio.Image) error {
			if run == nil {
				return nil
			}
			b, err := pngBytes(grid)
			if err == nil {
				_, err = run.LogArtifact(fmt.Sprintf("%s%06d.png", SamplePrefix, step), "image/png", b)
			}
			return err
		},
		OnCheckpoint: func(step int, data []byte, final bool) error {
			if run != nil {
				n := fmt.Sprintf("%s%06d.safetensors", CheckpointPrefix, step)
				if final {
					n = ModelArtifact
				}
				if _, err := run.LogArtifact(n, "application/octet-stream", data); err != nil {
					return err
				}
			}
			if sp.Output != "" {
				return train.WriteFile(sp.Output, data)
			}
			return nil
		},
		Stop: func(step int) error {
			err := interruption(o.Context, step)
			if in, ok := err.(*Interrupted); ok {
				in.Kept = "its checkpoint"
			}
			return err
		},
	}
	res, err := train.Run(*sp.Train, in, p.Resume, hooks)
	out.Train = res
	if res == nil {
		return nil, err
	}
	return res.Samples, err
}

// runInference runs stylize, interpolate or adain on the model checkpoint.
func (p *Prepared) runInference(out *Outcome) (*imageio.Image, error) {
	sp := p.Spec
	size := 0
	switch sp.Kind {
	case spec.KindStylize:
		size = sp.Stylize.Size
	case spec.KindInterpolate:
		size = sp.Interpolate.Size
	case spec.KindAdaIN:
		size = sp.AdaIN.Size
	}
	content, err := imageio.Load(sp.FilePath(sp.Inputs.Content.Path), size)
	if err != nil {
		return nil, fmt.Errorf("content image: %w", err)
	}
	m, err := train.NewModel(p.Model, p.Weights)
	if err != nil {
		return nil, err
	}
	defer m.Close()
	start := time.Now()
	switch sp.Kind {
	case spec.KindAdaIN:
		var styles []*imageio.Image
		for i, s := range sp.Inputs.Styles {
			im, err := imageio.Load(sp.FilePath(s.Path), max(content.W, content.H))
			if err != nil {
				return nil, fmt.Errorf("style image %d: %w", i+1, err)
			}
			styles = append(styles, im)
		}
		img, err := m.AdaIN(content, styles, sp.AdaIN.StyleWeights, *sp.AdaIN.Alpha)
		out.MsPerImage = float64(time.Since(start).Microseconds()) / 1000
		return img, err
	case spec.KindStylize:
		if p.Model.Header.Kind == train.KindAdaIN {
			return nil, fmt.Errorf("%s is an AdaIN model: use stylelab adain", sp.Inputs.Model.Path)
		}
		ims, err := m.Stylize([]*imageio.Image{content}, [][]float64{sp.Stylize.Mix})
		out.MsPerImage = float64(time.Since(start).Microseconds()) / 1000
		if err != nil {
			return nil, err
		}
		return ims[0], nil
	}
	// Interpolate: a strip (2 styles) or an N×N grid (4 styles, bilinear).
	ip := sp.Interpolate
	if p.Model.Header.Kind == train.KindAdaIN {
		return nil, fmt.Errorf("%s is an AdaIN model: interpolate needs a cin model", sp.Inputs.Model.Path)
	}
	s := m.Styles()
	for _, k := range ip.Styles {
		if k < 0 || k >= s {
			return nil, fmt.Errorf("style %d is out of range: the model has %d styles, numbered 0 to %d", k, s, s-1)
		}
	}
	rows := 1
	if len(ip.Styles) == 4 {
		rows = ip.Steps
	}
	var grid [][]*imageio.Image
	n := 0
	for r := range rows {
		var cs []*imageio.Image
		var mixes [][]float64
		for c := range ip.Steps {
			u := float64(c) / float64(ip.Steps-1)
			mix := make([]float64, s)
			if len(ip.Styles) == 2 {
				mix[ip.Styles[0]] += 1 - u
				mix[ip.Styles[1]] += u
			} else {
				v := float64(r) / float64(rows-1)
				mix[ip.Styles[0]] += (1 - u) * (1 - v)
				mix[ip.Styles[1]] += u * (1 - v)
				mix[ip.Styles[2]] += (1 - u) * v
				mix[ip.Styles[3]] += u * v
			}
			cs, mixes = append(cs, content), append(mixes, mix)
		}
		row, err := m.Stylize(cs, mixes)
		if err != nil {
			return nil, err
		}
		n += len(row)
		grid = append(grid, row)
	}
	out.MsPerImage = float64(time.Since(start).Microseconds()) / 1000 / float64(n)
	return train.Grid(grid, 2), nil
}
