package transformer

import (
	"github.com/gomlx/gomlx/pkg/core/graph"
)

// checkpointResidual returns y = h + f(h, params) whose backward pass recomputes f's activations instead of
// keeping them from the forward pass (activation checkpointing, Chen et al. 2016, "Training deep nets with
// sublinear memory cost").
//
// GoMLX differentiates by building the reverse graph over the forward graph, so every value a VJP needs stays
// alive until the backward pass reaches it. Here the forward value is f(h) built on the same nodes but behind
// StopGradient, so no VJP refers to its internals and they die as soon as the forward pass has used them. The
// gradient reaches h and the parameters through identity nodes with custom gradients, which build — while the
// reverse graph is being built, so the backend schedules them in the backward pass — a second copy f′ of the
// block on h and the parameters and differentiate Σ f′ ⊙ v with respect to them (v = ∂L/∂y, a constant there):
//
//	y          = D_h + StopGradient(f(h, p)) + (t − StopGradient(t)),   t = Σ_i Σ D_{p_i}  (t − t = 0 exactly)
//	∂L/∂h      = v + (∂f/∂h)ᵀ v                          (D_h's gradient)
//	∂L/∂p_i    = (∂f/∂p_i)ᵀ v                             (D_{p_i}'s gradient; the Σ v it receives is ignored)
//
// D_h is created after every D_{p_i}, so the reverse pass (which visits nodes from the last created to the
// first) calls its gradient first; that one computes all the gradients of f′ and hands the parameters' to
// theirs. The values are those of h + f(h): y's forward value does not depend on the carriers.
func checkpointResidual(h *graph.Node, params []*graph.Node, f func(h *graph.Node, p []*graph.Node) *graph.Node) *graph.Node {
	var paramGrads []*graph.Node // filled by D_h's gradient
	carriers := make([]*graph.Node, len(params))
	for i, p := range params {
		i := i
		carriers[i] = graph.IdentityWithCustomGradient(p, func(_, _ *graph.Node) *graph.Node {
			if paramGrads == nil {
				panic("transformer: checkpointed residual block: a parameter's gradient was asked before the block's (GoMLX visits nodes in another order than this code assumes)")
			}
			return paramGrads[i]
		})
	}
	dh := graph.IdentityWithCustomGradient(h, func(x, v *graph.Node) *graph.Node {
		recomputed := f(h, params)
		grads := graph.Gradient(graph.ReduceAllSum(graph.Mul(recomputed, graph.StopGradient(v))), append([]*graph.Node{h}, params...)...)
		paramGrads = grads[1:]
		return graph.Add(v, grads[0])
	})
	y := graph.Add(dh, graph.StopGradient(f(h, params)))
	var t *graph.Node
	for _, c := range carriers {
		s := graph.ReduceAllSum(c)
		if t == nil {
			t = s
		} else {
			t = graph.Add(t, s)
		}
	}
	if t == nil {
		return y
	}
	zero := graph.Sub(t, graph.StopGradient(t))
	return graph.Add(y, graph.ConvertDType(zero, y.DType()))
}
