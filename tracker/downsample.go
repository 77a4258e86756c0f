package tracker

import (
	"math"
	"slices"
	"sort"
)

// DefaultMaxPoints is the per-series cap Downsample uses when given max <= 0.
const DefaultMaxPoints = 1000

// Downsample reduces each series (one per run or metric, sorted by step) to at most max points for
// plotting (max <= 0 means DefaultMaxPoints; values below 8 count as 8). Series already within max are
// returned unchanged. A longer series keeps:
//
//   - the points at K = max−5 evenly spaced steps of a grid shared by all series: the sorted union of the
//     distinct steps of the series being reduced, sampled at indices round(j·(U−1)/(K−1)), j = 0…K−1,
//     each series taking its first point at or after each grid step (so runs logging the same steps keep
//     the same steps);
//   - its first and last points, its smallest and largest finite values, and its first NaN/±Inf point
//     (so spikes and divergences stay visible).
//
// The result shares no slices with the input for reduced series; unchanged series are the input slices.
func Downsample(series map[string][]Point, max int) map[string][]Point {
	if max <= 0 {
		max = DefaultMaxPoints
	}
	max = int(math.Max(float64(max), 8))
	out := make(map[string][]Point, len(series))
	var long []string
	for name, pts := range series {
		if !sort.SliceIsSorted(pts, func(i, j int) bool { return pts[i].Step < pts[j].Step }) {
			pts = slices.Clone(pts)
			sort.SliceStable(pts, func(i, j int) bool { return pts[i].Step < pts[j].Step })
		}
		out[name] = pts
		if len(pts) > max {
			long = append(long, name)
		}
	}
	if len(long) == 0 {
		return out
	}
	// The shared grid: evenly spaced entries of the union of steps of the series to reduce.
	var union []int64
	for _, name := range long {
		for _, p := range out[name] {
			union = append(union, p.Step)
		}
	}
	slices.Sort(union)
	union = slices.Compact(union)
	k := max - 5
	grid := make([]int64, 0, k)
	for j := 0; j < k; j++ {
		idx := int(math.Round(float64(j) * float64(len(union)-1) / float64(k-1)))
		if len(grid) == 0 || grid[len(grid)-1] != union[idx] {
			grid = append(grid, union[idx])
		}
	}
	for _, name := range long {
		pts := out[name]
		keep := make([]int, 0, max)
		for _, g := range grid {
			i := sort.Search(len(pts), func(i int) bool { return pts[i].Step >= g })
			if i < len(pts) {
				keep = append(keep, i)
			}
		}
		lo, hi, bad := -1, -1, -1
		for i, p := range pts {
			switch {
			case math.IsNaN(p.Value) || math.IsInf(p.Value, 0):
				if bad < 0 {
					bad = i
				}
			default:
				if lo < 0 || p.Value < pts[lo].Value {
					lo = i
				}
				if hi < 0 || p.Value > pts[hi].Value {
					hi = i
				}
			}
		}
		keep = append(keep, 0, len(pts)-1)
		for _, i := range []int{lo, hi, bad} {
			if i >= 0 {
				keep = append(keep, i)
			}
		}
		slices.Sort(keep)
		keep = slices.Compact(keep)
		reduced := make([]Point, len(keep))
		for j, i := range keep {
			reduced[j] = pts[i]
		}
		out[name] = reduced
	}
	return out
}
