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
