package tracker

import (
	"errors"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/stylelab/stylelab/tracker/filter"
)

func series(n int, step func(i int) int64, value func(i int) float64) []Point {
	pts := make([]Point, n)
	t0 := time.Unix(0, 0)
	for i := range pts {
		pts[i] = Point{Step: step(i), Value: value(i), Time: t0.Add(time.Duration(i) * time.Millisecond)}
	}
	return pts
}

func steps(pts []Point) []int64 {
	s := make([]int64, len(pts))
	for i, p := range pts {
		s[i] = p.Step
	}
	return s
}

func TestDownsampleKeepsFirstLastExtremes(t *testing.T) {
	const n = 100000
	in := series(n, func(i int) int64 { return int64(i) }, func(i int) float64 {
		switch i {
		case 31337:
			return 1e9 // spike
		case 77777:
			return -1e9 // dip
		case 50001, 50002:
			return math.NaN()
		}
		return math.Sin(float64(i) / 1000)
	})
	out := Downsample(map[string][]Point{"a": in}, 1000)["a"]
	if len(out) > 1000 || len(out) < 900 {
		t.Fatalf("%d points kept", len(out))
	}
	kept := map[int64]Point{}
	for i, p := range out {
		if i > 0 && p.Step <= out[i-1].Step {
			t.Fatalf("steps not increasing at %d: %v", i, out[i-1:i+1])
		}
		if orig := in[p.Step]; orig.Step != p.Step || (orig.Value != p.Value && !math.IsNaN(p.Value)) || !orig.Time.Equal(p.Time) {
			t.Fatalf("point %+v is not an input point", p)
		}
		kept[p.Step] = p
	}
	for _, s := range []int64{0, n - 1, 31337, 77777, 50001} {
		if _, ok := kept[s]; !ok {
			t.Errorf("step %d (first/last/extreme/first NaN) dropped", s)
		}
	}
	// Evenly spaced: no gap much wider than n/K.
	for i := 1; i < len(out); i++ {
		if gap := out[i].Step - out[i-1].Step; gap > 2*n/995 {
			t.Fatalf("gap of %d steps between %d and %d", gap, out[i-1].Step, out[i].Step)
		}
	}
}

func TestDownsampleSharedSteps(t *testing.T) {
	mk := func(scale float64) []Point {
		return series(30000, func(i int) int64 { return int64(10 * i) }, func(i int) float64 { return scale / float64(i+1) })
	}
	short := series(50, func(i int) int64 { return int64(i) }, func(i int) float64 { return float64(i) })
	sparse := series(2000, func(i int) int64 { return int64(150 * i) }, func(i int) float64 { return float64(-i) })
	out := Downsample(map[string][]Point{"a": mk(1), "b": mk(7), "short": short, "sparse": sparse}, 500)
	if !slices.Equal(steps(out["a"]), steps(out["b"])) {
		t.Errorf("runs logging the same steps kept different steps")
	}
	if len(out["a"]) > 500 || len(out["sparse"]) > 500 {
		t.Errorf("kept %d and %d points", len(out["a"]), len(out["sparse"]))
	}
	if &out["short"][0] != &short[0] || len(out["short"]) != 50 {
		t.Errorf("a short series was changed")
	}
	// The sparse run (every 150 steps over a longer range) is still evenly covered.
	sp := out["sparse"]
	if sp[0].Step != 0 || sp[len(sp)-1].Step != 150*1999 {
		t.Errorf("sparse run lost its ends: %d..%d", sp[0].Step, sp[len(sp)-1].Step)
	}
	for i := 1; i < len(sp); i++ {
		if sp[i].Step-sp[i-1].Step > 3*300000/495 {
			t.Fatalf("sparse run gap %d..%d", sp[i-1].Step, sp[i].Step)
		}
	}
}

func TestDownsampleUnsortedAndTinyMax(t *testing.T) {
	in := series(100, func(i int) int64 { return int64(99 - i) }, func(i int) float64 { return float64(i) })
	out := Downsample(map[string][]Point{"x": in}, 3)["x"] // 3 counts as 8
	if len(out) > 8 || out[0].Step != 0 || out[len(out)-1].Step != 99 {
		t.Errorf("got %v", steps(out))
	}
	if in[0].Step != 99 {
		t.Error("Downsample reordered its input")
	}
	if got := Downsample(map[string][]Point{"x": in[:5]}, 0)["x"]; len(got) != 5 || got[0].Step != 95 {
		t.Errorf("unsorted short series not sorted: %v", steps(got))
	}
}

// FuzzSearch runs arbitrary filter and order-by text through a real store: the only errors allowed are
// parse errors (*filter.Error); any SQL error would mean the parser let through something it should not.
// Run with: go test -fuzz FuzzSearch ./tracker
func FuzzSearch(f *testing.F) {
	seeds := [][2]string{
		{"params.loss = 'gram' and metrics.style_loss < 0.1 and status = 'FINISHED'", "metrics.style_loss"},
		{"tags.`provenance.git.dirty` = 'false' or (params.lr in ('0.1', '0.01') and name like 'sweep-%')", "start_time DESC"},
		{"not (metrics.x >= -1.5e3) and start_time > '2024-05-01'", "params.lr, tags.t desc"},
		{"params.x = 'a''; DROP TABLE runs; --'", "name"},
		{"params.x = 'a' OR 1=1", "id; DROP TABLE runs"},
		{"experiment ilike \"ga%\" and id != 'abc' and end_time <= 17", ""},
		{"name like '[*?]%'", "experiment ASC"},
	}
	for _, s := range seeds {
		f.Add(s[0], s[1])
	}
	s := newStore(f)
	r := startRun(f, s, "gatys", "sweep-1")
	r.LogParams(map[string]string{"loss": "gram", "lr": "0.1"})
	r.SetTag("provenance.git.dirty", "false")
	r.LogMetric("style_loss", 0, 0.05)
	r.LogMetric("x", 0, math.NaN())
	r.End(nil)
	f.Fuzz(func(t *testing.T, where, order string) {
		_, err := s.Search(where, order, 5)
		var fe *filter.Error
		if err != nil && !errors.As(err, &fe) {
			t.Fatalf("Search(%q, %q): %v", where, order, err)
		}
	})
}
