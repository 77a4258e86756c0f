// Package charts draws tracker metrics as Apache ECharts line charts built with go-echarts: one run's
// curves (RunChart), one metric overlaid across runs (Overlay, CompareCharts), rendered to a full HTML page
// (Page, StandalonePage), to an element for a server-rendered page (Element), or to a self-contained fragment
// for a notebook cell (Snippet).
//
// What this package adds to go-echarts, and why it is written here:
//   - Non-finite values. go-echarts encodes options with encoding/json, which refuses NaN and ±Inf; the
//     error is dropped and the page silently shows no chart. Points are therefore written by a hand-made
//     JSON encoder ([step, value] pairs) that writes NaN and ±Inf as null, which ECharts draws as a gap
//     (connectNulls is false).
//   - Offline JavaScript. go-echarts loads echarts.min.js from a CDN by default. Charts here point at
//     AssetsPath (served by the dashboard from tracker/assets) or inline the embedded copy.
//   - HTML safety. go-echarts writes options into a <script> without escaping '<', so a run named
//     "</script>…" would inject markup. The renderers here carry the option as HTML-escaped JSON in a
//     <script type="application/json"> block, read by a small init script (init.js); pages then need no
//     inline script at all, which lets the dashboard use a strict Content-Security-Policy.
//
// Long series are reduced to at most DefaultMaxPoints points per curve (steps shared by all curves of a
// chart, first/last and extremes kept): ECharts has no server-side sampling and a browser slows down with
// hundreds of thousands of points. When the Reader is a SampledReader (*tracker.Store is), RunChart,
// CompareCharts and CompareSeriesSampled let the store choose the points (tracker.Store.HistorySampled), so
// only the points drawn are read; otherwise whole histories are read and reduced with tracker.Downsample.
package charts

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"sync"

	gocharts "github.com/go-echarts/go-echarts/v2/charts"
	"github.com/go-echarts/go-echarts/v2/opts"
	"github.com/stylelab/stylelab/tracker"
)

// DefaultMaxPoints is the number of points a curve is downsampled to when it is longer: the tracker's ~1000 a
// series (MLflow caps at 2500, W&B at 1500, TensorBoard keeps 1000); a 20-run comparison page stays near 1 MB.
const DefaultMaxPoints = tracker.DefaultMaxPoints

// LogRange is the ratio max/min of a chart's values above which the y axis is logarithmic by default
// (when every finite value is > 0): three decades, the usual span of a style-transfer loss curve.
const LogRange = 1e3

// ReadConcurrency is how many histories CompareSeries reads at once.
var ReadConcurrency = 4

// Reader is what charts read from a store; *tracker.Store implements it. CompareSeries calls History from
// several goroutines at once, so implementations must be safe for concurrent use (the store is).
type Reader interface {
	GetRun(idOrPrefix string) (*tracker.RunInfo, error)
	MetricKeys(runID string) ([]string, error)
	History(runID, key string) ([]tracker.Point, error)
}

// SampledReader is a Reader that reduces long histories in the store: HistorySampled returns, for each
// run id as given, the points tracker.Downsample would keep of the runs' histories of key (at most max
// points, steps shared by the runs), reading only those. *tracker.Store implements it.
type SampledReader interface {
	Reader
	HistorySampled(runIDs []string, key string, max int) (map[string][]tracker.Point, error)
}

var _ SampledReader = (*tracker.Store)(nil)

// SampleHistories returns the histories of metric key for the runs, keyed by the ids as given, each
// reduced to at most max points on steps shared by the runs (first/last points and extremes kept):
// r.HistorySampled when r is a SampledReader, else History for each run and tracker.Downsample.
// max <= 0 returns every point.
func SampleHistories(r Reader, runIDs []string, key string, max int) (map[string][]tracker.Point, error) {
	if sr, ok := r.(SampledReader); ok && max > 0 {
		return sr.HistorySampled(runIDs, key, max)
	}
	out := make(map[string][]tracker.Point, len(runIDs))
	for _, id := range runIDs {
		pts, err := r.History(id, key)
		if err != nil {
			return nil, err
		}
		out[id] = pts
	}
	if max > 0 {
		out = tracker.Downsample(out, max)
	}
	return out, nil
}

// Series is one curve: the history of metric Key in run Run, shown in the legend as Label (Run when empty).
type Series struct {
	Run    string
	Label  string
	Key    string
	Points []tracker.Point
}

func (s Series) label() string {
	if s.Label != "" {
		return s.Label
	}
	if s.Run != "" {
		return ShortID(s.Run)
	}
	return s.Key
}

// Option changes how a chart is built.
type Option func(*config)

type config struct {
	title, subtitle string
	maxPoints       int
	logY            *bool
	width, height   string
	id              string
	logPositive     bool // log y when every finite value is > 0 (losses)
	wallTime        bool // points carry elapsed wall seconds as a third value (x by wall time in the page)
}

func newConfig(o []Option) config {
	c := config{maxPoints: DefaultMaxPoints, width: "100%", height: "420px"}
	for _, f := range o {
		f(&c)
	}
	return c
}

// WithTitle sets the chart's title (and subtitle, when given).
func WithTitle(title string, subtitle ...string) Option {
	return func(c *config) {
		c.title = title
		if len(subtitle) > 0 {
			c.subtitle = subtitle[0]
		}
	}
}

// WithMaxPoints sets how many points a curve keeps at most (tracker.Downsample); n <= 0 keeps every point.
func WithMaxPoints(n int) Option { return func(c *config) { c.maxPoints = n } }

// WithLogY forces a logarithmic (true) or linear (false) y axis instead of the automatic choice
// (log when every finite value is > 0 and max/min >= LogRange). On a log axis values <= 0 are drawn as gaps.
func WithLogY(log bool) Option { return func(c *config) { c.logY = &log } }

// WithLogIfPositive makes the y axis logarithmic when every finite value is > 0 (any range): the default of
// loss charts, whose values span decades. WithLogY still overrides it.
func WithLogIfPositive() Option { return func(c *config) { c.logPositive = true } }

// WithWallTime writes each point as [step, value, seconds since the curve's first point] so that a page's
// chart controls (init.js) can switch the x axis from step to wall time.
func WithWallTime() Option { return func(c *config) { c.wallTime = true } }

// WithSize sets the chart's CSS width and height (default "100%" and "420px").
func WithSize(width, height string) Option {
	return func(c *config) { c.width, c.height = width, height }
}

// WithID sets the chart's HTML element id (default: a random one). Only [A-Za-z0-9_-] are kept.
func WithID(id string) Option { return func(c *config) { c.id = id } }

// ShortID is the first 8 characters of a run id, as shown in legends and tables.
func ShortID(id string) string {
	if len(id) > 8 {
		return id[:8]
	}
	return id
}

// RunLabel is how a run is named in a legend: "name · 1a2b3c4d", or just the short id for an unnamed run.
func RunLabel(ri *tracker.RunInfo) string {
	if ri.Name == "" {
		return ShortID(ri.ID)
	}
	return ri.Name + " · " + ShortID(ri.ID)
}

// Overlay draws one metric across runs: one curve per series, x = step on a value axis, legend entries that
// toggle curves, inside and slider zoom on x, an axis tooltip. The title defaults to the metric name.
func Overlay(metric string, series []Series, o ...Option) *gocharts.Line {
	cfg := newConfig(o)
	if cfg.title == "" {
		cfg.title = metric
	}
	return build(cfg, series)
}

// RunChart draws every metric of one run in one chart (one curve per metric key, toggled from the legend).
// A run without metrics gives a chart without curves. A SampledReader reduces each metric in the store.
func RunChart(r Reader, runID string, o ...Option) (*gocharts.Line, error) {
	ri, err := r.GetRun(runID)
	if err != nil {
		return nil, err
	}
	keys, err := r.MetricKeys(ri.ID)
	if err != nil {
		return nil, fmt.Errorf("listing the metrics of run %s: %w", ShortID(ri.ID), err)
	}
	cfg := newConfig(o)
	sr, sampled := r.(SampledReader)
	sampled = sampled && cfg.maxPoints > 0
	series := make([]Series, 0, len(keys))
	for _, k := range keys {
		var pts []tracker.Point
		if sampled {
			var m map[string][]tracker.Point
			m, err = sr.HistorySampled([]string{ri.ID}, k, cfg.maxPoints)
			pts = m[ri.ID]
		} else {
			pts, err = r.History(ri.ID, k)
		}
		if err != nil {
			return nil, fmt.Errorf("reading metric %q of run %s: %w", k, ShortID(ri.ID), err)
		}
		series = append(series, Series{Run: ri.ID, Label: k, Key: k, Points: pts})
	}
	if cfg.title == "" {
		cfg.title = RunLabel(ri)
		if len(keys) == 0 && cfg.subtitle == "" {
			cfg.subtitle = "no metrics logged"
		}
	}
	return build(cfg, series), nil
}

// CompareCharts draws one Overlay per metric key logged by any of the runs (keys in the order of the first
// run that logs them, runs in the order given), each curve labelled with RunLabel.
func CompareCharts(r Reader, runIDs []string, o ...Option) ([]*gocharts.Line, error) {
	_, byKey, keys, err := CompareSeriesSampled(r, runIDs, newConfig(o).maxPoints)
	if err != nil {
		return nil, err
	}
	out := make([]*gocharts.Line, 0, len(keys))
	for i, k := range keys {
		oo := append([]Option{WithID(fmt.Sprintf("metric-%d", i))}, o...)
		out = append(out, Overlay(k, byKey[k], oo...))
	}
	return out, nil
}

// CompareSeries reads the runs (resolved from ids or unique prefixes), the whole histories of their
// metrics grouped by metric key, and the keys in first-seen order.
func CompareSeries(r Reader, runIDs []string) (runs []*tracker.RunInfo, byKey map[string][]Series, keys []string, err error) {
	runs, keyRuns, keys, err := compareKeys(r, runIDs)
	if err != nil {
		return nil, nil, nil, err
	}
	type job struct {
		run *tracker.RunInfo
		key string
	}
	var jobs []job
	for _, ri := range runs {
		for _, k := range keys {
			if slices.Contains(keyRuns[k], ri) {
				jobs = append(jobs, job{ri, k})
			}
		}
	}
	// Read the histories concurrently (ReadConcurrency at a time): reading rows is most of the cost of a
	// comparison page, and SQLite serves several readers at once.
	results := make([][]tracker.Point, len(jobs))
	errs := make([]error, len(jobs))
	parallel(len(jobs), func(i int) { results[i], errs[i] = r.History(jobs[i].run.ID, jobs[i].key) })
	byKey = make(map[string][]Series, len(keys))
	for _, k := range keys {
		byKey[k] = nil
	}
	for i, j := range jobs { // in run order
		if errs[i] != nil {
			return nil, nil, nil, fmt.Errorf("reading metric %q of run %s: %w", j.key, ShortID(j.run.ID), errs[i])
		}
		byKey[j.key] = append(byKey[j.key], Series{Run: j.run.ID, Label: RunLabel(j.run), Key: j.key, Points: results[i]})
	}
	return runs, byKey, keys, nil
}

// CompareSeriesSampled is CompareSeries with each metric's curves reduced together to at most max points
// (SampleHistories: in the store for a SampledReader, reading only the points kept; max <= 0 keeps every
// point). This is what CompareCharts draws.
func CompareSeriesSampled(r Reader, runIDs []string, max int) (runs []*tracker.RunInfo, byKey map[string][]Series, keys []string, err error) {
	if max <= 0 {
		return CompareSeries(r, runIDs)
	}
	runs, keyRuns, keys, err := compareKeys(r, runIDs)
	if err != nil {
		return nil, nil, nil, err
	}
	// One read per metric key (its runs share the sampled steps), ReadConcurrency keys at a time.
	results := make([]map[string][]tracker.Point, len(keys))
	errs := make([]error, len(keys))
	parallel(len(keys), func(i int) {
		var ids []string
		for _, ri := range keyRuns[keys[i]] {
			if !slices.Contains(ids, ri.ID) {
				ids = append(ids, ri.ID)
			}
		}
		results[i], errs[i] = SampleHistories(r, ids, keys[i], max)
	})
	byKey = make(map[string][]Series, len(keys))
	for i, k := range keys {
		if errs[i] != nil {
			return nil, nil, nil, fmt.Errorf("reading metric %q of %d runs: %w", k, len(keyRuns[k]), errs[i])
		}
		for _, ri := range keyRuns[k] {
			byKey[k] = append(byKey[k], Series{Run: ri.ID, Label: RunLabel(ri), Key: k, Points: results[i][ri.ID]})
		}
	}
	return runs, byKey, keys, nil
}

// compareKeys resolves the runs and lists the metric keys in first-seen order, each with the runs that
// log it (in the order given).
func compareKeys(r Reader, runIDs []string) (runs []*tracker.RunInfo, keyRuns map[string][]*tracker.RunInfo, keys []string, err error) {
	for _, id := range runIDs {
		ri, err := r.GetRun(id)
		if err != nil {
			return nil, nil, nil, err
		}
		runs = append(runs, ri)
	}
	keyRuns = map[string][]*tracker.RunInfo{}
	for _, ri := range runs {
		ks, err := r.MetricKeys(ri.ID)
		if err != nil {
			return nil, nil, nil, fmt.Errorf("listing the metrics of run %s: %w", ShortID(ri.ID), err)
		}
		for _, k := range ks {
			if _, seen := keyRuns[k]; !seen {
				keys = append(keys, k)
			}
			keyRuns[k] = append(keyRuns[k], ri)
		}
	}
	return runs, keyRuns, keys, nil
}

// parallel calls f(0), …, f(n−1), ReadConcurrency at a time, and waits for them.
func parallel(n int, f func(i int)) {
	var wg sync.WaitGroup
	sem := make(chan struct{}, max(ReadConcurrency, 1))
	for i := 0; i < n; i++ {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			f(i)
		}()
	}
	wg.Wait()
}

// build makes the go-echarts line chart for cfg and series (downsampled, NaN-safe data).
func build(cfg config, series []Series) *gocharts.Line {
	series = downsample(series, cfg.maxPoints)
	logY := autoLog(series)
	if cfg.logPositive {
		logY = allPositive(series)
	}
	if cfg.logY != nil {
		logY = *cfg.logY
	}
	yType := "value"
	if logY {
		yType = "log"
	}
	c := gocharts.NewLine()
	init := opts.Initialization{
		PageTitle:  cfg.title,
		Width:      cfg.width,
		Height:     cfg.height,
		AssetsHost: AssetsPath, // never the go-echarts CDN, even if the caller renders with go-echarts itself
		Renderer:   "canvas",
	}
	if id := sanitizeID(cfg.id); id != "" {
		init.ChartID = id
	}
	c.SetGlobalOptions(
		gocharts.WithInitializationOpts(init),
		gocharts.WithTitleOpts(opts.Title{Title: cfg.title, Subtitle: cfg.subtitle, Left: "8"}),
		gocharts.WithTooltipOpts(opts.Tooltip{Show: opts.Bool(true), Trigger: "axis",
			AxisPointer: &opts.AxisPointer{Type: "line", Snap: opts.Bool(true)}}),
		gocharts.WithLegendOpts(opts.Legend{Show: opts.Bool(true), Type: "scroll", Top: "32", Left: "8", Right: "80"}),
		gocharts.WithDataZoomOpts(
			opts.DataZoom{Type: "inside", XAxisIndex: []int{0}, Start: 0, End: 100},
			opts.DataZoom{Type: "slider", XAxisIndex: []int{0}, Start: 0, End: 100},
		),
		gocharts.WithXAxisOpts(opts.XAxis{Type: "value", Name: "step", NameLocation: "end", Min: "dataMin", Max: "dataMax"}),
		gocharts.WithYAxisOpts(opts.YAxis{Type: yType, Scale: opts.Bool(true)}), // the title names the metric
		gocharts.WithGridOpts(opts.Grid{Left: "16", Right: "48", Top: "72", Bottom: "64", ContainLabel: opts.Bool(true)}),
		gocharts.WithToolboxOpts(opts.Toolbox{Show: opts.Bool(true), Right: "8", Feature: &opts.ToolBoxFeature{
			Restore:     &opts.ToolBoxFeatureRestore{Show: opts.Bool(true)},
			SaveAsImage: &opts.ToolBoxFeatureSaveAsImage{Show: opts.Bool(true), Type: "png"},
		}}),
		gocharts.WithAnimation(false), // thousands of points: draw at once
	)
	for _, s := range series {
		c.AddSeries(s.label(), nil, gocharts.WithLineChartOpts(opts.LineChart{
			ShowSymbol:   opts.Bool(len(s.Points) <= 60),
			ConnectNulls: opts.Bool(false),
		}))
		c.MultiSeries[len(c.MultiSeries)-1].Data = xy{pts: s.Points, log: logY, wall: cfg.wallTime}
	}
	return c
}

// downsample applies tracker.Downsample to the curves of one chart together (so they share steps) when any
// is longer than max.
func downsample(series []Series, max int) []Series {
	if max <= 0 {
		return series
	}
	long := false
	for _, s := range series {
		if len(s.Points) > max {
			long = true
			break
		}
	}
	if !long {
		return series
	}
	in := make(map[string][]tracker.Point, len(series))
	for i, s := range series {
		in[strconv.Itoa(i)] = s.Points
	}
	outMap := tracker.Downsample(in, max)
	out := make([]Series, len(series))
	for i, s := range series {
		s.Points = outMap[strconv.Itoa(i)]
		out[i] = s
	}
	return out
}

// allPositive reports whether the series hold a finite value and every finite value is > 0.
func allPositive(series []Series) bool {
	any := false
	for _, s := range series {
		for _, p := range s.Points {
			v := p.Value
			if math.IsNaN(v) || math.IsInf(v, 0) {
				continue
			}
			if v <= 0 {
				return false
			}
			any = true
		}
	}
	return any
}

// autoLog reports whether every finite value is > 0 and max/min >= LogRange.
func autoLog(series []Series) bool {
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, s := range series {
		for _, p := range s.Points {
			v := p.Value
			if math.IsNaN(v) || math.IsInf(v, 0) {
				continue
			}
			if v <= 0 {
				return false
			}
			lo, hi = math.Min(lo, v), math.Max(hi, v)
		}
	}
	return hi >= lo && hi/lo >= LogRange
}

func sanitizeID(id string) string {
	b := make([]byte, 0, len(id))
	for i := 0; i < len(id); i++ {
		ch := id[i]
		if ch >= 'a' && ch <= 'z' || ch >= 'A' && ch <= 'Z' || ch >= '0' && ch <= '9' || ch == '_' || ch == '-' {
			b = append(b, ch)
		}
	}
	return string(b)
}

// xy is a curve's data as ECharts [step, value] pairs. NaN and ±Inf (and, on a log axis, values <= 0) are
// written as null: ECharts breaks the line there (connectNulls false), where encoding/json would fail and
// go-echarts would silently drop the whole chart.
//
// Values are written in the shortest form that reads back as the same float32 (at most 9 significant digits;
// the canvas cannot show more), or as float64 when outside float32's range, which keeps pages small.
//
// With wall set, each pair has a third value: the seconds (millisecond precision) from the curve's first
// point to this one, which the page's x-axis control draws against.
type xy struct {
	pts  []tracker.Point
	log  bool
	wall bool
}

// MarshalJSON writes [[step,value],...] with null for values that cannot be drawn.
func (d xy) MarshalJSON() ([]byte, error) {
	b := make([]byte, 0, 2+len(d.pts)*20)
	b = append(b, '[')
	for i, p := range d.pts {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, '[')
		b = strconv.AppendInt(b, p.Step, 10)
		b = append(b, ',')
		b = appendValue(b, p.Value, d.log)
		if d.wall && !d.pts[0].Time.IsZero() {
			b = append(b, ',')
			ms := p.Time.Sub(d.pts[0].Time).Milliseconds()
			b = strconv.AppendFloat(b, float64(ms)/1000, 'f', -1, 64)
		}
		b = append(b, ']')
	}
	return append(b, ']'), nil
}

func appendValue(b []byte, v float64, log bool) []byte {
	if math.IsNaN(v) || math.IsInf(v, 0) || (log && v <= 0) {
		return append(b, "null"...)
	}
	f := float32(v)
	if math.IsInf(float64(f), 0) || (f == 0 && v != 0) {
		return strconv.AppendFloat(b, v, 'g', -1, 64)
	}
	return strconv.AppendFloat(b, float64(f), 'g', -1, 32)
}
