package transformer

import (
	"testing"

	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

// valueAndGrads returns, flattened, the network's output on img and the gradients of L = Σ y ⊙ r (r a fixed
// pseudo-random tensor) with respect to the input and every variable, built with the given options.
func valueAndGrads(t *testing.T, ctx *context.Context, a Arch, img *tensors.Tensor, w [][]float32, o Options) [][]float32 {
	t.Helper()
	var names []string
	for _, l := range a.Layers() {
		names = append(names, l.Name+"/kernel")
		if a.TorchExamples() {
			names = append(names, l.Name+"/bias")
		}
		if a.Normed(l) {
			names = append(names, l.Name+"/gamma", l.Name+"/beta")
		}
	}
	r := randImage(99, img.Shape().Dimensions[0], img.Shape().Dimensions[1], img.Shape().Dimensions[2])
	e, err := context.NewExec(testBackend(t), ctx, func(ctx *context.Context, x, w, r *graph.Node) []*graph.Node {
		y := ApplyWith(ctx, a, x, w, o)
		wrt := []*graph.Node{x}
		for _, l := range a.Layers() {
			for _, n := range []string{"kernel", "bias", "gamma", "beta"} {
				if v := ctx.In(Scope).In(l.Name).GetVariable(n); v != nil {
					wrt = append(wrt, v.ValueGraph(x.Graph()))
				}
			}
		}
		return append([]*graph.Node{y}, graph.Gradient(graph.ReduceAllSum(graph.Mul(y, r)), wrt...)...)
	})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Finalize()
	outs, err := e.Exec(img, w, r)
	if err != nil {
		t.Fatal(err)
	}
	if len(outs) != 2+len(names) {
		t.Fatalf("%d outputs for %d variables", len(outs), len(names))
	}
	res := make([][]float32, len(outs))
	for i, out := range outs {
		tensors.ConstFlatData(out, func(v []float32) { res[i] = append([]float32(nil), v...) })
	}
	return res
}

// TestCheckpointActivations: with CheckpointActivations the network computes the same output and the same
// gradients with respect to its input and every variable (the recomputed block is the same graph, so the
// same arithmetic: equal to float32 rounding of the sums' order), for CIN with several styles and residual
// blocks, and for the pytorch-examples flavour (biases, no norm on "out").
func TestCheckpointActivations(t *testing.T) {
	for _, a := range []Arch{{Styles: 3, Width: 0.125, ResBlocks: 2}, {Styles: 1, Width: 0.125, ResBlocks: 1, Flavour: FlavourTorchExamples}} {
		ctx := context.New()
		if err := Init(ctx, a, 7); err != nil {
			t.Fatal(err)
		}
		if !a.TorchExamples() {
			perturb(t, ctx, a, 3)
		}
		img := randImage(5, 2, 16, 16)
		w := make([][]float32, 2)
		for i := range w {
			w[i] = make([]float32, a.Styles)
			w[i][i%a.Styles] = 1
		}
		plain := valueAndGrads(t, ctx, a, img, w, Options{})
		ckpt := valueAndGrads(t, ctx, a, img, w, Options{CheckpointActivations: true})
		for i := range plain {
			scale := 0.0
			for _, v := range plain[i] {
				scale = max(scale, float64(abs32(v)))
			}
			if d := maxDiff(plain[i], ckpt[i]); d > 1e-5*max(scale, 1e-3) || len(plain[i]) != len(ckpt[i]) {
				t.Errorf("arch %+v output %d: max difference %g (scale %g)", a, i, d, scale)
			}
			if scale == 0 && i > 0 {
				t.Errorf("arch %+v gradient %d is zero: the test would not see a missing gradient", a, i)
			}
		}
	}
}

func abs32(v float32) float32 {
	if v < 0 {
		return -v
	}
	return v
}
