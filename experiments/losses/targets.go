package losses

import (
	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:staticcheck // GoMLX code reads best with the graph ops unqualified.
)

// Prepared is a style loss split in two, so that what depends only on the style image is computed once per run
// instead of inside every optimisation step:
//
//	Target(S) → the statistics of the style features S [1,H,W,C] the loss compares against
//	Loss(F, Target(S)) = Style(name, o)(F, S)
//
// A caller runs Target in its own graph once, keeps the results (e.g. as non-trainable variables) and feeds them
// to Loss in the step graph. Per loss:
//
//	gram        Target = [S Sᵀ/M_S] ([1,N,N])           Loss = ‖F Fᵀ/M_F − A‖²_F / (4N²)
//	mmd-linear  Target = [μ_S] ([1,N])                  Loss = ‖μ_F − μ_S‖² / N
//	meanvar     Target = [μ_S, σ_S] ([1,N] each)        Loss = (1/N) Σ_i (μ_F,i − μ_S,i)² + (σ_F,i − σ_S,i)²
//
// The two MMD kernel losses (mmd-poly, mmd-gauss) have no prepared form: mmd-gauss's bandwidth, hence its S–S
// kernel term, depends on F, and mmd-poly chooses its form from both sizes; callers keep S for them.
type Prepared struct {
	Target func(S *Node) []*Node
	Loss   func(F *Node, target []*Node) *Node
}

// StylePrepared returns the style loss registered under name (one of Names), configured by o, split into
// target and loss (see Prepared); ok is false (and the Prepared empty) for a loss without a prepared form.
func StylePrepared(name string, o Options) (p Prepared, ok bool, err error) {
	if _, err := Style(name, o); err != nil {
		return Prepared{}, false, err
	}
	switch name {
	case "gram":
		return Prepared{
			Target: func(S *Node) []*Node {
				checkFeatures(S, "gram: S (style features)")
				return []*Node{gramMatrix(positions(S))}
			},
			Loss: func(F *Node, t []*Node) *Node { return gramAgainst(F, t[0]) },
		}, true, nil
	case "mmd-linear":
		return Prepared{
			Target: func(S *Node) []*Node {
				checkFeatures(S, "mmd-linear: S (style features)")
				return []*Node{channelMeans(positions(S))}
			},
			Loss: func(F *Node, t []*Node) *Node { return mmdLinearAgainst(F, t[0]) },
		}, true, nil
	case "meanvar":
		return Prepared{
			Target: func(S *Node) []*Node {
				checkFeatures(S, "meanvar: S (style features)")
				mu, sd := meanStd(positions(S))
				return []*Node{mu, sd}
			},
			Loss: func(F *Node, t []*Node) *Node { return meanVarAgainst(F, t[0], t[1]) },
		}, true, nil
	}
	return Prepared{}, false, nil
}

// checkTarget panics unless t is [1 or B, dims...] with F's dtype.
func checkTarget(F, t *Node, loss string, dims ...int) {
	td := t.Shape().Dimensions
	ok := t.DType() == F.DType() && len(td) == len(dims)+1 && (td[0] == 1 || td[0] == F.Shape().Dimensions[0])
	for i := range dims {
		ok = ok && td[i+1] == dims[i]
	}
	if !ok {
		throwf("%s: the style target must be [1,%v] of dtype %s for F %s (computed by Target from the same layer), got %s",
			loss, dims, F.DType(), F.Shape(), t.Shape())
	}
}

// gramAgainst is Gram with the style side given as its Gram matrix A = S Sᵀ/M_S [1 or B,N,N].
func gramAgainst(F, A *Node) *Node {
	checkFeatures(F, "gram: F (generated features)")
	d := F.Shape().Dimensions
	n, b := d[3], d[0]
	checkTarget(F, A, "gram", n, n)
	gF := gramMatrix(positions(F))
	perImage := ReduceSum(Square(Sub(gF, toBatch(A, b))), 1, 2)
	return batchMean(DivScalar(perImage, 4*float64(n)*float64(n)))
}

// mmdLinearAgainst is MMDLinear with the style side given as μ_S [1 or B,N].
func mmdLinearAgainst(F, muS *Node) *Node {
	checkFeatures(F, "mmd-linear: F (generated features)")
	d := F.Shape().Dimensions
	checkTarget(F, muS, "mmd-linear", d[3])
	muF := channelMeans(positions(F))
	return batchMean(ReduceMean(Square(Sub(muF, toBatch(muS, d[0]))), 1))
}

// meanVarAgainst is MeanVar with the style side given as μ_S and σ_S [1 or B,N].
func meanVarAgainst(F, muS, sdS *Node) *Node {
	checkFeatures(F, "meanvar: F (generated features)")
	d := F.Shape().Dimensions
	checkTarget(F, muS, "meanvar", d[3])
	checkTarget(F, sdS, "meanvar", d[3])
	muF, sdF := meanStd(positions(F))
	perChannel := Add(Square(Sub(muF, toBatch(muS, d[0]))), Square(Sub(sdF, toBatch(sdS, d[0]))))
	return batchMean(ReduceMean(perChannel, 1))
}
