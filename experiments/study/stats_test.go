package study

import (
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

func TestWilcoxonByHand(t *testing.T) {
	// Five positive differences: W+ = 1+2+3+4+5 = 15, W− = 0, T = 0; of the 2⁵ sign patterns only "all +" gives
	// W+ ≥ 15 and only "all −" gives W+ ≤ 0, so p = 2·(1/32) = 0.0625.
	r, err := Wilcoxon([]float64{0.5, 1, 2, 3, 4})
	if err != nil {
		t.Fatal(err)
	}
	if !r.Exact || r.WPlus != 15 || r.WMinus != 0 || r.Statistic != 0 || r.P != 0.0625 || r.N != 5 {
		t.Errorf("all positive: %+v", r)
	}
	// d = (1, −2, 3): ranks 1, 2, 3, W+ = 4, W− = 2. W+ ∈ {0,1,2,3,3,4,5,6} over the 8 patterns:
	// P(W+ ≥ 4) = 3/8, P(W+ ≤ 4) = 6/8 → p = 2·3/8 = 0.75.
	if r, _ := Wilcoxon([]float64{1, -2, 3}); r.P != 0.75 || r.Statistic != 2 {
		t.Errorf("(1,−2,3): %+v, want T 2 p 0.75", r)
	}
	// Zeros are dropped (zero_method "wilcox") and force the normal approximation: (0, 0, 1, 2, 3, −4) →
	// n = 4, ranks 1,2,3,4, W+ = 6, W− = 4, T = 4, z = (4 − 5)/√(4·5·9/24) = −1/√7.5.
	r, _ = Wilcoxon([]float64{0, 0, 1, 2, 3, -4})
	wantP := math.Erfc((1 / math.Sqrt(7.5)) / math.Sqrt2)
	if r.Exact || r.Zeros != 2 || r.N != 4 || r.Statistic != 4 || math.Abs(r.P-wantP) > 1e-15 {
		t.Errorf("zeros: %+v, want p %v", r, wantP)
	}
	// Every difference zero: no evidence of a difference.
	if r, _ := Wilcoxon([]float64{0, 0, 0}); r.P != 1 || r.N != 0 {
		t.Errorf("all zero: %+v", r)
	}
	if _, err := Wilcoxon([]float64{1, math.NaN()}); err == nil || !strings.Contains(err.Error(), "difference 1 is NaN") {
		t.Errorf("NaN difference: %v", err)
	}
}

func TestSignedRankPMF(t *testing.T) {
	// The null distribution sums to 1, is symmetric, and for n = 3 is (1,1,1,2,1,1,1)/8.
	for _, n := range []int{1, 3, 10, 50} {
		p := signedRankPMF(n)
		s := 0.0
		for k := range p {
			s += p[k]
			if p[k] != p[len(p)-1-k] {
				t.Fatalf("n=%d: pmf not symmetric at %d", n, k)
			}
		}
		if math.Abs(s-1) > 1e-12 {
			t.Errorf("n=%d: pmf sums to %v", n, s)
		}
	}
	want := []float64{1, 1, 1, 2, 1, 1, 1}
	for k, p := range signedRankPMF(3) {
		if p != want[k]/8 {
			t.Errorf("n=3: pmf[%d] = %v, want %v/8", k, p, want[k])
		}
	}
	// Holm over m comparisons needs m·2/2ⁿ < α: one comparison 6 units (2/64 < 0.05), 90 comparisons 12 (180/4096).
	if UnitsNeeded(1, 0.05) != 6 || UnitsNeeded(90, 0.05) != 12 {
		t.Errorf("UnitsNeeded(1) = %d, UnitsNeeded(90) = %d", UnitsNeeded(1, 0.05), UnitsNeeded(90, 0.05))
	}
	if MinExactP(5) != 0.0625 || MinExactP(1) != 1 {
		t.Errorf("MinExactP(5) = %v, MinExactP(1) = %v", MinExactP(5), MinExactP(1))
	}
}

func TestHolmByHand(t *testing.T) {
	// Sorted: 0.005 (×4 = 0.02), 0.01 (×3 = 0.03), 0.03 (×2 = 0.06), 0.04 (×1 = 0.04 → running max 0.06).
	got := Holm([]float64{0.01, 0.04, 0.03, 0.005})
	want := []float64{0.03, 0.06, 0.06, 0.02}
	for i := range want {
		if math.Abs(got[i]-want[i]) > 1e-15 {
			t.Fatalf("Holm = %v, want %v", got, want)
		}
	}
	if got := Holm([]float64{0.5, 0.9}); got[0] != 1 || got[1] != 1 {
		t.Errorf("Holm caps at 1: %v", got)
	}
}

func TestBootstrapMeanCI(t *testing.T) {
	// Two values a < b: a resample's mean is a with probability 1/4, (a+b)/2 with 1/2, b with 1/4, so with many
	// resamples the 2.5% and 97.5% percentiles are a and b exactly.
	ci, err := BootstrapMeanCI([]float64{1, 3}, 10000, 0.95, 7)
	if err != nil {
		t.Fatal(err)
	}
	if ci.Lo != 1 || ci.Hi != 3 || ci.Estimate != 2 || ci.Resamples != 10000 || ci.Seed != 7 {
		t.Errorf("two values: %+v", ci)
	}
	// The same seed gives the same interval; another seed (almost surely) another one for continuous data.
	r := rand.New(rand.NewPCG(1, 2))
	x := make([]float64, 30)
	for i := range x {
		x[i] = r.NormFloat64()
	}
	a, _ := BootstrapMeanCI(x, 2000, 0.95, 11)
	b, _ := BootstrapMeanCI(x, 2000, 0.95, 11)
	c, _ := BootstrapMeanCI(x, 2000, 0.95, 12)
	if a != b {
		t.Errorf("same seed, different intervals: %+v %+v", a, b)
	}
	if a == c {
		t.Errorf("different seeds, same interval: %+v", a)
	}
	// For a mean of n normal values the percentile interval is close to x̄ ± 1.96·s/√n (bootstrap theory:
	// the resampled means' spread is s·√((n−1)/n)/√n).
	half := 1.96 * SD(x) * math.Sqrt(float64(len(x)-1)/float64(len(x))) / math.Sqrt(float64(len(x)))
	if w := (a.Hi - a.Lo) / 2; math.Abs(w-half)/half > 0.1 {
		t.Errorf("half-width %v, normal theory %v", w, half)
	}
	if !(a.Lo < a.Estimate && a.Estimate < a.Hi) {
		t.Errorf("estimate outside its interval: %+v", a)
	}
	if ci, _ := BootstrapMeanCI([]float64{4, 4, 4}, 100, 0.9, 1); ci.Lo != 4 || ci.Hi != 4 {
		t.Errorf("constant data: %+v", ci)
	}
	for _, bad := range []struct {
		x     []float64
		b     int
		level float64
		want  string
	}{
		{nil, 10, 0.95, "no values"},
		{[]float64{1}, 0, 0.95, "at least 1"},
		{[]float64{1}, 10, 1, "(0,1)"},
		{[]float64{1, math.Inf(1)}, 10, 0.95, "value 1 is +Inf"},
	} {
		if _, err := BootstrapMeanCI(bad.x, bad.b, bad.level, 0); err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("BootstrapMeanCI(%v, %d, %v): %v, want %q", bad.x, bad.b, bad.level, err, bad.want)
		}
	}
}

func TestSD(t *testing.T) {
	// Three equal values whose float mean is not exactly their value: the spread is still exactly 0.
	x := []float64{0.1, 0.1, 0.1}
	if Mean(x) == 0.1 {
		t.Fatal("premise: (0.1+0.1+0.1)/3 rounds to 0.10000000000000002 in float64")
	}
	if SD(x) != 0 || SD([]float64{5}) != 0 || !math.IsNaN(SD(nil)) {
		t.Errorf("SD of equal values %v, of one %v", SD(x), SD([]float64{5}))
	}
	if got := SD([]float64{1, 2, 3, 4}); math.Abs(got-math.Sqrt(5.0/3)) > 1e-15 {
		t.Errorf("SD(1..4) = %v, want √(5/3)", got)
	}
}

func TestRanksAndPercentileByHand(t *testing.T) {
	if got := Ranks([]float64{10, 30, 20, 20}); !slices.Equal(got, []float64{1, 4, 2.5, 2.5}) {
		t.Errorf("Ranks = %v", got)
	}
	// numpy: percentile([1,2,3,4], 25) = 1.75 (h = 3·0.25 = 0.75).
	if got := Percentile([]float64{4, 1, 3, 2}, 0.25); got != 1.75 {
		t.Errorf("Percentile = %v, want 1.75", got)
	}
}

func TestDeriveSeed(t *testing.T) {
	if DeriveSeed(1, "a", "b") == DeriveSeed(1, "ab") || DeriveSeed(1, "a") == DeriveSeed(2, "a") {
		t.Error("DeriveSeed collides on different parts or seeds")
	}
	if DeriveSeed(3, "mean", "gram") != DeriveSeed(3, "mean", "gram") {
		t.Error("DeriveSeed is not deterministic")
	}
}
