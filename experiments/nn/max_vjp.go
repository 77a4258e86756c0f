package nn

import (
	"sync"

	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/shapes"
)

// stockMaxVJP is GoMLX's own gradient of Max, kept for the cases MaxVJP does not handle and for tests.
var stockMaxVJP graph.VJP

var registerMaxOnce sync.Once

func init() {
	// Package initialisation runs single-threaded before main (see RegisterDotGeneralVJP).
	RegisterMaxVJP()
}

// RegisterMaxVJP installs MaxVJP as the gradient of every Max node in graph.VJPRegistration. It runs at most
// once per process, and the package's init already calls it.
func RegisterMaxVJP() {
	registerMaxOnce.Do(func() {
		stockMaxVJP = graph.VJPRegistration[graph.NodeTypeMax]
		graph.VJPRegistration[graph.NodeTypeMax] = MaxVJP
	})
}

// MaxVJP is the gradient of z = Max(x, c) with c a scalar constant (MaxScalar, hence ReLU = Max(x, 0)): with
// output gradient v,
//
//	∂L/∂x = Where(x ≥ c, v, 0),   no gradient for the constant c,
//
// one comparison and one select. GoMLX's stock gradient computes the same values (x ≥ c, ties included, gets
// the gradient: its indicator is Sign(Sign(x − c) + 1)) through Sub, Sign, Add, Sign, Mul for x, and
// OneMinus, Mul and a full ReduceAllSum for the constant, i.e. seven passes over the tensor instead of two.
// Any other Max (two tensors, a non-constant scalar) uses the stock gradient.
func MaxVJP(node *graph.Node, vjpOutputs []*graph.Node, outputShape shapes.Shape) []*graph.Node {
	in := node.Inputs()
	if len(in) != 2 || len(vjpOutputs) != 1 {
		return stockMaxVJP(node, vjpOutputs, outputShape)
	}
	x, c := in[0], in[1]
	if !c.Shape().IsScalar() || c.Type() != graph.NodeTypeConstant || !x.Shape().Equal(node.Shape()) {
		return stockMaxVJP(node, vjpOutputs, outputShape)
	}
	v := vjpOutputs[0]
	return []*graph.Node{graph.Where(graph.GreaterOrEqual(x, c), v, graph.ScalarZero(node.Graph(), v.DType())), nil}
}

// plainGradients, when set, makes DotGeneralVJP build its gradients the way it did before the layout choice and
// the Gram fusion (order (v, other) plus a transpose, two products for xᵀx); see UseStockGradients.
var plainGradients bool

// UseStockGradients switches, for graphs built from now on, the ReLU (Max) gradient back to GoMLX's stock one
// and DotGeneralVJP back to its plain form (always DotGeneral(v, other) followed by a transpose, two products
// for a Gram matrix), or (on = false) restores the defaults. It returns a function that restores the previous
// state. It exists to measure what the faster gradients save, within one process; it is not safe to call while
// another goroutine builds a gradient.
func UseStockGradients(on bool) (restore func()) {
	RegisterMaxVJP()
	prevMax, prevPlain := graph.VJPRegistration[graph.NodeTypeMax], plainGradients
	if on {
		graph.VJPRegistration[graph.NodeTypeMax] = stockMaxVJP
	} else {
		graph.VJPRegistration[graph.NodeTypeMax] = MaxVJP
	}
	plainGradients = on
	return func() {
		graph.VJPRegistration[graph.NodeTypeMax] = prevMax
		plainGradients = prevPlain
	}
}
