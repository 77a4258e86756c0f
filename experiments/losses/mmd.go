package losses

import (
	"math"
	"math/rand/v2"

	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:staticcheck // GoMLX code reads best with the graph ops unqualified.
	"github.com/gomlx/gomlx/pkg/core/shapes"
)

// BandwidthFloor is the smallest 2σ² the Gaussian kernel uses; it only matters when every position of F and S is
// the same vector (all distances zero), where it avoids 0/0.
const BandwidthFloor = 1e-12

// kernel is a positional kernel written as k(x,y) = apply(lift_A(x)ᵀ lift_B(y)): each position vector is lifted to
// a few more coordinates so that one matrix product yields the kernel's argument directly, and apply is
// elementwise. Only apply and the reduction touch the M×M matrices, which keeps the (elementwise-bound) cost of
// the kernel-matrix form down: on the pure-Go backend the M² elementwise passes, not the matrix product, dominate.
type kernel struct {
	liftA, liftB func(x *Node) *Node // [B,M,N] → [B,M,N']
	apply        func(z *Node) *Node // elementwise
}

// matrix returns k(a_i, b_j) for a [B,Ma,N] and b [B,Mb,N]: shape [B,Ma,Mb].
func (k kernel) matrix(a, b *Node) *Node {
	return k.apply(Einsum("bmi,bni->bmn", k.liftA(a), k.liftB(b)))
}

// diagonal returns k(a_i, a_i) for a [B,M,N] in O(M·N): shape [B,M].
func (k kernel) diagonal(a *Node) *Node {
	return k.apply(ReduceSum(Mul(k.liftA(a), k.liftB(a)), 2))
}

// appendColumns concatenates columns [B,M,1] to x [B,M,N] along the last axis.
func appendColumns(x *Node, cols ...*Node) *Node {
	return Concatenate(append([]*Node{x}, cols...), 2)
}

// column returns the per-position scalar v [B,M] as a column [B,M,1].
func column(v *Node) *Node { return InsertAxes(v, 2) }

// onesColumn returns a column of ones shaped like x's first two axes: [B,M,1].
func onesColumn(x *Node) *Node {
	d := x.Shape().Dimensions
	return Ones(x.Graph(), shapes.Make(x.DType(), d[0], d[1], 1))
}

// polyKernel returns k(x,y) = (xᵀy + c)^d: the lift appends √c to both vectors (so the product is xᵀy + c) and
// the power is repeated multiplication (d is a small integer).
func polyKernel(d int, c float64) kernel {
	lift := func(x *Node) *Node {
		if c == 0 {
			return x
		}
		return appendColumns(x, MulScalar(onesColumn(x), math.Sqrt(c)))
	}
	return kernel{liftA: lift, liftB: lift, apply: func(z *Node) *Node {
		k := z
		for i := 1; i < d; i++ {
			k = Mul(k, z)
		}
		return k
	}}
}

// gaussKernel returns k(x,y) = exp(−‖x−y‖²/τ) with τ = 2σ² given per image (twoSigmaSq [B]). With
// lift_A(x) = [2x/τ, −‖x‖²/τ, 1] and lift_B(y) = [y, 1, −‖y‖²/τ] the product is (2xᵀy − ‖x‖² − ‖y‖²)/τ =
// −‖x−y‖²/τ, so k = exp(product).
func gaussKernel(twoSigmaSq *Node) kernel {
	perPosition := func(x *Node) *Node { // τ as [B,M,1]
		d := x.Shape().Dimensions
		return BroadcastToDims(Reshape(twoSigmaSq, d[0], 1, 1), d[0], d[1], 1)
	}
	negSqNorm := func(x *Node) *Node { // −‖x‖²/τ as [B,M,1]
		return Neg(Div(column(ReduceSum(Square(x), 2)), perPosition(x)))
	}
	return kernel{
		liftA: func(x *Node) *Node {
			scaled := Div(MulScalar(x, 2), BroadcastToDims(perPosition(x), x.Shape().Dimensions...))
			return appendColumns(scaled, negSqNorm(x), onesColumn(x))
		},
		liftB: func(y *Node) *Node { return appendColumns(y, onesColumn(y), negSqNorm(y)) },
		apply: Exp,
	}
}

// mmdBiased returns the per-image MMD²_b [B] of f [B,M_F,N] and s [B,M_S,N]:
// mean k(f_i,f_j) + mean k(s_i,s_j) − 2 mean k(f_i,s_j), every mean over all pairs including i = j.
func mmdBiased(f, s *Node, k kernel) *Node {
	kFF := ReduceMean(k.matrix(f, f), 1, 2)
	kSS := ReduceMean(k.matrix(s, s), 1, 2)
	kFS := ReduceMean(k.matrix(f, s), 1, 2)
	return Sub(Add(kFF, kSS), MulScalar(kFS, 2))
}

// offDiagonalMean returns the mean of k(a_i, a_j) over the K(K−1) pairs i ≠ j of a [B,K,N]: the full sum minus
// the diagonal (computed in O(K·N)), shape [B].
func offDiagonalMean(a *Node, k kernel) *Node {
	n := a.Shape().Dimensions[1]
	sum := Sub(ReduceSum(k.matrix(a, a), 1, 2), ReduceSum(k.diagonal(a), 1))
	return DivScalar(sum, float64(n)*float64(n-1))
}

// mmdUnbiased returns the per-image U-statistic [B] on sampled position sets f [B,K,N] and s [B,K',N]:
// (1/(K(K−1))) Σ_{i≠j} k(f_i,f_j) + (1/(K'(K'−1))) Σ_{i≠j} k(s_i,s_j) − (2/(K K')) Σ_ij k(f_i,s_j).
func mmdUnbiased(f, s *Node, k kernel) *Node {
	kFF := offDiagonalMean(f, k)
	kSS := offDiagonalMean(s, k)
	kFS := ReduceMean(k.matrix(f, s), 1, 2)
	return Sub(Add(kFF, kSS), MulScalar(kFS, 2))
}

// gatherPositions returns x [B,M,N] at positions idx [K] (int): shape [B,K,N]. Gather is used (not Slice) because
// its gradient works on every backend.
func gatherPositions(x, idx *Node) *Node {
	k := idx.Shape().Dimensions[0]
	xt := TransposeAllAxes(x, 1, 0, 2)       // [M,B,N]
	picked := Gather(xt, Reshape(idx, k, 1)) // [K,B,N]
	return TransposeAllAxes(picked, 1, 0, 2)
}

// checkIndices panics unless idx is an integer vector of at least 2 positions.
func checkIndices(idx *Node, what string) {
	if idx.Rank() != 1 || !idx.DType().IsInt() || idx.Shape().Dimensions[0] < 2 {
		throwf("%s must be an integer vector [K] of sampled positions with K ≥ 2, got shape %s", what, idx.Shape())
	}
}

// SampleIndices draws k positions in [0, m) uniformly with replacement, from a PCG generator seeded with
// (seed, stream) (math/rand/v2): the same arguments give the same indices on every machine. Sampling with
// replacement is what makes the U-statistic of MMDGaussSampled an unbiased estimate of the full-set MMD²_b.
func SampleIndices(seed, stream uint64, m, k int) []int32 {
	if m < 1 || k < 0 {
		throwf("SampleIndices needs m ≥ 1 positions and k ≥ 0 samples, got m=%d k=%d", m, k)
	}
	r := rand.New(rand.NewPCG(seed, stream))
	idx := make([]int32, k)
	for i := range idx {
		idx[i] = int32(r.IntN(m))
	}
	return idx
}

// MMDPoly is the polynomial-kernel style loss of Li et al. (2017), computed in the kernel-matrix form:
//
//	MMD²_b[F,S] / (4N²),  k(x,y) = (xᵀy + c)^d,
//	MMD²_b = (1/M_F²) Σ_ij k(f_i,f_j) + (1/M_S²) Σ_ij k(s_i,s_j) − (2/(M_F M_S)) Σ_ij k(f_i,s_j).
//
// It builds the M_F×M_F, M_S×M_S and M_F×M_S kernel matrices: O(M²·N) time and O(M²) memory, which is the
// point (any kernel works this way) and its limit (Style switches to cheaper forms above Options.GaussExactMax).
// For d = 2, c = 0 it equals Gram exactly (‖FFᵀ/M_F − SSᵀ/M_S‖²_F = MMD²_b), and Gram's O(M·N²) form is the cheap way
// to compute it. For d = 2 and any c, expanding (xᵀy + c)² = (xᵀy)² + 2c xᵀy + c² gives
// MMD²_b = Gram-MMD + 2c‖μ_F − μ_S‖² (the c² terms cancel), i.e. MMDPoly = Gram + 2c‖μ_F − μ_S‖²/(4N²).
// Large d with large features can overflow float32. F and S are [B,H,W,C]; the result is a scalar.
func MMDPoly(F, S *Node, d int, c float64) *Node {
	n, _, _, b := checkPair(F, S, "mmd-poly")
	if d < 1 {
		throwf("mmd-poly: degree d must be ≥ 1, got %d", d)
	}
	perImage := mmdBiased(positions(F), toBatch(positions(S), b), polyKernel(d, c))
	return batchMean(DivScalar(perImage, 4*float64(n)*float64(n)))
}

// polyDegree2ClosedForm is MMDPoly for d = 2 without kernel matrices: Gram + 2c‖μ_F − μ_S‖²/(4N²)
// = Gram + (c/(2N))·MMDLinear, in O(M·N²).
func polyDegree2ClosedForm(F, S *Node, c float64) *Node {
	n, _, _, _ := checkPair(F, S, "mmd-poly")
	loss := Gram(F, S)
	if c != 0 {
		loss = Add(loss, MulScalar(MMDLinear(F, S), c/(2*float64(n))))
	}
	return loss
}

// MMDPolySampled is the unbiased sampled estimate of MMDPoly: the U-statistic of mmd-gauss (see MMDGaussSampled)
// with k(x,y) = (xᵀy + c)^d on the positions idxF of F and idxS of S, divided by 4N². Its expectation over
// positions drawn uniformly with replacement is MMDPoly's value.
func MMDPolySampled(F, S, idxF, idxS *Node, d int, c float64) *Node {
	n, _, _, b := checkPair(F, S, "mmd-poly")
	checkIndices(idxF, "mmd-poly: idxF")
	checkIndices(idxS, "mmd-poly: idxS")
	if d < 1 {
		throwf("mmd-poly: degree d must be ≥ 1, got %d", d)
	}
	f := gatherPositions(positions(F), idxF)
	s := toBatch(gatherPositions(positions(S), idxS), b)
	perImage := mmdUnbiased(f, s, polyKernel(d, c))
	return batchMean(DivScalar(perImage, 4*float64(n)*float64(n)))
}

// gaussTwoSigmaSq returns the bandwidth 2σ² [B] of the Gaussian kernel: the mean squared distance over all
// M_F·M_S pairs (f_i, s_j), computed in O(M·N) from
//
//	mean_ij ‖f_i − s_j‖² = mean_i ‖f_i‖² + mean_j ‖s_j‖² − 2 μ_Fᵀμ_S,
//
// floored at BandwidthFloor and wrapped in StopGradient (a constant for differentiation).
func gaussTwoSigmaSq(f, s *Node) *Node {
	meanSqF := ReduceMean(ReduceSum(Square(f), 2), 1)
	meanSqS := ReduceMean(ReduceSum(Square(s), 2), 1)
	cross := ReduceSum(Mul(channelMeans(f), channelMeans(s)), 1)
	twoSigmaSq := Sub(Add(meanSqF, meanSqS), MulScalar(cross, 2))
	return StopGradient(MaxScalar(twoSigmaSq, BandwidthFloor))
}

// MMDGauss is the Gaussian-kernel style loss of Li et al. (2017), exact (full kernel matrices):
//
//	MMD²_b[F,S],  k(x,y) = exp(−‖x−y‖²/(2σ²)),
//
// with the bandwidth taken from the data: 2σ² = the mean squared distance over all pairs (f_i, s_j) of a generated
// and a style position, mean_i‖f_i‖² + mean_j‖s_j‖² − 2μ_Fᵀμ_S (per image, floored at BandwidthFloor), treated as
// a constant (StopGradient) so it is not itself optimised. This is the rule of the Demystifying reference code
// (1/γ = mean paired squared distance), over all pairs instead of a random sample of pairs.
// Not divided by 4N²: kernel values lie in (0,1] so the loss lies in [0,2].
// Cost O(M²·N) time, O(M²) memory. F and S are [B,H,W,C]; the result is a scalar.
func MMDGauss(F, S *Node) *Node {
	_, _, _, b := checkPair(F, S, "mmd-gauss")
	f, s := positions(F), toBatch(positions(S), b)
	return batchMean(mmdBiased(f, s, gaussKernel(gaussTwoSigmaSq(f, s))))
}

// MMDGaussSampled is the unbiased sampled estimate of MMDGauss on K positions of F (idxF, int [K]) and K' of S
// (idxS, int [K']), K, K' ≥ 2:
//
//	(1/(K(K−1))) Σ_{i≠j} k(f_a_i, f_a_j) + (1/(K'(K'−1))) Σ_{i≠j} k(s_b_i, s_b_j) − (2/(K K')) Σ_ij k(f_a_i, s_b_j)
//
// (MMD²_u: the i = j diagonal terms are excluded) with the bandwidth of MMDGauss computed on the full F and S.
// When the indices are drawn uniformly with replacement (SampleIndices), its expectation is exactly MMDGauss's
// value; a single estimate can be slightly negative. Cost O(K²·N + M·N). The indices may be constants or
// graph parameters (to draw fresh positions each optimisation step); they must lie in [0, M).
func MMDGaussSampled(F, S, idxF, idxS *Node) *Node {
	_, _, _, b := checkPair(F, S, "mmd-gauss")
	checkIndices(idxF, "mmd-gauss: idxF")
	checkIndices(idxS, "mmd-gauss: idxS")
	f, s := positions(F), toBatch(positions(S), b)
	twoSigmaSq := gaussTwoSigmaSq(f, s)
	return batchMean(mmdUnbiased(gatherPositions(f, idxF), gatherPositions(s, idxS), gaussKernel(twoSigmaSq)))
}
