package nbui

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/stylelab/stylelab/tracker"
)

// Notebook charts read like the dashboard's: losses first and on a log axis (they span decades), counters
// such as evals_total last and linear.
func TestChartsGroupedWithLogLosses(t *testing.T) {
	st, err := tracker.Open(filepath.Join(t.TempDir(), "runs.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var ids []string
	for _, name := range []string{"a", "b"} {
		run, err := st.StartRun("nb", name, tracker.WithoutProvenance())
		if err != nil {
			t.Fatal(err)
		}
		for step := int64(0); step < 4; step++ {
			run.LogMetrics(step, map[string]float64{"evals_total": float64(step + 1), "total": 0.4 / float64(1+10*step), "style": 0.3 / float64(1+step)})
		}
		var none error
		run.End(&none)
		ids = append(ids, run.ID())
	}
	b := textMode(t)
	if err := OverlayRuns(st, ids, nil); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	if len(lines) != 3 || !strings.Contains(lines[0], `"total"`) || !strings.HasSuffix(lines[0], "(log y)") ||
		!strings.Contains(lines[1], `"style"`) || !strings.Contains(lines[2], `"evals_total"`) || strings.Contains(lines[2], "log") {
		t.Errorf("overlay charts, want total (log), style (log), evals_total (linear) in that order:\n%s", b)
	}
	b.Reset()
	if err := RunChart(st, ids[0]); err != nil {
		t.Fatal(err)
	}
	if out := b.String(); strings.Count(out, "chart ") != 2 || !strings.Contains(strings.Split(out, "\n")[0], "(log y)") {
		t.Errorf("run chart, want a log loss chart, then a counters chart:\n%s", out)
	}
}
