package dashboard

import (
	"fmt"
	"math"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/stylelab/stylelab/tracker"
	"github.com/stylelab/stylelab/tracker/charts"
)

// The benchmark's store: 20 runs × 10,000 steps × 3 metrics (600,000 points), built once per test binary.
const (
	benchRuns    = 20
	benchSteps   = 10000
	benchMetrics = 3
)

var (
	benchOnce sync.Once
	benchDir  string
	benchPath string
	benchIDs  []string
	benchErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if benchDir != "" {
		os.RemoveAll(benchDir)
	}
	os.Exit(code)
}

func benchStore() (string, []string, error) {
	benchOnce.Do(func() {
		benchDir, benchErr = os.MkdirTemp("", "stylelab-bench-")
		if benchErr != nil {
			return
		}
		benchPath = filepath.Join(benchDir, "stylelab.db")
		st, err := tracker.Open(benchPath)
		if err != nil {
			benchErr = err
			return
		}
		defer st.Close()
		for r := 0; r < benchRuns; r++ {
			run, err := st.StartRun("bench", fmt.Sprintf("run-%02d", r), tracker.WithoutProvenance())
			if err != nil {
				benchErr = err
				return
			}
			benchIDs = append(benchIDs, run.ID())
			run.LogParams(map[string]string{"lr": fmt.Sprint(r % 4), "loss": []string{"gram", "mmd-poly"}[r%2], "seed": "1"})
			for i := 0; i < benchSteps; i++ {
				x := float64(i)
				vals := map[string]float64{
					"total":   1e5/(1+x) + float64(r),
					"style":   5e4 * math.Exp(-x/2000) * (1 + 0.1*math.Sin(x/50)),
					"content": 10 + math.Cos(x/300),
				}
				if len(vals) != benchMetrics {
					panic("metric count")
				}
				if err := run.LogMetrics(int64(i), vals); err != nil {
					benchErr = err
					return
				}
			}
			if err := run.End(nil); err != nil {
				benchErr = err
				return
			}
		}
	})
	return benchPath, benchIDs, benchErr
}

// BenchmarkComparePage serves /compare for 20 runs × 10,000 steps × 3 metrics from a real store opened
// read-only, as a revisit (the ended runs' histories are in the dashboard's cache). The aim is ≤ 300 ms.
func BenchmarkComparePage(b *testing.B) { benchComparePage(b, Options{}, true) }

// BenchmarkComparePageCold is the same page with the history cache disabled: every request reads the
// series from SQLite (the points drawn, sampled in the store: at most MaxPoints of each series).
func BenchmarkComparePageCold(b *testing.B) { benchComparePage(b, Options{CachePoints: -1}, false) }

func benchComparePage(b *testing.B, o Options, warm bool) {
	path, ids, err := benchStore()
	if err != nil {
		b.Fatal(err)
	}
	st, err := tracker.OpenReadOnly(path)
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	h := New(st, o)
	target := "/compare?ids=" + strings.Join(ids, ",")
	serve := func() int {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", target, nil))
		if rec.Code != 200 {
			b.Fatalf("status %d: %s", rec.Code, rec.Body.String())
		}
		return rec.Body.Len()
	}
	if warm {
		serve()
	}
	var size int
	b.ResetTimer()
	cpu := processCPU()
	for i := 0; i < b.N; i++ {
		size = serve()
	}
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/op")
	b.ReportMetric(float64((processCPU()-cpu).Milliseconds())/float64(b.N), "cpu-ms/op")
	b.ReportMetric(float64(size)/1e6, "MB/page")
}

// BenchmarkCompareRead isolates the store reads of the compare page (CompareSampled: runs, sampled
// histories, artifacts).
func BenchmarkCompareRead(b *testing.B) {
	benchCompareRead(b, func(st *tracker.Store, ids []string) (*Comparison, error) {
		return CompareSampled(st, ids, charts.DefaultMaxPoints)
	})
}

// BenchmarkCompareReadWhole is Compare: every one of the 600,000 points read.
func BenchmarkCompareReadWhole(b *testing.B) {
	benchCompareRead(b, func(st *tracker.Store, ids []string) (*Comparison, error) { return Compare(st, ids) })
}

func benchCompareRead(b *testing.B, read func(*tracker.Store, []string) (*Comparison, error)) {
	path, ids, err := benchStore()
	if err != nil {
		b.Fatal(err)
	}
	st, err := tracker.OpenReadOnly(path)
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	b.ResetTimer()
	cpu := processCPU()
	for i := 0; i < b.N; i++ {
		if _, err := read(st, ids); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/op")
	b.ReportMetric(float64((processCPU()-cpu).Milliseconds())/float64(b.N), "cpu-ms/op")
}
