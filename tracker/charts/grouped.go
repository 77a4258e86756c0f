package charts

import (
	"fmt"
	"html/template"
	"strings"

	gocharts "github.com/go-echarts/go-echarts/v2/charts"
)

// ChartGroup is one group of charts of a page: the metrics of one kind (GroupMetrics), its charts, and
// whether they open on a log axis.
type ChartGroup struct {
	MetricGroup
	Charts []*gocharts.Line
	LogY   bool
	// WallTime: the charts' points carry wall times, so the x axis can switch to them.
	WallTime bool
}

// IDs lists the element ids of the group's charts.
func (g ChartGroup) IDs() []string {
	ids := make([]string, len(g.Charts))
	for i, c := range g.Charts {
		ids[i] = sanitizeID(c.ChartID)
	}
	return ids
}

// GroupOptions returns the options of a chart of metric kind k: losses open on a log axis when every value
// is > 0 (WithLogIfPositive); with wall, the points carry wall times for the x-axis control.
func GroupOptions(k MetricKind, wall bool) []Option {
	var o []Option
	if wall {
		o = append(o, WithWallTime())
	}
	if k == KindLoss {
		o = append(o, WithLogIfPositive())
	}
	return o
}

// isLog reports whether the chart was built with a logarithmic y axis.
func isLog(c *gocharts.Line) bool {
	return len(c.YAxisList) > 0 && c.YAxisList[0].Type == "log"
}

// RunGroups draws one run's metrics grouped by kind, one chart per group, losses first: the main losses
// (total, style, content, tv …, ranks below 10) and, in a second chart of the loss group, the per-layer and
// per-style terms. Chart ids are idPrefix-<kind> (and idPrefix-loss-terms). A SampledReader reduces each
// metric in the store.
func RunGroups(r Reader, runID, idPrefix string, o ...Option) ([]ChartGroup, error) {
	ri, err := r.GetRun(runID)
	if err != nil {
		return nil, err
	}
	keys, err := r.MetricKeys(ri.ID)
	if err != nil {
		return nil, fmt.Errorf("listing the metrics of run %s: %w", ShortID(ri.ID), err)
	}
	cfg := newConfig(o)
	var out []ChartGroup
	for _, g := range GroupMetrics(keys) {
		parts := [][]string{g.Keys}
		titles := []string{g.Title}
		ids := []string{idPrefix + "-" + string(g.Kind)}
		if g.Kind == KindLoss {
			var main, terms []string
			for _, k := range g.Keys {
				if _, rank := ClassifyMetric(k); rank < 10 {
					main = append(main, k)
				} else {
					terms = append(terms, k)
				}
			}
			parts, titles, ids = nil, nil, nil
			if len(main) > 0 {
				parts, titles, ids = append(parts, main), append(titles, "Losses"), append(ids, idPrefix+"-loss")
			}
			if len(terms) > 0 {
				parts, titles, ids = append(parts, terms), append(titles, "Loss terms per layer and per style"), append(ids, idPrefix+"-loss-terms")
			}
		}
		cg := ChartGroup{MetricGroup: g, WallTime: true}
		for i, ks := range parts {
			series := make([]Series, 0, len(ks))
			for _, k := range ks {
				m, err := SampleHistories(r, []string{ri.ID}, k, cfg.maxPoints)
				if err != nil {
					return nil, fmt.Errorf("reading metric %q of run %s: %w", k, ShortID(ri.ID), err)
				}
				series = append(series, Series{Run: ri.ID, Label: k, Key: k, Points: m[ri.ID]})
			}
			oo := append(append(append([]Option{}, GroupOptions(g.Kind, true)...), o...), WithTitle(titles[i]), WithID(ids[i]))
			c := build(newConfig(oo), series)
			cg.Charts = append(cg.Charts, c)
			cg.LogY = cg.LogY || isLog(c)
		}
		out = append(out, cg)
	}
	return out, nil
}

// MaxWallTimeRuns is the most runs a comparison carries wall times for (a third value per point: about a
// third more page; the 200-run page would grow from 4.9 to 6.4 MB). Larger comparisons plot by step only.
const MaxWallTimeRuns = 20

// CompareGroups draws one Overlay per metric key across runs (series from CompareSeries*), grouped by kind,
// losses first; chart ids are metric-<n> in display order. Wall times are written when runs ≤
// MaxWallTimeRuns.
func CompareGroups(keys []string, byKey map[string][]Series, runs int, o ...Option) []ChartGroup {
	var out []ChartGroup
	n := 0
	wall := runs <= MaxWallTimeRuns
	for _, g := range GroupMetrics(keys) {
		cg := ChartGroup{MetricGroup: g, WallTime: wall}
		for _, k := range g.Keys {
			oo := append(append(append([]Option{}, GroupOptions(g.Kind, wall)...), o...), WithID(fmt.Sprintf("metric-%d", n)))
			n++
			c := Overlay(k, byKey[k], oo...)
			cg.Charts = append(cg.Charts, c)
			cg.LogY = cg.LogY || isLog(c)
		}
		out = append(out, cg)
	}
	return out
}

// Controls is the HTML of a chart group's controls, read by init.js (no inline script): the y axis (log or
// linear, starting as the group's first chart), smoothing (an exponential moving average, weight 0–0.99,
// debiased as TensorBoard's: s_n = (w·m_{n−1} + (1−w)·v_n) / (1 − w^n)), and the x axis (step, or seconds of
// wall time since each curve's first point; offered only when the charts carry wall times). They apply to
// every chart listed in ids.
func Controls(ids []string, logY, wallTime bool) template.HTML {
	var b strings.Builder
	sel := func(on bool) string {
		if on {
			return " selected"
		}
		return ""
	}
	fmt.Fprintf(&b, `<div class="chart-controls" data-charts="%s">`, template.HTMLEscapeString(strings.Join(ids, " ")))
	fmt.Fprintf(&b, `<label>y axis <select data-control="y"><option value="log"%s>log</option><option value="value"%s>linear</option></select></label> `, sel(logY), sel(!logY))
	b.WriteString(`<label>smoothing <input type="range" min="0" max="0.99" step="0.01" value="0" data-control="smooth"> <output>0</output></label> `)
	if wallTime {
		b.WriteString(`<label>x axis <select data-control="x"><option value="step" selected>step</option><option value="time">wall time (s)</option></select></label>`)
	} else {
		fmt.Fprintf(&b, `<span title="wall times are sent for comparisons of at most %d runs">x axis: step</span>`, MaxWallTimeRuns)
	}
	b.WriteString(`</div>`)
	return template.HTML(b.String())
}
