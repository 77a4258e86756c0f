package main

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/stylelab/stylelab/tracker"
)

// runsFixture records two runs: a finished gram run with a NaN point and an artifact, and a failed
// mmd-poly run. It returns the database path and the two ids.
func runsFixture(t *testing.T) (db, gram, mmd string) {
	t.Helper()
	db = filepath.Join(t.TempDir(), "runs", "stylelab.db")
	s, err := tracker.Open(db)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	r1, err := s.StartRun("gatys", "gram-run", tracker.WithoutProvenance())
	if err != nil {
		t.Fatal(err)
	}
	r1.LogParams(map[string]string{"loss": "gram", "lr": "1"})
	r1.SetTag("provenance.git.commit", "abc123")
	r1.SetTag("note", "baseline")
	for i := int64(0); i < 10; i++ {
		v := 1 / float64(i+1)
		if i == 5 {
			v = math.NaN()
		}
		r1.LogMetrics(i, map[string]float64{"style_loss": v, "content_loss": float64(i) / 3})
	}
	if _, err := r1.LogArtifact("out.png", "", []byte("png bytes")); err != nil {
		t.Fatal(err)
	}
	r1.End(nil)
	r2, err := s.StartRun("gatys", "mmd-run", tracker.WithoutProvenance())
	if err != nil {
		t.Fatal(err)
	}
	r2.LogParams(map[string]string{"loss": "mmd-poly", "lr": "1"})
	r2.LogMetric("style_loss", 0, 0.5)
	failed := errors.New("diverged")
	r2.End(&failed)
	return db, r1.ID(), r2.ID()
}

func runsCmd(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	err := runsMain(args, &out)
	return out.String(), err
}

func mustRuns(t *testing.T, args ...string) string {
	t.Helper()
	out, err := runsCmd(t, args...)
	if err != nil {
		t.Fatalf("stylelab runs %s: %v", strings.Join(args, " "), err)
	}
	return out
}

func TestRunsLs(t *testing.T) {
	db, gram, mmd := runsFixture(t)
	var runs []tracker.RunInfo
	if err := json.Unmarshal([]byte(mustRuns(t, "ls", "--db", db, "--json")), &runs); err != nil {
		t.Fatal(err)
	}
	if len(runs) != 2 || runs[0].ID != mmd || runs[1].ID != gram || runs[0].Status != "FAILED" || runs[0].Error != "diverged" {
		t.Fatalf("ls --json: %+v", runs)
	}
	if !math.IsNaN(runs[1].Latest["style_loss"]) && runs[1].Latest["style_loss"] != 0.1 {
		t.Errorf("latest style_loss %v", runs[1].Latest["style_loss"])
	}
	out := mustRuns(t, "ls", "--filter", "params.loss = 'gram' and status = 'FINISHED'", "--json", "--db", db)
	if err := json.Unmarshal([]byte(out), &runs); err != nil || len(runs) != 1 || runs[0].ID != gram {
		t.Errorf("filtered ls: %s %v", out, err)
	}
	table := mustRuns(t, "ls", "--db", db)
	for _, want := range []string{"ID", "EXPERIMENT", "STATUS", gram[:8], "gram-run", "FINISHED", "FAILED", "loss=gram", "loss=mmd-poly", "style_loss=0.1", "content_loss=3"} {
		if !strings.Contains(table, want) {
			t.Errorf("ls table lacks %q:\n%s", want, table)
		}
	}
	if strings.Contains(table, "lr=") {
		t.Errorf("ls shows a param equal in every run:\n%s", table)
	}
	if out := mustRuns(t, "ls", "--db", db, "--filter", "status = 'KILLED'"); !strings.Contains(out, "no runs match") {
		t.Errorf("empty result: %q", out)
	}
	_, err := runsCmd(t, "ls", "--db", db, "--filter", "params.loss = gram")
	var ue usageError
	if !errors.As(err, &ue) || !strings.Contains(err.Error(), "quoted value") {
		t.Errorf("bad filter: %v", err)
	}
	missing := filepath.Join(t.TempDir(), "none.db")
	if out := mustRuns(t, "ls", "--db", missing); !strings.Contains(out, "no runs recorded yet") {
		t.Errorf("missing database: %q", out)
	}
	if _, err := os.Stat(missing); err == nil {
		t.Error("ls created a database")
	}
	if out := mustRuns(t, "ls", "--db", missing, "--json"); strings.TrimSpace(out) != "[]" {
		t.Errorf("missing database --json: %q", out)
	}
	t.Setenv("STYLELAB_DB", db) // the default of --db
	if out := mustRuns(t, "ls", "--limit", "1"); !strings.Contains(out, "mmd-run") || strings.Contains(out, "gram-run") || !strings.Contains(out, "--limit 0") {
		t.Errorf("ls via STYLELAB_DB with --limit 1:\n%s", out)
	}
}

func TestRunsShow(t *testing.T) {
	db, gram, _ := runsFixture(t)
	// The flag after the id works too.
	text := mustRuns(t, "show", gram[:8], "--db", db)
	for _, want := range []string{gram, "gram-run", "FINISHED", "params:", "lr", "tags:", "note", "baseline",
		"provenance:", "git.commit", "abc123", "metrics:", "style_loss", "0..9", "artifacts:", "out.png", "image/png"} {
		if !strings.Contains(text, want) {
			t.Errorf("show lacks %q:\n%s", want, text)
		}
	}
	var got struct {
		Run     tracker.RunInfo `json:"run"`
		Metrics []struct {
			Key       string        `json:"key"`
			Count     int64         `json:"count"`
			NonFinite int64         `json:"non_finite"`
			Last      tracker.Value `json:"last"`
		} `json:"metrics"`
		Artifacts []struct {
			Name, Path, SHA256 string
		} `json:"artifacts"`
	}
	if err := json.Unmarshal([]byte(mustRuns(t, "show", "--json", gram, "--db", db)), &got); err != nil {
		t.Fatal(err)
	}
	if got.Run.ID != gram || len(got.Metrics) != 2 || got.Metrics[1].Key != "style_loss" || got.Metrics[1].Count != 10 ||
		got.Metrics[1].NonFinite != 1 || float64(got.Metrics[1].Last) != 0.1 {
		t.Errorf("show --json: %+v", got)
	}
	if len(got.Artifacts) != 1 {
		t.Fatalf("artifacts %+v", got.Artifacts)
	}
	if b, err := os.ReadFile(got.Artifacts[0].Path); err != nil || string(b) != "png bytes" {
		t.Errorf("artifact path %s: %q %v", got.Artifacts[0].Path, b, err)
	}
	if _, err := runsCmd(t, "show", "--db", db, "ffff"); !errors.Is(err, tracker.ErrNotFound) {
		t.Errorf("unknown id: %v", err)
	}
	var ue usageError
	if _, err := runsCmd(t, "show", "--db", db); !errors.As(err, &ue) {
		t.Errorf("show without id: %v", err)
	}
}

func TestRunsExport(t *testing.T) {
	db, gram, mmd := runsFixture(t)
	out := mustRuns(t, "export", gram, mmd[:6], "--format", "csv", "--db", db)
	rows, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(rows[0], []string{"run_id", "key", "step", "value", "time"}) || len(rows) != 1+20+1 {
		t.Fatalf("%d rows, header %v", len(rows), rows[0])
	}
	s, err := tracker.OpenReadOnly(db)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	h, _ := s.History(gram, "style_loss")
	seen := 0
	for _, r := range rows[1:] {
		if r[0] != gram || r[1] != "style_loss" {
			continue
		}
		step, _ := strconv.Atoi(r[2])
		v, err := strconv.ParseFloat(r[3], 64)
		if err != nil {
			t.Fatalf("value %q: %v", r[3], err)
		}
		want := h[step].Value
		if step == 5 && r[3] != "NaN" || step != 5 && v != want {
			t.Errorf("step %d exported as %q, stored %v", step, r[3], want)
		}
		seen++
	}
	if seen != 10 || rows[len(rows)-1][0] != mmd {
		t.Errorf("export rows: %d style_loss rows; last %v", seen, rows[len(rows)-1])
	}
	file := filepath.Join(t.TempDir(), "out.json")
	mustRuns(t, "export", "--format", "json", "--out", file, gram, "--db", db)
	b, _ := os.ReadFile(file)
	var pts []struct {
		RunID string        `json:"run_id"`
		Key   string        `json:"key"`
		Step  int64         `json:"step"`
		Value tracker.Value `json:"value"`
	}
	if err := json.Unmarshal(b, &pts); err != nil || len(pts) != 20 {
		t.Fatalf("json export (%v): %s", err, b)
	}
	if p := pts[15]; p.Key != "style_loss" || p.Step != 5 || !math.IsNaN(float64(p.Value)) {
		t.Errorf("NaN point exported as %+v", p)
	}
	var ue usageError
	if _, err := runsCmd(t, "export", gram, "--format", "xml", "--db", db); !errors.As(err, &ue) {
		t.Errorf("bad format: %v", err)
	}
	if _, err := runsCmd(t, "export", gram, "nope", "--db", db); err == nil {
		t.Error("export of an unknown id succeeded")
	}
}

func TestRunsRmAndGC(t *testing.T) {
	db, gram, mmd := runsFixture(t)
	if out := mustRuns(t, "rm", mmd[:8], "--db", db); !strings.Contains(out, "deleted "+mmd) {
		t.Errorf("rm: %q", out)
	}
	var runs []tracker.RunInfo
	json.Unmarshal([]byte(mustRuns(t, "ls", "--json", "--db", db)), &runs)
	if len(runs) != 1 || runs[0].ID != gram {
		t.Errorf("ls after rm: %+v", runs)
	}
	json.Unmarshal([]byte(mustRuns(t, "ls", "--json", "--deleted", "--db", db)), &runs)
	if len(runs) != 2 || !runs[0].Deleted {
		t.Errorf("ls --deleted: %+v", runs)
	}
	mustRuns(t, "restore", mmd, "--db", db)
	json.Unmarshal([]byte(mustRuns(t, "ls", "--json", "--db", db)), &runs)
	if len(runs) != 2 {
		t.Errorf("ls after restore: %d runs", len(runs))
	}
	mustRuns(t, "rm", mmd, "--db", db)
	var rep tracker.GCReport
	if err := json.Unmarshal([]byte(mustRuns(t, "gc", "--json", "--db", db)), &rep); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(rep.Runs, []string{mmd}) {
		t.Errorf("gc report %+v", rep)
	}
	if _, err := runsCmd(t, "show", mmd, "--db", db); !errors.Is(err, tracker.ErrNotFound) {
		t.Errorf("show after gc: %v", err)
	}
	if out := mustRuns(t, "gc", "--db", db); !strings.Contains(out, "purged 0 deleted run(s)") {
		t.Errorf("second gc: %q", out)
	}

	// A RUNNING run needs --force.
	s, _ := tracker.Open(db)
	r, _ := s.StartRun("e", "live", tracker.WithoutProvenance())
	if _, err := runsCmd(t, "rm", r.ID(), "--db", db); err == nil || !strings.Contains(err.Error(), "RUNNING") {
		t.Errorf("rm of a running run: %v", err)
	}
	mustRuns(t, "rm", "--force", r.ID(), "--db", db)
	r.End(nil)
	s.Close()
}

func TestRunsDispatch(t *testing.T) {
	var ue usageError
	if _, err := runsCmd(t); !errors.As(err, &ue) {
		t.Errorf("no command: %v", err)
	}
	if _, err := runsCmd(t, "frobnicate"); !errors.As(err, &ue) || !strings.Contains(err.Error(), "ls") {
		t.Errorf("unknown command: %v", err)
	}
	if out := mustRuns(t, "help"); !strings.Contains(out, "export") || !strings.Contains(out, "--db") {
		t.Errorf("help: %q", out)
	}
	if _, err := runsCmd(t, "ls", "--bogus"); !errors.As(err, &ue) {
		t.Errorf("bad flag: %v", err)
	}
	fs, db := runsFlagSet("x", "x")
	asJSON := fs.Bool("json", false, "")
	pos, err := runsParseArgs(fs, []string{"a", "--db", "d.db", "b", "--json", "--", "--not-a-flag"})
	if err != nil || !reflect.DeepEqual(pos, []string{"a", "b", "--not-a-flag"}) || *db != "d.db" || !*asJSON {
		t.Errorf("runsParseArgs = %q, %v (db %q json %v)", pos, err, *db, *asJSON)
	}
}
