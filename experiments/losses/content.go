package losses

import (
	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:staticcheck // GoMLX code reads best with the graph ops unqualified.
)

// Content is the content loss, the mean squared feature difference:
//
//	‖F − P‖² / (N·M)
//
// for F, P [B,H,W,C] of the same shape (with B > 1, the mean over the batch too, i.e. ‖F − P‖²/(B·N·M)).
// It is the paper's ½‖F − P‖² rescaled by 2/(N·M) so that its weight does not depend on the layer's size.
func Content(F, P *Node) *Node {
	checkFeatures(F, "content: F (generated features)")
	checkFeatures(P, "content: P (content features)")
	if !F.Shape().Equal(P.Shape()) {
		throwf("content: F and P must have the same shape (same image size and layer), got %s and %s",
			F.Shape(), P.Shape())
	}
	return ReduceAllMean(Square(Sub(F, P)))
}

// TotalVariation is the squared (L2) total-variation regulariser of an image img [B,H,W,C]:
//
//	( Σ_{b,h,w,c} (x[b,h+1,w,c] − x[b,h,w,c])² + Σ_{b,h,w,c} (x[b,h,w+1,c] − x[b,h,w,c])² ) / (B·H·W)
//
// i.e. the sum of squared differences between vertical and horizontal neighbours (over all channels), divided by
// the number of pixels. The squared form is smooth (its gradient is defined everywhere, unlike |·|) and is what
// jcjohnson/neural-style uses. An axis of size 1 contributes no pairs. The neighbour pairs are picked with Gather,
// not Slice: Slice's gradient needs the "Pad" op, which the pure-Go backend lacks.
func TotalVariation(img *Node) *Node {
	checkFeatures(img, "total variation: img")
	d := img.Shape().Dimensions
	loss := ScalarZero(img.Graph(), img.DType())
	if d[1] > 1 {
		loss = Add(loss, ReduceAllSum(Square(neighbourDiff(img, 1))))
	}
	if d[2] > 1 {
		loss = Add(loss, ReduceAllSum(Square(neighbourDiff(img, 2))))
	}
	return DivScalar(loss, float64(d[0]*d[1]*d[2]))
}

// neighbourDiff returns x[i+1] − x[i] along axis (1 or 2) of x [B,H,W,C], with that axis one shorter; the axis is
// moved to the front, both shifted copies are gathered, and the result is moved back.
func neighbourDiff(x *Node, axis int) *Node {
	perm := []int{axis, 0, 3 - axis, 3} // axis 1: [H,B,W,C]; axis 2: [W,B,H,C]
	xt := TransposeAllAxes(x, perm...)
	n := x.Shape().Dimensions[axis]
	next, prev := make([][]int32, n-1), make([][]int32, n-1)
	for i := range n - 1 {
		next[i], prev[i] = []int32{int32(i + 1)}, []int32{int32(i)}
	}
	g := x.Graph()
	diff := Sub(Gather(xt, Const(g, next), true), Gather(xt, Const(g, prev), true))
	// Move the axes back: inv is the inverse permutation of perm.
	inv := make([]int, 4)
	for i, p := range perm {
		inv[p] = i
	}
	return TransposeAllAxes(diff, inv...)
}
