package tracker

import (
	"context"
	"database/sql"
	"regexp"
	"strconv"
	"strings"
	"sync"
)

// The store's statements are written once, in SQLite's dialect; for PostgreSQL, conn and txn rewrite each
// statement (once, then cached) before running it:
//
//	?  → $k (k counting the bare placeholders from 1), ?N → $N   (outside quoted strings and identifiers)
//	INDEXED BY <index>  → removed (a planner hint only SQLite has)
//	TOTAL(x)            → COALESCE(SUM((x)::float8), 0)  (SQLite's TOTAL is a float SUM that is 0.0 when empty)
//	json_each(?N) AS g  → (SELECT value::bigint AS value FROM json_array_elements_text($N::json)) AS g
//	CROSS JOIN t AS m ON → JOIN t AS m ON  (SQLite's CROSS JOIN only fixes the join order)
//	9e999 / -9e999      → 'Infinity'::float8 / '-Infinity'::float8  (SQLite reads 9e999 as +Inf)
//
// Filters are built for the dialect by filter.Where or filter.WherePostgres (LIKE: GLOB or LIKE).
//
// The SQLite text is passed through unchanged, so the SQLite store runs exactly the statements it always ran.

// dialect names the SQL flavour of a store.
type dialect int

const (
	dialectSQLite dialect = iota
	dialectPostgres
)

// conn is the store's connection pool: *sql.DB with statements rewritten for the store's dialect.
type conn struct {
	*sql.DB
	d dialect
}

// txn is one transaction of a conn.
type txn struct {
	*sql.Tx
	d dialect
}

func (c *conn) Exec(q string, args ...any) (sql.Result, error) {
	return c.DB.Exec(rewrite(c.d, q), args...)
}
func (c *conn) Query(q string, args ...any) (*sql.Rows, error) {
	return c.DB.Query(rewrite(c.d, q), args...)
}
func (c *conn) QueryRow(q string, args ...any) *sql.Row {
	return c.DB.QueryRow(rewrite(c.d, q), args...)
}
func (c *conn) QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	return c.DB.QueryContext(ctx, rewrite(c.d, q), args...)
}
func (c *conn) Prepare(q string) (*sql.Stmt, error) {
	return c.DB.Prepare(rewrite(c.d, q))
}
func (c *conn) Begin() (*txn, error) {
	tx, err := c.DB.Begin()
	if err != nil {
		return nil, err
	}
	return &txn{Tx: tx, d: c.d}, nil
}

func (t *txn) Exec(q string, args ...any) (sql.Result, error) {
	return t.Tx.Exec(rewrite(t.d, q), args...)
}
func (t *txn) Query(q string, args ...any) (*sql.Rows, error) {
	return t.Tx.Query(rewrite(t.d, q), args...)
}
func (t *txn) Prepare(q string) (*sql.Stmt, error) {
	return t.Tx.Prepare(rewrite(t.d, q))
}
func (t *txn) QueryRow(q string, args ...any) *sql.Row {
	return t.Tx.QueryRow(rewrite(t.d, q), args...)
}

var pgCache sync.Map // SQLite text → PostgreSQL text

var (
	reIndexedBy = regexp.MustCompile(`\s+INDEXED BY \w+`)
	reTotal     = regexp.MustCompile(`TOTAL\(((?:[^()]|\([^()]*\))*)\)`)
	reJSONEach  = regexp.MustCompile(`json_each\((\?\d+)\) AS (\w+)`)
	reInf       = regexp.MustCompile(`(-?)9e999`)
	reCrossOn   = regexp.MustCompile(`CROSS JOIN (\w+ AS \w+)(\s+)ON`)
)

func rewrite(d dialect, q string) string {
	if d == dialectSQLite {
		return q
	}
	if v, ok := pgCache.Load(q); ok {
		return v.(string)
	}
	p := reIndexedBy.ReplaceAllString(q, "")
	p = reTotal.ReplaceAllString(p, "COALESCE(SUM(($1)::float8), 0)")
	p = reJSONEach.ReplaceAllString(p, "(SELECT value::bigint AS value FROM json_array_elements_text(${1}::json)) AS $2")
	p = reInf.ReplaceAllString(p, "'${1}Infinity'::float8")
	p = reCrossOn.ReplaceAllString(p, "JOIN $1${2}ON")
	p = dollarPlaceholders(p)
	pgCache.Store(q, p)
	return p
}

// dollarPlaceholders turns SQLite's ? and ?N into PostgreSQL's $k and $N, leaving '…' strings and "…"
// identifiers alone.
func dollarPlaceholders(q string) string {
	var b strings.Builder
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

// artifactLock is the PostgreSQL advisory lock key that orders artifact installs against GC's deletions.
const artifactLock = 0x73746c6172746966

// lockArtifacts makes the transaction's artifact work exclusive of GC's: writers installing a blob and
// recording its reference take the lock shared, GC's re-read-and-delete takes it exclusive, both until the
// transaction ends. SQLite needs nothing: every write transaction there holds the database's one write lock.
func (t *txn) lockArtifacts(exclusive bool) error {
	if t.d == dialectSQLite {
		return nil
	}
	q := `SELECT pg_advisory_xact_lock_shared(?)`
	if exclusive {
		q = `SELECT pg_advisory_xact_lock(?)`
	}
	_, err := t.Exec(q, int64(artifactLock))
	return err
}
