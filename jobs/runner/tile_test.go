package runner

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stylelab/stylelab/experiments/gatys"
	"github.com/stylelab/stylelab/tracker"
)

// A tiled run records its tiling (param tile, tags tile/halo/passes/tiles) and reruns bit for bit.
func TestTiledRunRecordedAndRerunIdentical(t *testing.T) {
	if testing.Short() {
		t.Skip("optimisation runs: skipped with -short")
	}
	dir := t.TempDir()
	st := openStore(t)
	sp := tinySpec(t, dir)
	sp.Optimise.Size, sp.Optimise.Tile = 64, "16"
	sp.Output = filepath.Join(dir, "o.png")
	out, err := Run(sp, Options{Store: st})
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.GetRun(out.RunID)
	if err != nil {
		t.Fatal(err)
	}
	if info.Params["tile"] != "16" || info.Tags["tile"] != "16" || info.Tags["tile.halo"] != "16" || info.Tags["tile.passes"] != "2" || info.Tags["tile.tiles"] == "" {
		t.Fatalf("tiling not recorded: param %q, tags %v", info.Params["tile"], info.Tags)
	}
	v, err := Rerun(st, out.RunID, RerunOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if v.Verdict != Identical {
		t.Fatalf("rerun of a tiled run: %s", v.Summary())
	}
}

// An interrupt in the middle of a tiled step stops there: the run is KILLED with the image of the last completed
// step as its output (the image of step 1 of the same run untiled-step-for-step: compared with a run of 1 step).
func TestTiledRunInterruptedMidStepKeepsLastImage(t *testing.T) {
	if testing.Short() {
		t.Skip("optimisation runs: skipped with -short")
	}
	dir := t.TempDir()
	st := openStore(t)
	sp := tinySpec(t, dir)
	sp.Optimise.Size, sp.Optimise.Tile = 64, "16"
	sp.Output = filepath.Join(dir, "o.png")
	ctx, cancel := context.WithCancelCause(context.Background())
	out, err := Run(sp, Options{Store: st, Context: ctx, OnTile: func(r gatys.TileReport) {
		if r.Step == 3 && r.Pass == 2 && r.Tile == 2 { // computing step 3: steps 0 and 1 reported
			cancel(&Interrupted{Step: -1})
		}
	}})
	var in *Interrupted
	if !errors.As(err, &in) || in.Step != 1 {
		t.Fatalf("error %v (interrupted %+v), want an interruption after step 1", err, in)
	}
	info, _ := st.GetRun(out.RunID)
	if info.Status != tracker.StatusKilled {
		t.Fatalf("status %s", info.Status)
	}
	// The same run for 1 step gives the image kept.
	one := tinySpec(t, t.TempDir())
	one.Optimise.Size, one.Optimise.Tile, one.Optimise.Steps = 64, "16", 1
	ref, err := Run(one, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if string(ref.OutputPNG) != string(out.OutputPNG) {
		t.Fatal("the image kept is not the image of the last completed step")
	}
	if b, err := os.ReadFile(sp.Output); err != nil || string(b) != string(out.OutputPNG) {
		t.Fatalf("output file not written with the kept image: %v", err)
	}
}

// A tile below the halo is refused before the run starts: no run recorded, nothing written.
func TestTileRefusedBeforeTheRun(t *testing.T) {
	dir := t.TempDir()
	st := openStore(t)
	sp := tinySpec(t, dir)
	sp.Optimise.Size, sp.Optimise.Tile = 64, "8"
	sp.Output = filepath.Join(dir, "o.png")
	_, err := Run(sp, Options{Store: st})
	if err == nil || !strings.Contains(err.Error(), "minimum tile") || !strings.Contains(err.Error(), "16") {
		t.Fatalf("tile 8: %v", err)
	}
	if _, err := os.Stat(sp.Output); err == nil {
		t.Fatal("output written")
	}
	runs, err := st.Search("", "", 0)
	if err == nil && len(runs) != 0 {
		t.Fatalf("%d runs recorded", len(runs))
	}
}
