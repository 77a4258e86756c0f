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
			cmd := exec.Command(stylelabBin, "run", "--spec", specFile, "--out", out, "--db", db)
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
			// Wait until the optimisation is well under way (past the compilation of step 1): the progress line of
			// step 20 (progress is printed every 10% of the steps when stderr is not a terminal).
			sc := bufio.NewScanner(stderr)
			var log strings.Builder
			for sc.Scan() {
				log.WriteString(sc.Text() + "\n")
				if strings.HasPrefix(sc.Text(), "step 20/") {
					break
				}
			}
			go func() { // keep draining stderr
				for sc.Scan() {
					log.WriteString(sc.Text() + "\n")
				}
			}()
			sent := time.Now()
			if err := cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			var werr error
			select {
			case werr = <-done:
			case <-time.After(10 * time.Second):
				t.Fatalf("still running 10 s after %v; stderr:\n%s", sig, log.String())
			}
			took := time.Since(sent)
			var ee *exec.ExitError
			if !errors.As(werr, &ee) || ee.ExitCode() != 128+int(sig) {
				t.Fatalf("exit %v, want %d; stderr:\n%s", werr, 128+int(sig), log.String())
			}
			if took > 2*time.Second {
				t.Errorf("took %v after %v to stop, want ≤ 2 s", took, sig)
			}
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
			runs, err := st.SearchRuns(tracker.Query{Limit: 10})
			if err != nil || len(runs) != 1 {
				t.Fatalf("runs %v, %v", runs, err)
			}
			r := runs[0]
			name := map[syscall.Signal]string{syscall.SIGINT: "SIGINT", syscall.SIGTERM: "SIGTERM"}[sig]
			if r.Status != tracker.StatusKilled || !strings.Contains(r.Error, "interrupted by "+name) {
				t.Fatalf("run %s %q, want KILLED interrupted by %s", r.Status, r.Error, name)
			}
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
		})
	}
}
