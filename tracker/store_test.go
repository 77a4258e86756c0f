package tracker

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/stylelab/stylelab/tracker/filter"
	"github.com/stylelab/stylelab/tracker/provenance"
)

func newStore(t testing.TB) *Store {
	t.Helper()
	s, err := Open(filepath.Join(t.TempDir(), "runs", "stylelab.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func startRun(t testing.TB, s *Store, exp, name string, opts ...RunOption) *Run {
	t.Helper()
	r, err := s.StartRun(exp, name, append([]RunOption{WithoutProvenance()}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestDefaultPath(t *testing.T) {
	t.Setenv("STYLELAB_DB", "")
	if got := DefaultPath(); got != filepath.Join("runs", "stylelab.db") {
		t.Errorf("DefaultPath() = %q", got)
	}
	t.Setenv("STYLELAB_DB", "/x/y.db")
	if got := DefaultPath(); got != "/x/y.db" {
		t.Errorf("DefaultPath() with STYLELAB_DB = %q", got)
	}
}

func TestRunLifecycle(t *testing.T) { eachBackend(t, testRunLifecycle) }

func testRunLifecycle(t *testing.T, be backend) {
	newStore := be.newStore
	s := newStore(t)
	before := time.Now().Add(-time.Second)
	r := startRun(t, s, "gatys", "starry")
	if info, err := s.GetRun(r.ID()); err != nil || info.Status != StatusRunning || !info.End.IsZero() {
		t.Fatalf("fresh run: %+v, %v", info, err)
	}
	if err := r.LogParams(map[string]string{"loss": "gram", "lr": "0.1"}); err != nil {
		t.Fatal(err)
	}
	if err := r.SetTag("note", "first"); err != nil {
		t.Fatal(err)
	}
	if err := r.SetTag("note", "second"); err != nil { // tags overwrite
		t.Fatal(err)
	}
	for step := int64(0); step < 2500; step++ {
		if err := r.LogMetrics(step, map[string]float64{"style_loss": 1 / float64(step+1), "content_loss": float64(step)}); err != nil {
			t.Fatal(err)
		}
	}
	var err error
	if e := r.End(&err); e != nil || err != nil {
		t.Fatal(e, err)
	}
	info, err := s.GetRun(r.ID()[:8])
	if err != nil {
		t.Fatal(err)
	}
	if info.Status != StatusFinished || info.Experiment != "gatys" || info.Name != "starry" || info.Error != "" || info.Deleted {
		t.Errorf("ended run: %+v", info)
	}
	if info.Start.Before(before) || info.End.Before(info.Start) || info.Heartbeat.Before(info.Start) {
		t.Errorf("times: start %v end %v heartbeat %v", info.Start, info.End, info.Heartbeat)
	}
	if !reflect.DeepEqual(info.Params, map[string]string{"loss": "gram", "lr": "0.1"}) || info.Tags["note"] != "second" {
		t.Errorf("params %v tags %v", info.Params, info.Tags)
	}
	if info.Latest["style_loss"] != 1.0/2500 || info.Latest["content_loss"] != 2499 {
		t.Errorf("latest %v", info.Latest)
	}
	keys, err := s.MetricKeys(r.ID())
	if err != nil || !reflect.DeepEqual(keys, []string{"content_loss", "style_loss"}) {
		t.Errorf("MetricKeys = %v, %v", keys, err)
	}
	h, err := s.History(r.ID(), "style_loss")
	if err != nil || len(h) != 2500 {
		t.Fatalf("History: %d points, %v", len(h), err)
	}
	for i, p := range h {
		if p.Step != int64(i) || p.Value != 1/float64(i+1) || p.Time.Before(before) {
			t.Fatalf("point %d = %+v", i, p)
		}
	}
	sums, err := s.MetricSummaries(r.ID())
	if err != nil || len(sums) != 2 {
		t.Fatal(sums, err)
	}
	if c := sums[0]; c.Key != "content_loss" || c.Count != 2500 || c.Min != 0 || c.Max != 2499 || c.Last != 2499 || c.FirstStep != 0 || c.LastStep != 2499 {
		t.Errorf("summary %+v", c)
	}
	// Nothing can be logged after End, and End again is a no-op.
	if err := r.LogMetric("x", 1, 1); !errors.Is(err, ErrEnded) {
		t.Errorf("LogMetric after End: %v", err)
	}
	if err := r.End(nil); err != nil {
		t.Errorf("second End: %v", err)
	}
}

func TestDuplicateStepKeepsLaterValue(t *testing.T) { eachBackend(t, testDuplicateStepKeepsLaterValue) }

func testDuplicateStepKeepsLaterValue(t *testing.T, be backend) {
	newStore := be.newStore
	s := newStore(t)
	r := startRun(t, s, "e", "dup")
	r.LogMetric("m", 5, 1)
	r.LogMetric("m", 5, 2)
	r.Flush()
	r.LogMetric("m", 5, 3)
	r.LogMetric("m", 4, 9) // a lower step later does not change the latest value
	r.End(nil)
	h, _ := s.History(r.ID(), "m")
	if len(h) != 2 || h[0].Value != 9 || h[1].Value != 3 {
		t.Errorf("history %+v", h)
	}
	info, _ := s.GetRun(r.ID())
	if info.Latest["m"] != 3 {
		t.Errorf("latest %v", info.Latest)
	}
}

func TestParamsWriteOnce(t *testing.T) { eachBackend(t, testParamsWriteOnce) }

func testParamsWriteOnce(t *testing.T, be backend) {
	newStore := be.newStore
	s := newStore(t)
	r := startRun(t, s, "e", "p")
	defer r.End(nil)
	if err := r.LogParam("lr", "0.1"); err != nil {
		t.Fatal(err)
	}
	if err := r.LogParam("lr", "0.1"); err != nil {
		t.Errorf("same value again: %v", err)
	}
	err := r.LogParams(map[string]string{"a_new": "1", "lr": "0.2"})
	if !errors.Is(err, ErrParamChanged) || !strings.Contains(err.Error(), `"0.1"`) {
		t.Fatalf("changed value: %v", err)
	}
	info, _ := s.GetRun(r.ID())
	if !reflect.DeepEqual(info.Params, map[string]string{"lr": "0.1"}) {
		t.Errorf("a rejected batch left %v", info.Params)
	}
	if err := r.LogParam("", "x"); err == nil {
		t.Error("empty param name accepted")
	}
}

func TestEndStatuses(t *testing.T) { eachBackend(t, testEndStatuses) }

func testEndStatuses(t *testing.T, be backend) {
	newStore := be.newStore
	s := newStore(t)
	failing := func() (err error) {
		r := startRun(t, s, "e", "failed")
		defer r.End(&err)
		r.LogMetric("loss", 0, 1)
		return errors.New("loss diverged at step 3")
	}
	if err := failing(); err == nil {
		t.Fatal("error lost")
	}
	canceled := func() (err error) {
		r := startRun(t, s, "e", "canceled")
		defer r.End(&err)
		return fmt.Errorf("optimising: %w", context.Canceled)
	}
	canceled()
	var panicked any
	func() {
		defer func() { panicked = recover() }()
		func() (err error) {
			r := startRun(t, s, "e", "panicked")
			defer r.End(&err)
			panic("index out of range")
		}()
	}()
	if panicked != "index out of range" {
		t.Errorf("End swallowed or changed the panic: %v", panicked)
	}
	want := map[string][2]string{
		"failed":   {StatusFailed, "loss diverged at step 3"},
		"canceled": {StatusKilled, "optimising: context canceled"},
		"panicked": {StatusFailed, "panic: index out of range"},
	}
	runs, err := s.Search("", "name", 0)
	if err != nil || len(runs) != 3 {
		t.Fatal(runs, err)
	}
	for _, ri := range runs {
		if w := want[ri.Name]; ri.Status != w[0] || ri.Error != w[1] {
			t.Errorf("%s: status %s error %q, want %v", ri.Name, ri.Status, ri.Error, w)
		}
	}
	if runs[1].Latest["loss"] != 1 {
		t.Errorf("points of a failed run were not flushed: %v", runs[1].Latest)
	}
}

func TestNonFiniteRoundTrip(t *testing.T) { eachBackend(t, testNonFiniteRoundTrip) }

func testNonFiniteRoundTrip(t *testing.T, be backend) {
	newStore := be.newStore
	s := newStore(t)
	r := startRun(t, s, "e", "nan")
	vals := []float64{1.5, math.NaN(), math.Inf(1), math.Inf(-1), -0.0, math.MaxFloat64, math.SmallestNonzeroFloat64, math.NaN()}
	for i, v := range vals {
		r.LogMetric("loss", int64(i), v)
	}
	r.End(nil)
	h, err := s.History(r.ID(), "loss")
	if err != nil || len(h) != len(vals) {
		t.Fatal(h, err)
	}
	for i, p := range h {
		v := vals[i]
		same := math.Float64bits(p.Value) == math.Float64bits(v) || (math.IsNaN(v) && math.IsNaN(p.Value))
		if !same {
			t.Errorf("step %d: got %v, want %v", i, p.Value, v)
		}
	}
	info, _ := s.GetRun(r.ID())
	if !math.IsNaN(info.Latest["loss"]) {
		t.Errorf("latest NaN lost: %v", info.Latest["loss"])
	}
	sum, _ := s.MetricSummaries(r.ID())
	if sum[0].NonFinite != 4 || sum[0].Count != 8 || sum[0].Min != 0 || sum[0].Max != math.MaxFloat64 || !math.IsNaN(sum[0].Last) {
		t.Errorf("summary %+v", sum[0])
	}
	// The filter treats a NaN latest value as matching no comparison.
	for _, f := range []string{"metrics.loss < 1", "metrics.loss >= 1", "metrics.loss != 1"} {
		if got, _ := s.Search(f, "", 0); len(got) != 0 {
			t.Errorf("%s matched a NaN latest value", f)
		}
	}
	// JSON keeps them.
	b, err := json.Marshal(info)
	if err != nil {
		t.Fatal(err)
	}
	var back RunInfo
	if err := json.Unmarshal(b, &back); err != nil || !math.IsNaN(back.Latest["loss"]) || back.ID != info.ID || !back.Start.Equal(info.Start) {
		t.Errorf("JSON round trip: %s -> %+v, %v", b, back, err)
	}
	pb, _ := json.Marshal(h[2:4])
	var pback []Point
	if err := json.Unmarshal(pb, &pback); err != nil || !math.IsInf(pback[0].Value, 1) || !math.IsInf(pback[1].Value, -1) {
		t.Errorf("points JSON %s -> %+v, %v", pb, pback, err)
	}
}

func TestSearch(t *testing.T) { eachBackend(t, testSearch) }

func testSearch(t *testing.T, be backend) {
	newStore := be.newStore
	s := newStore(t)
	type spec struct {
		exp, name, loss string
		style           float64
		fail            bool
	}
	specs := []spec{
		{"gatys", "a", "gram", 0.05, false},
		{"gatys", "b", "gram", 0.5, false},
		{"gatys", "c", "mmd-poly", 0.01, false},
		{"gatys", "d", "gram", 0.02, true},
		{"fast", "e", "gram", 0.03, false},
	}
	for _, sp := range specs {
		func() (err error) {
			r := startRun(t, s, sp.exp, sp.name)
			defer r.End(&err)
			r.LogParams(map[string]string{"loss": sp.loss, "mmd-kernel": "poly"})
			r.SetTag("provenance.git.dirty", "false")
			r.LogMetric("style_loss", 0, 10)
			r.LogMetric("style_loss", 1, sp.style)
			if sp.fail {
				return errors.New("boom")
			}
			return nil
		}()
		time.Sleep(2 * time.Millisecond) // distinct start times for the default order
	}
	names := func(runs []RunInfo) string {
		var n []string
		for _, r := range runs {
			n = append(n, r.Name)
		}
		return strings.Join(n, ",")
	}
	cases := []struct{ filter, order, want string }{
		{"", "", "e,d,c,b,a"},
		{"params.loss = 'gram' and metrics.style_loss < 0.1 and status = 'FINISHED'", "", "e,a"},
		{"params.loss = 'gram' and metrics.style_loss < 0.1 and status = 'FINISHED'", "metrics.style_loss", "e,a"},
		{"params.loss = 'gram'", "metrics.style_loss DESC", "b,a,e,d"},
		{"experiment = 'gatys' and (status = 'FAILED' or params.loss != 'gram')", "name", "c,d"},
		{"params.loss LIKE 'mmd%'", "", "c"},
		{"params.loss LIKE 'MMD%'", "", ""},
		{"params.loss ILIKE 'MMD%'", "", "c"},
		{"params.`mmd-kernel` in ('poly', 'x') and name not in ('a', 'b')", "name DESC", "e,d,c"},
		{"tags.`provenance.git.dirty` = 'false' and metrics.style_loss >= 0.05", "name", "a,b"},
		{"not params.loss = 'gram'", "", "c"},
		{"params.nonexistent = 'x'", "", ""},
		{"metrics.style_loss > 0.01 and metrics.style_loss <= 0.03", "metrics.style_loss", "d,e"},
		{"start_time > 0 and start_time < '2999-01-01'", "name", "a,b,c,d,e"},
	}
	for _, c := range cases {
		runs, err := s.Search(c.filter, c.order, 0)
		if err != nil {
			t.Errorf("Search(%q, %q): %v", c.filter, c.order, err)
			continue
		}
		if got := names(runs); got != c.want {
			t.Errorf("Search(%q, %q) = %s, want %s", c.filter, c.order, got, c.want)
		}
	}
	if runs, _ := s.Search("", "metrics.style_loss", 2); names(runs) != "c,d" {
		t.Errorf("limit: %s", names(runs))
	}
	// Order by a metric that only some runs have: those lacking it come last in both directions.
	r := startRun(t, s, "gatys", "z")
	r.LogMetric("only_z", 0, 1)
	r.End(nil)
	if runs, _ := s.Search("", "metrics.only_z DESC", 0); runs[0].Name != "z" {
		t.Errorf("metric order: %s", names(runs))
	}
	if runs, _ := s.Search("", "metrics.style_loss ASC", 0); runs[len(runs)-1].Name != "z" {
		t.Errorf("missing metric not last: %s", names(runs))
	}
	_, err := s.Search("params.loss = 'gram' OR 1=1", "", 0)
	var fe *filter.Error
	if !errors.As(err, &fe) {
		t.Errorf("injection attempt: %v", err)
	}
	if _, err := s.Search("", "start_time; DROP TABLE runs", 0); !errors.As(err, &fe) {
		t.Errorf("order-by injection: %v", err)
	}
	exps, err := s.Experiments()
	if err != nil || len(exps) != 2 || exps[0].Name != "fast" || exps[1].Runs != 5 {
		t.Errorf("Experiments = %+v, %v", exps, err)
	}
}

func TestGetRunPrefix(t *testing.T) { eachBackend(t, testGetRunPrefix) }

func testGetRunPrefix(t *testing.T, be backend) {
	newStore := be.newStore
	s := newStore(t)
	a := startRun(t, s, "e", "a", WithID("aaaaaaaa-0000-4000-8000-000000000001"))
	b := startRun(t, s, "e", "b", WithID("aaaabbbb-0000-4000-8000-000000000002"))
	a.End(nil)
	b.End(nil)
	if ri, err := s.GetRun("AAAABBBB-0000-4000-8000-000000000002"); err != nil || ri.Name != "b" {
		t.Errorf("full id: %v, %v", ri, err)
	}
	if _, err := s.GetRun("aaaa"); !errors.Is(err, ErrAmbiguous) {
		t.Errorf("ambiguous prefix: %v", err)
	}
	if ri, err := s.GetRun("aaaaa"); err != nil || ri.Name != "a" {
		t.Errorf("unique prefix: %v, %v", ri, err)
	}
	for _, bad := range []string{"bbbb", "'; DROP TABLE runs; --", "%", ""} {
		if _, err := s.GetRun(bad); err == nil {
			t.Errorf("GetRun(%q) succeeded", bad)
		}
	}
	if _, err := s.StartRun("e", "dup", WithoutProvenance(), WithID("aaaaaaaa-0000-4000-8000-000000000001")); err == nil {
		t.Error("duplicate id accepted")
	}
	if _, err := s.StartRun("e", "bad", WithoutProvenance(), WithID("not-a-uuid")); err == nil {
		t.Error("bad id accepted")
	}
}

func TestArtifacts(t *testing.T) { eachBackend(t, testArtifacts) }

func testArtifacts(t *testing.T, be backend) {
	newStore := be.newStore
	s := newStore(t)
	r1 := startRun(t, s, "e", "one")
	r2 := startRun(t, s, "e", "two")
	data := []byte("\x89PNG fake image bytes")
	a1, err := r1.LogArtifact("out.png", "", data)
	if err != nil {
		t.Fatal(err)
	}
	want := sha256.Sum256(data)
	if a1.MediaType != "image/png" || a1.Size != int64(len(data)) || a1.SHA256 != hex.EncodeToString(want[:]) {
		t.Errorf("artifact %+v", a1)
	}
	p, err := s.ArtifactPath(a1.SHA256)
	if err != nil || p != filepath.Join(s.ArtifactDir(), a1.SHA256[:2], a1.SHA256) {
		t.Fatalf("ArtifactPath = %s, %v", p, err)
	}
	if got, _ := os.ReadFile(p); string(got) != string(data) {
		t.Errorf("blob content %q", got)
	}
	// The same bytes from a file under another run: one blob.
	f := filepath.Join(t.TempDir(), "copy.png")
	os.WriteFile(f, data, 0o644)
	a2, err := r2.LogArtifactFile("", "", f)
	if err != nil || a2.SHA256 != a1.SHA256 || a2.Name != "copy.png" {
		t.Fatalf("LogArtifactFile = %+v, %v", a2, err)
	}
	blobs, _ := filepath.Glob(filepath.Join(s.ArtifactDir(), "??", "*"))
	if len(blobs) != 1 {
		t.Errorf("dedupe failed: %v", blobs)
	}
	// Replacing an artifact by name.
	if _, err := r1.LogArtifact("cfg.json", "application/json", []byte(`{"a":1}`)); err != nil {
		t.Fatal(err)
	}
	if _, err := r1.LogArtifact("cfg.json", "application/json", []byte(`{"a":2}`)); err != nil {
		t.Fatal(err)
	}
	list, _ := s.Artifacts(r1.ID())
	if len(list) != 2 || list[0].Name != "cfg.json" || list[1].Name != "out.png" {
		t.Fatalf("Artifacts = %+v", list)
	}
	if b, _ := s.ReadArtifact(list[0].SHA256); string(b) != `{"a":2}` {
		t.Errorf("replaced artifact reads %q", b)
	}
	if a, err := s.FindArtifact(r1.ID(), "out.png"); err != nil || a != a1 {
		t.Errorf("FindArtifact = %+v, %v", a, err)
	}
	if _, err := s.FindArtifact(r1.ID(), "nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("FindArtifact missing: %v", err)
	}
	for _, bad := range []string{"../../etc/passwd", strings.Repeat("A", 64), a1.SHA256[:63], "/" + a1.SHA256} {
		if _, err := s.ArtifactPath(bad); err == nil {
			t.Errorf("ArtifactPath(%q) accepted", bad)
		}
	}
	if _, err := s.ArtifactPath(strings.Repeat("0", 64)); !errors.Is(err, ErrNotFound) {
		t.Errorf("missing blob: %v", err)
	}
	r1.End(nil)
	r2.End(nil)
}

func TestDeleteAndGC(t *testing.T) { eachBackend(t, testDeleteAndGC) }

func testDeleteAndGC(t *testing.T, be backend) {
	newStore := be.newStore
	s := newStore(t)
	keep := startRun(t, s, "e", "keep")
	gone := startRun(t, s, "e", "gone")
	shared, _ := keep.LogArtifact("shared.txt", "", []byte("shared"))
	own, _ := gone.LogArtifact("own.txt", "", []byte("only in the deleted run"))
	gone.LogParam("x", "1")
	gone.LogMetric("m", 0, 1)
	gone.LogArtifact("shared-too.txt", "", []byte("shared"))
	if _, err := s.Delete(gone.ID(), false); err == nil {
		t.Error("deleting a RUNNING run without force succeeded")
	}
	keep.End(nil)
	gone.End(nil)
	id, err := s.Delete(gone.ID()[:10], false)
	if err != nil || id != gone.ID() {
		t.Fatal(id, err)
	}
	if runs, _ := s.Search("", "", 0); len(runs) != 1 || runs[0].Name != "keep" {
		t.Errorf("deleted run listed: %v", runs)
	}
	if runs, _ := s.SearchRuns(Query{Deleted: OnlyDeleted}); len(runs) != 1 || !runs[0].Deleted {
		t.Errorf("OnlyDeleted: %v", runs)
	}
	if ri, err := s.GetRun(gone.ID()); err != nil || !ri.Deleted {
		t.Errorf("GetRun of a deleted run: %v %v", ri, err)
	}
	// A stray blob nobody references, and an old temp file.
	old := time.Now().Add(-2 * time.Hour)
	stray, _, _ := s.putBlob(strings.NewReader("stray"))
	os.Chtimes(filepath.Join(s.ArtifactDir(), stray[:2], stray), old, old)
	tmp := filepath.Join(s.ArtifactDir(), "tmp", "blob-123")
	os.WriteFile(tmp, []byte("partial"), 0o644)
	os.Chtimes(tmp, old, old)
	ownPath, _ := s.ArtifactPath(own.SHA256)
	os.Chtimes(ownPath, old, old)

	rep, err := s.GC(time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(rep.Runs, []string{gone.ID()}) || rep.Blobs != 2 || rep.TempFiles != 1 || rep.BlobBytes != int64(len("stray")+len("only in the deleted run")) {
		t.Errorf("GC report %+v", rep)
	}
	if _, err := s.ArtifactPath(shared.SHA256); err != nil {
		t.Errorf("GC removed a blob still referenced: %v", err)
	}
	if _, err := s.ArtifactPath(own.SHA256); !errors.Is(err, ErrNotFound) {
		t.Errorf("GC kept an unreferenced blob: %v", err)
	}
	if _, err := s.GetRun(gone.ID()); !errors.Is(err, ErrNotFound) {
		t.Errorf("purged run still there: %v", err)
	}
	var n int
	s.DB().QueryRow(`SELECT (SELECT COUNT(*) FROM params) + (SELECT COUNT(*) FROM metrics) + (SELECT COUNT(*) FROM latest_metrics)`).Scan(&n)
	if n != 0 {
		t.Errorf("%d child rows of the purged run remain", n)
	}
	// A recent unreferenced blob is spared (a writer may be about to record it).
	fresh, _, _ := s.putBlob(strings.NewReader("fresh"))
	if rep, _ := s.GC(time.Hour); rep.Blobs != 0 {
		t.Errorf("GC removed a fresh blob")
	}
	if _, err := s.ArtifactPath(fresh); err != nil {
		t.Error(err)
	}
}

func TestTimedFlushAndHeartbeat(t *testing.T) { eachBackend(t, testTimedFlushAndHeartbeat) }

func testTimedFlushAndHeartbeat(t *testing.T, be backend) {
	newStore := be.newStore
	s := newStore(t)
	r := startRun(t, s, "e", "timed", WithFlush(1000, 50*time.Millisecond), WithHeartbeat(50*time.Millisecond, 3))
	defer r.End(nil)
	r.LogMetric("m", 0, 42)
	other, err := Open(s.Path()) // another connection pool, as another process would have
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	deadline := time.Now().Add(5 * time.Second)
	for {
		h, _ := other.History(r.ID(), "m")
		if len(h) == 1 && h[0].Value == 42 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the timed flush never wrote the point")
		}
		time.Sleep(10 * time.Millisecond)
	}
	first, _ := other.GetRun(r.ID())
	time.Sleep(300 * time.Millisecond)
	later, _ := other.GetRun(r.ID())
	if !later.Heartbeat.After(first.Heartbeat) || later.Status != StatusRunning {
		t.Errorf("heartbeat did not advance: %v -> %v (%s)", first.Heartbeat, later.Heartbeat, later.Status)
	}
}

func TestStaleRunMarkedKilled(t *testing.T) { eachBackend(t, testStaleRunMarkedKilled) }

func testStaleRunMarkedKilled(t *testing.T, be backend) {
	path := be.newLocation(t)
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	r := startRun(t, s, "e", "abandoned", WithHeartbeat(20*time.Millisecond, 3))
	// Simulate the process dying: stop the heartbeat goroutine without ending the run.
	close(r.stop)
	<-r.done
	time.Sleep(150 * time.Millisecond)
	ro, err := OpenReadOnly(path)
	if err != nil {
		t.Fatal(err)
	}
	if ri, _ := ro.GetRun(r.ID()); ri.Status != StatusKilled || ri.End.IsZero() || !strings.Contains(ri.Error, "no heartbeat") {
		t.Errorf("read-only view of a stale run: %+v", ri)
	}
	var raw string
	ro.DB().QueryRow(`SELECT status FROM runs`).Scan(&raw)
	if raw != StatusRunning {
		t.Errorf("a read-only store rewrote the status to %s", raw)
	}
	ro.Close()
	if runs, err := s.Search("status = 'KILLED'", "", 0); err != nil || len(runs) != 1 {
		t.Errorf("Search did not mark the run KILLED: %v %v", runs, err)
	}
	s.DB().QueryRow(`SELECT status FROM runs`).Scan(&raw)
	if raw != StatusKilled {
		t.Errorf("status stored as %s after Search", raw)
	}
	s.Close()
}

// v1Fixture creates a database with the v1 schema (the first migration, as shipped) and v1 data.
func v1Fixture(t *testing.T, path string) {
	db, err := sql.Open("sqlite3", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	stmts := []string{
		migrations[0],
		`PRAGMA user_version = 1`,
		`INSERT INTO experiments (id, name, created_ms) VALUES (1, 'old', 1000)`,
		`INSERT INTO runs (rid, id, experiment_id, name, status, start_ms, end_ms, error)
			VALUES (1, '11111111-1111-4111-8111-111111111111', 1, 'done', 'FINISHED', 1000, 5000, '')`,
		`INSERT INTO runs (rid, id, experiment_id, name, status, start_ms) VALUES (2, '22222222-2222-4222-8222-222222222222', 1, 'orphan', 'RUNNING', 2000)`,
		`INSERT INTO params (run, key, value) VALUES (1, 'loss', 'gram')`,
		`INSERT INTO tags (run, key, value) VALUES (1, 't', 'v')`,
		`INSERT INTO metrics (run, key, step, value, nonfinite, wall_ms) VALUES
			(1, 'style_loss', 0, 3.0, 0, 1100), (1, 'style_loss', 1, 2.0, 0, 1200), (1, 'style_loss', 2, NULL, 1, 1300),
			(1, 'content_loss', 0, 7.0, 0, 1100), (1, 'content_loss', 1, 6.5, 0, 1200)`,
		`INSERT INTO artifacts (run, name, media_type, sha256, size, created_ms) VALUES (1, 'a.txt', 'text/plain', 'ab', 1, 1000)`,
	}
	for _, q := range stmts {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
}

func TestMigrationFromV1(t *testing.T) {
	path := filepath.Join(t.TempDir(), "old.db")
	v1Fixture(t, path)
	if _, err := OpenReadOnly(path); err == nil || !strings.Contains(err.Error(), "needs migrating") {
		t.Errorf("OpenReadOnly of a v1 database: %v", err)
	}
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var v int
	s.DB().QueryRow("PRAGMA user_version").Scan(&v)
	if v != SchemaVersion {
		t.Fatalf("user_version %d after migration", v)
	}
	done, err := s.GetRun("11111111")
	if err != nil {
		t.Fatal(err)
	}
	if done.Status != StatusFinished || done.Params["loss"] != "gram" || done.Tags["t"] != "v" ||
		!done.Start.Equal(time.UnixMilli(1000)) || !done.End.Equal(time.UnixMilli(5000)) || !done.Heartbeat.Equal(time.UnixMilli(5000)) {
		t.Errorf("migrated run: %+v", done)
	}
	// latest_metrics was derived from the v1 history: the value at the highest step.
	if !math.IsNaN(done.Latest["style_loss"]) || done.Latest["content_loss"] != 6.5 || len(done.Latest) != 2 {
		t.Errorf("latest after migration: %v", done.Latest)
	}
	if h, _ := s.History(done.ID, "style_loss"); len(h) != 3 || h[1].Value != 2 {
		t.Errorf("history after migration: %v", h)
	}
	if a, _ := s.Artifacts(done.ID); len(a) != 1 || a[0].Name != "a.txt" {
		t.Errorf("artifacts after migration: %v", a)
	}
	// A v1 RUNNING run has no heartbeat but its start, long ago: it is dead.
	if orphan, _ := s.GetRun("22222222"); orphan.Status != StatusKilled {
		t.Errorf("v1 RUNNING run after migration: %+v", orphan)
	}
	// The migrated database takes new runs, and opening again is a no-op.
	r := startRun(t, s, "old", "new")
	r.LogMetric("style_loss", 0, 1)
	r.End(nil)
	s2, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	s2.Close()
	if runs, _ := s.Search("experiment = 'old'", "", 0); len(runs) != 3 {
		t.Errorf("%d runs after migration", len(runs))
	}
}

func TestNewerSchemaRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "new.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	s.DB().Exec(fmt.Sprintf("PRAGMA user_version = %d", SchemaVersion+1))
	s.Close()
	for name, open := range map[string]func(string) (*Store, error){"Open": Open, "OpenReadOnly": OpenReadOnly} {
		_, err := open(path)
		if !errors.Is(err, ErrNewerSchema) || !strings.Contains(err.Error(), "upgrade stylelab") ||
			!strings.Contains(err.Error(), fmt.Sprint("version ", SchemaVersion+1)) {
			t.Errorf("%s of a newer database: %v", name, err)
		}
	}
}

func TestReadOnlyDatabaseFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ro.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	r := startRun(t, s, "e", "x")
	r.LogMetric("m", 0, 1)
	r.End(nil)
	s.Close()
	if err := os.Chmod(path, 0o444); err != nil {
		t.Fatal(err)
	}
	defer os.Chmod(path, 0o644)
	_, err = Open(path)
	if !errors.Is(err, ErrReadOnly) || !strings.Contains(err.Error(), "chmod u+w") || !strings.Contains(err.Error(), path) {
		t.Errorf("Open of a read-only file: %v", err)
	}
	ro, err := OpenReadOnly(path)
	if err != nil {
		t.Fatalf("OpenReadOnly of a read-only file: %v", err)
	}
	defer ro.Close()
	if runs, err := ro.Search("", "", 0); err != nil || len(runs) != 1 || runs[0].Latest["m"] != 1 {
		t.Errorf("reading a read-only file: %v %v", runs, err)
	}
	if _, err := ro.StartRun("e", "y"); !errors.Is(err, ErrReadOnly) {
		t.Errorf("StartRun on a read-only store: %v", err)
	}
	if _, err := ro.Delete(runsID(t, ro), true); !errors.Is(err, ErrReadOnly) {
		t.Errorf("Delete on a read-only store: %v", err)
	}
}

func runsID(t *testing.T, s *Store) string {
	runs, err := s.Search("", "", 1)
	if err != nil || len(runs) == 0 {
		t.Fatal(runs, err)
	}
	return runs[0].ID
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := OpenReadOnly(filepath.Join(dir, "missing.db")); !errors.Is(err, ErrNotFound) {
		t.Errorf("OpenReadOnly of a missing file: %v", err)
	}
	if _, err := Open(dir); err == nil || !strings.Contains(err.Error(), "is a folder") {
		t.Errorf("Open of a folder: %v", err)
	}
	junk := filepath.Join(dir, "junk.db")
	os.WriteFile(junk, []byte(strings.Repeat("not a database ", 100)), 0o644)
	if _, err := Open(junk); err == nil || !strings.Contains(err.Error(), "not an SQLite database") {
		t.Errorf("Open of a junk file: %v", err)
	}
	other := filepath.Join(dir, "other.db")
	db, _ := sql.Open("sqlite3", other)
	db.Exec("CREATE TABLE x (a)")
	db.Close()
	if _, err := Open(other); err == nil || !strings.Contains(err.Error(), "not a stylelab one") {
		t.Errorf("Open of another application's database: %v", err)
	}
	weird := filepath.Join(dir, "we?ird #name%.db")
	s, err := Open(weird)
	if err != nil {
		t.Fatalf("path with URI characters: %v", err)
	}
	s.Close()
	if _, err := os.Stat(weird); err != nil {
		t.Errorf("database not created at the literal path: %v", err)
	}
}

func TestAutomaticProvenance(t *testing.T) { eachBackend(t, testAutomaticProvenance) }

func testAutomaticProvenance(t *testing.T, be backend) {
	newStore := be.newStore
	s := newStore(t)
	r, err := s.StartRun("e", "prov", WithProvenanceOptions(provenance.Options{Dir: t.TempDir()}))
	if err != nil {
		t.Fatal(err)
	}
	r.End(nil)
	ri, _ := s.GetRun(r.ID())
	for _, k := range []string{"provenance.go_version", "provenance.host", "provenance.os", "provenance.cores", "provenance.command_line", "provenance.git"} {
		if ri.Tags[k] == "" {
			t.Errorf("tag %s missing: %v", k, ri.Tags)
		}
	}
	a, err := s.FindArtifact(r.ID(), "provenance.json")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := s.ReadArtifact(a.SHA256)
	var rec provenance.Record
	if err := json.Unmarshal(b, &rec); err != nil || rec.GoVersion == "" {
		t.Errorf("provenance.json: %v %s", err, b)
	}
	// A caller-filled record with a git diff stores the diff as an artifact.
	rec2 := provenance.Record{Backend: "go", Git: &provenance.Git{Commit: "abc", Dirty: true, Diff: "diff --git a/x b/x\n+1\n"}}
	rec2.SetSeed(3)
	r2, err := s.StartRun("e", "prov2", WithProvenance(rec2))
	if err != nil {
		t.Fatal(err)
	}
	r2.End(nil)
	d, err := s.FindArtifact(r2.ID(), "git.diff")
	if err != nil || d.MediaType != "text/x-diff" {
		t.Fatalf("git.diff: %+v %v", d, err)
	}
	if b, _ := s.ReadArtifact(d.SHA256); string(b) != rec2.Git.Diff {
		t.Errorf("diff artifact %q", b)
	}
	if ri, _ := s.GetRun(r2.ID()); ri.Tags["provenance.seed"] != "3" || ri.Tags["provenance.git.dirty"] != "true" || ri.Tags["provenance.backend"] != "go" {
		t.Errorf("tags %v", ri.Tags)
	}
}
