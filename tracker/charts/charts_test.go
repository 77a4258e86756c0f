package charts

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"testing"

	gocharts "github.com/go-echarts/go-echarts/v2/charts"
	"github.com/go-echarts/go-echarts/v2/opts"
	"github.com/stylelab/stylelab/tracker"
	"github.com/stylelab/stylelab/tracker/assets"
)

// fakeReader is an in-memory Reader.
type fakeReader struct {
	runs    []*tracker.RunInfo
	metrics map[string]map[string][]tracker.Point
	keys    map[string][]string
}

func (f *fakeReader) add(id, name string, key string, pts []tracker.Point) {
	if f.metrics == nil {
		f.metrics, f.keys = map[string]map[string][]tracker.Point{}, map[string][]string{}
	}
	if _, ok := f.metrics[id]; !ok {
		f.runs = append(f.runs, &tracker.RunInfo{ID: id, Name: name})
		f.metrics[id] = map[string][]tracker.Point{}
	}
	if key != "" {
		f.metrics[id][key] = pts
		f.keys[id] = append(f.keys[id], key)
	}
}

func (f *fakeReader) GetRun(id string) (*tracker.RunInfo, error) {
	for _, r := range f.runs {
		if strings.HasPrefix(r.ID, id) {
			return r, nil
		}
	}
	return nil, fmt.Errorf("no run %q", id)
}
func (f *fakeReader) MetricKeys(id string) ([]string, error) { return f.keys[id], nil }
func (f *fakeReader) History(id, key string) ([]tracker.Point, error) {
	return f.metrics[id][key], nil
}

func curve(n int, f func(i int) float64) []tracker.Point {
	pts := make([]tracker.Point, n)
	for i := range pts {
		pts[i] = tracker.Point{Step: int64(i), Value: f(i)}
	}
	return pts
}

// option decodes the chart's option JSON.
type option struct {
	Title  struct{ Text string } `json:"title"`
	Legend struct {
		Type string
	} `json:"legend"`
	Tooltip  struct{ Trigger string } `json:"tooltip"`
	DataZoom []struct{ Type string }  `json:"dataZoom"`
	XAxis    []struct{ Type string }  `json:"xAxis"`
	YAxis    []struct{ Type string }  `json:"yAxis"`
	Series   []struct {
		Name         string
		Type         string
		ConnectNulls *bool         `json:"connectNulls"`
		Data         [][2]*float64 `json:"data"`
	} `json:"series"`
}

func decode(t *testing.T, c *gocharts.Line) option {
	t.Helper()
	b, err := OptionJSON(c)
	if err != nil {
		t.Fatal(err)
	}
	var o option
	if err := json.Unmarshal(b, &o); err != nil {
		t.Fatalf("option is not valid JSON: %v\n%s", err, b)
	}
	return o
}

// NaN and ±Inf become null ([step, null]) — a gap — and every finite value survives (to float32 precision).
func TestNonFiniteBecomeGaps(t *testing.T) {
	vals := []float64{3, math.NaN(), 2.5, math.Inf(1), 1.25, math.Inf(-1), 1e-3}
	pts := curve(len(vals), func(i int) float64 { return vals[i] })
	o := decode(t, Overlay("loss", []Series{{Run: "r1", Label: "run one", Points: pts}}, WithLogY(false)))
	if len(o.Series) != 1 || len(o.Series[0].Data) != len(vals) {
		t.Fatalf("want 1 series of %d points, got %+v", len(vals), o.Series)
	}
	s := o.Series[0]
	if s.ConnectNulls == nil || *s.ConnectNulls {
		t.Errorf("connectNulls must be false so gaps are drawn, got %v", s.ConnectNulls)
	}
	for i, v := range vals {
		x, y := s.Data[i][0], s.Data[i][1]
		if x == nil || *x != float64(i) {
			t.Errorf("point %d: step %v, want %d", i, x, i)
		}
		finite := !math.IsNaN(v) && !math.IsInf(v, 0)
		switch {
		case !finite && y != nil:
			t.Errorf("point %d (%v): want null (a gap), got %v", i, v, *y)
		case finite && y == nil:
			t.Errorf("point %d (%v): finite value written as null", i, v)
		case finite && float32(*y) != float32(v):
			t.Errorf("point %d: value %v read back as %v", i, v, *y)
		}
	}
}

// go-echarts' own renderer drops the whole option when a value is NaN; with our data type it keeps it.
func TestGoEchartsRenderKeepsNaNChart(t *testing.T) {
	pts := curve(5, func(i int) float64 { return []float64{1, math.NaN(), 2, math.Inf(1), 3}[i] })
	c := Overlay("loss", []Series{{Run: "r1", Points: pts}})
	html := string(c.RenderContent())
	if !strings.Contains(html, `[1,null]`) || !strings.Contains(html, `[4,3]`) {
		t.Fatalf("go-echarts rendering lost the data:\n%s", html)
	}
	if strings.Contains(html, "go-echarts.github.io") || strings.Contains(html, "cdn") {
		t.Errorf("chart still refers to a CDN:\n%.400s", html)
	}
	if !strings.Contains(html, AssetsPath+EchartsFile) {
		t.Errorf("chart does not load %s", AssetsPath+EchartsFile)
	}

	// Plain go-echarts with a NaN: the page holds no option at all (the failure this package avoids).
	plain := gocharts.NewLine()
	plain.AddSeries("x", []opts.LineData{{Value: []any{0, math.NaN()}}})
	if strings.Contains(string(plain.RenderContent()), `"series"`) {
		t.Log("note: go-echarts now encodes NaN options; the workaround is still harmless")
	}
}

func TestChartOptions(t *testing.T) {
	pts := curve(10, func(i int) float64 { return float64(10 - i) })
	o := decode(t, Overlay("style", []Series{{Run: "aaaaaaaaaaaa", Points: pts}, {Run: "b", Label: "B", Points: pts}}))
	if o.Title.Text != "style" || o.Tooltip.Trigger != "axis" || o.Legend.Type != "scroll" {
		t.Errorf("title/tooltip/legend: %+v %+v %+v", o.Title, o.Tooltip, o.Legend)
	}
	if len(o.XAxis) != 1 || o.XAxis[0].Type != "value" {
		t.Errorf("x axis must be a value axis (steps differ between runs): %+v", o.XAxis)
	}
	types := map[string]bool{}
	for _, z := range o.DataZoom {
		types[z.Type] = true
	}
	if !types["inside"] || !types["slider"] {
		t.Errorf("want inside and slider zoom, got %+v", o.DataZoom)
	}
	if o.Series[0].Name != "aaaaaaaa" || o.Series[1].Name != "B" || o.Series[0].Type != "line" {
		t.Errorf("series names: %q %q", o.Series[0].Name, o.Series[1].Name)
	}
}

func TestLogAxisChoice(t *testing.T) {
	decay := curve(100, func(i int) float64 { return 1e4 * math.Pow(0.9, float64(i)) }) // 1e4 → ~0.3
	flat := curve(100, func(i int) float64 { return 2 + float64(i)/100 })
	withZero := curve(100, func(i int) float64 { return 1e4 * math.Pow(0.9, float64(i)) * float64(i%50) })
	cases := []struct {
		name string
		pts  []tracker.Point
		opt  []Option
		want string
	}{
		{"decay over 4 decades", decay, nil, "log"},
		{"less than 3 decades", flat, nil, "value"},
		{"holds zero", withZero, nil, "value"},
		{"forced linear", decay, []Option{WithLogY(false)}, "value"},
		{"forced log", flat, []Option{WithLogY(true)}, "log"},
	}
	for _, c := range cases {
		o := decode(t, Overlay("m", []Series{{Run: "r", Points: c.pts}}, c.opt...))
		if got := o.YAxis[0].Type; got != c.want {
			t.Errorf("%s: y axis %q, want %q", c.name, got, c.want)
		}
	}
	// On a forced log axis, zero is a gap, not a -Inf that ECharts cannot place.
	o := decode(t, Overlay("m", []Series{{Run: "r", Points: withZero}}, WithLogY(true)))
	if o.Series[0].Data[0][1] != nil || o.Series[0].Data[1][1] == nil {
		t.Errorf("log axis: value 0 must be null and value >0 kept: %v %v", o.Series[0].Data[0][1], o.Series[0].Data[1][1])
	}
}

func TestDownsampleLongSeries(t *testing.T) {
	long := curve(10000, func(i int) float64 { return 1 / float64(i+1) })
	short := curve(50, func(i int) float64 { return float64(i) })
	o := decode(t, Overlay("loss", []Series{{Run: "a", Points: long}, {Run: "b", Points: short}}, WithMaxPoints(500)))
	got := o.Series[0].Data
	if len(got) > 500 || len(got) < 2 {
		t.Fatalf("10000 points downsampled to %d, want 2..500", len(got))
	}
	if *got[0][0] != 0 || *got[len(got)-1][0] != 9999 {
		t.Errorf("downsampling must keep the first and last step: %v … %v", *got[0][0], *got[len(got)-1][0])
	}
	o = decode(t, Overlay("loss", []Series{{Run: "a", Points: long}}, WithMaxPoints(0)))
	if len(o.Series[0].Data) != 10000 {
		t.Errorf("WithMaxPoints(0) must keep every point, got %d", len(o.Series[0].Data))
	}
}

func TestAppendValue(t *testing.T) {
	for _, v := range []float64{0, -0.5, 1.0 / 3, 123456.789, 1e-30, 1e30, 1e300, -1e-300, math.SmallestNonzeroFloat64} {
		b := appendValue(nil, v, false)
		var back float64
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatalf("%v written as %q: not JSON: %v", v, b, err)
		}
		if float32(v) != 0 && !math.IsInf(float64(float32(v)), 0) {
			if float32(back) != float32(v) {
				t.Errorf("%v → %s → %v: float32 value changed", v, b, back)
			}
		} else if back != v {
			t.Errorf("%v (outside float32) → %s → %v", v, b, back)
		}
	}
}

func TestRunChartAndCompare(t *testing.T) {
	f := &fakeReader{}
	f.add("aaaa1111bbbb", "first", "total", curve(20, func(i int) float64 { return float64(100 - i) }))
	f.add("aaaa1111bbbb", "first", "style", curve(20, func(i int) float64 { return float64(50 - i) }))
	f.add("cccc2222dddd", "second", "total", curve(30, func(i int) float64 { return float64(90 - i) }))
	f.add("eeee3333ffff", "", "content", curve(5, func(i int) float64 { return 1 }))

	c, err := RunChart(f, "aaaa")
	if err != nil {
		t.Fatal(err)
	}
	o := decode(t, c)
	if o.Title.Text != "first · aaaa1111" || len(o.Series) != 2 || o.Series[0].Name != "total" || o.Series[1].Name != "style" {
		t.Errorf("RunChart: title %q series %+v", o.Title.Text, o.Series)
	}
	if _, err := RunChart(f, "zzz"); err == nil {
		t.Error("RunChart of an unknown run must fail")
	}

	cs, err := CompareCharts(f, []string{"aaaa", "cccc", "eeee"})
	if err != nil {
		t.Fatal(err)
	}
	var titles []string
	for _, c := range cs {
		titles = append(titles, decode(t, c).Title.Text)
	}
	if strings.Join(titles, ",") != "total,style,content" {
		t.Fatalf("compare charts %v, want total,style,content (first-seen key order)", titles)
	}
	total := decode(t, cs[0])
	if len(total.Series) != 2 || total.Series[0].Name != "first · aaaa1111" || total.Series[1].Name != "second · cccc2222" {
		t.Errorf("overlay 'total' series: %+v", total.Series)
	}
	if n := len(decode(t, cs[2]).Series); n != 1 || decode(t, cs[2]).Series[0].Name != "eeee3333" {
		t.Errorf("'content' is logged by one unnamed run only, got %d series", n)
	}
}

// A run name is user data: it must not be able to close the <script> element that carries the option.
func TestElementEscapesNames(t *testing.T) {
	evil := `</script><script>alert(1)</script>`
	c := Overlay(evil, []Series{{Run: "r", Label: evil, Points: curve(3, func(int) float64 { return 1 })}}, WithID(`x" onload="y`))
	el, err := Element(c)
	if err != nil {
		t.Fatal(err)
	}
	s := string(el)
	if strings.Count(strings.ToLower(s), "</script") != 1 || strings.Contains(s, "<script>alert") {
		t.Fatalf("name escaped the JSON block:\n%s", s)
	}
	if !strings.Contains(s, `id="xonloady"`) {
		t.Errorf("element id not sanitised: %s", s[:80])
	}
	// The JSON in the block still decodes to the original name.
	start := strings.Index(s, `">`+"{") + 2
	end := strings.LastIndex(s, "</script>")
	var o option
	if err := json.Unmarshal([]byte(s[start:end]), &o); err != nil || o.Series[0].Name != evil {
		t.Errorf("round trip of the name failed: %v %q", err, o.Series[0].Name)
	}
}

func TestInitJSInlineSafe(t *testing.T) {
	if strings.Contains(strings.ToLower(string(InitJS)), "</script") {
		t.Fatal("init.js contains </script: inlining it would end the script element early")
	}
}

func TestFuncStrRefused(t *testing.T) {
	c := Overlay("m", nil)
	c.SetGlobalOptions(gocharts.WithTooltipOpts(opts.Tooltip{Formatter: opts.FuncOpts("function(p){return p}")}))
	_, err := OptionJSON(c)
	if err == nil || !strings.Contains(err.Error(), "function") {
		t.Fatalf("a FuncStr option must be refused with a clear error, got %v", err)
	}
}

func TestPagesAndSnippet(t *testing.T) {
	c := Overlay("loss", []Series{{Run: "r", Points: curve(3, func(int) float64 { return 1 })}}, WithID("c1"))
	var page, alone bytes.Buffer
	if err := Page(&page, "T", c); err != nil {
		t.Fatal(err)
	}
	if err := StandalonePage(&alone, "T", c); err != nil {
		t.Fatal(err)
	}
	snip, err := Snippet(c)
	if err != nil {
		t.Fatal(err)
	}
	lib := string(assets.EchartsJS[len(assets.EchartsJS)-2000:]) // a piece of the bundle
	if !strings.Contains(page.String(), `src="/assets/echarts.min.js"`) || strings.Contains(page.String(), lib) {
		t.Error("Page must load echarts from /assets/, not inline it")
	}
	for name, s := range map[string]string{"StandalonePage": alone.String(), "Snippet": snip} {
		if strings.Count(s, lib) != 1 {
			t.Errorf("%s must inline echarts exactly once", name)
		}
		if strings.Contains(s, "<script src") || strings.Contains(s, "<link") {
			t.Errorf("%s must not load anything from elsewhere", name)
		}
		if !strings.Contains(s, `data-stylelab-chart="c1"`) || !strings.Contains(s, "stylelabCharts = {") {
			t.Errorf("%s lacks the chart block or the init script", name)
		}
	}
	if !strings.Contains(alone.String(), "The Apache Software Foundation") {
		t.Error("an inlined ECharts must carry its NOTICE")
	}
	if !strings.Contains(snip, `typeof window.echarts === "undefined"`) {
		t.Error("Snippet must guard against loading echarts twice on a page")
	}
}
