package losses

import (
	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:staticcheck // GoMLX code reads best with the graph ops unqualified.
)

// MeanVarEpsilon is ε in the standard deviation σ = sqrt(mean((x−μ)²) + ε) of MeanVar (the instance-norm value).
const MeanVarEpsilon = 1e-5

// MaskEpsilon is ε in the guide normalisation T/sqrt(mean(T²) + ε) of GramMasked; it keeps an empty (all-zero)
// guide at zero instead of dividing by zero.
const MaskEpsilon = 1e-12

// gramMatrix returns F Fᵀ / M for x [B,M,N] (positions as rows): shape [B,N,N].
func gramMatrix(x *Node) *Node {
	m := x.Shape().Dimensions[1]
	return DivScalar(Einsum("bmi,bmj->bij", x, x), float64(m))
}

// Gram is the Gatys et al. (2016) style loss with size-normalised Gram matrices:
//
//	‖F Fᵀ/M_F − S Sᵀ/M_S‖²_F / (4N²)
//
// where F is N×M_F and S is N×M_S (channels × positions). For M_F = M_S = M this is ‖G − A‖²/(4N²M²), the paper's
// E_l. F and S are [B,H,W,C]; the result is a scalar (the mean over the batch). Cost O(M·N²).
func Gram(F, S *Node) *Node {
	n, _, _, b := checkPair(F, S, "gram")
	gF := gramMatrix(positions(F))
	gS := toBatch(gramMatrix(positions(S)), b)
	perImage := ReduceSum(Square(Sub(gF, gS)), 1, 2)
	return batchMean(DivScalar(perImage, 4*float64(n)*float64(n)))
}

// GramMasked is the guided Gram loss of Gatys et al. (CVPR 2017) for one region r:
//
//	‖(F∘T_F)(F∘T_F)ᵀ/M_F − (S∘T_S)(S∘T_S)ᵀ/M_S‖²_F / (4N²)
//
// i.e. Gram applied to the feature maps multiplied position-wise by their guides. maskF and maskS are guide images
// for the generated and the style image, shaped [B,Hm,Wm,1] (B = 1 or the features' batch) or [Hm,Wm]; each is
// resized bilinearly to its layer's H×W (half-pixel centres, gatys "plain resize", no erosion), then normalised to
// mean square 1 over the positions: T/sqrt(mean(T²) + MaskEpsilon). Guides are constants (StopGradient).
// With all-ones guides GramMasked equals Gram. Several regions are combined by the caller as Σ_r w_r GramMasked(...),
// each region possibly against a different style image.
func GramMasked(F, S, maskF, maskS *Node) *Node {
	checkPair(F, S, "gram-masked")
	return Gram(applyGuide(F, maskF, "maskF"), applyGuide(S, maskS, "maskS"))
}

// applyGuide resizes the guide to x's spatial size, normalises it to mean square 1 and multiplies x by it.
func applyGuide(x, mask *Node, what string) *Node {
	d := x.Shape().Dimensions
	if mask.Rank() == 2 {
		mask = Reshape(mask, 1, mask.Shape().Dimensions[0], mask.Shape().Dimensions[1], 1)
	}
	if mask.Rank() != 4 || mask.Shape().Dimensions[3] != 1 {
		throwf("gram-masked: %s must be a guide image [B,H,W,1] or [H,W], got shape %s", what, mask.Shape())
	}
	if mb := mask.Shape().Dimensions[0]; mb != 1 && mb != d[0] {
		throwf("gram-masked: %s must have batch 1 or the features' batch %d, got shape %s", what, d[0], mask.Shape())
	}
	if mask.DType() != x.DType() {
		mask = ConvertDType(mask, x.DType())
	}
	mask = StopGradient(mask)
	if md := mask.Shape().Dimensions; md[1] != d[1] || md[2] != d[2] {
		mask = Interpolate(mask, -1, d[1], d[2], -1).Bilinear().Done()
	}
	meanSq := ReduceAndKeep(Square(mask), ReduceMean, 1, 2) // [Bm,1,1,1]
	norm := Sqrt(AddScalar(meanSq, MaskEpsilon))
	mask = Div(mask, BroadcastToDims(norm, mask.Shape().Dimensions...))
	mask = BroadcastToDims(mask, d[0], d[1], d[2], d[3])
	return Mul(x, mask)
}

// MMDLinear is MMD² with the linear kernel k(x,y) = xᵀy, divided by N:
//
//	‖μ_F − μ_S‖² / N,   μ = mean over positions of the N-vectors (the per-channel means).
//
// F and S are [B,H,W,C]; the result is a scalar. Cost O(M·N).
func MMDLinear(F, S *Node) *Node {
	_, _, _, b := checkPair(F, S, "mmd-linear")
	muF := channelMeans(positions(F))
	muS := toBatch(channelMeans(positions(S)), b)
	return batchMean(ReduceMean(Square(Sub(muF, muS)), 1))
}

// meanStd returns the per-channel mean μ and biased standard deviation σ = sqrt(mean((x−μ)²) + MeanVarEpsilon) of
// x [B,M,N], each [B,N]. Sqrt (not Rsqrt) keeps the gradient defined on every backend.
func meanStd(x *Node) (mu, sigma *Node) {
	mu = channelMeans(x)
	centred := Sub(x, BroadcastToDims(InsertAxes(mu, 1), x.Shape().Dimensions...))
	variance := ReduceMean(Square(centred), 1)
	return mu, Sqrt(AddScalar(variance, MeanVarEpsilon))
}

// MeanVar is the batch-norm-statistics style loss (Li et al. 2017; the AdaIN style loss of Huang & Belongie
// with squared differences):
//
//	(1/N) Σ_i (μ_F,i − μ_S,i)² + (σ_F,i − σ_S,i)²
//
// with per-channel mean μ and biased standard deviation σ = sqrt(mean_positions((x − μ)²) + ε), ε =
// MeanVarEpsilon. F and S are [B,H,W,C]; the result is a scalar. Cost O(M·N).
func MeanVar(F, S *Node) *Node {
	_, _, _, b := checkPair(F, S, "meanvar")
	muF, sdF := meanStd(positions(F))
	muS, sdS := meanStd(positions(S))
	muS, sdS = toBatch(muS, b), toBatch(sdS, b)
	perChannel := Add(Square(Sub(muF, muS)), Square(Sub(sdF, sdS)))
	return batchMean(ReduceMean(perChannel, 1))
}
