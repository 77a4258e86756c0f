package dashboard

import (
	"container/list"
	"sync"

	"github.com/stylelab/stylelab/tracker"
)

// DefaultCachePoints bounds the history cache: 2,000,000 points, about 80 MB.
const DefaultCachePoints = 2_000_000

// cachedStore is the Store with a least-recently-used cache of the metric histories of ended runs
// (FINISHED or FAILED: End has flushed every point and nothing more can be logged to them). Reading rows
// is most of the cost of a comparison page (SQLite hands rows to Go one cgo call at a time, ~2 µs each), so
// a revisited comparison is served from memory. Histories of RUNNING or KILLED runs are always read afresh.
type cachedStore struct {
	Store
	mu    sync.Mutex
	max   int // points
	n     int
	lru   *list.List // of *cacheEntry, most recent first
	items map[[2]string]*list.Element
	ended map[string]bool // run ids known to be FINISHED or FAILED
}

type cacheEntry struct {
	key [2]string
	pts []tracker.Point
}

func newCachedStore(st Store, maxPoints int) *cachedStore {
	return &cachedStore{Store: st, max: maxPoints, lru: list.New(), items: map[[2]string]*list.Element{}, ended: map[string]bool{}}
}

// History returns the run's metric history, from the cache when the run has ended and it was read before.
// The returned slice is shared: callers must not modify it.
func (c *cachedStore) History(runID, key string) ([]tracker.Point, error) {
	if c.max <= 0 {
		return c.Store.History(runID, key)
	}
	k := [2]string{runID, key}
	c.mu.Lock()
	if e, ok := c.items[k]; ok {
		c.lru.MoveToFront(e)
		pts := e.Value.(*cacheEntry).pts
		c.mu.Unlock()
		return pts, nil
	}
	ended := c.ended[runID]
	c.mu.Unlock()
	if !ended {
		// The status must be read before the rows: a run seen ended has all its points committed.
		ri, err := c.Store.GetRun(runID)
		if err != nil {
			return nil, err
		}
		ended = ri.ID == runID && (ri.Status == tracker.StatusFinished || ri.Status == tracker.StatusFailed)
	}
	pts, err := c.Store.History(runID, key)
	if err != nil || !ended || len(pts) > c.max {
		return pts, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.ended[runID] = true
	if _, ok := c.items[k]; !ok {
		c.items[k] = c.lru.PushFront(&cacheEntry{k, pts})
		c.n += len(pts)
		for c.n > c.max {
			e := c.lru.Back()
			old := e.Value.(*cacheEntry)
			c.lru.Remove(e)
			delete(c.items, old.key)
			c.n -= len(old.pts)
		}
	}
	return pts, nil
}
