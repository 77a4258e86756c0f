package cpubackend

import (
	"runtime/debug"
	"slices"
	"sync"
	"unsafe"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
)

// The storage plan: Compile decides, once, where every value of an execution lives, so that an execution needs
// no more memory than its live values at their peak and allocates nothing in steady state.
//
//   - A view (Reshape, Identity, a no-op Transpose/Broadcast/Convert) shares its input's storage.
//   - An elementwise op whose same-sized input dies at it, with no other live value sharing that storage, writes
//     in place (it takes the input's storage). Values chained this way form one storage group.
//   - Every other group lives in the arena: one block of memory per execution, in which each group gets an
//     offset such that groups alive at the same step never overlap (greedy packing of [first def, last use]
//     intervals, largest first). Arenas are cached by the backend and reused by the next execution, of this or
//     any other computation that fits.
//   - Groups that reach an output are allocated apart (the pool) and handed to the caller; parameters and
//     constants keep their own storage (a donated parameter goes back to the pool after its last use).
//
// Ops still get scratch (patch blocks, transposed operands) from the pool while they run.

type planKind uint8

const (
	planPool  planKind = iota // pooled storage (outputs, or anything the plan does not place)
	planArena                 // the arena at off
	planSteal                 // the storage of input slot steal
	planView                  // shares its input's storage (the op returns a view itself)
)

type storagePlan struct {
	kind       []planKind // per node id
	steal      []int      // per node id, planSteal: the input slot
	off        []int64    // per node id, planArena: byte offset in the arena
	arenaBytes int64
}

// arenaAlign is the alignment of every value in the arena (bytes).
const arenaAlign = 64

// planStorage computes e's storage plan (after the schedule and last uses are known).
func (e *Executable) planStorage() storagePlan {
	p := storagePlan{kind: make([]planKind, e.numNodes), steal: make([]int, e.numNodes), off: make([]int64, e.numNodes)}
	group := make([]int, e.numNodes) // storage group of each value; −1: a parameter's or constant's storage
	for i := range group {
		group[i] = -1
	}
	type groupInfo struct {
		bytes      int64
		start, end int // schedule steps
		refs       int // live values using it (during the walk)
		external   bool
	}
	var groups []*groupInfo
	for step, n := range e.schedule {
		switch {
		case memView(n):
			p.kind[n.id] = planView
			group[n.id] = group[n.inputs[0].id]
			if n.inputs[0].op == backends.OpTypeConstant || n.inputs[0].op == backends.OpTypeParameter {
				group[n.id] = -1
			}
		default:
			g := -1
			for _, j := range memReusable(n) {
				if j >= len(n.inputs) {
					continue
				}
				in := n.inputs[j]
				gi := group[in.id]
				if in.op == backends.OpTypeConstant || in.op == backends.OpTypeParameter || gi < 0 {
					continue
				}
				if e.lastUse[in.id] == step && groups[gi].refs == 1 && in.shape.DType == n.shape.DType && in.shape.Size() == n.shape.Size() {
					g = gi
					p.kind[n.id], p.steal[n.id] = planSteal, j
					break
				}
			}
			if g < 0 {
				g = len(groups)
				groups = append(groups, &groupInfo{bytes: int64(n.shape.Memory()), start: step})
				p.kind[n.id] = planArena
			}
			group[n.id] = g
		}
		if g := group[n.id]; g >= 0 {
			groups[g].refs++
			groups[g].end = max(groups[g].end, e.lastUse[n.id])
		}
		seen := map[int]bool{}
		for _, in := range n.inputs {
			if e.lastUse[in.id] == step && !seen[in.id] && in.op != backends.OpTypeConstant {
				seen[in.id] = true
				if g := group[in.id]; g >= 0 {
					groups[g].refs--
				}
			}
		}
	}
	for _, o := range e.outputs {
		if g := group[o.id]; g >= 0 {
			groups[g].external = true
		}
	}
	// Pack the arena groups: largest first, each at the lowest aligned offset clear of the groups placed so far
	// whose lifetimes overlap its own.
	order := make([]int, 0, len(groups))
	for g, gi := range groups {
		if !gi.external && gi.bytes > 0 {
			order = append(order, g)
		}
	}
	slices.SortStableFunc(order, func(a, b int) int {
		if groups[a].bytes != groups[b].bytes {
			return int(groups[b].bytes - groups[a].bytes)
		}
		return groups[a].start - groups[b].start
	})
	offs := make([]int64, len(groups))
	type span struct{ lo, hi int64 }
	var placed []int
	for _, g := range order {
		gi := groups[g]
		size := (gi.bytes + arenaAlign - 1) / arenaAlign * arenaAlign
		var busy []span
		for _, h := range placed {
			if hi := groups[h]; hi.start <= gi.end && gi.start <= hi.end {
				busy = append(busy, span{offs[h], offs[h] + (hi.bytes+arenaAlign-1)/arenaAlign*arenaAlign})
			}
		}
		slices.SortFunc(busy, func(a, b span) int { return int(a.lo - b.lo) })
		var off int64
		for _, s := range busy {
			if off+size <= s.lo {
				break
			}
			off = max(off, s.hi)
		}
		offs[g] = off
		placed = append(placed, g)
		p.arenaBytes = max(p.arenaBytes, off+size)
	}
	for _, n := range e.schedule {
		g := group[n.id]
		switch {
		case p.kind[n.id] == planArena && groups[g].external, p.kind[n.id] == planArena && groups[g].bytes == 0:
			p.kind[n.id] = planPool
		case p.kind[n.id] == planSteal && groups[g].external:
			// Still in place: the output group is pooled storage from its first value on.
		case p.kind[n.id] == planArena:
			p.off[n.id] = offs[g]
		}
	}
	return p
}

// arenaCache keeps arenas between executions. get returns the smallest cached arena of at least the size asked;
// when none is large enough it drops the cached ones (all smaller: executions mostly run one after another, so
// one arena, the largest needed so far, serves every computation) and returns their memory to the operating
// system before allocating the new one, so that the old and the new are not resident together. put keeps an
// arena for reuse, dropping the smallest while the cache holds more than max(maxPoolBytes, its largest arena).
type arenaCache struct {
	mu   sync.Mutex
	free [][]uint64
}

func (c *arenaCache) get(bytes int64) []uint64 {
	words := int((bytes + 7) / 8)
	c.mu.Lock()
	best := -1
	for i, a := range c.free {
		if len(a) >= words && (best < 0 || len(a) < len(c.free[best])) {
			best = i
		}
	}
	if best >= 0 {
		a := c.free[best]
		c.free = slices.Delete(c.free, best, best+1)
		c.mu.Unlock()
		return a
	}
	dropped := 0
	for _, a := range c.free {
		dropped += len(a) * 8
	}
	c.free = nil
	c.mu.Unlock()
	if dropped >= 64<<20 {
		debug.FreeOSMemory()
	}
	return make([]uint64, words)
}

func (c *arenaCache) put(a []uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.free = append(c.free, a)
	slices.SortFunc(c.free, func(x, y []uint64) int { return len(x) - len(y) })
	total, largest := 0, len(c.free[len(c.free)-1])
	for _, f := range c.free {
		total += len(f)
	}
	for len(c.free) > 1 && int64(total)*8 > max(maxPoolBytes, int64(largest)*8) {
		total -= len(c.free[0])
		c.free = c.free[1:]
	}
}

// held returns the bytes of the cached arenas.
func (c *arenaCache) held() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	var n int64
	for _, f := range c.free {
		n += int64(len(f)) * 8
	}
	return n
}

func (c *arenaCache) clear() {
	c.mu.Lock()
	c.free = nil
	c.mu.Unlock()
}

// arenaSlice returns n values of dtype dt stored in the arena at byte offset off.
func arenaSlice(arena []uint64, off int64, dt dtypes.DType, n int) any {
	if n == 0 {
		return makeFlat(dt, 0)
	}
	p := unsafe.Add(unsafe.Pointer(unsafe.SliceData(arena)), off)
	switch dt {
	case dtypes.Float32:
		return unsafe.Slice((*float32)(p), n)
	case dtypes.Float64:
		return unsafe.Slice((*float64)(p), n)
	case dtypes.Int32:
		return unsafe.Slice((*int32)(p), n)
	case dtypes.Int64:
		return unsafe.Slice((*int64)(p), n)
	case dtypes.Bool:
		return unsafe.Slice((*bool)(p), n)
	case dtypes.Int8:
		return unsafe.Slice((*int8)(p), n)
	case dtypes.Int16:
		return unsafe.Slice((*int16)(p), n)
	case dtypes.Uint8:
		return unsafe.Slice((*uint8)(p), n)
	case dtypes.Uint16:
		return unsafe.Slice((*uint16)(p), n)
	case dtypes.Uint32:
		return unsafe.Slice((*uint32)(p), n)
	case dtypes.Uint64:
		return unsafe.Slice((*uint64)(p), n)
	}
	panic("cpu backend: no arena storage for dtype " + dt.String())
}
