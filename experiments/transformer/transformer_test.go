package transformer

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/stylelab/stylelab/backends/backend"
)

func testBackend(t testing.TB) backends.Backend {
	b, _, err := backend.New()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

var tiny = Arch{Styles: 3, Width: 0.125, ResBlocks: 1}

// perturb gives every γ and β of the context random values, so that styles differ.
func perturb(t testing.TB, ctx *context.Context, a Arch, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 1))
	for _, l := range a.Layers() {
		for _, name := range []string{"gamma", "beta"} {
			v := ctx.In(Scope).In(l.Name).GetVariable(name)
			vals := make([]float32, a.Styles*l.Out)
			for i := range vals {
				vals[i] = float32(rng.NormFloat64()*0.5) + map[string]float32{"gamma": 1, "beta": 0}[name]
			}
			v.MustSetValue(tensors.FromFlatDataAndDimensions(vals, a.Styles, l.Out))
		}
	}
}

// row copies style rows mixed by mix (Σ mix_s · row_s, in float64 then float32) of every γ, β from src into a
// single-style context.
func mixedSingle(t testing.TB, src *context.Context, a Arch, mix []float64) *context.Context {
	one := Arch{Styles: 1, Width: a.Width, ResBlocks: a.ResBlocks}
	ctx := context.New()
	if err := Init(ctx, one, 1); err != nil {
		t.Fatal(err)
	}
	for _, l := range a.Layers() {
		k, err := src.In(Scope).In(l.Name).GetVariable("kernel").MustValue().LocalClone()
		if err != nil {
			t.Fatal(err)
		}
		ctx.In(Scope).In(l.Name).GetVariable("kernel").MustSetValue(k)
		for _, name := range []string{"gamma", "beta"} {
			full := src.In(Scope).In(l.Name).GetVariable(name).MustValue().Value().([][]float32)
			row := make([]float32, l.Out)
			for c := range row {
				s := float32(0)
				for k, w := range mix {
					s += float32(w) * full[k][c]
				}
				row[c] = s
			}
			ctx.In(Scope).In(l.Name).GetVariable(name).MustSetValue(tensors.FromFlatDataAndDimensions(row, 1, l.Out))
		}
	}
	return ctx
}

func flat(t testing.TB, ctx *context.Context, a Arch, img *tensors.Tensor, w [][]float32) []float32 {
	t.Helper()
	e, err := context.NewExec(testBackend(t), ctx, func(ctx *context.Context, x, w *graph.Node) *graph.Node {
		return Apply(ctx, a, x, w)
	})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Finalize()
	out, err := e.Exec(img, w)
	if err != nil {
		t.Fatal(err)
	}
	var f []float32
	tensors.ConstFlatData(out[0], func(v []float32) { f = append(f, v...) })
	return f
}

func randImage(seed uint64, b, h, w int) *tensors.Tensor {
	rng := rand.New(rand.NewPCG(seed, 2))
	v := make([]float32, b*h*w*3)
	for i := range v {
		v[i] = rng.Float32()
	}
	return tensors.FromFlatDataAndDimensions(v, b, h, w, 3)
}

func maxDiff(a, b []float32) float64 {
	m := 0.0
	for i := range a {
		m = math.Max(m, math.Abs(float64(a[i]-b[i])))
	}
	return m
}

// CIN with the one-hot vector of style k equals the single-style network (instance norm) holding style k's
// γ and β: bit for bit, since one-hot mixing multiplies by exactly 1 and 0.
func TestCINOneHotEqualsInstanceNorm(t *testing.T) {
	ctx := context.New()
	if err := Init(ctx, tiny, 7); err != nil {
		t.Fatal(err)
	}
	perturb(t, ctx, tiny, 3)
	img := randImage(1, 2, 32, 32)
	var outs [][]float32
	for k := range tiny.Styles {
		mix := make([]float64, tiny.Styles)
		mix[k] = 1
		cin := flat(t, ctx, tiny, img, OneHot(2, tiny.Styles, k))
		in := flat(t, mixedSingle(t, ctx, tiny, mix), Arch{Styles: 1, Width: tiny.Width, ResBlocks: tiny.ResBlocks}, img, [][]float32{{1}, {1}})
		if d := maxDiff(cin, in); d != 0 {
			t.Errorf("style %d: CIN one-hot differs from instance norm with the style's γ, β by %g", k, d)
		}
		outs = append(outs, cin)
	}
	if d := maxDiff(outs[0], outs[1]); d < 1e-3 {
		t.Errorf("styles 0 and 1 give nearly the same output (max diff %g): the test would not see a wrong row", d)
	}
}

// A 50/50 mix equals the network whose γ, β are the mean of the two styles' (mixing inside the net), and
// differs from the mean of the two stylised outputs.
func TestMixIsInsideTheNetwork(t *testing.T) {
	ctx := context.New()
	if err := Init(ctx, tiny, 7); err != nil {
		t.Fatal(err)
	}
	perturb(t, ctx, tiny, 4)
	img := randImage(2, 1, 32, 32)
	mixed := flat(t, ctx, tiny, img, [][]float32{{0.5, 0.5, 0}})
	mean := flat(t, mixedSingle(t, ctx, tiny, []float64{0.5, 0.5, 0}), Arch{Styles: 1, Width: tiny.Width, ResBlocks: tiny.ResBlocks}, img, [][]float32{{1}})
	if d := maxDiff(mixed, mean); d > 1e-6 {
		t.Errorf("50/50 mix differs from the net with mean γ, β by %g", d)
	}
	a := flat(t, ctx, tiny, img, OneHot(1, 3, 0))
	b := flat(t, ctx, tiny, img, OneHot(1, 3, 1))
	avg := make([]float32, len(a))
	for i := range a {
		avg[i] = (a[i] + b[i]) / 2
	}
	if d := maxDiff(mixed, avg); d < 1e-3 {
		t.Errorf("the mix equals the mean of the outputs (max diff %g): mixing must happen inside the net", d)
	}
}

func TestShapesAndErrors(t *testing.T) {
	shared, per := Paper(1).ParamCounts()
	// 9·9·3·32 + 9·32·64 + 9·64·128 + 10·9·128·128 + 9·128·64 + 9·64·32 + 9·9·32·3
	if want := 7776 + 18432 + 73728 + 1474560 + 73728 + 18432 + 7776; shared != want {
		t.Errorf("paper network: %d shared weights, want %d", shared, want)
	}
	if want := 2 * (32 + 64 + 128 + 10*128 + 64 + 32 + 3); per != want {
		t.Errorf("paper network: %d values per style, want %d", per, want)
	}
	if err := CheckSize(30, 32); err == nil {
		t.Error("30 px accepted")
	}
	if err := (Arch{Styles: 0, Width: 1}).Validate(); err == nil {
		t.Error("0 styles accepted")
	}
	ctx := context.New()
	if err := Init(ctx, tiny, 1); err != nil {
		t.Fatal(err)
	}
	out := flat(t, ctx, tiny, randImage(3, 1, 16, 20), OneHot(1, 3, 2))
	if len(out) != 16*20*3 {
		t.Fatalf("output has %d values, want %d", len(out), 16*20*3)
	}
	for _, v := range out {
		if !(v > 0 && v < 1) {
			t.Fatalf("output %g outside (0,1)", v)
		}
	}
}
