package charts

import (
	"slices"
	"sort"
	"strings"
	"sync"
)

// Metric kinds: what a metric is, read from its name (never guessed per page). Pages draw one chart group per
// kind, in the order Loss, Judge, Other, Counter, so the losses come first and a counter (evals_total rising
// to 41) never shares an axis with losses of 0.003.
type MetricKind string

const (
	// KindLoss is an optimisation loss: total, style, content, tv, then per-layer and per-style terms.
	// Losses span decades, so their charts open with a logarithmic y axis.
	KindLoss MetricKind = "loss"
	// KindJudge is a score of the independent judge network (judge/…, the study issue's metrics).
	KindJudge MetricKind = "judge"
	// KindOther is any metric no rule names.
	KindOther MetricKind = "other"
	// KindCounter is a counter or a timing: evals, evals_total, step times, throughput.
	KindCounter MetricKind = "counter"
)

// kindOrder is the order of chart groups on a page.
var kindOrder = []MetricKind{KindLoss, KindJudge, KindOther, KindCounter}

// KindTitle is the heading of a kind's chart group.
func KindTitle(k MetricKind) string {
	switch k {
	case KindLoss:
		return "Losses"
	case KindJudge:
		return "Judge metrics"
	case KindCounter:
		return "Counters and timings"
	}
	return "Other metrics"
}

// A rule maps a name to a kind: Pattern is an exact name, "prefix*" (names starting with prefix) or
// "*suffix" (names ending with suffix). Rank orders names of one kind (lower first; equal ranks by name).
type rule struct {
	pattern string
	kind    MetricKind
	rank    int
}

var (
	rulesMu sync.RWMutex
	rules   = []rule{
		{"total", KindLoss, 0}, {"style", KindLoss, 1}, {"content", KindLoss, 2}, {"tv", KindLoss, 3},
		{"loss", KindLoss, 4}, {"style_rel", KindLoss, 5},
		{"style/*", KindLoss, 10}, {"content/*", KindLoss, 11}, {"own/*", KindLoss, 12}, {"*_loss", KindLoss, 13},
		{"judge/*", KindJudge, 20},
		{"evals", KindCounter, 30}, {"evals_total", KindCounter, 31}, {"step_time*", KindCounter, 32},
		{"seconds_per_step", KindCounter, 33}, {"ms_per_image", KindCounter, 34}, {"time/*", KindCounter, 35},
		{"*_seconds", KindCounter, 36}, {"*_ms", KindCounter, 37}, {"lr", KindCounter, 38},
	}
)

// RegisterMetricKind adds a naming rule (run kinds call it from init for the metrics they log): pattern is
// an exact metric name, "prefix*" or "*suffix"; rank orders the names of one kind within its group (the
// built-in losses total, style, content, tv have ranks 0–3, per-layer/per-style terms 10–13, judge 20,
// counters 30–38). An exact name wins over a pattern; among patterns the longest wins; a later rule of the
// same pattern replaces an earlier one.
func RegisterMetricKind(pattern string, kind MetricKind, rank int) {
	rulesMu.Lock()
	defer rulesMu.Unlock()
	for i, r := range rules {
		if r.pattern == pattern {
			rules[i] = rule{pattern, kind, rank}
			return
		}
	}
	rules = append(rules, rule{pattern, kind, rank})
}

// ClassifyMetric returns the kind of a metric and its rank within the kind (KindOther, 100 when no rule
// matches).
func ClassifyMetric(name string) (MetricKind, int) {
	rulesMu.RLock()
	defer rulesMu.RUnlock()
	best, bestLen := rule{kind: KindOther, rank: 100}, -1
	for _, r := range rules {
		p := r.pattern
		switch {
		case p == name:
			return r.kind, r.rank
		case strings.HasSuffix(p, "*") && strings.HasPrefix(name, p[:len(p)-1]) && len(p) > bestLen:
			best, bestLen = r, len(p)
		case strings.HasPrefix(p, "*") && strings.HasSuffix(name, p[1:]) && len(p) > bestLen:
			best, bestLen = r, len(p)
		}
	}
	return best.kind, best.rank
}

// MetricGroup is the metrics of one kind, in display order.
type MetricGroup struct {
	Kind  MetricKind
	Title string
	Keys  []string
}

// GroupMetrics sorts metric keys into groups by kind (Loss, Judge, Other, Counter; empty groups left out),
// each ordered by rank, then name.
func GroupMetrics(keys []string) []MetricGroup {
	type ranked struct {
		key  string
		rank int
	}
	by := map[MetricKind][]ranked{}
	for _, k := range keys {
		kind, rank := ClassifyMetric(k)
		by[kind] = append(by[kind], ranked{k, rank})
	}
	var out []MetricGroup
	for _, kind := range kindOrder {
		rs := by[kind]
		if len(rs) == 0 {
			continue
		}
		sort.SliceStable(rs, func(i, j int) bool {
			if rs[i].rank != rs[j].rank {
				return rs[i].rank < rs[j].rank
			}
			return rs[i].key < rs[j].key
		})
		g := MetricGroup{Kind: kind, Title: KindTitle(kind)}
		for _, r := range rs {
			if !slices.Contains(g.Keys, r.key) {
				g.Keys = append(g.Keys, r.key)
			}
		}
		out = append(out, g)
	}
	return out
}
