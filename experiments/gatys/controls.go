package gatys

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/gomlx/gomlx/backends"
	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:staticcheck // GoMLX code reads best with the graph ops unqualified.
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/stylelab/stylelab/backends/backend"
	"github.com/stylelab/stylelab/experiments/colour"
	"github.com/stylelab/stylelab/experiments/guides"
	"github.com/stylelab/stylelab/experiments/imageio"
	"github.com/stylelab/stylelab/experiments/vgg"
)

// The perceptual controls of Gatys et al. (CVPR 2017), applied by RunGuided:
//
// Spatial control. The mask's distinct colours are regions R (package guides); region r has a guide T_r at
// every style layer (Config.MaskMode) and a weight w_r = its share of the image. The style term of layer l is
//
//	Σ_r w_r Σ_k b_rk · L_guided(F_l(x), F_l(style_k), T_r,l)
//
// with L_guided the guided form of the chosen style loss (losses.StyleGuidedAt: the generated side's statistics
// under the weights a = T²/ΣT², i.e. the guide normalised to mean square 1), style_k the region's style images:
// Guide.RegionStyles[j] (b = 1) for the colour Config.RegionColours[j], the run's style images blended by
// StyleBlend for the other colours. A mask of one colour (covering everything) gives exactly the unguided loss.
//
// Colour control (Config.Color; package colour). "histogram": every style image is first mapped to the
// content's colour mean and covariance. "luminance": content and style images are replaced by their luminance
// (grey images, the style's luminance matched to the content's mean and std); the result's luminance is
// recombined with the content's chroma (YIQ) at the end. The reported losses are those of the optimised (grey)
// problem.
//
// Scale control. Config.StyleScale resizes the style images relative to the content; Config.StyleLayers and
// ContentLayers choose the layers; Config.Scales runs coarse to fine; CombineScales builds a new style image.

// Guide holds the inputs of spatial control.
type Guide struct {
	// Mask is the region image: one region per distinct colour (8 bits per channel). Its aspect ratio must be the
	// content's within guides.AspectTolerance; any size is resized (nearest neighbour) to the run's.
	Mask *imageio.Image
	// RegionStyles are the style images of the regions named by Config.RegionColours, by index.
	RegionStyles []*imageio.Image
}

// Colour modes and MaskModes Config accepts.
var (
	ColorModes = colour.Modes
	MaskModes  = guides.Modes
)

// resolveControls normalises the controls' defaults (see the Config fields).
func (c *Config) resolveControls() {
	if c.Color == "none" {
		c.Color = ""
	}
	if c.Color == "histogram" && c.Histogram == "" {
		c.Histogram = "cholesky"
	}
	if c.StyleScale == 1 {
		c.StyleScale = 0
	}
	for i, rc := range c.RegionColours {
		if n, err := guides.ParseColour(rc); err == nil {
			c.RegionColours[i] = n
		}
	}
	if len(c.Scales) > 0 {
		if len(c.ScaleSteps) == 0 && c.Steps >= len(c.Scales) {
			n := len(c.Scales)
			for i := 0; i < n; i++ {
				s := c.Steps / n
				if i < c.Steps%n {
					s++
				}
				c.ScaleSteps = append(c.ScaleSteps, s)
			}
		}
		if len(c.ScaleSteps) == len(c.Scales) {
			c.Steps = 0
			for _, s := range c.ScaleSteps {
				c.Steps += s
			}
		}
	}
}

func (c Config) validateControls() []error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if c.Color != "" && !slices.Contains(ColorModes, c.Color) {
		bad("unknown colour control %q: use %s", c.Color, strings.Join(ColorModes, ", "))
	}
	if c.Histogram != "" && c.Color != "histogram" {
		bad("histogram variant %q given without colour control \"histogram\": drop it, or use color histogram", c.Histogram)
	} else if c.Histogram != "" && !slices.Contains(colour.Histograms, c.Histogram) {
		bad("unknown histogram variant %q: use %s", c.Histogram, strings.Join(colour.Histograms, " or "))
	}
	if c.MaskMode != "" && !slices.Contains(MaskModes, c.MaskMode) {
		bad("unknown mask mode %q: use %s", c.MaskMode, strings.Join(MaskModes, " or "))
	}
	seen := map[string]bool{}
	for _, rc := range c.RegionColours {
		if _, err := guides.ParseColour(rc); err != nil {
			bad("region style: %v", err)
		}
		if seen[rc] {
			bad("region colour %s is paired twice: give each colour one style image", rc)
		}
		seen[rc] = true
	}
	if c.StyleScale < 0 || math.IsInf(c.StyleScale, 0) || math.IsNaN(c.StyleScale) {
		bad("style scale must be a positive number (got %g); 1 keeps the style at the content's size", c.StyleScale)
	}
	if len(c.Scales) > 0 {
		if c.Size == 0 {
			bad("scales %v need a size: the last scale is the output size", c.Scales)
		} else if c.Scales[len(c.Scales)-1] != c.Size {
			bad("scales %v must end at the output size %d", c.Scales, c.Size)
		}
		for i, s := range c.Scales {
			if s < imageio.MinSize || s > imageio.MaxSize {
				bad("scale %d must be between %d and %d", s, imageio.MinSize, imageio.MaxSize)
			}
			if i > 0 && s <= c.Scales[i-1] {
				bad("scales %v must increase (coarse to fine)", c.Scales)
			}
		}
		if len(c.ScaleSteps) != len(c.Scales) {
			bad("%d scale steps for %d scales: give one step count per scale (or none, to split the steps evenly; steps must be at least the number of scales)", len(c.ScaleSteps), len(c.Scales))
		}
		for _, s := range c.ScaleSteps {
			if s < 1 {
				bad("every scale needs at least 1 step (scale steps %v)", c.ScaleSteps)
				break
			}
		}
	} else if len(c.ScaleSteps) > 0 {
		bad("scale steps %v given without scales: give the scales too", c.ScaleSteps)
	}
	return errs
}

// RunGuided is Run with the perceptual controls: guide (nil for none) gives the mask and region style images
// of spatial control; the colour and scale controls are in cfg. The Result's Image is the final image (for
// luminance-only transfer, recombined with the content's chroma); its reports are those of the optimised problem.
// With Config.Scales, the steps of all stages are numbered on from 0 (the first stage's initial image) and each
// later stage's own step 0 (the upsampled image) is not reported.
func RunGuided(cfg Config, content *imageio.Image, styles []*imageio.Image, guide *Guide, w *vgg.Weights,
	onStep func(StepReport) error) (*Result, error) {
	return RunGuidedTiles(cfg, content, styles, guide, w, onStep, nil)
}

// RunGuidedTiles is RunGuided with onTile (nil: none) called before each tile of each pass of a tiled stage
// (TileReport: scale, step, pass, tile, ETA); an error from it stops the run mid-step, returned with the Result
// whose Image is the last full image (that of the last reported step).
func RunGuidedTiles(cfg Config, content *imageio.Image, styles []*imageio.Image, guide *Guide, w *vgg.Weights,
	onStep func(StepReport) error, onTile func(TileReport) error) (*Result, error) {
	start := time.Now()
	cfg, err := cfg.Resolve(len(styles))
	if err != nil {
		return nil, fmt.Errorf("gatys: %w", err)
	}
	if err := w.Validate(); err != nil {
		return nil, fmt.Errorf("gatys: %w", err)
	}
	if content == nil {
		return nil, errors.New("gatys: no content image")
	}
	for i, s := range styles {
		if s == nil {
			return nil, fmt.Errorf("gatys: style image %d is nil", i+1)
		}
	}
	if err := checkGuide(cfg, content, guide); err != nil {
		return nil, fmt.Errorf("gatys: %w", err)
	}
	b, info, err := backend.New()
	if err != nil {
		return nil, fmt.Errorf("gatys: %w", err)
	}
	if len(cfg.Scales) == 0 {
		st, err := runStage(b, info, cfg, content, styles, guide, nil, w, onStep, onTile, start)
		return st.finish(err)
	}
	var (
		out    *Result
		prev   *stageResult
		offset int
		secs   float64
		notes  []string
	)
	for i, size := range cfg.Scales {
		sc := cfg
		sc.Size, sc.Steps, sc.Scales, sc.ScaleSteps = size, cfg.ScaleSteps[i], nil, nil
		var init *imageio.Image // the previous stage's result, in the optimised problem's domain
		if prev != nil {
			init = prev.raw
		}
		off, first := offset, i == 0
		st, err := runStage(b, info, sc, content, styles, guide, func(c *imageio.Image) (*imageio.Image, error) {
			if init == nil {
				return nil, nil
			}
			return imageio.Resize(init, c.W, c.H)
		}, w, func(r StepReport) error {
			if r.Step == 0 && !first {
				return nil
			}
			r.Step += off
			if onStep != nil {
				return onStep(r)
			}
			return nil
		}, onTile, start)
		if st == nil {
			return out, err
		}
		st.res.Last.Step += off
		if out == nil {
			out = st.res
		} else {
			out.Last, out.Image, out.Backend = st.res.Last, st.res.Image, st.res.Backend
			if st.res.Tiling != nil {
				out.Tiling = st.res.Tiling
			}
		}
		secs += st.res.SecondsPerStep * float64(st.res.Steps)
		offset += st.res.Steps
		if st.res.StoppedEarly != "" {
			notes = append(notes, fmt.Sprintf("scale %d: %s", size, st.res.StoppedEarly))
		}
		prev = st
		if err != nil {
			res, _ := st.finish(nil)
			out.Image = res.Image
			out.Steps = offset
			return out, err
		}
	}
	res, err := prev.finish(nil)
	out.Image, out.Config, out.Steps = res.Image, cfg, offset
	out.SecondsPerStep = secs / float64(max(offset, 1))
	out.StoppedEarly = strings.Join(notes, "; ")
	return out, err
}

// checkGuide validates the guide against cfg and the (original) content image.
func checkGuide(cfg Config, content *imageio.Image, g *Guide) error {
	if g == nil || g.Mask == nil {
		if len(cfg.RegionColours) > 0 || (g != nil && len(g.RegionStyles) > 0) {
			return errors.New("region styles need a mask: give --mask M.png with the regions' colours")
		}
		return nil
	}
	if len(g.RegionStyles) != len(cfg.RegionColours) {
		return fmt.Errorf("%d region style images for %d region colours: pair each colour with one image ('#rrggbb=S.png')", len(g.RegionStyles), len(cfg.RegionColours))
	}
	for i, s := range g.RegionStyles {
		if s == nil {
			return fmt.Errorf("region style image %d is nil", i+1)
		}
	}
	return guides.CheckAspect(g.Mask.W, g.Mask.H, content.W, content.H)
}

// stageResult is one stage's outcome, in the optimised problem's domain (grey for luminance transfer).
type stageResult struct {
	res       *Result
	raw       *imageio.Image // the stage's final image before colour recombination
	content   *imageio.Image // the content at the stage's size, in colour
	luminance bool
}

// finish recombines the colour and returns the Result with err.
func (s *stageResult) finish(err error) (*Result, error) {
	if s == nil {
		return nil, err
	}
	if s.luminance && s.raw != nil {
		img, cerr := colour.Recombine(s.raw, s.content)
		if cerr != nil && err == nil {
			err = cerr
		}
		s.res.Image = img
	}
	return s.res, err
}

// prepareInputs resizes content and styles to the run's size (styles to StyleScale × it) and applies the colour
// control. It returns the inputs of the optimisation and the colour content at the run's size.
func prepareInputs(cfg Config, content *imageio.Image, styles []*imageio.Image) (work *imageio.Image, ws []*imageio.Image, colourContent *imageio.Image, err error) {
	content, _, err = resizeInputs(cfg.Size, content, nil)
	if err != nil {
		return nil, nil, nil, err
	}
	styleSize := cfg.Size
	if cfg.StyleScale > 0 {
		styleSize = int(math.Round(cfg.StyleScale * float64(max(content.W, content.H))))
		if styleSize < imageio.MinSize || styleSize > imageio.MaxSize {
			return nil, nil, nil, fmt.Errorf("style scale %g makes the style images %d px, outside %d..%d: choose a scale closer to 1",
				cfg.StyleScale, styleSize, imageio.MinSize, imageio.MaxSize)
		}
	}
	_, ws, err = resizeInputs(styleSize, content, styles)
	if err != nil {
		return nil, nil, nil, err
	}
	work = content
	switch cfg.Color {
	case "histogram":
		for i := range ws {
			if ws[i], err = colour.HistogramMatch(ws[i], content, cfg.Histogram); err != nil {
				return nil, nil, nil, err
			}
		}
	case "luminance":
		for i := range ws {
			work, ws[i] = colour.Luminance(content, ws[i])
		}
	}
	return work, ws, content, nil
}

// runStage runs one optimisation at cfg.Size (cfg resolved, without Scales). initAt, when it returns an image,
// replaces cfg.Init (coarse to fine).
func runStage(b backends.Backend, info backend.Info, cfg Config, content *imageio.Image, styles []*imageio.Image, guide *Guide,
	initAt func(*imageio.Image) (*imageio.Image, error), w *vgg.Weights, onStep func(StepReport) error, onTile func(TileReport) error, start time.Time) (*stageResult, error) {
	all := styles
	if guide != nil {
		all = append(slices.Clone(styles), guide.RegionStyles...)
	}
	work, ws, colourContent, err := prepareInputs(cfg, content, all)
	if err != nil {
		return nil, fmt.Errorf("gatys: %w", err)
	}
	var init *imageio.Image
	if initAt != nil {
		if init, err = initAt(work); err != nil {
			return nil, fmt.Errorf("gatys: %w", err)
		}
	}
	if init == nil {
		if init, err = initialImage(cfg, work, ws[:len(styles)]); err != nil {
			return nil, fmt.Errorf("gatys: %w", err)
		}
	}
	var regions []regionTerm
	if guide != nil && guide.Mask != nil {
		if regions, err = buildRegions(cfg, guide.Mask, work.W, work.H, len(styles)); err != nil {
			return nil, fmt.Errorf("gatys: %w", err)
		}
	}
	tile, err := chooseTile(b, cfg, w, work.H, work.W)
	if err != nil {
		return nil, err
	}
	var p *problem
	if tile > 0 {
		p = &problem{b: b, cfg: cfg, h: work.H, wd: work.W, ctx: context.New()}
	} else if p, err = newProblem(b, cfg, w, work, ws, regions); err != nil {
		return nil, err
	}
	res := &Result{Config: cfg, Backend: info, WeightsSource: w.Source, WeightsSHA256: w.SHA256}
	r := &runner{p: p, cfg: cfg, res: res, start: start, onStep: onStep}
	if tile > 0 {
		err = runTiledStage(b, r, work, ws, regions, init, w, tile, onTile)
	} else if cfg.Optimizer == "lbfgs" {
		err = r.lbfgs(init)
	} else {
		err = r.adam(init)
	}
	if res.Image == nil {
		res.Image = init
	}
	res.Steps = res.Last.Step
	res.SecondsPerStep = r.secondsPerStep()
	return &stageResult{res: res, raw: res.Image, content: colourContent, luminance: cfg.Color == "luminance"}, err
}

// regionTerm is one region of spatial control: its weight, its style images (indices into the problem's style
// images) with their blend weights, and its guide at each style layer.
type regionTerm struct {
	colour string
	weight float64
	images []int
	blend  []float64
	guide  []*tensors.Tensor   // per style layer, [1,H_l,W_l,1]
	vars   []*context.Variable // the guides as non-trainable variables (newProblem)
}

// buildRegions pairs the mask's regions with their style images and computes their guides, rejecting a paired
// colour the mask lacks and a region empty at a style layer.
func buildRegions(cfg Config, mask *imageio.Image, w, h, numStyles int) ([]regionTerm, error) {
	rs, err := guides.Regions(mask, w, h)
	if err != nil {
		return nil, err
	}
	cols := guides.Colours(rs)
	for _, rc := range cfg.RegionColours {
		if !slices.Contains(cols, rc) {
			return nil, fmt.Errorf("region colour %s is not in the mask (at %d×%d it has %s): use one of the mask's colours", rc, w, h, strings.Join(cols, ", "))
		}
	}
	var out []regionTerm
	for _, r := range rs {
		t := regionTerm{colour: r.Colour, weight: r.Weight}
		if j := slices.Index(cfg.RegionColours, r.Colour); j >= 0 {
			t.images, t.blend = []int{numStyles + j}, []float64{1}
		} else {
			for k := 0; k < numStyles; k++ {
				t.images = append(t.images, k)
			}
			t.blend = cfg.StyleBlend
		}
		for _, l := range cfg.StyleLayers {
			g, err := r.AtLayer(l, cfg.MaskMode)
			if err != nil {
				return nil, err
			}
			if g.Sum() == 0 {
				mode := cfg.MaskMode
				if mode == "" {
					mode = "resize"
				}
				return nil, fmt.Errorf("region %s (%.1f%% of the image) is empty at %s (%d×%d) with mask mode %s: enlarge the region, use a larger --size, use --mask-mode resize, or drop %s from --style-layers",
					r.Colour, 100*r.Weight, l, g.W, g.H, mode, l)
			}
			t.guide = append(t.guide, tensors.FromFlatDataAndDimensions(g.T, 1, g.H, g.W, 1))
		}
		out = append(out, t)
	}
	return out, nil
}

// regionLoss is Σ_r w_r Σ_k b_rk L_guided(F, style_k, T_r) at style layer i.
func (p *problem) regionLoss(i int, F *Node, g *Graph) *Node {
	total := ScalarZero(g, F.DType())
	for _, r := range p.regions {
		for j, k := range r.images {
			if r.blend[j] == 0 {
				continue
			}
			guide := r.vars[i].ValueGraph(g)
			var l *Node
			if p.prep.Target != nil {
				t := make([]*Node, len(p.prepT[k][i]))
				for n, v := range p.prepT[k][i] {
					t[n] = v.ValueGraph(g)
				}
				l = p.prep.Guided(F, guide, t)
			} else {
				l = p.styleTerm(i, k, F, p.styleT[k][i].ValueGraph(g), guide)
			}
			total = Add(total, MulScalar(l, r.weight*r.blend[j]))
		}
	}
	return total
}

// CombineLayers are the style layers of CombineScales: the low layers, whose statistics carry the fine texture.
var CombineLayers = []string{"relu1_1", "relu2_1"}

// CombineScales builds a new style image (Gatys et al. 2017, scale control): the fine style's texture
// transferred onto the coarse style image with the style loss on CombineLayers only, starting from the coarse
// image, with the content loss (cfg.ContentLayers) keeping the coarse image's large-scale structure. cfg's other
// fields apply as in Run; its StyleLayers and LayerWeights are replaced.
func CombineScales(cfg Config, coarse, fine *imageio.Image, w *vgg.Weights, onStep func(StepReport) error) (*Result, error) {
	cfg.StyleLayers, cfg.LayerWeights = slices.Clone(CombineLayers), nil
	cfg.Init = "content"
	return Run(cfg, coarse, []*imageio.Image{fine}, w, onStep)
}
