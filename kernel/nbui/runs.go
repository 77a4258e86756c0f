package nbui

import (
	"fmt"
	"math"
	"sort"
	"strings"
	"time"

	gocharts "github.com/go-echarts/go-echarts/v2/charts"

	"github.com/janpfeifer/gonb/gonbui"

	"github.com/stylelab/stylelab/tracker"
	"github.com/stylelab/stylelab/tracker/charts"
)

// RunCard shows one run: name, status, id, experiment, start and duration, params, final (latest) metrics,
// tags (the provenance.* ones only counted: the dashboard shows them), the error of a failed run and a link to
// its dashboard page.
func RunCard(ri *tracker.RunInfo) { show(RunCardHTML(ri), RunCardText(ri), nil) }

func statusColor(s string) string {
	switch s {
	case "FINISHED":
		return "#2e9b4f"
	case "FAILED":
		return "#c8372d"
	case "RUNNING":
		return "#3b7dd8"
	}
	return "#777"
}

func sortedPairs(m map[string]string) [][2]string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([][2]string, len(keys))
	for i, k := range keys {
		out[i] = [2]string{k, m[k]}
	}
	return out
}

func metricPairs(m map[string]float64) [][2]string {
	s := make(map[string]string, len(m))
	for k, v := range m {
		s[k] = FormatFloat(v)
	}
	return sortedPairs(s)
}

func duration(ri *tracker.RunInfo) string {
	if ri.Start.IsZero() || ri.End.IsZero() {
		return ""
	}
	return roundDur(ri.End.Sub(ri.Start))
}

// RunCardHTML renders a run card; every value is escaped.
func RunCardHTML(ri *tracker.RunInfo) string {
	c := runCard{
		ID: ri.ID, Short: charts.ShortID(ri.ID), Name: ri.Name, Experiment: ri.Experiment, Status: ri.Status,
		StatusColor: statusColor(ri.Status), Duration: duration(ri), Error: ri.Error, URL: RunURL(ri.ID),
		Params: sortedPairs(ri.Params), Metrics: metricPairs(ri.Latest),
	}
	tags := map[string]string{}
	for k, v := range ri.Tags {
		if strings.HasPrefix(k, "provenance.") {
			c.Provenance++
		} else {
			tags[k] = v
		}
	}
	c.Tags = sortedPairs(tags)
	if !ri.Start.IsZero() {
		c.Started = ri.Start.Local().Format(time.DateTime)
	}
	return mustExec(runCardTpl, c)
}

// RunCardText renders a run card as text.
func RunCardText(ri *tracker.RunInfo) string {
	var b strings.Builder
	fmt.Fprintf(&b, "run %s %q  %s  experiment %s", charts.ShortID(ri.ID), ri.Name, ri.Status, ri.Experiment)
	if d := duration(ri); d != "" {
		fmt.Fprintf(&b, "  %s", d)
	}
	fmt.Fprintf(&b, "  %s\n", RunURL(ri.ID))
	if ri.Error != "" {
		fmt.Fprintf(&b, "  error: %s\n", ri.Error)
	}
	for _, kv := range sortedPairs(ri.Params) {
		fmt.Fprintf(&b, "  param  %s = %s\n", kv[0], kv[1])
	}
	for _, kv := range metricPairs(ri.Latest) {
		fmt.Fprintf(&b, "  metric %s = %s\n", kv[0], kv[1])
	}
	return b.String()
}

// Comparison is the table CompareRuns shows: one row per run; the params whose values differ between the runs
// (all of them for a single run) and the chosen metrics' latest values as columns.
type Comparison struct {
	Runs    []tracker.RunInfo
	Params  []string // params that differ
	Metrics []string
	Best    map[string]int // metric → index of the run with the smallest finite value
}

// Compare builds the comparison of runs on metrics (nil: every metric any run has, sorted).
func Compare(runs []tracker.RunInfo, metrics []string) Comparison {
	c := Comparison{Runs: runs, Best: map[string]int{}}
	c.Params = tracker.DifferingParams(runs)
	if metrics == nil {
		ms := map[string]bool{}
		for _, r := range runs {
			for k := range r.Latest {
				ms[k] = true
			}
		}
		for k := range ms {
			metrics = append(metrics, k)
		}
		sort.Strings(metrics)
	}
	c.Metrics = metrics
	for _, m := range metrics {
		best, bv := -1, math.Inf(1)
		for i, r := range runs {
			if v, ok := r.Latest[m]; ok && !math.IsNaN(v) && !math.IsInf(v, 0) && v < bv {
				best, bv = i, v
			}
		}
		if best >= 0 {
			c.Best[m] = best
		}
	}
	return c
}

func (c Comparison) header() []string {
	h := []string{"run", "status"}
	h = append(h, c.Params...)
	return append(h, c.Metrics...)
}

func runLabel(r *tracker.RunInfo) string { return charts.RunLabel(r) }

// HTML renders the comparison; each run links to its dashboard page and the best (smallest) value of each metric
// is bold.
func (c Comparison) HTML(caption string) string {
	t := table{Caption: caption, Header: c.header()}
	for i := range c.Runs {
		r := &c.Runs[i]
		row := []cell{{Text: runLabel(r), Href: RunURL(r.ID), Title: r.ID}, {Text: r.Status}}
		for _, p := range c.Params {
			row = append(row, cell{Text: r.Params[p]})
		}
		for _, m := range c.Metrics {
			v, ok := r.Latest[m]
			txt := ""
			if ok {
				txt = FormatFloat(v)
			}
			b, has := c.Best[m]
			row = append(row, cell{Text: txt, Bold: has && b == i})
		}
		t.Rows = append(t.Rows, row)
	}
	return mustExec(tableTpl, t)
}

// Text renders the comparison as aligned text; the best value of each metric is marked with *.
func (c Comparison) Text(caption string) string {
	var rows [][]string
	for i := range c.Runs {
		r := &c.Runs[i]
		row := []string{runLabel(r), r.Status}
		for _, p := range c.Params {
			row = append(row, r.Params[p])
		}
		for _, m := range c.Metrics {
			txt := ""
			if v, ok := r.Latest[m]; ok {
				txt = FormatFloat(v)
				if b, has := c.Best[m]; has && b == i {
					txt += "*"
				}
			}
			row = append(row, txt)
		}
		rows = append(rows, row)
	}
	return TableText(caption, c.header(), rows)
}

// CompareRuns shows a comparison table of runs on metrics (nil: all metrics).
func CompareRuns(caption string, runs []tracker.RunInfo, metrics []string) {
	c := Compare(runs, metrics)
	show(c.HTML(caption), c.Text(caption), nil)
}

// Chart shows go-echarts line charts built by tracker/charts, with ECharts inlined (charts.Snippet), so the cell
// renders offline and in a saved notebook. Outside a notebook it prints each chart's title and curve count.
func Chart(cs ...*gocharts.Line) error {
	if !InNotebook {
		var b strings.Builder
		for _, c := range cs {
			axis := ""
			if len(c.YAxisList) > 0 && c.YAxisList[0].Type == "log" {
				axis = " (log y)"
			}
			fmt.Fprintf(&b, "chart %q: %d curves%s\n", c.Title.Title, len(c.MultiSeries), axis)
		}
		show("", b.String(), nil)
		return nil
	}
	html, err := charts.Snippet(cs...)
	if err != nil {
		return err
	}
	show(html, "", nil)
	return nil
}

// RunChart shows one run's metrics grouped by kind as the dashboard's run page does (charts.RunGroups): losses
// first on a log axis (main losses, then per-layer/per-style terms), judge metrics, other metrics, then
// counters and timings, each group on its own chart; element ids are unique to this call.
func RunChart(r charts.Reader, runID string, o ...charts.Option) error {
	groups, err := charts.RunGroups(r, runID, "run-"+gonbui.UniqueId(), o...)
	if err != nil {
		return err
	}
	var cs []*gocharts.Line
	for _, g := range groups {
		cs = append(cs, g.Charts...)
	}
	return Chart(cs...)
}

// OverlayRuns shows, for each metric in keys (nil: every metric any run logs, grouped by kind with losses
// first, charts.GroupMetrics), one chart with a curve per run (charts.Overlay), each chart with an element id
// unique to this call so several cells can share a page. Losses open on a log axis when every value is > 0
// (charts.GroupOptions), as in the dashboard: they span decades.
func OverlayRuns(r charts.Reader, runIDs []string, keys []string, o ...charts.Option) error {
	_, byKey, all, err := charts.CompareSeries(r, runIDs)
	if err != nil {
		return err
	}
	if keys == nil {
		for _, g := range charts.GroupMetrics(all) {
			keys = append(keys, g.Keys...)
		}
	}
	prefix := "overlay-" + gonbui.UniqueId()
	var cs []*gocharts.Line
	for i, k := range keys {
		if len(byKey[k]) == 0 {
			return fmt.Errorf("nbui.OverlayRuns: no run among %d logs metric %q (they log %v)", len(runIDs), k, all)
		}
		kind, _ := charts.ClassifyMetric(k)
		oo := append(append(charts.GroupOptions(kind, false), charts.WithID(fmt.Sprintf("%s-%d", prefix, i))), o...)
		cs = append(cs, charts.Overlay(k, byKey[k], oo...))
	}
	return Chart(cs...)
}
