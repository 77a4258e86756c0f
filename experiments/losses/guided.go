package losses

import (
	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:staticcheck // GoMLX code reads best with the graph ops unqualified.
)

// Guided (spatially controlled) style losses, Gatys et al. (CVPR 2017). A guide t ≥ 0 over the generated image's
// positions at one layer ([1 or B, H, W, 1], already at the layer's H×W, e.g. a region mask resized to it) turns
// the generated features' empirical distribution (1/M_F) Σ_m δ(f_m) into the weighted one Σ_m a_m δ(f_m) with
//
//	a_m = t_m² / Σ_m' t_m'²
//
// which is what normalising the guide to mean square 1 (t̂ = t/sqrt(mean t²)) and multiplying the features by it
// does to the Gram matrix: (F∘T̂)(F∘T̂)ᵀ/M_F = Σ_m a_m f_m f_mᵀ (the paper's guided Gram; GramMasked). Every style
// loss is then its unguided formula with the generated side's statistics taken under a (the style side, a whole
// style image, is unweighted; per-region style images are the caller's choice of S):
//
//	gram        ‖Σ_m a_m f_m f_mᵀ − S Sᵀ/M_S‖²_F / (4N²)
//	mmd-linear  ‖μ_a − μ_S‖² / N,                      μ_a = Σ_m a_m f_m
//	meanvar     (1/N) Σ_i (μ_a,i − μ_S,i)² + (σ_a,i − σ_S,i)²,   σ_a,i = sqrt(Σ_m a_m (f_m,i − μ_a,i)² + ε)
//	mmd-poly    [Σ_ij a_i a_j k(f_i,f_j) + (1/M_S²) Σ_ij k(s_i,s_j) − (2/M_S) Σ_ij a_i k(f_i,s_j)] / (4N²)
//	mmd-gauss   the same bracket with the Gaussian kernel, whose bandwidth 2σ² = Σ_i a_i‖f_i‖² + mean_j‖s_j‖² − 2μ_aᵀμ_S
//
// For mmd-poly with d = 2 above GaussExactMax the closed form is used (weighted gram + c/(2N)·weighted
// mmd-linear, the same identity as unguided). Where the loss samples positions (Sampled), the estimator is the
// importance-weighted U-statistic with u_i = M_F·a_{idxF_i} (positions still drawn uniformly):
//
//	(1/(K(K−1))) Σ_{i≠j} u_i u_j k(f_i,f_j) + (1/(K'(K'−1))) Σ_{i≠j} k(s_i,s_j) − (2/(K K')) Σ_ij u_i k(f_i,s_j)
//
// whose expectation is the exact guided value. With a constant guide a_m = 1/M_F (u_i = 1) and every guided loss
// equals its unguided one: a region covering the whole image changes nothing. An all-zero guide (an empty region)
// gives NaN weights; callers must reject empty regions before building the graph.

// StyleGuidedLossAt is a guided style loss: F [B,H,W,C], S [1 or B,H',W',C], guide [1 or B,H,W,1] (F's H×W, a
// constant: StopGradient is applied), and the sampled positions as in StyleLossAt.
type StyleGuidedLossAt func(F, S, guide, idxF, idxS *Node) *Node

// StyleGuidedAt returns the guided form of the style loss registered under name (see the formulas above),
// choosing exact, closed or sampled forms exactly as StyleAt does.
func StyleGuidedAt(name string, o Options) (StyleGuidedLossAt, error) {
	if _, err := StyleAt(name, o); err != nil {
		return nil, err
	}
	o = o.WithDefaults()
	switch name {
	case "gram":
		return func(F, S, t, _, _ *Node) *Node {
			checkPair(F, S, "gram")
			return gramWeighted(F, guideWeights(F, t), gramMatrix(positions(S)))
		}, nil
	case "mmd-linear":
		return func(F, S, t, _, _ *Node) *Node {
			checkPair(F, S, "mmd-linear")
			return mmdLinearWeighted(F, guideWeights(F, t), channelMeans(positions(S)))
		}, nil
	case "meanvar":
		return func(F, S, t, _, _ *Node) *Node {
			checkPair(F, S, "meanvar")
			mu, sd := meanStd(positions(S))
			return meanVarWeighted(F, guideWeights(F, t), mu, sd)
		}, nil
	case "mmd-poly":
		return func(F, S, t, idxF, idxS *Node) *Node {
			n, mF, mS, b := checkPair(F, S, "mmd-poly")
			a := guideWeights(F, t)
			f, s := positions(F), toBatch(positions(S), b)
			k := polyKernel(o.PolyDegree, o.PolyC)
			var per *Node
			switch {
			case fitsExact(mF, mS, o.GaussExactMax):
				per = mmdWeighted(f, s, a, k)
			case o.PolyDegree == 2:
				loss := gramWeighted(F, a, gramMatrix(positions(S)))
				if o.PolyC != 0 {
					loss = Add(loss, MulScalar(mmdLinearWeighted(F, a, channelMeans(positions(S))), o.PolyC/(2*float64(n))))
				}
				return loss
			default:
				checkIndices(idxF, "mmd-poly: idxF")
				checkIndices(idxS, "mmd-poly: idxS")
				per = mmdWeightedSampled(f, s, a, idxF, idxS, k)
			}
			return batchMean(DivScalar(per, 4*float64(n)*float64(n)))
		}, nil
	case "mmd-gauss":
		return func(F, S, t, idxF, idxS *Node) *Node {
			_, mF, mS, b := checkPair(F, S, "mmd-gauss")
			a := guideWeights(F, t)
			f, s := positions(F), toBatch(positions(S), b)
			k := gaussKernel(gaussTwoSigmaSqWeighted(f, s, a))
			if fitsExact(mF, mS, o.GaussExactMax) {
				return batchMean(mmdWeighted(f, s, a, k))
			}
			checkIndices(idxF, "mmd-gauss: idxF")
			checkIndices(idxS, "mmd-gauss: idxS")
			return batchMean(mmdWeightedSampled(f, s, a, idxF, idxS, k))
		}, nil
	}
	return nil, nil // unreachable: StyleAt rejected the name
}

// guidedPrepared returns the guided loss against prepared targets for the losses that have them.
func guidedPrepared(name string) func(F, guide *Node, t []*Node) *Node {
	switch name {
	case "gram":
		return func(F, g *Node, t []*Node) *Node { return gramWeighted(F, guideWeights(F, g), t[0]) }
	case "mmd-linear":
		return func(F, g *Node, t []*Node) *Node { return mmdLinearWeighted(F, guideWeights(F, g), t[0]) }
	case "meanvar":
		return func(F, g *Node, t []*Node) *Node { return meanVarWeighted(F, guideWeights(F, g), t[0], t[1]) }
	}
	return nil
}

// guideWeights returns a = t²/Σt² over F's positions: [B, M].
func guideWeights(F, t *Node) *Node {
	checkFeatures(F, "guided loss: F (generated features)")
	d := F.Shape().Dimensions
	if t.Rank() != 4 || t.Shape().Dimensions[3] != 1 || t.Shape().Dimensions[1] != d[1] || t.Shape().Dimensions[2] != d[2] ||
		(t.Shape().Dimensions[0] != 1 && t.Shape().Dimensions[0] != d[0]) {
		throwf("guided loss: the guide must be [1 or %d, %d, %d, 1] (the layer's size), got %s", d[0], d[1], d[2], t.Shape())
	}
	if t.DType() != F.DType() {
		t = ConvertDType(t, F.DType())
	}
	t = StopGradient(t)
	sq := Reshape(Square(t), t.Shape().Dimensions[0], d[1]*d[2])
	a := Div(sq, BroadcastToDims(ReduceAndKeep(sq, ReduceSum, 1), sq.Shape().Dimensions...))
	return toBatch(a, d[0])
}

// weighted returns f [B,M,N] with each row scaled by a [B,M].
func weighted(f, a *Node) *Node {
	return Mul(f, BroadcastToDims(InsertAxes(a, 2), f.Shape().Dimensions...))
}

func gramWeighted(F, a, A *Node) *Node {
	d := F.Shape().Dimensions
	n, b := d[3], d[0]
	checkTarget(F, A, "gram", n, n)
	f := positions(F)
	gF := Einsum("bmi,bmj->bij", weighted(f, a), f)
	perImage := ReduceSum(Square(Sub(gF, toBatch(A, b))), 1, 2)
	return batchMean(DivScalar(perImage, 4*float64(n)*float64(n)))
}

func weightedMean(f, a *Node) *Node { return ReduceSum(weighted(f, a), 1) }

func mmdLinearWeighted(F, a, muS *Node) *Node {
	d := F.Shape().Dimensions
	checkTarget(F, muS, "mmd-linear", d[3])
	muF := weightedMean(positions(F), a)
	return batchMean(ReduceMean(Square(Sub(muF, toBatch(muS, d[0]))), 1))
}

func meanVarWeighted(F, a, muS, sdS *Node) *Node {
	d := F.Shape().Dimensions
	checkTarget(F, muS, "meanvar", d[3])
	checkTarget(F, sdS, "meanvar", d[3])
	f := positions(F)
	muF := weightedMean(f, a)
	centred := Sub(f, BroadcastToDims(InsertAxes(muF, 1), f.Shape().Dimensions...))
	sdF := Sqrt(AddScalar(weightedMean(Square(centred), a), MeanVarEpsilon))
	perChannel := Add(Square(Sub(muF, toBatch(muS, d[0]))), Square(Sub(sdF, toBatch(sdS, d[0]))))
	return batchMean(ReduceMean(perChannel, 1))
}

// mmdWeighted is the bracket of the guided MMD: Σ_ij a_i a_j k(f_i,f_j) + mean k(s,s) − 2 Σ_i a_i mean_j k(f_i,s_j), [B].
func mmdWeighted(f, s, a *Node, k kernel) *Node {
	outer := Einsum("bm,bn->bmn", a, a)
	kFF := ReduceSum(Mul(k.matrix(f, f), outer), 1, 2)
	kSS := ReduceMean(k.matrix(s, s), 1, 2)
	kFS := ReduceSum(Mul(ReduceMean(k.matrix(f, s), 2), a), 1)
	return Sub(Add(kFF, kSS), MulScalar(kFS, 2))
}

// mmdWeightedSampled is the importance-weighted U-statistic (see the formulas above), [B].
func mmdWeightedSampled(f, s, a, idxF, idxS *Node, k kernel) *Node {
	mF := f.Shape().Dimensions[1]
	fs := gatherPositions(f, idxF)
	ss := gatherPositions(s, idxS)
	u := MulScalar(Squeeze(gatherPositions(InsertAxes(a, 2), idxF), 2), float64(mF)) // [B,K]
	kk := fs.Shape().Dimensions[1]
	kff := k.matrix(fs, fs)
	sumFF := Sub(ReduceSum(Mul(kff, Einsum("bm,bn->bmn", u, u)), 1, 2), ReduceSum(Mul(k.diagonal(fs), Square(u)), 1))
	kFF := DivScalar(sumFF, float64(kk)*float64(kk-1))
	kSS := offDiagonalMean(ss, k)
	kFS := DivScalar(ReduceSum(Mul(ReduceMean(k.matrix(fs, ss), 2), u), 1), float64(kk))
	return Sub(Add(kFF, kSS), MulScalar(kFS, 2))
}

// gaussTwoSigmaSqWeighted is gaussTwoSigmaSq with F's means taken under a.
func gaussTwoSigmaSqWeighted(f, s, a *Node) *Node {
	meanSqF := ReduceSum(Mul(ReduceSum(Square(f), 2), a), 1)
	meanSqS := ReduceMean(ReduceSum(Square(s), 2), 1)
	cross := ReduceSum(Mul(weightedMean(f, a), channelMeans(s)), 1)
	return StopGradient(MaxScalar(Sub(Add(meanSqF, meanSqS), MulScalar(cross, 2)), BandwidthFloor))
}
