package losses

import (
	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:staticcheck // GoMLX code reads best with the graph ops unqualified.
)

// PerExample evaluates a style loss separately on every example of a batch, each against its own style target:
//
//	out[b] = L(F[b], S[b])     for b < B,   out is [B]
//
// where F[b] is example b of F [B,H,W,C] as a batch of one, and S[b] is example b of S [B,H',W',C] (or S
// itself when S has batch 1, the same target for every example). This is what training a multi-style network
// needs: each example is stylised with its own style, so each is compared with that style's features. It
// works for every loss of Names (each sees exactly the B = 1 inputs it sees in Gatys optimisation, so
// data-driven choices such as the Gaussian bandwidth are per example). Examples are picked with Gather, whose
// gradient works on the pure-Go backend.
func PerExample(L StyleLoss, F, S *Node) *Node {
	_, _, _, b := checkPair(F, S, "per-example")
	g := F.Graph()
	sb := S.Shape().Dimensions[0]
	parts := make([]*Node, b)
	for i := range b {
		fi := Gather(F, Const(g, [][]int32{{int32(i)}}), true)
		si := S
		if sb != 1 {
			si = Gather(S, Const(g, [][]int32{{int32(i)}}), true)
		}
		parts[i] = Reshape(L(fi, si), 1)
	}
	if b == 1 {
		return parts[0]
	}
	return Concatenate(parts, 0)
}

// Batched returns the batched form of a style loss: the mean over the batch of the per-example losses,
//
//	Batched(L)(F, S) = (1/B) Σ_b L(F[b], S[b])
//
// (see PerExample for F[b], S[b]). For B = 1 it is L itself.
func Batched(L StyleLoss) StyleLoss {
	return func(F, S *Node) *Node {
		if F.Shape().Dimensions[0] == 1 {
			return L(F, S)
		}
		return ReduceAllMean(PerExample(L, F, S))
	}
}

// ContentPerExample is the content loss of every example, out[b] = ‖F[b] − P[b]‖²/(N·M), shape [B]
// (the mean of out is Content(F, P)).
func ContentPerExample(F, P *Node) *Node {
	checkFeatures(F, "content: F (generated features)")
	checkFeatures(P, "content: P (content features)")
	if !F.Shape().Equal(P.Shape()) {
		throwf("content: F and P must have the same shape (same image size and layer), got %s and %s",
			F.Shape(), P.Shape())
	}
	return ReduceMean(Square(Sub(F, P)), 1, 2, 3)
}
