package main

import (
	"math"
	"testing"
	"time"

	"github.com/stylelab/stylelab/tracker/format"
)

// TestCLIUsesTheOneFormatter: the runs commands write values and durations as package format does (and so
// as the dashboard and the notebooks do). The CLI's own fmtDuration once wrote 59.96 s as "60.0s".
func TestCLIUsesTheOneFormatter(t *testing.T) {
	for _, v := range []float64{math.NaN(), math.Inf(1), math.Inf(-1), 1e-12, 1e12, 1.0 / 3} {
		if got, want := fmtValue(v), format.Value(v); got != want {
			t.Errorf("fmtValue(%v) = %q, want %q", v, got, want)
		}
	}
	for _, d := range []time.Duration{-time.Second, 999600 * time.Microsecond, 59960 * time.Millisecond, 90 * time.Minute} {
		if got, want := fmtDuration(d), format.Duration(d); got != want {
			t.Errorf("fmtDuration(%v) = %q, want %q", d, got, want)
		}
	}
}
