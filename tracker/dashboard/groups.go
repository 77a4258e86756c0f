package dashboard

import (
	"fmt"
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
			out = append(out, Group{Value: v, Best: math.NaN()})
		}
		g := &out[i]
		g.Count++
		if x, ok := r.Latest[metric]; ok && metric != "" && !math.IsNaN(x) && !math.IsInf(x, 0) {
			if g.BestRun == "" || better(x, g.Best) {
				g.Best, g.BestRun = x, r.ID
			}
		}
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
}

func groupViews(groups []Group, by string) []groupView {
	var out []groupView
	for _, g := range groups {
		v := groupView{Value: g.Value, Count: fmt.Sprint(g.Count)}
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
