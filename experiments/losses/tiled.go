package losses

import (
	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:staticcheck // GoMLX code reads best with the graph ops unqualified.
)

// Pieces for losses evaluated from statistics accumulated tile by tile (gatys' tiled optimisation): the loss
// is a function of global sums over positions, or of feature vectors gathered from the tiles, and the gradient of
// each tile follows from the gradient with respect to those statistics.

// GaussBandwidthFromMoments is the bandwidth 2σ² of MMDGauss/MMDGaussSampled computed from the first and second
// moments of the generated and the style positions instead of the full maps:
//
//	2σ² = meanSqF + meanSqS − 2 μ_Fᵀμ_S,   meanSq = mean_i ‖f_i‖², μ = mean_i f_i,
//
// meanSqF, meanSqS shaped [1] (or scalars), muF, muS [N]; floored at BandwidthFloor and wrapped in StopGradient
// as in the untiled loss. Result shape [1].
func GaussBandwidthFromMoments(meanSqF, muF, meanSqS, muS *Node) *Node {
	cross := ReduceAllSum(Mul(muF, muS))
	t := Sub(Add(Reshape(meanSqF), Reshape(meanSqS)), MulScalar(cross, 2))
	return Reshape(StopGradient(MaxScalar(t, BandwidthFloor)), 1)
}

// MMDGaussSampledGathered is MMDGaussSampled on positions already gathered: fK [1,K,N] are the generated
// image's features at its K sampled positions, sK [1,K',N] the style image's at its K' positions, twoSigmaSq [1]
// the bandwidth (GaussBandwidthFromMoments, a constant for differentiation):
//
//	(1/(K(K−1))) Σ_{i≠j} k(f_i,f_j) + (1/(K'(K'−1))) Σ_{i≠j} k(s_i,s_j) − (2/(K K')) Σ_ij k(f_i,s_j).
func MMDGaussSampledGathered(fK, sK, twoSigmaSq *Node) *Node {
	return batchMean(mmdUnbiased(fK, sK, gaussKernel(StopGradient(twoSigmaSq))))
}

// TotalVariationSum is the numerator of TotalVariation restricted to the pixel pairs owned by mask: for img
// [1,H,W,C] and a 0/1 mask [1,H,W,1],
//
//	Σ_{h,w,c} m[h,w]·(x[h+1,w,c] − x[h,w,c])² + Σ_{h,w,c} m[h,w]·(x[h,w+1,c] − x[h,w,c])²
//
// over the pairs inside img (a pixel on the last row owns no vertical pair, on the last column no horizontal one).
// With an all-ones mask it is TotalVariation(img)·H·W. The mask is a constant.
func TotalVariationSum(img, mask *Node) *Node {
	checkFeatures(img, "total variation: img")
	d := img.Shape().Dimensions
	mask = StopGradient(ConvertDType(mask, img.DType()))
	loss := ScalarZero(img.Graph(), img.DType())
	if d[1] > 1 {
		m := SliceAxis(mask, 1, AxisRange(0, d[1]-1))
		loss = Add(loss, ReduceAllSum(Mul(Square(neighbourDiff(img, 1)), BroadcastToDims(m, d[0], d[1]-1, d[2], d[3]))))
	}
	if d[2] > 1 {
		m := SliceAxis(mask, 2, AxisRange(0, d[2]-1))
		loss = Add(loss, ReduceAllSum(Mul(Square(neighbourDiff(img, 2)), BroadcastToDims(m, d[0], d[1], d[2]-1, d[3]))))
	}
	return loss
}
