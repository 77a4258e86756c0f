// Package adain is arbitrary style transfer with adaptive instance normalisation (Huang & Belongie 2017):
//
//	t = AdaIN(f(c), f(s)) = σ(f(s)) · (f(c) − μ(f(c))) / σ(f(c)) + μ(f(s))      (per image and channel, over H,W)
//	t_α = α·t + (1 − α)·f(c)                                                    (style strength α ∈ [0,1])
//	y = sigmoid(g(t_α))
//
// The encoder f is the loss network (package vgg, VGG-19) up to EncoderLayer (relu4_1 in the paper), frozen.
// The decoder g mirrors it: the encoder's convolutions in reverse order, each 3×3 with reflect padding 1 mapping
// Out → In channels, followed by ReLU except the last (to RGB), with a nearest ×2 upsampling where the encoder
// pooled. Its internal channel counts are the encoder's times Width (its input keeps the encoder's channels,
// its output is 3). The paper's decoder has no output activation; here a sigmoid keeps the image the loss network
// sees in (0,1), the same image that is saved. Several styles mix their targets, t = Σ_k w_k AdaIN(f(c), f(s_k)).
//
// Training (package train) minimises ContentWeight·‖f(g(t)) − t‖² (mean, losses.Content) + StyleWeight·Σ_l λ_l
// L(f_l(g(t)), f_l(s)) over the style layers (relu1_1 … up to EncoderLayer), with L the mean-variance loss
// (losses.MeanVar) by default.
package adain

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"

	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/stylelab/stylelab/experiments/nn"
	"github.com/stylelab/stylelab/experiments/vgg"
)

// Scope is the context scope holding the decoder's variables "/decoder/<layer>/{kernel,bias}".
const Scope = "decoder"

// Eps is the ε of the channel statistics in AdaIN.
const Eps = 1e-5

// EncoderLayers are the layers the encoder may stop at.
var EncoderLayers = []string{"relu1_1", "relu2_1", "relu3_1", "relu4_1"}

// Arch is the decoder's architecture.
type Arch struct {
	// EncoderLayer is where the encoder stops: relu4_1 (the paper), or relu3_1/relu2_1/relu1_1 for small runs.
	EncoderLayer string `json:"encoder_layer"`
	// Width multiplies the decoder's internal channel counts (1 = the paper's).
	Width float64 `json:"width"`
	// Flavour is "" (stylelab's decoder: sigmoid output, AdaIN with biased variance) or FlavourPyTorchAdaIN.
	Flavour string `json:"flavour,omitempty"`
}

// FlavourPyTorchAdaIN is naoto0804/pytorch-AdaIN's decoder.pth (imported by package train): the same layers,
// but its output is clamp(y, 0, 1) (what its test.py saves) instead of a sigmoid, and its AdaIN uses the unbiased
// variance, σ² = Σ(x − μ)²/(N − 1) + ε (torch.var), as its calc_mean_std does. Its encoder is vgg_normalised.pth
// (vgg.AdaINLayout), max-pooled.
const FlavourPyTorchAdaIN = "pytorch-adain"

// Validate checks the architecture.
func (a Arch) Validate() error {
	if !slices.Contains(EncoderLayers, a.EncoderLayer) {
		return fmt.Errorf("adain: encoder layer %q is not one of %s", a.EncoderLayer, strings.Join(EncoderLayers, ", "))
	}
	if !(a.Width > 0 && a.Width <= 8) {
		return fmt.Errorf("adain: decoder width multiplier must be in (0, 8] (got %g)", a.Width)
	}
	if a.Flavour != "" && a.Flavour != FlavourPyTorchAdaIN {
		return fmt.Errorf("adain: unknown decoder flavour %q (\"\" or %q)", a.Flavour, FlavourPyTorchAdaIN)
	}
	return nil
}

// Downscale is the factor by which the encoder shrinks an image (2 per pooling): images must be multiples of it.
func (a Arch) Downscale() int {
	s, _ := vgg.LayerScale(a.EncoderLayer)
	return max(s, 1)
}

// Layer is one decoder convolution.
type Layer struct {
	Name     string
	In, Out  int
	Upsample bool // nearest ×2 before the conv
	ReLU     bool
}

// Layers lists the decoder's convolutions in order.
func (a Arch) Layers() []Layer {
	deepest := vgg.LayerIndex(a.EncoderLayer)
	type enc struct {
		in, out  int
		poolNext bool // a pooling follows this conv in the encoder (before the next conv)
	}
	var convs []enc
	for _, name := range vgg.Layers[:deepest+1] {
		switch {
		case strings.HasPrefix(name, "conv"):
			c := vgg.Convs[len(convs)]
			convs = append(convs, enc{in: c.In, out: c.Out})
		case strings.HasPrefix(name, "pool"):
			convs[len(convs)-1].poolNext = true
		}
	}
	ch := func(c int) int { return max(1, int(math.Round(float64(c)*a.Width))) }
	var ls []Layer
	for i := len(convs) - 1; i >= 0; i-- {
		in, out := ch(convs[i].out), ch(convs[i].in)
		if i == len(convs)-1 {
			in = convs[i].out // the encoder's features
		}
		if i == 0 {
			out = 3
		}
		up := i < len(convs)-1 && convs[i].poolNext
		ls = append(ls, Layer{Name: fmt.Sprintf("d%d", len(ls)+1), In: in, Out: out, Upsample: up, ReLU: i != 0})
	}
	return ls
}

// Init creates the decoder's variables in ctx with seeded values: kernels He-uniform from math/rand/v2
// PCG(seed, layer), biases 0. Existing variables (a loaded checkpoint) are kept.
func Init(ctx *context.Context, a Arch, seed uint64) error {
	if err := a.Validate(); err != nil {
		return err
	}
	dctx := ctx.In(Scope).Checked(false)
	for i, l := range a.Layers() {
		rng := rand.New(rand.NewPCG(seed, 0x4445434f444552^uint64(i)))
		lim := math.Sqrt(6 / float64(9*l.In))
		k := make([]float32, 9*l.In*l.Out)
		for j := range k {
			k[j] = float32((2*rng.Float64() - 1) * lim)
		}
		lc := dctx.In(l.Name)
		lc.VariableWithValue("kernel", tensors.FromFlatDataAndDimensions(k, 3, 3, l.In, l.Out))
		lc.VariableWithValue("bias", tensors.FromFlatDataAndDimensions(make([]float32, l.Out), l.Out))
	}
	return nil
}

// Encode returns the encoder's features of img [B,H,W,3] at the wanted layers (all at or before EncoderLayer).
func Encode(ctx *context.Context, w *vgg.Weights, pool vgg.Pool, img *graph.Node, layers []string) map[string]*graph.Node {
	return vgg.Features(ctx, w, pool, img, layers)
}

// Decode builds the decoder on t [B,h,w,C] (C = the encoder layer's channels) and returns the image
// [B, h·D, w·D, 3] in (0,1), D = Downscale().
func Decode(ctx *context.Context, a Arch, t *graph.Node) *graph.Node {
	if err := a.Validate(); err != nil {
		panic(err.Error())
	}
	g := t.Graph()
	h := t
	for _, l := range a.Layers() {
		v := ctx.In(Scope).In(l.Name)
		kv, bv := v.GetVariable("kernel"), v.GetVariable("bias")
		if kv == nil || bv == nil {
			panic(fmt.Sprintf("adain: decoder variable %s/%s is missing: call adain.Init (or load a checkpoint) first", Scope, l.Name))
		}
		if d := kv.Shape().Dimensions; d[2] != l.In || d[3] != l.Out {
			panic(fmt.Sprintf("adain: decoder variable %s/%s/kernel has shape %v, the architecture needs [3 3 %d %d]", Scope, l.Name, d, l.In, l.Out))
		}
		if l.Upsample {
			h = nn.Upsample2xNearest(h)
		}
		h = nn.BiasAdd(nn.Conv2D(nn.ReflectPad(h, 1), kv.ValueGraph(g), 1, 0), bv.ValueGraph(g))
		if l.ReLU {
			h = nn.ReLU(h)
		}
	}
	if a.Flavour == FlavourPyTorchAdaIN {
		return graph.MinScalar(graph.MaxScalar(h, 0.0), 1.0)
	}
	return graph.Sigmoid(h)
}

// Target is the package's Target for a's flavour: FlavourPyTorchAdaIN normalises with the unbiased variance.
func (a Arch) Target(fc *graph.Node, fs []*graph.Node, weights []float64, alpha float64) *graph.Node {
	if a.Flavour != FlavourPyTorchAdaIN {
		return Target(fc, fs, weights, alpha)
	}
	return target(fc, fs, weights, alpha, adainUnbiased)
}

// adainUnbiased is AdaIN(x, y) with μ, σ over (h, w) and σ = √(Σ(x − μ)²/(N − 1) + Eps), as pytorch-AdaIN.
func adainUnbiased(x, y *graph.Node) *graph.Node {
	stats := func(v *graph.Node) (*graph.Node, *graph.Node) {
		d := v.Shape().Dimensions
		n := float64(d[1] * d[2])
		mean := graph.ReduceAndKeep(v, graph.ReduceMean, 1, 2)
		c := graph.Sub(v, mean)
		variance := graph.DivScalar(graph.ReduceAndKeep(graph.Mul(c, c), graph.ReduceSum, 1, 2), max(n-1, 1))
		return mean, graph.Sqrt(graph.AddScalar(variance, Eps))
	}
	mx, sx := stats(x)
	my, sy := stats(y)
	return graph.Add(graph.Mul(sy, graph.Div(graph.Sub(x, mx), sx)), my)
}

// Target returns the decoder's input for content features fc [B,h,w,C] and style features fs[k]
// [B,h_k,w_k,C] mixed by weights (len(fs), used as given):
//
//	t = α · Σ_k w_k AdaIN(fc, fs_k) + (1 − α) · fc.
func Target(fc *graph.Node, fs []*graph.Node, weights []float64, alpha float64) *graph.Node {
	return target(fc, fs, weights, alpha, func(x, y *graph.Node) *graph.Node { return nn.AdaIN(x, y, Eps) })
}

func target(fc *graph.Node, fs []*graph.Node, weights []float64, alpha float64, adain func(x, y *graph.Node) *graph.Node) *graph.Node {
	if len(fs) != len(weights) || len(fs) == 0 {
		panic(fmt.Sprintf("adain: %d style feature maps and %d weights", len(fs), len(weights)))
	}
	var t *graph.Node
	for k, f := range fs {
		x := graph.MulScalar(adain(fc, f), weights[k])
		if t == nil {
			t = x
		} else {
			t = graph.Add(t, x)
		}
	}
	if alpha == 1 {
		return t
	}
	return graph.Add(graph.MulScalar(t, alpha), graph.MulScalar(fc, 1-alpha))
}

// StyleLayers returns relu1_1 … EncoderLayer, the layers of the style loss.
func (a Arch) StyleLayers() []string {
	i := slices.Index(EncoderLayers, a.EncoderLayer)
	return slices.Clone(EncoderLayers[:i+1])
}
