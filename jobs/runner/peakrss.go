package runner

import (
	"bufio"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// Peak resident memory of a run, recorded on every run as tag PeakRSSTag (bytes; jobs/studies shows it as
// cost/peak_rss_mb) with PeakRSSScopeTag saying what it covers.
const (
	PeakRSSTag      = "peak_rss_bytes"
	PeakRSSScopeTag = "peak_rss_scope"
)

// peakRSSStart begins measuring a run's peak resident memory: it resets the process's high-water mark
// (writing 5 to /proc/self/clear_refs, Linux ≥ 4.0) so that VmHWM at the end covers this run alone. It returns
// the scope of the figure peakRSSTags will record: "run" after a reset, "process" when the mark could not be
// reset (then the figure is the process's peak since it started: in a long-lived process such as a notebook
// kernel, possibly an earlier run's).
func peakRSSStart() string {
	if err := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0); err != nil {
		return "process"
	}
	return "run"
}

// peakRSS returns the peak resident memory in bytes: VmHWM from /proc/self/status, else getrusage's maxrss
// (kilobytes on Linux); 0 when neither can be read.
func peakRSS() int64 {
	if f, err := os.Open("/proc/self/status"); err == nil {
		defer f.Close()
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
				if fs := strings.Fields(v); len(fs) > 0 {
					if kb, err := strconv.ParseInt(fs[0], 10, 64); err == nil {
						return kb * 1024
					}
				}
			}
		}
	}
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) == nil && ru.Maxrss > 0 {
		return int64(ru.Maxrss) * 1024
	}
	return 0
}

// peakRSSTags adds the run's peak resident memory to tags (nothing when it cannot be read).
func peakRSSTags(tags map[string]string, scope string) {
	if b := peakRSS(); b > 0 {
		tags[PeakRSSTag], tags[PeakRSSScopeTag] = strconv.FormatInt(b, 10), scope
	}
}
