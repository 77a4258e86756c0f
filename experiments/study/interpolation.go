package study

import (
	"fmt"
	"math"
)

// Interpolation smoothness (issue #17, feed-forward arms): a CIN net mixes two styles A and B with weights
// (1−t, t) at t = 0, 1/(n−1), …, 1 (n = 5 in a study); the judge's style distance of each output to A should
// grow along the path and its distance to B shrink. A path is monotone in direction dir (+1 non-decreasing,
// −1 non-increasing, 0 either) when every step d[i+1] − d[i] has that sign up to a tolerance:
//
//	dir = +1:  d[i+1] − d[i] ≥ −tol·s  for every i,    s = max_i |d[i]|
//
// (tol is relative to the path's largest magnitude, so float32 rounding of equal distances is not a reversal;
// tol = 0 asks for exact monotonicity). A path needs at least 2 finite values.

// Monotone reports whether path d is monotone in direction dir (see above).
func Monotone(d []float64, dir int, tol float64) (bool, error) {
	if len(d) < 2 {
		return false, fmt.Errorf("study: an interpolation path needs at least 2 points, got %d", len(d))
	}
	if tol < 0 || math.IsNaN(tol) {
		return false, fmt.Errorf("study: monotonicity tolerance %v must be ≥ 0", tol)
	}
	s := 0.0
	for i, v := range d {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return false, fmt.Errorf("study: interpolation path point %d is %v: judge the outputs again", i, v)
		}
		s = math.Max(s, math.Abs(v))
	}
	slack := tol * s
	up, down := true, true
	for i := 0; i+1 < len(d); i++ {
		step := d[i+1] - d[i]
		if step < -slack {
			up = false
		}
		if step > slack {
			down = false
		}
	}
	switch {
	case dir > 0:
		return up, nil
	case dir < 0:
		return down, nil
	default:
		return up || down, nil
	}
}

// MonotoneFraction is the fraction of paths that are Monotone in direction dir, with the count; an empty list
// is an error (no fraction of nothing).
func MonotoneFraction(paths [][]float64, dir int, tol float64) (frac float64, monotone int, err error) {
	if len(paths) == 0 {
		return 0, 0, fmt.Errorf("study: no interpolation path to judge")
	}
	for i, p := range paths {
		ok, err := Monotone(p, dir, tol)
		if err != nil {
			return 0, 0, fmt.Errorf("path %d: %w", i, err)
		}
		if ok {
			monotone++
		}
	}
	return float64(monotone) / float64(len(paths)), monotone, nil
}
