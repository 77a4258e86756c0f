package dashboard

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"html/template"
	"io"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	gocharts "github.com/go-echarts/go-echarts/v2/charts"
	"github.com/stylelab/stylelab/tracker"
	"github.com/stylelab/stylelab/tracker/assets"
	"github.com/stylelab/stylelab/tracker/charts"
	"github.com/stylelab/stylelab/tracker/filter"
	"github.com/stylelab/stylelab/tracker/format"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static/dashboard.css
var dashboardCSS []byte

// One template set per page: each defines "content" inside the shared "layout".
var pages = map[string]*template.Template{}

func init() {
	funcs := template.FuncMap{"fmtValue": func(p *float64) string { return fmtValue(*p) }}
	for _, p := range []string{"runs", "run", "compare", "sweep"} {
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

// ---- runs table ----

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
	}
	render(w, r, http.StatusOK, "runs", v)
}

// ---- one run ----

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
	Charts                   []template.HTML
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
		c, err := charts.RunChart(s.st, ri.ID, charts.WithMaxPoints(s.o.MaxPoints), charts.WithID("run-chart"))
		if err != nil {
			httpError(w, r, http.StatusInternalServerError, "%v", err)
			return
		}
		cs := []*gocharts.Line{c}
		if pc, err := perStyleChart(s.st, ri, keys, s.o.MaxPoints); err != nil {
			httpError(w, r, http.StatusInternalServerError, "%v", err)
			return
		} else if pc != nil {
			cs = append(cs, pc)
		}
		if v.Charts, err = elements(cs...); err != nil {
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
	for _, a := range arts {
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

// ---- compare ----

// MaxCompare is the most runs one comparison takes (a sweep of 4 losses × 4 weights × 3 seeds × 4 paintings
// is 192 runs).
const MaxCompare = 250

// CompareThumbsOver is the number of compared runs above which the live compare page shows thumbnails
// (/thumbs/…, each linking to its full image) instead of full-size images.
const CompareThumbsOver = 8

// ErrBadCompare marks a comparison asked for with no runs or more than MaxCompare (HTTP 400 everywhere).
var ErrBadCompare = errors.New("bad comparison")

// Comparison is what the compare page, /api/compare and the standalone report show.
type Comparison struct {
	Runs   []*tracker.RunInfo
	Params []ParamRow // every param key of any run, sorted by key
	// NDiffer counts the params whose values are not all equal (a run lacking the key differs).
	NDiffer int
	Keys    []string // metric keys, first-seen order
	// Series holds, per key, one series per run that logged it: whole histories from Compare, at most
	// max points a series (steps shared by the runs) from CompareSampled.
	Series map[string][]charts.Series
	Images []ImageRow // image artifacts grouped by name, first-seen order
}

// ParamRow is one param across the compared runs; Values[i] belongs to Runs[i] and Present[i] says whether
// that run has the param at all.
type ParamRow struct {
	Key     string
	Values  []string
	Present []bool
	Differ  bool
}

// ImageRow is one image artifact name across runs; Artifacts[i] is nil when Runs[i] has none by that name.
type ImageRow struct {
	Name      string
	Artifacts []*tracker.Artifact
}

// Compare reads the runs (ids or unique prefixes) and assembles their comparison, with whole histories.
func Compare(st Store, ids []string) (*Comparison, error) { return CompareSampled(st, ids, 0) }

// CompareSampled is Compare with each metric's curves reduced together to at most max points, as the
// compare page draws them (charts.CompareSeriesSampled: a store that samples, as *tracker.Store does, reads
// only the points kept); max <= 0 keeps every point.
func CompareSampled(st Store, ids []string, max int) (*Comparison, error) {
	if len(ids) == 0 {
		return nil, fmt.Errorf("%w: no runs to compare: give run ids (/compare?ids=ID,ID)", ErrBadCompare)
	}
	if len(ids) > MaxCompare {
		return nil, fmt.Errorf("%w: too many runs to compare: %d (at most %d)", ErrBadCompare, len(ids), MaxCompare)
	}
	runs, series, keys, err := charts.CompareSeriesSampled(st, ids, max)
	if err != nil {
		return nil, err
	}
	c := &Comparison{Runs: runs, Keys: keys, Series: series}
	// Params: the union of keys; a row differs when any run's value (or absence) differs from the first's.
	infos := make([]tracker.RunInfo, len(runs))
	for i, r := range runs {
		infos[i] = *r
	}
	for _, k := range tracker.ParamKeys(infos) {
		row := ParamRow{Key: k, Differ: tracker.ParamDiffers(infos, k)}
		for _, r := range runs {
			v, ok := r.Params[k]
			row.Values, row.Present = append(row.Values, v), append(row.Present, ok)
		}
		if row.Differ {
			c.NDiffer++
		}
		c.Params = append(c.Params, row)
	}
	// Images grouped by artifact name.
	index := map[string]int{}
	for i, r := range runs {
		arts, err := st.Artifacts(r.ID)
		if err != nil {
			return nil, fmt.Errorf("listing the artifacts of run %s: %w", charts.ShortID(r.ID), err)
		}
		for _, a := range arts {
			if !isImage(a.MediaType) {
				continue
			}
			j, ok := index[a.Name]
			if !ok {
				j = len(c.Images)
				index[a.Name] = j
				c.Images = append(c.Images, ImageRow{Name: a.Name, Artifacts: make([]*tracker.Artifact, len(runs))})
			}
			if c.Images[j].Artifacts[i] == nil {
				a := a
				c.Images[j].Artifacts[i] = &a
			}
		}
	}
	return c, nil
}

// MaxComparePoints bounds the points of one compare chart: with n runs each curve is drawn with
// min(MaxPoints, max(MinComparePoints, MaxComparePoints/n)) points, so 20 runs keep MaxPoints (1,500) each
// and 200 runs get 500 each (a 200-run page stays a few MB).
const (
	MaxComparePoints = 100_000
	MinComparePoints = 100
)

func (s *Server) comparePoints(n int) int {
	m := s.o.MaxPoints
	if m <= 0 || n <= 0 || n*m <= MaxComparePoints {
		return m
	}
	return max(MinComparePoints, MaxComparePoints/n)
}

// compareIDs reads run ids from ?ids=a,b (repeatable) and ?id=a&id=b, in order, without duplicates.
func compareIDs(q url.Values) []string {
	var ids []string
	seen := map[string]bool{}
	add := func(s string) {
		s = strings.TrimSpace(s)
		if s != "" && !seen[s] {
			seen[s] = true
			ids = append(ids, s)
		}
	}
	for _, v := range q["ids"] {
		for _, s := range strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ' ' }) {
			add(s)
		}
	}
	for _, v := range q["id"] {
		add(v)
	}
	return ids
}

type cellView struct {
	Value   string
	Missing bool
}

type paramView struct {
	Key    string
	Differ bool
	Cells  []cellView
}

type imageCell struct {
	Src, Full template.URL // Full: the full-size image when Src is a thumbnail
	Alt, Size string
	Problem   string // shown instead of the image (standalone report: the blob is missing or damaged)
}

type imageView struct {
	Name  string
	Cells []imageCell
}

type compareView struct {
	page
	IDs, IDsSpaced string
	Runs           []runView
	MetricKeys     []string
	Charts         []template.HTML
	Params         []paramView
	NDiffer        int
	Images         []imageView
}

// compareView builds the compare page; images are linked (/artifacts/…) or, when standalone, read from
// the artifact store and inlined as data: URIs.
func (s *Server) compareView(c *Comparison, standalone bool) (*compareView, error) {
	title := fmt.Sprintf("Compare %d runs", len(c.Runs))
	v := &compareView{page: s.newPage(title, len(c.Keys) > 0, standalone), NDiffer: c.NDiffer}
	ids := make([]string, len(c.Runs))
	for i, r := range c.Runs {
		ids[i] = r.ID
	}
	v.IDs, v.IDsSpaced = strings.Join(ids, ","), strings.Join(ids, " ")
	v.MetricKeys = metricKeys(c.Runs)
	if len(v.MetricKeys) > MaxMetricColumns {
		v.MetricKeys = v.MetricKeys[:MaxMetricColumns]
	}
	now := time.Now()
	for _, r := range c.Runs {
		v.Runs = append(v.Runs, newRunView(r, v.MetricKeys, now))
	}
	for i, k := range c.Keys {
		ch := charts.Overlay(k, c.Series[k], charts.WithMaxPoints(s.comparePoints(len(c.Runs))), charts.WithID(fmt.Sprintf("metric-%d", i)))
		e, err := charts.Element(ch)
		if err != nil {
			return nil, err
		}
		v.Charts = append(v.Charts, e)
	}
	for _, p := range c.Params {
		pv := paramView{Key: p.Key, Differ: p.Differ}
		for i := range p.Values {
			pv.Cells = append(pv.Cells, cellView{p.Values[i], !p.Present[i]})
		}
		v.Params = append(v.Params, pv)
	}
	for _, row := range c.Images {
		iv := imageView{Name: row.Name}
		for i, a := range row.Artifacts {
			cell := imageCell{Alt: row.Name + " of " + charts.RunLabel(c.Runs[i])}
			if a != nil {
				cell.Size = fmtSize(a.Size)
				cell.Src = template.URL("/artifacts/" + a.SHA256)
				if !standalone && len(c.Runs) > CompareThumbsOver {
					cell.Src, cell.Full = template.URL("/thumbs/"+a.SHA256), cell.Src
				}
				if standalone {
					uri, problem, err := s.dataURI(a)
					if err != nil {
						return nil, err
					}
					cell.Src, cell.Problem = uri, problem
				}
			}
			iv.Cells = append(iv.Cells, cell)
		}
		v.Images = append(v.Images, iv)
	}
	return v, nil
}

// dataURI reads an image artifact from the store as a data: URI (media type checked against the bytes).
// An image that cannot be shown — its blob missing, its bytes no longer matching its SHA-256, or not an
// image — gives a problem text for a placeholder instead, as the live page shows the other images.
func (s *Server) dataURI(a *tracker.Artifact) (uri template.URL, problem string, err error) {
	data, err := readVerified(s.st, a.SHA256)
	switch {
	case errors.Is(err, tracker.ErrNotFound):
		return "", fmt.Sprintf("image %s (sha256 %s) is missing from the artifact store", a.Name, charts.ShortID(a.SHA256)), nil
	case errors.Is(err, tracker.ErrDamaged):
		return "", fmt.Sprintf("image %s (sha256 %s) is damaged: its bytes no longer match its SHA-256", a.Name, charts.ShortID(a.SHA256)), nil
	case err != nil:
		return "", "", fmt.Errorf("reading image %q from the artifact store: %w", a.Name, err)
	}
	mt := http.DetectContentType(data)
	if !isImage(mt) {
		return "", fmt.Sprintf("artifact %s is recorded as %s but its bytes are %s", a.Name, a.MediaType, mt), nil
	}
	return template.URL("data:" + mt + ";base64," + base64.StdEncoding.EncodeToString(data)), "", nil
}

// readVerified reads a blob and checks its bytes against its SHA-256 (tracker.ErrDamaged when they differ).
func readVerified(st Store, sum string) ([]byte, error) {
	path, err := st.ArtifactPath(sum)
	if err != nil {
		return nil, err
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if got := sha256.Sum256(data); hex.EncodeToString(got[:]) != sum {
		return nil, fmt.Errorf("artifact %s is %w: its bytes no longer match its SHA-256", sum, tracker.ErrDamaged)
	}
	return data, nil
}

func (s *Server) comparePage(w http.ResponseWriter, r *http.Request) {
	ids := compareIDs(r.URL.Query())
	if len(ids) == 0 {
		httpError(w, r, http.StatusBadRequest, "choose runs to compare: tick them in the runs table (/) or open /compare?ids=ID,ID")
		return
	}
	if len(ids) > MaxCompare {
		httpError(w, r, http.StatusBadRequest, "too many runs to compare: %d (at most %d)", len(ids), MaxCompare)
		return
	}
	c, err := CompareSampled(s.st, ids, s.comparePoints(len(ids)))
	if err != nil {
		httpError(w, r, lookupStatus(err), "%v", err)
		return
	}
	v, err := s.compareView(c, false)
	if err != nil {
		httpError(w, r, http.StatusInternalServerError, "%v", err)
		return
	}
	render(w, r, http.StatusOK, "compare", v)
}

// WriteCompareReport writes the compare page for the runs as one self-contained HTML file: ECharts, the
// stylesheet and the chart data inlined, images inlined as data: URIs; it opens offline without a server.
// o.Source is shown in the header (e.g. the database path).
func WriteCompareReport(w io.Writer, st Store, ids []string, o Options) error {
	o.CachePoints = -1 // one use: nothing to cache
	s := New(st, o)
	c, err := CompareSampled(s.st, ids, s.comparePoints(len(ids)))
	if err != nil {
		return err
	}
	v, err := s.compareView(c, true)
	if err != nil {
		return err
	}
	return pages["compare"].ExecuteTemplate(w, "layout", v)
}

// perStyleChart draws the style loss of each style of a multi-style training run (params kind=train, metrics
// style/<style name>) in a chart of its own; nil for other runs. Sample grids (samples/step-NNNNNN.png) need
// nothing here: artifacts are listed by name, which is step order.
func perStyleChart(st Store, ri *tracker.RunInfo, keys []string, maxPoints int) (*gocharts.Line, error) {
	if ri.Params["kind"] != "train" {
		return nil, nil
	}
	var series []charts.Series
	for _, k := range keys {
		if !strings.HasPrefix(k, "style/") {
			continue
		}
		pts, err := st.History(ri.ID, k)
		if err != nil {
			return nil, err
		}
		series = append(series, charts.Series{Run: ri.ID, Label: strings.TrimPrefix(k, "style/"), Key: k, Points: pts})
	}
	if len(series) < 2 {
		return nil, nil
	}
	return charts.Overlay("style loss per style", series, charts.WithMaxPoints(maxPoints), charts.WithID("style-chart")), nil
}
