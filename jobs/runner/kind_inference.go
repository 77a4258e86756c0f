package runner

import (
	"bytes"
	"fmt"
	"os"
	"time"

	"github.com/stylelab/stylelab/experiments/imageio"
	"github.com/stylelab/stylelab/experiments/train"
	"github.com/stylelab/stylelab/experiments/vgg"
	"github.com/stylelab/stylelab/jobs/spec"
)

func init() {
	Register(spec.KindStylize, inferenceKind{})
	Register(spec.KindInterpolate, inferenceKind{})
	Register(spec.KindAdaIN, inferenceKind{})
}

// inferenceKind runs a trained network on an image: stylize (one style or a mix, section "stylize"),
// interpolate (a strip or grid of mixes, section "interpolate") and adain (any style images, section "adain").
type inferenceKind struct{}

type inferenceJob struct {
	sp    *spec.Spec
	w     *vgg.Weights
	model *train.Checkpoint
}

// Prepare loads the model checkpoint and refuses, before anything is recorded, what would fail later: a model
// of the wrong kind, style weights or indices that do not fit it, an AdaIN model trained with other encoder
// weights, a content image that cannot be read, a missing style image.
func (inferenceKind) Prepare(sp *spec.Spec, w *vgg.Weights, _ InputPolicy) (Job, error) {
	j := &inferenceJob{sp: sp, w: w}
	var err error
	if j.model, err = train.LoadCheckpoint(sp.FilePath(sp.Inputs.Model.Path)); err != nil {
		return nil, err
	}
	for i, in := range sp.Inputs.Styles {
		if _, err := os.Stat(sp.FilePath(in.Path)); err != nil {
			return nil, fmt.Errorf("style image %d: %w", i+1, err)
		}
	}
	if _, err := imageio.Load(sp.FilePath(sp.Inputs.Content.Path), 16); err != nil {
		return nil, fmt.Errorf("content image: %w", err)
	}
	return j, j.check()
}

func (j *inferenceJob) check() error {
	sp := j.sp
	h := j.model.Header
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
		for _, k := range sp.Interpolate.Styles {
			if k < 0 || k >= len(h.Styles) {
				return fmt.Errorf("style %d is out of range: the model has %d styles, numbered 0 to %d", k, len(h.Styles), len(h.Styles)-1)
			}
		}
	case spec.KindAdaIN:
		if !isAdaIN {
			return fmt.Errorf("%s is a %s model, not an AdaIN one: use stylelab stylize", sp.Inputs.Model.Path, h.Kind)
		}
		if err := train.CheckMix(sp.AdaIN.StyleWeights, len(sp.Inputs.Styles)); err != nil {
			return fmt.Errorf("--style-weights: %w", err)
		}
		// An imported decoder (pytorch-AdaIN) does not name its encoder; train.NewModel checks it is a VGG-19.
		if j.w.SHA256 != h.LossNet.SHA256 && !(h.Imported != "" && h.LossNet.SHA256 == "") {
			return fmt.Errorf("model %s was trained with encoder weights %s (SHA-256 %.12s), this run uses %s: pass the same --weights",
				sp.Inputs.Model.Path, h.LossNet.Source, h.LossNet.SHA256, j.w.Source)
		}
	}
	return nil
}

func (j *inferenceJob) Name() string { return j.sp.Kind }

func (j *inferenceJob) Describe() string { return fmt.Sprintf("%s, %d px", j.sp.Kind, j.size()) }

func (j *inferenceJob) Steps() int { return 0 }

// section is the kind's section of the spec.
func (j *inferenceJob) section() any {
	switch j.sp.Kind {
	case spec.KindStylize:
		return j.sp.Stylize
	case spec.KindInterpolate:
		return j.sp.Interpolate
	}
	return j.sp.AdaIN
}

func (j *inferenceJob) size() int {
	switch j.sp.Kind {
	case spec.KindStylize:
		return j.sp.Stylize.Size
	case spec.KindInterpolate:
		return j.sp.Interpolate.Size
	}
	return j.sp.AdaIN.Size
}

func (j *inferenceJob) Params() (map[string]string, error) { return Params(j.section()) }

// Execute runs the model; out.MsPerImage is the inference time per image, tagged ms_per_image.
func (j *inferenceJob) Execute(_ *Exec, out *Outcome) (Result, error) {
	img, err := j.infer(out)
	if out.MsPerImage > 0 {
		out.Tags = map[string]string{"ms_per_image": fmt.Sprintf("%.1f", out.MsPerImage)}
	}
	return Result{Image: img, ImageIsOutput: true}, err
}

func (j *inferenceJob) infer(out *Outcome) (*imageio.Image, error) {
	sp := j.sp
	content, err := imageio.Load(sp.FilePath(sp.Inputs.Content.Path), j.size())
	if err != nil {
		return nil, fmt.Errorf("content image: %w", err)
	}
	m, err := train.NewModel(j.model, j.w)
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
		ims, err := m.Stylize([]*imageio.Image{content}, [][]float64{sp.Stylize.Mix})
		out.MsPerImage = float64(time.Since(start).Microseconds()) / 1000
		if err != nil {
			return nil, err
		}
		return ims[0], nil
	}
	// Interpolate: a strip (2 styles) or an N×N grid (4 styles, bilinear), one tile at a time so that memory is
	// the output plus one tile's network; an output over train.MaxInterpolatePixels is refused before any compute.
	img, n, err := m.Interpolate(content, sp.Interpolate.Styles, sp.Interpolate.Steps)
	if n > 0 {
		out.MsPerImage = float64(time.Since(start).Microseconds()) / 1000 / float64(n)
	}
	return img, err
}

func pngBytes(im *imageio.Image) ([]byte, error) {
	var buf bytes.Buffer
	err := imageio.EncodePNG(&buf, im)
	return buf.Bytes(), err
}
