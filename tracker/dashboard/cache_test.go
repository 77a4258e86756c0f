package dashboard

import (
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/stylelab/stylelab/tracker"
)

// countingStore counts History calls that reach the store.
type countingStore struct {
	Store
	n atomic.Int64
}

func (c *countingStore) History(runID, key string) ([]tracker.Point, error) {
	c.n.Add(1)
	return c.Store.History(runID, key)
}

func TestHistoryCache(t *testing.T) {
	path := filepath.Join(t.TempDir(), "stylelab.db")
	w, err := tracker.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	ended, err := w.StartRun("c", "ended", tracker.WithoutProvenance())
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 10; i++ {
		ended.LogMetric("m", int64(i), float64(i))
	}
	ended.End(nil)
	live, err := w.StartRun("c", "live", tracker.WithoutProvenance())
	if err != nil {
		t.Fatal(err)
	}
	defer live.End(nil)
	live.LogMetric("m", 0, 1)
	if err := live.Flush(); err != nil {
		t.Fatal(err)
	}

	ro, err := tracker.OpenReadOnly(path)
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	cs := &countingStore{Store: ro}
	c := newCachedStore(cs, 15)

	// An ended run is read once, then served from memory.
	for i := 0; i < 3; i++ {
		pts, err := c.History(ended.ID(), "m")
		if err != nil || len(pts) != 10 {
			t.Fatalf("ended history: %d points, %v", len(pts), err)
		}
	}
	if n := cs.n.Load(); n != 1 {
		t.Errorf("ended run read %d times from the store, want 1", n)
	}
	// A running run is always read afresh: new points show up.
	pts, _ := c.History(live.ID(), "m")
	live.LogMetric("m", 1, 2)
	live.Flush()
	pts2, _ := c.History(live.ID(), "m")
	if len(pts) != 1 || len(pts2) != 2 {
		t.Errorf("running run: %d then %d points, want 1 then 2 (no caching)", len(pts), len(pts2))
	}
	// The bound holds: a second ended series of 10 points evicts the first (15 points at most).
	other, _ := w.StartRun("c", "other", tracker.WithoutProvenance())
	for i := 0; i < 10; i++ {
		other.LogMetric("m", int64(i), 1)
	}
	other.End(nil)
	c.History(other.ID(), "m")
	if c.n > 15 || len(c.items) != 1 {
		t.Errorf("cache holds %d points in %d entries, bound is 15", c.n, len(c.items))
	}
	before := cs.n.Load()
	c.History(ended.ID(), "m")
	if cs.n.Load() != before+1 {
		t.Error("the evicted series must be read from the store again")
	}
}
