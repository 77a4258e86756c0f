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
// Reading: Search, GetRun, History, Downsample, Artifacts, ReadArtifact/OpenArtifact. Reads never return part
// of what was asked for: a damaged database (SQLite corruption, or the metrics table and its index disagreeing)
// or an artifact whose bytes no longer match its SHA-256 is an ErrDamaged error; Check examines everything.
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
	// ErrDamaged: the database file or an artifact is damaged (SQLite reports corruption, two copies of the
	// same rows disagree, or a blob's bytes no longer match its SHA-256). Nothing read from it is returned.
	ErrDamaged = errors.New("damaged")
	// ErrNotDeleted: Restore was asked for a run that is not deleted.
	ErrNotDeleted = errors.New("run is not deleted")
)

// driverName is database/sql's name for go-sqlite3 with the connection settings every store uses:
// PRAGMA cell_size_check = ON, so that SQLite checks each b-tree page's cell layout as it reads the page and
// reports a damaged page as SQLITE_CORRUPT instead of reading garbage from it.
const driverName = "sqlite3-stylelab"

func init() {
	sql.Register(driverName, &sqlite3.SQLiteDriver{ConnectHook: func(c *sqlite3.SQLiteConn) error {
		_, err := c.Exec("PRAGMA cell_size_check = ON", nil)
		return err
	}})
}

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
	db        *conn
	path      string // absolute path of the database file, or the PostgreSQL URL without its password
	dir       string // folder holding the database and artifacts/ (SQLite); the artifact root (PostgreSQL)
	artifacts string // the content-addressed artifact root: <dir>/artifacts (SQLite), $STYLELAB_ARTIFACTS (PostgreSQL)
	readOnly  bool
}

// Path is the absolute path of the database file, or for PostgreSQL its URL without the password.
func (s *Store) Path() string { return s.path }

// Dir is the folder holding the database file and the artifacts/ folder; for PostgreSQL it is the artifact
// folder ($STYLELAB_ARTIFACTS; "" when unset). Every blob lies inside Dir.
func (s *Store) Dir() string {
	if s.artifacts != filepath.Join(s.dir, "artifacts") {
		return s.artifacts
	}
	return s.dir
}

// ArtifactDir is the content-addressed artifact folder (blobs at <dir>/<sha[:2]>/<sha>).
func (s *Store) ArtifactDir() string { return s.artifacts }

// ReadOnly reports whether the store was opened with OpenReadOnly.
func (s *Store) ReadOnly() bool { return s.readOnly }

// Close closes the database. End every Run first: a run still open stops beating and will be marked KILLED.
func (s *Store) Close() error { return s.db.Close() }

// DB gives direct access to the database for diagnostics (PRAGMA integrity_check, ad-hoc queries), in the
// engine's own SQL: statements sent through it are not bound by the store's dialect (PostgreSQL takes $1,
// not ?). Write through the Run API, not through DB.
func (s *Store) DB() *sql.DB { return s.db.db }

// Postgres reports whether the store is a PostgreSQL database.
func (s *Store) Postgres() bool { return s.db.d.postgres }

// sqliteURI builds the SQLite URI filename for an absolute path; '%', '?' and '#' must be escaped in it.
func sqliteURI(abs string) string {
	return "file:" + strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace(filepath.ToSlash(abs))
}

// Open opens (creating it and its folder when needed) the database at path for reading and writing,
// migrating an older schema forward. It refuses a database written by a newer stylelab (ErrNewerSchema)
// and a file that is not writable (ErrReadOnly: use OpenReadOnly to read it). Runs whose heartbeat is
// stale are marked KILLED. An empty path means DefaultPath().
//
// A postgres:// or postgresql:// URL opens a PostgreSQL database instead (see openPostgres); artifacts then
// live under $STYLELAB_ARTIFACTS.
func Open(path string) (*Store, error) {
	if path == "" {
		path = DefaultPath()
	}
	if IsPostgresURL(path) {
		return openPostgres(path, false)
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
		if err := checkFolderWritable(filepath.Dir(abs)); err != nil {
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
	db, err := sql.Open(driverName, dsn)
	if err != nil {
		return nil, describe(err, abs)
	}
	db.SetMaxIdleConns(4)
	s := &Store{db: &conn{db: db, d: sqliteDialect}, path: abs, dir: filepath.Dir(abs)}
	s.artifacts = artifactRoot(s.dir)
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

// checkFolderWritable refuses a database whose folder cannot be written: SQLite creates the -wal and -shm
// files beside a WAL database, so such a database can only be read (OpenReadOnly).
func checkFolderWritable(dir string) error {
	f, err := os.CreateTemp(dir, ".stylelab-probe-*")
	if err != nil {
		return fmt.Errorf("the folder %s of the database is %w (%v): SQLite writes its -wal and -shm files there; make it writable, or only read the database (stylelab serve and the runs commands open it read-only)",
			dir, ErrReadOnly, err)
	}
	f.Close()
	return os.Remove(f.Name())
}

// OpenReadOnly opens an existing database for reading only (the dashboard uses it). It never migrates or
// writes: a database with an older schema must be opened once with Open first. Stale RUNNING runs are
// reported as KILLED without being rewritten.
//
// It works where nothing can be written, such as a read-only folder, volume or archive: SQLite's read-only
// mode still needs the -shm file beside a WAL database, so when it cannot be created (SQLITE_READONLY or
// SQLITE_CANTOPEN) and there is no write-ahead log with content (<db>-wal absent or empty), the file is opened
// with SQLite's immutable=1 (no locks, no -shm: nothing can be changing a file in a folder nobody can write).
// A non-empty -wal that cannot be read that way is an error saying to copy the folder somewhere writable:
// opening without it would silently drop the runs it holds.
func OpenReadOnly(path string) (*Store, error) {
	if path == "" {
		path = DefaultPath()
	}
	if IsPostgresURL(path) {
		return openPostgres(path, true)
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
	s := &Store{path: abs, dir: filepath.Dir(abs), readOnly: true}
	s.artifacts = artifactRoot(s.dir)
	open := func(params string) (int, error) {
		db, err := sql.Open(driverName, sqliteURI(abs)+params)
		if err != nil {
			return 0, err
		}
		db.SetMaxIdleConns(4)
		var v int
		if err := db.QueryRow("PRAGMA user_version").Scan(&v); err != nil {
			db.Close()
			return 0, err
		}
		s.db = &conn{db: db, d: sqliteDialect}
		return v, nil
	}
	v, err := open("?mode=ro&_busy_timeout=10000&_foreign_keys=1")
	var se sqlite3.Error
	if errors.As(err, &se) && (se.Code == sqlite3.ErrReadonly || se.Code == sqlite3.ErrCantOpen) {
		if wal, werr := os.Stat(abs + "-wal"); werr == nil && wal.Size() > 0 {
			return nil, fmt.Errorf("database %s cannot be read here: its write-ahead log %s-wal holds recent changes, and SQLite cannot read it without creating %s-shm in this read-only folder (%v): copy the folder somewhere writable and open the copy",
				abs, filepath.Base(abs), filepath.Base(abs), err)
		}
		v, err = open("?immutable=1&_foreign_keys=1")
	}
	if err != nil {
		return nil, describe(err, abs)
	}
	switch {
	case v > SchemaVersion:
		err = newerError(abs, v)
	case v == 0:
		err = fmt.Errorf("%s is not a stylelab database (no schema): pass another --db", abs)
	case v < SchemaVersion:
		err = fmt.Errorf("database %s has schema version %d and needs migrating to %d: open it once for writing (e.g. 'stylelab runs ls --db %s') and retry",
			abs, v, SchemaVersion, abs)
	}
	if err != nil {
		s.db.Close()
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
	v, err := s.db.d.schemaVersion(q)
	if err != nil {
		return 0, describe(err, s.path)
	}
	return v, nil
}

// migrate brings the schema to SchemaVersion inside one transaction that holds the dialect's migration lock
// (SQLite: BEGIN IMMEDIATE; PostgreSQL: an advisory lock), re-reading the version after taking it so that
// concurrent openers migrate exactly once.
func (s *Store) migrate() error {
	d := s.db.d
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
	if err := d.lockMigration(tx); err != nil {
		return describe(err, s.path)
	}
	if v, err = s.userVersion(tx); err != nil {
		return err
	}
	if v > SchemaVersion {
		return newerError(s.path, v)
	}
	if v == SchemaVersion {
		return nil
	}
	if v == 0 {
		if err := d.initSchema(tx, s.path); err != nil {
			return describe(err, s.path)
		}
	}
	for ; v < SchemaVersion; v++ {
		if _, err := tx.Exec(d.migrations[v]); err != nil {
			return fmt.Errorf("migrating database %s from schema version %d to %d: %w", s.path, v, v+1, describe(err, s.path))
		}
	}
	if err := d.setVersion(tx, SchemaVersion); err != nil {
		return describe(err, s.path)
	}
	if err := tx.Commit(); err != nil {
		return describe(err, s.path)
	}
	return nil
}

// describe turns engine errors into errors that say what to do (the dialects' wording: describeSQLite,
// describePostgres; the two engines' error types are distinct); other errors are returned as they are.
func describe(err error, path string) error {
	for _, d := range []*dialect{postgresDialect, sqliteDialect} {
		if e, ok := d.describe(err, path); ok {
			return e
		}
	}
	return err
}

// describeSQLite words SQLite's errors about the file itself; ok is false for other errors.
func describeSQLite(err error, path string) (error, bool) {
	var se sqlite3.Error
	if !errors.As(err, &se) {
		return nil, false
	}
	switch se.Code {
	case sqlite3.ErrReadonly:
		return fmt.Errorf("database %s is %w (%v): make the file and its folder writable, or only read it (stylelab serve opens databases read-only)", path, ErrReadOnly, err), true
	case sqlite3.ErrCantOpen:
		return fmt.Errorf("cannot open database %s (%v): check that its folder exists and is writable (SQLite creates %s-wal and %s-shm beside it)", path, err, filepath.Base(path), filepath.Base(path)), true
	case sqlite3.ErrNotADB:
		return fmt.Errorf("%s is not an SQLite database (%v): pass another --db", path, err), true
	case sqlite3.ErrCorrupt:
		return fmt.Errorf("database %s is %w (%v): nothing was read from it; copy it aside, see what is damaged with 'stylelab runs check --db %s', and restore it from a backup",
			path, ErrDamaged, err, path), true
	case sqlite3.ErrBusy, sqlite3.ErrLocked:
		return fmt.Errorf("database %s stayed locked by another process for more than 10 s (%v): retry, or look for a stuck stylelab process", path, err), true
	case sqlite3.ErrFull:
		return fmt.Errorf("disk full writing database %s (%v): free space and retry", path, err), true
	}
	return err, true
}

// damaged is the error for a read whose rows disagree with another copy of them (the table and its index):
// SQLite found no fault in the pages it read, but rows are missing from one of the two b-trees.
func (s *Store) damaged(format string, args ...any) error {
	return fmt.Errorf("database %s is %w: %s: nothing was read from it; copy it aside, see what is damaged with 'stylelab runs check --db %s', and restore it from a backup",
		s.path, ErrDamaged, fmt.Sprintf(format, args...), s.path)
}

// readErr describes an error met while reading rows (rows.Err, Scan). A Scan error on this schema's columns
// means a stored value does not have its declared type, so it is reported as damage too.
func (s *Store) readErr(err error) error {
	if err == nil {
		return nil
	}
	var se sqlite3.Error
	if errors.As(err, &se) || errors.Is(err, ErrDamaged) || isPostgresErr(err) {
		return describe(err, s.path)
	}
	return s.damaged("a stored row does not have the schema's types (%v)", err)
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
