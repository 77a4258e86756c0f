package vgg

import (
	"fmt"
	"slices"
	"strings"

	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/stylelab/stylelab/experiments/nn"
)

// Mean and Std are torchvision's ImageNet normalisation constants (RGB), applied by Normalize.
var (
	Mean = [3]float64{0.485, 0.456, 0.406}
	Std  = [3]float64{0.229, 0.224, 0.225}
)

// Scope is the context scope under which Features keeps the weights: variables
// "/vgg/<conv name>/weights" (HWIO) and "/vgg/<conv name>/biases".
const Scope = "vgg"

// paramSHA is the context parameter (in Scope) recording which weights the variables hold.
const paramSHA = "vgg_weights_sha256"

// Normalize applies torchvision's input normalisation to an RGB image in [0,1]:
//
//	y[b,i,j,c] = (x[b,i,j,c] − Mean[c]) / Std[c]
//
// img is [B,H,W,3] of any float dtype.
func Normalize(img *graph.Node) *graph.Node {
	g := img.Graph()
	mean := graph.ConstAsDType(g, img.DType(), [][][][]float64{{{Mean[:]}}})
	std := graph.ConstAsDType(g, img.DType(), [][][][]float64{{{Std[:]}}})
	return graph.Div(graph.Sub(img, mean), std)
}

// applyAffine is the per-pixel input map y_j = Σ_i x_i·a.M[i][j] + a.B[j] on [B,H,W,3] (see Affine).
func applyAffine(img *graph.Node, a *Affine) *graph.Node {
	ch := make([]*graph.Node, 3)
	for i := range 3 {
		ch[i] = graph.SliceAxis(img, 3, graph.AxisElem(i))
	}
	out := make([]*graph.Node, 3)
	for j := range 3 {
		var acc *graph.Node
		for i := range 3 {
			if a.M[i][j] == 0 {
				continue
			}
			t := graph.MulScalar(ch[i], a.M[i][j])
			if acc == nil {
				acc = t
			} else {
				acc = graph.Add(acc, t)
			}
		}
		if acc == nil {
			acc = graph.ZerosLike(ch[0])
		}
		out[j] = graph.AddScalar(acc, a.B[j])
	}
	return graph.Concatenate(out, 3)
}

// Features builds the VGG net of w (VGG-19 unless w.Net says VGG-16) on img and returns the outputs of the wanted layers, keyed by layer name.
//
// img is [B,H,W,3] RGB in [0,1] (float32; float64 also works, the weights are converted). The network is
// Normalize (or w.Input's affine map, for the caffe and adain layouts), then for each layer of the net's Layers
// up to the deepest wanted one (the adain layout reflect-pads instead of zero-padding): convK_L = nn.Conv2D(x, kernel,
// stride 1, pad 1) + bias, reluK_L = max(x, 0), poolK = 2×2 average (PoolAvg, also for "") or max (PoolMax)
// pooling. Layers past the deepest wanted one are not built.
//
// The weights live in ctx as non-trainable variables under scope "vgg" (see Scope), so the image can be the
// only trainable variable; calling Features several times on one context (content and generated images,
// several graphs) shares them. A context holds one set of weights: passing different weights (another
// SHA256) to the same context panics — use a fresh context.
//
// Errors (unknown layer names, invalid weights, bad pool, an image that is not [B,H,W,3] or smaller than
// the pooling needs) panic with a message that names the problem and the valid choices; GoMLX's Exec turns
// a panic during graph building into the error it returns. Check names beforehand with ValidateLayers.
// An empty want returns an empty map.
func Features(ctx *context.Context, w *Weights, pool Pool, img *graph.Node, want []string) map[string]*graph.Node {
	if err := w.Validate(); err != nil {
		panic("vgg.Features: " + err.Error())
	}
	if err := w.net().ValidateLayers(want); err != nil {
		panic("vgg.Features: " + err.Error())
	}
	pool, err := ParsePool(string(pool))
	if err != nil {
		panic("vgg.Features: " + err.Error())
	}
	if img.Rank() != 4 || img.Shape().Dimensions[3] != 3 || !img.DType().IsFloat() {
		panic(fmt.Sprintf("vgg.Features: the image must be a float tensor [B,H,W,3] (RGB in [0,1]), got %s", img.Shape()))
	}
	out := make(map[string]*graph.Node, len(want))
	if len(want) == 0 {
		return out
	}
	layers := w.net().Layers()
	deepest := 0
	for _, n := range want {
		deepest = max(deepest, slices.Index(layers, n))
	}
	if s, _ := LayerScale(layers[deepest]); img.Shape().Dimensions[1] < s || img.Shape().Dimensions[2] < s {
		panic(fmt.Sprintf("vgg.Features: the image %s is too small for layer %s, which needs at least %d×%d pixels",
			img.Shape(), layers[deepest], s, s))
	}

	vctx := ctx.In(Scope).Checked(false)
	vars := weightVariables(vctx, w)
	g := img.Graph()
	var x *graph.Node
	if w.Input == nil {
		x = Normalize(img)
	} else {
		x = applyAffine(img, w.Input)
	}
	reflect := w.layout() == AdaINLayout
	conv := 0
	for _, name := range layers[:deepest+1] {
		switch {
		case strings.HasPrefix(name, "conv"):
			k := vars[2*conv].ValueGraph(g)
			b := vars[2*conv+1].ValueGraph(g)
			if x.DType() != dtypes.Float32 {
				k, b = graph.ConvertDType(k, x.DType()), graph.ConvertDType(b, x.DType())
			}
			if reflect {
				x = nn.BiasAdd(nn.Conv2D(nn.ReflectPad(x, 1), k, 1, 0), b)
			} else {
				x = nn.BiasAdd(nn.Conv2D(x, k, 1, 1), b)
			}
			conv++
		case strings.HasPrefix(name, "relu"):
			x = nn.ReLU(x)
		case pool == PoolMax:
			x = nn.MaxPool2x2(x)
		default:
			x = nn.AvgPool2x2(x)
		}
		if slices.Contains(want, name) {
			out[name] = x
		}
	}
	return out
}

// weightVariables returns the 32 variables (kernel, bias per conv, in network order) holding w in vctx,
// creating them on first use. The SHA256 of the weights they hold is recorded as a context parameter, so
// that a second, different set of weights is refused rather than silently ignored.
func weightVariables(vctx *context.Context, w *Weights) []*context.Variable {
	have, found := vctx.GetParam(paramSHA)
	if found && have != w.SHA256 {
		panic(fmt.Sprintf("vgg.Features: this context already holds VGG weights with SHA-256 %v, but weights %s "+
			"(SHA-256 %s) were passed: use a fresh context for other weights", have, w.Source, w.SHA256))
	}
	convs := w.net().Convs()
	vars := make([]*context.Variable, 0, 2*len(convs))
	for i, c := range convs {
		cc := vctx.In(c.Name)
		for _, p := range []struct {
			name string
			data []float32
			dims []int
		}{
			{"weights", w.Kernels[i], []int{3, 3, c.In, c.Out}},
			{"biases", w.Biases[i], []int{c.Out}},
		} {
			v := cc.GetVariable(p.name)
			switch {
			case v == nil:
				v = cc.VariableWithValue(p.name, tensors.FromFlatDataAndDimensions(p.data, p.dims...))
			case !found:
				// Variables that exist without a recorded hash (e.g. restored from a checkpoint) are
				// overwritten, so the graph always computes with w.
				v.MustSetValue(tensors.FromFlatDataAndDimensions(p.data, p.dims...))
			}
			vars = append(vars, v.SetTrainable(false))
		}
	}
	if !found {
		vctx.SetParam(paramSHA, w.SHA256)
	}
	return vars
}
