package dashboard

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io"
	"math"
	"net/http"
	"strings"
	"time"

	"github.com/stylelab/stylelab/tracker"
	"github.com/stylelab/stylelab/tracker/charts"
)

// A study (jobs/studies) records each evaluation as a tracker run tagged StudyTag = ID and StudyRoleTag =
// StudyRoleEvaluation, holding the report data (StudyReport, JSON) as the artifact StudyReportArtifact. The
// study page /studies/{id} and `stylelab study report ID` render the latest evaluation's report with the same
// template: on the page images are served from /artifacts/, in the standalone file inlined as data: URIs.
const (
	StudyTag            = "study.id"
	StudyRoleTag        = "study.role"
	StudyRoleEvaluation = "evaluation"
	StudyReportArtifact = "study/report.json"
	StudyReportVersion  = 1
)

// StudyReport is what the study page shows, written by the evaluation (jobs/studies) and read here, so the
// dashboard needs nothing from experiments/. Numbers are finite (JSON); optional ones are pointers.
type StudyReport struct {
	Version     int       `json:"version"`
	ID          string    `json:"id"`
	Name        string    `json:"name"`
	Description string    `json:"description,omitempty"`
	Evaluated   time.Time `json:"evaluated"`
	// Design: what was compared, on what, how often, judged how.
	Arms     []StudyArm     `json:"arms"`
	Units    []StudyUnit    `json:"units"`
	Seeds    []uint64       `json:"seeds"`
	Settings []StudySetting `json:"settings"` // base spec, judge and statistics settings, in display order
	Runs     StudyRunCounts `json:"runs"`
	// Grid: per unit, one output per arm (the first seed's), RunID "" where that run is missing.
	GridSeed uint64         `json:"grid_seed"`
	Grid     []StudyGridRow `json:"grid"`
	// Metrics are the judge metrics compared, in table order; Means every arm × metric (also the described
	// ones: the optimising network's own scores and costs, listed in Own and Cost).
	Metrics     []string          `json:"metrics"`
	Own         []string          `json:"own"`
	Cost        []string          `json:"cost"`
	Means       []StudyMean       `json:"means"`
	Comparisons []StudyComparison `json:"comparisons"`
	// CrossLoss: rows Arms (the loss optimised), columns Judges (judge/style/L), arm means.
	CrossLoss StudyMatrix `json:"cross_loss"`
	Findings  []string    `json:"findings"`
	Notes     []string    `json:"notes,omitempty"`
}

// StudyArm is an arm and the spec paths it sets.
type StudyArm struct {
	Name string `json:"name"`
	Set  string `json:"set"` // "optimise.loss=gram, …"
}

// StudyUnit is a content × style pair, with the SHA-256 of image artifacts of both (thumbnails the
// evaluation stored).
type StudyUnit struct {
	ID           string `json:"id"`
	Content      string `json:"content"`
	Style        string `json:"style"`
	ContentImage string `json:"content_image,omitempty"`
	StyleImage   string `json:"style_image,omitempty"`
}

// StudySetting is one line of the design's settings.
type StudySetting struct {
	Group string `json:"group"` // "base", "judge", "statistics"
	Key   string `json:"key"`
	Value string `json:"value"`
}

// StudyRunCounts says how much of the design was judged.
type StudyRunCounts struct {
	Planned  int      `json:"planned"`
	Judged   int      `json:"judged"`
	Missing  []string `json:"missing,omitempty"` // "run 3 (arm × unit, seed): FAILED …"
	WallTime float64  `json:"wall_seconds"`      // first run's start to last run's end
}

// StudyGridRow is one unit's row of the image grid.
type StudyGridRow struct {
	Unit  string          `json:"unit"`
	Cells []StudyGridCell `json:"cells"` // in arm order
}

// StudyGridCell is one output image.
type StudyGridCell struct {
	Arm   string `json:"arm"`
	RunID string `json:"run_id,omitempty"`
	Image string `json:"image,omitempty"` // SHA-256 of the run's output.png
}

// StudyMean is an arm's mean of a metric over the units, with its interval.
type StudyMean struct {
	Arm      string   `json:"arm"`
	Metric   string   `json:"metric"`
	Mean     float64  `json:"mean"`
	Lo       float64  `json:"lo"`
	Hi       float64  `json:"hi"`
	SeedSD   *float64 `json:"seed_sd,omitempty"`
	MeanRank *float64 `json:"mean_rank,omitempty"`
	Units    int      `json:"units"`
}

// StudyComparison is a paired comparison A − B on a metric.
type StudyComparison struct {
	A        string  `json:"a"`
	B        string  `json:"b"`
	Metric   string  `json:"metric"`
	Units    int     `json:"units"`
	Diff     float64 `json:"diff"`
	Lo       float64 `json:"lo"`
	Hi       float64 `json:"hi"`
	Scale    float64 `json:"scale"` // (|ā| + |b̄|)/2, what Relative divides by
	Relative float64 `json:"relative"`
	W        float64 `json:"w"`
	P        float64 `json:"p"`
	Exact    bool    `json:"exact"`
	PHolm    float64 `json:"p_holm"`
	Better   string  `json:"better,omitempty"`
}

// StudyMatrix is a rows × columns table of values.
type StudyMatrix struct {
	Rows    []string    `json:"rows"`
	Columns []string    `json:"columns"`
	Values  [][]float64 `json:"values"`
}

// ReadStudy finds the latest finished evaluation of study id and reads its report: tracker.ErrNotFound when
// the study has none.
func ReadStudy(st Store, id string) (*StudyReport, *tracker.RunInfo, error) {
	q, ok := quoteFilter(id)
	if !ok || id == "" {
		return nil, nil, fmt.Errorf("%w: study id %q cannot be looked up", tracker.ErrNotFound, id)
	}
	found, err := st.Search("tags.`"+StudyTag+"` = "+q+" AND tags.`"+StudyRoleTag+"` = '"+StudyRoleEvaluation+"' AND status = 'FINISHED'", "start_time DESC", 1)
	if err != nil {
		return nil, nil, err
	}
	if len(found) == 0 {
		return nil, nil, fmt.Errorf("%w: study %s has no finished evaluation (stylelab study evaluate %s)", tracker.ErrNotFound, id, id)
	}
	ri := &found[0]
	arts, err := st.Artifacts(ri.ID)
	if err != nil {
		return nil, nil, err
	}
	for _, a := range arts {
		if a.Name != StudyReportArtifact {
			continue
		}
		b, err := readVerified(st, a.SHA256)
		if err != nil {
			return nil, nil, fmt.Errorf("the report of study %s (evaluation run %s): %w", id, ri.ID, err)
		}
		var rep StudyReport
		if err := json.Unmarshal(b, &rep); err != nil {
			return nil, nil, fmt.Errorf("the report of study %s (evaluation run %s) is %w: %v", id, ri.ID, tracker.ErrDamaged, err)
		}
		if rep.Version > StudyReportVersion {
			return nil, nil, fmt.Errorf("the report of study %s has version %d, newer than this stylelab (%d): update stylelab", id, rep.Version, StudyReportVersion)
		}
		return &rep, ri, nil
	}
	return nil, nil, fmt.Errorf("%w: evaluation run %s of study %s has no %s artifact", tracker.ErrNotFound, ri.ID, id, StudyReportArtifact)
}

var studyTpl = template.Must(template.New("study").Funcs(template.FuncMap{
	"num": func(v float64) string { return fmtValue(v) },
	"opt": func(p *float64) string {
		if p == nil {
			return "—"
		}
		return fmtValue(*p)
	},
	"p": func(v float64) string { return fmt.Sprintf("%.3g", v) },
	"dict": func(kv ...any) map[string]any {
		m := map[string]any{}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i].(string)] = kv[i+1]
		}
		return m
	},
}).ParseFS(templateFS, "templates/layout.html", "templates/study.html"))

type studyView struct {
	page
	R        *StudyReport
	RunID    string
	Images   map[string]studyImage    // by SHA-256
	Plots    map[string]template.HTML // by element id: study-forest, study-heatmap, study-cost
	Compared []studyMeanRow           // Means of Metrics: one row per metric, one cell per arm
	Own      []studyMeanRow
	Cost     []studyMeanRow
}

// studyMeanRow is one metric of the means table: a cell per arm, the best arm's (by mean) marked.
type studyMeanRow struct {
	Metric string
	Cells  []studyMeanCell
}

type studyMeanCell struct {
	Mean, Interval, SeedSD, Rank string
	Best, Missing                bool
}

// meanRows pivots the means of the given metrics into rows of arm cells; the best mean is marked unless tied.
func meanRows(rep *StudyReport, metrics []string) []studyMeanRow {
	var out []studyMeanRow
	for _, m := range metrics {
		row := studyMeanRow{Metric: m}
		best, bestV := -1, 0.0
		for _, a := range rep.Arms {
			var found *StudyMean
			for i := range rep.Means {
				if rep.Means[i].Arm == a.Name && rep.Means[i].Metric == m {
					found = &rep.Means[i]
				}
			}
			if found == nil {
				row.Cells = append(row.Cells, studyMeanCell{Missing: true})
				continue
			}
			c := studyMeanCell{Mean: fmtValue(found.Mean), Interval: "[" + fmtValue(found.Lo) + ", " + fmtValue(found.Hi) + "]", SeedSD: "—", Rank: "—"}
			if found.SeedSD != nil {
				c.SeedSD = fmtValue(*found.SeedSD)
			}
			if found.MeanRank != nil {
				c.Rank = fmtValue(*found.MeanRank)
			}
			row.Cells = append(row.Cells, c)
			if best < 0 || better(m, found.Mean, bestV) {
				best, bestV = len(row.Cells)-1, found.Mean
			}
		}
		if best >= 0 {
			tie := false
			for i := range row.Cells {
				if i != best && !row.Cells[i].Missing && row.Cells[i].Mean == row.Cells[best].Mean {
					tie = true
				}
			}
			row.Cells[best].Best = !tie
		}
		out = append(out, row)
	}
	return out
}

// better reports whether a beats b on metric: larger for SSIM, smaller for every loss, distance and cost.
func better(metric string, a, b float64) bool {
	if metric == "judge/ssim" {
		return a > b
	}
	return a < b
}

type studyImage struct {
	Src     template.URL
	Alt     string
	Problem string
}

// studyView builds the page: charts as JSON blocks (no inline script), images from /artifacts/ or, standalone,
// as data: URIs.
func (s *Server) studyView(rep *StudyReport, ri *tracker.RunInfo, standalone bool) (*studyView, error) {
	v := &studyView{page: s.newPage("Study "+rep.Name, true, standalone), R: rep, RunID: ri.ID, Images: map[string]studyImage{},
		Plots: map[string]template.HTML{}}
	add := func(sha, alt string) error {
		if sha == "" || v.Images[sha].Src != "" || v.Images[sha].Problem != "" {
			return nil
		}
		if !standalone {
			v.Images[sha] = studyImage{Src: template.URL("/artifacts/" + sha), Alt: alt}
			return nil
		}
		uri, problem, err := s.dataURI(&tracker.Artifact{Name: "image " + charts.ShortID(sha), SHA256: sha})
		if err != nil {
			return err
		}
		v.Images[sha] = studyImage{Src: uri, Alt: alt, Problem: problem}
		return nil
	}
	for _, u := range rep.Units {
		if err := errors.Join(add(u.ContentImage, "content image "+u.Content), add(u.StyleImage, "style image "+u.Style)); err != nil {
			return nil, err
		}
	}
	for _, row := range rep.Grid {
		for _, c := range row.Cells {
			if err := add(c.Image, "output of arm "+c.Arm+" on "+row.Unit); err != nil {
				return nil, err
			}
		}
	}
	v.Compared, v.Own, v.Cost = meanRows(rep, rep.Metrics), meanRows(rep, rep.Own), meanRows(rep, rep.Cost)
	for _, c := range []struct {
		id, title string
		opt       map[string]any
		height    int
	}{
		{"study-forest", "Paired differences A − B, relative to the arms' mean magnitude, with " + levelText(rep) + " bootstrap intervals", forestOption(rep), 90 + 22*len(rep.Comparisons)},
		{"study-heatmap", "Cross-loss matrix: arm mean of each judge style loss ÷ the best arm's (1 = best, per judge)", heatmapOption(rep), 120 + 40*len(rep.CrossLoss.Rows)},
		{"study-cost", "Cost per arm", costOption(rep), 320},
	} {
		if c.opt == nil {
			continue
		}
		el, err := optionElement(c.id, c.title, c.opt, c.height)
		if err != nil {
			return nil, err
		}
		v.Plots[c.id] = el
	}
	return v, nil
}

func levelText(rep *StudyReport) string {
	for _, s := range rep.Settings {
		if s.Group == "statistics" && s.Key == "level" {
			return s.Value
		}
	}
	return "95%"
}

// optionElement is an ECharts option as charts.Element writes a line chart: a div and a JSON block that
// /assets/stylelab-charts.js mounts, so the page needs no inline script.
func optionElement(id, title string, opt map[string]any, height int) (template.HTML, error) {
	opt["title"] = map[string]any{"text": title, "textStyle": map[string]any{"fontSize": 14}}
	b, err := json.Marshal(opt)
	if err != nil {
		return "", fmt.Errorf("encoding chart %s: %w", id, err)
	}
	var out bytes.Buffer
	err = template.Must(template.New("el").Parse(
		`<div id="{{.ID}}" class="stylelab-chart" style="width:100%;height:{{.H}}px"></div>`+
			`<script type="application/json" data-stylelab-chart="{{.ID}}">{{.Opt}}</script>`)).Execute(&out,
		struct {
			ID  string
			H   int
			Opt template.JS
		}{id, height, template.JS(b)})
	return template.HTML(out.String()), err
}

func round(v float64, digits int) float64 {
	if v == 0 || math.IsNaN(v) || math.IsInf(v, 0) {
		return v
	}
	p := math.Pow(10, float64(digits-1-int(math.Floor(math.Log10(math.Abs(v))))))
	return math.Round(v*p) / p
}

// forestOption: one row per comparison, a horizontal box from the interval's low to high end with the
// estimate as its median line, on the relative scale Δ / ((|ā|+|b̄|)/2) in percent.
func forestOption(rep *StudyReport) map[string]any {
	if len(rep.Comparisons) == 0 {
		return nil
	}
	var labels []string
	var boxes [][]float64
	for i := len(rep.Comparisons) - 1; i >= 0; i-- { // first comparison on top
		c := rep.Comparisons[i]
		rel := func(x float64) float64 {
			if c.Scale == 0 {
				return 0
			}
			return round(100*x/c.Scale, 4)
		}
		lo, est, hi := rel(c.Lo), rel(c.Diff), rel(c.Hi)
		labels = append(labels, fmt.Sprintf("%s − %s · %s", c.A, c.B, strings.TrimPrefix(c.Metric, "judge/")))
		boxes = append(boxes, []float64{lo, lo, est, hi, hi})
	}
	return map[string]any{
		"animation": false,
		"grid":      map[string]any{"left": 260, "right": 40, "top": 40, "bottom": 40},
		"tooltip":   map[string]any{"trigger": "item"},
		"xAxis":     map[string]any{"type": "value", "name": "Δ, % of the arms' mean", "nameLocation": "middle", "nameGap": 25},
		"yAxis":     map[string]any{"type": "category", "data": labels, "axisLabel": map[string]any{"fontSize": 11}},
		"series": []any{map[string]any{"type": "boxplot", "name": "A − B", "data": boxes,
			"itemStyle": map[string]any{"color": "#9ecae1", "borderColor": "#1f77b4"},
			"markLine":  map[string]any{"symbol": "none", "silent": true, "data": []any{map[string]any{"xAxis": 0}}, "lineStyle": map[string]any{"color": "#888"}}}},
	}
}

// heatmapOption: the cross-loss matrix, each column divided by its smallest arm mean (so 1 marks the best arm
// under that judge loss).
func heatmapOption(rep *StudyReport) map[string]any {
	m := rep.CrossLoss
	if len(m.Rows) == 0 || len(m.Columns) == 0 {
		return nil
	}
	var data [][]any
	maxRatio := 1.0
	for j := range m.Columns {
		best := math.Inf(1)
		for i := range m.Rows {
			best = math.Min(best, m.Values[i][j])
		}
		for i := range m.Rows {
			r := 1.0
			if best > 0 {
				r = m.Values[i][j] / best
			} else if m.Values[i][j] > best {
				r = math.Inf(1)
			}
			if math.IsInf(r, 0) || math.IsNaN(r) {
				r = 0
			}
			r = round(r, 4)
			maxRatio = math.Max(maxRatio, r)
			data = append(data, []any{j, len(m.Rows) - 1 - i, r})
		}
	}
	rows := make([]string, len(m.Rows))
	for i, r := range m.Rows {
		rows[len(m.Rows)-1-i] = "optimised: " + r
	}
	cols := make([]string, len(m.Columns))
	for j, c := range m.Columns {
		cols[j] = strings.TrimPrefix(c, "judge/style/")
	}
	return map[string]any{
		"animation": false,
		"grid":      map[string]any{"left": 160, "right": 40, "top": 40, "bottom": 110},
		"tooltip":   map[string]any{"position": "top"},
		"xAxis":     map[string]any{"type": "category", "data": cols, "name": "judged by", "nameLocation": "middle", "nameGap": 28},
		"yAxis":     map[string]any{"type": "category", "data": rows},
		"visualMap": map[string]any{"min": 1, "max": maxRatio, "calculable": true, "orient": "horizontal", "left": "center", "bottom": 0,
			"inRange": map[string]any{"color": []string{"#f7fbff", "#6baed6", "#08306b"}}},
		"series": []any{map[string]any{"type": "heatmap", "name": "÷ best", "data": data, "label": map[string]any{"show": true}}},
	}
}

// costOption: seconds per step (and any other cost) per arm, one bar series per cost metric.
func costOption(rep *StudyReport) map[string]any {
	if len(rep.Cost) == 0 {
		return nil
	}
	var arms []string
	for _, a := range rep.Arms {
		arms = append(arms, a.Name)
	}
	var series []any
	for _, metric := range rep.Cost {
		var vals []any
		for _, a := range arms {
			var v any // null where the arm has no value
			for _, m := range rep.Means {
				if m.Arm == a && m.Metric == metric {
					v = round(m.Mean, 4)
				}
			}
			vals = append(vals, v)
		}
		series = append(series, map[string]any{"type": "bar", "name": metric, "data": vals, "label": map[string]any{"show": true, "position": "top"}})
	}
	return map[string]any{
		"animation": false,
		"grid":      map[string]any{"left": 70, "right": 30, "top": 60, "bottom": 40},
		"tooltip":   map[string]any{"trigger": "axis"},
		"legend":    map[string]any{"top": 24},
		"xAxis":     map[string]any{"type": "category", "data": arms},
		"yAxis":     map[string]any{"type": "value"},
		"series":    series,
	}
}

// GET /studies/{id}: the latest evaluation's report.
func (s *Server) studyPage(w http.ResponseWriter, r *http.Request) {
	rep, ri, err := ReadStudy(s.st, r.PathValue("id"))
	if err != nil {
		httpError(w, r, lookupStatus(err), "%v", err)
		return
	}
	v, err := s.studyView(rep, ri, false)
	if err != nil {
		httpError(w, r, http.StatusInternalServerError, "%v", err)
		return
	}
	var b bytes.Buffer
	if err := studyTpl.ExecuteTemplate(&b, "layout", v); err != nil {
		httpError(w, r, http.StatusInternalServerError, "rendering the study page: %v", err)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		w.Write(b.Bytes())
	}
}

// WriteStudyReport writes study id's latest evaluation as one self-contained HTML file (the study page with
// ECharts, the stylesheet and the images inlined): it opens offline without a server.
func WriteStudyReport(w io.Writer, st Store, id string, o Options) error {
	o.CachePoints = -1
	s := New(st, o)
	rep, ri, err := ReadStudy(st, id)
	if err != nil {
		return err
	}
	v, err := s.studyView(rep, ri, true)
	if err != nil {
		return err
	}
	return studyTpl.ExecuteTemplate(w, "layout", v)
}

// StudySnippet is study id's latest evaluation as an HTML fragment for a notebook cell: the study page's
// content with its images and ECharts inlined, mounted within the fragment (as charts.Snippet does).
func StudySnippet(st Store, id string) (string, error) {
	s := New(st, Options{CachePoints: -1})
	rep, ri, err := ReadStudy(st, id)
	if err != nil {
		return "", err
	}
	v, err := s.studyView(rep, ri, true)
	if err != nil {
		return "", err
	}
	var b bytes.Buffer
	b.WriteString(`<div class="stylelab-charts stylelab-study">`)
	if err := studyTpl.ExecuteTemplate(&b, "content", v); err != nil {
		return "", err
	}
	b.WriteString(string(charts.Scripts(true)))
	b.WriteString("\n<script>window.stylelabCharts && window.stylelabCharts.scan(document.currentScript.parentNode);</script></div>")
	return b.String(), nil
}
