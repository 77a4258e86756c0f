package runner

import (
	"maps"
	"math"
	"slices"
	"strings"

	"github.com/stylelab/stylelab/tracker"
)

// Change is one key whose value differs between two runs ("" where a run has no such key).
type Change struct {
	Key string `json:"key"`
	A   string `json:"a"`
	B   string `json:"b"`
}

// MetricChange is one metric's final (latest) value in each run, and B − A.
type MetricChange struct {
	Key   string        `json:"key"`
	A     tracker.Value `json:"a"`
	B     tracker.Value `json:"b"`
	Delta tracker.Value `json:"delta"`
}

// RunDiff is what differs between two runs: the resolved spec (as flattened params), the provenance (code,
// machine, inputs; the time, command line and host-specific paths included), and every final metric.
type RunDiff struct {
	A          string         `json:"a"`
	B          string         `json:"b"`
	Spec       []Change       `json:"spec"`
	Provenance []Change       `json:"provenance"`
	Metrics    []MetricChange `json:"metrics"`
}

// Diff compares two recorded runs. Spec and provenance list only differing keys; Metrics lists every metric
// either run has, with its final values.
func Diff(s *tracker.Store, a, b string) (*RunDiff, error) {
	ra, rb, err := twoRuns(s, a, b)
	if err != nil {
		return nil, err
	}
	d := &RunDiff{A: ra.ID, B: rb.ID, Spec: changes(ra.Params, rb.Params, nil)}
	d.Provenance = changes(ra.Tags, rb.Tags, func(k string) bool {
		// The provenance of when it ran always differs; the config repeats the spec.
		return strings.HasPrefix(k, "provenance.") && k != "provenance.time" && k != "provenance.config"
	})
	keys := map[string]bool{}
	for k := range ra.Latest {
		keys[k] = true
	}
	for k := range rb.Latest {
		keys[k] = true
	}
	for _, k := range slices.Sorted(maps.Keys(keys)) {
		va, okA := ra.Latest[k]
		vb, okB := rb.Latest[k]
		if !okA {
			va = math.NaN() // the run has no such metric
		}
		if !okB {
			vb = math.NaN()
		}
		d.Metrics = append(d.Metrics, MetricChange{Key: k, A: tracker.Value(va), B: tracker.Value(vb), Delta: tracker.Value(vb - va)})
	}
	return d, nil
}

func changes(a, b map[string]string, keep func(string) bool) []Change {
	keys := map[string]bool{}
	for k := range a {
		keys[k] = true
	}
	for k := range b {
		keys[k] = true
	}
	var out []Change
	for _, k := range slices.Sorted(maps.Keys(keys)) {
		if keep != nil && !keep(k) {
			continue
		}
		if a[k] != b[k] {
			out = append(out, Change{Key: k, A: a[k], B: b[k]})
		}
	}
	return out
}
