package tracker

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Child processes: the test binary re-executes itself with helperEnv set, and TestMain runs the helper
// instead of the tests.
const helperEnv = "STYLELAB_TRACKER_HELPER"

func TestMain(m *testing.M) {
	if mode := os.Getenv(helperEnv); mode != "" {
		os.Exit(helperMain(mode))
	}
	stop := startPostgres()
	code := m.Run()
	stop()
	os.Exit(code)
}

func envInt(name string) int {
	n, err := strconv.Atoi(os.Getenv(name))
	if err != nil {
		panic(fmt.Sprintf("helper: %s=%q: %v", name, os.Getenv(name), err))
	}
	return n
}

// writerValue is the value writer w logs at step i, so that any mix-up between runs or steps shows.
func writerValue(w, i int) float64 { return float64(w)*1e6 + float64(i) + 0.25 }

// helperMain is a child process. Modes:
//
//	writer: log POINTS points of "loss" to run RUN_ID, calling Flush every FLUSH points and printing
//	        "committed N" after each; VICTIM=1 logs forever (sleeping 2 ms after each flush) until killed.
//	ingest: log POINTS points with the default batching and print the seconds it took.
func helperMain(mode string) int {
	if mode == "readonly" {
		return readOnlyHelper(os.Getenv("HELPER_DB"))
	}
	s, err := Open(os.Getenv("HELPER_DB"))
	if err != nil {
		fmt.Fprintln(os.Stderr, "open:", err)
		return 3
	}
	defer s.Close()
	w := envInt("HELPER_WRITER")
	points := envInt("HELPER_POINTS")
	switch mode {
	case "writer":
		hb := time.Duration(envInt("HELPER_HEARTBEAT_MS")) * time.Millisecond
		flushEvery := envInt("HELPER_FLUSH")
		victim := os.Getenv("HELPER_VICTIM") == "1"
		r, err := s.StartRun("concurrency", fmt.Sprintf("writer-%d", w), WithID(os.Getenv("HELPER_RUN_ID")),
			WithHeartbeat(hb, 3), WithoutProvenance())
		if err != nil {
			fmt.Fprintln(os.Stderr, "start:", err)
			return 3
		}
		for i := 0; victim || i < points; i++ {
			if err := r.LogMetric("loss", int64(i), writerValue(w, i)); err != nil {
				fmt.Fprintln(os.Stderr, "log:", err)
				return 4
			}
			if (i+1)%flushEvery == 0 {
				if err := r.Flush(); err != nil {
					fmt.Fprintln(os.Stderr, "flush:", err)
					return 4
				}
				fmt.Printf("committed %d\n", i+1)
				if victim {
					time.Sleep(2 * time.Millisecond)
				}
			}
		}
		var runErr error
		if err := r.End(&runErr); err != nil {
			fmt.Fprintln(os.Stderr, "end:", err)
			return 4
		}
		fmt.Printf("committed %d\ndone\n", points)
	case "ingest":
		r, err := s.StartRun("bench", fmt.Sprintf("ingest-%d", w), WithoutProvenance())
		if err != nil {
			fmt.Fprintln(os.Stderr, "start:", err)
			return 3
		}
		start := time.Now()
		for i := 0; i < points; i++ {
			if err := r.LogMetric("loss", int64(i), float64(i)); err != nil {
				fmt.Fprintln(os.Stderr, "log:", err)
				return 4
			}
		}
		if err := r.End(nil); err != nil {
			fmt.Fprintln(os.Stderr, "end:", err)
			return 4
		}
		fmt.Printf("seconds %f\n", time.Since(start).Seconds())
	default:
		fmt.Fprintln(os.Stderr, "unknown helper mode", mode)
		return 2
	}
	return 0
}

func helperCmd(mode string, env ...string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(append(os.Environ(), helperEnv+"="+mode), env...)
	return cmd
}

// TestConcurrentWritersSurviveSIGKILL runs 8 processes logging to one database; 7 log 10,000 points each
// and finish, the eighth logs until it is killed with SIGKILL mid-run. Every point a writer reported as
// committed must be there with its value, the database must pass PRAGMA integrity_check, the killed run
// must turn KILLED once its heartbeat is stale (and not before), and the others must be FINISHED.
func TestConcurrentWritersSurviveSIGKILL(t *testing.T) {
	eachBackend(t, testConcurrentWritersSurviveSIGKILL)
}

func testConcurrentWritersSurviveSIGKILL(t *testing.T, be backend) {
	const (
		writers   = 8
		points    = 10000
		flush     = 500
		victim    = 3
		killAfter = 3000 // committed points of the victim before it is killed
		heartbeat = 250 * time.Millisecond
		stale     = 3 * heartbeat
	)
	db := be.newLocation(t)
	s, err := Open(db)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()

	ids := make([]string, writers)
	cmds := make([]*exec.Cmd, writers)
	stderr := make([]*bytes.Buffer, writers)
	reported := make([]atomic.Int64, writers)
	killNow := make(chan struct{})
	var readers sync.WaitGroup
	for w := 0; w < writers; w++ {
		ids[w] = fmt.Sprintf("00000000-0000-4000-8000-%012d", w)
		env := []string{"HELPER_DB=" + db, "HELPER_RUN_ID=" + ids[w], fmt.Sprint("HELPER_WRITER=", w),
			fmt.Sprint("HELPER_POINTS=", points), fmt.Sprint("HELPER_FLUSH=", flush),
			fmt.Sprint("HELPER_HEARTBEAT_MS=", heartbeat.Milliseconds())}
		if w == victim {
			env = append(env, "HELPER_VICTIM=1")
		}
		cmd := helperCmd("writer", env...)
		stderr[w] = &bytes.Buffer{}
		cmd.Stderr = stderr[w]
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		cmds[w] = cmd
		readers.Add(1)
		go func(w int) {
			defer readers.Done()
			sc := bufio.NewScanner(out)
			signalled := false
			for sc.Scan() {
				n, ok := strings.CutPrefix(sc.Text(), "committed ")
				if !ok {
					continue
				}
				v, _ := strconv.ParseInt(n, 10, 64)
				reported[w].Store(v)
				if w == victim && v >= killAfter && !signalled {
					signalled = true
					close(killNow)
				}
			}
		}(w)
	}

	select {
	case <-killNow:
	case <-time.After(60 * time.Second):
		t.Fatalf("victim never reported %d committed points; stderr: %s", killAfter, stderr[victim])
	}
	if err := cmds[victim].Process.Kill(); err != nil { // SIGKILL on Unix
		t.Fatal(err)
	}
	killed := time.Now()
	// Right after the kill, the run is still RUNNING: its heartbeat is not stale yet.
	if ri, err := s.GetRun(ids[victim]); err != nil {
		t.Fatal(err)
	} else if time.Since(killed) < stale-heartbeat && ri.Status != StatusRunning {
		t.Errorf("victim %s %v after the kill, before its heartbeat went stale", ri.Status, time.Since(killed))
	}

	for w, cmd := range cmds {
		err := cmd.Wait()
		if w == victim {
			if err == nil || !strings.Contains(err.Error(), "killed") {
				t.Errorf("victim exited with %v, want killed", err)
			}
			continue
		}
		if err != nil {
			t.Errorf("writer %d: %v; stderr: %s", w, err, stderr[w])
		}
	}
	readers.Wait()

	// Poll until the victim is reaped; it must not happen before its last heartbeat went stale.
	var victimInfo *RunInfo
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if _, err := s.Search("", "", 0); err != nil { // Search reaps
			t.Fatal(err)
		}
		victimInfo, err = s.GetRun(ids[victim])
		if err != nil {
			t.Fatal(err)
		}
		if victimInfo.Status == StatusKilled {
			if since := time.Since(killed); since < stale-heartbeat-50*time.Millisecond {
				t.Errorf("victim marked KILLED %v after the kill, before its heartbeat (every %v, stale after %v) could be stale", since, heartbeat, stale)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("victim still %s 20 s after SIGKILL", victimInfo.Status)
		}
	}
	if !strings.Contains(victimInfo.Error, "no heartbeat") || victimInfo.End.IsZero() {
		t.Errorf("killed run: %+v", victimInfo)
	}
	s.Close()

	// A fresh open sees the same final state.
	s, err = Open(db)
	if err != nil {
		t.Fatal(err)
	}
	if rep, err := s.Check(); err != nil || !rep.OK() { // SQLite: PRAGMA integrity_check
		t.Fatalf("Check = %+v, %v", rep, err)
	}
	for w := 0; w < writers; w++ {
		ri, err := s.GetRun(ids[w])
		if err != nil {
			t.Fatal(err)
		}
		h, err := s.History(ids[w], "loss")
		if err != nil {
			t.Fatal(err)
		}
		rep := reported[w].Load()
		if int64(len(h)) < rep {
			t.Errorf("writer %d: %d points stored, %d reported committed", w, len(h), rep)
		}
		for i, p := range h {
			if p.Step != int64(i) || p.Value != writerValue(w, i) {
				t.Fatalf("writer %d point %d = %+v, want step %d value %v", w, i, p, i, writerValue(w, i))
			}
		}
		if w == victim {
			if ri.Status != StatusKilled || rep < killAfter {
				t.Errorf("victim: status %s, %d reported", ri.Status, rep)
			}
			t.Logf("victim: %d points reported committed, %d stored, killed after %v", rep, len(h), ri.End.Sub(ri.Start))
		} else if ri.Status != StatusFinished || len(h) != points || ri.Latest["loss"] != writerValue(w, points-1) {
			t.Errorf("writer %d: status %s, %d points, latest %v", w, ri.Status, len(h), ri.Latest["loss"])
		}
	}
	s.Close()
}

// BenchmarkIngest measures batched metric ingest by one writer (default batching: 1000 points a
// transaction); one op logs 10,000 points, and points/s is the rate including the final End.
func BenchmarkIngest(b *testing.B) {
	const points = 10000
	s := newStore(b)
	r, err := s.StartRun("bench", "ingest", WithoutProvenance())
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	step := int64(0)
	for n := 0; n < b.N; n++ {
		for i := 0; i < points; i++ {
			if err := r.LogMetric("loss", step, float64(step)); err != nil {
				b.Fatal(err)
			}
			step++
		}
	}
	if err := r.End(nil); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(step)/b.Elapsed().Seconds(), "points/s")
}

// BenchmarkIngest4Processes measures 4 processes logging 50,000 points each to one database at once;
// points/s counts all four together, process start-up included. It runs on SQLite and on PostgreSQL
// (the package's throwaway server: fsync off, so it measures the store's work, not the disk's).
func BenchmarkIngest4Processes(b *testing.B) {
	b.Run("sqlite", func(b *testing.B) { benchIngest4(b, sqliteBackend) })
	b.Run("postgres", func(b *testing.B) {
		requirePostgres(b)
		benchIngest4(b, postgresBackend)
	})
}

func benchIngest4(b *testing.B, be backend) {
	const procs, points = 4, 50000
	db := be.newLocation(b)
	s, err := Open(db)
	if err != nil {
		b.Fatal(err)
	}
	s.Close()
	b.ResetTimer()
	for n := 0; n < b.N; n++ {
		cmds := make([]*exec.Cmd, procs)
		for w := range cmds {
			cmds[w] = helperCmd("ingest", "HELPER_DB="+db, fmt.Sprint("HELPER_WRITER=", w), fmt.Sprint("HELPER_POINTS=", points))
			cmds[w].Stderr = os.Stderr
			if err := cmds[w].Start(); err != nil {
				b.Fatal(err)
			}
		}
		for _, c := range cmds {
			if err := c.Wait(); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(b.N*procs*points)/b.Elapsed().Seconds(), "points/s")
}
