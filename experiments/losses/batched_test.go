package losses

import (
	"math"
	"testing"

	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:staticcheck
	"github.com/gomlx/gomlx/pkg/core/tensors"
)

// stack joins B feature maps of one size into a [B,H,W,N] float64 tensor.
func stack(fs ...feat) *tensors.Tensor {
	var data []float64
	for _, f := range fs {
		data = append(data, f.data...)
	}
	return tensors.FromFlatDataAndDimensions(data, len(fs), fs[0].h, fs[0].w, fs[0].n)
}

// The batched loss of B = 3 examples, each against its own style target, equals the mean of the three B = 1
// losses computed in separate graphs; with a style batch of 1 every example is compared with that one target.
// Checked for every registered loss (the exact kernel forms at these sizes).
func TestBatchedEqualsMeanOfPerExampleLosses(t *testing.T) {
	r := testRNG(31)
	fs := []feat{randFeat(r, 6, 6, 8), randFeat(r, 6, 6, 8), randFeat(r, 6, 6, 8)}
	ss := []feat{randFeat(r, 5, 5, 8), randFeat(r, 5, 5, 8), randFeat(r, 5, 5, 8)}
	for _, name := range Names {
		t.Run(name, func(t *testing.T) {
			L, err := Style(name, DefaultOptions())
			if err != nil {
				t.Fatal(err)
			}
			want, want0 := 0.0, 0.0
			for b := range fs {
				want += eval(t, L, fs[b].tensor(), ss[b].tensor()) / 3
				want0 += eval(t, L, fs[b].tensor(), ss[0].tensor()) / 3
			}
			got := eval(t, Batched(L), stack(fs...), stack(ss...))
			assertRel(t, name+" per-example targets", got, want, 1e-12)
			got0 := eval(t, Batched(L), stack(fs...), ss[0].tensor())
			assertRel(t, name+" one target", got0, want0, 1e-12)
			// The per-example losses themselves, in order.
			out, err := ExecOnce(backend(t), func(F, S *Node) *Node { return PerExample(L, F, S) }, stack(fs...), stack(ss...))
			if err != nil {
				t.Fatal(err)
			}
			per := out.Value().([]float64)
			for b := range fs {
				assertRel(t, name+" example", per[b], eval(t, L, fs[b].tensor(), ss[b].tensor()), 1e-12)
			}
		})
	}
}

// The gradient of the batched loss with respect to the generated features matches central finite
// differences of the batched value, for every registered loss.
func TestBatchedGradientAgainstFiniteDifferences(t *testing.T) {
	r := testRNG(32)
	f := feat{h: 4, w: 4, n: 6}
	for range 2 {
		f.data = append(f.data, randFeat(r, 4, 4, 6).data...)
	}
	s0, s1 := randFeat(r, 3, 3, 6), randFeat(r, 3, 3, 6)
	ss := stack(s0, s1)
	// The Gaussian bandwidth is a StopGradient constant computed from the data, so the finite differences use
	// the loss with each example's bandwidth fixed at its value at f (as the package's own gradient test does).
	ex := func(b int) feat { return feat{h: 4, w: 4, n: 6, data: f.data[b*96 : (b+1)*96]} }
	bws := []float64{refBandwidth(ex(0), s0), refBandwidth(ex(1), s1)}
	batch := func(x feat) *tensors.Tensor { return tensors.FromFlatDataAndDimensions(x.data, 2, 4, 4, 6) }
	for _, name := range Names {
		t.Run(name, func(t *testing.T) {
			L, err := Style(name, DefaultOptions())
			if err != nil {
				t.Fatal(err)
			}
			if name == "mmd-gauss" {
				calls := 0 // PerExample calls L for examples 0, 1 in order
				L = func(F, S *Node) *Node {
					bw := Const(F.Graph(), []float64{bws[calls%2]})
					calls++
					return ReduceAllMean(mmdBiased(positions(F), positions(S), gaussKernel(bw)))
				}
			}
			BL := Batched(L)
			exec, err := NewExec(backend(t), func(F, S *Node) (*Node, *Node) {
				l := BL(F, S)
				return l, Gradient(l, F)[0]
			})
			if err != nil {
				t.Fatal(err)
			}
			defer exec.Finalize()
			outs, err := exec.Exec(batch(f), ss)
			if err != nil {
				t.Fatal(err)
			}
			var grad []float64
			tensors.ConstFlatData(outs[1], func(v []float64) { grad = append(grad, v...) })
			value := func(x feat) float64 {
				o, err := exec.Exec(batch(x), ss)
				if err != nil {
					t.Fatal(err)
				}
				return scalarOf(t, o[0])
			}
			if v := scalarOf(t, outs[0]); math.IsNaN(v) || v <= 0 {
				t.Fatalf("batched %s = %g, want a positive value", name, v)
			}
			gradCheck(t, "batched "+name, grad, value, f, 40)
		})
	}
}
