package dashboard

import (
	"container/list"
	"strings"
	"sync"

	"github.com/stylelab/stylelab/tracker"
	"github.com/stylelab/stylelab/tracker/charts"
)

// DefaultCachePoints bounds the history cache: 2,000,000 points, about 80 MB.
const DefaultCachePoints = 2_000_000

// cachedStore is the Store with a least-recently-used cache of what pages read of ended runs (FINISHED or
// FAILED: End has flushed every point and nothing more can be logged to them): whole metric histories
// (History, the JSON API) and sampled ones (HistorySampled, the charts of the run and compare pages).
// Reading rows is most of the cost of a page (SQLite hands rows to Go one cgo call at a time, ~2 µs each),
// so a revisited page is served from memory. Anything of a RUNNING or KILLED run is always read afresh.
//
// cachedStore is a charts.SampledReader whatever the Store: when the Store cannot sample, whole histories
// are read (and cached) and reduced with tracker.Downsample.
type cachedStore struct {
	Store
	mu    sync.Mutex
	max   int // points
	n     int
	lru   *list.List // of *cacheEntry, most recent first
	items map[cacheKey]*list.Element
	ended map[string]bool // run ids known to be FINISHED or FAILED
}

// cacheKey names a History (max 0, one run) or a HistorySampled result (max > 0, runs in the order given).
type cacheKey struct {
	runs, key string
	max       int
}

type cacheEntry struct {
	key     cacheKey
	pts     []tracker.Point            // History
	sampled map[string][]tracker.Point // HistorySampled
	size    int                        // points held
}

func newCachedStore(st Store, maxPoints int) *cachedStore {
	return &cachedStore{Store: st, max: maxPoints, lru: list.New(), items: map[cacheKey]*list.Element{}, ended: map[string]bool{}}
}

func isEnded(ri *tracker.RunInfo) bool {
	return ri.Status == tracker.StatusFinished || ri.Status == tracker.StatusFailed
}

// GetRun is the Store's, noting runs that have ended (so that reading them later needs no status query).
func (c *cachedStore) GetRun(idOrPrefix string) (*tracker.RunInfo, error) {
	ri, err := c.Store.GetRun(idOrPrefix)
	if err == nil && isEnded(ri) {
		c.mu.Lock()
		c.ended[ri.ID] = true
		c.mu.Unlock()
	}
	return ri, err
}

// allEnded reports whether every run (by full id) has ended. The status is read before any row: a run
// seen ended has all its points committed.
func (c *cachedStore) allEnded(runIDs []string) (bool, error) {
	for _, id := range runIDs {
		c.mu.Lock()
		ended := c.ended[id]
		c.mu.Unlock()
		if ended {
			continue
		}
		ri, err := c.GetRun(id)
		if err != nil {
			return false, err
		}
		if ri.ID != id || !isEnded(ri) {
			return false, nil
		}
	}
	return true, nil
}

// lookup returns the cached entry for k, if any, and marks it recently used.
func (c *cachedStore) lookup(k cacheKey) (*cacheEntry, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.items[k]
	if !ok {
		return nil, false
	}
	c.lru.MoveToFront(e)
	return e.Value.(*cacheEntry), true
}

// store caches an entry (unless it alone exceeds the bound), evicting the least recently used ones.
func (c *cachedStore) store(ent *cacheEntry) {
	if ent.size > c.max {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.items[ent.key]; ok {
		return
	}
	c.items[ent.key] = c.lru.PushFront(ent)
	c.n += ent.size
	for c.n > c.max {
		e := c.lru.Back()
		old := e.Value.(*cacheEntry)
		c.lru.Remove(e)
		delete(c.items, old.key)
		c.n -= old.size
	}
}

// History returns the run's metric history, from the cache when the run has ended and it was read before.
// The returned slice is shared: callers must not modify it.
func (c *cachedStore) History(runID, key string) ([]tracker.Point, error) {
	if c.max <= 0 {
		return c.Store.History(runID, key)
	}
	k := cacheKey{runs: runID, key: key}
	if e, ok := c.lookup(k); ok {
		return e.pts, nil
	}
	ended, err := c.allEnded([]string{runID})
	if err != nil {
		return nil, err
	}
	pts, err := c.Store.History(runID, key)
	if err == nil && ended {
		c.store(&cacheEntry{key: k, pts: pts, size: len(pts)})
	}
	return pts, err
}

// HistorySampled returns the runs' histories of key reduced to at most max points on shared steps
// (charts.SampledReader): from the cache when every run has ended and the same runs were read before,
// else from the Store's HistorySampled, or from whole histories and tracker.Downsample when the Store
// cannot sample. max <= 0 means tracker.DefaultMaxPoints. The result is shared: do not modify it.
func (c *cachedStore) HistorySampled(runIDs []string, key string, max int) (map[string][]tracker.Point, error) {
	if max <= 0 {
		max = tracker.DefaultMaxPoints
	}
	if c.max <= 0 {
		return c.sample(runIDs, key, max)
	}
	k := cacheKey{runs: strings.Join(runIDs, ","), key: key, max: max}
	if e, ok := c.lookup(k); ok {
		return e.sampled, nil
	}
	ended, err := c.allEnded(runIDs)
	if err != nil {
		return nil, err
	}
	m, err := c.sample(runIDs, key, max)
	if err == nil && ended {
		size := 0
		for _, pts := range m {
			size += len(pts)
		}
		c.store(&cacheEntry{key: k, sampled: m, size: size})
	}
	return m, err
}

func (c *cachedStore) sample(runIDs []string, key string, max int) (map[string][]tracker.Point, error) {
	if sr, ok := c.Store.(charts.SampledReader); ok {
		return sr.HistorySampled(runIDs, key, max)
	}
	in := make(map[string][]tracker.Point, len(runIDs))
	for _, id := range runIDs {
		pts, err := c.History(id, key)
		if err != nil {
			return nil, err
		}
		in[id] = pts
	}
	return tracker.Downsample(in, max), nil
}

// pointCounter is a Store that counts a series' points without reading them (*tracker.Store).
type pointCounter interface {
	PointCount(runID, key string) (int64, error)
}

// PointCount is the number of points stored for the run's metric key: the Store's count when it has one,
// else the length of the (cached) history.
func (c *cachedStore) PointCount(runID, key string) (int64, error) {
	if pc, ok := c.Store.(pointCounter); ok {
		return pc.PointCount(runID, key)
	}
	pts, err := c.History(runID, key)
	return int64(len(pts)), err
}
