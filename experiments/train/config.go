// Package train trains the feed-forward networks: the transformer network (package transformer) for one style
// ("single") or S styles with conditional instance norm ("cin"), and the AdaIN decoder (package adain). It holds
// the content data (a folder of images, seeded random crops and flips), the training loop (Adam, per-style
// losses, sample grids), and the checkpoint format (safetensors weights + a JSON header), with inference from a
// checkpoint (Model).
//
// Loss of one batch of B content crops x_b, each with style s_b (transformer kinds; y_b = T(x_b; onehot(s_b))):
//
//	Total   = (1/B) Σ_b [ ContentWeight·cw[s_b]·Content_b + StyleWeight·sw[s_b]·Style_b ] + TVWeight·TV(y)
//	Content_b = mean over ContentLayers l of ‖F_l(y_b) − F_l(x_b)‖²/(N_l M_l)            (losses.ContentPerExample)
//	Style_b   = Σ_l λ_l L(F_l(y_b), F_l(style s_b))    λ_l = 1/len(StyleLayers)          (losses.PerExample)
//
// with F the loss network (vgg, VGG-19), L the style loss (--loss, one of losses.Names), cw and sw the per-style
// content and style weights. For "cin" every example gets a random style; when B ≥ S every style appears
// ⌊B/S⌋ or more times in each batch, so each step logs a loss for every style. AdaIN: see package adain.
//
// Randomness: step t's crops, flips and styles come from math/rand/v2 PCG(Seed, t), so a resumed run draws
// exactly what an uninterrupted one would; the initial weights from PCG(Seed, layer).
package train

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/stylelab/stylelab/experiments/adain"
	"github.com/stylelab/stylelab/experiments/gatys"
	"github.com/stylelab/stylelab/experiments/losses"
	"github.com/stylelab/stylelab/experiments/transformer"
	"github.com/stylelab/stylelab/experiments/vgg"
)

// Kinds of network.
const (
	KindSingle = "single"
	KindCIN    = "cin"
	KindAdaIN  = "adain"
)

// Kinds lists the kinds Config accepts.
var Kinds = []string{KindSingle, KindCIN, KindAdaIN}

// Presets names the presets of Preset.
var Presets = []string{"cpu", "gpu", "tiny"}

// Config is every parameter of a training run. Preset(name) gives complete configurations; Resolve fills zero
// fields from the "cpu" preset and validates.
type Config struct {
	// Kind is "single", "cin" or "adain".
	Kind string `json:"kind"`
	// Preset names the preset the config started from (informational).
	Preset string `json:"preset,omitempty"`
	// Size is the side of the square content crops (a multiple of 4, of 8 for adain at relu4_1).
	Size int `json:"size"`
	// StyleSize is the side the style images are centre-cropped and resized to (transformer kinds); for adain,
	// style crops are Size like the content.
	StyleSize int `json:"style_size"`
	// Steps is the number of Adam updates; Batch the examples per update.
	Steps int `json:"steps"`
	Batch int `json:"batch"`
	// LearningRate is Adam's step size.
	LearningRate float64 `json:"learning_rate"`
	// Loss is the style loss (losses.Names); LossOptions its options.
	Loss        string         `json:"loss"`
	LossOptions losses.Options `json:"loss_options"`
	// Pool is the loss network's pooling.
	Pool vgg.Pool `json:"pool"`
	// ContentLayers and StyleLayers are the loss network's layers (transformer kinds; adain uses its encoder layer
	// and relu1_1 … encoder layer).
	ContentLayers []string `json:"content_layers"`
	StyleLayers   []string `json:"style_layers"`
	// ContentWeight, StyleWeight and TVWeight weight the terms; StyleWeight 0 means gatys.DefaultStyleWeight(Loss).
	ContentWeight float64 `json:"content_weight"`
	StyleWeight   float64 `json:"style_weight"`
	TVWeight      float64 `json:"tv_weight"`
	// StyleWeights and ContentWeights multiply StyleWeight and ContentWeight per style (one per style, default 1).
	StyleWeights   []float64 `json:"style_weights,omitempty"`
	ContentWeights []float64 `json:"content_weights,omitempty"`
	// Width and ResBlocks size the transformer (transformer.Arch); Width also sizes the adain decoder. ResBlocks 0
	// takes the preset's count, like every zero field; NoResBlocks (−1) asks for a transformer without residual
	// blocks.
	Width     float64 `json:"width"`
	ResBlocks int     `json:"res_blocks"`
	// CheckpointActivations recomputes the transformer's residual-block activations in the backward pass
	// instead of keeping them (transformer.Options): the same step, less memory, some more time (single and cin
	// only). Omitted when false, so older specs keep their keys.
	CheckpointActivations bool `json:"checkpoint_activations,omitempty"`
	// EncoderLayer is the adain encoder's last layer (relu4_1 in the paper).
	EncoderLayer string `json:"encoder_layer,omitempty"`
	// SampleEvery logs a grid of the fixed sample contents stylised with every style every K steps (and at the
	// last step); 0 only at the last step. SampleSize is the side of those images.
	SampleEvery int `json:"sample_every"`
	SampleSize  int `json:"sample_size"`
	// CheckpointEvery saves a checkpoint every K steps (0: only the final one).
	CheckpointEvery int `json:"checkpoint_every"`
	// Seed seeds the initial weights, the crops, flips and style choices.
	Seed uint64 `json:"seed"`
}

// Preset returns a complete configuration for kind:
//   - "cpu": a narrow transformer (width 1/4, 2 residual blocks), 64 px crops, batch 2, 300 steps, learning rate
//     1e-2, shallow loss layers (style relu1_1…relu3_1, content relu2_1), style weight 3× Gatys' default for the
//     loss: a visibly working 2-style CIN net on a CPU in minutes (adain: encoder relu3_1, decoder width 1/4,
//     learning rate 1e-3).
//     Checked on Starry Night + The Great Wave with the shipped photos (3 min 20 s on 2 shared cores with the
//     "cpu" backend): the two styles give clearly different palettes and strokes, and a strip blends them.
//   - "gpu": the papers' sizes: width 1, 5 residual blocks, 256 px crops, batch 16 (cin) or 4 (single), 40,000
//     steps, learning rate 1e-3, style relu1_1…relu4_1, content relu3_1 (adain: relu4_1, batch 8, 160,000 steps
//     at 1e-4 as Huang & Belongie).
//   - "tiny": what the tests use: 32 px, width 1/8, 1 residual block, batch 2, 4 steps, style relu1_1, relu2_1.
func Preset(name, kind string) (Config, error) {
	c := Config{Kind: kind, Preset: name, Loss: "gram", LossOptions: losses.DefaultOptions(), Pool: vgg.PoolAvg,
		ContentWeight: 1, TVWeight: 0.05}
	switch name {
	case "cpu":
		c.Size, c.StyleSize, c.Steps, c.Batch, c.LearningRate = 64, 128, 300, 2, 1e-2
		c.Width, c.ResBlocks = 0.25, 2
		c.StyleLayers, c.ContentLayers = []string{"relu1_1", "relu2_1", "relu3_1"}, []string{"relu2_1"}
		c.EncoderLayer = "relu3_1"
		c.SampleEvery, c.SampleSize, c.CheckpointEvery = 50, 128, 100
	case "gpu":
		c.Size, c.StyleSize, c.Steps, c.Batch, c.LearningRate = 256, 256, 40000, 16, 1e-3
		if kind == KindSingle {
			c.Batch = 4
		}
		c.Width, c.ResBlocks = 1, 5
		c.StyleLayers, c.ContentLayers = []string{"relu1_1", "relu2_1", "relu3_1", "relu4_1"}, []string{"relu3_1"}
		c.EncoderLayer = "relu4_1"
		if kind == KindAdaIN {
			c.Batch, c.Steps, c.LearningRate = 8, 160000, 1e-4
		}
		c.SampleEvery, c.SampleSize, c.CheckpointEvery = 1000, 256, 5000
	case "tiny":
		c.Size, c.StyleSize, c.Steps, c.Batch, c.LearningRate = 32, 32, 4, 2, 1e-2
		c.Width, c.ResBlocks = 0.125, 1
		c.StyleLayers, c.ContentLayers = []string{"relu1_1", "relu2_1"}, []string{"relu2_1"}
		c.EncoderLayer = "relu2_1"
		c.SampleEvery, c.SampleSize, c.CheckpointEvery = 2, 32, 0
	default:
		return c, fmt.Errorf("train: unknown preset %q (want one of %s)", name, strings.Join(Presets, ", "))
	}
	if kind == KindAdaIN {
		c.Loss = "meanvar"
		if name == "cpu" {
			// The decoder has no normalisation: at 1e-2 its sigmoid output saturated to a flat image within 30
			// steps (total variation 0, loss rising); 1e-3 trains.
			c.LearningRate = 1e-3
		}
	}
	return c, nil
}

// presetStyleFactor multiplies gatys.DefaultStyleWeight(loss) when StyleWeight is 0. Gatys' defaults balance
// content and style for an image optimised from the content; a small feed-forward net starts far from the content
// (content loss ≈ 0.4 against ≈ 0.03) and with Gatys' weight its styles stayed alike on the cpu preset, so the cpu
// preset triples it (15 for gram). The gpu and tiny presets use the defaults.
func presetStyleFactor(preset string) float64 {
	if preset == "cpu" {
		return 3
	}
	return 1
}

// Resolve fills zero fields from the config's Preset (the "cpu" preset when it names none) for its kind, sets
// per-style weights to 1 where missing, and validates the configuration for numStyles style images. A resolved
// config resolves to itself.
func (c Config) Resolve(numStyles int) (Config, error) {
	if c.Kind == "" {
		c.Kind = KindCIN
	}
	if !slices.Contains(Kinds, c.Kind) {
		return c, fmt.Errorf("train: unknown kind %q (want one of %s)", c.Kind, strings.Join(Kinds, ", "))
	}
	base := c.Preset
	if base == "" {
		base = "cpu"
	}
	d, err := Preset(base, c.Kind)
	if err != nil {
		return c, err
	}
	setI := func(p *int, v int) {
		if *p == 0 {
			*p = v
		}
	}
	setF := func(p *float64, v float64) {
		if *p == 0 {
			*p = v
		}
	}
	setI(&c.Size, d.Size)
	setI(&c.StyleSize, d.StyleSize)
	setI(&c.Steps, d.Steps)
	setI(&c.Batch, d.Batch)
	setF(&c.LearningRate, d.LearningRate)
	setF(&c.Width, d.Width)
	setI(&c.SampleSize, d.SampleSize)
	setI(&c.ResBlocks, d.ResBlocks)
	if c.Loss == "" {
		c.Loss = d.Loss
	}
	if c.Pool == "" {
		c.Pool = d.Pool
	}
	if c.ContentLayers == nil {
		c.ContentLayers = d.ContentLayers
	}
	if c.StyleLayers == nil {
		c.StyleLayers = d.StyleLayers
	}
	if c.EncoderLayer == "" && c.Kind == KindAdaIN {
		c.EncoderLayer = d.EncoderLayer
	}
	if c.Kind != KindAdaIN {
		c.EncoderLayer = ""
	}
	setF(&c.ContentWeight, d.ContentWeight)
	if c.StyleWeight == 0 {
		c.StyleWeight = presetStyleFactor(base) * gatys.DefaultStyleWeight(c.Loss)
	}
	if c.LossOptions, err = resolveLossOptions(c.LossOptions); err != nil {
		return c, err
	}
	if numStyles < 1 {
		return c, errors.New("train: no style images: name at least one with --styles")
	}
	switch {
	case c.Kind == KindSingle && numStyles != 1:
		return c, fmt.Errorf("train: kind single trains one style, got %d style images (use --kind cin for several)", numStyles)
	case c.Kind == KindCIN && numStyles > 1024:
		return c, fmt.Errorf("train: at most 1024 styles (got %d)", numStyles)
	}
	for _, p := range []*[]float64{&c.StyleWeights, &c.ContentWeights} {
		if *p == nil {
			*p = make([]float64, numStyles)
			for i := range *p {
				(*p)[i] = 1
			}
		}
	}
	if c.Kind == KindAdaIN {
		c.StyleWeights, c.ContentWeights = nil, nil
	}
	return c, c.validate(numStyles)
}

func resolveLossOptions(o losses.Options) (losses.Options, error) {
	if _, err := losses.Style("gram", o); err != nil {
		return o, fmt.Errorf("train: %w", err)
	}
	d := losses.DefaultOptions()
	if o.PolyDegree == 0 {
		o.PolyDegree = d.PolyDegree
	}
	if o.GaussSamples == 0 {
		o.GaussSamples = d.GaussSamples
	}
	if o.GaussExactMax == 0 {
		o.GaussExactMax = d.GaussExactMax
	}
	return o, nil
}

func (c Config) validate(numStyles int) error {
	mult := 4
	if c.Kind == KindAdaIN {
		mult = adain.Arch{EncoderLayer: c.EncoderLayer, Width: 1}.Downscale()
		mult = max(mult, 1)
	}
	switch {
	case c.Size < 16 || c.Size > 4096 || c.Size%mult != 0:
		return fmt.Errorf("train: --size must be between 16 and 4096 and a multiple of %d (got %d)", mult, c.Size)
	case c.SampleSize < 16 || c.SampleSize > 4096 || c.SampleSize%mult != 0:
		return fmt.Errorf("train: sample size must be between 16 and 4096 and a multiple of %d (got %d)", mult, c.SampleSize)
	case c.StyleSize < 16 || c.StyleSize > 4096:
		return fmt.Errorf("train: style size must be between 16 and 4096 (got %d)", c.StyleSize)
	case c.Steps < 1:
		return fmt.Errorf("train: --steps must be at least 1 (got %d)", c.Steps)
	case c.Batch < 1 || c.Batch > 256:
		return fmt.Errorf("train: --batch must be between 1 and 256 (got %d)", c.Batch)
	case !(c.LearningRate > 0 && c.LearningRate < 10):
		return fmt.Errorf("train: --lr must be positive and below 10 (got %g)", c.LearningRate)
	case !slices.Contains(losses.Names, c.Loss):
		return fmt.Errorf("train: unknown --loss %q (want one of %s)", c.Loss, strings.Join(losses.Names, ", "))
	case c.SampleEvery < 0 || c.CheckpointEvery < 0:
		return errors.New("train: sample and checkpoint intervals must be ≥ 0")
	case !(c.ContentWeight >= 0) || !(c.StyleWeight > 0) || !(c.TVWeight >= 0):
		return fmt.Errorf("train: weights must be finite, content and TV ≥ 0, style > 0 (got %g, %g, %g)", c.ContentWeight, c.StyleWeight, c.TVWeight)
	}
	if _, err := vgg.ParsePool(string(c.Pool)); err != nil {
		return fmt.Errorf("train: %w", err)
	}
	if c.CheckpointActivations && c.Kind == KindAdaIN {
		return fmt.Errorf("train: checkpoint_activations applies to the transformer (kind single or cin), not to kind adain: drop it (--checkpoint-activations)")
	}
	if c.Kind == KindAdaIN {
		return c.AdaINArch().Validate()
	}
	if c.ResBlocks < NoResBlocks {
		return fmt.Errorf("train: res_blocks must be ≥ 0 (0: the preset's), or %d for none (got %d)", NoResBlocks, c.ResBlocks)
	}
	if err := c.Arch(numStyles).Validate(); err != nil {
		return err
	}
	if len(c.StyleLayers) == 0 || len(c.ContentLayers) == 0 {
		return errors.New("train: name at least one style layer and one content layer")
	}
	if err := vgg.ValidateLayers(append(slices.Clone(c.StyleLayers), c.ContentLayers...)); err != nil {
		return fmt.Errorf("train: %w", err)
	}
	for _, l := range append(slices.Clone(c.StyleLayers), c.ContentLayers...) {
		if s, _ := vgg.LayerScale(l); c.Size < s || c.StyleSize < s {
			return fmt.Errorf("train: layer %s needs images of at least %d px (size %d, style size %d)", l, s, c.Size, c.StyleSize)
		}
	}
	for _, ws := range [][]float64{c.StyleWeights, c.ContentWeights} {
		if len(ws) != numStyles {
			return fmt.Errorf("train: %d per-style weights for %d styles: give one per style", len(ws), numStyles)
		}
		for _, w := range ws {
			if !(w >= 0 && w < 1e12) {
				return fmt.Errorf("train: per-style weights must be finite and ≥ 0 (got %g)", w)
			}
		}
	}
	return nil
}

// NoResBlocks is Config.ResBlocks for a transformer without residual blocks (0 means the preset's count).
const NoResBlocks = -1

// Arch is the transformer architecture the config trains for numStyles styles (1 for kind single).
func (c Config) Arch(numStyles int) transformer.Arch {
	rb := c.ResBlocks
	if rb == NoResBlocks {
		rb = 0
	}
	return transformer.Arch{Styles: numStyles, Width: c.Width, ResBlocks: rb}
}

// AdaINArch is the decoder architecture of an adain config.
func (c Config) AdaINArch() adain.Arch {
	return adain.Arch{EncoderLayer: c.EncoderLayer, Width: c.Width}
}
