package study

import (
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"testing"
)

// obs builds observations of one metric: v[arm][unit] lists the values of seeds 1, 2, ….
func obs(metric string, v map[string]map[string][]float64) []Observation {
	var out []Observation
	for _, arm := range []string{"gram", "mmd-poly", "meanvar"} {
		for u := 0; u < 10; u++ {
			unit := fmt.Sprintf("u%d", u)
			for s, x := range v[arm][unit] {
				out = append(out, Observation{Run: fmt.Sprintf("%s-%s-%d", arm, unit, s), Arm: arm, Unit: unit, Seed: uint64(s + 1), Metric: metric, Value: x})
			}
		}
	}
	return out
}

func TestAnalyseByHand(t *testing.T) {
	// Three arms on 8 units, 2 seeds. gram: unit means 1..6; mmd-poly = gram (identical); meanvar = gram + 1 + u/10
	// (worse on every unit by a different amount).
	v := map[string]map[string][]float64{"gram": {}, "mmd-poly": {}, "meanvar": {}}
	for u := 0; u < 8; u++ {
		unit := fmt.Sprintf("u%d", u)
		m := float64(u + 1)
		v["gram"][unit] = []float64{m - 0.5, m + 0.5} // seed SD √0.5 per unit
		v["mmd-poly"][unit] = []float64{m - 0.5, m + 0.5}
		d := 1 + float64(u)/10
		v["meanvar"][unit] = []float64{m + d, m + d}
	}
	an, err := Analyse(obs(StyleMetric("gram"), v), AnalysisOptions{Resamples: 2000, Seed: 5})
	if err != nil {
		t.Fatal(err)
	}
	if len(an.Arms) != 3 || len(an.Units) != 8 || len(an.Summaries) != 3 || len(an.Comparisons) != 3 {
		t.Fatalf("arms %v units %v summaries %d comparisons %d", an.Arms, an.Units, len(an.Summaries), len(an.Comparisons))
	}
	g := an.Summary("gram", StyleMetric("gram"))
	if g.CI.Estimate != 4.5 || g.Units != 8 || g.Seeds != 16 || g.SeedSD == nil || math.Abs(*g.SeedSD-math.Sqrt(0.5)) > 1e-15 {
		t.Errorf("gram summary %+v (seed sd %v)", g, g.SeedSD)
	}
	if mv := an.Summary("meanvar", StyleMetric("gram")); mv.SeedSD == nil || *mv.SeedSD != 0 || *mv.MeanRank != 3 {
		t.Errorf("meanvar summary %+v", mv)
	}
	// gram and mmd-poly tie on every unit: ranks (1.5, 1.5, 3).
	if r := *an.Summary("gram", StyleMetric("gram")).MeanRank; r != 1.5 {
		t.Errorf("gram mean rank %v", r)
	}
	c := an.Comparison("gram", "meanvar", StyleMetric("gram"))
	// d_u = −(1 + u/10): all negative, no ties → exact, W+ = 0, p = 2/2⁸.
	if c.Units != 8 || !c.Wilcoxon.Exact || c.Wilcoxon.P != 2.0/256 || math.Abs(c.Diff.Estimate+1.35) > 1e-12 {
		t.Errorf("gram vs meanvar %+v", c)
	}
	if !(c.Diff.Lo >= -1.7 && c.Diff.Hi <= -1 && c.Diff.Lo < c.Diff.Hi) {
		t.Errorf("CI %+v outside the range of the differences [−1.7, −1]", c.Diff)
	}
	// Holm over the three comparisons: p = (1 [identical], 2/256, 2/256) → 3·2/256 for both, then 1.
	if math.Abs(c.PHolm-6.0/256) > 1e-15 || c.Better != "gram" {
		t.Errorf("Holm p %v better %q", c.PHolm, c.Better)
	}
	if id := an.Comparison("gram", "mmd-poly", StyleMetric("gram")); id.Relative != 0 || id.Wilcoxon.P != 1 || id.Better != "" {
		t.Errorf("identical arms %+v", id)
	}
	joined := strings.Join(an.Findings, "\n")
	for _, want := range []string{"gram and mmd-poly do not differ on any judge", "gram vs meanvar", "gram better on judge/style/gram"} {
		if !strings.Contains(joined, want) {
			t.Errorf("findings lack %q:\n%s", want, joined)
		}
	}
	// Deterministic for the same seed; the JSON form is encodable (no NaN).
	again, _ := Analyse(obs(StyleMetric("gram"), v), AnalysisOptions{Resamples: 2000, Seed: 5})
	a1, err := json.Marshal(an)
	if err != nil {
		t.Fatal(err)
	}
	a2, _ := json.Marshal(again)
	if string(a1) != string(a2) {
		t.Error("same observations and seed, different analysis")
	}
}

func TestAnalyseHigherIsBetterAndSmallStudies(t *testing.T) {
	// SSIM: higher is better, so the arm with larger values wins and ranks first.
	v := map[string]map[string][]float64{"gram": {}, "meanvar": {}}
	for u := 0; u < 3; u++ {
		unit := fmt.Sprintf("u%d", u)
		v["gram"][unit] = []float64{0.5 + float64(u)/100}
		v["meanvar"][unit] = []float64{0.6 + float64(u)/50}
	}
	an, err := Analyse(obs(MetricSSIM, v), AnalysisOptions{Resamples: 500, Alpha: 0.5})
	if err != nil {
		t.Fatal(err)
	}
	c := an.Comparison("gram", "meanvar", MetricSSIM)
	if c.Better != "meanvar" || *an.Summary("meanvar", MetricSSIM).MeanRank != 1 {
		t.Errorf("higher SSIM should win: %+v", c)
	}
	if s := an.Summary("gram", MetricSSIM); s.SeedSD != nil {
		t.Errorf("one seed: seed SD %v, want none", *s.SeedSD)
	}
	// At α = 0.05, 3 units can never reach significance (smallest p = 0.25): the finding says so.
	an, _ = Analyse(obs(MetricSSIM, v), AnalysisOptions{Resamples: 500})
	if !strings.Contains(an.Findings[0], "too small to decide: about 6 units are needed") ||
		!strings.Contains(an.Findings[0], "the 95% interval of Δ excludes 0 on 1 of 1 judges (meanvar better on judge/ssim)") {
		t.Errorf("finding %q", an.Findings[0])
	}
}

func TestAnalyseMissingAndBadValues(t *testing.T) {
	v := map[string]map[string][]float64{"gram": {"u0": {1}, "u1": {2}, "u2": {3}}, "meanvar": {"u0": {2}, "u2": {5}}}
	an, err := Analyse(obs(MetricContent, v), AnalysisOptions{Resamples: 100})
	if err != nil {
		t.Fatal(err)
	}
	if len(an.Missing) != 1 || an.Missing[0] != "meanvar × u1" {
		t.Errorf("missing %v", an.Missing)
	}
	if c := an.Comparison("gram", "meanvar", MetricContent); c.Units != 2 || c.Diff.Estimate != -1.5 {
		t.Errorf("paired over the shared units: %+v", c)
	}
	v["gram"]["u1"] = []float64{math.NaN()}
	if _, err := Analyse(obs(MetricContent, v), AnalysisOptions{}); err == nil || !strings.Contains(err.Error(), "gram-u1-0") {
		t.Errorf("NaN: %v, want the run named", err)
	}
	if _, err := Analyse(nil, AnalysisOptions{}); err == nil {
		t.Error("no observations accepted")
	}
}

func TestAnalyseDescribedMetricsAndNoBootstrap(t *testing.T) {
	v := map[string]map[string][]float64{"gram": {"u0": {1, 3}, "u1": {2, 2}}, "meanvar": {"u0": {5, 5}, "u1": {6, 6}}}
	obs := append(obs(MetricContent, v), obs("cost/seconds_per_step", v)...)
	an, err := Analyse(obs, AnalysisOptions{Describe: []string{"cost/seconds_per_step", "cost/peak_rss_mb"}, Resamples: -1})
	if err != nil {
		t.Fatal(err)
	}
	// The described metric is summarised, never compared; the one no run has is left out.
	if len(an.Metrics) != 1 || an.Metrics[0] != MetricContent || len(an.Comparisons) != 1 {
		t.Fatalf("metrics %v, %d comparisons", an.Metrics, len(an.Comparisons))
	}
	s := an.Summary("meanvar", "cost/seconds_per_step")
	if s == nil || s.CI.Estimate != 5.5 || s.CI.Lo != 5.5 || s.CI.Hi != 5.5 || s.CI.Resamples != 0 {
		t.Fatalf("described summary without bootstrap: %+v", s)
	}
	if an.Summary("gram", "cost/peak_rss_mb") != nil {
		t.Error("a metric without observations was summarised")
	}
	if c := an.Comparison("gram", "meanvar", MetricContent); c.Diff.Estimate != -3.5 || c.Diff.Lo != c.Diff.Hi {
		t.Errorf("comparison without bootstrap %+v", c.Diff)
	}
}
