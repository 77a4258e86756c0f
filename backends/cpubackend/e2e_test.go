package cpubackend

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/stylelab/stylelab/experiments/losses"
	"github.com/stylelab/stylelab/experiments/vgg"
)

// End-to-end differential tests: stylelab's real graphs (VGG-19 features, every style loss and its gradient) on
// this backend against simplego. Tolerance: relative 1e-4 of each output's largest magnitude. Float32 rounding
// differs between the engines (BLAS blocking, float64 accumulation of sums here) by ~1e-6 relative per product;
// through 16 conv layers and the loss products 1e-4 leaves a margin of ~10× over what was observed.

const e2eRel = 1e-4

// vggOn runs Features of the seeded random VGG-19 on backend b for img [1,32,32,3].
func vggOn(t *testing.T, b backends.Backend, w *vgg.Weights, pool vgg.Pool, img []float32, layers []string) [][]float32 {
	t.Helper()
	ctx := context.New()
	e, err := context.NewExec(b, ctx, func(ctx *context.Context, x *graph.Node) []*graph.Node {
		f := vgg.Features(ctx, w, pool, x, layers)
		out := make([]*graph.Node, len(layers))
		for i, l := range layers {
			out[i] = f[l]
		}
		return out
	})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Finalize()
	outs, err := e.Exec(tensors.FromFlatDataAndDimensions(append([]float32(nil), img...), 1, 32, 32, 3))
	if err != nil {
		t.Fatalf("%s: %v", b.Name(), err)
	}
	res := make([][]float32, len(outs))
	for i, o := range outs {
		res[i] = tensors.MustCopyFlatData[float32](o)
	}
	return res
}

func checkClose(t *testing.T, what string, got, want []float32, rel float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, reference %d", what, len(got), len(want))
	}
	scale := 0.0
	for _, v := range want {
		scale = max(scale, math.Abs(float64(v)))
	}
	worst := 0.0
	for i := range want {
		d := math.Abs(float64(got[i]) - float64(want[i]))
		if !(d <= rel*scale) { // also catches NaN
			t.Fatalf("%s[%d]: got %v, reference %v (|Δ| %.3g > %.0e·max|ref| = %.3g)", what, i, got[i], want[i], d, rel, rel*scale)
		}
		worst = max(worst, d/max(scale, 1e-30))
	}
	t.Logf("%s: max |Δ|/max|ref| = %.2g over %d values", what, worst, len(want))
}

func TestVGGFeaturesMatchSimplego(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: end-to-end")
	}
	w := vgg.Random(0)
	r := rand.New(rand.NewPCG(8, 8))
	img := make([]float32, 32*32*3)
	for i := range img {
		img[i] = r.Float32()
	}
	layers := []string{"relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu4_2", "relu5_1"}
	for _, pool := range []vgg.Pool{"avg", "max"} {
		got := vggOn(t, cpuB(), w, pool, img, layers)
		want := vggOn(t, refB(), w, pool, img, layers)
		for i, l := range layers {
			checkClose(t, fmt.Sprintf("%s pool %s", l, pool), got[i], want[i], e2eRel)
		}
	}
}

// TestStyleLossesAndGradientsMatchSimplego evaluates every registered style loss and its gradient with respect to
// the features on both backends.
func TestStyleLossesAndGradientsMatchSimplego(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 9))
	mk := func(h, w, c int) host {
		v := make([]float32, h*w*c)
		for i := range v {
			v[i] = float32(max(0, r.NormFloat64()+0.3))
		}
		return host{v, []int{1, h, w, c}}
	}
	F, S := mk(12, 10, 16), mk(9, 11, 16)
	opts := losses.DefaultOptions()
	opts.GaussSamples = 64
	opts.GaussExactMax = 64 * 64 // below M = 120: the sampled form of mmd-gauss runs too
	for _, name := range losses.Names {
		loss, err := losses.Style(name, opts)
		if err != nil {
			t.Fatal(err)
		}
		fn := func(in []*graph.Node) []*graph.Node {
			l := loss(in[0], in[1])
			return []*graph.Node{l, graph.Gradient(l, in[0])[0]}
		}
		got := runOn(t, cpuB(), fn, []host{F, S})
		want := runOn(t, refB(), fn, []host{F, S})
		checkClose(t, name+" loss", got[0].([]float32), want[0].([]float32), e2eRel)
		checkClose(t, name+" gradient", got[1].([]float32), want[1].([]float32), e2eRel)
	}
}
