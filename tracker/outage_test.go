package tracker

import (
	"errors"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stylelab/stylelab/tracker/pgtest"
)

// TestPostgresUnreachableAtOpen: a server that does not answer is one clear error naming the URL without
// its password, and Open returns no store.
func TestPostgresUnreachableAtOpen(t *testing.T) {
	port, err := pgtest.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	url := "postgres://alice:s3cret-pw@127.0.0.1:" + itoa(port) + "/stylelab?sslmode=disable"
	for _, open := range []func(string) (*Store, error){Open, OpenReadOnly} {
		s, err := open(url)
		if err == nil {
			s.Close()
			t.Fatal("opened a database on a port nobody listens on")
		}
		msg := err.Error()
		if strings.Contains(msg, "s3cret-pw") || !strings.Contains(msg, "cannot reach PostgreSQL at postgres://alice:xxxxx@127.0.0.1:"+itoa(port)+"/stylelab") ||
			!strings.Contains(msg, "scripts/local-cluster.sh up") {
			t.Errorf("error %q: want the URL without the password and what to do", msg)
		}
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

// TestPostgresLostMidRun stops the package's server under a run (tests of this package run one at a time;
// the test restarts it before it ends, even when it fails): metric writes
// retry with backoff and then fail with ErrUnavailable, keeping every point buffered; when the server is
// back, the next flush writes them all, and a flush that starts during the outage succeeds once the server
// returns within the retry bound.
func TestPostgresLostMidRun(t *testing.T) {
	requirePostgres(t)
	srv := pgServer
	var down atomic.Bool
	defer func() {
		if down.Load() {
			srv.Restart()
		}
	}()
	url, err := srv.NewDatabase()
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("STYLELAB_ARTIFACTS", t.TempDir())
	s, err := Open(url)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	r := startRun(t, s, "e", "outage", WithFlush(100, time.Hour), WithRetry(1500*time.Millisecond))
	for i := int64(0); i < 100; i++ { // the 100th point flushes
		if err := r.LogMetric("loss", i, float64(i)); err != nil {
			t.Fatal(err)
		}
	}
	t0 := time.Now()
	down.Store(true)
	if err := srv.Kill(); err != nil {
		t.Fatal(err)
	}
	t.Logf("kill took %v", time.Since(t0))
	for i := int64(100); i < 199; i++ {
		if err := r.LogMetric("loss", i, float64(i)); err != nil {
			t.Fatal(err)
		}
	}
	start := time.Now()
	err = r.LogMetric("loss", 199, 199) // a full buffer: this write meets the outage
	took := time.Since(start)
	if !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "gave up after") {
		t.Fatalf("write during the outage: %v, want ErrUnavailable after retries", err)
	}
	if took < 1400*time.Millisecond || took > 10*time.Second {
		t.Errorf("the write gave up after %v, want about the 1.5 s retry bound", took)
	}
	if r.Pending() != 100 {
		t.Errorf("%d points buffered after the failed write, want 100", r.Pending())
	}
	// The server comes back while a flush is retrying (retry bound longer than the outage).
	r.cfg.retryFor = 30 * time.Second
	go func() {
		time.Sleep(700 * time.Millisecond)
		if err := srv.Restart(); err != nil {
			t.Error(err)
			return
		}
		down.Store(false)
	}()
	start = time.Now()
	if err := r.LogMetric("loss", 200, 200); err != nil { // a full buffer again: flushes, retrying
		t.Fatalf("flush across the restart: %v", err)
	}
	if r.Pending() != 0 {
		t.Errorf("%d points still buffered", r.Pending())
	}
	t.Logf("flush across the restart took %v", time.Since(start))
	if err := r.End(nil); err != nil {
		t.Fatal(err)
	}
	h, err := s.History(r.ID(), "loss")
	if err != nil || len(h) != 201 {
		t.Fatalf("history after the outage: %d points, %v", len(h), err)
	}
	for i, p := range h {
		if p.Step != int64(i) || p.Value != float64(i) {
			t.Fatalf("point %d = %+v", i, p)
		}
	}
	if ri, _ := s.GetRun(r.ID()); ri.Status != StatusFinished {
		t.Errorf("status %s", ri.Status)
	}
}
