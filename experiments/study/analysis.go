package study

import (
	"cmp"
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"math"
	"slices"
	"strings"
)

// Observation is one judged value: metric of the run that optimised unit (a content × style pair) under arm
// with seed.
type Observation struct {
	Run    string  `json:"run"`
	Arm    string  `json:"arm"`
	Unit   string  `json:"unit"`
	Seed   uint64  `json:"seed"`
	Metric string  `json:"metric"`
	Value  float64 `json:"value"`
}

// AnalysisOptions configure Analyse. Zero fields take the defaults in brackets.
type AnalysisOptions struct {
	Arms    []string // arm order [order of first appearance]
	Metrics []string // metrics analysed and compared, the family Holm corrects over [every metric observed]
	// Describe are metrics only summarised per arm (means, CIs, ranks), never compared: the optimising network's
	// own scores, which differ in kind between arms, and costs. Observations of other metrics are ignored.
	Describe []string
	// Resamples is the number of bootstrap resamples [10000]; negative: no bootstrap (every CI is its estimate,
	// with Resamples 0).
	Resamples int
	Level     float64 // confidence level [0.95]
	Seed      uint64  // bootstrap seed; each statistic's resampler is PCG(DeriveSeed(Seed, arm(s), metric), BootstrapStream)
	Alpha     float64 // significance level of the findings, after Holm [0.05]
	// Identical is the relative difference |Δ̄| / ((|ā| + |b̄|)/2) below which two arms count as identical on a
	// metric [1e-3].
	Identical float64
}

// Defaults of AnalysisOptions.
const (
	DefaultResamples = 10000
	DefaultLevel     = 0.95
	DefaultAlpha     = 0.05
	DefaultIdentical = 1e-3
)

// Summary is one arm on one metric over the units: each unit's value is the mean over its seeds.
type Summary struct {
	Arm    string `json:"arm"`
	Metric string `json:"metric"`
	Units  int    `json:"units"` // units with at least one seed
	Seeds  int    `json:"seeds"` // observations (runs)
	// CI: Estimate is the mean over units of the seed means, with its bootstrap interval over units.
	CI CI `json:"ci"`
	// SeedSD is the seed spread: √(mean over units of the sample variance of the unit's seeds); nil when no
	// unit has two seeds.
	SeedSD *float64 `json:"seed_sd"`
	// MeanRank is the arm's rank among the arms on this metric (1 = best), averaged over the units every arm
	// has; nil when no unit has every arm.
	MeanRank *float64 `json:"mean_rank"`
}

// Comparison is a paired comparison of arms A and B on one metric over the units both have: the differences
// d_u = a_u − b_u of the seed means.
type Comparison struct {
	A      string `json:"a"`
	B      string `json:"b"`
	Metric string `json:"metric"`
	Units  int    `json:"units"`
	// Diff is the mean difference Δ̄ = mean(a_u − b_u) with its bootstrap interval over units.
	Diff CI `json:"diff"`
	// Relative is |Δ̄| / ((|ā| + |b̄|)/2) (0 when both means are 0).
	Relative float64        `json:"relative"`
	Wilcoxon WilcoxonResult `json:"wilcoxon"`
	// PHolm is Wilcoxon.P adjusted by Holm over every comparison of the analysis.
	PHolm float64 `json:"p_holm"`
	// Better is the arm the data favour ("" when neither: PHolm ≥ Alpha), lower values winning except where
	// HigherIsBetter.
	Better string `json:"better,omitempty"`
}

// Analysis is what Analyse finds.
type Analysis struct {
	Arms        []string                                 `json:"arms"`
	Units       []string                                 `json:"units"`
	Metrics     []string                                 `json:"metrics"`
	Options     AnalysisOptions                          `json:"options"`
	Summaries   []Summary                                `json:"summaries"`         // arm-major, metrics in order
	Comparisons []Comparison                             `json:"comparisons"`       // pairs (i<j) in arm order, then metrics
	Missing     []string                                 `json:"missing,omitempty"` // "arm × unit" cells without any observation
	Findings    []string                                 `json:"findings"`          // one sentence per pair of arms
	UnitMeans   map[string]map[string]map[string]float64 `json:"-"`                 // metric → arm → unit → seed mean
}

// Summary returns the summary of arm on metric (nil when absent).
func (a *Analysis) Summary(arm, metric string) *Summary {
	for i := range a.Summaries {
		if a.Summaries[i].Arm == arm && a.Summaries[i].Metric == metric {
			return &a.Summaries[i]
		}
	}
	return nil
}

// Comparison returns the comparison of arms x and y on metric, oriented as stored (A before B in arm order).
func (a *Analysis) Comparison(x, y, metric string) *Comparison {
	for i := range a.Comparisons {
		c := &a.Comparisons[i]
		if c.Metric == metric && ((c.A == x && c.B == y) || (c.A == y && c.B == x)) {
			return c
		}
	}
	return nil
}

// DeriveSeed is the seed of one statistic: FNV-1a (64 bit) over the study seed's 8 bytes and the parts, each
// followed by a 0 byte, so that adding an arm or a metric leaves every other statistic's resamples unchanged.
func DeriveSeed(seed uint64, parts ...string) uint64 {
	h := fnv.New64a()
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], seed)
	h.Write(b[:])
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return h.Sum64()
}

// Analyse turns observations into the study's statistics. The unit of replication is the unit: seeds are
// averaged within each arm × unit (their spread reported as SeedSD), never counted as independent. For each arm
// and metric: the mean over units and its percentile bootstrap CI (BootstrapMeanCI). For each pair of arms and
// metric, over the units both arms have: the mean paired difference with its bootstrap CI, the Wilcoxon
// signed-rank test, and Holm's correction over all those comparisons. Ranks: per unit that every arm has, the
// arms are ranked on each metric (1 = best, average ranks for ties; HigherIsBetter decides the direction) and
// averaged. The same observations and options always give the same numbers. Non-finite values are an error
// naming the run.
func Analyse(obs []Observation, o AnalysisOptions) (*Analysis, error) {
	if o.Resamples == 0 {
		o.Resamples = DefaultResamples
	}
	if o.Level == 0 {
		o.Level = DefaultLevel
	}
	if o.Alpha == 0 {
		o.Alpha = DefaultAlpha
	}
	if o.Identical == 0 {
		o.Identical = DefaultIdentical
	}
	if len(obs) == 0 {
		return nil, fmt.Errorf("study: nothing to analyse: no judged runs (run the study, then evaluate it)")
	}
	ci := func(x []float64, seed uint64) (CI, error) {
		if o.Resamples < 0 {
			if len(x) == 0 {
				return CI{}, fmt.Errorf("study: no values to summarise")
			}
			m := Mean(x)
			return CI{Estimate: m, Lo: m, Hi: m, Level: o.Level}, nil
		}
		return BootstrapMeanCI(x, o.Resamples, o.Level, seed)
	}
	arms, units, metrics := slices.Clone(o.Arms), []string{}, slices.Clone(o.Metrics)
	// metric → arm → unit → values over seeds
	vals := map[string]map[string]map[string][]float64{}
	for _, ob := range obs {
		if math.IsNaN(ob.Value) || math.IsInf(ob.Value, 0) {
			return nil, fmt.Errorf("study: run %s (arm %s, unit %s, seed %d) has %s = %v: rerun or drop it before analysing",
				ob.Run, ob.Arm, ob.Unit, ob.Seed, ob.Metric, ob.Value)
		}
		if len(o.Arms) == 0 && !slices.Contains(arms, ob.Arm) {
			arms = append(arms, ob.Arm)
		}
		if !slices.Contains(units, ob.Unit) {
			units = append(units, ob.Unit)
		}
		if slices.Contains(o.Describe, ob.Metric) {
			// summarised below, never compared
		} else if len(o.Metrics) == 0 && !slices.Contains(metrics, ob.Metric) {
			metrics = append(metrics, ob.Metric)
		} else if len(o.Metrics) > 0 && !slices.Contains(metrics, ob.Metric) {
			continue
		}
		if vals[ob.Metric] == nil {
			vals[ob.Metric] = map[string]map[string][]float64{}
		}
		if vals[ob.Metric][ob.Arm] == nil {
			vals[ob.Metric][ob.Arm] = map[string][]float64{}
		}
		vals[ob.Metric][ob.Arm][ob.Unit] = append(vals[ob.Metric][ob.Arm][ob.Unit], ob.Value)
	}
	o.Arms, o.Metrics = arms, metrics
	an := &Analysis{Arms: arms, Units: units, Metrics: metrics, Options: o, UnitMeans: map[string]map[string]map[string]float64{}}
	for _, arm := range arms {
		for _, u := range units {
			seen := false
			for _, m := range metrics {
				if len(vals[m][arm][u]) > 0 {
					seen = true
				}
			}
			if !seen {
				an.Missing = append(an.Missing, arm+" × "+u)
			}
		}
	}
	for _, m := range append(slices.Clone(metrics), o.Describe...) {
		an.UnitMeans[m] = map[string]map[string]float64{}
		for _, arm := range arms {
			an.UnitMeans[m][arm] = map[string]float64{}
			for u, v := range vals[m][arm] {
				an.UnitMeans[m][arm][u] = Mean(v)
			}
		}
	}
	// Summaries and ranks, of the compared metrics then the described ones.
	summarised := append(slices.Clone(metrics), o.Describe...)
	for _, arm := range arms {
		for _, m := range summarised {
			s := Summary{Arm: arm, Metric: m}
			var means []float64
			var varSum float64
			var varUnits int
			for _, u := range units {
				v := vals[m][arm][u]
				if len(v) == 0 {
					continue
				}
				s.Units++
				s.Seeds += len(v)
				means = append(means, Mean(v))
				if len(v) > 1 {
					sd := SD(v)
					varSum += sd * sd
					varUnits++
				}
			}
			if s.Units == 0 {
				if slices.Contains(o.Describe, m) {
					continue // a described metric some arm lacks (e.g. a cost not recorded) is left out
				}
				return nil, fmt.Errorf("study: arm %s has no value of %s on any unit", arm, m)
			}
			ci, err := ci(means, DeriveSeed(o.Seed, "mean", arm, m))
			if err != nil {
				return nil, err
			}
			s.CI = ci
			if varUnits > 0 {
				sd := math.Sqrt(varSum / float64(varUnits))
				s.SeedSD = &sd
			}
			an.Summaries = append(an.Summaries, s)
		}
	}
	for _, m := range summarised {
		rankSum := make([]float64, len(arms))
		n := 0
		for _, u := range units {
			row := make([]float64, len(arms))
			complete := true
			for i, arm := range arms {
				v, ok := an.UnitMeans[m][arm][u]
				if !ok {
					complete = false
					break
				}
				if HigherIsBetter(m) {
					v = -v
				}
				row[i] = v
			}
			if !complete {
				continue
			}
			for i, r := range Ranks(row) {
				rankSum[i] += r
			}
			n++
		}
		for i, arm := range arms {
			if s := an.Summary(arm, m); s != nil {
				if n > 0 {
					r := rankSum[i] / float64(n)
					s.MeanRank = &r
				}
			}
		}
	}
	// Paired comparisons.
	for i := range arms {
		for j := i + 1; j < len(arms); j++ {
			a, b := arms[i], arms[j]
			for _, m := range metrics {
				var d, av, bv []float64
				for _, u := range units {
					x, okA := an.UnitMeans[m][a][u]
					y, okB := an.UnitMeans[m][b][u]
					if okA && okB {
						d = append(d, x-y)
						av = append(av, x)
						bv = append(bv, y)
					}
				}
				if len(d) == 0 {
					return nil, fmt.Errorf("study: arms %s and %s share no unit with %s: nothing to compare", a, b, m)
				}
				c := Comparison{A: a, B: b, Metric: m, Units: len(d)}
				ci, err := ci(d, DeriveSeed(o.Seed, "diff", a, b, m))
				if err != nil {
					return nil, err
				}
				c.Diff = ci
				if scale := (math.Abs(Mean(av)) + math.Abs(Mean(bv))) / 2; scale > 0 {
					c.Relative = math.Abs(ci.Estimate) / scale
				}
				if c.Wilcoxon, err = Wilcoxon(d); err != nil {
					return nil, err
				}
				an.Comparisons = append(an.Comparisons, c)
			}
		}
	}
	ps := make([]float64, len(an.Comparisons))
	for i, c := range an.Comparisons {
		ps[i] = c.Wilcoxon.P
	}
	for i, p := range Holm(ps) {
		c := &an.Comparisons[i]
		c.PHolm = p
		if p < o.Alpha && c.Diff.Estimate != 0 {
			lowerA := c.Diff.Estimate < 0
			if lowerA != HigherIsBetter(c.Metric) {
				c.Better = c.A
			} else {
				c.Better = c.B
			}
		}
	}
	an.Findings = an.findings()
	return an, nil
}

// UnitsNeeded is the least number of units n with which the exact Wilcoxon test can reach significance at
// alpha after Holm's correction over m comparisons: the smallest n with m·2/2ⁿ < alpha.
func UnitsNeeded(m int, alpha float64) int {
	n := 1
	for float64(m)*MinExactP(n) >= alpha && n < 64 {
		n++
	}
	return n
}

// MinExactP is the smallest two-sided p-value the exact Wilcoxon test can give with n units, 2/2ⁿ (capped at 1):
// with n ≤ 5 it is above 0.05, so no difference can be significant however large.
func MinExactP(n int) float64 { return math.Min(1, math.Ldexp(2, -n)) }

// findings writes one sentence per pair of arms saying what the data support.
func (a *Analysis) findings() []string {
	var out []string
	o := a.Options
	for i := range a.Arms {
		for j := i + 1; j < len(a.Arms); j++ {
			x, y := a.Arms[i], a.Arms[j]
			var cs []*Comparison
			for k := range a.Comparisons {
				if c := &a.Comparisons[k]; c.A == x && c.B == y {
					cs = append(cs, c)
				}
			}
			maxRel, identical := 0.0, true
			var sig []*Comparison
			for _, c := range cs {
				maxRel = math.Max(maxRel, c.Relative)
				if c.Relative >= o.Identical {
					identical = false
				}
				if c.Better != "" {
					sig = append(sig, c)
				}
			}
			n := cs[0].Units
			switch {
			case identical:
				out = append(out, fmt.Sprintf("%s and %s do not differ on any judge (largest relative |Δ| %.2g < %g, %d units).", x, y, maxRel, o.Identical, n))
			case len(sig) == 0:
				m := len(a.Comparisons)
				s := fmt.Sprintf("%s and %s: no difference survives Holm's correction at α = %g over the %d comparisons (%d judges here; largest relative |Δ| %.2g, %d units)", x, y, o.Alpha, m, len(cs), maxRel, n)
				if minHolm := math.Min(1, float64(m)*MinExactP(n)); minHolm >= o.Alpha {
					s += fmt.Sprintf("; with %d units none can: the smallest possible p-value is %.3g, %.3g after Holm, so this study is too small to decide: about %d units are needed", n, MinExactP(n), minHolm, UnitsNeeded(m, o.Alpha))
				}
				if o.Resamples > 0 {
					var excl []string
					for _, c := range cs {
						if c.Diff.Lo > 0 || c.Diff.Hi < 0 {
							better := x // x − y < 0: x is lower
							if (c.Diff.Estimate > 0) != HigherIsBetter(c.Metric) {
								better = y
							}
							if len(excl) < 3 {
								excl = append(excl, fmt.Sprintf("%s better on %s", better, c.Metric))
							} else if len(excl) == 3 {
								excl = append(excl, "…")
							}
						}
					}
					k := 0
					for _, c := range cs {
						if c.Diff.Lo > 0 || c.Diff.Hi < 0 {
							k++
						}
					}
					if k > 0 {
						s += fmt.Sprintf("; uncorrected, the %g%% interval of Δ excludes 0 on %d of %d judges (%s)", 100*o.Level, k, len(cs), strings.Join(excl, ", "))
					}
				}
				out = append(out, s+".")
			default:
				slices.SortFunc(sig, func(p, q *Comparison) int { return cmp.Compare(p.PHolm, q.PHolm) })
				var parts []string
				for k, c := range sig {
					if k == 4 {
						parts = append(parts, fmt.Sprintf("and %d more", len(sig)-4))
						break
					}
					parts = append(parts, fmt.Sprintf("%s better on %s (Δ = %.3g, %g%% CI [%.3g, %.3g], Holm p = %.2g)",
						c.Better, c.Metric, c.Diff.Estimate, 100*o.Level, c.Diff.Lo, c.Diff.Hi, c.PHolm))
				}
				out = append(out, fmt.Sprintf("%s vs %s (Δ = %s − %s, %d units): %d of %d judges differ: %s.", x, y, x, y, n, len(sig), len(cs), strings.Join(parts, "; ")))
			}
		}
	}
	return out
}
