// Package losses builds the style, content and smoothness losses of neural style transfer as GoMLX graphs.
//
// Feature maps are [B,H,W,C] nodes (NHWC, as the loss network produces them). Each one is viewed as N = C channels
// × M = H·W positions; the column at one position is an N-vector. F is the generated image's feature map, S the
// style image's (S may have a different M than F, and a batch of 1 is broadcast over F's batch), P the content
// image's (same shape as F). With B > 1 every loss is the mean over the batch of the per-image loss below.
//
// Style losses, by registry name (see Style and Names):
//
//	gram        ‖F Fᵀ/M_F − S Sᵀ/M_S‖²_F / (4N²)                                  Gatys et al. 2016
//	mmd-poly    MMD²_b[F,S] with k(x,y) = (xᵀy + c)^d, divided by 4N²               Li et al. 2017
//	mmd-linear  ‖μ_F − μ_S‖² / N                                                    Li et al. 2017
//	mmd-gauss   MMD²_b[F,S] with k(x,y) = exp(−‖x−y‖²/(2σ²)), bandwidth from data   Li et al. 2017
//	meanvar     (1/N) Σ_i (μ_F,i − μ_S,i)² + (σ_F,i − σ_S,i)²                        Li et al. 2017, Huang & Belongie 2017
//
// where MMD²_b[F,S] = (1/M_F²) Σ_ij k(f_i,f_j) + (1/M_S²) Σ_ij k(s_i,s_j) − (2/(M_F M_S)) Σ_ij k(f_i,s_j) is the
// biased (V-statistic) squared maximum mean discrepancy between the two sets of position vectors.
// "Demystifying Neural Style Transfer" (Li, Wang, Liu, Hou, IJCAI 2017) shows gram == mmd-poly with d = 2, c = 0
// exactly, also for M_F ≠ M_S; the package tests assert that identity and the others.
//
// Every function is dtype-agnostic (float32 in practice, float64 for gradient checks) and uses only ops whose
// gradients exist on the pure-Go backend (simplego) as well as XLA: Einsum/DotGeneral, Concatenate, reductions,
// Exp, Sqrt (never Rsqrt, which has no gradient), Gather (never Slice, whose gradient needs the "Pad" op simplego
// lacks; checked: `sorry, op "Pad" not implemented in SimpleGo yet`).
// Shape errors panic inside graph building with a message naming the problem; graph.Exec turns such panics
// into returned errors.
package losses

import (
	"fmt"
	"strings"

	"github.com/gomlx/gomlx/pkg/core/graph"
)

// StyleLoss maps the generated image's feature map F and the style image's S (both [B,H,W,C]) to a scalar loss.
type StyleLoss func(F, S *graph.Node) *graph.Node

// Names lists the style losses Style knows, in a stable order.
var Names = []string{"gram", "mmd-poly", "mmd-linear", "mmd-gauss", "meanvar"}

// Options are the parameters of the style losses that take any. A zero PolyDegree, GaussSamples or GaussExactMax
// means "use the default" (DefaultOptions, WithDefaults), so Options{Seed: 7} is valid; PolyC and Seed are used
// as given. In JSON (specs, tracker params) the fields are snake_case: poly_degree, poly_c, gauss_samples,
// gauss_exact_max, seed.
type Options struct {
	// PolyDegree is d in the mmd-poly kernel (xᵀy + c)^d; ≥ 1 (default 2).
	PolyDegree int `json:"poly_degree"`
	// PolyC is c in the mmd-poly kernel (xᵀy + c)^d; ≥ 0 so the kernel is positive definite (default 0).
	PolyC float64 `json:"poly_c"`
	// GaussSamples is K, the number of positions sampled (with replacement) from each of F and S when a kernel
	// MMD is too large to compute exactly; ≥ 2 (default 1024). Used by mmd-gauss, and by mmd-poly when d ≠ 2.
	GaussSamples int `json:"gauss_samples"`
	// GaussExactMax bounds the kernel matrices: the exact kernel form (full M×M matrices) is used when
	// max(M_F, M_S)² ≤ GaussExactMax, otherwise the cheaper form described at Style. Default 1024·1024 entries
	// (4 MiB per float32 matrix): the exact form then costs no more than the sampled estimator with the default
	// K = 1024, about 6·M²·N multiply-adds per loss-and-gradient evaluation, nearly all of it matrix products.
	// Measured on the pure-Go backend (2 shared cores, N = 64, with experiments/nn's DotGeneral gradient):
	// M = 1024 ≈ 0.6–0.8 s and 37 MB peak RSS; M = 4096 ≈ 6–16 s and 0.3–0.5 GB. Raise it on XLA/GPU.
	// Applies to mmd-gauss and mmd-poly.
	GaussExactMax int `json:"gauss_exact_max"`
	// Seed seeds the host-side PCG generator that chooses the sampled positions (deterministic per seed).
	Seed uint64 `json:"seed"`
}

// Defaults of Options; see the field docs.
const (
	DefaultPolyDegree    = 2
	DefaultGaussSamples  = 1024
	DefaultGaussExactMax = 1024 * 1024
)

// DefaultOptions returns d = 2, c = 0 (so mmd-poly equals gram), K = 1024 samples, exact kernel matrices up to
// 1024² entries (layers with M = H·W ≤ 1024, e.g. relu1_1 of a 32² image), seed 0.
func DefaultOptions() Options {
	return Options{PolyDegree: DefaultPolyDegree, PolyC: 0, GaussSamples: DefaultGaussSamples,
		GaussExactMax: DefaultGaussExactMax, Seed: 0}
}

// WithDefaults returns o with its zero PolyDegree, GaussSamples and GaussExactMax replaced by the defaults: the
// options a loss built from o uses.
func (o Options) WithDefaults() Options {
	if o.PolyDegree == 0 {
		o.PolyDegree = DefaultPolyDegree
	}
	if o.GaussSamples == 0 {
		o.GaussSamples = DefaultGaussSamples
	}
	if o.GaussExactMax == 0 {
		o.GaussExactMax = DefaultGaussExactMax
	}
	return o
}

// withDefaults fills zero fields with defaults and validates the result.
func (o Options) withDefaults() (Options, error) {
	o = o.WithDefaults()
	switch {
	case o.PolyDegree < 1:
		return o, fmt.Errorf("losses: PolyDegree must be ≥ 1 (got %d); use 2 for the Gram-equivalent kernel", o.PolyDegree)
	case o.PolyC < 0:
		return o, fmt.Errorf("losses: PolyC must be ≥ 0 for a positive-definite polynomial kernel (got %g)", o.PolyC)
	case o.GaussSamples < 2:
		return o, fmt.Errorf("losses: GaussSamples must be ≥ 2 for the unbiased estimator (got %d); the default is %d",
			o.GaussSamples, DefaultGaussSamples)
	case o.GaussExactMax < 0:
		return o, fmt.Errorf("losses: GaussExactMax must be ≥ 0 (got %d); the default is %d",
			o.GaussExactMax, DefaultGaussExactMax)
	}
	return o, nil
}

// Style returns the style loss registered under name (one of Names) configured by o.
//
//   - "gram": Gram.
//   - "mmd-poly": MMDPoly in the kernel-matrix form when max(M_F,M_S)² ≤ o.GaussExactMax; above that, for d = 2 the
//     algebraically identical closed form Gram + 2c‖μ_F − μ_S‖²/(4N²) (O(M·N²), exact), and for d ≠ 2 the unbiased
//     sampled estimator MMDPolySampled on o.GaussSamples positions.
//   - "mmd-linear": MMDLinear.
//   - "mmd-gauss": MMDGauss (exact) when max(M_F,M_S)² ≤ o.GaussExactMax, otherwise MMDGaussSampled on
//     o.GaussSamples positions of F and of S.
//   - "meanvar": MeanVar.
//
// Where the sampled estimator is used (Sampled), Style draws the positions on the host by
// SampleIndices(o.Seed, stream, M, K), the stream derived from the role (F or S) and the layer's sizes, and puts
// them in the graph as constants: a graph built once and executed many times sees the same positions every
// time. That suits a one-off measurement (gatys.Measure); an optimisation must draw fresh positions every step
// and feed them as graph inputs through StyleAt, as gatys.Run does.
func Style(name string, o Options) (StyleLoss, error) {
	at, err := StyleAt(name, o)
	if err != nil {
		return nil, err
	}
	o = o.WithDefaults()
	return func(F, S *graph.Node) *graph.Node {
		var idxF, idxS *graph.Node
		_, mF, mS, _ := checkPair(F, S, name)
		if Sampled(name, o, mF, mS) {
			idxF, idxS = sampleFor(F, S, o)
		}
		return at(F, S, idxF, idxS)
	}, nil
}

// StyleLossAt is a style loss that takes the sampled positions as arguments: idxF (int [K], positions of F in
// [0, M_F)) and idxS (int [K'], of S). They are used only where the loss samples (Sampled); elsewhere they are
// ignored and may be nil.
type StyleLossAt func(F, S, idxF, idxS *graph.Node) *graph.Node

// StyleAt returns the style loss registered under name, as Style describes it, with the sampled positions
// supplied by the caller: typically graph inputs (variables or parameters) that get new values every
// optimisation step, so every position of every layer is reached over the steps without recompiling the graph.
// Where Sampled(name, o, M_F, M_S) is true, idxF and idxS must be given.
func StyleAt(name string, o Options) (StyleLossAt, error) {
	o, err := o.withDefaults()
	if err != nil {
		return nil, err
	}
	need := func(idxF, idxS *graph.Node, what string) {
		if idxF == nil || idxS == nil {
			throwf("%s samples positions here (M above the exact limit): give idxF and idxS (see Sampled)", what)
		}
	}
	switch name {
	case "gram":
		return func(F, S, _, _ *graph.Node) *graph.Node { return Gram(F, S) }, nil
	case "mmd-poly":
		return func(F, S, idxF, idxS *graph.Node) *graph.Node {
			_, mF, mS, _ := checkPair(F, S, "mmd-poly")
			if fitsExact(mF, mS, o.GaussExactMax) {
				return MMDPoly(F, S, o.PolyDegree, o.PolyC)
			}
			if o.PolyDegree == 2 {
				return polyDegree2ClosedForm(F, S, o.PolyC)
			}
			need(idxF, idxS, "mmd-poly")
			return MMDPolySampled(F, S, idxF, idxS, o.PolyDegree, o.PolyC)
		}, nil
	case "mmd-linear":
		return func(F, S, _, _ *graph.Node) *graph.Node { return MMDLinear(F, S) }, nil
	case "mmd-gauss":
		return func(F, S, idxF, idxS *graph.Node) *graph.Node {
			_, mF, mS, _ := checkPair(F, S, "mmd-gauss")
			if fitsExact(mF, mS, o.GaussExactMax) {
				return MMDGauss(F, S)
			}
			need(idxF, idxS, "mmd-gauss")
			return MMDGaussSampled(F, S, idxF, idxS)
		}, nil
	case "meanvar":
		return func(F, S, _, _ *graph.Node) *graph.Node { return MeanVar(F, S) }, nil
	}
	return nil, fmt.Errorf("losses: unknown style loss %q; valid names are %s", name, strings.Join(Names, ", "))
}

// Sampled reports whether the style loss name with options o uses the sampled estimator (and so sampled
// positions) on feature maps of mF and mS positions: mmd-gauss, and mmd-poly with degree ≠ 2, when
// max(mF, mS)² > GaussExactMax (zero options taking their defaults). The estimator then uses
// o.WithDefaults().GaussSamples positions of each map.
func Sampled(name string, o Options, mF, mS int) bool {
	o = o.WithDefaults()
	switch name {
	case "mmd-gauss":
		return !fitsExact(mF, mS, o.GaussExactMax)
	case "mmd-poly":
		return o.PolyDegree != 2 && !fitsExact(mF, mS, o.GaussExactMax)
	}
	return false
}

// fitsExact reports whether the M×M kernel matrices of the exact MMD stay within maxEntries entries.
func fitsExact(mF, mS, maxEntries int) bool {
	m := max(mF, mS)
	return int64(m)*int64(m) <= int64(maxEntries)
}

// sampleFor draws the sampled-estimator positions for one layer as int32 constants in F's graph.
func sampleFor(F, S *graph.Node, o Options) (idxF, idxS *graph.Node) {
	n, mF, mS, _ := checkPair(F, S, "sampling")
	g := F.Graph()
	idxF = graph.Const(g, SampleIndices(o.Seed, layerStream(1, mF, mS, n), mF, o.GaussSamples))
	idxS = graph.Const(g, SampleIndices(o.Seed, layerStream(2, mF, mS, n), mS, o.GaussSamples))
	return idxF, idxS
}

// layerStream derives a PCG stream number from the role (1 = F, 2 = S) and a layer's sizes (a fixed
// multiply-xor mix of the four numbers; any injective-enough mix would do).
func layerStream(role, mF, mS, n int) uint64 {
	return uint64(role)*0x9E3779B97F4A7C15 ^ uint64(mF)*0xBF58476D1CE4E5B9 ^
		uint64(mS)*0x94D049BB133111EB ^ uint64(n)*0xD6E8FEB86659FD93
}
