package runner

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stylelab/stylelab/experiments/gatys"
	"github.com/stylelab/stylelab/tracker"
)

// TestPostgresLostMidRunStillWritesImage stops the PostgreSQL server after the first step of a run: the
// metric write retries (bounded) and fails, the optimisation goes on, the output image is written, and
// Run returns an error saying the run is not fully recorded, wrapping tracker.ErrUnavailable.
func TestPostgresLostMidRunStillWritesImage(t *testing.T) {
	if testing.Short() {
		t.Skip("optimisation runs: skipped with -short")
	}
	srv, url := openPostgres(t)
	t.Setenv("STYLELAB_ARTIFACTS", t.TempDir())
	st, err := tracker.Open(url)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	dir := t.TempDir()
	sp := tinySpec(t, dir)
	sp.Output = filepath.Join(dir, "out", "o.png")
	killed := false
	out, err := Run(sp, Options{Store: st,
		RunOptions: []tracker.RunOption{tracker.WithFlush(1, time.Hour), tracker.WithRetry(500 * time.Millisecond)},
		OnStep: func(r gatys.StepReport) {
			if r.Step == 1 && !killed {
				killed = true
				if err := srv.Kill(); err != nil {
					t.Error(err)
				}
			}
		}})
	if err == nil || !errors.Is(err, tracker.ErrUnavailable) || !strings.Contains(err.Error(), "output image is still written") {
		t.Fatalf("Run with the server gone: %v", err)
	}
	if out == nil || out.RunID == "" {
		t.Fatalf("outcome %+v", out)
	}
	if fi, err := os.Stat(sp.Output); err != nil || fi.Size() == 0 {
		t.Errorf("output image not written: %v", err)
	}
}
