package dashboard

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"html/template"
	"math"
	"net/http"
	"strings"
	"time"

	"github.com/stylelab/stylelab/tracker"
)

//go:embed static/sweep.js
var sweepJS []byte

// MaxSweepRuns is the most runs the sweep view reads.
const MaxSweepRuns = 2000

// MaxSweepIDLen bounds the sweep id a request may name (ids look like name-1a2b3c4d); a longer one is a
// 400, never a filter built from it.
const MaxSweepIDLen = 1000

// Sweep is what the sweep view draws: the runs tagged sweep.id = ID, the params swept (tag sweep.params,
// else tracker.DifferingParams), every param key, and the metric keys.
type Sweep struct {
	ID string `json:"id"`
	// Swept lists the swept params; SweptFrom says where they came from: "tag" (sweep.params) or "differ".
	Swept     []string      `json:"swept"`
	SweptFrom string        `json:"swept_from"`
	Params    []string      `json:"params"`
	Metrics   []string      `json:"metrics"`
	Metric    string        `json:"metric"` // the metric chosen for the parallel chart
	Runs      []SweepRunRow `json:"runs"`
}

// SweepRunRow is one run of a sweep: its params, and its latest metric values (null when not finite).
type SweepRunRow struct {
	ID      string              `json:"id"`
	Label   string              `json:"label"`
	Status  string              `json:"status"`
	Params  map[string]string   `json:"params"`
	Metrics map[string]*float64 `json:"metrics"`
}

// sweptParams reads the comma-separated tag sweep.params of the first run that has it (keys trimmed,
// empty ones dropped); without one, the params that differ between the runs.
func sweptParams(runs []tracker.RunInfo) ([]string, string) {
	for _, r := range runs {
		if v, ok := r.Tags[SweepParamsTag]; ok {
			var out []string
			for _, k := range strings.Split(v, ",") {
				if k = strings.TrimSpace(k); k != "" {
					out = append(out, k)
				}
			}
			if len(out) > 0 {
				return out, "tag"
			}
		}
	}
	return tracker.DifferingParams(runs), "differ"
}

// ReadSweep reads the runs tagged sweep.id = id (oldest first) and what the sweep view needs of them;
// metric "" chooses "total" when some run logged it, else the first metric key. tracker.ErrNotFound when
// no run carries the tag.
func ReadSweep(st Store, id, metric string) (*Sweep, error) {
	if len(id) > MaxSweepIDLen {
		return nil, fmt.Errorf("%w: a sweep id of %d bytes (%.40q…): sweep ids are at most %d bytes (see the runs table grouped by sweep: /?group=sweep)",
			ErrBadCompare, len(id), id, MaxSweepIDLen)
	}
	q, ok := quoteFilter(id)
	if !ok || id == "" {
		return nil, fmt.Errorf("%w: sweep id %q cannot be looked up (it holds both quote characters)", tracker.ErrNotFound, id)
	}
	found, err := st.Search("tags.`"+SweepTag+"` = "+q, "start_time ASC", MaxSweepRuns+1)
	if err != nil {
		return nil, err
	}
	if len(found) == 0 {
		return nil, fmt.Errorf("%w: no run is tagged %s=%s (see the runs table grouped by sweep: /?group=sweep)", tracker.ErrNotFound, SweepTag, id)
	}
	if len(found) > MaxSweepRuns {
		return nil, fmt.Errorf("%w: sweep %s has more than %d runs: too many to draw", ErrBadCompare, id, MaxSweepRuns)
	}
	sw := &Sweep{ID: id, Params: tracker.ParamKeys(found)}
	sw.Swept, sw.SweptFrom = sweptParams(found)
	ptrs := make([]*tracker.RunInfo, len(found))
	for i := range found {
		ptrs[i] = &found[i]
	}
	sw.Metrics = metricKeys(ptrs)
	switch {
	case metric != "":
		known := false
		for _, k := range sw.Metrics {
			known = known || k == metric
		}
		if !known {
			return nil, fmt.Errorf("%w: no run of sweep %s logged metric %q (its metrics: %s)", ErrBadCompare, id, metric, strings.Join(sw.Metrics, ", "))
		}
		sw.Metric = metric
	case len(sw.Metrics) > 0:
		sw.Metric = sw.Metrics[0]
		for _, k := range sw.Metrics {
			if k == "total" {
				sw.Metric = k
			}
		}
	}
	for _, r := range ptrs {
		row := SweepRunRow{ID: r.ID, Label: r.Name, Status: r.Status, Params: r.Params, Metrics: map[string]*float64{}}
		if row.Params == nil {
			row.Params = map[string]string{}
		}
		for k, v := range r.Latest {
			if !math.IsNaN(v) && !math.IsInf(v, 0) {
				v := v
				row.Metrics[k] = &v
			} else {
				row.Metrics[k] = nil
			}
		}
		sw.Runs = append(sw.Runs, row)
	}
	return sw, nil
}

type sweepView struct {
	page
	Sweep   *Sweep
	Data    template.JS // the Sweep as JSON, read by /assets/sweep.js
	Runs    []runView
	Compare string // /compare link for every run, "" when there are too many
}

// GET /sweeps/{id}?metric=KEY: the sweep view.
func (s *Server) sweepPage(w http.ResponseWriter, r *http.Request) {
	sw, err := ReadSweep(s.st, r.PathValue("id"), r.URL.Query().Get("metric"))
	if err != nil {
		httpError(w, r, lookupStatus(err), "%v", err)
		return
	}
	data, err := json.Marshal(sw)
	if err != nil {
		httpError(w, r, http.StatusInternalServerError, "encoding the sweep: %v", err)
		return
	}
	v := sweepView{page: s.newPage("Sweep "+sw.ID, true, false), Sweep: sw, Data: template.JS(data)}
	now := time.Now()
	ids := make([]string, 0, len(sw.Runs))
	for _, row := range sw.Runs {
		ri, err := s.st.GetRun(row.ID)
		if err != nil {
			httpError(w, r, lookupStatus(err), "%v", err)
			return
		}
		rv := newRunView(ri, nil, now)
		arts, err := s.st.Artifacts(ri.ID)
		if err != nil {
			httpError(w, r, http.StatusInternalServerError, "listing the artifacts of run %s: %v", ri.ID, err)
			return
		}
		if a := outputImage(arts); a != nil {
			rv.Thumb, rv.ThumbName = template.URL("/thumbs/"+a.SHA256), a.Name
		}
		v.Runs = append(v.Runs, rv)
		ids = append(ids, ri.ID)
	}
	if len(ids) <= MaxCompare {
		v.Compare = "/compare?ids=" + strings.Join(ids, ",")
	}
	render(w, r, http.StatusOK, "sweep", v)
}

// GET /api/sweeps/{id}?metric=KEY → the Sweep as JSON (what the sweep view draws; non-finite metric
// values are null).
func (s *Server) apiSweep(w http.ResponseWriter, r *http.Request) {
	sw, err := ReadSweep(s.st, r.PathValue("id"), r.URL.Query().Get("metric"))
	if err != nil {
		writeJSONError(w, r, lookupStatus(err), err.Error())
		return
	}
	writeJSON(w, r, http.StatusOK, sw)
}
