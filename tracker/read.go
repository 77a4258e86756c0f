package tracker

import (
	"database/sql"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/stylelab/stylelab/tracker/filter"
)

// RunInfo is what the store knows about a run.
type RunInfo struct {
	ID, Experiment, Name, Status string // Status: RUNNING FINISHED FAILED KILLED
	Start, End, Heartbeat        time.Time
	Params, Tags                 map[string]string
	Latest                       map[string]float64 // latest value (at the highest step) of each metric
	Error                        string             // why a FAILED or KILLED run stopped
	Deleted                      bool
}

// Duration is End − Start for an ended run, and the time since Start for a RUNNING one.
func (ri *RunInfo) Duration() time.Duration {
	if ri.End.IsZero() {
		return time.Since(ri.Start)
	}
	return ri.End.Sub(ri.Start)
}

// Point is one logged metric value; NaN and ±Inf are kept as such.
type Point struct {
	Step  int64
	Value float64
	Time  time.Time // wall time when it was logged (millisecond precision)
}

// runsFrom is the FROM clause every run query uses. It reports a RUNNING run whose heartbeat is stale as
// KILLED (end = last heartbeat) even before ReapStale has rewritten it, so that read-only readers show
// dead runs as dead. Its three placeholders all take the current time in ms. Aliases r and e are what
// package filter's SQL refers to.
const runsFrom = ` FROM (SELECT rid, id, experiment_id, name,
	CASE WHEN status = 'RUNNING' AND heartbeat_ms + stale_after_ms < ? THEN 'KILLED' ELSE status END AS status,
	start_ms,
	CASE WHEN status = 'RUNNING' AND heartbeat_ms + stale_after_ms < ? THEN heartbeat_ms ELSE end_ms END AS end_ms,
	heartbeat_ms,
	CASE WHEN status = 'RUNNING' AND heartbeat_ms + stale_after_ms < ? THEN '` + killedReason + `' ELSE error END AS error,
	deleted_ms
	FROM runs) AS r JOIN experiments AS e ON e.id = r.experiment_id`

const runColumns = `SELECT r.rid, r.id, e.name, r.name, r.status, r.start_ms, r.end_ms, r.heartbeat_ms, r.error, r.deleted_ms`

// DeletedMode selects soft-deleted runs in a Query.
type DeletedMode int

const (
	ExcludeDeleted DeletedMode = iota // the default: live runs only
	IncludeDeleted                    // live and deleted runs
	OnlyDeleted                       // deleted runs only
)

// Query is a full run search.
type Query struct {
	Filter  string // package filter syntax, e.g. "params.loss = 'gram' and metrics.style_loss < 0.1"
	OrderBy string // e.g. "metrics.style_loss ASC, start_time DESC"; ties and the default: newest first
	Limit   int    // at most this many runs; 0 = all
	Deleted DeletedMode
}

// Search lists live runs matching filter, ordered by orderBy (newest first by default), at most limit
// (0 = all). Errors in filter or orderBy are *filter.Error. See SearchRuns.
func (s *Store) Search(filterExpr, orderBy string, limit int) ([]RunInfo, error) {
	return s.SearchRuns(Query{Filter: filterExpr, OrderBy: orderBy, Limit: limit})
}

// SearchRuns lists runs with their params, tags and latest metric values. It first marks runs with a
// stale heartbeat KILLED (on a writable store).
func (s *Store) SearchRuns(q Query) ([]RunInfo, error) {
	where, err := filter.Where(s.db.d.filter, q.Filter)
	if err != nil {
		return nil, err
	}
	order, err := filter.OrderBy(s.db.d.filter, q.OrderBy)
	if err != nil {
		return nil, err
	}
	_, _ = s.ReapStale() // best effort: runsFrom reports stale runs as KILLED regardless
	now := nowMs()
	var b strings.Builder
	args := []any{now, now, now}
	b.WriteString(runColumns + runsFrom)
	switch q.Deleted {
	case ExcludeDeleted:
		b.WriteString(" WHERE r.deleted_ms IS NULL")
	case OnlyDeleted:
		b.WriteString(" WHERE r.deleted_ms IS NOT NULL")
	default:
		b.WriteString(" WHERE 1 = 1")
	}
	if where.Text != "" {
		b.WriteString(" AND (" + where.Text + ")")
		args = append(args, where.Args...)
	}
	b.WriteString(" ORDER BY ")
	if order.Text != "" {
		b.WriteString(order.Text + ", ")
		args = append(args, order.Args...)
	}
	b.WriteString("r.start_ms DESC, r.id LIMIT ?")
	var limit any = q.Limit
	if q.Limit <= 0 {
		limit = s.db.d.noLimit()
	}
	args = append(args, limit)
	return s.queryRuns(b.String(), args)
}

func msTime(ms sql.NullInt64) time.Time {
	if !ms.Valid {
		return time.Time{}
	}
	return time.UnixMilli(ms.Int64)
}

// queryRuns runs a runColumns query and attaches params, tags and latest metrics.
func (s *Store) queryRuns(query string, args []any) ([]RunInfo, error) {
	rows, err := s.db.Query(query, args...)
	if err != nil {
		return nil, fmt.Errorf("listing runs: %w", describe(err, s.path))
	}
	var out []RunInfo
	var rids []int64
	for rows.Next() {
		var ri RunInfo
		var rid, start int64
		var end, hb, deleted sql.NullInt64
		if err := rows.Scan(&rid, &ri.ID, &ri.Experiment, &ri.Name, &ri.Status, &start, &end, &hb, &ri.Error, &deleted); err != nil {
			rows.Close()
			return nil, s.readErr(err)
		}
		ri.Start, ri.End, ri.Heartbeat = time.UnixMilli(start), msTime(end), msTime(hb)
		ri.Deleted = deleted.Valid
		ri.Params, ri.Tags, ri.Latest = map[string]string{}, map[string]string{}, map[string]float64{}
		out = append(out, ri)
		rids = append(rids, rid)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("listing runs: %w", s.readErr(err))
	}
	index := make(map[int64]int, len(rids))
	for i, rid := range rids {
		index[rid] = i
	}
	// Attach the children in chunks of run keys (the IN list is built from placeholders only).
	const chunk = 500
	for lo := 0; lo < len(rids); lo += chunk {
		part := rids[lo:min(lo+chunk, len(rids))]
		in := strings.TrimSuffix(strings.Repeat("?, ", len(part)), ", ")
		pargs := make([]any, len(part))
		for i, rid := range part {
			pargs[i] = rid
		}
		err := s.eachRow(`SELECT run, key, value FROM params WHERE run IN (`+in+`)`, pargs, func(rows *sql.Rows) error {
			var run int64
			var k, v string
			err := rows.Scan(&run, &k, &v)
			out[index[run]].Params[k] = v
			return err
		})
		if err == nil {
			err = s.eachRow(`SELECT run, key, value FROM tags WHERE run IN (`+in+`)`, pargs, func(rows *sql.Rows) error {
				var run int64
				var k, v string
				err := rows.Scan(&run, &k, &v)
				out[index[run]].Tags[k] = v
				return err
			})
		}
		if err == nil {
			err = s.eachRow(`SELECT run, key, value, nonfinite FROM latest_metrics WHERE run IN (`+in+`)`, pargs, func(rows *sql.Rows) error {
				var run int64
				var k string
				var v sql.NullFloat64
				var flag int
				err := rows.Scan(&run, &k, &v, &flag)
				out[index[run]].Latest[k] = decodeValue(v, flag)
				return err
			})
		}
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// eachRow runs a query and calls fn, which scans, on each row; errors are reported as readErr does.
func (s *Store) eachRow(query string, args []any, fn func(*sql.Rows) error) error {
	rows, err := s.db.Query(query, args...)
	if err != nil {
		return describe(err, s.path)
	}
	defer rows.Close()
	for rows.Next() {
		if err := fn(rows); err != nil {
			return s.readErr(err)
		}
	}
	return s.readErr(rows.Err())
}

// normalizeID writes a run id or prefix in the store's form: lower case, with the UUID's dashes. It accepts
// MLflow's form too: hex digits without dashes, in any case, up to the 32 of a whole id ("0F1E2D3C4B5A…"),
// which get the dashes of the 8-4-4-4-12 layout; a prefix that has a dash is taken as written.
func normalizeID(idOrPrefix string) (string, error) {
	id := strings.ToLower(strings.TrimSpace(idOrPrefix))
	if id == "" {
		return "", fmt.Errorf("empty run id: pass a run id or a prefix of one (see 'stylelab runs ls')")
	}
	dashless := !strings.Contains(id, "-")
	if len(id) > 36 || (dashless && len(id) > 32) || strings.IndexFunc(id, func(r rune) bool {
		return !(r == '-' || ('0' <= r && r <= '9') || ('a' <= r && r <= 'f'))
	}) >= 0 {
		return "", fmt.Errorf("%q is not a run id (32 hex digits, with or without the dashes of a UUID): see 'stylelab runs ls' (%w)", idOrPrefix, ErrNotFound)
	}
	if dashless {
		var b strings.Builder
		for i := 0; i < len(id); i++ {
			if i == 8 || i == 12 || i == 16 || i == 20 {
				b.WriteByte('-')
			}
			b.WriteByte(id[i])
		}
		id = b.String()
	}
	return id, nil
}

// GetRun returns one run, live or deleted, by full id or by a prefix matching exactly one run
// (ErrNotFound, ErrAmbiguous otherwise).
func (s *Store) GetRun(idOrPrefix string) (*RunInfo, error) {
	id, err := normalizeID(idOrPrefix)
	if err != nil {
		return nil, err
	}
	now := nowMs()
	// The prefix holds only [0-9a-f-], so it has no LIKE wildcard in it.
	runs, err := s.queryRuns(runColumns+runsFrom+` WHERE r.id LIKE ? ORDER BY r.id LIMIT 6`, []any{now, now, now, id + "%"})
	if err != nil {
		return nil, err
	}
	switch {
	case len(runs) == 0:
		return nil, fmt.Errorf("no run %q in %s (%w): list runs with 'stylelab runs ls'", idOrPrefix, s.path, ErrNotFound)
	case len(runs) > 1 && runs[0].ID != id:
		ids := make([]string, len(runs))
		for i, r := range runs {
			ids[i] = r.ID
		}
		more := ""
		if len(runs) == 6 {
			more = ", ..."
		}
		return nil, fmt.Errorf("run id prefix %q matches several runs (%s%s) (%w): give more characters", idOrPrefix, strings.Join(ids, ", "), more, ErrAmbiguous)
	}
	return &runs[0], nil
}

// resolve maps a run id or unique prefix to the run's internal key and full id.
func (s *Store) resolve(idOrPrefix string) (int64, string, error) {
	id, err := normalizeID(idOrPrefix)
	if err != nil {
		return 0, "", err
	}
	var rid int64
	if len(id) == 36 {
		err := s.db.QueryRow(`SELECT rid FROM runs WHERE id = ?`, id).Scan(&rid)
		if err == nil {
			return rid, id, nil
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return 0, "", describe(err, s.path)
		}
	}
	ri, err := s.GetRun(id)
	if err != nil {
		return 0, "", err
	}
	err = s.db.QueryRow(`SELECT rid FROM runs WHERE id = ?`, ri.ID).Scan(&rid)
	if err != nil {
		return 0, "", describe(err, s.path)
	}
	return rid, ri.ID, nil
}

// MetricKeys lists the names of the run's metrics, sorted.
func (s *Store) MetricKeys(runID string) ([]string, error) {
	rid, _, err := s.resolve(runID)
	if err != nil {
		return nil, err
	}
	rows, err := s.db.Query(`SELECT key FROM latest_metrics WHERE run = ? ORDER BY key`, rid)
	if err != nil {
		return nil, describe(err, s.path)
	}
	defer rows.Close()
	var keys []string
	for rows.Next() {
		var k string
		if err := rows.Scan(&k); err != nil {
			return nil, s.readErr(err)
		}
		keys = append(keys, k)
	}
	if err := rows.Err(); err != nil {
		return nil, s.readErr(err)
	}
	return keys, nil
}

// History returns every committed point of the run's metric key, by increasing step (empty when the run
// has no such metric). Points still buffered in a writer are not visible. To plot a long history, read
// only the points drawn with HistorySampled.
//
// The points are read from the metrics table and counted, in the same statement, in its index
// metrics_by_value; when the two disagree (a damaged page SQLite cannot detect dropped rows from one of
// them) the result is an ErrDamaged error and no points.
func (s *Store) History(runID, key string) ([]Point, error) {
	rid, id, err := s.resolve(runID)
	if err != nil {
		return nil, err
	}
	rows, err := s.db.Query(s.db.d.q.wholeChecked, rid, key)
	if err != nil {
		return nil, describe(err, s.path)
	}
	pts, err := s.scanCheckedPoints(rows, nil, rid, key)
	if err != nil {
		return nil, fmt.Errorf("reading metric %q of run %s: %w", key, id, err)
	}
	return pts, nil
}

// countsQuery counts a series' points in the metrics table (decoding every column, so that a damaged cell
// shows) and in its index, in one statement (one snapshot).
func countsQuery(d *dialect) string {
	return `SELECT t.n, t.x, (SELECT COUNT(*) FROM metrics` + d.indexedBy("metrics_by_value") + ` WHERE run = ?1 AND key = ?2)
	FROM (SELECT COUNT(*) AS n, ` + d.total("step") + ` + ` + d.total("value") + ` + ` + d.total("nonfinite") + ` + ` + d.total("wall_ms") + ` AS x
		FROM metrics WHERE run = ?1 AND key = ?2) AS t`
}

// quickCountsQuery counts a series' points in the metrics table (COUNT(wall_ms): wall_ms is only in the
// table, so SQLite walks the primary key) and in its index, in one statement: ~0.1 µs a point, no row in Go.
func quickCountsQuery(d *dialect) string {
	return `SELECT (SELECT COUNT(wall_ms) FROM metrics WHERE run = ?1 AND key = ?2), 0,
	(SELECT COUNT(*) FROM metrics` + d.indexedBy("metrics_by_value") + ` WHERE run = ?1 AND key = ?2)`
}

// runCountsQuery is countsQuery over every series of a run (EachPoint).
func runCountsQuery(d *dialect) string {
	return `SELECT t.n, t.x, (SELECT COUNT(*) FROM metrics` + d.indexedBy("metrics_by_value") + ` WHERE run = ?1)
		FROM (SELECT COUNT(*) AS n, ` + d.total("LENGTH(key)") + ` + ` + d.total("step") + ` + ` + d.total("value") + ` + ` +
		d.total("nonfinite") + ` + ` + d.total("wall_ms") + ` AS x
			FROM metrics WHERE run = ?1) AS t`
}

// runPointsQuery reads every point of a run by key then step, each row carrying the index's count of them.
func runPointsQuery(d *dialect) string {
	return `SELECT key, step, value, nonfinite, wall_ms,
		(SELECT COUNT(*) FROM metrics` + d.indexedBy("metrics_by_value") + ` WHERE run = ?1)
		FROM metrics WHERE run = ?1 ORDER BY key, step`
}

// summariesQuery summarises each metric of a run, with the index's count of each series and the number of
// the run's latest_metrics rows (MetricSummaries).
func summariesQuery(d *dialect) string {
	return `SELECT m.key, COUNT(*), SUM(CASE WHEN m.nonfinite != 0 THEN 1 ELSE 0 END), MIN(m.step), MAX(m.step), MIN(m.value), MAX(m.value),
			l.value, l.nonfinite, l.step IS NOT NULL,
			(SELECT COUNT(*) FROM metrics` + d.indexedBy("metrics_by_value") + ` WHERE run = ?1 AND key = m.key),
			(SELECT COUNT(*) FROM latest_metrics WHERE run = ?1)
		FROM metrics m LEFT JOIN latest_metrics l ON l.run = m.run AND l.key = m.key
		WHERE m.run = ?1 GROUP BY m.key, l.value, l.nonfinite, l.step ORDER BY m.key`
}

// checkCounts verifies that the metrics table and its index hold the same number of points of a series
// (decoding every stored column of the table's rows when full is set), and returns that number.
func (s *Store) checkCounts(rid int64, key string, full bool) (int64, error) {
	q := s.db.d.q.quickCounts
	if full {
		q = s.db.d.q.counts
	}
	var table, index int64
	var sum sql.NullFloat64
	if err := s.db.QueryRow(q, rid, key).Scan(&table, &sum, &index); err != nil {
		return 0, s.readErr(err)
	}
	if table != index {
		return 0, s.damaged("metric %q has %d points in the metrics table but %d in its index", key, table, index)
	}
	return table, nil
}

// EachPoint calls fn for every committed metric point of the run, ordered by key then step, without
// loading them all (export). An error from fn stops the walk and is returned.
//
// Before fn sees any point, the run's points are counted in the metrics table (every column decoded) and in
// its index; if they disagree, or SQLite finds a damaged page, EachPoint returns an ErrDamaged error
// without calling fn. The walk itself counts the points again against the index (same statement).
func (s *Store) EachPoint(runID string, fn func(key string, p Point) error) error {
	rid, id, err := s.resolve(runID)
	if err != nil {
		return err
	}
	var table, index int64
	var sum sql.NullFloat64
	err = s.db.QueryRow(s.db.d.q.runCounts, rid).Scan(&table, &sum, &index)
	if err != nil {
		return fmt.Errorf("reading the metrics of run %s: %w", id, s.readErr(err))
	}
	if table != index {
		return s.damaged("run %s has %d metric points in the metrics table but %d in its index", id, table, index)
	}
	rows, err := s.db.Query(s.db.d.q.runPoints, rid)
	if err != nil {
		return describe(err, s.path)
	}
	defer rows.Close()
	var n, want int64
	for rows.Next() {
		var key string
		var p Point
		var v sql.NullFloat64
		var flag int
		var wall int64
		if err := rows.Scan(&key, &p.Step, &v, &flag, &wall, &want); err != nil {
			return s.readErr(err)
		}
		n++
		p.Value, p.Time = decodeValue(v, flag), time.UnixMilli(wall)
		if err := fn(key, p); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("reading the metrics of run %s: %w", id, s.readErr(err))
	}
	if n > 0 && n != want {
		return s.damaged("run %s: %d metric points read from the metrics table but %d in its index", id, n, want)
	}
	if n == 0 && table > 0 {
		return s.damaged("run %s: its %d metric points could not be read again", id, table)
	}
	return nil
}

// MetricSummary describes one metric of a run.
type MetricSummary struct {
	Key                 string
	Count               int64   // points
	NonFinite           int64   // of which NaN or ±Inf
	FirstStep, LastStep int64   //
	Min, Max            float64 // over the finite values; NaN when there are none
	Last                float64 // value at LastStep
}

// MetricSummaries summarises every metric of the run, by key. Each key's point count is checked against
// its index and the set of keys against latest_metrics, in the same statement; a disagreement is an
// ErrDamaged error.
func (s *Store) MetricSummaries(runID string) ([]MetricSummary, error) {
	rid, id, err := s.resolve(runID)
	if err != nil {
		return nil, err
	}
	rows, err := s.db.Query(s.db.d.q.summaries, rid)
	if err != nil {
		return nil, describe(err, s.path)
	}
	defer rows.Close()
	var out []MetricSummary
	latestKeys := int64(-1)
	for rows.Next() {
		var ms MetricSummary
		var lo, hi, last sql.NullFloat64
		var flag sql.NullInt64
		var hasLatest bool
		var indexed int64
		if err := rows.Scan(&ms.Key, &ms.Count, &ms.NonFinite, &ms.FirstStep, &ms.LastStep, &lo, &hi, &last, &flag,
			&hasLatest, &indexed, &latestKeys); err != nil {
			return nil, s.readErr(err)
		}
		if !hasLatest || indexed != ms.Count {
			return nil, s.damaged("metric %q of run %s has %d points in the metrics table, %d in its index, latest value recorded: %v",
				ms.Key, id, ms.Count, indexed, hasLatest)
		}
		ms.Min, ms.Max, ms.Last = math.NaN(), math.NaN(), decodeValue(last, int(flag.Int64))
		if lo.Valid {
			ms.Min, ms.Max = lo.Float64, hi.Float64
		}
		out = append(out, ms)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("summarising the metrics of run %s: %w", id, s.readErr(err))
	}
	if latestKeys >= 0 && latestKeys != int64(len(out)) {
		return nil, s.damaged("run %s has %d metrics in latest_metrics but %d in the metrics table", id, latestKeys, len(out))
	}
	if len(out) == 0 {
		// No metric rows: latest_metrics must agree that there are none.
		var n int64
		if err := s.db.QueryRow(`SELECT COUNT(*) FROM latest_metrics WHERE run = ?`, rid).Scan(&n); err != nil {
			return nil, s.readErr(err)
		}
		if n > 0 {
			return nil, s.damaged("run %s has %d metrics in latest_metrics but no points in the metrics table", id, n)
		}
	}
	return out, nil
}

// ExperimentInfo describes an experiment.
type ExperimentInfo struct {
	Name    string    `json:"name"`
	Created time.Time `json:"created"`
	Runs    int       `json:"runs"` // live (not deleted) runs
}

// Experiments lists the experiments by name.
func (s *Store) Experiments() ([]ExperimentInfo, error) {
	rows, err := s.db.Query(`SELECT e.name, e.created_ms, COUNT(r.rid) FROM experiments e
		LEFT JOIN runs r ON r.experiment_id = e.id AND r.deleted_ms IS NULL GROUP BY e.id ORDER BY e.name`)
	if err != nil {
		return nil, describe(err, s.path)
	}
	defer rows.Close()
	var out []ExperimentInfo
	for rows.Next() {
		var e ExperimentInfo
		var ms int64
		if err := rows.Scan(&e.Name, &ms, &e.Runs); err != nil {
			return nil, s.readErr(err)
		}
		e.Created = time.UnixMilli(ms)
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, s.readErr(err)
	}
	return out, nil
}
