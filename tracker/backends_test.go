package tracker

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/stylelab/stylelab/tracker/pgtest"
)

// The tracker's behavioural tests run once per store: SQLite, and PostgreSQL when a server could be started
// (pgtest; TestMain starts one for the package). Tests of SQLite's own file (page damage, read-only folders,
// WAL, migrations of old files) stay SQLite-only.

var (
	pgServer *pgtest.Server
	pgErr    error
)

// startPostgres starts the package's PostgreSQL server; TestMain calls it and stops the server after.
func startPostgres() func() {
	pgServer, pgErr = pgtest.Start()
	if pgErr != nil {
		if pgtest.Required() {
			fmt.Fprintf(os.Stderr, "STYLELAB_REQUIRE_POSTGRES=1 but no PostgreSQL server could be started: %v\n", pgErr)
			os.Exit(1)
		}
		return func() {}
	}
	return func() { pgServer.Stop() }
}

// backend is one kind of store.
type backend struct {
	name string
	// newLocation returns the path or URL of a new, empty database (artifacts in a fresh folder).
	newLocation func(t testing.TB) string
}

func (b backend) newStore(t testing.TB) *Store {
	t.Helper()
	s, err := Open(b.newLocation(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

var sqliteBackend = backend{"sqlite", func(t testing.TB) string {
	return filepath.Join(t.TempDir(), "runs", "stylelab.db")
}}

var postgresBackend = backend{"postgres", func(t testing.TB) string {
	t.Helper()
	u, err := pgServer.NewDatabase()
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("STYLELAB_ARTIFACTS", filepath.Join(t.TempDir(), "artifacts"))
	return u
}}

// requirePostgres skips (or, with STYLELAB_REQUIRE_POSTGRES=1, fails) a test without a server.
func requirePostgres(t testing.TB) {
	t.Helper()
	if pgServer == nil {
		if pgtest.Required() {
			t.Fatalf("STYLELAB_REQUIRE_POSTGRES=1 but PostgreSQL is unavailable: %v", pgErr)
		}
		t.Skipf("PostgreSQL unavailable: %v", pgErr)
	}
}

// eachBackend runs f as a subtest per store.
func eachBackend(t *testing.T, f func(t *testing.T, b backend)) {
	t.Run("sqlite", func(t *testing.T) { f(t, sqliteBackend) })
	t.Run("postgres", func(t *testing.T) {
		requirePostgres(t)
		f(t, postgresBackend)
	})
}
