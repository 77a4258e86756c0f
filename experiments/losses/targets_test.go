package losses

import (
	"strings"
	"testing"

	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:staticcheck // GoMLX code reads best with the graph ops unqualified.
	"github.com/gomlx/gomlx/pkg/core/tensors"
)

// TestPreparedEqualsStyle: for every style loss, Loss(F, Target(S)) with the target computed in a separate
// graph (as a run does, once) equals Style(name)(F, S) in one graph, and so does its gradient w.r.t. F; in
// float64, with M_F ≠ M_S, and small enough that the MMD losses take their exact kernel form.
func TestPreparedEqualsStyle(t *testing.T) {
	f, s := standardPair(41)
	for _, name := range Names {
		loss, err := Style(name, DefaultOptions())
		if err != nil {
			t.Fatal(err)
		}
		p, ok, err := StylePrepared(name, DefaultOptions())
		if err != nil {
			t.Fatal(err)
		}
		if ok != (name == "gram" || name == "meanvar" || name == "mmd-linear") {
			t.Errorf("%s: prepared = %v", name, ok)
		}
		if !ok {
			continue
		}
		targets := execN(t, func(in []*Node) []*Node { return p.Target(in[0]) }, s.tensor())
		direct := execN(t, func(in []*Node) []*Node {
			l := loss(in[0], in[1])
			return []*Node{l, Gradient(l, in[0])[0]}
		}, f.tensor(), s.tensor())
		prepared := execN(t, func(in []*Node) []*Node {
			l := p.Loss(in[0], in[1:])
			return []*Node{l, Gradient(l, in[0])[0]}
		}, append([]*tensors.Tensor{f.tensor()}, targets...)...)
		assertRel(t, name+" prepared loss", scalarOf(t, prepared[0]), scalarOf(t, direct[0]), 1e-12)
		gd, gp := flat64(direct[1]), flat64(prepared[1])
		for i := range gd {
			if relErr(gp[i], gd[i]) > 1e-9 && abs(gp[i]-gd[i]) > 1e-15 {
				t.Errorf("%s: gradient[%d] = %g, want %g", name, i, gp[i], gd[i])
				break
			}
		}
	}
	if _, _, err := StylePrepared("nope", DefaultOptions()); err == nil {
		t.Error("unknown loss: want an error")
	}
}

// TestPreparedTargetShapeChecked: a target from another layer (other channel count) is refused with a message.
func TestPreparedTargetShapeChecked(t *testing.T) {
	f, _ := standardPair(42)
	other := randFeat(testRNG(43), 5, 5, 4)
	p, _, _ := StylePrepared("gram", DefaultOptions())
	targets := execN(t, func(in []*Node) []*Node { return p.Target(in[0]) }, other.tensor())
	_, err := ExecOnce(backend(t), func(F, A *Node) *Node { return p.Loss(F, []*Node{A}) }, f.tensor(), targets[0])
	if err == nil || !strings.Contains(err.Error(), "same layer") {
		t.Errorf("target from another layer: err = %v, want one saying it must come from the same layer", err)
	}
}

// execN builds fn on the test backend and executes it once on args.
func execN(t *testing.T, fn func([]*Node) []*Node, args ...*tensors.Tensor) []*tensors.Tensor {
	t.Helper()
	e, err := NewExec(backend(t), fn)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Finalize()
	in := make([]any, len(args))
	for i, a := range args {
		in[i] = a
	}
	out, err := e.Exec(in...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func flat64(x *tensors.Tensor) []float64 {
	var out []float64
	tensors.ConstFlatData(x, func(v []float64) { out = append(out, v...) })
	return out
}

func abs(x float64) float64 {
	if x < 0 {
		return -x
	}
	return x
}
