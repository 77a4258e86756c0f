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
// Reading a point out of SQLite costs ~1–2 µs, so a chart of 20 runs × 10,000 steps spent over a second
// reading rows that Downsample then dropped. HistorySampled makes the same choice as Downsample inside
// SQLite, with index seeks, and hands back only the kept rows:
//
//   - per series, one statement of a few seeks: first step, last step, and the number of points capped at
//     max+1 with the last step among them (whether the series starts with max+1 consecutive steps);
//   - per long series, one statement: the point at each grid step (one primary-key seek each), plus the
//     first and last points, the smallest and largest finite values and the first NaN/±Inf point (seeks on
//     the metrics_by_value index of schema v3). For a series logging every step the grid steps are all
//     present; for one that does not (it did not start with consecutive steps, or a grid step was
//     missing), the first point at or after each (missing) grid step is found with a second seek.
//
// The cost grows with the points returned (and the log of the series length), not with the points stored.

// sampleStatsQuery gives a series' first step, last step, and the number of points (capped at ?3) and
// the largest step among the first ?3 (MIN and MAX in separate sub-queries: SQLite answers each with one
// seek, but not the pair in one SELECT).
const sampleStatsQuery = `SELECT
	(SELECT MIN(step) FROM metrics WHERE run = ?1 AND key = ?2),
	(SELECT MAX(step) FROM metrics WHERE run = ?1 AND key = ?2),
	COUNT(*), MAX(step)
	FROM (SELECT step FROM metrics WHERE run = ?1 AND key = ?2 ORDER BY step LIMIT ?3) AS s`

// gridExactPart reads the points at the grid steps of ?3 (a JSON array) that the series has.
func gridExactPart(d *dialect) string {
	return `SELECT m.step, m.value, m.nonfinite, m.wall_ms FROM ` + d.jsonInts("?3", "g") + ` ` + d.orderedJoin() + ` metrics AS m
	ON m.run = ?1 AND m.key = ?2 AND m.step = g.value`
}

// gridSeekPart reads, for each grid step of ?3, the first point at or after it (none after the last).
func gridSeekPart(d *dialect) string {
	return `SELECT m.step, m.value, m.nonfinite, m.wall_ms FROM ` + d.jsonInts("?3", "g") + ` ` + d.orderedJoin() + ` metrics AS m
	ON m.run = ?1 AND m.key = ?2 AND m.step = (SELECT step FROM metrics WHERE run = ?1 AND key = ?2 AND step >= g.value ORDER BY step LIMIT 1)`
}

// extremesPart reads the points at steps ?4 and ?5 (the first and last), the first points holding the
// smallest and largest finite values (MIN(step) among equal values: Downsample's choice, the first
// occurrence) and the first NaN/±Inf point (stored with value NULL).
const extremesPart = `SELECT m.step, m.value, m.nonfinite, m.wall_ms FROM metrics AS m WHERE m.run = ?1 AND m.key = ?2 AND m.step IN (?4, ?5,
	(SELECT MIN(step) FROM metrics WHERE run = ?1 AND key = ?2 AND value = (SELECT MIN(value) FROM metrics WHERE run = ?1 AND key = ?2)),
	(SELECT MIN(step) FROM metrics WHERE run = ?1 AND key = ?2 AND value = (SELECT MAX(value) FROM metrics WHERE run = ?1 AND key = ?2)),
	(SELECT MIN(step) FROM metrics WHERE run = ?1 AND key = ?2 AND value IS NULL))`

// The statements for a long series (d.q.sampleExact, d.q.sampleSeek) are a grid part UNION ALL
// extremesPart; rows come in no useful order and may repeat: the caller merges them.

// wholeCheckedQuery reads every point of a series, each row carrying the number of the series' entries in
// the index metrics_by_value, counted in the same statement (same snapshot): scanCheckedPoints compares.
func wholeCheckedQuery(d *dialect) string {
	return `SELECT step, value, nonfinite, wall_ms,
	(SELECT COUNT(*) FROM metrics` + d.indexedBy("metrics_by_value") + ` WHERE run = ?1 AND key = ?2)
	FROM metrics WHERE run = ?1 AND key = ?2 ORDER BY step`
}

// HistorySampled returns the history of metric key for each run (ids or unique prefixes; the result is
// keyed by the ids as given), reduced for plotting as Downsample reduces series, but chosen in the store
// so that only the kept points are read. maxPoints <= 0 means DefaultMaxPoints; values below 8 count
// as 8. A series of at most maxPoints points is returned whole. A longer series keeps:
//
//   - at the steps of a grid shared by the long series — K = maxPoints−5 steps evenly spaced over [lo, hi],
//     the smallest first step and the largest last step of the long series:
//     g_j = lo + round(j·(hi−lo)/(K−1)), j = 0…K−1 — the first point at or after each g_j (so runs logging
//     the same steps keep the same steps);
//   - its first and last points, the first points holding its smallest and largest finite values, and its
//     first NaN/±Inf point.
//
// A NaN or ±Inf at a kept step stays (a chart draws it as a gap). Every series has at most maxPoints
// points, by increasing step. When every long series logs every step in its range and the ranges overlap,
// the grid is the one Downsample builds from the union of steps, and the result equals
// Downsample(History of each run, maxPoints); otherwise the grid is evenly spaced in steps rather than in
// the union's entries, so a run covering a small part of [lo, hi] keeps fewer grid points.
//
// A run without the metric maps to an empty slice. Points committed while the reads run may or may not be
// included. Cost: a few index seeks per series plus one or two per kept point (schema v3's
// metrics_by_value index serves the extremes), plus, for a long series, its points counted inside SQLite in
// the table and in the index (~0.15 µs a point, no row read into Go), which must agree (else ErrDamaged):
// rows dropped by a damaged page would otherwise go unnoticed. A short series is read whole and counted
// against the index in the same statement.
func (s *Store) HistorySampled(runIDs []string, key string, maxPoints int) (map[string][]Point, error) {
	limit := maxPoints
	if limit <= 0 {
		limit = DefaultMaxPoints
	}
	limit = int(math.Max(float64(limit), 8))
	type series struct {
		id          string
		rid         int64
		first, last int64
		n           int64 // points, capped at limit+1
		consecutive bool  // the first limit+1 steps are consecutive integers
		pts         []Point
	}
	all := make([]series, 0, len(runIDs))
	stmts := newStmtCache(s)
	defer stmts.close()
	var long []int
	for _, id := range runIDs {
		rid, _, err := s.resolve(id)
		if err != nil {
			return nil, err
		}
		sr := series{id: id, rid: rid}
		var first, last, prefixLast sql.NullInt64
		err = stmts.queryRow(sampleStatsQuery, rid, key, limit+1).Scan(&first, &last, &sr.n, &prefixLast)
		if err != nil {
			return nil, fmt.Errorf("reading the step range of metric %q of run %s: %w", key, id, describe(err, s.path))
		}
		sr.first, sr.last = first.Int64, last.Int64
		if sr.n > int64(limit) {
			sr.consecutive = prefixLast.Int64-sr.first == int64(limit)
			long = append(long, len(all))
		}
		all = append(all, sr)
	}
	for i := range all {
		sr := &all[i]
		if sr.n == 0 || sr.n > int64(limit) {
			continue
		}
		rows, err := stmts.query(s.db.d.q.wholeChecked, sr.rid, key)
		if err != nil {
			return nil, err
		}
		if sr.pts, err = s.scanCheckedPoints(rows, make([]Point, 0, sr.n), sr.rid, key); err != nil {
			return nil, fmt.Errorf("reading metric %q of run %s: %w", key, sr.id, err)
		}
	}
	if len(long) > 0 {
		lo, hi := all[long[0]].first, all[long[0]].last
		for _, i := range long[1:] {
			lo, hi = min(lo, all[i].first), max(hi, all[i].last)
		}
		grid := sampleGrid(lo, hi, limit-5)
		for _, i := range long {
			sr := &all[i]
			// The kept points cannot be counted against the index; the whole series is, in the table and in
			// the index, inside SQLite (~0.15 µs a point, no row reaching Go: 30 ms for 200,000 points), so
			// that rows a damaged page dropped do not silently move a grid point.
			if _, err := s.checkCounts(sr.rid, key, false); err != nil {
				return nil, fmt.Errorf("sampling metric %q of run %s: %w", key, sr.id, err)
			}
			// Grid steps at or before the first step all pick the first point and those after the last pick
			// none: only those in (first, last] are looked up; the first and last points come with the extremes.
			a := sort.Search(len(grid), func(j int) bool { return grid[j] > sr.first })
			b := sort.Search(len(grid), func(j int) bool { return grid[j] > sr.last })
			pts, err := s.sampleSeries(stmts, sr.rid, key, grid[a:b], sr.first, sr.last, sr.consecutive)
			if err != nil {
				return nil, fmt.Errorf("sampling metric %q of run %s: %w", key, sr.id, err)
			}
			sr.pts = pts
		}
	}
	out := make(map[string][]Point, len(all))
	for _, sr := range all {
		out[sr.id] = sr.pts
	}
	return out, nil
}

// sampleSeries reads the kept points of a long series: for each grid step the first point at or after it,
// and the first, last, extreme and first non-finite points; by step, without repeats. When the series is
// expected to log every step (consecutive) the grid steps are looked up exactly, and only those missing
// are then sought at or after.
func (s *Store) sampleSeries(stmts *stmtCache, rid int64, key string, grid []int64, first, last int64, consecutive bool) ([]Point, error) {
	q := s.db.d.q.sampleSeek
	if consecutive {
		q = s.db.d.q.sampleExact
	}
	rows, err := stmts.query(q, rid, key, jsonInts(grid), first, last)
	if err != nil {
		return nil, err
	}
	pts, err := s.scanPoints(rows, make([]Point, 0, len(grid)+5))
	if err != nil {
		return nil, err
	}
	sortPoints := func() {
		slices.SortFunc(pts, func(x, y Point) int { return cmp.Compare(x.Step, y.Step) })
		pts = slices.CompactFunc(pts, func(x, y Point) bool { return x.Step == y.Step })
	}
	sortPoints()
	if !consecutive {
		return pts, nil
	}
	var missing []int64
	i := 0
	for _, g := range grid { // both by step: a merge
		for i < len(pts) && pts[i].Step < g {
			i++
		}
		if i == len(pts) || pts[i].Step != g {
			missing = append(missing, g)
		}
	}
	if len(missing) == 0 {
		return pts, nil
	}
	if rows, err = stmts.query(s.db.d.q.gridSeek, rid, key, jsonInts(missing)); err != nil {
		return nil, err
	}
	if pts, err = s.scanPoints(rows, pts); err != nil {
		return nil, err
	}
	sortPoints()
	return pts, nil
}

// jsonInts writes the integers as a JSON array: one bound parameter, whatever the length, read back as rows
// by the dialect's jsonInts source.
func jsonInts(v []int64) string {
	b := make([]byte, 0, 2+8*len(v))
	b = append(b, '[')
	for i, x := range v {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendInt(b, x, 10)
	}
	return string(append(b, ']'))
}

// stmtCache prepares each statement once for the duration of one call.
type stmtCache struct {
	s     *Store
	stmts map[string]*sql.Stmt
}

func newStmtCache(s *Store) *stmtCache { return &stmtCache{s: s, stmts: map[string]*sql.Stmt{}} }

func (c *stmtCache) get(q string) (*sql.Stmt, error) {
	if st, ok := c.stmts[q]; ok {
		return st, nil
	}
	st, err := c.s.db.Prepare(q)
	if err != nil {
		return nil, describe(err, c.s.path)
	}
	c.stmts[q] = st
	return st, nil
}

func (c *stmtCache) query(q string, args ...any) (*sql.Rows, error) {
	st, err := c.get(q)
	if err != nil {
		return nil, err
	}
	rows, err := st.Query(args...)
	if err != nil {
		return nil, describe(err, c.s.path)
	}
	return rows, nil
}

// queryRow is QueryRow on the prepared statement; a failure to prepare comes back from Scan.
func (c *stmtCache) queryRow(q string, args ...any) rowScanner {
	st, err := c.get(q)
	if err != nil {
		return errRow{err}
	}
	return st.QueryRow(args...)
}

type rowScanner interface{ Scan(dest ...any) error }

type errRow struct{ err error }

func (r errRow) Scan(...any) error { return r.err }

func (c *stmtCache) close() {
	for _, st := range c.stmts {
		st.Close()
	}
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
func (s *Store) scanPoints(rows *sql.Rows, pts []Point) ([]Point, error) {
	defer rows.Close()
	for rows.Next() {
		var p Point
		var v sql.NullFloat64
		var flag int
		var wall int64
		if err := rows.Scan(&p.Step, &v, &flag, &wall); err != nil {
			return nil, s.readErr(err)
		}
		p.Value, p.Time = decodeValue(v, flag), time.UnixMilli(wall)
		pts = append(pts, p)
	}
	if err := rows.Err(); err != nil {
		return nil, s.readErr(err)
	}
	return pts, nil
}

// scanCheckedPoints reads wholeCheckedQuery's rows (a series' points and its index count), appends them to
// pts and closes rows. A count that differs from the rows read, or no rows where the index and table still
// hold points, is an ErrDamaged error.
func (s *Store) scanCheckedPoints(rows *sql.Rows, pts []Point, rid int64, key string) ([]Point, error) {
	defer rows.Close()
	n0 := len(pts)
	var want int64
	for rows.Next() {
		var p Point
		var v sql.NullFloat64
		var flag int
		var wall int64
		if err := rows.Scan(&p.Step, &v, &flag, &wall, &want); err != nil {
			return nil, s.readErr(err)
		}
		p.Value, p.Time = decodeValue(v, flag), time.UnixMilli(wall)
		pts = append(pts, p)
	}
	if err := rows.Err(); err != nil {
		return nil, s.readErr(err)
	}
	n := int64(len(pts) - n0)
	if n == 0 {
		// No row carried the index count: count both b-trees in one statement.
		if _, err := s.checkCounts(rid, key, true); err != nil {
			return nil, err
		}
		return pts, nil
	}
	if n != want {
		return nil, s.damaged("metric %q: %d points read from the metrics table but %d in its index", key, n, want)
	}
	return pts, nil
}
