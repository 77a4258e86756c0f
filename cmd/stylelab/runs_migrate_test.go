package main

import (
	"encoding/json"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/stylelab/stylelab/tracker"
	"github.com/stylelab/stylelab/tracker/pgtest"
)

// startPostgres starts a throwaway PostgreSQL server for one test (skipped without one, failing with
// STYLELAB_REQUIRE_POSTGRES=1) and returns the URL of an empty database on it.
func startPostgres(t *testing.T) string {
	t.Helper()
	srv, err := pgtest.Start()
	if err != nil {
		if pgtest.Required() {
			t.Fatalf("STYLELAB_REQUIRE_POSTGRES=1 but PostgreSQL cannot be started: %v", err)
		}
		t.Skipf("PostgreSQL unavailable: %v", err)
	}
	t.Cleanup(func() { srv.Stop() })
	url, err := srv.NewDatabase()
	if err != nil {
		t.Fatal(err)
	}
	return url
}

// TestRunsMigrateToPostgres: `runs migrate` copies the fixture into PostgreSQL; the JSON report's row
// counts and digests equal those computed independently from both stores, and `runs ls`/`runs show` on
// the PostgreSQL database give what they give on the SQLite file.
func TestRunsMigrateToPostgres(t *testing.T) {
	db, gram, _ := runsFixture(t)
	url := startPostgres(t)
	arts := filepath.Join(t.TempDir(), "artifacts")
	t.Setenv("STYLELAB_ARTIFACTS", arts)
	out := mustRuns(t, "migrate", "--from", db, "--to", url, "--json")
	var rep struct {
		From, To string
		tracker.CopyReport
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	src, err := tracker.OpenReadOnly(db)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dst, err := tracker.OpenReadOnly(url)
	if err != nil {
		t.Fatal(err)
	}
	defer dst.Close()
	a, _ := src.Digest()
	b, _ := dst.Digest()
	if !reflect.DeepEqual(a, b) || !reflect.DeepEqual(a, rep.Tables) || rep.Blobs != 1 {
		t.Fatalf("digests: sqlite %v\npostgres %v\nreport %+v", a, b, rep)
	}
	if a[1].Rows != 2 || a[4].Rows == 0 {
		t.Errorf("fixture digests look empty: %v", a)
	}
	lite := mustRuns(t, "ls", "--db", db, "--json")
	pg := mustRuns(t, "ls", "--db", url, "--json")
	if lite != pg {
		t.Errorf("runs ls differs:\nsqlite   %s\npostgres %s", lite, pg)
	}
	showLite := mustRuns(t, "show", gram[:8], "--db", db)
	showPG := mustRuns(t, "show", gram[:8], "--db", url)
	// The artifact paths differ by their folder only.
	showLite = strings.ReplaceAll(showLite, filepath.Join(filepath.Dir(db), "artifacts"), "ARTIFACTS")
	showPG = strings.ReplaceAll(showPG, arts, "ARTIFACTS")
	if showLite != showPG || !strings.Contains(showPG, "ARTIFACTS/") {
		t.Errorf("runs show differs:\n%s\n%s", showLite, showPG)
	}
	// The binary with --artifacts instead of STYLELAB_ARTIFACTS reads the same artifacts.
	env := []string{"STYLELAB_ARTIFACTS="}
	if r := runStylelab(t, env, "runs", "show", gram[:8], "--db", url, "--artifacts", arts); r.code != 0 ||
		strings.ReplaceAll(r.stdout, arts, "ARTIFACTS") != showPG {
		t.Errorf("runs show --artifacts: exit %d, stderr %s\n%s\nwant\n%s", r.code, r.stderr, r.stdout, showPG)
	}
	if r := runStylelab(t, env, "runs", "show", gram[:8], "--db", url, "--artifacts"); r.code != 2 || !strings.Contains(r.stderr, "--artifacts needs a folder") {
		t.Errorf("--artifacts without a folder: exit %d, %s", r.code, r.stderr)
	}
	// Again into the same (now full) database: refused, nothing changed.
	if _, err := runsCmd(t, "migrate", "--from", db, "--to", url); err == nil || !strings.Contains(err.Error(), "empty database") {
		t.Errorf("second migrate: %v", err)
	}
	if c, _ := dst.Digest(); !reflect.DeepEqual(b, c) {
		t.Error("a refused migrate changed the destination")
	}
}

// TestRunsUnreachablePostgres: a database URL nobody answers is one clear error naming the URL without
// the password, exit code 1, and `stylelab run` writes no output image.
func TestRunsUnreachablePostgres(t *testing.T) {
	port, err := pgtest.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	url := "postgres://bob:hunter2@127.0.0.1:" + strconv.Itoa(port) + "/stylelab"
	out := filepath.Join(t.TempDir(), "out.png")
	for _, args := range [][]string{
		{"runs", "ls", "--db", url},
		{"run", "--content", testContent, "--style", testStyle, "--size", "32", "--steps", "1", "--db", url, "--out", out},
	} {
		r := runStylelab(t, nil, args...)
		if r.code != 1 || strings.Contains(r.stderr, "hunter2") || !strings.Contains(r.stderr, "cannot reach PostgreSQL at postgres://bob:xxxxx@127.0.0.1:"+strconv.Itoa(port)+"/stylelab") {
			t.Errorf("stylelab %s: exit %d, stderr %s", args[0], r.code, r.stderr)
		}
	}
	if _, err := filepath.Glob(out); err != nil {
		t.Fatal(err)
	}
	if m, _ := filepath.Glob(filepath.Join(filepath.Dir(out), "*")); len(m) != 0 {
		t.Errorf("files written: %v", m)
	}
}
