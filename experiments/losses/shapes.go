package losses

import (
	"fmt"

	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:staticcheck // GoMLX code reads best with the graph ops unqualified.
)

// throwf panics with an error; GoMLX graph builders report problems by panicking and graph.Exec returns the
// panic as an error.
func throwf(format string, args ...any) {
	panic(fmt.Errorf("losses: "+format, args...))
}

// checkFeatures panics unless x is a [B,H,W,C] float feature map; what names the argument in the message.
func checkFeatures(x *Node, what string) {
	if x.Rank() != 4 {
		throwf("%s must be a [B,H,W,C] feature map (rank 4), got shape %s", what, x.Shape())
	}
	if !x.DType().IsFloat() {
		throwf("%s must have a float dtype, got %s", what, x.DType())
	}
}

// checkPair validates F and S for a style loss and returns N (channels), M_F, M_S and F's batch size B.
// S must have F's dtype and channel count, and a batch of 1 or B.
func checkPair(F, S *Node, loss string) (n, mF, mS, b int) {
	checkFeatures(F, loss+": F (generated features)")
	checkFeatures(S, loss+": S (style features)")
	fd, sd := F.Shape().Dimensions, S.Shape().Dimensions
	if F.DType() != S.DType() {
		throwf("%s: F and S must share a dtype, got %s and %s", loss, F.DType(), S.DType())
	}
	if fd[3] != sd[3] {
		throwf("%s: F and S must come from the same layer (same channel count), got shapes %s and %s",
			loss, F.Shape(), S.Shape())
	}
	if sd[0] != 1 && sd[0] != fd[0] {
		throwf("%s: S must have batch 1 (broadcast) or F's batch %d, got shape %s", loss, fd[0], S.Shape())
	}
	return fd[3], fd[1] * fd[2], sd[1] * sd[2], fd[0]
}

// positions reshapes a [B,H,W,C] feature map to [B, M=H·W, N=C]: row m is the N-vector at position m.
func positions(x *Node) *Node {
	d := x.Shape().Dimensions
	return Reshape(x, d[0], d[1]*d[2], d[3])
}

// toBatch broadcasts x, whose leading axis is 1 or b, to a leading axis of b.
func toBatch(x *Node, b int) *Node {
	if x.Shape().Dimensions[0] == b {
		return x
	}
	dims := append([]int{b}, x.Shape().Dimensions[1:]...)
	return BroadcastToDims(x, dims...)
}

// channelMeans returns μ, the mean over positions of x [B,M,N]: shape [B,N].
func channelMeans(x *Node) *Node {
	return ReduceMean(x, 1)
}

// batchMean reduces a per-image loss [B] to the scalar loss.
func batchMean(perImage *Node) *Node {
	return ReduceAllMean(perImage)
}
