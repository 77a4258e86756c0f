// Package study is the science of a loss study: the statistics that say whether one arm (a style loss, an
// optimiser, a network) is better than another over many content × style pairs and seeds, and the judges that
// score every output by measures independent of the objective it was optimised for.
//
// Statistics (stats.go): percentile bootstrap confidence intervals, the Wilcoxon signed-rank test (exact null
// distribution for small n), Holm's step-down correction and average ranks. Judges (judge.go): every style loss
// and the content loss on a judge network that never shares weights with the optimising one, SSIM of the
// luminance against the content image (ssim.go), and sliced Wasserstein distances between the output's and the
// style's colour distributions in CIE Lab and between their VGG feature distributions (wasserstein.go, lab.go).
// Analysis (analysis.go) turns judged runs into per-arm means with CIs, paired comparisons and ranks.
//
// Every random choice (bootstrap resamples, projection directions) takes an explicit seed and uses math/rand/v2's
// PCG, so the same inputs and seeds give the same numbers on every machine.
package study

import (
	"cmp"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
)

// Mean is (1/n) Σ x_i; NaN for an empty slice.
func Mean(x []float64) float64 {
	if len(x) == 0 {
		return math.NaN()
	}
	s := 0.0
	for _, v := range x {
		s += v
	}
	return s / float64(len(x))
}

// SD is the sample standard deviation √(Σ (x_i − x̄)² / (n − 1)); exactly 0 when every value is the same (x̄
// itself may round away from them) and for n = 1, NaN for n = 0.
func SD(x []float64) float64 {
	switch len(x) {
	case 0:
		return math.NaN()
	case 1:
		return 0
	}
	if slices.Min(x) == slices.Max(x) {
		return 0
	}
	m := Mean(x)
	s := 0.0
	for _, v := range x {
		s += (v - m) * (v - m)
	}
	return math.Sqrt(s / float64(len(x)-1))
}

// Percentile is the q-th quantile (q in [0,1]) of x with linear interpolation between order statistics, the
// definition of numpy.percentile's default ("linear", Hyndman & Fan type 7): with x sorted ascending and
// h = (n − 1)·q, Q = x_⌊h⌋ + (h − ⌊h⌋)·(x_⌊h⌋+1 − x_⌊h⌋). x is not modified. NaN for an empty slice.
func Percentile(x []float64, q float64) float64 {
	if len(x) == 0 {
		return math.NaN()
	}
	s := slices.Clone(x)
	slices.Sort(s)
	return percentileSorted(s, q)
}

func percentileSorted(s []float64, q float64) float64 {
	h := float64(len(s)-1) * q
	lo := int(math.Floor(h))
	if lo >= len(s)-1 {
		return s[len(s)-1]
	}
	if lo < 0 {
		return s[0]
	}
	return s[lo] + (h-float64(lo))*(s[lo+1]-s[lo])
}

// CI is a confidence interval of a statistic: its value on the data (Estimate) and the interval [Lo, Hi] at
// Level (0.95 for a 95% interval), from Resamples bootstrap resamples drawn with Seed.
type CI struct {
	Estimate  float64 `json:"estimate"`
	Lo        float64 `json:"lo"`
	Hi        float64 `json:"hi"`
	Level     float64 `json:"level"`
	Resamples int     `json:"resamples"`
	Seed      uint64  `json:"seed"`
}

// BootstrapStream is the PCG stream of the bootstrap resampler: PCG(seed, BootstrapStream).
const BootstrapStream = 0x626f6f74 // "boot"

// BootstrapMeanCI is the percentile bootstrap (Efron) interval of the mean of x: B resamples of the n values
// drawn with replacement (index ⌊u·n⌋, u from PCG(seed, BootstrapStream)), the mean of each, and the
// (1−level)/2 and (1+level)/2 percentiles of those B means (Percentile: numpy's linear interpolation). Estimate
// is Mean(x). For paired comparisons pass the per-unit differences. Errors: an empty x, B < 1, level outside
// (0,1), or a non-finite value (a failed judge must not be averaged in silently).
func BootstrapMeanCI(x []float64, b int, level float64, seed uint64) (CI, error) {
	if len(x) == 0 {
		return CI{}, fmt.Errorf("study: bootstrap of no values: every arm needs at least one unit")
	}
	if b < 1 {
		return CI{}, fmt.Errorf("study: bootstrap resamples must be at least 1 (got %d); 10000 is usual", b)
	}
	if !(level > 0 && level < 1) {
		return CI{}, fmt.Errorf("study: confidence level must be in (0,1) (got %g); use 0.95 for a 95%% interval", level)
	}
	for i, v := range x {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return CI{}, fmt.Errorf("study: bootstrap value %d is %v: a run's judge score is missing or diverged", i, v)
		}
	}
	r := rand.New(rand.NewPCG(seed, BootstrapStream))
	n := len(x)
	means := make([]float64, b)
	for k := range means {
		s := 0.0
		for range n {
			s += x[int(r.Float64()*float64(n))]
		}
		means[k] = s / float64(n)
	}
	slices.Sort(means)
	alpha := (1 - level) / 2
	return CI{Estimate: Mean(x), Lo: percentileSorted(means, alpha), Hi: percentileSorted(means, 1-alpha),
		Level: level, Resamples: b, Seed: seed}, nil
}

// Ranks returns the ranks 1..n of x in ascending order, ties getting the average of the ranks they span
// (scipy.stats.rankdata's default "average" method). NaN values are not allowed (the caller drops them).
func Ranks(x []float64) []float64 {
	idx := make([]int, len(x))
	for i := range idx {
		idx[i] = i
	}
	slices.SortStableFunc(idx, func(a, b int) int { return cmp.Compare(x[a], x[b]) })
	r := make([]float64, len(x))
	for i := 0; i < len(idx); {
		j := i
		for j+1 < len(idx) && x[idx[j+1]] == x[idx[i]] {
			j++
		}
		avg := float64(i+j)/2 + 1 // ranks i+1 … j+1
		for k := i; k <= j; k++ {
			r[idx[k]] = avg
		}
		i = j + 1
	}
	return r
}

// Holm returns Holm's step-down adjusted p-values, in the order of p: with p_(1) ≤ … ≤ p_(m) sorted,
// adj_(k) = max_{j≤k} min(1, (m − j + 1)·p_(j)). Rejecting the hypotheses with adj ≤ α controls the
// family-wise error rate at α (Holm 1979). The same as statsmodels' multipletests(method="holm").
func Holm(p []float64) []float64 {
	m := len(p)
	idx := make([]int, m)
	for i := range idx {
		idx[i] = i
	}
	slices.SortStableFunc(idx, func(a, b int) int { return cmp.Compare(p[a], p[b]) })
	adj := make([]float64, m)
	running := 0.0
	for k, i := range idx {
		v := math.Min(1, float64(m-k)*p[i])
		running = math.Max(running, v)
		adj[i] = running
	}
	return adj
}

// ZeroMethod is how the Wilcoxon test treats zero differences: "wilcox", SciPy's default and the one used here,
// drops them before ranking (n counts the non-zero differences).
const ZeroMethod = "wilcox"

// ExactMaxN is the largest number of non-zero differences for which Wilcoxon uses the exact null distribution.
const ExactMaxN = 50

// WilcoxonResult is the two-sided Wilcoxon signed-rank test of paired differences d.
type WilcoxonResult struct {
	N         int     `json:"n"`          // non-zero differences ranked
	Zeros     int     `json:"zeros"`      // zero differences dropped (ZeroMethod "wilcox")
	Ties      bool    `json:"ties"`       // some |d| are equal (average ranks were used)
	WPlus     float64 `json:"w_plus"`     // sum of the ranks of the positive differences
	WMinus    float64 `json:"w_minus"`    // sum of the ranks of the negative differences
	Statistic float64 `json:"statistic"`  // min(W+, W−): scipy.stats.wilcoxon's two-sided statistic
	P         float64 `json:"p"`          // two-sided p-value
	Exact     bool    `json:"exact"`      // P from the exact null distribution (else the normal approximation)
	Z         float64 `json:"z,omitzero"` // the normal approximation's z (when not Exact)
}

// Wilcoxon is the two-sided Wilcoxon signed-rank test that the differences d are symmetric about 0.
//
// Zero differences are dropped (ZeroMethod "wilcox"); the n remaining |d_i| are ranked with average ranks for
// ties, W+ and W− are the rank sums of the positive and negative d_i, and the statistic is T = min(W+, W−).
//
//   - Exact (n ≤ ExactMaxN, no zeros, no ties): under H0 each of the 2ⁿ sign patterns is equally likely; the
//     distribution of W+ is counted by dynamic programming over the ranks 1..n. p = 2·min(P(W+ ≤ w), P(W+ ≥ w)),
//     capped at 1, and p = 1 when w is the distribution's centre ⌊n(n+1)/4⌋.
//   - Otherwise the normal approximation without continuity correction: z = (T − n(n+1)/4)/σ with
//     σ² = [n(n+1)(2n+1) − ½ Σ_t t(t²−1)]/24 over tie groups of size t, and p = 2·(1 − Φ(|z|)).
//
// This is scipy.stats.wilcoxon(d, zero_method="wilcox", correction=False, alternative="two-sided") with the
// mode SciPy ≥ 1.13's "auto" picks (exact only without ties and zeros); SciPy 1.10's "auto" also takes the
// exact branch for ties without zeros, truncating the half-integer W+. With no non-zero difference at all
// (every pair identical) there is no evidence of a difference: N = 0, P = 1. Non-finite d are an error.
func Wilcoxon(d []float64) (WilcoxonResult, error) {
	var res WilcoxonResult
	var nz []float64
	for i, v := range d {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return res, fmt.Errorf("study: Wilcoxon difference %d is %v: a run's judge score is missing or diverged", i, v)
		}
		if v == 0 {
			res.Zeros++
			continue
		}
		nz = append(nz, v)
	}
	n := len(nz)
	res.N = n
	if n == 0 {
		res.P = 1
		return res, nil
	}
	abs := make([]float64, n)
	for i, v := range nz {
		abs[i] = math.Abs(v)
	}
	r := Ranks(abs)
	var tieTerm float64
	{
		s := slices.Clone(abs)
		slices.Sort(s)
		for i := 0; i < n; {
			j := i
			for j+1 < n && s[j+1] == s[i] {
				j++
			}
			if t := float64(j - i + 1); t > 1 {
				res.Ties = true
				tieTerm += t * (t*t - 1)
			}
			i = j + 1
		}
	}
	for i, v := range nz {
		if v > 0 {
			res.WPlus += r[i]
		} else {
			res.WMinus += r[i]
		}
	}
	res.Statistic = math.Min(res.WPlus, res.WMinus)
	if n <= ExactMaxN && res.Zeros == 0 && !res.Ties {
		res.Exact = true
		pmf := signedRankPMF(n)
		w := int(res.WPlus) // an integer: ranks without ties are 1..n
		if w == (len(pmf)-1)/2 {
			res.P = 1
			return res, nil
		}
		var less, greater float64
		for k, p := range pmf {
			if k <= w {
				less += p
			}
			if k >= w {
				greater += p
			}
		}
		res.P = math.Min(1, 2*math.Min(less, greater))
		return res, nil
	}
	fn := float64(n)
	mean := fn * (fn + 1) / 4
	sd := math.Sqrt((fn*(fn+1)*(2*fn+1) - 0.5*tieTerm) / 24)
	res.Z = (res.Statistic - mean) / sd
	res.P = math.Min(1, math.Erfc(math.Abs(res.Z)/math.Sqrt2)) // 2·(1 − Φ(|z|))
	return res, nil
}

// signedRankPMF is the null distribution of W+ for n untied ranks: pmf[k] = #{subsets of 1..n summing to k}/2ⁿ,
// k = 0 … n(n+1)/2. Counts stay below 2⁵⁰ for n ≤ 50, exact in float64.
func signedRankPMF(n int) []float64 {
	top := n * (n + 1) / 2
	c := make([]float64, top+1)
	c[0] = 1
	for r := 1; r <= n; r++ {
		for k := r * (r + 1) / 2; k >= r; k-- {
			c[k] += c[k-r]
		}
	}
	scale := math.Ldexp(1, -n)
	for k := range c {
		c[k] *= scale
	}
	return c
}
