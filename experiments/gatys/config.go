// Package gatys stylises an image by optimising its pixels (Gatys, Ecker & Bethge 2016): the image x is the only
// trainable variable, and the loss
//
//	Total = ContentWeight·Content + StyleWeight·Style + TVWeight·TV
//	Content = mean over ContentLayers l of losses.Content(F_l(x), F_l(content))
//	Style   = Σ_l λ_l Σ_k w_k · L(F_l(x), F_l(style_k))        (λ_l = LayerWeights, default 1/len(StyleLayers))
//	TV      = losses.TotalVariation(x)
//
// is minimised with Adam (GoMLX's optimizers.Adam) or with L-BFGS (written here; GoMLX has none). F_l are the
// VGG-19 features (package vgg), L the chosen style loss (package losses), w_k the StyleBlend weights of several
// style images. The features of the content image and the style losses' targets (the statistics of the style
// images' features they compare against, e.g. Gram matrices; losses.StylePrepared) are computed once, before the
// first step, and fed to the step graph as constants.
//
// Pixels are kept in [0,1] by projection: after every Adam update (and every L-BFGS trial point) x is clamped to
// [0,1]. This keeps the problem the paper's (no change of variables, no sigmoid flattening of gradients near 0
// and 1) and keeps the image saveable at every step.
package gatys

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/stylelab/stylelab/experiments/imageio"
	"github.com/stylelab/stylelab/experiments/losses"
	"github.com/stylelab/stylelab/experiments/vgg"
)

// Config holds every parameter of a run. DefaultConfig gives the defaults; Resolve fills in the ones left zero.
type Config struct {
	// Size is the longer side, in pixels, of the generated image; content and style images are resized to it
	// (an image already that size is not resampled). 0 keeps the content image's size.
	Size int `json:"size"`
	// Steps is the number of optimisation steps: Adam updates, or L-BFGS iterations (each of which may evaluate
	// the loss more than once in its line search).
	Steps int `json:"steps"`
	// Optimizer is "adam" or "lbfgs".
	Optimizer string `json:"optimizer"`
	// LearningRate is Adam's step size, in pixel units (images are in [0,1]): Adam moves each pixel by about
	// this much per step whatever the loss scale, so it sets how far N steps can go from the init. Not used by
	// L-BFGS: Resolve sets it to 0 (left out of the JSON) for an L-BFGS run, so it is neither recorded nor part
	// of the spec key.
	LearningRate float64 `json:"learning_rate,omitempty"`
	// LBFGSHistory is m, the number of curvature pairs L-BFGS keeps. Not used by Adam: Resolve sets it to 0 (left
	// out of the JSON) for an Adam run.
	LBFGSHistory int `json:"lbfgs_history,omitempty"`
	// Init is the starting image: "content", "noise" (uniform in [0,1], seeded) or "style" (the first style image
	// scaled to cover the content's size, keeping its aspect ratio, and centre-cropped to it).
	Init string `json:"init"`
	// Seed seeds the noise init, and the sampled style-loss positions when LossOptions.Seed is 0.
	Seed uint64 `json:"seed"`
	// Loss is the style loss, one of losses.Names.
	Loss string `json:"loss"`
	// LossOptions configures the style losses that take parameters.
	LossOptions losses.Options `json:"loss_options"`
	// Pool is the loss network's pooling, "avg" or "max".
	Pool vgg.Pool `json:"pool"`
	// ContentLayers are the layers of the content loss (their mean). Default relu4_2.
	ContentLayers []string `json:"content_layers"`
	// StyleLayers are the layers of the style loss. Default relu1_1, relu2_1, relu3_1, relu4_1, relu5_1.
	StyleLayers []string `json:"style_layers"`
	// LayerWeights optionally weights style layers (λ_l); missing layers get 0. Default: 1/len(StyleLayers) each,
	// so that Style is the mean over the layers.
	LayerWeights map[string]float64 `json:"layer_weights,omitempty"`
	// ContentWeight, StyleWeight and TVWeight weight the three terms. nil means unset: Resolve gives
	// ContentWeight 1, TVWeight 0.05 and StyleWeight DefaultStyleWeight(Loss). 0 means 0 (new(0.0)): a style
	// weight of 0 is content-only reconstruction. A resolved Config has all three set.
	ContentWeight *float64 `json:"content_weight,omitempty"`
	StyleWeight   *float64 `json:"style_weight,omitempty"`
	TVWeight      *float64 `json:"tv_weight,omitempty"`
	// StyleBlend are the weights w_k of the style images (one per image, ≥ 0, not all 0). Not normalised: with
	// weights 1,1 the style term is the sum of both images' losses. Default: 1/K each for K images.
	StyleBlend []float64 `json:"style_blend,omitempty"`

	// Perceptual controls (Gatys et al., CVPR 2017; controls.go). Each is left out of the JSON at its default,
	// so runs without controls keep their specs and keys.

	// RegionColours pairs mask colours ("#rrggbb") with the region style images of Guide.RegionStyles, by index:
	// region RegionColours[j] takes its style from RegionStyles[j]; the mask's other colours take the style images
	// (blended by StyleBlend). Needs a Guide with a mask.
	RegionColours []string `json:"region_colours,omitempty"`
	// MaskMode is how a region's guide follows the network to each layer: "resize" (the default, also "") or
	// "inside" (eroded to the positions whose receptive field lies inside the region); see package guides.
	MaskMode string `json:"mask_mode,omitempty"`
	// Color is the colour control: "none" (default; "" in a resolved config), "luminance" (transfer on the
	// luminance, recombined with the content's chroma) or "histogram" (style colours matched to the content's
	// mean and covariance first); see package colour.
	Color string `json:"color,omitempty"`
	// Histogram is the histogram-matching variant, "cholesky" (default when Color is "histogram") or "sym".
	Histogram string `json:"histogram,omitempty"`
	// StyleScale resizes the style images so their longer side is StyleScale × the content's longer side at the
	// run's size (before: the run's size itself). 0 or 1 (resolved to 0) keeps that; 0.5 gives larger brush
	// strokes relative to the image, 2 smaller ones.
	StyleScale float64 `json:"style_scale,omitempty"`
	// Scales, when set, runs coarse to fine: the longer side of each stage, increasing, the last equal to Size.
	// Each stage starts from the previous stage's result resized to its size (the first from Init).
	Scales []int `json:"scales,omitempty"`
	// ScaleSteps are the steps of each scale; Resolve splits Steps evenly when they are not given (the first
	// Steps mod len(Scales) scales get one more) and sets Steps to their sum.
	ScaleSteps []int `json:"scale_steps,omitempty"`
	// Tile evaluates the objective tile by tile (tile.go): "off" untiled, a number N tiles of N×N interior
	// pixels (a multiple of 16 and at least the halo, MinTile), "" (the default; "auto" resolves to it) tiles
	// only a scale whose untiled evaluation the CPU backend estimates will not fit in memory (images of at most
	// 512² pixels are never tiled automatically). The tiled loss and gradient equal the untiled
	// ones up to float rounding. A run records the size it used (Result.Tiling).
	Tile string `json:"tile,omitempty"`
	// PNG16 writes the output image as a 16-bit PNG (imageio.EncodePNG16) instead of 8-bit; the optimisation
	// does not use it.
	PNG16 bool `json:"png16,omitempty"`
}

// Defaults used by DefaultConfig and Resolve.
var (
	DefaultContentLayers = []string{"relu4_2"}
	DefaultStyleLayers   = []string{"relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"}
)

// Optimizers and inits Config accepts.
var (
	Optimizers = []string{"adam", "lbfgs"}
	Inits      = []string{"content", "noise", "style"}
)

// defaultStyleWeights holds, per style loss, the StyleWeight used when Config.StyleWeight is unset (ContentWeight 1).
//
// The losses differ in scale (the Gram loss divides by 4N², the mean-variance loss by N, the Gaussian MMD is
// bounded by 2), so one weight cannot serve all; the reference code of "Demystifying Neural Style Transfer" also
// uses a scale constant per kernel. How they were chosen, with the seeded random VGG-19 (vgg.Random(0)) and the
// shipped images (chelsea × Starry Night and colosseum × The Scream, 64 and 128 px):
//   - At the content image the style losses measure (Measure, mean over relu1_1…relu5_1): gram ≈ mmd-poly
//     0.04–0.08, mmd-linear ≈ 3.2× gram, meanvar ≈ 4.4× gram, mmd-gauss ≈ 4.5× gram; the content loss of the
//     image halfway (pixel-wise) between content and style is 0.01–0.12.
//   - 64 px, 80 Adam steps at learning rate 0.01, TV weight 0.05, from the content: gram with weight 5 ends at
//     content ≈ 0.03 and weighted style ≈ 0.02 (both terms matter; the cat stays recognisable under the
//     painting's colours and strokes); weight 1 at learning rate 0.02 already let style dominate. The other
//     losses' weights are set to the same level through their scale ratio and checked the same way
//     (mmd-linear 1.5: content 0.029, weighted style 0.020; meanvar 1: content 0.027, weighted style 0.024;
//     mmd-gauss 1: content 0.052, weighted style 0.040, the cat still clear).
//
// TestDefaultWeightsBalanceTerms guards that, for every loss, a short run lowers the style loss and ends with a
// weighted style term at least a tenth of the weighted content term. With a pretrained VGG-19 the feature
// scales differ and the weight usually needs retuning (try factors of 10).
var defaultStyleWeights = map[string]float64{
	"gram":       5,
	"mmd-poly":   5,
	"mmd-linear": 1.5,
	"mmd-gauss":  1,
	"meanvar":    1,
}

// DefaultStyleWeight returns the StyleWeight used for a style loss when Config.StyleWeight is unset (nil).
func DefaultStyleWeight(loss string) float64 {
	if w, ok := defaultStyleWeights[loss]; ok {
		return w
	}
	return 1
}

// Default weights of the content and TV terms (Config.ContentWeight, Config.TVWeight when unset).
const (
	DefaultContentWeight = 1.0
	DefaultTVWeight      = 0.05
)

// DefaultConfig returns the defaults: 128 px, 100 Adam steps at learning rate 0.01 (L-BFGS: history 10), content
// init, seed 0, the Gram loss with the style weight left unset (Resolve gives each loss its own,
// DefaultStyleWeight), losses.DefaultOptions, average pooling, content relu4_2, style relu1_1…relu5_1, content
// weight 1, TV weight 0.05 (the random-weight network's relu1_1 rewards pixel-level colour noise; the TV term
// keeps it in check). These are sized for the pure-Go CPU backend (a few minutes); with a GPU, use 512 px and
// 500+ steps. A spec's optimise block is decoded over these defaults (UnmarshalJSON).
func DefaultConfig() Config {
	return Config{
		Size:          128,
		Steps:         100,
		Optimizer:     "adam",
		LearningRate:  0.01,
		LBFGSHistory:  10,
		Init:          "content",
		Seed:          0,
		Loss:          "gram",
		LossOptions:   losses.DefaultOptions(),
		Pool:          vgg.PoolAvg,
		ContentLayers: slices.Clone(DefaultContentLayers),
		StyleLayers:   slices.Clone(DefaultStyleLayers),
		ContentWeight: new(DefaultContentWeight),
		TVWeight:      new(DefaultTVWeight),
	}
}

// UnmarshalJSON decodes a Config over DefaultConfig, so that every field the JSON leaves out keeps its documented
// default (a partial spec is not silently zeroed), and refuses unknown fields (a typo must not become a default).
// An explicit 0 stays 0. A field given as null is unset: Resolve fills it.
func (c *Config) UnmarshalJSON(b []byte) error {
	type plain Config // without this method
	v := plain(DefaultConfig())
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&v); err != nil {
		return err
	}
	*c = Config(v)
	return nil
}

// Resolve returns c with defaults filled in for unset fields (Optimizer, LearningRate, LBFGSHistory, Init, Loss,
// Pool, layers, the three weights, StyleBlend 1/numStyles each, zero LossOptions fields, LossOptions.Seed from
// Seed) and validated for numStyles style images. The parameter the optimiser does not use is cleared
// (LearningRate for L-BFGS, LBFGSHistory for Adam), so it is neither recorded nor part of a spec's key. The
// resolved config is what a run records; resolving it again changes nothing.
func (c Config) Resolve(numStyles int) (Config, error) {
	d := DefaultConfig()
	if c.Optimizer == "" {
		c.Optimizer = d.Optimizer
	}
	switch c.Optimizer {
	case "lbfgs":
		if c.LBFGSHistory == 0 {
			c.LBFGSHistory = d.LBFGSHistory
		}
	case "adam":
		if c.LearningRate == 0 {
			c.LearningRate = d.LearningRate
		}
	}
	c = c.OnlyUsed()
	if c.Init == "" {
		c.Init = d.Init
	}
	if c.Loss == "" {
		c.Loss = d.Loss
	}
	if c.Pool == "" {
		c.Pool = d.Pool
	}
	if len(c.ContentLayers) == 0 {
		c.ContentLayers = slices.Clone(DefaultContentLayers)
	}
	if len(c.StyleLayers) == 0 {
		c.StyleLayers = slices.Clone(DefaultStyleLayers)
	}
	if c.ContentWeight == nil {
		c.ContentWeight = new(DefaultContentWeight)
	}
	if c.StyleWeight == nil {
		c.StyleWeight = new(DefaultStyleWeight(c.Loss))
	}
	if c.TVWeight == nil {
		c.TVWeight = new(DefaultTVWeight)
	}
	if len(c.StyleBlend) == 0 && numStyles > 0 {
		c.StyleBlend = make([]float64, numStyles)
		for i := range c.StyleBlend {
			c.StyleBlend[i] = 1 / float64(numStyles)
		}
	}
	if c.LossOptions.Seed == 0 {
		c.LossOptions.Seed = c.Seed
	}
	c.LossOptions = c.LossOptions.WithDefaults()
	if t := strings.ToLower(strings.TrimSpace(c.Tile)); t == "auto" || t == "" {
		c.Tile = ""
	} else {
		c.Tile = t
	}
	c.resolveControls()
	return c, c.Validate(numStyles)
}

// OnlyUsed returns c with the parameter its optimiser does not use set to 0 (and so left out of the JSON):
// LearningRate for L-BFGS, LBFGSHistory for Adam. What a run computes does not depend on it, so neither does
// its record or its spec key.
func (c Config) OnlyUsed() Config {
	switch c.Optimizer {
	case "lbfgs":
		c.LearningRate = 0
	case "adam":
		c.LBFGSHistory = 0
	}
	return c
}

// Validate checks every field for a run with numStyles style images; the error lists every problem, each with
// the valid choices.
func (c Config) Validate(numStyles int) error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if c.Size != 0 && (c.Size < imageio.MinSize || c.Size > imageio.MaxSize) {
		bad("size must be between %d and %d (got %d)", imageio.MinSize, imageio.MaxSize, c.Size)
	}
	if c.Steps < 1 {
		bad("steps must be at least 1 (got %d)", c.Steps)
	}
	if !slices.Contains(Optimizers, c.Optimizer) {
		bad("unknown optimizer %q: use %s", c.Optimizer, strings.Join(Optimizers, " or "))
	}
	if c.Optimizer == "adam" && (!(c.LearningRate > 0) || math.IsInf(c.LearningRate, 0)) {
		bad("learning rate must be a positive number (got %g); 0.01 suits images in [0,1]", c.LearningRate)
	}
	if c.Optimizer == "lbfgs" && c.LBFGSHistory < 1 {
		bad("L-BFGS history must be at least 1 (got %d)", c.LBFGSHistory)
	}
	if !slices.Contains(Inits, c.Init) {
		bad("unknown init %q: use %s", c.Init, strings.Join(Inits, ", "))
	}
	if !slices.Contains(losses.Names, c.Loss) {
		bad("unknown style loss %q: use %s", c.Loss, strings.Join(losses.Names, ", "))
	} else if _, err := losses.Style(c.Loss, c.LossOptions); err != nil {
		bad("%v", err)
	}
	if _, err := vgg.ParsePool(string(c.Pool)); err != nil {
		bad("%v", err)
	}
	if len(c.ContentLayers) == 0 {
		bad("at least one content layer is needed (the default is relu4_2)")
	}
	if len(c.StyleLayers) == 0 {
		bad("at least one style layer is needed (the default is %s)", strings.Join(DefaultStyleLayers, ","))
	}
	if err := vgg.ValidateLayers(append(slices.Clone(c.ContentLayers), c.StyleLayers...)); err != nil {
		bad("%v", err)
	}
	if hasDuplicates(c.ContentLayers) || hasDuplicates(c.StyleLayers) {
		bad("a layer is listed twice in content layers %v or style layers %v", c.ContentLayers, c.StyleLayers)
	}
	for l, w := range c.LayerWeights {
		if !slices.Contains(c.StyleLayers, l) {
			bad("layer weight given for %q, which is not a style layer (%s)", l, strings.Join(c.StyleLayers, ","))
		}
		if !finiteNonNeg(w) {
			bad("layer weight of %s must be a finite number ≥ 0 (got %g)", l, w)
		}
	}
	if c.LayerWeights != nil && sum(c.LayerWeights) == 0 {
		bad("layer weights are all 0: give at least one style layer a positive weight")
	}
	allZero := true
	for _, x := range []struct {
		name string
		v    *float64
	}{{"content weight", c.ContentWeight}, {"style weight", c.StyleWeight}, {"TV weight", c.TVWeight}} {
		switch {
		case x.v == nil:
			bad("%s is unset: resolve the config (Config.Resolve) to give it its default", x.name)
			allZero = false
		case !finiteNonNeg(*x.v):
			bad("%s must be a finite number ≥ 0 (got %g)", x.name, *x.v)
		case *x.v != 0:
			allZero = false
		}
	}
	if allZero {
		bad("content, style and TV weights are all 0: there is nothing to optimise")
	}
	if numStyles < 1 {
		bad("at least one style image is needed")
	} else if len(c.StyleBlend) != numStyles {
		bad("%d style blend weights for %d style images: give one weight per style image", len(c.StyleBlend), numStyles)
	} else {
		total := 0.0
		for i, w := range c.StyleBlend {
			if !finiteNonNeg(w) {
				bad("style blend weight %d must be a finite number ≥ 0 (got %g)", i+1, w)
			}
			total += w
		}
		if total == 0 {
			bad("style blend weights are all 0: give at least one style image a positive weight")
		}
	}
	if t, err := ParseTile(c.Tile); err != nil {
		bad("%v", err)
	} else if t > 0 && len(c.StyleLayers) > 0 && len(c.ContentLayers) > 0 && vgg.ValidateLayers(append(slices.Clone(c.ContentLayers), c.StyleLayers...)) == nil {
		if err := checkTile(t, c, vgg.VGG19); err != nil {
			bad("%v", err)
		}
	}
	errs = append(errs, c.validateControls()...)
	return errors.Join(errs...)
}

// layerWeight returns λ_l for style layer l.
func (c Config) layerWeight(l string) float64 {
	if c.LayerWeights == nil {
		return 1 / float64(len(c.StyleLayers))
	}
	return c.LayerWeights[l]
}

func finiteNonNeg(v float64) bool { return v >= 0 && !math.IsInf(v, 0) }

func sum(m map[string]float64) float64 {
	s := 0.0
	for _, v := range m {
		s += v
	}
	return s
}

func hasDuplicates(s []string) bool {
	seen := map[string]bool{}
	for _, x := range s {
		if seen[x] {
			return true
		}
		seen[x] = true
	}
	return false
}
