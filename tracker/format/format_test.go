package format

import (
	"math"
	"strconv"
	"testing"
	"time"
)

func TestValue(t *testing.T) {
	tenth := 0.1 // a variable: constant 0.1 + 0.2 is exactly 0.3
	for _, c := range []struct {
		v     float64
		value string
		exact string
	}{
		{math.Inf(1), "Infinity", "Infinity"},
		{math.Inf(-1), "-Infinity", "-Infinity"},
		{math.NaN(), "NaN", "NaN"},
		{1e-12, "1e-12", "1e-12"},
		{1e12, "1e+12", "1e+12"},
		{-1.23456789e-12, "-1.235e-12", "-1.23456789e-12"},
		{123456.7, "1.235e+05", "123456.7"},
		{tenth + 0.2, "0.3", "0.30000000000000004"},
		{0.00012346, "0.0001235", "0.00012346"},
		{1234, "1234", "1234"},
		{0, "0", "0"},
		{math.Copysign(0, -1), "-0", "-0"},
		{math.MaxFloat64, "1.798e+308", "1.7976931348623157e+308"},
		{5e-324, "4.941e-324", "5e-324"},
	} {
		if got := Value(c.v); got != c.value {
			t.Errorf("Value(%v) = %q, want %q", c.v, got, c.value)
		}
		if got := Exact(c.v); got != c.exact {
			t.Errorf("Exact(%v) = %q, want %q", c.v, got, c.exact)
		}
		// Exact reads back as the same float64 (NaN as a NaN), spellings included.
		back, err := strconv.ParseFloat(Exact(c.v), 64)
		if err != nil || !(back == c.v || math.IsNaN(back) && math.IsNaN(c.v)) || math.Signbit(back) != math.Signbit(c.v) && !math.IsNaN(c.v) {
			t.Errorf("Exact(%v) = %q reads back as %v, %v", c.v, Exact(c.v), back, err)
		}
	}
}

func TestDuration(t *testing.T) {
	for _, c := range []struct {
		d    time.Duration
		want string
	}{
		{-time.Second, "-"},
		{0, "0ms"},
		{1499 * time.Microsecond, "1ms"},
		{1500 * time.Microsecond, "2ms"},
		{999 * time.Millisecond, "999ms"},
		{999600 * time.Microsecond, "1.0s"}, // rounds up into the next form
		{time.Second, "1.0s"},
		{12340 * time.Millisecond, "12.3s"},
		{12350 * time.Millisecond, "12.4s"},
		{59940 * time.Millisecond, "59.9s"},
		{59960 * time.Millisecond, "1m0s"},
		{time.Minute + 2500*time.Millisecond, "1m3s"},
		{time.Hour + 2*time.Minute + 3*time.Second + 400*time.Millisecond, "1h2m3s"},
		{49 * time.Hour, "49h0m0s"},
	} {
		if got := Duration(c.d); got != c.want {
			t.Errorf("Duration(%v) = %q, want %q", c.d, got, c.want)
		}
	}
}
