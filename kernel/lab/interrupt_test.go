package lab

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stylelab/stylelab/experiments/gatys"
	"github.com/stylelab/stylelab/jobs/runner"
	"github.com/stylelab/stylelab/kernel/setup"
	"github.com/stylelab/stylelab/tracker"
)

// TestHelperInterruptedCell is not a test: run by TestInterruptedCellIsKilled as the program of a notebook
// cell, it calls Stylise on a long optimisation and exits as a cell's program would.
func TestHelperInterruptedCell(t *testing.T) {
	if os.Getenv("STYLELAB_LAB_HELPER") != "1" {
		t.Skip("helper process of TestInterruptedCellIsKilled")
	}
	st, err := Open()
	if err != nil {
		fmt.Println(err)
		os.Exit(3)
	}
	cfg := gatys.DefaultConfig()
	cfg.Size, cfg.Steps = 32, 100000
	cfg.ContentLayers, cfg.StyleLayers = []string{"relu1_1"}, []string{"relu1_1"}
	_, err = Stylise(st, Spec{Experiment: "lab-interrupt", Name: "long", Content: "images/content/chelsea.jpg",
		Styles: []string{"images/style/vangogh_starry_night.jpg"}, Config: cfg})
	st.Close()
	var in *runner.Interrupted
	if errors.As(err, &in) {
		os.Exit(in.ExitCode())
	}
	fmt.Println("Stylise returned", err)
	os.Exit(4)
}

// An interrupted notebook cell — GoNB forwards Jupyter's interrupt to the cell's program as SIGINT, and kills it
// 5 s later — stops Stylise at the step boundary: the run is KILLED with the reason and its last image.
func TestInterruptedCellIsKilled(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: runs an optimisation")
	}
	root, _ := setup.FindRoot(".")
	db := filepath.Join(t.TempDir(), "nb.db")
	cmd := exec.Command(os.Args[0], "-test.run", "^TestHelperInterruptedCell$")
	cmd.Env = append(os.Environ(), "STYLELAB_LAB_HELPER=1", "STYLELAB_DB="+db, "STYLELAB_ROOT="+root, "STYLELAB_VGG_WEIGHTS=")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	// Wait until the run has logged a few steps.
	var st *tracker.Store
	var id string
	deadline := time.Now().Add(2 * time.Minute)
	for id == "" {
		if time.Now().After(deadline) {
			t.Fatal("the helper's run never logged 5 steps")
		}
		select {
		case err := <-done:
			t.Fatalf("the helper ended early: %v", err)
		case <-time.After(200 * time.Millisecond):
		}
		if st == nil {
			if _, err := os.Stat(db); err != nil {
				continue
			}
			var err error
			if st, err = tracker.OpenReadOnly(db); err != nil {
				st = nil
				continue
			}
			defer st.Close()
		}
		runs, err := st.SearchRuns(tracker.Query{Limit: 1})
		if err != nil || len(runs) == 0 {
			continue
		}
		if n, _ := st.PointCount(runs[0].ID, "total"); n >= 5 {
			id = runs[0].ID
		}
	}
	sent := time.Now()
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	var err error
	select {
	case err = <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("the cell's program was still running 5 s after SIGINT (GoNB would SIGKILL it now)")
	}
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 130 {
		t.Fatalf("helper exit %v, want 130 (Stylise returned *runner.Interrupted)", err)
	}
	t.Logf("stopped %v after SIGINT", time.Since(sent).Round(time.Millisecond))
	ri, err := st.GetRun(id)
	if err != nil {
		t.Fatal(err)
	}
	if ri.Status != tracker.StatusKilled || ri.Error == "" {
		t.Fatalf("run %s %q, want KILLED with the reason", ri.Status, ri.Error)
	}
	if _, err := Output(st, id); err != nil {
		t.Fatalf("no output image recorded: %v", err)
	}
}
