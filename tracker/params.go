package tracker

import (
	"maps"
	"slices"
)

// ParamKeys returns the sorted union of the param names of runs.
func ParamKeys(runs []RunInfo) []string {
	set := map[string]bool{}
	for _, r := range runs {
		for k := range r.Params {
			set[k] = true
		}
	}
	return slices.Sorted(maps.Keys(set))
}

// ParamDiffers reports whether param k has different values across runs, counting absence as a value.
func ParamDiffers(runs []RunInfo, k string) bool {
	for _, r := range runs[min(1, len(runs)):] {
		v, ok := r.Params[k]
		v0, ok0 := runs[0].Params[k]
		if ok != ok0 || v != v0 {
			return true
		}
	}
	return false
}

// DifferingParams returns the sorted names of the params that tell runs apart (ParamDiffers), or every param
// of a single run: what a table of runs should show as columns.
func DifferingParams(runs []RunInfo) []string {
	keys := ParamKeys(runs)
	if len(runs) == 1 {
		return keys
	}
	return slices.DeleteFunc(keys, func(k string) bool { return !ParamDiffers(runs, k) })
}
