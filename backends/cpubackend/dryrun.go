package cpubackend

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/shapes"
)

// Dry runs: a run's memory told before it is spent.
//
// Between BeginDryRun and DryRun.End, every computation this package compiles is compiled for real (graph,
// pruning, liveness, storage plan, memory estimate) and recorded with the verdict of the memory check — the
// *MemoryError Compile would have returned — but is not refused; executing it computes nothing and returns
// zero-filled outputs of its output shapes. A caller can so drive a whole run's code (building every graph it
// needs for its first step with the real shapes) and read what each computation would need, without spending
// the memory or the time. Executables compiled before BeginDryRun (the backend's self-test) run for real, and
// so does a dry-compiled one executed after End.

// Compiled is one computation compiled during a dry run.
type Compiled struct {
	Name   string
	Memory MemoryEstimate
	// Image is the largest rank-4 [B,H,W,C] parameter (the images or activations whose size and batch the
	// memory grows with); nil when there is none.
	Image []int
	// Refusal is the error Compile would have returned outside a dry run (nil: it fits). Available and Source
	// are filled either way.
	Refusal   *MemoryError
	Available int64
	Source    string
}

// DryRun collects the computations compiled while it is active.
type DryRun struct {
	mu       sync.Mutex
	compiled []Compiled
}

var activeDryRun atomic.Pointer[DryRun]

// BeginDryRun starts a dry run for the whole process (one at a time: a second is an error).
func BeginDryRun() (*DryRun, error) {
	d := &DryRun{}
	if !activeDryRun.CompareAndSwap(nil, d) {
		return nil, errors.New("cpu backend: a dry run is already active in this process")
	}
	return d, nil
}

// End stops the dry run and returns what was compiled, in compile order.
func (d *DryRun) End() []Compiled {
	activeDryRun.CompareAndSwap(d, nil)
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]Compiled(nil), d.compiled...)
}

func (d *DryRun) record(c Compiled) {
	d.mu.Lock()
	d.compiled = append(d.compiled, c)
	d.mu.Unlock()
}

// largestImage returns the dimensions of the [B,H,W,C] parameter the memory grows with: the largest rank-4
// parameter with at most 4 channels (an image batch), else the largest other rank-4 parameter that is not a
// convolution kernel held in a variable (a "var:" parameter [k,k,Cin,Cout] with k ≤ 11); nil when none.
func (e *Executable) largestImage() []int {
	var img, other []int
	bigger := func(p *node, than []int) bool {
		return than == nil || p.shape.Size() > shapes.Make(p.shape.DType, than...).Size()
	}
	for _, p := range e.params {
		d := p.shape.Dimensions
		switch {
		case p.shape.Rank() != 4:
		case d[3] <= 4:
			if bigger(p, img) {
				img = d
			}
		case strings.HasPrefix(p.data.(paramData).name, "var:") && d[0] == d[1] && d[0] <= 11:
		default:
			if bigger(p, other) {
				other = d
			}
		}
	}
	if img != nil {
		return img
	}
	return other
}

// dryCompile records e in the active dry run d: the memory check's verdict, never a refusal.
func (e *Executable) dryCompile(d *DryRun) {
	e.dryRun = d
	c := Compiled{Name: e.name, Memory: e.memory, Image: e.largestImage()}
	// The storage a dry run keeps for reuse was never written, so it is not resident: the process's peak is its
	// RSS now plus the peak (a real run's RSS includes that storage, which Compile's formula subtracts).
	if rss, err := procStatus("VmRSS"); err == nil {
		c.Memory.ProcessBytes = rss + e.memory.PeakBytes
	}
	c.Refusal = e.memoryVerdict()
	if avail, src, ok := AvailableMemory(); ok {
		pooled := e.backend.pool.held() + e.backend.arenas.held()
		c.Available, c.Source = avail+pooled, src+pooledNote(pooled)
	} else {
		c.Available = -1
	}
	if c.Refusal != nil {
		c.Available, c.Source = c.Refusal.Available, c.Refusal.Source
	}
	d.record(c)
}

// dryExecute returns zero-filled outputs when e was compiled by the dry run still active (ok false otherwise:
// execute for real).
func (e *Executable) dryExecute() (outs []backends.Buffer, ok bool) {
	if e.dryRun == nil || activeDryRun.Load() != e.dryRun {
		return nil, false
	}
	// What a real execution does to the storage the backend keeps (the arena it takes and gives back, the
	// pooled storage it recycles), replayed with storage that is never written, so that the computations
	// compiled next see the pool a real run would leave them: the check counts it as available.
	if e.plan.arenaBytes > 0 {
		e.backend.arenas.put(e.backend.arenas.get(e.plan.arenaBytes))
	}
	e.simulate(&memSim{free: map[poolKey]int{}, pool: e.backend.pool, taken: map[poolKey][]any{}})
	outs = make([]backends.Buffer, len(e.outputs))
	for i, o := range e.outputs {
		outs[i] = newBuffer(o.shape)
	}
	return outs, true
}

// EnvMemoryLimit caps the memory the check counts as available: STYLELAB_MEMORY_LIMIT=8GB (or 512MB, or a
// number of bytes) makes the check behave as if at most that much were free (when the machine has less, the
// less counts). For sharing a machine, and for tests of the refusal.
const EnvMemoryLimit = "STYLELAB_MEMORY_LIMIT"

// parseBytes reads "123", "512MB", "8GB", "1.5GiB", "64k" (powers of 1024).
func parseBytes(s string) (int64, error) {
	t := strings.ToUpper(strings.TrimSpace(s))
	mult := int64(1)
	for _, u := range []struct {
		suf string
		m   int64
	}{{"GIB", 1 << 30}, {"MIB", 1 << 20}, {"KIB", 1 << 10}, {"GB", 1 << 30}, {"MB", 1 << 20}, {"KB", 1 << 10}, {"G", 1 << 30}, {"M", 1 << 20}, {"K", 1 << 10}, {"B", 1}} {
		if strings.HasSuffix(t, u.suf) {
			t, mult = strings.TrimSpace(strings.TrimSuffix(t, u.suf)), u.m
			break
		}
	}
	v, err := strconv.ParseFloat(t, 64)
	if err != nil || v < 0 || v != v {
		return 0, fmt.Errorf("%s=%q is not a size: give bytes or e.g. 512MB, 8GB", EnvMemoryLimit, s)
	}
	return int64(v * float64(mult)), nil
}

// AvailableMemory returns the bytes this process may still allocate and where that figure comes from:
// MemAvailable in /proc/meminfo, the cgroup's limit less its usage when that is less, and STYLELAB_MEMORY_LIMIT
// when set and less; ok is false when none can be read. A malformed STYLELAB_MEMORY_LIMIT counts as 0 bytes
// with the parse error as its source, so that the refusal names it.
func AvailableMemory() (bytes int64, source string, ok bool) {
	bytes, source, ok = availableMemory()
	if s := os.Getenv(EnvMemoryLimit); s != "" {
		lim, err := parseBytes(s)
		if err != nil {
			return 0, err.Error(), true
		}
		if !ok || lim < bytes {
			bytes, source, ok = lim, fmt.Sprintf("%s=%s", EnvMemoryLimit, s), true
		}
	}
	return bytes, source, ok
}
