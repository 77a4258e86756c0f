package main

import (
	"bufio"
	"bytes"
	"errors"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stylelab/stylelab/tracker"
)

// A `stylelab run` that receives SIGINT or SIGTERM stops at the next step boundary: within 2 s it has written the
// last good image (to --out and as the run's output.png), marked the run KILLED with the reason, and exited
// 130 or 143.
func TestRunSignalledIsKilledWithItsImage(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: end-to-end optimisation")
	}
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		t.Run(sig.String(), func(t *testing.T) {
			dir := t.TempDir()
			db, out := filepath.Join(dir, "runs.db"), filepath.Join(dir, "o.png")
			// A partial spec (the other fields take their defaults): a network cut at relu1_1 keeps every step
			// short, so the step boundary after the signal comes well within the 2 s even on a loaded machine.
			abs := func(p string) string { a, _ := filepath.Abs(p); return a }
			specFile := filepath.Join(dir, "spec.json")
			doc := `{"version": 2, "kind": "optimise", "inputs": {"content": {"path": "` + abs(testContent) +
				`"}, "styles": [{"path": "` + abs(testStyle) + `"}]}, "optimise": {"size": 32, "steps": 200,
				"content_layers": ["relu1_1"], "style_layers": ["relu1_1"]}}`
			if err := os.WriteFile(specFile, []byte(doc), 0o644); err != nil {
				t.Fatal(err)
			}
			took, log := signalAtStep20(t, exec.Command(stylelabBin, "run", "--spec", specFile, "--out", out, "--db", db), sig)
			b, err := os.ReadFile(out)
			if err != nil {
				t.Fatalf("the last good image was not written: %v", err)
			}
			if _, err := png.Decode(bytes.NewReader(b)); err != nil {
				t.Fatalf("output is not a PNG: %v", err)
			}
			st, err := tracker.Open(db)
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			r, name := killedRun(t, st, "", sig, "")
			a, err := st.FindArtifact(r.ID, "output.png")
			if err != nil {
				t.Fatal(err)
			}
			stored, err := st.ReadArtifact(a.SHA256)
			if err != nil || !bytes.Equal(stored, b) {
				t.Fatalf("output.png artifact differs from the written image (%v)", err)
			}
			total, err := st.History(r.ID, "total")
			if err != nil || len(total) < 2 {
				t.Fatalf("%d steps logged (%v), want several", len(total), err)
			}
			t.Logf("%v: stopped in %v after %d steps: %s", sig, took.Round(time.Millisecond), len(total)-1, r.Error)

			// `stylelab rerun` of that (KILLED) run stops the same way: the new run, tagged rerun.of, is KILLED
			// with its output.png, and the process exits 128+signal within 2 s.
			took, log = signalAtStep20(t, exec.Command(stylelabBin, "rerun", r.ID, "--db", db), sig)
			rr, _ := killedRun(t, st, "tags.`rerun.of` = '"+r.ID+"'", sig, log)
			if _, err := st.FindArtifact(rr.ID, "output.png"); err != nil {
				t.Fatalf("the interrupted rerun kept no output.png: %v", err)
			}
			if !strings.Contains(log, "interrupted by "+name) {
				t.Errorf("stderr does not say the rerun was interrupted:\n%s", log)
			}
			t.Logf("rerun, %v: stopped in %v: %s", sig, took.Round(time.Millisecond), rr.Error)
		})
	}
}

// killedRun returns the one run matching filter ("" for all runs) and the signal's name, after checking that the
// run is KILLED with "interrupted by SIG…" (log: the process's stderr, shown on failure).
func killedRun(t *testing.T, st *tracker.Store, filter string, sig syscall.Signal, log string) (tracker.RunInfo, string) {
	t.Helper()
	runs, err := st.SearchRuns(tracker.Query{Limit: 10, Filter: filter})
	if err != nil || len(runs) != 1 {
		t.Fatalf("runs %q: %v, %v; stderr:\n%s", filter, runs, err, log)
	}
	r := runs[0]
	name := map[syscall.Signal]string{syscall.SIGINT: "SIGINT", syscall.SIGTERM: "SIGTERM"}[sig]
	if r.Status != tracker.StatusKilled || !strings.Contains(r.Error, "interrupted by "+name) {
		t.Fatalf("run %s (%q) %s %q, want KILLED interrupted by %s", r.ID, filter, r.Status, r.Error, name)
	}
	return r, name
}

// signalAtStep20 starts cmd (a run or rerun of 200 steps), sends sig once the progress line of step 20 is printed
// (well past the compilation of step 1; progress is printed every 10% of the steps when stderr is not a
// terminal), and checks that the process exits 128+sig within 2 s. It returns the time taken and the stderr.
func signalAtStep20(t *testing.T, cmd *exec.Cmd, sig syscall.Signal) (time.Duration, string) {
	t.Helper()
	var stdout bytes.Buffer
	cmd.Stdout = &stdout
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	sc := bufio.NewScanner(stderr)
	var mu sync.Mutex
	var log strings.Builder
	logged := func() string { mu.Lock(); defer mu.Unlock(); return log.String() }
	for sc.Scan() {
		log.WriteString(sc.Text() + "\n")
		if strings.HasPrefix(sc.Text(), "step 20/") {
			break
		}
	}
	drained := make(chan struct{})
	go func() { // keep draining stderr
		defer close(drained)
		for sc.Scan() {
			mu.Lock()
			log.WriteString(sc.Text() + "\n")
			mu.Unlock()
		}
	}()
	sent := time.Now()
	if err := cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { <-drained; done <- cmd.Wait() }()
	var werr error
	select {
	case werr = <-done:
	case <-time.After(10 * time.Second):
		t.Fatalf("%v: still running 10 s after %v; stderr:\n%s", cmd.Args[1], sig, logged())
	}
	took := time.Since(sent)
	var ee *exec.ExitError
	if !errors.As(werr, &ee) || ee.ExitCode() != 128+int(sig) {
		t.Fatalf("%v: exit %v, want %d; stdout:\n%s\nstderr:\n%s", cmd.Args[1], werr, 128+int(sig), stdout.String(), logged())
	}
	if took > 2*time.Second {
		t.Errorf("%v took %v after %v to stop, want ≤ 2 s", cmd.Args[1], took, sig)
	}
	return took, logged()
}
