// Package tracker records experiments in one SQLite file: experiments, runs, write-once params, tags,
// step metrics (NaN and ±Inf kept), content-addressed artifacts, provenance and heartbeats, and reads them
// back with MLflow-like filters.
//
// Several processes may write to the same database at once: it runs in WAL mode with a 10 s busy timeout
// and every write transaction begins IMMEDIATE (taking the write lock up front, so read-then-write
// transactions never fail with "database is locked" half way). Metric points are buffered and written in
// batches of up to 1000 points a transaction. A writer beats a heartbeat; a RUNNING run whose heartbeat is
// older than its stale limit belongs to a dead process and is marked KILLED the next time the store is
// opened or listed.
//
// Writing:
//
//	s, err := tracker.Open(tracker.DefaultPath())
//	run, err := s.StartRun("gatys", "starry-night")
//	defer run.End(&err) // FINISHED, or FAILED with err's text
//	run.LogParams(map[string]string{"loss": "gram"})
//	run.LogMetric("style_loss", step, v)
//
// Reading: Search, GetRun, History, Downsample, Artifacts, ArtifactPath.
package tracker

import (
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/mattn/go-sqlite3"
)

// Errors callers may test with errors.Is.
var (
	// ErrNotFound: no such run, artifact or database.
	ErrNotFound = errors.New("not found")
	// ErrAmbiguous: a run id prefix matches several runs.
	ErrAmbiguous = errors.New("ambiguous run id prefix")
	// ErrNewerSchema: the database was written by a newer stylelab.
	ErrNewerSchema = errors.New("database schema is newer than this stylelab")
	// ErrReadOnly: the store or the database file cannot be written.
	ErrReadOnly = errors.New("read-only")
	// ErrParamChanged: a param was logged again with a different value.
	ErrParamChanged = errors.New("param already logged with a different value")
	// ErrEnded: the run has ended; nothing more can be logged to it.
	ErrEnded = errors.New("run has ended")
)

// DefaultPath is the database used when no --db flag is given: $STYLELAB_DB, else ./runs/stylelab.db.
func DefaultPath() string {
	if p := os.Getenv("STYLELAB_DB"); p != "" {
		return p
	}
	return filepath.Join("runs", "stylelab.db")
}

// Store is an open tracking database. It is safe for concurrent use by several goroutines, and several
// processes may open the same file.
type Store struct {
	db       *sql.DB
	path     string // absolute path of the database file
	dir      string // folder holding the database and artifacts/
	readOnly bool
}

// Path is the absolute path of the database file.
func (s *Store) Path() string { return s.path }

// Dir is the folder holding the database file and the artifacts/ folder.
func (s *Store) Dir() string { return s.dir }

// ReadOnly reports whether the store was opened with OpenReadOnly.
func (s *Store) ReadOnly() bool { return s.readOnly }

// Close closes the database. End every Run first: a run still open stops beating and will be marked KILLED.
func (s *Store) Close() error { return s.db.Close() }

// DB gives direct access to the database for diagnostics (PRAGMA integrity_check, ad-hoc queries).
// Write through the Run API, not through DB.
func (s *Store) DB() *sql.DB { return s.db }

// sqliteURI builds the SQLite URI filename for an absolute path; '%', '?' and '#' must be escaped in it.
func sqliteURI(abs string) string {
	return "file:" + strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace(filepath.ToSlash(abs))
}

// Open opens (creating it and its folder when needed) the database at path for reading and writing,
// migrating an older schema forward. It refuses a database written by a newer stylelab (ErrNewerSchema)
// and a file that is not writable (ErrReadOnly: use OpenReadOnly to read it). Runs whose heartbeat is
// stale are marked KILLED. An empty path means DefaultPath().
func Open(path string) (*Store, error) {
	if path == "" {
		path = DefaultPath()
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("database path %q: %w", path, err)
	}
	st, err := os.Stat(abs)
	switch {
	case err == nil && st.IsDir():
		return nil, fmt.Errorf("database path %s is a folder: pass the database file inside it, e.g. --db %s",
			abs, filepath.Join(abs, "stylelab.db"))
	case err == nil:
		if err := checkWritable(abs, st.Mode()); err != nil {
			return nil, err
		}
	case errors.Is(err, os.ErrNotExist):
		if err := os.MkdirAll(filepath.Dir(abs), 0o755); err != nil {
			return nil, fmt.Errorf("cannot create the folder for database %s: %w (pass --db or set STYLELAB_DB to a writable place)", abs, err)
		}
	default:
		return nil, fmt.Errorf("database %s: %w", abs, err)
	}
	dsn := sqliteURI(abs) + "?_journal_mode=WAL&_synchronous=NORMAL&_busy_timeout=10000&_txlock=immediate&_foreign_keys=1"
	db, err := sql.Open("sqlite3", dsn)
	if err != nil {
		return nil, describe(err, abs)
	}
	db.SetMaxIdleConns(4)
	s := &Store{db: db, path: abs, dir: filepath.Dir(abs)}
	if err := s.migrate(); err != nil {
		db.Close()
		return nil, err
	}
	if _, err := s.ReapStale(); err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

// checkWritable refuses a database file without write permission. The mode bits are checked as well as
// the open(2) result because root may open any file for writing: a file the user protected with chmod
// a-w is treated as read-only even then.
func checkWritable(abs string, mode os.FileMode) error {
	if mode.Perm()&0o222 == 0 {
		return fmt.Errorf("database %s is %w (mode %v): make it writable with 'chmod u+w %s', or only read it (stylelab serve opens databases read-only)",
			abs, ErrReadOnly, mode.Perm(), abs)
	}
	f, err := os.OpenFile(abs, os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("database %s is %w: %v: make it writable, or only read it (stylelab serve opens databases read-only)",
			abs, ErrReadOnly, err)
	}
	return f.Close()
}

// OpenReadOnly opens an existing database for reading only (the dashboard uses it). It never migrates or
// writes: a database with an older schema must be opened once with Open first. Stale RUNNING runs are
// reported as KILLED without being rewritten.
func OpenReadOnly(path string) (*Store, error) {
	if path == "" {
		path = DefaultPath()
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("database path %q: %w", path, err)
	}
	st, err := os.Stat(abs)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("no database at %s (%w): record a run first, or pass --db / set STYLELAB_DB", abs, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("database %s: %w", abs, err)
	}
	if st.IsDir() {
		return nil, fmt.Errorf("database path %s is a folder: pass the database file inside it", abs)
	}
	db, err := sql.Open("sqlite3", sqliteURI(abs)+"?mode=ro&_busy_timeout=10000&_foreign_keys=1")
	if err != nil {
		return nil, describe(err, abs)
	}
	db.SetMaxIdleConns(4)
	s := &Store{db: db, path: abs, dir: filepath.Dir(abs), readOnly: true}
	v, err := s.userVersion(db)
	if err == nil {
		switch {
		case v > SchemaVersion:
			err = newerError(abs, v)
		case v == 0:
			err = fmt.Errorf("%s is not a stylelab database (no schema): pass another --db", abs)
		case v < SchemaVersion:
			err = fmt.Errorf("database %s has schema version %d and needs migrating to %d: open it once for writing (e.g. 'stylelab runs ls --db %s') and retry",
				abs, v, SchemaVersion, abs)
		}
	}
	if err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

func newerError(abs string, v int) error {
	return fmt.Errorf("database %s has schema version %d but this stylelab understands versions up to %d (%w): upgrade stylelab, or pass --db / set STYLELAB_DB to another database",
		abs, v, SchemaVersion, ErrNewerSchema)
}

type queryer interface {
	QueryRow(query string, args ...any) *sql.Row
}

func (s *Store) userVersion(q queryer) (int, error) {
	var v int
	if err := q.QueryRow("PRAGMA user_version").Scan(&v); err != nil {
		return 0, describe(err, s.path)
	}
	return v, nil
}

// migrate brings the schema to SchemaVersion inside one IMMEDIATE transaction, re-reading the version
// after taking the write lock so that concurrent openers migrate exactly once.
func (s *Store) migrate() error {
	v, err := s.userVersion(s.db)
	if err != nil {
		return err
	}
	if v > SchemaVersion {
		return newerError(s.path, v)
	}
	if v == SchemaVersion {
		return nil
	}
	tx, err := s.db.Begin()
	if err != nil {
		return describe(err, s.path)
	}
	defer tx.Rollback()
	if v, err = s.userVersion(tx); err != nil {
		return err
	}
	if v > SchemaVersion {
		return newerError(s.path, v)
	}
	if v == 0 {
		var n int
		if err := tx.QueryRow("SELECT COUNT(*) FROM sqlite_master WHERE type = 'table'").Scan(&n); err != nil {
			return describe(err, s.path)
		}
		if n > 0 {
			return fmt.Errorf("%s is an SQLite database but not a stylelab one (schema version 0 with %d tables): pass another --db", s.path, n)
		}
	}
	for ; v < SchemaVersion; v++ {
		if _, err := tx.Exec(migrations[v]); err != nil {
			return fmt.Errorf("migrating database %s from schema version %d to %d: %w", s.path, v, v+1, describe(err, s.path))
		}
	}
	// PRAGMA takes no placeholders; SchemaVersion is a constant.
	if _, err := tx.Exec(fmt.Sprintf("PRAGMA user_version = %d", SchemaVersion)); err != nil {
		return describe(err, s.path)
	}
	if err := tx.Commit(); err != nil {
		return describe(err, s.path)
	}
	return nil
}

// describe turns SQLite errors about the file itself into errors that say what to do.
func describe(err error, path string) error {
	var se sqlite3.Error
	if !errors.As(err, &se) {
		return err
	}
	switch se.Code {
	case sqlite3.ErrReadonly:
		return fmt.Errorf("database %s is %w (%v): make the file and its folder writable, or only read it (stylelab serve opens databases read-only)", path, ErrReadOnly, err)
	case sqlite3.ErrCantOpen:
		return fmt.Errorf("cannot open database %s (%v): check that its folder exists and is writable (SQLite creates %s-wal and %s-shm beside it)", path, err, filepath.Base(path), filepath.Base(path))
	case sqlite3.ErrNotADB:
		return fmt.Errorf("%s is not an SQLite database (%v): pass another --db", path, err)
	case sqlite3.ErrCorrupt:
		return fmt.Errorf("database %s is damaged (%v): copy it aside and check it with sqlite3 %s 'PRAGMA integrity_check'", path, err, path)
	case sqlite3.ErrBusy, sqlite3.ErrLocked:
		return fmt.Errorf("database %s stayed locked by another process for more than 10 s (%v): retry, or look for a stuck stylelab process", path, err)
	case sqlite3.ErrFull:
		return fmt.Errorf("disk full writing database %s (%v): free space and retry", path, err)
	}
	return err
}

func nowMs() int64 { return time.Now().UnixMilli() }

// killedReason is the error text given to runs found with a stale heartbeat.
const killedReason = "no heartbeat: the process writing this run stopped without ending it (killed, crashed or the machine stopped)"

// ReapStale marks KILLED every RUNNING run whose heartbeat is older than its stale limit (3 missed beats by
// default), setting its end time to the last heartbeat. Open and Search call it; it returns how many runs
// it marked. On a read-only store it does nothing (reads report such runs as KILLED anyway).
func (s *Store) ReapStale() (int, error) {
	if s.readOnly {
		return 0, nil
	}
	now := nowMs()
	var n int
	// Read first so that the common case (nothing stale) takes no write lock.
	if err := s.db.QueryRow(`SELECT COUNT(*) FROM runs WHERE status = 'RUNNING' AND heartbeat_ms + stale_after_ms < ?`, now).Scan(&n); err != nil {
		return 0, describe(err, s.path)
	}
	if n == 0 {
		return 0, nil
	}
	res, err := s.db.Exec(`UPDATE runs SET status = 'KILLED', end_ms = heartbeat_ms, error = ?
		WHERE status = 'RUNNING' AND heartbeat_ms + stale_after_ms < ?`, killedReason, now)
	if err != nil {
		return 0, describe(err, s.path)
	}
	m, _ := res.RowsAffected()
	return int(m), nil
}
