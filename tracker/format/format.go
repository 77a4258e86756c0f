// Package format writes metric values and durations for people and for files, the one way every surface
// shows them: the CLI (stylelab runs ls/show/diff/export), the dashboard and its compare report, and the
// notebook cards (kernel/nbui), so that one run reads the same everywhere. Charts draw their numbers in
// the browser (ECharts); their data go through Exact.
//
// Values:
//
//	Value(v)  display: 4 significant digits, %g style (0.0001235, 1.235e+05, 1e-12, 1e+12), "-0" kept
//	Exact(v)  files and JSON: the shortest decimal that reads back as the same float64
//	both      NaN → "NaN", +Inf → "Infinity", −Inf → "-Infinity" (strconv.ParseFloat, Python's float(),
//	          JavaScript's Number() and the run filter all read these spellings back)
//
// Durations (Duration):
//
//	d < 0          "-"        (unknown: the clock moved back, or no end)
//	d < 1 s        "123ms"    rounded to the millisecond
//	d < 1 min      "12.3s"    rounded to 0.1 s
//	otherwise      "1h2m3s"   rounded to the second (Go's time.Duration form)
//
// A value on a boundary after rounding takes the next form: 999.6 ms is "1.0s", 59.96 s is "1m0s".
package format

import (
	"math"
	"strconv"
	"time"
)

// Digits is the number of significant digits Value shows.
const Digits = 4

// Value writes a metric value for display: Digits significant digits, NaN and ±Inf spelled out.
func Value(v float64) string {
	if s, ok := nonFinite(v); ok {
		return s
	}
	return strconv.FormatFloat(v, 'g', Digits, 64)
}

// Exact writes a metric value for files and JSON: the shortest decimal that reads back as the same
// float64, NaN and ±Inf spelled out.
func Exact(v float64) string {
	if s, ok := nonFinite(v); ok {
		return s
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}

func nonFinite(v float64) (string, bool) {
	switch {
	case math.IsNaN(v):
		return "NaN", true
	case math.IsInf(v, 1):
		return "Infinity", true
	case math.IsInf(v, -1):
		return "-Infinity", true
	}
	return "", false
}

// Duration writes a run's (or a step's) duration for display, in the forms of the package comment.
func Duration(d time.Duration) string {
	switch {
	case d < 0:
		return "-"
	case d.Round(time.Millisecond) < time.Second:
		return strconv.FormatInt(d.Round(time.Millisecond).Milliseconds(), 10) + "ms"
	case d.Round(100*time.Millisecond) < time.Minute:
		return strconv.FormatFloat(d.Round(100*time.Millisecond).Seconds(), 'f', 1, 64) + "s"
	}
	return d.Round(time.Second).String()
}
