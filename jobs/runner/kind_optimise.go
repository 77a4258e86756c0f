package runner

import (
	"fmt"
	"math"
	"slices"

	"github.com/stylelab/stylelab/experiments/gatys"
	"github.com/stylelab/stylelab/experiments/imageio"
	"github.com/stylelab/stylelab/experiments/vgg"
	"github.com/stylelab/stylelab/jobs/spec"
)

func init() { Register(spec.KindOptimise, optimiseKind{}) }

// optimiseKind is Gatys image optimisation (spec section "optimise": gatys.Config).
type optimiseKind struct{}

// optimiseJob is a prepared optimisation: the images at their working sizes.
type optimiseJob struct {
	sp      *spec.Spec
	w       *vgg.Weights
	content *imageio.Image
	styles  []*imageio.Image
	guide   *gatys.Guide // spatial control's mask and region style images (nil without a mask)
}

// Prepare loads the content at optimise.size, the style (and region style) images at the size the run uses
// them (style_scale × size when above 1), and the mask.
func (optimiseKind) Prepare(sp *spec.Spec, w *vgg.Weights, _ InputPolicy) (Job, error) {
	cfg := sp.Optimise
	content, err := imageio.Load(sp.FilePath(sp.Inputs.Content.Path), cfg.Size)
	if err != nil {
		return nil, fmt.Errorf("content image: %w", err)
	}
	styleSize := cfg.Size
	if cfg.StyleScale > 1 && cfg.Size > 0 {
		styleSize = min(imageio.MaxSize, int(math.Ceil(cfg.StyleScale*float64(cfg.Size))))
	}
	j := &optimiseJob{sp: sp, w: w, content: content, styles: make([]*imageio.Image, len(sp.Inputs.Styles))}
	for i, in := range sp.Inputs.Styles {
		if j.styles[i], err = imageio.Load(sp.FilePath(in.Path), styleSize); err != nil {
			return nil, fmt.Errorf("style image %d: %w", i+1, err)
		}
	}
	if err := checkImageSizes(cfg, content, j.styles); err != nil {
		return nil, err
	}
	if sp.Inputs.Mask != nil {
		j.guide = &gatys.Guide{}
		if j.guide.Mask, err = imageio.Load(sp.FilePath(sp.Inputs.Mask.Path), 0); err != nil {
			return nil, fmt.Errorf("mask: %w", err)
		}
		for i, in := range sp.Inputs.RegionStyles {
			im, err := imageio.Load(sp.FilePath(in.Path), styleSize)
			if err != nil {
				return nil, fmt.Errorf("region style image %d: %w", i+1, err)
			}
			j.guide.RegionStyles = append(j.guide.RegionStyles, im)
		}
	}
	if err := checkTiling(j); err != nil {
		return nil, err
	}
	return j, nil
}

func (j *optimiseJob) Name() string { return j.sp.Optimise.Loss }

func (j *optimiseJob) Describe() string {
	return fmt.Sprintf("%s, %d px", j.sp.Optimise.Loss, j.sp.Optimise.Size)
}

func (j *optimiseJob) Steps() int { return j.sp.Optimise.Steps }

// Params: the resolved gatys.Config flattened, and region_style.<colour> for each region style image.
func (j *optimiseJob) Params() (map[string]string, error) {
	params, err := Params(j.sp.Optimise)
	if err != nil {
		return nil, err
	}
	for i, in := range j.sp.Inputs.RegionStyles {
		params["region_style."+j.sp.Optimise.RegionColours[i]] = in.Path
	}
	return params, nil
}

// Execute optimises; each step logs Metrics (and evals_total) and may stop the run there. The output image
// is the last good one, also when the optimisation fails (a NaN stop).
func (j *optimiseJob) Execute(x *Exec, out *Outcome) (Result, error) {
	sp := j.sp
	var style0 float64
	evals := 0
	last := -1
	res, err := gatys.RunGuidedTiles(*sp.Optimise, j.content, j.styles, j.guide, j.w, func(r gatys.StepReport) error {
		last = r.Step
		if r.Step == 0 {
			style0 = r.Style
		}
		evals += r.Evals
		m := Metrics(r, style0)
		m["evals_total"] = float64(evals)
		x.Step(Progress{Step: r.Step, Metrics: m, StepTime: r.StepTime, Elapsed: r.Elapsed})
		if x.Options.OnStep != nil {
			x.Options.OnStep(r)
		}
		return x.Stop(r.Step) // stop at this step boundary once interrupted, after the step has been logged
	}, func(t gatys.TileReport) error { return onTile(x, t, last) })
	out.Result = res
	if res == nil {
		return Result{}, err
	}
	sp.Backend = res.Backend.Name
	out.Tags = map[string]string{"backend.config": res.Backend.Config, "seconds_per_step": fmt.Sprintf("%.4f", res.SecondsPerStep)}
	if res.StoppedEarly != "" {
		out.Tags["stopped_early"] = res.StoppedEarly
	}
	tilingTags(res, out.Tags)
	return Result{Image: res.Image, ImageIsOutput: true, PNG16: sp.Optimise.PNG16}, err
}

// checkImageSizes refuses, before the run exists, images too small for the deepest loss layer: a layer after k
// poolings needs at least 2^k pixels on each side (relu5_1: 16), at every coarse-to-fine scale. The content image
// is scaled to each stage's longer side, and a style image keeps the size it was loaded at.
func checkImageSizes(cfg *gatys.Config, content *imageio.Image, styles []*imageio.Image) error {
	need, deepest := 1, ""
	for _, l := range append(slices.Clone(cfg.StyleLayers), cfg.ContentLayers...) {
		if s, err := vgg.LayerScale(l); err == nil && s > need {
			need, deepest = s, l
		}
	}
	small := func(w, h int) bool { return w < need || h < need }
	long := max(content.W, content.H)
	for _, side := range append([]int{long}, cfg.Scales...) {
		w, h := content.W*side/long, content.H*side/long
		if small(w, h) {
			return fmt.Errorf("the content image would be %d×%d px at size %d, too small for layer %s, which needs at least %d×%d: use a larger --size (or --scales), or shallower layers", w, h, side, deepest, need, need)
		}
	}
	for i, st := range styles {
		if small(st.W, st.H) {
			return fmt.Errorf("style image %d is %d×%d px, too small for layer %s, which needs at least %d×%d: use a larger --size or --style-scale, or shallower layers", i+1, st.W, st.H, deepest, need, need)
		}
	}
	return nil
}
