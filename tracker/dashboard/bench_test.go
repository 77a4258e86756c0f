package dashboard

import (
	"bytes"
	"fmt"
	"image"
	"image/png"
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
	for _, d := range []string{benchDir, bench200Dir} {
		if d != "" {
			os.RemoveAll(d)
		}
	}
	os.Exit(code)
}

// The many-runs store: a 200-run sweep (tag sweep.id=big, 4 losses × 5 weights × 10 seeds) × 1,000 steps ×
// 3 metrics (600,000 points), each run with a 256×256 output.png, built once per test binary.
const (
	bench200Runs  = 200
	bench200Steps = 1000
)

var (
	bench200Once sync.Once
	bench200Dir  string
	bench200Path string
	bench200IDs  []string
	bench200Err  error
)

func bench200Store() (string, []string, error) {
	bench200Once.Do(func() {
		bench200Dir, bench200Err = os.MkdirTemp("", "stylelab-bench200-")
		if bench200Err != nil {
			return
		}
		bench200Path = filepath.Join(bench200Dir, "stylelab.db")
		st, err := tracker.Open(bench200Path)
		if err != nil {
			bench200Err = err
			return
		}
		defer st.Close()
		for r := 0; r < bench200Runs; r++ {
			loss, w, seed := []string{"gram", "meanvar", "mmd-poly", "sliced"}[r%4], []int{1, 2, 5, 10, 20}[(r/4)%5], r/20
			run, err := st.StartRun("bench", fmt.Sprintf("%s-w%d-s%d", loss, w, seed), tracker.WithoutProvenance())
			if err != nil {
				bench200Err = err
				return
			}
			bench200IDs = append(bench200IDs, run.ID())
			run.LogParams(map[string]string{"loss": loss, "style_weight": fmt.Sprint(w), "seed": fmt.Sprint(seed)})
			run.SetTag(SweepTag, "big")
			run.SetTag(SweepParamsTag, "loss,style_weight,seed")
			for i := 0; i < bench200Steps; i++ {
				x := float64(i)
				if err := run.LogMetrics(int64(i), map[string]float64{
					"total":   1e4/(1+x) + float64(w*(1+r%4)),
					"style":   5e3 * math.Exp(-x/200) * (1 + 0.1*math.Sin(x/5)),
					"content": 10 + math.Cos(x/30) + float64(seed),
				}); err != nil {
					bench200Err = err
					return
				}
			}
			im := image.NewRGBA(image.Rect(0, 0, 256, 256))
			for i := 0; i < len(im.Pix); i += 4 {
				im.Pix[i], im.Pix[i+1], im.Pix[i+2], im.Pix[i+3] = uint8(r), uint8(i/1024), uint8(w*12), 255
			}
			var b bytes.Buffer
			if err := png.Encode(&b, im); err != nil {
				bench200Err = err
				return
			}
			if _, err := run.LogArtifact("output.png", "image/png", b.Bytes()); err != nil {
				bench200Err = err
				return
			}
			if err := run.End(nil); err != nil {
				bench200Err = err
				return
			}
		}
	})
	return bench200Path, bench200IDs, bench200Err
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
	benchPage(b, path, o, warm, "/compare?ids="+strings.Join(ids, ","))
}

// BenchmarkComparePage200 serves /compare for the 200-run sweep (200 runs × 1,000 steps × 3 metrics, 200
// output images shown as thumbnails), as a revisit.
func BenchmarkComparePage200(b *testing.B) {
	path, ids, err := bench200Store()
	if err != nil {
		b.Fatal(err)
	}
	benchPage(b, path, Options{}, true, "/compare?ids="+strings.Join(ids, ","))
}

// BenchmarkComparePage200Cold is BenchmarkComparePage200 with the history cache disabled.
func BenchmarkComparePage200Cold(b *testing.B) {
	path, ids, err := bench200Store()
	if err != nil {
		b.Fatal(err)
	}
	benchPage(b, path, Options{CachePoints: -1}, false, "/compare?ids="+strings.Join(ids, ","))
}

// BenchmarkRunsPage200 serves the runs table of the 200 runs with a thumbnail each, grouped by loss.
func BenchmarkRunsPage200(b *testing.B) {
	path, _, err := bench200Store()
	if err != nil {
		b.Fatal(err)
	}
	benchPage(b, path, Options{}, true, "/?group=params.loss&metric=total")
}

// BenchmarkSweepPage200 serves the sweep view of the 200 runs.
func BenchmarkSweepPage200(b *testing.B) {
	path, _, err := bench200Store()
	if err != nil {
		b.Fatal(err)
	}
	benchPage(b, path, Options{}, true, "/sweeps/big")
}

// BenchmarkThumbs200 serves the 200 runs' thumbnails from a fresh server (each decoded from its
// hash-checked 256×256 PNG and scaled: the cost of a first visit to the runs table).
func BenchmarkThumbs200(b *testing.B) {
	path, ids, err := bench200Store()
	if err != nil {
		b.Fatal(err)
	}
	st, err := tracker.OpenReadOnly(path)
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	var shas []string
	for _, id := range ids {
		arts, err := st.Artifacts(id)
		if err != nil {
			b.Fatal(err)
		}
		shas = append(shas, outputImage(arts).SHA256)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		h := New(st, Options{})
		for _, sha := range shas {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest("GET", "/thumbs/"+sha, nil))
			if rec.Code != 200 {
				b.Fatalf("status %d: %s", rec.Code, rec.Body.String())
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/op")
}

func benchPage(b *testing.B, path string, o Options, warm bool, target string) {
	st, err := tracker.OpenReadOnly(path)
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	h := New(st, o)
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
