package dashboard

import (
	"encoding/json"
	"fmt"
	"html/template"
	"math"
	"net/url"
	"sort"
	"strings"

	"github.com/stylelab/stylelab/tracker"
	"github.com/stylelab/stylelab/tracker/charts"
)

// SweepTag is the tag every run of a sweep carries (its sweep id); SweepParamsTag lists the swept params,
// comma-separated (set by the sweep command; the sweep view falls back to tracker.DifferingParams).
const (
	SweepTag       = "sweep.id"
	SweepParamsTag = "sweep.params"
)

// Group is one group of the runs table: the runs sharing a value of the group-by key.
type Group struct {
	Value string `json:"value"` // "" when the runs lack the key
	Count int    `json:"count"`
	// Best is the best finite latest value of the chosen metric in the group (lowest, or highest with
	// "max"); BestRun is its run id, "" when no run of the group has a finite value.
	Best    float64 `json:"best"`
	BestRun string  `json:"best_run"`
	// Statistics of the finite latest values of the metric in the group (N of them; NaN when N is 0):
	// Mean = Σx/N, Std the sample standard deviation √(Σ(x−Mean)²/(N−1)) (NaN when N < 2), Min and Max.
	N                   int     `json:"n"`
	Mean, Std, Min, Max float64 `json:"-"`
	// sum and sumSq of (x − first x), for a numerically stable variance (shifted data).
	shift, sum, sumSq float64
}

// groupKey is what a run is grouped by: "experiment", "sweep" (tag sweep.id) or "params.KEY".
func groupKey(by string) (func(*tracker.RunInfo) (string, bool), error) {
	switch {
	case by == "experiment":
		return func(r *tracker.RunInfo) (string, bool) { return r.Experiment, true }, nil
	case by == "sweep":
		return func(r *tracker.RunInfo) (string, bool) { v, ok := r.Tags[SweepTag]; return v, ok }, nil
	case strings.HasPrefix(by, "params.") && len(by) > len("params."):
		k := strings.TrimPrefix(by, "params.")
		return func(r *tracker.RunInfo) (string, bool) { v, ok := r.Params[k]; return v, ok }, nil
	}
	return nil, fmt.Errorf("cannot group by %q: use group=experiment, group=sweep (tag %s) or group=params.KEY", by, SweepTag)
}

// GroupRuns groups runs by experiment, sweep or a param and, per group, counts them and finds the best
// finite latest value of metric (min when best is "min" or "", max when "max"). Groups are sorted by best
// value (groups without one last), then by value; runs lacking the key form the group with Value "".
func GroupRuns(runs []*tracker.RunInfo, by, metric, best string) ([]Group, error) {
	key, err := groupKey(by)
	if err != nil {
		return nil, err
	}
	if best != "" && best != "min" && best != "max" {
		return nil, fmt.Errorf("best must be min or max (got %q)", best)
	}
	better := func(a, b float64) bool { return a < b }
	if best == "max" {
		better = func(a, b float64) bool { return a > b }
	}
	index := map[string]int{}
	var out []Group
	for _, r := range runs {
		v, ok := key(r)
		if !ok {
			v = ""
		}
		i, seen := index[v]
		if !seen {
			i = len(out)
			index[v] = i
			out = append(out, Group{Value: v, Best: math.NaN(), Mean: math.NaN(), Std: math.NaN(), Min: math.NaN(), Max: math.NaN()})
		}
		g := &out[i]
		g.Count++
		if x, ok := r.Latest[metric]; ok && metric != "" && !math.IsNaN(x) && !math.IsInf(x, 0) {
			if g.BestRun == "" || better(x, g.Best) {
				g.Best, g.BestRun = x, r.ID
			}
			g.add(x)
		}
	}
	for i := range out {
		out[i].finish()
	}
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if (a.BestRun == "") != (b.BestRun == "") {
			return b.BestRun == ""
		}
		if a.BestRun != "" && a.Best != b.Best {
			return better(a.Best, b.Best)
		}
		return a.Value < b.Value
	})
	return out, nil
}

// add counts a finite value into the group's statistics.
func (g *Group) add(x float64) {
	if g.N == 0 {
		g.shift, g.Min, g.Max = x, x, x
	}
	d := x - g.shift
	g.N++
	g.sum += d
	g.sumSq += d * d
	g.Min, g.Max = math.Min(g.Min, x), math.Max(g.Max, x)
}

// finish computes Mean and Std from the shifted sums: Mean = shift + Σd/N,
// Std² = (Σd² − (Σd)²/N) / (N − 1).
func (g *Group) finish() {
	if g.N == 0 {
		return
	}
	n := float64(g.N)
	g.Mean = g.shift + g.sum/n
	if g.N >= 2 {
		g.Std = math.Sqrt(math.Max(0, (g.sumSq-g.sum*g.sum/n)/(n-1)))
	}
}

// MarshalJSON writes the statistics as tracker values (numbers, or "NaN" when undefined).
func (g Group) MarshalJSON() ([]byte, error) {
	type plain Group
	return json.Marshal(struct {
		plain
		Best tracker.Value `json:"best"`
		Mean tracker.Value `json:"mean"`
		Std  tracker.Value `json:"std"`
		Min  tracker.Value `json:"min"`
		Max  tracker.Value `json:"max"`
	}{plain(g), tracker.Value(g.Best), tracker.Value(g.Mean), tracker.Value(g.Std), tracker.Value(g.Min), tracker.Value(g.Max)})
}

// quoteFilter quotes a string for the filter language ('…', or "…" when it holds a ');
// ok is false when it holds both quote characters (no filter can name it).
func quoteFilter(v string) (string, bool) {
	switch {
	case !strings.Contains(v, "'"):
		return "'" + v + "'", true
	case !strings.Contains(v, `"`):
		return `"` + v + `"`, true
	}
	return "", false
}

// groupFilter is the filter selecting one group's runs ("" when none can: a missing key or unquotable value).
func groupFilter(by, value string) string {
	q, ok := quoteFilter(value)
	if !ok || value == "" {
		return ""
	}
	switch {
	case by == "experiment":
		return "experiment = " + q
	case by == "sweep":
		return "tags.`" + SweepTag + "` = " + q
	case strings.HasPrefix(by, "params."):
		k := strings.TrimPrefix(by, "params.")
		if strings.Contains(k, "`") {
			return ""
		}
		return "params.`" + k + "` = " + q
	}
	return ""
}

// groupView is a group as the runs table shows it.
type groupView struct {
	Value, Count, Best, BestHref, BestShort, Href, SweepHref string
	N, Mean, Std, Min, Max                                   string
}

func groupViews(groups []Group, by string) []groupView {
	var out []groupView
	for _, g := range groups {
		v := groupView{Value: g.Value, Count: fmt.Sprint(g.Count), N: fmt.Sprint(g.N)}
		if g.N > 0 {
			v.Mean, v.Min, v.Max = fmtValue(g.Mean), fmtValue(g.Min), fmtValue(g.Max)
		}
		if g.N > 1 {
			v.Std = fmtValue(g.Std)
		}
		if g.BestRun != "" {
			v.Best, v.BestHref, v.BestShort = fmtValue(g.Best), "/runs/"+g.BestRun, charts.ShortID(g.BestRun)
		}
		if f := groupFilter(by, g.Value); f != "" {
			v.Href = "/?" + strings.ReplaceAll(url.Values{"filter": {f}}.Encode(), "+", "%20")
		}
		if by == "sweep" && g.Value != "" {
			v.SweepHref = "/sweeps/" + url.PathEscape(g.Value)
		}
		out = append(out, v)
	}
	return out
}

// groupChart draws each group's mean of the metric with error bars: an ECharts boxplot per group whose box
// spans mean ± std and whose whiskers reach min and max (the line inside the box is the mean), and the mean
// as a point. Groups without a finite value are left out; nil when none has one.
func groupChart(groups []Group, by, metric string) (template.HTML, error) {
	var cats []string
	var box [][]float64
	var means []float64
	for _, g := range groups {
		if g.N == 0 {
			continue
		}
		name := g.Value
		if name == "" {
			name = "(none)"
		}
		sd := g.Std
		if math.IsNaN(sd) {
			sd = 0
		}
		cats = append(cats, name)
		box = append(box, []float64{g.Min, math.Max(g.Min, g.Mean-sd), g.Mean, math.Min(g.Max, g.Mean+sd), g.Max})
		means = append(means, g.Mean)
	}
	if len(cats) == 0 {
		return "", nil
	}
	opt := map[string]any{
		"animation": false,
		"tooltip":   map[string]any{"trigger": "item"},
		"legend":    map[string]any{"top": 28, "data": []string{"mean ± std (box), min–max (whiskers)", "mean"}},
		"grid":      map[string]any{"left": 16, "right": 24, "top": 64, "bottom": 40, "containLabel": true},
		"xAxis":     map[string]any{"type": "category", "data": cats, "name": by, "nameLocation": "middle", "nameGap": 28},
		"yAxis":     map[string]any{"type": "value", "scale": true, "name": metric},
		"series": []any{
			map[string]any{"name": "mean ± std (box), min–max (whiskers)", "type": "boxplot", "data": box},
			map[string]any{"name": "mean", "type": "scatter", "data": means, "symbolSize": 8},
		},
	}
	return optionElement("group-chart", fmt.Sprintf("%s by %s: mean ± std, min–max", metric, by), opt, 340)
}
