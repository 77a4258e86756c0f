package tracker

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/stylelab/stylelab/tracker/provenance"
)

// Run statuses.
const (
	StatusRunning  = "RUNNING"
	StatusFinished = "FINISHED"
	StatusFailed   = "FAILED"
	StatusKilled   = "KILLED"
)

// Defaults of the run options.
const (
	DefaultHeartbeat   = 10 * time.Second
	DefaultMissedBeats = 3
	DefaultFlushPoints = 1000
	DefaultFlushEvery  = 500 * time.Millisecond
	DefaultExperiment  = "Default"
)

type runConfig struct {
	id         string
	heartbeat  time.Duration
	missed     int
	flushN     int
	flushEvery time.Duration
	retryFor   time.Duration
	prov       *provenance.Record
	noProv     bool
	provOpts   provenance.Options
}

// RunOption configures StartRun.
type RunOption func(*runConfig)

// WithID gives the run this UUID instead of a random one (tests, resuming a known id).
func WithID(id string) RunOption { return func(c *runConfig) { c.id = id } }

// WithHeartbeat sets how often the run beats (default 10 s) and after how many missed beats (default 3)
// readers consider its process dead and mark it KILLED.
func WithHeartbeat(every time.Duration, missed int) RunOption {
	return func(c *runConfig) { c.heartbeat, c.missed = every, missed }
}

// WithFlush sets when buffered metric points are written: once points are pending (default 1000), and
// every interval (default 500 ms) while any are pending. End always writes what is left.
func WithFlush(points int, every time.Duration) RunOption {
	return func(c *runConfig) { c.flushN, c.flushEvery = points, every }
}

// WithProvenance records rec instead of collecting provenance automatically.
func WithProvenance(rec provenance.Record) RunOption {
	return func(c *runConfig) { c.prov = &rec }
}

// WithProvenanceOptions sets the options of the automatic provenance.Collect (e.g. the git folder).
func WithProvenanceOptions(o provenance.Options) RunOption {
	return func(c *runConfig) { c.provOpts = o }
}

// WithRetry sets how long a metric write keeps retrying while the database server is unreachable
// (ErrUnavailable: PostgreSQL down or the network lost) before it reports the error; the points stay
// buffered either way. Default DefaultRetry; 0 disables retrying.
func WithRetry(d time.Duration) RunOption { return func(c *runConfig) { c.retryFor = d } }

// DefaultRetry is how long a metric write retries an unreachable server by default.
const DefaultRetry = 30 * time.Second

// WithoutProvenance skips the automatic provenance record (benchmarks, tests).
func WithoutProvenance() RunOption { return func(c *runConfig) { c.noProv = true } }

// point is one buffered metric value.
type point struct {
	key   string
	step  int64
	value float64
	wall  int64 // ms
}

// Run is the write handle of one run. Its methods are safe for concurrent use. End it with
// `defer run.End(&err)`.
type Run struct {
	s          *Store
	id         string
	rid        int64
	experiment string
	name       string
	cfg        runConfig

	mu    sync.Mutex // guards buf and ended
	buf   []point
	ended bool

	flushMu sync.Mutex // serialises batch writes
	stop    chan struct{}
	done    chan struct{}
}

// ID is the run's UUID.
func (r *Run) ID() string { return r.id }

// Name is the run's name.
func (r *Run) Name() string { return r.name }

// Experiment is the name of the run's experiment.
func (r *Run) Experiment() string { return r.experiment }

// Store is the store the run writes to.
func (r *Run) Store() *Store { return r.s }

// StartRun creates a RUNNING run in the named experiment (created when new; "" means "Default"), starts
// its heartbeat and, unless WithoutProvenance is given, records provenance.Collect() (or the record given
// with WithProvenance). An empty name becomes "run-" and the first 8 characters of the id.
func (s *Store) StartRun(experiment, name string, opts ...RunOption) (*Run, error) {
	if s.readOnly {
		return nil, fmt.Errorf("cannot start a run: store %s was opened %w", s.path, ErrReadOnly)
	}
	cfg := runConfig{heartbeat: DefaultHeartbeat, missed: DefaultMissedBeats, flushN: DefaultFlushPoints, flushEvery: DefaultFlushEvery, retryFor: DefaultRetry}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.heartbeat <= 0 || cfg.missed <= 0 || cfg.flushN <= 0 || cfg.flushEvery <= 0 {
		return nil, fmt.Errorf("run options: heartbeat (%v), missed beats (%d), flush points (%d) and flush interval (%v) must be positive",
			cfg.heartbeat, cfg.missed, cfg.flushN, cfg.flushEvery)
	}
	id := uuid.NewString()
	if cfg.id != "" {
		u, err := uuid.Parse(cfg.id)
		if err != nil {
			return nil, fmt.Errorf("run id %q is not a UUID: %w", cfg.id, err)
		}
		id = u.String()
	}
	if experiment == "" {
		experiment = DefaultExperiment
	}
	if err := checkKey("experiment name", experiment); err != nil {
		return nil, err
	}
	if name == "" {
		name = "run-" + id[:8]
	}
	now := nowMs()
	stale := cfg.heartbeat.Milliseconds() * int64(cfg.missed)
	var rid int64
	err := s.write(func(tx *txn) error {
		if _, err := tx.Exec(`INSERT INTO experiments (name, created_ms) VALUES (?, ?) ON CONFLICT (name) DO NOTHING`, experiment, now); err != nil {
			return err
		}
		var eid int64
		if err := tx.QueryRow(`SELECT id FROM experiments WHERE name = ?`, experiment).Scan(&eid); err != nil {
			return err
		}
		err := tx.QueryRow(`INSERT INTO runs (id, experiment_id, name, status, start_ms, heartbeat_ms, stale_after_ms)
			VALUES (?, ?, ?, 'RUNNING', ?, ?, ?) RETURNING rid`, id, eid, name, now, now, max(stale, 1)).Scan(&rid)
		if err != nil {
			if strings.Contains(err.Error(), "UNIQUE constraint failed: runs.id") || strings.Contains(err.Error(), "runs_id_key") {
				return fmt.Errorf("a run with id %s already exists: pass another WithID", id)
			}
			return err
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("start run: %w", err)
	}
	r := &Run{s: s, id: id, rid: rid, experiment: experiment, name: name, cfg: cfg,
		stop: make(chan struct{}), done: make(chan struct{})}
	go r.loop()
	if !cfg.noProv {
		rec := cfg.prov
		if rec == nil {
			c := provenance.Collect(cfg.provOpts)
			rec = &c
		}
		if err := r.RecordProvenance(*rec); err != nil {
			err = fmt.Errorf("recording provenance: %w", err)
			_ = r.finish(StatusFailed, err.Error())
			return nil, err
		}
	}
	return r, nil
}

// write runs fn in one IMMEDIATE transaction (the DSN's _txlock) and commits it.
func (s *Store) write(fn func(tx *txn) error) error {
	if s.readOnly {
		return fmt.Errorf("store %s was opened %w", s.path, ErrReadOnly)
	}
	tx, err := s.db.Begin()
	if err != nil {
		return describe(err, s.path)
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return describe(err, s.path)
	}
	if err := tx.Commit(); err != nil {
		return describe(err, s.path)
	}
	return nil
}

// checkKey validates a param, tag, metric or artifact name: non-empty, valid UTF-8, at most 500 bytes,
// no control characters.
func checkKey(what, k string) error {
	switch {
	case k == "":
		return fmt.Errorf("%s is empty", what)
	case len(k) > 500:
		return fmt.Errorf("%s %.40q... is longer than 500 bytes", what, k)
	case !utf8.ValidString(k):
		return fmt.Errorf("%s %q is not valid UTF-8", what, k)
	case strings.IndexFunc(k, func(r rune) bool { return r < 0x20 || r == 0x7f }) >= 0:
		return fmt.Errorf("%s %q contains a control character", what, k)
	}
	return nil
}

func (r *Run) checkOpen() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.ended {
		return fmt.Errorf("run %s: %w", r.id, ErrEnded)
	}
	return nil
}

// LogParam logs one param; see LogParams.
func (r *Run) LogParam(key, value string) error { return r.LogParams(map[string]string{key: value}) }

// LogParams logs params, all or none. Params are write-once: logging a key again with the same value is
// a no-op, with another value an error (ErrParamChanged) that leaves the run unchanged.
func (r *Run) LogParams(params map[string]string) error {
	if err := r.checkOpen(); err != nil {
		return err
	}
	keys := make([]string, 0, len(params))
	for k := range params {
		if err := checkKey("param name", k); err != nil {
			return err
		}
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return r.s.write(func(tx *txn) error {
		for _, k := range keys {
			v := params[k]
			res, err := tx.Exec(`INSERT INTO params (run, key, value) VALUES (?, ?, ?) ON CONFLICT (run, key) DO NOTHING`, r.rid, k, v)
			if err != nil {
				return err
			}
			if n, _ := res.RowsAffected(); n == 1 {
				continue
			}
			var old string
			if err := tx.QueryRow(`SELECT value FROM params WHERE run = ? AND key = ?`, r.rid, k).Scan(&old); err != nil {
				return err
			}
			if old != v {
				return fmt.Errorf("param %q of run %s is already %q and cannot become %q (%w): params are write-once; log it under another name or start a new run",
					k, r.id, old, v, ErrParamChanged)
			}
		}
		return nil
	})
}

// SetTag sets a tag, replacing its previous value.
func (r *Run) SetTag(key, value string) error { return r.SetTags(map[string]string{key: value}) }

// SetTags sets several tags in one transaction, replacing previous values.
func (r *Run) SetTags(tags map[string]string) error {
	if err := r.checkOpen(); err != nil {
		return err
	}
	for k := range tags {
		if err := checkKey("tag name", k); err != nil {
			return err
		}
	}
	return r.s.write(func(tx *txn) error {
		for k, v := range tags {
			if _, err := tx.Exec(`INSERT INTO tags (run, key, value) VALUES (?, ?, ?)
				ON CONFLICT (run, key) DO UPDATE SET value = excluded.value`, r.rid, k, v); err != nil {
				return err
			}
		}
		return nil
	})
}

// RecordProvenance stores rec: its Tags (provenance.*) as tags, the whole record as the artifact
// provenance.json, and the git diff, when there is one, as the artifact git.diff. Recording again replaces
// both; StartRun records provenance once unless told not to.
func (r *Run) RecordProvenance(rec provenance.Record) error {
	if err := r.SetTags(rec.Tags()); err != nil {
		return err
	}
	if _, err := r.LogArtifact("provenance.json", "application/json", rec.JSON()); err != nil {
		return err
	}
	if rec.Git != nil && rec.Git.Diff != "" {
		if _, err := r.LogArtifact("git.diff", "text/x-diff", []byte(rec.Git.Diff)); err != nil {
			return err
		}
	}
	return nil
}

// LogMetric buffers one point of metric key at step. Non-finite values (NaN, ±Inf) are stored as such and
// flagged. Logging the same key and step twice keeps the later value. Points are written when
// DefaultFlushPoints are pending (in the caller's goroutine, so a slow disk slows the caller rather than
// growing memory), every DefaultFlushEvery in the background, on Flush and at End. The error is that of
// a write this call made; points of a failed write stay buffered and are retried by the next write.
func (r *Run) LogMetric(key string, step int64, value float64) error {
	if err := checkKey("metric name", key); err != nil {
		return err
	}
	r.mu.Lock()
	if r.ended {
		r.mu.Unlock()
		return fmt.Errorf("run %s: %w", r.id, ErrEnded)
	}
	r.buf = append(r.buf, point{key: key, step: step, value: value, wall: nowMs()})
	full := len(r.buf) >= r.cfg.flushN
	r.mu.Unlock()
	if full {
		return r.Flush()
	}
	return nil
}

// LogMetrics buffers several metrics at the same step (see LogMetric).
func (r *Run) LogMetrics(step int64, values map[string]float64) error {
	keys := make([]string, 0, len(values))
	for k := range values {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if err := r.LogMetric(k, step, values[k]); err != nil {
			return err
		}
	}
	return nil
}

// Flush writes every buffered point in one transaction and returns once it is committed (or failed, in
// which case the points stay buffered for the next attempt).
func (r *Run) Flush() error {
	r.flushMu.Lock()
	defer r.flushMu.Unlock()
	r.mu.Lock()
	batch := r.buf
	r.buf = make([]point, 0, min(len(batch), r.cfg.flushN))
	r.mu.Unlock()
	if len(batch) == 0 {
		return nil
	}
	if err := r.writeBatchRetrying(batch); err != nil {
		r.mu.Lock()
		r.buf = append(batch, r.buf...)
		r.mu.Unlock()
		return fmt.Errorf("run %s: writing %d metric points: %w", r.id, len(batch), err)
	}
	return nil
}

// writeBatchRetrying is writeBatch, retried while the server is unreachable (ErrUnavailable) with
// exponential backoff, 100 ms doubling to at most 5 s between tries, for at most cfg.retryFor in all.
// The database/sql pool reconnects on its own once the server answers again. Other errors are not retried.
func (r *Run) writeBatchRetrying(batch []point) error {
	deadline := time.Now().Add(r.cfg.retryFor)
	wait := 100 * time.Millisecond
	for tries := 1; ; tries++ {
		err := r.writeBatch(batch)
		if err == nil || !errors.Is(err, ErrUnavailable) {
			return err
		}
		left := time.Until(deadline)
		if left <= 0 {
			if tries > 1 {
				return fmt.Errorf("%w (gave up after %d tries over %v; the points stay buffered in this process)", err, tries, r.cfg.retryFor)
			}
			return err
		}
		time.Sleep(min(wait, left))
		wait = min(2*wait, 5*time.Second)
	}
}

// Pending is the number of buffered metric points not yet written.
func (r *Run) Pending() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.buf)
}

// encodeValue splits v into the stored (value, nonfinite flag) pair: finite values as REAL with flag 0,
// NaN as NULL with 1, +Inf as NULL with 2, -Inf as NULL with 3.
func encodeValue(v float64) (any, int) {
	switch {
	case math.IsNaN(v):
		return nil, 1
	case math.IsInf(v, 1):
		return nil, 2
	case math.IsInf(v, -1):
		return nil, 3
	}
	return v, 0
}

// decodeValue inverts encodeValue.
func decodeValue(v sql.NullFloat64, flag int) float64 {
	switch flag {
	case 1:
		return math.NaN()
	case 2:
		return math.Inf(1)
	case 3:
		return math.Inf(-1)
	}
	if !v.Valid {
		return math.NaN()
	}
	return v.Float64
}

// insertChunk is the number of rows of one multi-row INSERT (6 placeholders a row, far below SQLite's limit).
const insertChunk = 250

func insertSQL(rows int) string {
	var b strings.Builder
	b.WriteString(`INSERT INTO metrics (run, key, step, value, nonfinite, wall_ms) VALUES `)
	for i := 0; i < rows; i++ {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString("(?, ?, ?, ?, ?, ?)")
	}
	b.WriteString(` ON CONFLICT (run, key, step) DO UPDATE SET value = excluded.value, nonfinite = excluded.nonfinite, wall_ms = excluded.wall_ms`)
	return b.String()
}

var fullInsertSQL = insertSQL(insertChunk)

// writeBatch writes points (sorted by key then step, later duplicates winning), updates latest_metrics
// with each key's point at the highest step, and refreshes the heartbeat, all in one transaction.
func (r *Run) writeBatch(batch []point) error {
	slices.SortStableFunc(batch, func(a, b point) int {
		if c := strings.Compare(a.key, b.key); c != 0 {
			return c
		}
		return cmp.Compare(a.step, b.step)
	})
	// Keep only the last of the points logged at the same key and step (the sort is stable): one INSERT
	// may not touch a row twice in PostgreSQL, and in SQLite the later row would overwrite it anyway.
	kept := batch[:0]
	for i, p := range batch {
		if i+1 < len(batch) && batch[i+1].key == p.key && batch[i+1].step == p.step {
			continue
		}
		kept = append(kept, p)
	}
	batch = kept
	args := make([]any, 0, 6*min(len(batch), insertChunk))
	return r.s.write(func(tx *txn) error {
		var full *sql.Stmt
		for start := 0; start < len(batch); start += insertChunk {
			chunk := batch[start:min(start+insertChunk, len(batch))]
			args = args[:0]
			for _, p := range chunk {
				v, flag := encodeValue(p.value)
				args = append(args, r.rid, p.key, p.step, v, flag, p.wall)
			}
			var err error
			if len(chunk) == insertChunk {
				if full == nil {
					if full, err = tx.Prepare(fullInsertSQL); err != nil {
						return err
					}
					defer full.Close()
				}
				_, err = full.Exec(args...)
			} else {
				_, err = tx.Exec(insertSQL(len(chunk)), args...)
			}
			if err != nil {
				return err
			}
		}
		for i, p := range batch {
			if i+1 < len(batch) && batch[i+1].key == p.key {
				continue // not the last (highest-step) point of this key
			}
			v, flag := encodeValue(p.value)
			if _, err := tx.Exec(`INSERT INTO latest_metrics (run, key, step, value, nonfinite, wall_ms) VALUES (?, ?, ?, ?, ?, ?)
				ON CONFLICT (run, key) DO UPDATE SET step = excluded.step, value = excluded.value,
					nonfinite = excluded.nonfinite, wall_ms = excluded.wall_ms
				WHERE excluded.step >= latest_metrics.step`, r.rid, p.key, p.step, v, flag, p.wall); err != nil {
				return err
			}
		}
		_, err := tx.Exec(`UPDATE runs SET heartbeat_ms = ? WHERE rid = ?`, nowMs(), r.rid)
		return err
	})
}

// loop beats the heartbeat and flushes pending points on a timer until End.
func (r *Run) loop() {
	defer close(r.done)
	hb := time.NewTicker(r.cfg.heartbeat)
	defer hb.Stop()
	fl := time.NewTicker(r.cfg.flushEvery)
	defer fl.Stop()
	for {
		select {
		case <-r.stop:
			return
		case <-hb.C:
			// A failed beat is retried at the next tick; a run only looks dead after several missed beats.
			_, _ = r.s.db.Exec(`UPDATE runs SET heartbeat_ms = ? WHERE rid = ?`, nowMs(), r.rid)
		case <-fl.C:
			if r.Pending() > 0 {
				// A failed background flush keeps its points buffered; the next write retries them
				// and reports the error if it persists.
				_ = r.Flush()
			}
		}
	}
}

// End finishes the run: it writes the buffered points, stops the heartbeat and records the final status.
// Use it as `defer run.End(&err)` with err the function's named error result:
//   - *errp == nil: FINISHED;
//   - *errp wraps context.Canceled: KILLED (interrupted), with the error text;
//   - otherwise FAILED with the error text;
//   - a panic in the deferring function: FAILED with the panic value, and the panic continues (End
//     recovers it only to record it, then panics again with the same value).
//
// If recording fails and *errp is nil, *errp is set to that error. End is idempotent: later calls do
// nothing and return nil.
func (r *Run) End(errp *error) error {
	p := recover()
	status, msg := StatusFinished, ""
	switch {
	case p != nil:
		status, msg = StatusFailed, fmt.Sprintf("panic: %v", p)
	case errp != nil && *errp != nil && errors.Is(*errp, context.Canceled):
		status, msg = StatusKilled, (*errp).Error()
	case errp != nil && *errp != nil:
		status, msg = StatusFailed, (*errp).Error()
	}
	err := r.finish(status, msg)
	if p != nil {
		panic(p)
	}
	if err != nil && errp != nil && *errp == nil {
		*errp = err
	}
	return err
}

func (r *Run) finish(status, msg string) error {
	r.mu.Lock()
	if r.ended {
		r.mu.Unlock()
		return nil
	}
	r.ended = true
	r.mu.Unlock()
	close(r.stop)
	<-r.done
	ferr := r.Flush()
	if ferr != nil && status == StatusFinished {
		status, msg = StatusFailed, ferr.Error()
	}
	now := nowMs()
	err := r.s.write(func(tx *txn) error {
		_, err := tx.Exec(`UPDATE runs SET status = ?, end_ms = ?, heartbeat_ms = ?, error = ? WHERE rid = ?`,
			status, now, now, msg, r.rid)
		return err
	})
	if err != nil {
		err = fmt.Errorf("run %s: recording status %s: %w", r.id, status, err)
	}
	return errors.Join(ferr, err)
}
