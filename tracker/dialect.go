package tracker

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/stylelab/stylelab/tracker/filter"
)

// One code path serves both engines (as in MLflow's SQL store): every statement is written once, and a
// dialect value owns each place where SQLite and PostgreSQL differ. Nothing rewrites a statement's text
// afterwards except the placeholder numbering, which skips quoted text:
//
//	                     SQLite                               PostgreSQL
//	placeholders         ? and ?N, as written                 $k (bare ?, counted from 1) and $N; never inside '…' or "…"
//	±Inf literal         9e999 / -9e999                       'Infinity'::float8 / '-Infinity'::float8 (filter.Dialect)
//	LIKE / ILIKE         GLOB (pattern as glob) / LIKE         LIKE … ESCAPE '' / ILIKE … ESCAPE '' (filter.Dialect)
//	JSON integer list    json_each(?N)                        json_array_elements_text(?N::json), values as bigint
//	ordered join         CROSS JOIN … ON (fixes the order)    JOIN … ON
//	index hint           INDEXED BY name                      (none: PostgreSQL has no hints)
//	float sum, 0 if none TOTAL(x)                             COALESCE(SUM((x)::float8), 0)
//	no LIMIT             LIMIT -1                             LIMIT NULL
//	schema version       PRAGMA user_version                  table stylelab_schema
//	migrations           migrations (schema.go)               pgSchema (postgres.go), under an advisory lock
//	artifact/GC order    the one write lock                   advisory lock, shared for writers, exclusive for GC
//	integrity check      PRAGMA integrity_check               none (the server checks its pages)
//	error wording        describeSQLite                       describePostgres
//
// A statement that needs one of the differing pieces is built from the dialect's methods (once, in
// newDialect, for the fixed statements); conn and txn are the only way to the database, and each of their
// methods binds the statement for its dialect.

// dialect is one SQL engine's way of writing what the store needs.
type dialect struct {
	name       string
	postgres   bool
	filter     *filter.Dialect // the run filter's fragments for this engine
	migrations []string        // migrations[i] takes a database from schema version i to i+1
	q          queries         // the fixed statements that differ between the engines

	bound  sync.Map // PostgreSQL: statement → numbered statement (at most maxBound entries)
	nbound atomic.Int64
}

// maxBound bounds the cache of numbered statements: statements built from filters vary without end.
const maxBound = 4096

var (
	sqliteDialect   = newDialect("sqlite", false)
	postgresDialect = newDialect("postgres", true)
)

func newDialect(name string, postgres bool) *dialect {
	d := &dialect{name: name, postgres: postgres, filter: filter.SQLite, migrations: migrations}
	if postgres {
		d.filter, d.migrations = filter.Postgres, pgSchema
	}
	d.q = buildQueries(d)
	return d
}

// bind is statement q with its placeholders written for the engine: unchanged for SQLite; for PostgreSQL
// ?N becomes $N and each bare ? becomes $k, k counting the bare ones from 1. Text inside '…' strings and
// "…" identifiers is copied as it is (a doubled quote inside them reads as two adjacent quoted runs, which
// copies the same bytes).
func (d *dialect) bind(q string) string {
	if !d.postgres {
		return q
	}
	if v, ok := d.bound.Load(q); ok {
		return v.(string)
	}
	p := dollarPlaceholders(q)
	if d.nbound.Load() < maxBound {
		if _, loaded := d.bound.LoadOrStore(q, p); !loaded {
			d.nbound.Add(1)
		}
	}
	return p
}

func dollarPlaceholders(q string) string {
	var b strings.Builder
	b.Grow(len(q) + 16)
	k := 0
	for i := 0; i < len(q); i++ {
		c := q[i]
		switch c {
		case '\'', '"':
			j := strings.IndexByte(q[i+1:], c)
			if j < 0 {
				b.WriteString(q[i:])
				return b.String()
			}
			b.WriteString(q[i : i+j+2])
			i += j + 1
		case '?':
			j := i + 1
			for j < len(q) && q[j] >= '0' && q[j] <= '9' {
				j++
			}
			if j > i+1 {
				b.WriteString("$" + q[i+1:j])
				i = j - 1
			} else {
				k++
				b.WriteString("$" + strconv.Itoa(k))
			}
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// indexedBy is the hint that makes SQLite read table rows through index (" INDEXED BY index"); PostgreSQL
// has no hints, so it is "".
func (d *dialect) indexedBy(index string) string {
	if d.postgres {
		return ""
	}
	return " INDEXED BY " + index
}

// total is the float sum of expression x over the group, 0.0 when it has no non-NULL value (SQLite's TOTAL).
func (d *dialect) total(x string) string {
	if d.postgres {
		return "COALESCE(SUM((" + x + ")::float8), 0)"
	}
	return "TOTAL(" + x + ")"
}

// jsonInts is a FROM source with one integer column, value: the elements of the JSON array of integers bound
// to placeholder param (as written by jsonInts in sampled.go), whatever its length, given the alias as.
func (d *dialect) jsonInts(param, as string) string {
	if d.postgres {
		return "(SELECT value::bigint AS value FROM json_array_elements_text(" + param + "::json)) AS " + as
	}
	return "json_each(" + param + ") AS " + as
}

// orderedJoin is the inner join that, in SQLite, also fixes the join order (its left table drives the loop).
func (d *dialect) orderedJoin() string {
	if d.postgres {
		return "JOIN"
	}
	return "CROSS JOIN"
}

// noLimit is the LIMIT argument that means "no limit".
func (d *dialect) noLimit() any {
	if d.postgres {
		return nil
	}
	return int64(-1)
}

// integrityCheck is the statement whose rows are "ok" or a problem found in the database's pages.
func (d *dialect) integrityCheck() string {
	if d.postgres {
		return `SELECT 'ok'` // PostgreSQL checks its own pages (data checksums, amcheck)
	}
	return `PRAGMA integrity_check`
}

// schemaVersion reads the database's schema version; 0 for an empty database.
func (d *dialect) schemaVersion(q queryer) (int, error) {
	var v int
	if !d.postgres {
		err := q.QueryRow("PRAGMA user_version").Scan(&v)
		return v, err
	}
	var exists bool
	if err := q.QueryRow(`SELECT to_regclass('stylelab_schema') IS NOT NULL`).Scan(&exists); err != nil || !exists {
		return 0, err
	}
	err := q.QueryRow(`SELECT version FROM stylelab_schema`).Scan(&v)
	return v, err
}

// lockMigration makes the migration transaction exclusive of other openers' (SQLite: its BEGIN IMMEDIATE
// already holds the write lock).
func (d *dialect) lockMigration(tx *txn) error {
	if !d.postgres {
		return nil
	}
	_, err := tx.Exec(`SELECT pg_advisory_xact_lock(?)`, int64(pgMigrateLock))
	return err
}

// initSchema prepares a database of schema version 0 for the first migration: it refuses one that already
// holds tables (someone else's database), and on PostgreSQL creates the version table.
func (d *dialect) initSchema(tx *txn, where string) error {
	var n int
	if !d.postgres {
		if err := tx.QueryRow("SELECT COUNT(*) FROM sqlite_master WHERE type = 'table'").Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return fmt.Errorf("%s is an SQLite database but not a stylelab one (schema version 0 with %d tables): pass another --db", where, n)
		}
		return nil
	}
	if err := tx.QueryRow(`SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = current_schema() AND table_name IN ('experiments', 'runs', 'metrics')`).Scan(&n); err != nil {
		return err
	}
	if n > 0 {
		return fmt.Errorf("%s has tables named experiments, runs or metrics but no stylelab schema version: it is not a stylelab database; pass another --db (or another schema with ?search_path=…)", where)
	}
	_, err := tx.Exec(`CREATE TABLE stylelab_schema (version INTEGER NOT NULL); INSERT INTO stylelab_schema VALUES (0)`)
	return err
}

// setVersion records schema version v inside the migration transaction.
func (d *dialect) setVersion(tx *txn, v int) error {
	var err error
	if d.postgres {
		_, err = tx.Exec(`UPDATE stylelab_schema SET version = ?`, v)
	} else {
		// PRAGMA takes no placeholders; v is the build's constant SchemaVersion.
		_, err = tx.Exec(fmt.Sprintf("PRAGMA user_version = %d", v))
	}
	return err
}

// afterCopy runs at the end of Copy's transaction into a store of this dialect: rows came with their keys,
// so PostgreSQL's identity sequences are moved past them (SQLite's INTEGER PRIMARY KEY needs nothing).
func (d *dialect) afterCopy(tx *txn) error {
	if !d.postgres {
		return nil
	}
	for _, q := range []string{
		`SELECT setval(pg_get_serial_sequence('experiments', 'id'), COALESCE(MAX(id), 0) + 1, false) FROM experiments`,
		`SELECT setval(pg_get_serial_sequence('runs', 'rid'), COALESCE(MAX(rid), 0) + 1, false) FROM runs`,
	} {
		if _, err := tx.Exec(q); err != nil {
			return err
		}
	}
	return nil
}

// describe words an engine error so that it says what to do; ok is false for errors of neither engine.
// The two engines' error types are distinct, so the store's own wording applies whichever is tried first.
func (d *dialect) describe(err error, where string) (error, bool) {
	if d.postgres {
		return describePostgres(err, where)
	}
	return describeSQLite(err, where)
}

// conn is the store's connection pool. It holds *sql.DB without embedding it: each method binds its
// statement for the dialect, and nothing else reaches the database.
type conn struct {
	db *sql.DB
	d  *dialect
}

// txn is one transaction of a conn; like conn it offers only methods that bind their statements.
type txn struct {
	tx *sql.Tx
	d  *dialect
}

func (c *conn) Exec(q string, args ...any) (sql.Result, error) {
	return c.db.Exec(c.d.bind(q), args...)
}
func (c *conn) Query(q string, args ...any) (*sql.Rows, error) {
	return c.db.Query(c.d.bind(q), args...)
}
func (c *conn) QueryRow(q string, args ...any) *sql.Row { return c.db.QueryRow(c.d.bind(q), args...) }
func (c *conn) QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	return c.db.QueryContext(ctx, c.d.bind(q), args...)
}
func (c *conn) Prepare(q string) (*sql.Stmt, error) { return c.db.Prepare(c.d.bind(q)) }
func (c *conn) Close() error                        { return c.db.Close() }

// Begin starts a transaction (SQLite: IMMEDIATE, from the DSN's _txlock).
func (c *conn) Begin() (*txn, error) {
	tx, err := c.db.Begin()
	if err != nil {
		return nil, err
	}
	return &txn{tx: tx, d: c.d}, nil
}

func (t *txn) Exec(q string, args ...any) (sql.Result, error) { return t.tx.Exec(t.d.bind(q), args...) }
func (t *txn) Query(q string, args ...any) (*sql.Rows, error) {
	return t.tx.Query(t.d.bind(q), args...)
}
func (t *txn) QueryRow(q string, args ...any) *sql.Row { return t.tx.QueryRow(t.d.bind(q), args...) }
func (t *txn) Prepare(q string) (*sql.Stmt, error)     { return t.tx.Prepare(t.d.bind(q)) }
func (t *txn) Commit() error                           { return t.tx.Commit() }
func (t *txn) Rollback() error                         { return t.tx.Rollback() }

// artifactLock is the PostgreSQL advisory lock key that orders artifact installs against GC's deletions.
const artifactLock = 0x73746c6172746966

// lockArtifacts makes the transaction's artifact work exclusive of GC's: writers installing a blob and
// recording its reference take the lock shared, GC's re-read-and-delete takes it exclusive, both until the
// transaction ends. SQLite needs nothing: every write transaction there holds the database's one write lock.
func (t *txn) lockArtifacts(exclusive bool) error {
	if !t.d.postgres {
		return nil
	}
	q := `SELECT pg_advisory_xact_lock_shared(?)`
	if exclusive {
		q = `SELECT pg_advisory_xact_lock(?)`
	}
	_, err := t.Exec(q, int64(artifactLock))
	return err
}

// queries are the fixed statements that need a dialect's pieces, built once per dialect by the functions
// named after them (read.go, sampled.go), which document them.
type queries struct {
	counts, quickCounts, wholeChecked string // one series
	runCounts, runPoints              string // every series of a run (EachPoint)
	summaries                         string // MetricSummaries
	gridSeek                          string // HistorySampled: grid steps a series lacks
	sampleExact, sampleSeek           string // HistorySampled: a long series
}

func buildQueries(d *dialect) queries {
	return queries{
		counts: countsQuery(d), quickCounts: quickCountsQuery(d), wholeChecked: wholeCheckedQuery(d),
		runCounts: runCountsQuery(d), runPoints: runPointsQuery(d), summaries: summariesQuery(d),
		gridSeek:    gridSeekPart(d),
		sampleExact: gridExactPart(d) + "\nUNION ALL\n" + extremesPart,
		sampleSeek:  gridSeekPart(d) + "\nUNION ALL\n" + extremesPart,
	}
}
