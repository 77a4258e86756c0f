package dashboard

import (
	"html/template"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"

	gocharts "github.com/go-echarts/go-echarts/v2/charts"
	"github.com/stylelab/stylelab/tracker/charts"
)

// One run's page (/runs/{id}): images first, then metrics, params, tags, provenance, other artifacts.

type kv struct{ Key, Value string }

type latestView struct{ Key, Value, Href string }

type artifactView struct {
	Name, MediaType, Size, Short string
	Src                          template.URL
}

type runPageView struct {
	page
	Run                      runView
	Latest                   []latestView
	Groups                   []chartGroupView
	Timeline                 *timelineView
	Params, Tags, Provenance []kv
	Images, Files            []artifactView
}

func sortedKV(m map[string]string, keep func(k string) (string, bool)) []kv {
	var out []kv
	for k, v := range m {
		if name, ok := keep(k); ok {
			out = append(out, kv{name, v})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out
}

func isImage(mediaType string) bool {
	switch strings.ToLower(strings.TrimSpace(strings.Split(mediaType, ";")[0])) {
	case "image/png", "image/jpeg", "image/gif", "image/webp":
		return true
	}
	return false
}

func (s *Server) runPage(w http.ResponseWriter, r *http.Request) {
	ri, err := s.st.GetRun(r.PathValue("id"))
	if err != nil {
		httpError(w, r, lookupStatus(err), "%v", err)
		return
	}
	keys, err := s.st.MetricKeys(ri.ID)
	if err != nil {
		httpError(w, r, http.StatusInternalServerError, "listing the metrics of run %s: %v", ri.ID, err)
		return
	}
	arts, err := s.st.Artifacts(ri.ID)
	if err != nil {
		httpError(w, r, http.StatusInternalServerError, "listing the artifacts of run %s: %v", ri.ID, err)
		return
	}
	v := runPageView{page: s.newPage(charts.RunLabel(ri), len(keys) > 0, false), Run: newRunView(ri, nil, time.Now())}
	for _, k := range keys {
		val := ""
		if x, ok := ri.Latest[k]; ok {
			val = fmtValue(x)
		}
		v.Latest = append(v.Latest, latestView{k, val, MetricURL(ri.ID, k)})
	}
	if len(keys) > 0 {
		gs, err := charts.RunGroups(s.st, ri.ID, "run", charts.WithMaxPoints(s.o.MaxPoints))
		if err != nil {
			httpError(w, r, http.StatusInternalServerError, "%v", err)
			return
		}
		if v.Groups, err = chartGroupViews(gs); err != nil {
			httpError(w, r, http.StatusInternalServerError, "%v", err)
			return
		}
	}
	v.Params = sortedKV(ri.Params, func(k string) (string, bool) { return k, true })
	v.Tags = sortedKV(ri.Tags, func(k string) (string, bool) { return k, !strings.HasPrefix(k, ProvenancePrefix) })
	v.Provenance = sortedKV(ri.Tags, func(k string) (string, bool) {
		return strings.TrimPrefix(k, ProvenancePrefix), strings.HasPrefix(k, ProvenancePrefix)
	})
	sortImages(arts) // content, style(s), output, the rest
	if v.Timeline, err = buildTimeline(s.st, ri, arts, keys); err != nil {
		httpError(w, r, http.StatusInternalServerError, "%v", err)
		return
	}
	if v.Timeline != nil && v.Timeline.Frames > 0 {
		v.PageScripts = pageScripts(false, "timeline.js")
	}
	for _, a := range arts {
		if _, sample := sampleStep(a.Name); sample && v.Timeline != nil && v.Timeline.Frames > 0 {
			continue // in the timeline
		}
		av := artifactView{Name: a.Name, MediaType: a.MediaType, Size: fmtSize(a.Size), Short: charts.ShortID(a.SHA256),
			Src: template.URL("/artifacts/" + a.SHA256)}
		if isImage(a.MediaType) {
			v.Images = append(v.Images, av)
		} else {
			v.Files = append(v.Files, av)
		}
	}
	render(w, r, http.StatusOK, "run", v)
}

// MetricURL is the API address of a run's metric history. The key goes into the path with each segment
// percent-escaped ('?', '#', '%', spaces…) and its slashes kept, as the {key...} route takes them.
func MetricURL(runID, key string) string {
	segs := strings.Split(key, "/")
	for i, s := range segs {
		segs[i] = url.PathEscape(s)
	}
	return "/api/runs/" + url.PathEscape(runID) + "/metrics/" + strings.Join(segs, "/")
}

func elements(cs ...*gocharts.Line) ([]template.HTML, error) {
	out := make([]template.HTML, 0, len(cs))
	for _, c := range cs {
		e, err := charts.Element(c)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, nil
}

// chartGroupView is one chart group of a page: its heading, its controls and its charts.
type chartGroupView struct {
	Kind, Title string
	Controls    template.HTML
	Charts      []template.HTML
}

func chartGroupViews(gs []charts.ChartGroup) ([]chartGroupView, error) {
	out := make([]chartGroupView, 0, len(gs))
	for _, g := range gs {
		els, err := elements(g.Charts...)
		if err != nil {
			return nil, err
		}
		out = append(out, chartGroupView{Kind: string(g.Kind), Title: g.Title, Controls: charts.Controls(g.IDs(), g.LogY, g.WallTime), Charts: els})
	}
	return out, nil
}
