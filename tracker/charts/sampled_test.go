package charts

import (
	"bytes"
	"fmt"
	"math"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	gocharts "github.com/go-echarts/go-echarts/v2/charts"
	"github.com/stylelab/stylelab/tracker"
)

// sampledFake is a fakeReader that samples in "the store" (tracker.Downsample over its histories) and
// records how it was read.
type sampledFake struct {
	*fakeReader
	mu      sync.Mutex
	history int      // History calls
	calls   []string // HistorySampled calls: "key max id,id"
}

func (f *sampledFake) History(id, key string) ([]tracker.Point, error) {
	f.mu.Lock()
	f.history++
	f.mu.Unlock()
	return f.fakeReader.History(id, key)
}

func (f *sampledFake) HistorySampled(ids []string, key string, max int) (map[string][]tracker.Point, error) {
	f.mu.Lock()
	f.calls = append(f.calls, fmt.Sprintf("%s %d %s", key, max, strings.Join(ids, ",")))
	f.mu.Unlock()
	in := map[string][]tracker.Point{}
	for _, id := range ids {
		in[id] = f.metrics[id][key]
	}
	return tracker.Downsample(in, max), nil
}

func longFake() *fakeReader {
	f := &fakeReader{}
	f.add("aaaa1111bbbb", "first", "total", curve(5000, func(i int) float64 { return 1e4 / float64(i+1) }))
	f.add("aaaa1111bbbb", "first", "style", curve(5000, func(i int) float64 { return math.Sin(float64(i) / 100) }))
	f.add("cccc2222dddd", "second", "total", curve(3000, func(i int) float64 { return 2e4 / float64(i+1) }))
	f.add("eeee3333ffff", "", "content", curve(40, func(i int) float64 { return 1 }))
	return f
}

func optionJSONs(t *testing.T, cs ...*gocharts.Line) []string {
	t.Helper()
	var out []string
	for _, c := range cs {
		b, err := OptionJSON(c)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, string(b))
	}
	return out
}

// A SampledReader is asked once per metric for the runs logging it, History is never called, and the
// charts are those drawn from whole histories.
func TestCompareChartsSampleInTheStore(t *testing.T) {
	plain := longFake()
	sf := &sampledFake{fakeReader: longFake()}
	ids := []string{"aaaa", "cccc", "eeee"}
	want, err := CompareCharts(plain, ids, WithMaxPoints(300))
	if err != nil {
		t.Fatal(err)
	}
	got, err := CompareCharts(sf, ids, WithMaxPoints(300))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(optionJSONs(t, got...), optionJSONs(t, want...)) {
		t.Error("charts from sampled reads differ from charts of whole histories")
	}
	slices.Sort(sf.calls)
	wantCalls := []string{"content 300 eeee3333ffff", "style 300 aaaa1111bbbb", "total 300 aaaa1111bbbb,cccc2222dddd"}
	if sf.history != 0 || !slices.Equal(sf.calls, wantCalls) {
		t.Errorf("reads: %d History calls, HistorySampled %q; want 0 and %q", sf.history, sf.calls, wantCalls)
	}
	// WithMaxPoints(0) keeps every point: whole histories, no sampling.
	sf.calls = nil
	all, err := CompareCharts(sf, ids, WithMaxPoints(0))
	if err != nil {
		t.Fatal(err)
	}
	if len(sf.calls) != 0 || sf.history != 4 || len(decode(t, all[0]).Series[0].Data) != 5000 {
		t.Errorf("max 0: %d sampled calls, %d History calls", len(sf.calls), sf.history)
	}
}

func TestCompareSeriesSampledFallback(t *testing.T) {
	f := longFake()
	runs, byKey, keys, err := CompareSeriesSampled(f, []string{"aaaa", "cccc", "eeee"}, 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(runs) != 3 || strings.Join(keys, ",") != "total,style,content" || len(byKey["total"]) != 2 {
		t.Fatalf("runs %d keys %v total %d", len(runs), keys, len(byKey["total"]))
	}
	want := tracker.Downsample(map[string][]tracker.Point{"a": f.metrics["aaaa1111bbbb"]["total"], "c": f.metrics["cccc2222dddd"]["total"]}, 100)
	for i, run := range []string{"a", "c"} {
		s := byKey["total"][i]
		if !slices.Equal(s.Points, want[run]) || len(s.Points) > 100 {
			t.Errorf("series %d (%s): %d points, not Downsample's", i, s.Label, len(s.Points))
		}
	}
	if s := byKey["content"][0]; len(s.Points) != 40 || s.Label != "eeee3333" {
		t.Errorf("a short series must be whole: %d points, label %q", len(s.Points), s.Label)
	}
	if _, _, _, err := CompareSeriesSampled(f, []string{"aaaa", "zzzz"}, 100); err == nil {
		t.Error("an unknown run must fail")
	}
}

func TestRunChartSamplesEachMetric(t *testing.T) {
	sf := &sampledFake{fakeReader: longFake()}
	c, err := RunChart(sf, "aaaa", WithMaxPoints(200))
	if err != nil {
		t.Fatal(err)
	}
	o := decode(t, c)
	if len(o.Series) != 2 || len(o.Series[0].Data) > 200 || *o.Series[0].Data[len(o.Series[0].Data)-1][0] != 4999 {
		t.Errorf("run chart: %d series", len(o.Series))
	}
	if sf.history != 0 || strings.Join(sf.calls, ";") != "total 200 aaaa1111bbbb;style 200 aaaa1111bbbb" {
		t.Errorf("reads: %d History, sampled %q", sf.history, sf.calls)
	}
}

// plainReader hides a store's HistorySampled: charts then read whole histories.
type plainReader struct{ st *tracker.Store }

func (p plainReader) GetRun(id string) (*tracker.RunInfo, error)    { return p.st.GetRun(id) }
func (p plainReader) MetricKeys(id string) ([]string, error)        { return p.st.MetricKeys(id) }
func (p plainReader) History(id, k string) ([]tracker.Point, error) { return p.st.History(id, k) }

// On a real store with runs logging every step, charts from the store's sampled reads are byte for byte
// the charts drawn from whole histories (tracker.Downsample), NaN gaps included.
func TestSampledChartsFromStore(t *testing.T) {
	st, err := tracker.Open(filepath.Join(t.TempDir(), "s.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var ids []string
	for r, n := range []int{4000, 2500, 30} {
		run, err := st.StartRun("c", fmt.Sprint("run-", r), tracker.WithoutProvenance())
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < n; i++ {
			v := float64(r+1) * 1e3 / float64(i+1)
			if r == 1 && i >= 2000 {
				v = math.NaN()
			}
			run.LogMetrics(int64(i), map[string]float64{"total": v, "lr": 0.1 * math.Cos(float64(i)/90)})
		}
		if err := run.End(nil); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, run.ID())
	}
	for _, max := range []int{150, DefaultMaxPoints} {
		got, err := CompareCharts(st, ids, WithMaxPoints(max))
		if err != nil {
			t.Fatal(err)
		}
		want, _ := CompareCharts(plainReader{st}, ids, WithMaxPoints(max))
		if !slices.Equal(optionJSONs(t, got...), optionJSONs(t, want...)) {
			t.Errorf("max %d: compare charts from the store's samples differ from Downsample's", max)
		}
		rc, err := RunChart(st, ids[1], WithMaxPoints(max), WithID("r"))
		if err != nil {
			t.Fatal(err)
		}
		rw, _ := RunChart(plainReader{st}, ids[1], WithMaxPoints(max), WithID("r"))
		if !slices.Equal(optionJSONs(t, rc), optionJSONs(t, rw)) {
			t.Errorf("max %d: run chart from the store's samples differs from Downsample's", max)
		}
		if b, _ := OptionJSON(rc); !bytes.Contains(b, []byte(",null]")) {
			t.Errorf("max %d: the diverged run's NaN steps are not drawn as gaps", max)
		}
	}
}
