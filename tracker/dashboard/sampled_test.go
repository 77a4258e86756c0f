package dashboard

import (
	"encoding/json"
	"html"
	"math"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stylelab/stylelab/tracker"
)

// readCounter is a *tracker.Store (so it samples and counts in the store) counting whole-history and
// sampled reads.
type readCounter struct {
	*tracker.Store
	history, sampled atomic.Int64
}

func (c *readCounter) History(runID, key string) ([]tracker.Point, error) {
	c.history.Add(1)
	return c.Store.History(runID, key)
}

func (c *readCounter) HistorySampled(ids []string, key string, max int) (map[string][]tracker.Point, error) {
	c.sampled.Add(1)
	return c.Store.HistorySampled(ids, key, max)
}

// longRuns: two ended runs of 3000 steps (one diverging to NaN), one short ended run.
func longRuns() []testRun {
	return []testRun{
		{name: "long-a", steps: 3000, metrics: map[string]func(int) float64{"total": decay(1e4), "style": decay(10)}},
		{name: "long-b", steps: 3000, metrics: map[string]func(int) float64{"total": nanFrom(2e4, 2500)}},
		{name: "short", steps: 40, metrics: map[string]func(int) float64{"total": decay(3e4)}},
	}
}

// chartData extracts, per chart id, the [step, value] data of each series from a page's JSON blocks.
func chartData(t *testing.T, page string) map[string][][][2]*float64 {
	t.Helper()
	out := map[string][][][2]*float64{}
	re := regexp.MustCompile(`(?s)<script type="application/json" data-stylelab-chart="([^"]+)">(.*?)</script>`)
	for _, m := range re.FindAllStringSubmatch(page, -1) {
		var o struct {
			Series []struct {
				Data [][2]*float64 `json:"data"`
			} `json:"series"`
		}
		if err := json.Unmarshal([]byte(html.UnescapeString(m[2])), &o); err != nil {
			t.Fatalf("chart %s: %v", m[1], err)
		}
		for _, s := range o.Series {
			out[m[1]] = append(out[m[1]], s.Data)
		}
	}
	return out
}

// The compare and run pages and the API read only sampled points from a store that samples: no whole
// history is read, each curve has at most MaxPoints points with its first and last steps, NaN steps are
// gaps, and the API still reports how many points are stored.
func TestPagesReadSamples(t *testing.T) {
	path, ids := fillStore(t, longRuns())
	st, err := tracker.OpenReadOnly(path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	rc := &readCounter{Store: st}
	srv := httptest.NewServer(New(rc, Options{MaxPoints: 200}))
	defer srv.Close()

	_, page := get(t, srv, "/compare?ids="+strings.Join(ids, ","))
	data := chartData(t, page)
	total := data["metric-0"] // losses first, total before style (charts.GroupMetrics)
	if len(data) != 2 || len(total) != 3 {
		t.Fatalf("compare page: charts %d, total curves %d", len(data), len(total))
	}
	for i, pts := range total[:2] {
		if len(pts) > 200 || len(pts) < 150 || *pts[0][0] != 0 || *pts[len(pts)-1][0] != 2999 {
			t.Errorf("long curve %d: %d points from %v to %v", i, len(pts), *pts[0][0], *pts[len(pts)-1][0])
		}
	}
	gaps := 0
	for _, p := range total[1] {
		if *p[0] >= 2500 && p[1] == nil {
			gaps++
		}
	}
	if gaps < 25 {
		t.Errorf("the diverged run shows %d null (gap) points after step 2500, want ~33", gaps)
	}
	if len(total[2]) != 40 {
		t.Errorf("the short run's curve has %d points, want all 40", len(total[2]))
	}
	// Both long runs log every step: they keep the same steps.
	steps := func(d [][2]*float64) []float64 {
		var s []float64
		for _, p := range d {
			s = append(s, *p[0])
		}
		return s
	}
	if !slices.Equal(steps(total[0])[:100], steps(total[1])[:100]) {
		t.Error("the long runs' curves do not share steps")
	}

	_, page = get(t, srv, "/runs/"+ids[0])
	if run := chartData(t, page)["run-loss"]; len(run) != 2 || len(run[0]) > 200 || len(run[0]) < 150 {
		t.Errorf("run page chart: %d curves", len(run))
	}

	var cmp struct {
		Metrics map[string][]struct {
			Run   string  `json:"run"`
			Count int     `json:"count"`
			Steps []int64 `json:"steps"`
		} `json:"metrics"`
	}
	decodeJSON(t, srv, "/api/compare?ids="+strings.Join(ids, ",")+"&max=100", 200, &cmp)
	whole := map[string][]tracker.Point{}
	for _, id := range ids {
		whole[id], _ = st.History(id, "total")
	}
	want := tracker.Downsample(whole, 100)
	for i, h := range cmp.Metrics["total"] {
		var ws []int64
		for _, p := range want[ids[i]] {
			ws = append(ws, p.Step)
		}
		if h.Run != ids[i] || h.Count != len(whole[ids[i]]) || !slices.Equal(h.Steps, ws) {
			t.Errorf("/api/compare total %d: run %s count %d, %d steps; want count %d and Downsample's %d steps",
				i, h.Run, h.Count, len(h.Steps), len(whole[ids[i]]), len(ws))
		}
	}
	var one struct {
		Count  int             `json:"count"`
		Steps  []int64         `json:"steps"`
		Values []tracker.Value `json:"values"`
	}
	decodeJSON(t, srv, "/api/runs/"+ids[1]+"/metrics/total?max=50", 200, &one)
	if one.Count != 3000 || len(one.Steps) > 50 || one.Steps[len(one.Steps)-1] != 2999 || !math.IsNaN(float64(one.Values[len(one.Values)-1])) {
		t.Errorf("/api/runs/…/metrics/total?max=50: count %d, %d steps", one.Count, len(one.Steps))
	}
	if n := rc.history.Load(); n != 0 {
		t.Errorf("pages and sampled API calls read %d whole histories, want 0", n)
	}
	// Without max, the API gives every point: a whole history.
	decodeJSON(t, srv, "/api/runs/"+ids[0]+"/metrics/total", 200, &one)
	if one.Count != 3000 || len(one.Steps) != 3000 || rc.history.Load() != 1 {
		t.Errorf("whole history: count %d, %d steps, %d History calls", one.Count, len(one.Steps), rc.history.Load())
	}
}

// Sampled reads of ended runs are cached; a running run's are read afresh, so new points show up.
func TestSampledCache(t *testing.T) {
	path, ids := fillStore(t, longRuns()[:2])
	w, err := tracker.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	live, err := w.StartRun("dash", "live", tracker.WithoutProvenance())
	if err != nil {
		t.Fatal(err)
	}
	defer live.End(nil)
	for i := 0; i < 500; i++ {
		live.LogMetric("total", int64(i), 1)
	}
	if err := live.Flush(); err != nil {
		t.Fatal(err)
	}
	ro, err := tracker.OpenReadOnly(path)
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	rc := &readCounter{Store: ro}
	srv := httptest.NewServer(New(rc, Options{MaxPoints: 100}))
	defer srv.Close()

	for i := 0; i < 3; i++ {
		if resp, _ := get(t, srv, "/compare?ids="+strings.Join(ids, ",")); resp.StatusCode != 200 {
			t.Fatalf("compare: %d", resp.StatusCode)
		}
	}
	if n := rc.sampled.Load(); n != 2 { // total and style, read once
		t.Errorf("ended runs: %d sampled reads from the store over 3 visits, want 2", n)
	}
	before := rc.sampled.Load()
	_, page := get(t, srv, "/runs/"+live.ID())
	live.LogMetric("total", 999, 5)
	live.Flush()
	_, page2 := get(t, srv, "/runs/"+live.ID())
	last := func(p string) float64 {
		c := chartData(t, p)["run-loss"][0]
		return *c[len(c)-1][0]
	}
	if rc.sampled.Load() != before+2 || last(page) != 499 || last(page2) != 999 {
		t.Errorf("running run: %d sampled reads, last steps %v then %v; want 2 reads, 499 then 999",
			rc.sampled.Load()-before, last(page), last(page2))
	}
}

// A store that cannot sample (only the Store interface) still gets reduced curves: whole histories,
// cached, reduced with tracker.Downsample.
func TestCompareWithoutStoreSampling(t *testing.T) {
	path, ids := fillStore(t, longRuns())
	st, err := tracker.OpenReadOnly(filepath.Clean(path))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	cs := &countingStore{Store: st} // embeds the Store interface: no HistorySampled, no PointCount
	srv := httptest.NewServer(New(cs, Options{MaxPoints: 100}))
	defer srv.Close()
	for i := 0; i < 2; i++ {
		_, page := get(t, srv, "/compare?ids="+strings.Join(ids, ","))
		for id, curves := range chartData(t, page) {
			for _, c := range curves {
				if len(c) > 100 {
					t.Errorf("chart %s: a curve of %d points, want <= 100", id, len(c))
				}
			}
		}
	}
	if n := cs.n.Load(); n != 4 { // 4 series read once, then cached
		t.Errorf("%d whole-history reads over two visits, want 4", n)
	}
	var cmp struct {
		Metrics map[string][]struct {
			Count int `json:"count"`
		} `json:"metrics"`
	}
	decodeJSON(t, srv, "/api/compare?ids="+strings.Join(ids, ","), 200, &cmp)
	if c := cmp.Metrics["total"]; len(c) != 3 || c[0].Count != 3000 || c[2].Count != 40 {
		t.Errorf("counts without a store count: %+v", c)
	}
}
