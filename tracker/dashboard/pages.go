package dashboard

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/stylelab/stylelab/tracker"
	"github.com/stylelab/stylelab/tracker/assets"
	"github.com/stylelab/stylelab/tracker/charts"
	"github.com/stylelab/stylelab/tracker/format"
)

// Shared page machinery: templates, the layout's page header, rendering, the run view, formatters.

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static/dashboard.css
var dashboardCSS []byte

// One template set per page (pageTemplates, routes.go): each defines "content" inside the shared "layout".
var pages = map[string]*template.Template{}

func init() {
	funcs := template.FuncMap{"fmtValue": func(p *float64) string { return fmtValue(*p) }}
	for _, p := range pageTemplates {
		pages[p] = template.Must(template.New(p).Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/"+p+".html"))
	}
}

// ProvenancePrefix starts the tags that the run page lists under "Provenance" (tracker/provenance.Prefix).
const ProvenancePrefix = "provenance."

// page is what the layout template needs; Content is the page's own view.
type page struct {
	Title          string
	Source         string
	Standalone     bool
	Charts         bool
	Scripts        template.HTML
	CSS            template.CSS
	Generated      string
	EchartsVersion string
	// PageScripts loads the page's own scripts (pageScripts): <script src defer> tags, or inlined when standalone.
	PageScripts template.HTML
}

// pageScripts is the HTML that loads the dashboard's own scripts named (static/NAME, served as /assets/NAME)
// after the page is parsed: deferred script tags, or, standalone, the scripts inlined at the end of parsing
// (DOMContentLoaded) so that the report opens offline.
func pageScripts(standalone bool, names ...string) template.HTML {
	var b strings.Builder
	for _, n := range names {
		f, ok := staticFiles[n]
		if !ok {
			continue
		}
		if standalone {
			b.WriteString("<script>document.addEventListener(\"DOMContentLoaded\", function () {\n")
			b.WriteString(strings.ReplaceAll(string(f.data), "</script", "<\\/script"))
			b.WriteString("\n});</script>\n")
		} else {
			b.WriteString(`<script src="/assets/` + n + `" defer></script>` + "\n")
		}
	}
	return template.HTML(b.String())
}

func (s *Server) newPage(title string, withCharts, standalone bool) page {
	return page{Title: title, Source: s.o.Source, Charts: withCharts, Standalone: standalone, Scripts: charts.Scripts(standalone),
		CSS: template.CSS(dashboardCSS), EchartsVersion: assets.EchartsVersion,
		Generated: time.Now().Format("2006-01-02 15:04:05 MST")}
}

func render(w http.ResponseWriter, r *http.Request, code int, name string, view any) {
	var b bytes.Buffer
	if err := pages[name].ExecuteTemplate(&b, "layout", view); err != nil {
		httpError(w, r, http.StatusInternalServerError, "rendering the %s page: %v", name, err)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Length", strconv.Itoa(b.Len()))
	w.WriteHeader(code)
	if r.Method != http.MethodHead {
		w.Write(b.Bytes())
	}
}

// runView is a run as pages show it.
type runView struct {
	ID, Short, Name, Label, Experiment, Status string
	Start, End, Duration, Heartbeat            string
	HeartbeatAge                               string
	Deleted                                    bool
	Error                                      string
	Metrics                                    []string     // formatted latest values, in the page's key order
	Thumb                                      template.URL // runs table: /thumbs/{sha} of the output image
	ThumbName                                  string
}

func newRunView(ri *tracker.RunInfo, keys []string, now time.Time) runView {
	v := runView{ID: ri.ID, Short: charts.ShortID(ri.ID), Name: ri.Name, Label: charts.RunLabel(ri),
		Experiment: ri.Experiment, Status: ri.Status, Error: ri.Error, Deleted: ri.Deleted,
		Start: fmtTime(ri.Start), End: fmtTime(ri.End), Heartbeat: fmtTime(ri.Heartbeat)}
	switch {
	case !ri.End.IsZero() && !ri.Start.IsZero():
		v.Duration = fmtDuration(ri.End.Sub(ri.Start))
	case !ri.Start.IsZero() && ri.Status == "RUNNING":
		v.Duration = fmtDuration(now.Sub(ri.Start)) + " so far"
	}
	if !ri.Heartbeat.IsZero() {
		v.HeartbeatAge = fmtDuration(now.Sub(ri.Heartbeat))
	}
	for _, k := range keys {
		if x, ok := ri.Latest[k]; ok {
			v.Metrics = append(v.Metrics, fmtValue(x))
		} else {
			v.Metrics = append(v.Metrics, "")
		}
	}
	return v
}

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.Local().Format("2006-01-02 15:04:05")
}

// fmtDuration and fmtValue are the one formatter every surface uses (package format).
func fmtDuration(d time.Duration) string { return format.Duration(d) }

func fmtValue(v float64) string { return format.Value(v) }

func fmtSize(n int64) string {
	switch {
	case n < 1<<10:
		return fmt.Sprintf("%d B", n)
	case n < 1<<20:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	default:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	}
}

// metricKeys is the sorted union of the latest-metric keys of the runs.
func metricKeys(runs []*tracker.RunInfo) []string {
	set := map[string]bool{}
	for _, r := range runs {
		for k := range r.Latest {
			set[k] = true
		}
	}
	keys := make([]string, 0, len(set))
	for k := range set {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
