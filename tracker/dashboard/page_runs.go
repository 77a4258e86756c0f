package dashboard

import (
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/stylelab/stylelab/tracker"
	"github.com/stylelab/stylelab/tracker/filter"
)

// The runs table (/): filter, order, thumbnails, metric columns, group table.

type column struct{ Label, Href, Arrow string }

type runsView struct {
	page
	Filter, Order string
	Limit         int
	Truncated     bool
	Error         string
	Columns       []column
	Runs          []runView
	// Group-by: GroupBy is "", "experiment", "sweep" or "params.KEY"; Metric the metric whose best value
	// each group shows; Best "min" or "max".
	GroupBy, Metric, Best string
	GroupOptions          []string
	MetricOptions         []string
	Groups                []groupView
	GroupChart            template.HTML
}

// MaxMetricColumns bounds how many latest-metric columns the runs table shows.
const MaxMetricColumns = 8

func (s *Server) runsPage(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	v := runsView{page: s.newPage("Runs", false, false), Filter: q.Get("filter"), Order: q.Get("order"), Limit: s.o.Limit,
		GroupBy: q.Get("group"), Metric: q.Get("metric"), Best: q.Get("best")}
	if v.Best == "" {
		v.Best = "min"
	}
	if len(v.Filter) > filter.MaxLen || len(v.Order) > filter.MaxLen {
		// Refused below; not echoed into the form either.
		v.Filter, v.Order = "", ""
	}
	n, err := limitParam(r, s.o.Limit)
	if err != nil {
		v.Error = err.Error()
		render(w, r, http.StatusBadRequest, "runs", v)
		return
	}
	v.Limit = n
	order := v.Order
	if order == "" {
		order = "start_time DESC"
	}
	found, err := s.st.Search(q.Get("filter"), order, v.Limit+1)
	if err != nil {
		v.Error = err.Error()
		render(w, r, searchStatus(err), "runs", v)
		return
	}
	if len(found) > v.Limit {
		found, v.Truncated = found[:v.Limit], true
	}
	runs := make([]*tracker.RunInfo, len(found))
	for i := range found {
		runs[i] = &found[i]
	}
	keys := metricKeys(runs)
	if len(keys) > MaxMetricColumns {
		keys = keys[:MaxMetricColumns]
	}
	sortLink := func(label, field string) column {
		c := column{Label: label}
		if field == "" {
			return c
		}
		next := field + " ASC"
		if v.Order == next || (v.Order == "" && field == "start_time") {
			next, c.Arrow = field+" DESC", " ▲"
			if v.Order == "" {
				next, c.Arrow = field+" ASC", " ▼"
			}
		} else if v.Order == field+" DESC" {
			c.Arrow = " ▼"
		}
		u := url.Values{"order": {next}}
		if v.Filter != "" {
			u.Set("filter", v.Filter)
		}
		c.Href = "/?" + strings.ReplaceAll(u.Encode(), "+", "%20")
		return c
	}
	v.Columns = []column{sortLink("status", "status"), sortLink("name", "name"), sortLink("id", "id"),
		sortLink("experiment", "experiment"), sortLink("started", "start_time"), sortLink("duration", "")}
	for _, k := range keys {
		field := ""
		if !strings.Contains(k, "`") {
			field = "metrics.`" + k + "`"
		}
		v.Columns = append(v.Columns, sortLink(k, field))
	}
	now := time.Now()
	for _, ri := range runs {
		rv := newRunView(ri, keys, now)
		arts, err := s.st.Artifacts(ri.ID)
		if err != nil {
			v.Error = fmt.Sprintf("listing the artifacts of run %s: %v", ri.ID, err)
			render(w, r, http.StatusInternalServerError, "runs", v)
			return
		}
		if a := outputImage(arts); a != nil {
			rv.Thumb, rv.ThumbName = template.URL("/thumbs/"+a.SHA256), a.Name
		}
		v.Runs = append(v.Runs, rv)
	}
	v.GroupOptions = []string{"experiment", "sweep"}
	infos := make([]tracker.RunInfo, len(runs))
	for i, ri := range runs {
		infos[i] = *ri
	}
	for _, k := range tracker.ParamKeys(infos) {
		v.GroupOptions = append(v.GroupOptions, "params."+k)
	}
	v.MetricOptions = metricKeys(runs)
	if v.GroupBy != "" {
		if v.Metric == "" && len(v.MetricOptions) > 0 {
			v.Metric = v.MetricOptions[0]
		}
		groups, err := GroupRuns(runs, v.GroupBy, v.Metric, v.Best)
		if err != nil {
			v.Error = err.Error()
			render(w, r, http.StatusBadRequest, "runs", v)
			return
		}
		v.Groups = groupViews(groups, v.GroupBy)
		if v.GroupChart, err = groupChart(groups, v.GroupBy, v.Metric); err != nil {
			v.Error = err.Error()
			render(w, r, http.StatusInternalServerError, "runs", v)
			return
		}
		v.page.Charts = v.GroupChart != ""
	}
	render(w, r, http.StatusOK, "runs", v)
}
