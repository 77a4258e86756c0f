package losses

import (
	"math"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"

	"github.com/gomlx/gomlx/backends"
	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:staticcheck
	"github.com/gomlx/gomlx/pkg/core/tensors"
	procbackend "github.com/stylelab/stylelab/backends/backend"
)

var (
	backendOnce sync.Once
	testBackend backends.Backend
	backendErr  error
)

// backend returns the process backend (backends/backend: stylelab's CPU backend unless GOMLX_BACKEND or a
// PJRT plugin says otherwise).
func backend(t testing.TB) backends.Backend {
	t.Helper()
	backendOnce.Do(func() { testBackend, _, backendErr = procbackend.New() })
	if backendErr != nil {
		t.Fatalf("creating the backend: %v", backendErr)
	}
	return testBackend
}

// feat is a [1,H,W,N] feature map in float64, stored position-major: data[m*n + c], m = h*w + x.
type feat struct {
	h, w, n int
	data    []float64
}

func (f feat) m() int              { return f.h * f.w }
func (f feat) at(m, c int) float64 { return f.data[m*f.n+c] }
func (f feat) tensor() *tensors.Tensor {
	return tensors.FromFlatDataAndDimensions(f.data, 1, f.h, f.w, f.n)
}
func (f feat) clone() feat { f.data = append([]float64(nil), f.data...); return f }
func (f feat) tensor32() *tensors.Tensor {
	return tensors.FromFlatDataAndDimensions(to32(f.data), 1, f.h, f.w, f.n)
}

func to32(x []float64) []float32 {
	y := make([]float32, len(x))
	for i, v := range x {
		y[i] = float32(v)
	}
	return y
}

// randFeat draws ReLU-like non-negative features (as VGG layers produce) with a per-channel scale.
func randFeat(r *rand.Rand, h, w, n int) feat {
	f := feat{h: h, w: w, n: n, data: make([]float64, h*w*n)}
	for m := range h * w {
		for c := range n {
			f.data[m*n+c] = math.Max(0, r.NormFloat64()*(1+0.2*float64(c))+0.3)
		}
	}
	return f
}

func testRNG(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, 99)) }

// ---- plain-Go float64 reference implementations ----

func refMeans(f feat) []float64 {
	mu := make([]float64, f.n)
	for m := range f.m() {
		for c := range f.n {
			mu[c] += f.at(m, c)
		}
	}
	for c := range mu {
		mu[c] /= float64(f.m())
	}
	return mu
}

func refStds(f feat) []float64 {
	mu := refMeans(f)
	sd := make([]float64, f.n)
	for m := range f.m() {
		for c := range f.n {
			d := f.at(m, c) - mu[c]
			sd[c] += d * d
		}
	}
	for c := range sd {
		sd[c] = math.Sqrt(sd[c]/float64(f.m()) + MeanVarEpsilon)
	}
	return sd
}

func refGramMatrix(f feat) []float64 {
	g := make([]float64, f.n*f.n)
	for m := range f.m() {
		for i := range f.n {
			for j := range f.n {
				g[i*f.n+j] += f.at(m, i) * f.at(m, j)
			}
		}
	}
	for i := range g {
		g[i] /= float64(f.m())
	}
	return g
}

func refGram(f, s feat) float64 {
	gf, gs := refGramMatrix(f), refGramMatrix(s)
	sum := 0.0
	for i := range gf {
		d := gf[i] - gs[i]
		sum += d * d
	}
	return sum / (4 * float64(f.n*f.n))
}

func refDot(a feat, i int, b feat, j int) float64 {
	s := 0.0
	for c := range a.n {
		s += a.at(i, c) * b.at(j, c)
	}
	return s
}

func refSqDist(a feat, i int, b feat, j int) float64 {
	s := 0.0
	for c := range a.n {
		d := a.at(i, c) - b.at(j, c)
		s += d * d
	}
	return s
}

type refKernel func(a feat, i int, b feat, j int) float64

func refPoly(d int, c float64) refKernel {
	return func(a feat, i int, b feat, j int) float64 { return math.Pow(refDot(a, i, b, j)+c, float64(d)) }
}

func refGauss(twoSigmaSq float64) refKernel {
	return func(a feat, i int, b feat, j int) float64 { return math.Exp(-refSqDist(a, i, b, j) / twoSigmaSq) }
}

// refBandwidth is the mean of ‖f_i − s_j‖² over all pairs, by brute force.
func refBandwidth(f, s feat) float64 {
	sum := 0.0
	for i := range f.m() {
		for j := range s.m() {
			sum += refSqDist(f, i, s, j)
		}
	}
	return sum / float64(f.m()*s.m())
}

func refKernelMean(a, b feat, k refKernel, excludeDiag bool) float64 {
	sum, cnt := 0.0, 0
	for i := range a.m() {
		for j := range b.m() {
			if excludeDiag && i == j {
				continue
			}
			sum += k(a, i, b, j)
			cnt++
		}
	}
	return sum / float64(cnt)
}

func refMMDBiased(f, s feat, k refKernel) float64 {
	return refKernelMean(f, f, k, false) + refKernelMean(s, s, k, false) - 2*refKernelMean(f, s, k, false)
}

// refPick returns the positions idx of f as a new feature map (1×K).
func refPick(f feat, idx []int32) feat {
	p := feat{h: 1, w: len(idx), n: f.n}
	for _, i := range idx {
		p.data = append(p.data, f.data[int(i)*f.n:int(i+1)*f.n]...)
	}
	return p
}

func refMMDUnbiased(f, s feat, idxF, idxS []int32, k refKernel) float64 {
	pf, ps := refPick(f, idxF), refPick(s, idxS)
	return refKernelMean(pf, pf, k, true) + refKernelMean(ps, ps, k, true) - 2*refKernelMean(pf, ps, k, false)
}

func refLinear(f, s feat) float64 {
	mf, ms := refMeans(f), refMeans(s)
	sum := 0.0
	for c := range mf {
		sum += (mf[c] - ms[c]) * (mf[c] - ms[c])
	}
	return sum / float64(f.n)
}

func refMeanVar(f, s feat) float64 {
	mf, ms, sf, ss := refMeans(f), refMeans(s), refStds(f), refStds(s)
	sum := 0.0
	for c := range mf {
		sum += (mf[c]-ms[c])*(mf[c]-ms[c]) + (sf[c]-ss[c])*(sf[c]-ss[c])
	}
	return sum / float64(f.n)
}

func refContent(f, p feat) float64 {
	sum := 0.0
	for i := range f.data {
		d := f.data[i] - p.data[i]
		sum += d * d
	}
	return sum / float64(len(f.data))
}

func refTV(img feat) float64 {
	at := func(y, x, c int) float64 { return img.data[(y*img.w+x)*img.n+c] }
	sum := 0.0
	for y := range img.h {
		for x := range img.w {
			for c := range img.n {
				if y+1 < img.h {
					d := at(y+1, x, c) - at(y, x, c)
					sum += d * d
				}
				if x+1 < img.w {
					d := at(y, x+1, c) - at(y, x, c)
					sum += d * d
				}
			}
		}
	}
	return sum / float64(img.h*img.w)
}

// refMasked multiplies f by mask (one value per position, already at f's size) normalised to mean square 1.
func refMasked(f feat, mask []float64) feat {
	ms := 0.0
	for _, v := range mask {
		ms += v * v
	}
	norm := math.Sqrt(ms/float64(len(mask)) + MaskEpsilon)
	out := f.clone()
	for m := range f.m() {
		for c := range f.n {
			out.data[m*f.n+c] *= mask[m] / norm
		}
	}
	return out
}

// ---- graph evaluation helpers ----

func scalarOf(t testing.TB, x *tensors.Tensor) float64 {
	t.Helper()
	switch v := x.Value().(type) {
	case float64:
		return v
	case float32:
		return float64(v)
	}
	t.Fatalf("expected a float scalar, got %s", x.Shape())
	return 0
}

// eval computes loss(F, S) on the test backend.
func eval(t testing.TB, loss StyleLoss, f, s *tensors.Tensor) float64 {
	t.Helper()
	out, err := ExecOnce(backend(t), func(F, S *Node) *Node { return loss(F, S) }, f, s)
	if err != nil {
		t.Fatalf("executing loss: %v", err)
	}
	return scalarOf(t, out)
}

func relErr(got, want float64) float64 {
	return math.Abs(got-want) / math.Max(math.Abs(want), 1e-300)
}

func assertRel(t *testing.T, what string, got, want, tol float64) {
	t.Helper()
	if relErr(got, want) > tol {
		t.Errorf("%s = %.12g, want %.12g (relative error %.3g > %.3g)", what, got, want, relErr(got, want), tol)
	}
}

// standard sizes from the brief: N = 8 channels, M_F = 36, M_S = 25.
func standardPair(seed uint64) (f, s feat) {
	r := testRNG(seed)
	return randFeat(r, 6, 6, 8), randFeat(r, 5, 5, 8)
}

// ---- tests ----

func TestGramEqualsMMDPolyDegree2(t *testing.T) {
	f, s := standardPair(1)
	poly := func(F, S *Node) *Node { return MMDPoly(F, S, 2, 0) }
	// float64: the identity is exact up to rounding.
	assertRel(t, "mmd-poly(d=2,c=0) float64", eval(t, poly, f.tensor(), s.tensor()), eval(t, Gram, f.tensor(), s.tensor()), 1e-10)
	// float32, what runs in practice.
	g32, p32 := eval(t, Gram, f.tensor32(), s.tensor32()), eval(t, poly, f.tensor32(), s.tensor32())
	assertRel(t, "mmd-poly(d=2,c=0) float32", p32, g32, 1e-5)
	if g32 <= 0 {
		t.Errorf("gram of two different random feature maps = %g, want > 0", g32)
	}
}

func TestMMDLinearIsSquaredMeanDifference(t *testing.T) {
	f, s := standardPair(2)
	mf, ms := refMeans(f), refMeans(s)
	want := 0.0
	for c := range mf {
		want += (mf[c] - ms[c]) * (mf[c] - ms[c])
	}
	want /= float64(f.n)
	assertRel(t, "mmd-linear", eval(t, MMDLinear, f.tensor(), s.tensor()), want, 1e-12)
	// The linear-kernel MMD²_b in kernel form equals the same value times N.
	assertRel(t, "linear kernel MMD²_b / N", refMMDBiased(f, s, refPoly(1, 0))/float64(f.n), want, 1e-10)
}

// (xᵀy + c)² = (xᵀy)² + 2c xᵀy + c²: in MMD²_b the c² terms cancel (c²·(1 + 1 − 2)) and the linear terms give
// 2c(‖μ_F‖² + ‖μ_S‖² − 2μ_Fᵀμ_S) = 2c‖Δμ‖², so mmd-poly(d=2,c) = gram + 2c‖Δμ‖²/(4N²).
func TestMMDPolyWithOffset(t *testing.T) {
	f, s := standardPair(3)
	const c = 0.75
	mf, ms := refMeans(f), refMeans(s)
	dmu2 := 0.0
	for i := range mf {
		dmu2 += (mf[i] - ms[i]) * (mf[i] - ms[i])
	}
	n2 := float64(f.n * f.n)
	gram := eval(t, Gram, f.tensor(), s.tensor())
	want := gram + 2*c*dmu2/(4*n2)
	poly := eval(t, func(F, S *Node) *Node { return MMDPoly(F, S, 2, c) }, f.tensor(), s.tensor())
	assertRel(t, "mmd-poly(d=2,c=0.75)", poly, want, 1e-10)
	if math.Abs(poly-gram) < 1e-3*gram {
		t.Fatalf("offset term too small to test anything: poly %g gram %g", poly, gram)
	}
	// The registry's closed form (used above GaussExactMax) gives the same value.
	o := DefaultOptions()
	o.PolyC, o.GaussExactMax = c, 1
	closed, err := Style("mmd-poly", o)
	if err != nil {
		t.Fatal(err)
	}
	assertRel(t, "mmd-poly closed form", eval(t, closed, f.tensor(), s.tensor()), want, 1e-10)
}

func TestLossesMatchPlainGoReference(t *testing.T) {
	f, s := standardPair(4)
	idxF := SampleIndices(5, 1, f.m(), 20)
	idxS := SampleIndices(5, 2, s.m(), 17)
	bw := refBandwidth(f, s)
	mask := make([]float64, f.m())
	maskS := make([]float64, s.m())
	for m := range mask {
		mask[m] = float64(m % 3) // includes zeros: a partial region
	}
	for m := range maskS {
		maskS[m] = 0.5 + float64(m%2)
	}
	maskTensor := func(v []float64, h, w int) *tensors.Tensor { return tensors.FromFlatDataAndDimensions(v, 1, h, w, 1) }
	mF, mS := maskTensor(mask, f.h, f.w), maskTensor(maskS, s.h, s.w)
	cases := []struct {
		name string
		loss StyleLoss
		want float64
	}{
		{"gram", Gram, refGram(f, s)},
		{"mmd-poly d=2 c=0 (kernel ref)", func(F, S *Node) *Node { return MMDPoly(F, S, 2, 0) },
			refMMDBiased(f, s, refPoly(2, 0)) / (4 * 64)},
		{"mmd-poly d=3 c=0.5", func(F, S *Node) *Node { return MMDPoly(F, S, 3, 0.5) },
			refMMDBiased(f, s, refPoly(3, 0.5)) / (4 * 64)},
		{"mmd-poly sampled d=3 c=0.5", func(F, S *Node) *Node {
			return MMDPolySampled(F, S, Const(F.Graph(), idxF), Const(F.Graph(), idxS), 3, 0.5)
		}, refMMDUnbiased(f, s, idxF, idxS, refPoly(3, 0.5)) / (4 * 64)},
		{"mmd-linear", MMDLinear, refLinear(f, s)},
		{"mmd-gauss exact", MMDGauss, refMMDBiased(f, s, refGauss(bw))},
		{"mmd-gauss sampled", func(F, S *Node) *Node {
			return MMDGaussSampled(F, S, Const(F.Graph(), idxF), Const(F.Graph(), idxS))
		}, refMMDUnbiased(f, s, idxF, idxS, refGauss(bw))},
		{"meanvar", MeanVar, refMeanVar(f, s)},
		{"gram-masked", func(F, S *Node) *Node {
			return GramMasked(F, S, Const(F.Graph(), mF), Const(F.Graph(), mS))
		}, refGram(refMasked(f, mask), refMasked(s, maskS))},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := eval(t, tc.loss, f.tensor(), s.tensor())
			assertRel(t, tc.name, got, tc.want, 1e-9)
		})
	}

	// Content and total variation.
	p := randFeat(testRNG(6), f.h, f.w, f.n)
	assertRel(t, "content", eval(t, Content, f.tensor(), p.tensor()), refContent(f, p), 1e-12)
	img := randFeat(testRNG(7), 5, 7, 3)
	tv, err := ExecOnce(backend(t), TotalVariation, img.tensor())
	if err != nil {
		t.Fatal(err)
	}
	assertRel(t, "total variation", scalarOf(t, tv), refTV(img), 1e-12)
}

// The bandwidth's O(M·N) moment formula equals the brute-force mean over all pairs.
func TestGaussBandwidthRule(t *testing.T) {
	f, s := standardPair(8)
	out, err := ExecOnce(backend(t), func(F, S *Node) *Node {
		return gaussTwoSigmaSq(positions(F), positions(S))
	}, f.tensor(), s.tensor())
	if err != nil {
		t.Fatal(err)
	}
	got := tensors.MustCopyFlatData[float64](out)
	if len(got) != 1 {
		t.Fatalf("bandwidth shape %s, want [1]", out.Shape())
	}
	assertRel(t, "2σ²", got[0], refBandwidth(f, s), 1e-12)
}

func TestStyleLossesZeroForEqualInputsAndNonNegative(t *testing.T) {
	f, s := standardPair(9)
	o := DefaultOptions()
	o.PolyC = 0.5
	for _, name := range Names {
		loss, err := Style(name, o)
		if err != nil {
			t.Fatal(err)
		}
		same := eval(t, loss, f.tensor(), f.tensor())
		if math.Abs(same) > 1e-12 {
			t.Errorf("%s(F, F) = %g, want 0", name, same)
		}
		diff := eval(t, loss, f.tensor(), s.tensor())
		if !(diff > 1e-6) {
			t.Errorf("%s(F, S) = %g for different random features, want > 0", name, diff)
		}
	}
	zero := eval(t, Content, f.tensor(), f.tensor())
	if zero != 0 {
		t.Errorf("Content(F, F) = %g, want 0", zero)
	}
	flat := feat{h: 4, w: 5, n: 3, data: make([]float64, 60)}
	for i := range flat.data {
		flat.data[i] = 0.25 * float64(i%3) // constant per channel
	}
	tv, err := ExecOnce(backend(t), TotalVariation, flat.tensor())
	if err != nil {
		t.Fatal(err)
	}
	if v := scalarOf(t, tv); v != 0 {
		t.Errorf("TotalVariation(per-channel constant image) = %g, want 0", v)
	}
}

// S built from different positions, affinely mapped per channel to F's mean and (biased) variance:
// meanvar and mmd-linear vanish, gram (which sees correlations between channels) does not.
func TestMeanVarZeroForMatchedStatistics(t *testing.T) {
	r := testRNG(10)
	f := randFeat(r, 6, 6, 8)
	g := randFeat(r, 5, 5, 8)
	mf, sf := refMeans(f), refStds(f)
	mg, sg := refMeans(g), refStds(g)
	s := g.clone()
	for m := range g.m() {
		for c := range g.n {
			// refStds includes ε; undo it to match the raw variances exactly.
			rawSF := math.Sqrt(sf[c]*sf[c] - MeanVarEpsilon)
			rawSG := math.Sqrt(sg[c]*sg[c] - MeanVarEpsilon)
			s.data[m*g.n+c] = (g.at(m, c)-mg[c])/rawSG*rawSF + mf[c]
		}
	}
	if v := eval(t, MeanVar, f.tensor(), s.tensor()); math.Abs(v) > 1e-12 {
		t.Errorf("meanvar with matched per-channel statistics = %g, want 0", v)
	}
	if v := eval(t, MMDLinear, f.tensor(), s.tensor()); math.Abs(v) > 1e-12 {
		t.Errorf("mmd-linear with matched means = %g, want 0", v)
	}
	if v := eval(t, Gram, f.tensor(), s.tensor()); v < 1e-4 {
		t.Errorf("gram with matched means/variances but different correlations = %g, want clearly > 0", v)
	}
	if v := eval(t, MeanVar, f.tensor(), g.tensor()); v < 1e-3 {
		t.Errorf("meanvar against the unmatched source = %g, want clearly > 0", v)
	}
}

func TestGramMaskedAllOnesEqualsGram(t *testing.T) {
	f, s := standardPair(11)
	// Guides at another resolution (resized inside), constant 3: normalised to 1 everywhere.
	ones := func(h, w int) *tensors.Tensor {
		v := make([]float64, h*w)
		for i := range v {
			v[i] = 3
		}
		return tensors.FromFlatDataAndDimensions(v, h, w) // rank-2 form
	}
	got := eval(t, func(F, S *Node) *Node {
		return GramMasked(F, S, Const(F.Graph(), ones(12, 12)), Const(F.Graph(), ones(10, 10)))
	}, f.tensor(), s.tensor())
	assertRel(t, "gram-masked(all ones)", got, refGram(f, s), 1e-9)
}

// Batches: F of batch 2 against S of batch 1 gives the mean of the two per-image losses.
func TestBatchBroadcast(t *testing.T) {
	r := testRNG(12)
	f1, f2, s := randFeat(r, 4, 4, 5), randFeat(r, 4, 4, 5), randFeat(r, 3, 3, 5)
	fb := tensors.FromFlatDataAndDimensions(append(append([]float64(nil), f1.data...), f2.data...), 2, 4, 4, 5)
	for _, tc := range []struct {
		name string
		loss StyleLoss
		ref  func(f, s feat) float64
	}{
		{"gram", Gram, refGram},
		{"meanvar", MeanVar, refMeanVar},
		{"mmd-gauss", MMDGauss, func(f, s feat) float64 { return refMMDBiased(f, s, refGauss(refBandwidth(f, s))) }},
	} {
		want := (tc.ref(f1, s) + tc.ref(f2, s)) / 2
		assertRel(t, tc.name+" batch 2", eval(t, tc.loss, fb, s.tensor()), want, 1e-9)
	}
}

// gradCheck compares the graph gradient of loss w.r.t. F with central finite differences of value(F) on nCoord
// coordinates of F (all when nCoord ≥ len). value must be the same function the gradient is of.
func gradCheck(t *testing.T, name string, grad []float64, value func(f feat) float64, f feat, nCoord int) {
	t.Helper()
	r := testRNG(77)
	coords := r.Perm(len(f.data))
	if nCoord < len(coords) {
		coords = coords[:nCoord]
	}
	maxAbs := 0.0
	for _, g := range grad {
		maxAbs = math.Max(maxAbs, math.Abs(g))
	}
	if maxAbs == 0 {
		t.Fatalf("%s: gradient is identically zero", name)
	}
	for _, i := range coords {
		const h = 1e-6
		fp, fm := f.clone(), f.clone()
		fp.data[i] += h
		fm.data[i] -= h
		fd := (value(fp) - value(fm)) / (2 * h)
		if err := math.Abs(grad[i] - fd); err > 1e-6*maxAbs+1e-9 {
			t.Errorf("%s: dL/dF[%d] = %.10g, finite difference %.10g (|err| %.3g, max|grad| %.3g)",
				name, i, grad[i], fd, err, maxAbs)
		}
	}
}

func TestGradientsAgainstFiniteDifferences(t *testing.T) {
	f, s := standardPair(13)
	idxF := SampleIndices(3, 1, f.m(), 16)
	idxS := SampleIndices(3, 2, s.m(), 16)
	mask := make([]float64, f.m())
	for m := range mask {
		mask[m] = float64(m%4) / 3
	}
	maskT := tensors.FromFlatDataAndDimensions(mask, 1, f.h, f.w, 1)
	onesS := make([]float64, s.m())
	for i := range onesS {
		onesS[i] = 1
	}
	onesST := tensors.FromFlatDataAndDimensions(onesS, 1, s.h, s.w, 1)
	p := randFeat(testRNG(14), f.h, f.w, f.n)
	cases := map[string]StyleLoss{
		"gram":         Gram,
		"mmd-poly d=2": func(F, S *Node) *Node { return MMDPoly(F, S, 2, 0) },
		"mmd-poly d=3 c=0.5": func(F, S *Node) *Node {
			return MMDPoly(F, S, 3, 0.5)
		},
		"mmd-poly sampled": func(F, S *Node) *Node {
			return MMDPolySampled(F, S, Const(F.Graph(), idxF), Const(F.Graph(), idxS), 3, 0.5)
		},
		"mmd-linear": MMDLinear,
		"meanvar":    MeanVar,
		"gram-masked": func(F, S *Node) *Node {
			return GramMasked(F, S, Const(F.Graph(), maskT), Const(F.Graph(), onesST))
		},
		"gram-masked resized guide": func(F, S *Node) *Node {
			big := make([]float64, 144) // 12×12 guide, resized to 6×6 inside
			for i := range big {
				big[i] = float64(i%12) / 11
			}
			return GramMasked(F, S, Const(F.Graph(), tensors.FromFlatDataAndDimensions(big, 12, 12)),
				Const(F.Graph(), onesST))
		},
		"content": func(F, _ *Node) *Node { return Content(F, Const(F.Graph(), p.tensor())) },
	}
	for name, loss := range cases {
		t.Run(name, func(t *testing.T) {
			exec, err := NewExec(backend(t), func(F, S *Node) (*Node, *Node) {
				l := loss(F, S)
				return l, Gradient(l, F)[0]
			})
			if err != nil {
				t.Fatal(err)
			}
			defer exec.Finalize()
			out, err := exec.Exec(f.tensor(), s.tensor())
			if err != nil {
				t.Fatal(err)
			}
			grad := tensors.MustCopyFlatData[float64](out[1])
			value := func(fx feat) float64 {
				o, err := exec.Exec(fx.tensor(), s.tensor())
				if err != nil {
					t.Fatal(err)
				}
				return scalarOf(t, o[0])
			}
			gradCheck(t, name, grad, value, f, 60)
		})
	}

	// The Gaussian kernel's bandwidth is a StopGradient constant, so the gradient is that of the loss with 2σ²
	// frozen at its value for the current F: finite differences must hold the bandwidth fixed.
	bw := refBandwidth(f, s)
	gaussCases := map[string]struct {
		loss  StyleLoss
		fixed func(f feat) float64
	}{
		"mmd-gauss exact": {MMDGauss, func(fx feat) float64 { return refMMDBiased(fx, s, refGauss(bw)) }},
		"mmd-gauss sampled": {func(F, S *Node) *Node {
			return MMDGaussSampled(F, S, Const(F.Graph(), idxF), Const(F.Graph(), idxS))
		}, func(fx feat) float64 { return refMMDUnbiased(fx, s, idxF, idxS, refGauss(bw)) }},
	}
	for name, tc := range gaussCases {
		t.Run(name, func(t *testing.T) {
			exec, err := NewExec(backend(t), func(F, S *Node) (*Node, *Node) {
				l := tc.loss(F, S)
				return l, Gradient(l, F)[0]
			})
			if err != nil {
				t.Fatal(err)
			}
			defer exec.Finalize()
			out, err := exec.Exec(f.tensor(), s.tensor())
			if err != nil {
				t.Fatal(err)
			}
			assertRel(t, name+" value", scalarOf(t, out[0]), tc.fixed(f), 1e-9)
			gradCheck(t, name, tensors.MustCopyFlatData[float64](out[1]), tc.fixed, f, 60)
		})
	}

	t.Run("total-variation", func(t *testing.T) {
		img := randFeat(testRNG(15), 5, 6, 3)
		exec, err := NewExec(backend(t), func(x *Node) (*Node, *Node) {
			l := TotalVariation(x)
			return l, Gradient(l, x)[0]
		})
		if err != nil {
			t.Fatal(err)
		}
		defer exec.Finalize()
		out, err := exec.Exec(img.tensor())
		if err != nil {
			t.Fatal(err)
		}
		value := func(fx feat) float64 {
			o, err := exec.Exec(fx.tensor())
			if err != nil {
				t.Fatal(err)
			}
			return scalarOf(t, o[0])
		}
		gradCheck(t, "total-variation", tensors.MustCopyFlatData[float64](out[1]), value, img, 90)
	})
}

func TestGaussSampledEstimator(t *testing.T) {
	r := testRNG(16)
	f, s := randFeat(r, 16, 16, 8), randFeat(r, 15, 15, 8) // M_F = 256, M_S = 225
	for i := range s.data {
		s.data[i] *= 1.5 // a different distribution, so the MMD is well above the estimator's noise
	}
	sampled := func(seed uint64) StyleLoss {
		o := DefaultOptions()
		o.GaussExactMax, o.GaussSamples, o.Seed = 100*100, 64, seed // 256² > 100²: forces sampling
		loss, err := Style("mmd-gauss", o)
		if err != nil {
			t.Fatal(err)
		}
		return loss
	}
	exact := eval(t, MMDGauss, f.tensor(), s.tensor())
	viaRegistry, err := Style("mmd-gauss", DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	assertRel(t, "registry mmd-gauss (exact below the limit)", eval(t, viaRegistry, f.tensor(), s.tensor()), exact, 1e-12)

	a1 := eval(t, sampled(1), f.tensor(), s.tensor())
	a2 := eval(t, sampled(1), f.tensor(), s.tensor())
	if a1 != a2 {
		t.Errorf("same seed gave different estimates: %.17g vs %.17g", a1, a2)
	}
	if b := eval(t, sampled(2), f.tensor(), s.tensor()); b == a1 {
		t.Errorf("seeds 1 and 2 gave the same estimate %.17g; the positions are not seeded", b)
	}

	// Unbiased: the mean over many seeds approaches the exact MMD²_b.
	const runs = 50
	var sum, sumSq float64
	for seed := range uint64(runs) {
		v := eval(t, sampled(100+seed), f.tensor(), s.tensor())
		sum += v
		sumSq += v * v
	}
	mean := sum / runs
	sd := math.Sqrt((sumSq/runs - mean*mean) * runs / (runs - 1))
	stderr := sd / math.Sqrt(runs)
	t.Logf("exact %.6g, sampled mean %.6g ± %.2g (sd of one estimate %.2g)", exact, mean, stderr, sd)
	if math.Abs(mean-exact) > 4*stderr {
		t.Errorf("sampled mean %.6g is %.1f standard errors from the exact %.6g", mean, math.Abs(mean-exact)/stderr, exact)
	}
	if math.Abs(mean-exact) > 0.2*exact {
		t.Errorf("sampled mean %.6g is more than 20%% from the exact %.6g", mean, exact)
	}
}

func TestSampleIndices(t *testing.T) {
	a, b := SampleIndices(7, 3, 50, 200), SampleIndices(7, 3, 50, 200)
	seen := map[int32]bool{}
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("SampleIndices not deterministic at %d: %d vs %d", i, a[i], b[i])
		}
		if a[i] < 0 || a[i] >= 50 {
			t.Fatalf("index %d out of [0,50)", a[i])
		}
		seen[a[i]] = true
	}
	if len(seen) < 40 {
		t.Errorf("200 draws from 50 positions hit only %d distinct ones", len(seen))
	}
	c := SampleIndices(7, 4, 50, 200)
	same := 0
	for i := range a {
		if a[i] == c[i] {
			same++
		}
	}
	if same > 20 {
		t.Errorf("another stream agrees on %d of 200 draws", same)
	}
}

func TestStyleRegistryErrors(t *testing.T) {
	_, err := Style("gramm", DefaultOptions())
	if err == nil {
		t.Fatal("Style(\"gramm\") returned no error")
	}
	for _, n := range Names {
		if !strings.Contains(err.Error(), n) {
			t.Errorf("error %q does not list the valid name %q", err, n)
		}
	}
	for _, n := range Names {
		if _, err := Style(n, Options{}); err != nil {
			t.Errorf("Style(%q, Options{}) (zero means defaults): %v", n, err)
		}
	}
	bad := []Options{{PolyDegree: -1}, {PolyC: -1}, {GaussSamples: 1}, {GaussExactMax: -5}}
	for _, o := range bad {
		if _, err := Style("mmd-poly", o); err == nil {
			t.Errorf("Style with invalid options %+v returned no error", o)
		}
	}
}

func TestShapeErrorsAreReported(t *testing.T) {
	f, _ := standardPair(17)
	other := randFeat(testRNG(18), 5, 5, 4) // 4 channels, not 8
	_, err := ExecOnce(backend(t), func(F, S *Node) *Node { return Gram(F, S) }, f.tensor(), other.tensor())
	if err == nil || !strings.Contains(err.Error(), "same channel count") {
		t.Errorf("gram with mismatched channels: error %v, want one naming the channel count", err)
	}
	_, err = ExecOnce(backend(t), func(F, P *Node) *Node { return Content(F, P) }, f.tensor(), other.tensor())
	if err == nil || !strings.Contains(err.Error(), "same shape") {
		t.Errorf("content with mismatched shapes: error %v, want one naming the shapes", err)
	}
}

// Above GaussExactMax the registry uses the sampled estimators on SampleIndices(Seed, layerStream(role, …)), and
// mmd-poly with d = 2 uses the exact closed form instead of sampling.
func TestRegistrySampledPathsUseDocumentedPositions(t *testing.T) {
	f, s := standardPair(19)
	o := Options{PolyDegree: 3, PolyC: 0.5, GaussSamples: 12, GaussExactMax: 10 * 10, Seed: 42}
	idxF := SampleIndices(42, layerStream(1, f.m(), s.m(), f.n), f.m(), 12)
	idxS := SampleIndices(42, layerStream(2, f.m(), s.m(), f.n), s.m(), 12)
	bw := refBandwidth(f, s)
	for name, want := range map[string]float64{
		"mmd-gauss": refMMDUnbiased(f, s, idxF, idxS, refGauss(bw)),
		"mmd-poly":  refMMDUnbiased(f, s, idxF, idxS, refPoly(3, 0.5)) / (4 * 64),
	} {
		loss, err := Style(name, o)
		if err != nil {
			t.Fatal(err)
		}
		assertRel(t, name+" via registry (sampled)", eval(t, loss, f.tensor(), s.tensor()), want, 1e-9)
	}
	o.PolyDegree = 2
	loss, err := Style("mmd-poly", o)
	if err != nil {
		t.Fatal(err)
	}
	assertRel(t, "mmd-poly d=2 above the limit (closed form)", eval(t, loss, f.tensor(), s.tensor()),
		refMMDBiased(f, s, refPoly(2, 0.5))/(4*64), 1e-9)
}
