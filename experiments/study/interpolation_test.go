package study

import (
	"math"
	"testing"
)

func TestMonotone(t *testing.T) {
	for _, c := range []struct {
		d        []float64
		dir      int
		tol      float64
		want     bool
		whyWrong string
	}{
		{[]float64{1, 2, 2, 3, 5}, +1, 0, true, "non-decreasing with a tie"},
		{[]float64{1, 2, 2, 3, 5}, -1, 0, false, "increasing is not decreasing"},
		{[]float64{1, 2, 2, 3, 5}, 0, 0, true, "either direction"},
		{[]float64{5, 3, 3.0001, 1, 0}, -1, 0, false, "a reversal of 1e-4"},
		{[]float64{5, 3, 3.0001, 1, 0}, -1, 1e-4, true, "1e-4 ≤ 1e-4·5 is within tolerance"},
		{[]float64{5, 3, 3.001, 1, 0}, -1, 1e-4, false, "1e-3 > 5e-4 is a reversal"},
		{[]float64{1, 3, 2, 4, 5}, 0, 0, false, "up, down, up"},
	} {
		got, err := Monotone(c.d, c.dir, c.tol)
		if err != nil || got != c.want {
			t.Errorf("Monotone(%v, %d, %g) = %v, %v; want %v (%s)", c.d, c.dir, c.tol, got, err, c.want, c.whyWrong)
		}
	}
	frac, n, err := MonotoneFraction([][]float64{{0, 1, 2, 3, 4}, {0, 2, 1, 3, 4}, {0, 0, 0, 0, 0}, {4, 3, 2, 1, 0}}, +1, 0)
	if err != nil || n != 2 || frac != 0.5 {
		t.Errorf("MonotoneFraction = %v, %d, %v; want 0.5, 2", frac, n, err)
	}
	for _, bad := range [][][]float64{nil, {{1}}, {{1, 2}, {1, math.NaN()}}} {
		if _, _, err := MonotoneFraction(bad, +1, 0); err == nil {
			t.Errorf("MonotoneFraction(%v) accepted", bad)
		}
	}
	if _, err := Monotone([]float64{1, 2}, 1, -1); err == nil {
		t.Error("a negative tolerance accepted")
	}
}
