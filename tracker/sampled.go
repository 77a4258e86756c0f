package tracker

import (
	"cmp"
	"database/sql"
	"fmt"
	"math"
	"slices"
	"sort"
	"strconv"
	"time"
)

// Sampled reads: the points a chart draws, read from the store without reading every point.
//
// Reading a point out of SQLite costs ~1–2 µs (one cgo call per column), so a chart of 20 runs × 10,000
// steps spent over a second reading rows that Downsample then dropped. HistorySampled makes the same
// choice as Downsample inside SQLite, with index seeks, and hands back only the kept rows:
//
//   - per series, three seeks: first step, last step, and the number of points capped at max+1;
//   - one statement per long series: for each grid step g, the first point at or after g (a primary-key
//     seek), plus the first and last points, the smallest and largest finite values and the first
//     NaN/±Inf point (seeks on the metrics_by_value index of schema v3).
//
// The cost grows with the points returned (and log of the series length), not with the points stored.

// sampleStatsQuery gives a series' first step, last step and point count capped at ?3 (MIN and MAX in
// separate sub-queries: SQLite answers each with one seek, but not the pair in one SELECT).
const sampleStatsQuery = `SELECT
	(SELECT MIN(step) FROM metrics WHERE run = ?1 AND key = ?2),
	(SELECT MAX(step) FROM metrics WHERE run = ?1 AND key = ?2),
	(SELECT COUNT(*) FROM (SELECT 1 FROM metrics WHERE run = ?1 AND key = ?2 LIMIT ?3))`

// sampleQuery reads the kept points of a long series: ?3 is a JSON array of grid steps (increasing), each
// giving the first point at or after it; ?4 and ?5 are the series' first and last steps. Rows come back
// grid rows first (by step), then the first/last/extreme/non-finite rows; the caller merges them.
// MIN(step) among equal extreme values matches Downsample's choice (the first occurrence).
const sampleQuery = `SELECT m.step, m.value, m.nonfinite, m.wall_ms FROM json_each(?3) AS g CROSS JOIN metrics AS m
	ON m.run = ?1 AND m.key = ?2 AND m.step = (SELECT step FROM metrics WHERE run = ?1 AND key = ?2 AND step >= g.value ORDER BY step LIMIT 1)
UNION ALL
SELECT m.step, m.value, m.nonfinite, m.wall_ms FROM metrics AS m WHERE m.run = ?1 AND m.key = ?2 AND m.step IN (?4, ?5,
	(SELECT MIN(step) FROM metrics WHERE run = ?1 AND key = ?2 AND value = (SELECT MIN(value) FROM metrics WHERE run = ?1 AND key = ?2)),
	(SELECT MIN(step) FROM metrics WHERE run = ?1 AND key = ?2 AND value = (SELECT MAX(value) FROM metrics WHERE run = ?1 AND key = ?2)),
	(SELECT MIN(step) FROM metrics WHERE run = ?1 AND key = ?2 AND value IS NULL))`

// wholeQuery reads every point of a series (one within max).
const wholeQuery = `SELECT step, value, nonfinite, wall_ms FROM metrics WHERE run = ?1 AND key = ?2 ORDER BY step`

// HistorySampled returns the history of metric key for each run (ids or unique prefixes; the result is
// keyed by the ids as given), reduced for plotting as Downsample reduces series, but chosen in the store
// so that only the kept points are read. maxPoints <= 0 means DefaultMaxPoints; values below 8 count
// as 8. A series of at most maxPoints points is returned whole. A longer series keeps:
//
//   - at the steps of a grid shared by the long series — K = maxPoints−5 steps evenly spaced over [lo, hi], the
//     smallest first step and the largest last step of the long series: g_j = lo + round(j·(hi−lo)/(K−1)),
//     j = 0…K−1 — the first point at or after each g_j (so runs logging the same steps keep the same steps);
//   - its first and last points, the first points holding its smallest and largest finite values, and its
//     first NaN/±Inf point.
//
// A NaN or ±Inf at a kept step stays (a chart draws it as a gap). Every series has at most maxPoints points,
// by increasing step. When every long series logs every step in its range and the ranges overlap, the
// grid is the one Downsample builds from the union of steps, and the result equals
// Downsample(History of each run, maxPoints); otherwise the grid is evenly spaced in steps rather than in the
// union's entries, so a run covering a small part of [lo, hi] keeps fewer grid points.
//
// A run without the metric maps to an empty slice. Points committed while the reads run may or may not be
// included. Cost: a few index seeks per series plus one per kept point (schema v3's metrics_by_value index
// serves the extremes).
func (s *Store) HistorySampled(runIDs []string, key string, maxPoints int) (map[string][]Point, error) {
	limit := maxPoints
	if limit <= 0 {
		limit = DefaultMaxPoints
	}
	limit = int(math.Max(float64(limit), 8))
	type series struct {
		id             string
		rid            int64
		first, last, n int64
		pts            []Point
	}
	all := make([]series, 0, len(runIDs))
	stats, err := s.db.Prepare(sampleStatsQuery)
	if err != nil {
		return nil, describe(err, s.path)
	}
	defer stats.Close()
	var long []int
	for _, id := range runIDs {
		rid, _, err := s.resolve(id)
		if err != nil {
			return nil, err
		}
		sr := series{id: id, rid: rid}
		var first, last sql.NullInt64
		if err := stats.QueryRow(rid, key, limit+1).Scan(&first, &last, &sr.n); err != nil {
			return nil, fmt.Errorf("reading the step range of metric %q of run %s: %w", key, id, describe(err, s.path))
		}
		sr.first, sr.last = first.Int64, last.Int64
		if sr.n > int64(limit) {
			long = append(long, len(all))
		}
		all = append(all, sr)
	}
	out := make(map[string][]Point, len(all))
	for i := range all {
		sr := &all[i]
		if sr.n == 0 || sr.n > int64(limit) {
			continue
		}
		rows, err := s.db.Query(wholeQuery, sr.rid, key)
		if err != nil {
			return nil, describe(err, s.path)
		}
		if sr.pts, err = scanPoints(rows, make([]Point, 0, sr.n)); err != nil {
			return nil, fmt.Errorf("reading metric %q of run %s: %w", key, sr.id, err)
		}
	}
	if len(long) > 0 {
		lo, hi := all[long[0]].first, all[long[0]].last
		for _, i := range long[1:] {
			lo, hi = min(lo, all[i].first), max(hi, all[i].last)
		}
		grid := sampleGrid(lo, hi, limit-5)
		stmt, err := s.db.Prepare(sampleQuery)
		if err != nil {
			return nil, describe(err, s.path)
		}
		defer stmt.Close()
		var js []byte
		for _, i := range long {
			sr := &all[i]
			// Grid steps at or before the first step all pick the first point and those after the last pick
			// none: send only those in (first, last]; the first and last points come with the extremes.
			a := sort.Search(len(grid), func(j int) bool { return grid[j] > sr.first })
			b := sort.Search(len(grid), func(j int) bool { return grid[j] > sr.last })
			js = append(js[:0], '[')
			for j, g := range grid[a:b] {
				if j > 0 {
					js = append(js, ',')
				}
				js = strconv.AppendInt(js, g, 10)
			}
			js = append(js, ']')
			rows, err := stmt.Query(sr.rid, key, string(js), sr.first, sr.last)
			if err != nil {
				return nil, describe(err, s.path)
			}
			pts, err := scanPoints(rows, make([]Point, 0, b-a+5))
			if err != nil {
				return nil, fmt.Errorf("sampling metric %q of run %s: %w", key, sr.id, err)
			}
			slices.SortStableFunc(pts, func(x, y Point) int { return cmp.Compare(x.Step, y.Step) })
			sr.pts = slices.CompactFunc(pts, func(x, y Point) bool { return x.Step == y.Step })
		}
	}
	for _, sr := range all {
		out[sr.id] = sr.pts
	}
	return out, nil
}

// PointCount is the number of committed points of the run's metric key (0 when it has none). It counts
// index entries inside SQLite (no row reaches Go), ~0.03 µs a point.
func (s *Store) PointCount(runID, key string) (int64, error) {
	rid, _, err := s.resolve(runID)
	if err != nil {
		return 0, err
	}
	var n int64
	if err := s.db.QueryRow(`SELECT COUNT(*) FROM metrics WHERE run = ? AND key = ?`, rid, key).Scan(&n); err != nil {
		return 0, describe(err, s.path)
	}
	return n, nil
}

// sampleGrid is the k steps lo + round(j·(hi−lo)/(k−1)), j = 0…k−1, without repeats (the formula
// Downsample applies to indices of the union of steps).
func sampleGrid(lo, hi int64, k int) []int64 {
	grid := make([]int64, 0, k)
	span := float64(hi) - float64(lo)
	for j := 0; j < k; j++ {
		g := lo + int64(math.Round(float64(j)*span/float64(k-1)))
		if len(grid) == 0 || grid[len(grid)-1] < g {
			grid = append(grid, g)
		}
	}
	return grid
}

// scanPoints appends the (step, value, nonfinite, wall_ms) rows to pts and closes rows.
func scanPoints(rows *sql.Rows, pts []Point) ([]Point, error) {
	defer rows.Close()
	for rows.Next() {
		var p Point
		var v sql.NullFloat64
		var flag int
		var wall int64
		if err := rows.Scan(&p.Step, &v, &flag, &wall); err != nil {
			return nil, err
		}
		p.Value, p.Time = decodeValue(v, flag), time.UnixMilli(wall)
		pts = append(pts, p)
	}
	return pts, rows.Err()
}
