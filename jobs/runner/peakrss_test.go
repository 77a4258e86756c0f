package runner

import (
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"testing"

	"github.com/stylelab/stylelab/tracker"
)

// TestPeakRSSReset: the high-water mark covers what was touched since peakRSSStart, not the process's earlier
// peak (300 MB touched and freed before the reset no longer count).
func TestPeakRSSReset(t *testing.T) {
	big := make([]byte, 300<<20)
	for i := range big {
		if i%4096 == 0 {
			big[i] = 1
		}
	}
	before := peakRSS()
	if before < 300<<20 {
		t.Fatalf("peak RSS %d after touching 300 MB", before)
	}
	runtime.KeepAlive(big)
	big = nil
	runtime.GC()
	debug.FreeOSMemory()
	if scope := peakRSSStart(); scope != "run" {
		t.Skipf("the high-water mark cannot be reset here (scope %q): the tag is then the process's peak", scope)
	}
	if after := peakRSS(); after > before-200<<20 {
		t.Errorf("peak RSS %d MB after the reset, %d MB before: the freed 300 MB still count", after>>20, before>>20)
	}
}

// TestRunRecordsPeakRSS: every recorded run gets its peak resident memory as tag peak_rss_bytes (what
// jobs/studies reads as cost/peak_rss_mb), with its scope.
func TestRunRecordsPeakRSS(t *testing.T) {
	if testing.Short() {
		t.Skip("an optimisation run: skipped with -short")
	}
	dir := t.TempDir()
	st := openStore(t)
	sp := tinySpec(t, dir)
	sp.Output = filepath.Join(dir, "o.png")
	out, err := Run(sp, Options{Store: st})
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.GetRun(out.RunID)
	if err != nil || info.Status != tracker.StatusFinished {
		t.Fatalf("run: %v %+v", err, info)
	}
	b, err := strconv.ParseInt(info.Tags[PeakRSSTag], 10, 64)
	// A VGG loss network and a 32² optimisation hold well over 20 MB; the figure is at most the process's peak.
	if err != nil || b < 20<<20 || b > peakRSS() {
		t.Errorf("tag %s = %q (%v); process peak now %d", PeakRSSTag, info.Tags[PeakRSSTag], err, peakRSS())
	}
	if s := info.Tags[PeakRSSScopeTag]; s != "run" && s != "process" {
		t.Errorf("tag %s = %q", PeakRSSScopeTag, s)
	}
}
