// Package transformer is the feed-forward image transformation network of Johnson et al. (2016) in the form of
// Dumoulin et al.'s conditional instance normalisation paper (2017), with reflect padding:
//
//	c1  ReflectPad 4, 9×9 conv  3 → C1, norm, ReLU           (C1 = 32·Width)
//	c2  ReflectPad 1, 3×3 conv stride 2, C1 → C2, norm, ReLU (C2 = 64·Width)
//	c3  ReflectPad 1, 3×3 conv stride 2, C2 → C3, norm, ReLU (C3 = 128·Width)
//	r1…rR residual blocks: x + norm(conv(ReLU(norm(conv(x)))))   (3×3, C3 → C3, reflect pad 1; R = ResBlocks)
//	u1  nearest ×2 upsample, ReflectPad 1, 3×3 conv C3 → C2, norm, ReLU
//	u2  nearest ×2 upsample, ReflectPad 1, 3×3 conv C2 → C1, norm, ReLU
//	out ReflectPad 4, 9×9 conv C1 → 3, norm, sigmoid          (RGB in (0,1))
//
// "norm" is conditional instance normalisation (nn.ConditionalInstanceNorm, ε = 1e-5): every norm layer holds
// γ, β ∈ R^{S×C} for the S styles of the network, and an input row of style weights w ∈ R^S selects or mixes
// them inside the network, γ̂ = Σ_s w_s γ_s, β̂ = Σ_s w_s β_s (the weights are not normalised, as in magenta).
// A single-style network is S = 1 with w = [1]: instance normalisation with one learned affine transform.
// Resize-convolutions (upsample, then convolve) replace transposed convolutions, which avoids checkerboard
// artefacts (Odena et al. 2016) and, unlike a transposed conv, has a gradient on GoMLX's pure-Go backend.
// The convolutions have no bias: the norm that follows each one removes any per-channel constant.
//
// The paper's network (Width 1, 5 residual blocks) has 1,674,432 conv weights and 3,206 (γ, β) values per style.
// Images are NHWC [B,H,W,3] in [0,1] with H and W multiples of 4 (the two stride-2 convs and two upsamplings
// then give back the input size) and at least 16.
//
// Flavour FlavourTorchExamples is pytorch/examples fast_neural_style's TransformerNet (the candy, mosaic,
// rain_princess and udnie models, imported from their .pth by package train): the same layers, but every conv
// has a bias, "out" has neither norm nor activation, the input is scaled to 0–255 and the output is
// clamp(y, 0, 255)/255 (its stylize saves the clamped 0–255 image). One style (S = 1, plain instance norm with
// affine γ, β).
package transformer

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/stylelab/stylelab/experiments/nn"
)

// Scope is the context scope holding the network's variables: "/transformer/<layer>/{kernel,gamma,beta}".
const Scope = "transformer"

// Eps is the instance-norm ε.
const Eps = 1e-5

// Arch is the network's architecture: what a checkpoint must match to be loaded or resumed.
type Arch struct {
	// Styles is S, the number of styles (rows of every γ and β); 1 for a single-style network.
	Styles int `json:"styles"`
	// Width multiplies the paper's channel counts 32, 64, 128 (each rounded, at least 1). 1 is the paper.
	Width float64 `json:"width"`
	// ResBlocks is the number of residual blocks (5 in the paper).
	ResBlocks int `json:"res_blocks"`
	// Flavour is "" (stylelab's network) or FlavourTorchExamples.
	Flavour string `json:"flavour,omitempty"`
}

// FlavourTorchExamples is pytorch/examples fast_neural_style's TransformerNet (see the package comment).
const FlavourTorchExamples = "pytorch-examples"

// TorchExamples reports whether a is pytorch/examples' TransformerNet.
func (a Arch) TorchExamples() bool { return a.Flavour == FlavourTorchExamples }

// Normed reports whether layer l is followed by a norm (all but "out" for FlavourTorchExamples).
func (a Arch) Normed(l Layer) bool { return !(a.TorchExamples() && l.Name == "out") }

// Paper returns the paper's architecture for s styles: width 1, 5 residual blocks.
func Paper(s int) Arch { return Arch{Styles: s, Width: 1, ResBlocks: 5} }

// Validate checks the architecture's fields.
func (a Arch) Validate() error {
	switch {
	case a.Styles < 1 || a.Styles > 1024:
		return fmt.Errorf("transformer: styles must be between 1 and 1024 (got %d)", a.Styles)
	case !(a.Width > 0 && a.Width <= 8):
		return fmt.Errorf("transformer: width multiplier must be in (0, 8] (got %g); 1 is the paper's network", a.Width)
	case a.ResBlocks < 0 || a.ResBlocks > 32:
		return fmt.Errorf("transformer: residual blocks must be between 0 and 32 (got %d); the paper uses 5", a.ResBlocks)
	case a.Flavour != "" && a.Flavour != FlavourTorchExamples:
		return fmt.Errorf("transformer: unknown flavour %q (\"\" or %q)", a.Flavour, FlavourTorchExamples)
	case a.TorchExamples() && a.Styles != 1:
		return fmt.Errorf("transformer: pytorch/examples' TransformerNet has one style (got %d)", a.Styles)
	}
	return nil
}

// Channels returns C1, C2, C3 = round(32·Width), round(64·Width), round(128·Width), each at least 1.
func (a Arch) Channels() (c1, c2, c3 int) {
	ch := func(n float64) int { return max(1, int(math.Round(n*a.Width))) }
	return ch(32), ch(64), ch(128)
}

// Layer is one convolution of the network followed by its norm.
type Layer struct {
	Name       string
	K, In, Out int // kernel size K×K, channels
	Stride     int
	Upsample   bool // nearest ×2 before the conv
}

// Layers lists the convolutions in network order.
func (a Arch) Layers() []Layer {
	c1, c2, c3 := a.Channels()
	ls := []Layer{{"c1", 9, 3, c1, 1, false}, {"c2", 3, c1, c2, 2, false}, {"c3", 3, c2, c3, 2, false}}
	for i := range a.ResBlocks {
		ls = append(ls, Layer{fmt.Sprintf("r%da", i+1), 3, c3, c3, 1, false}, Layer{fmt.Sprintf("r%db", i+1), 3, c3, c3, 1, false})
	}
	return append(ls, Layer{"u1", 3, c3, c2, 1, true}, Layer{"u2", 3, c2, c1, 1, true}, Layer{"out", 9, c1, 3, 1, false})
}

// ParamCounts returns the number of shared conv weights (and biases, FlavourTorchExamples) and of per-style norm
// values (γ and β of one style).
func (a Arch) ParamCounts() (shared, perStyle int) {
	for _, l := range a.Layers() {
		shared += l.K * l.K * l.In * l.Out
		if a.TorchExamples() {
			shared += l.Out
		}
		if a.Normed(l) {
			perStyle += 2 * l.Out
		}
	}
	return shared, perStyle
}

// CheckSize returns an error unless h×w images fit the network (multiples of 4, at least 16).
func CheckSize(h, w int) error {
	if h < 16 || w < 16 || h%4 != 0 || w%4 != 0 {
		return fmt.Errorf("transformer: image size %dx%d must be at least 16 and a multiple of 4 on both sides (e.g. 32, 64, 256)", w, h)
	}
	return nil
}

// Init creates the network's variables in ctx (under Scope) with seeded initial values: kernels He-uniform,
// U(−√(6/fan_in), √(6/fan_in)) with fan_in = K·K·In, drawn from math/rand/v2 PCG(seed, layer index); γ = 1,
// β = 0 (FlavourTorchExamples: also "bias" = 0 for every conv, and no γ, β for "out"). Variables that already
// exist (loaded from a checkpoint through the context's Loader) are kept.
func Init(ctx *context.Context, a Arch, seed uint64) error {
	if err := a.Validate(); err != nil {
		return err
	}
	tctx := ctx.In(Scope).Checked(false)
	for i, l := range a.Layers() {
		lc := tctx.In(l.Name)
		n := l.K * l.K * l.In * l.Out
		rng := rand.New(rand.NewPCG(seed, 0x5452414e53464f52^uint64(i)))
		lim := math.Sqrt(6 / float64(l.K*l.K*l.In))
		k := make([]float32, n)
		for j := range k {
			k[j] = float32((2*rng.Float64() - 1) * lim)
		}
		gamma := make([]float32, a.Styles*l.Out)
		for j := range gamma {
			gamma[j] = 1
		}
		beta := make([]float32, a.Styles*l.Out)
		lc.VariableWithValue("kernel", tensors.FromFlatDataAndDimensions(k, l.K, l.K, l.In, l.Out))
		if a.TorchExamples() {
			lc.VariableWithValue("bias", tensors.FromFlatDataAndDimensions(make([]float32, l.Out), l.Out))
		}
		if a.Normed(l) {
			lc.VariableWithValue("gamma", tensors.FromFlatDataAndDimensions(gamma, a.Styles, l.Out))
			lc.VariableWithValue("beta", tensors.FromFlatDataAndDimensions(beta, a.Styles, l.Out))
		}
	}
	return nil
}

// variable returns an existing network variable, panicking with a clear message when it is missing or has the
// wrong shape (the context was not initialised for this architecture).
func variable(ctx *context.Context, layer, name string, dims ...int) *context.Variable {
	v := ctx.In(Scope).In(layer).GetVariable(name)
	if v == nil {
		panic(fmt.Sprintf("transformer: variable %s/%s/%s is missing: call transformer.Init (or load a checkpoint) first", Scope, layer, name))
	}
	if got := v.Shape().Dimensions; fmt.Sprint(got) != fmt.Sprint(dims) {
		panic(fmt.Sprintf("transformer: variable %s/%s/%s has shape %v, the architecture needs %v", Scope, layer, name, got, dims))
	}
	return v
}

// Apply builds the network on x [B,H,W,3] with style weights w [B,S] and returns the stylised images
// [B,H,W,3] in (0,1) ([0,1] for FlavourTorchExamples). The variables must exist (Init, or a loaded checkpoint).
func Apply(ctx *context.Context, a Arch, x, w *graph.Node) *graph.Node {
	return ApplyWith(ctx, a, x, w, Options{})
}

// Options change how Apply builds the network, not what it computes.
type Options struct {
	// CheckpointActivations recomputes each residual block's activations in the backward pass instead of
	// keeping them from the forward pass (checkpoint.go): the same values and gradients, less memory in
	// training, one more forward pass of the residual blocks per step.
	CheckpointActivations bool
}

// ApplyWith is Apply with options.
func ApplyWith(ctx *context.Context, a Arch, x, w *graph.Node, o Options) *graph.Node {
	if err := a.Validate(); err != nil {
		panic(err.Error())
	}
	if x.Rank() != 4 || x.Shape().Dimensions[3] != 3 {
		panic(fmt.Sprintf("transformer: input must be [B,H,W,3], got %s", x.Shape()))
	}
	d := x.Shape().Dimensions
	if err := CheckSize(d[1], d[2]); err != nil {
		panic(err.Error())
	}
	if w.Rank() != 2 || w.Shape().Dimensions[0] != d[0] || w.Shape().Dimensions[1] != a.Styles {
		panic(fmt.Sprintf("transformer: style weights must be [B=%d,S=%d], got %s", d[0], a.Styles, w.Shape()))
	}
	g := x.Graph()
	w = graph.ConvertDType(w, x.DType())
	conv := func(l Layer, name string, dims ...int) *graph.Node {
		v := variable(ctx, l.Name, name, dims...).ValueGraph(g)
		if v.DType() != x.DType() {
			v = graph.ConvertDType(v, x.DType())
		}
		return v
	}
	layer := func(h *graph.Node, l Layer, relu bool) *graph.Node {
		k := conv(l, "kernel", l.K, l.K, l.In, l.Out)
		if l.Upsample {
			h = nn.Upsample2xNearest(h)
		}
		h = nn.Conv2D(nn.ReflectPad(h, l.K/2), k, l.Stride, 0)
		if a.TorchExamples() {
			h = nn.BiasAdd(h, conv(l, "bias", l.Out))
		}
		if a.Normed(l) {
			h = nn.ConditionalInstanceNorm(h, conv(l, "gamma", a.Styles, l.Out), conv(l, "beta", a.Styles, l.Out), w, Eps)
		}
		if relu {
			h = nn.ReLU(h)
		}
		return h
	}
	if a.TorchExamples() {
		x = graph.MulScalar(x, 255)
	}
	ls := a.Layers()
	h := layer(x, ls[0], true)
	h = layer(h, ls[1], true)
	h = layer(h, ls[2], true)
	for i := range a.ResBlocks {
		l1, l2 := ls[3+2*i], ls[4+2*i]
		if !o.CheckpointActivations {
			r := layer(h, l1, true)
			r = layer(r, l2, false)
			h = graph.Add(h, r)
			continue
		}
		// The block's variables as the block uses them, so that the recomputation sees the same nodes.
		var params []*graph.Node
		for _, l := range []Layer{l1, l2} {
			params = append(params, conv(l, "kernel", l.K, l.K, l.In, l.Out))
			if a.TorchExamples() {
				params = append(params, conv(l, "bias", l.Out))
			}
			if a.Normed(l) {
				params = append(params, conv(l, "gamma", a.Styles, l.Out), conv(l, "beta", a.Styles, l.Out))
			}
		}
		h = checkpointResidual(h, params, func(h *graph.Node, p []*graph.Node) *graph.Node {
			k := 0
			next := func() *graph.Node { k++; return p[k-1] }
			apply := func(h *graph.Node, l Layer, relu bool) *graph.Node {
				h = nn.Conv2D(nn.ReflectPad(h, l.K/2), next(), l.Stride, 0)
				if a.TorchExamples() {
					h = nn.BiasAdd(h, next())
				}
				if a.Normed(l) {
					gamma := next()
					h = nn.ConditionalInstanceNorm(h, gamma, next(), w, Eps)
				}
				if relu {
					h = nn.ReLU(h)
				}
				return h
			}
			return apply(apply(h, l1, true), l2, false)
		})
	}
	n := len(ls)
	h = layer(h, ls[n-3], true)
	h = layer(h, ls[n-2], true)
	h = layer(h, ls[n-1], false)
	if a.TorchExamples() {
		return graph.DivScalar(graph.MinScalar(graph.MaxScalar(h, 0.0), 255.0), 255.0)
	}
	return graph.Sigmoid(h)
}

// OneHot returns the [B,S] style weights selecting style k for all B images.
func OneHot(b, s, k int) [][]float32 {
	w := make([][]float32, b)
	for i := range w {
		w[i] = make([]float32, s)
		w[i][k] = 1
	}
	return w
}

// Repeat returns the [B,S] style weights with every row equal to mix.
func Repeat(b int, mix []float32) [][]float32 {
	w := make([][]float32, b)
	for i := range w {
		w[i] = append([]float32(nil), mix...)
	}
	return w
}
