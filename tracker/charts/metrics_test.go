package charts

import (
	"fmt"
	"strings"
	"testing"
)

// Metric kinds come from the names: losses first in rank order (total, style, content, tv, then per-layer
// and per-style terms), judge scores, unknown metrics, then counters and timings; a registered rule
// extends (or overrides) the built-in ones, the longest matching pattern winning.
func TestGroupMetrics(t *testing.T) {
	keys := []string{"evals_total", "evals", "style", "total", "style/relu1_1", "content/starry", "judge/ssim",
		"tv", "content", "style_rel", "mystery", "step_time_ms", "own/style", "judge/style/gram/relu1_1"}
	var got []string
	for _, g := range GroupMetrics(keys) {
		got = append(got, fmt.Sprintf("%s[%s]", g.Kind, strings.Join(g.Keys, " ")))
	}
	want := "loss[total style content tv style_rel style/relu1_1 content/starry own/style] " +
		"judge[judge/ssim judge/style/gram/relu1_1] other[mystery] counter[evals evals_total step_time_ms]"
	if strings.Join(got, " ") != want {
		t.Errorf("groups\n got %s\nwant %s", strings.Join(got, " "), want)
	}
	RegisterMetricKind("mystery", KindCounter, 39)
	RegisterMetricKind("judge/ssim*", KindOther, 50) // longer than judge/*: wins
	defer func() {
		rulesMu.Lock()
		rules = rules[:len(rules)-2]
		rulesMu.Unlock()
	}()
	if k, r := ClassifyMetric("mystery"); k != KindCounter || r != 39 {
		t.Errorf("registered exact name: %s %d", k, r)
	}
	if k, _ := ClassifyMetric("judge/ssim_mean"); k != KindOther {
		t.Errorf("the longest pattern must win: judge/ssim_mean is %s", k)
	}
	if k, _ := ClassifyMetric("judge/colour_sw"); k != KindJudge {
		t.Errorf("judge/colour_sw is %s", k)
	}
}
