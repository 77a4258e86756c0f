package tracker

import (
	"database/sql"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
)

// logSeries records one run logging metric key at the given steps with value f(i) for the i-th step.
func logSeries(t *testing.T, s *Store, name, key string, steps []int64, f func(i int) float64) string {
	t.Helper()
	r := startRun(t, s, "sampled", name)
	for i, st := range steps {
		if err := r.LogMetric(key, st, f(i)); err != nil {
			t.Fatal(err)
		}
	}
	if len(steps) == 0 {
		r.LogMetric("other", 0, 1)
	}
	if err := r.End(nil); err != nil {
		t.Fatal(err)
	}
	return r.ID()
}

func stepRange(from, to int64) []int64 {
	var s []int64
	for i := from; i <= to; i++ {
		s = append(s, i)
	}
	return s
}

// samePoints reports how a and b differ ("" when equal): steps, value bits (NaN included) and times.
func samePoints(a, b []Point) string {
	if len(a) != len(b) {
		return fmt.Sprintf("%d points vs %d", len(a), len(b))
	}
	for i := range a {
		if a[i].Step != b[i].Step || math.Float64bits(a[i].Value) != math.Float64bits(b[i].Value) || !a[i].Time.Equal(b[i].Time) {
			return fmt.Sprintf("point %d: %+v vs %+v", i, a[i], b[i])
		}
	}
	return ""
}

// With runs logging every step of overlapping ranges, the store's choice is Downsample's, point for point.
func TestHistorySampledMatchesDownsample(t *testing.T) {
	eachBackend(t, testHistorySampledMatchesDownsample)
}

func testHistorySampledMatchesDownsample(t *testing.T, be backend) {
	newStore := be.newStore
	s := newStore(t)
	ids := []string{
		logSeries(t, s, "spiky", "m", stepRange(0, 4999), func(i int) float64 {
			switch i {
			case 1234:
				return 1e9
			case 3000, 4000: // equal minima: the first is kept
				return -1e9
			}
			return math.Sin(float64(i) / 300)
		}),
		logSeries(t, s, "diverged", "m", stepRange(1000, 3999), func(i int) float64 {
			switch {
			case i == 1000:
				return math.Inf(1)
			case i >= 2500:
				return math.NaN()
			}
			return 1 / float64(i+1)
		}),
		logSeries(t, s, "flat", "m", stepRange(0, 5999), func(int) float64 { return 2.5 }),
		logSeries(t, s, "short", "m", stepRange(0, 49), func(i int) float64 { return float64(i) }),
		logSeries(t, s, "none", "m", nil, nil),
	}
	ids[1] = ids[1][:8] // a unique prefix: the result is keyed by the id as given
	hist := map[string][]Point{}
	for _, id := range ids {
		h, err := s.History(id, "m")
		if err != nil {
			t.Fatal(err)
		}
		hist[id] = h
	}
	for _, max := range []int{0, 3, 100, 997, 4000, 10000} {
		want := Downsample(hist, max)
		got, err := s.HistorySampled(ids, "m", max)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(ids) {
			t.Errorf("max %d: %d series for %d runs", max, len(got), len(ids))
		}
		for _, id := range ids {
			if d := samePoints(got[id], want[id]); d != "" {
				t.Errorf("max %d, run %s: HistorySampled differs from Downsample(History): %s", max, id, d)
			}
		}
	}
	// The diverged run's NaN steps stay NaN at the sampled steps (a visible gap), not dropped.
	got, _ := s.HistorySampled(ids, "m", 200)
	nan := 0
	for _, p := range got[ids[1]] {
		if math.IsNaN(p.Value) {
			nan++
		}
	}
	if spacing := 5999.0 / 194; float64(nan) < 500/spacing-1 {
		t.Errorf("diverged run keeps %d NaN points over its 500 NaN steps (grid spacing %.0f), want a gap of ~%.0f", nan, spacing, 500/spacing)
	}
}

// referenceSample is HistorySampled's documented choice computed in Go from full histories.
func referenceSample(hist map[string][]Point, max int) map[string][]Point {
	out := map[string][]Point{}
	var lo, hi int64
	found := false
	for id, h := range hist {
		out[id] = h
		if len(h) > max {
			if !found || h[0].Step < lo {
				lo = h[0].Step
			}
			if !found || h[len(h)-1].Step > hi {
				hi = h[len(h)-1].Step
			}
			found = true
		}
	}
	grid := sampleGrid(lo, hi, max-5)
	for id, h := range hist {
		if len(h) <= max {
			continue
		}
		keep := map[int]bool{0: true, len(h) - 1: true}
		for _, g := range grid {
			if i := sort.Search(len(h), func(i int) bool { return h[i].Step >= g }); i < len(h) {
				keep[i] = true
			}
		}
		lo, hi, bad := -1, -1, -1
		for i, p := range h {
			switch {
			case math.IsNaN(p.Value) || math.IsInf(p.Value, 0):
				if bad < 0 {
					bad = i
				}
			default:
				if lo < 0 || p.Value < h[lo].Value {
					lo = i
				}
				if hi < 0 || p.Value > h[hi].Value {
					hi = i
				}
			}
		}
		for _, i := range []int{lo, hi, bad} {
			if i >= 0 {
				keep[i] = true
			}
		}
		var idx []int
		for i := range keep {
			idx = append(idx, i)
		}
		slices.Sort(idx)
		var pts []Point
		for _, i := range idx {
			pts = append(pts, h[i])
		}
		out[id] = pts
	}
	return out
}

// With steps logged at a stride, at random gaps and over different ranges, the result is the documented
// grid choice (checked against a Go reference on the full histories), shared by runs logging the same steps.
func TestHistorySampledIrregularSteps(t *testing.T) { eachBackend(t, testHistorySampledIrregularSteps) }

func testHistorySampledIrregularSteps(t *testing.T, be backend) {
	newStore := be.newStore
	s := newStore(t)
	strided := make([]int64, 3000)
	for i := range strided {
		strided[i] = 3 + 7*int64(i)
	}
	rng := rand.New(rand.NewPCG(7, 11))
	var random []int64
	for st := int64(-500); len(random) < 2500; st += 1 + rng.Int64N(30) {
		random = append(random, st)
	}
	late := stepRange(15000, 16999)
	gappy := stepRange(-500, 999) // consecutive first (exact look-ups), then every 5th step (sought)
	for st := int64(1000); st < 20000; st += 5 {
		gappy = append(gappy, st)
	}
	ids := []string{
		logSeries(t, s, "strided-a", "loss", strided, func(i int) float64 { return 100 / float64(i+1) }),
		logSeries(t, s, "strided-b", "loss", strided, func(i int) float64 { return 50 / float64(i+1) }),
		logSeries(t, s, "random", "loss", random, func(i int) float64 {
			switch i {
			case 777:
				return math.NaN()
			case 1500:
				return math.Inf(-1)
			case 2000:
				return -3e5
			}
			return rng.NormFloat64()
		}),
		logSeries(t, s, "late", "loss", late, func(i int) float64 { return float64(i % 13) }),
		logSeries(t, s, "gappy", "loss", gappy, func(i int) float64 { return math.Cos(float64(i) / 50) }),
	}
	hist := map[string][]Point{}
	for _, id := range ids {
		hist[id], _ = s.History(id, "loss")
	}
	const max = 300
	got, err := s.HistorySampled(ids, "loss", max)
	if err != nil {
		t.Fatal(err)
	}
	want := referenceSample(hist, max)
	for _, id := range ids {
		if d := samePoints(got[id], want[id]); d != "" {
			t.Errorf("run %s: %s", id, d)
		}
		pts := got[id]
		if len(pts) > max || len(pts) < 8 {
			t.Errorf("run %s: %d points, want 8..%d", id, len(pts), max)
		}
		for i := 1; i < len(pts); i++ {
			if pts[i].Step <= pts[i-1].Step {
				t.Fatalf("run %s: steps not increasing at %d", id, i)
			}
		}
		h := hist[id]
		if pts[0].Step != h[0].Step || pts[len(pts)-1].Step != h[len(h)-1].Step {
			t.Errorf("run %s lost its first or last point", id)
		}
	}
	if !slices.Equal(steps(got[ids[0]]), steps(got[ids[1]])) {
		t.Error("two runs logging the same steps kept different steps")
	}
	kept := map[int64]bool{}
	for _, p := range got[ids[2]] {
		kept[p.Step] = true
	}
	for _, i := range []int{777, 2000} {
		if !kept[random[i]] {
			t.Errorf("random run dropped step %d (first non-finite, minimum)", random[i])
		}
	}
	// The late run covers 1999 steps of the grid's span: it keeps the grid points there (and its ends and
	// extremes), not max points.
	lo, hi := random[0], random[len(random)-1]
	share := 1999 / (float64(hi-lo) / (max - 6))
	if n := float64(len(got[ids[3]])); n < share || n > share+5 {
		t.Errorf("late run kept %v points, want %.0f grid points plus its ends and extremes", n, share)
	}
}

func TestHistorySampledErrorsAndCounts(t *testing.T) {
	eachBackend(t, testHistorySampledErrorsAndCounts)
}

func testHistorySampledErrorsAndCounts(t *testing.T, be backend) {
	newStore := be.newStore
	s := newStore(t)
	id := logSeries(t, s, "x", "m", stepRange(0, 99), func(i int) float64 { return float64(i) })
	if _, err := s.HistorySampled([]string{id, "ffffffff"}, "m", 10); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown run: %v, want ErrNotFound", err)
	}
	got, err := s.HistorySampled([]string{id}, "nope", 10)
	if err != nil || len(got[id]) != 0 {
		t.Errorf("missing metric: %v %v", got, err)
	}
	if got, _ := s.HistorySampled(nil, "m", 10); len(got) != 0 {
		t.Errorf("no runs: %v", got)
	}
	for key, want := range map[string]int64{"m": 100, "nope": 0} {
		if n, err := s.PointCount(id, key); err != nil || n != want {
			t.Errorf("PointCount(%s) = %d, %v; want %d", key, n, err, want)
		}
	}
	if _, err := s.PointCount("ffffffff", "m"); !errors.Is(err, ErrNotFound) {
		t.Errorf("PointCount of an unknown run: %v", err)
	}
}

// The sampled statements only seek: no full scan of a series (the point of reading samples), and the
// extremes come from the metrics_by_value index.
func TestHistorySampledQueryPlans(t *testing.T) {
	s := newStore(t)
	logSeries(t, s, "x", "m", stepRange(0, 99), func(i int) float64 { return float64(i) })
	plan := func(q string, args ...any) string {
		rows, err := s.DB().Query("EXPLAIN QUERY PLAN "+q, args...)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var b strings.Builder
		for rows.Next() {
			var id, parent, unused int
			var detail string
			if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
				t.Fatal(err)
			}
			b.WriteString(detail + "\n")
		}
		return b.String()
	}
	stats := plan(sampleStatsQuery, 1, "m", 11)
	sample := plan(sqliteDialect.q.sampleSeek, 1, "m", "[1,2,3]", 0, 99)
	exact := plan(sqliteDialect.q.sampleExact, 1, "m", "[1,2,3]", 0, 99)
	seek := plan(sqliteDialect.q.gridSeek, 1, "m", "[1,2,3]")
	for name, p := range map[string]string{"stats": stats, "sample": sample, "exact": exact, "seek": seek} {
		for _, line := range strings.Split(strings.TrimSpace(p), "\n") {
			if strings.HasPrefix(line, "SCAN metrics") || strings.HasPrefix(line, "SCAN m ") || line == "SCAN m" {
				t.Errorf("%s query scans: %q\n%s", name, line, p)
			}
		}
	}
	for _, p := range []string{sample, exact} {
		if strings.Count(p, "metrics_by_value") < 4 {
			t.Errorf("extremes are not read through metrics_by_value:\n%s", p)
		}
	}
}

// A v2 database (as shipped) migrates to v3: the value index is created over the existing points and the
// sampled reads work on them; a read-only open asks for the migration first.
func TestMigrationFromV2(t *testing.T) {
	path := filepath.Join(t.TempDir(), "v2.db")
	v1Fixture(t, path)
	db, err := sql.Open("sqlite3", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	b.WriteString(`INSERT INTO metrics (run, key, step, value, nonfinite, wall_ms) VALUES `)
	for i := 0; i < 50; i++ {
		if i > 0 {
			b.WriteString(", ")
		}
		v := fmt.Sprint(100 - i)
		if i == 20 {
			v = "-7"
		}
		fmt.Fprintf(&b, "(1, 'long', %d, %s, 0, %d)", 10*i, v, 2000+i)
	}
	for _, q := range []string{migrations[1], `PRAGMA user_version = 2`, b.String()} {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%.60s: %v", q, err)
		}
	}
	db.Close()
	if _, err := OpenReadOnly(path); err == nil || !strings.Contains(err.Error(), "needs migrating") {
		t.Errorf("OpenReadOnly of a v2 database: %v", err)
	}
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var v, idx int
	s.DB().QueryRow("PRAGMA user_version").Scan(&v)
	s.DB().QueryRow(`SELECT COUNT(*) FROM sqlite_master WHERE type = 'index' AND name = 'metrics_by_value'`).Scan(&idx)
	if v != 3 || SchemaVersion != 3 || idx != 1 {
		t.Fatalf("after migration: user_version %d, index present %d", v, idx)
	}
	var check string
	s.DB().QueryRow(`PRAGMA integrity_check`).Scan(&check)
	if check != "ok" {
		t.Errorf("integrity_check after migration: %s", check)
	}
	const id = "11111111-1111-4111-8111-111111111111"
	got, err := s.HistorySampled([]string{id}, "long", 10)
	if err != nil {
		t.Fatal(err)
	}
	full, _ := s.History(id, "long")
	if d := samePoints(got[id], referenceSample(map[string][]Point{id: full}, 10)[id]); d != "" || len(full) != 50 {
		t.Errorf("sampled migrated history differs from the reference choice: %s", d)
	}
	kept := map[int64]float64{}
	for _, p := range got[id] {
		kept[p.Step] = p.Value
	}
	if kept[200] != -7 || kept[0] != 100 || kept[490] != 51 {
		t.Errorf("minimum, first or last lost: %v", kept)
	}
	if h, _ := s.HistorySampled([]string{id}, "style_loss", 10); len(h[id]) != 3 || !math.IsNaN(h[id][2].Value) {
		t.Errorf("short v1 history with a NaN: %v", h[id])
	}
}
