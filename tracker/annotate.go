package tracker

import (
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
)

// TagAnnotated lists (comma-separated, sorted) the metric keys Annotate added to a run after it ran, so that a
// comparison of a run with its rerun leaves them out (AnnotatedKeys): they score the run, they are not its work.
const TagAnnotated = "annotated.metrics"

// AnnotatedKeys returns the metric keys a run's TagAnnotated lists.
func AnnotatedKeys(ri *RunInfo) map[string]bool {
	out := map[string]bool{}
	if ri == nil || ri.Tags[TagAnnotated] == "" {
		return out
	}
	for _, k := range strings.Split(ri.Tags[TagAnnotated], ",") {
		out[k] = true
	}
	return out
}

// Annotate adds metric points at step and tags to a run that may have ended, leaving its status, times and
// params as they are: scores computed after a run, such as a study's judge panel (judge/… metrics, written by
// each evaluation at its own step so that a later evaluation with another judge adds points instead of
// overwriting them). Points are written in one transaction like a Run's (a point at the same key and step
// replaces the earlier one; the latest value is what filters and order-by see). Keys are checked as for a
// Run; a read-only store or an unknown run is an error and writes nothing. The keys are listed in the run's
// TagAnnotated tag.
func (s *Store) Annotate(runID string, step int64, metrics map[string]float64, tags map[string]string) error {
	if s.readOnly {
		return fmt.Errorf("cannot annotate run %s: store %s was opened %w", runID, s.path, ErrReadOnly)
	}
	for k := range metrics {
		if err := checkKey("metric name", k); err != nil {
			return err
		}
	}
	for k := range tags {
		if err := checkKey("tag name", k); err != nil {
			return err
		}
	}
	rid, id, err := s.resolve(runID)
	if err != nil {
		return err
	}
	ri, err := s.GetRun(id)
	if err != nil {
		return err
	}
	r := &Run{s: s, id: id, rid: rid, cfg: runConfig{retryFor: DefaultRetry}}
	keys := make([]string, 0, len(metrics))
	for k := range metrics {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	now := nowMs()
	batch := make([]point, 0, len(keys))
	for _, k := range keys {
		batch = append(batch, point{key: k, step: step, value: metrics[k], wall: now})
	}
	if len(batch) > 0 {
		if err := r.writeBatchRetrying(batch); err != nil {
			return fmt.Errorf("annotating run %s: %w", id, err)
		}
	}
	if len(metrics) > 0 {
		known := AnnotatedKeys(ri)
		for k := range metrics {
			known[k] = true
		}
		all := slices.Sorted(maps.Keys(known))
		tags = maps.Clone(tags)
		if tags == nil {
			tags = map[string]string{}
		}
		tags[TagAnnotated] = strings.Join(all, ",")
	}
	if len(tags) == 0 {
		return nil
	}
	return s.write(func(tx *txn) error {
		for k, v := range tags {
			if _, err := tx.Exec(`INSERT INTO tags (run, key, value) VALUES (?, ?, ?)
				ON CONFLICT (run, key) DO UPDATE SET value = excluded.value`, rid, k, v); err != nil {
				return err
			}
		}
		return nil
	})
}
