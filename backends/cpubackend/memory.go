package cpubackend

import (
	"bufio"
	"fmt"
	"math"
	"os"
	"reflect"
	"strconv"
	"strings"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/shapes"
)

// Memory: before a computation runs for the first time, Compile estimates the storage its executions need and
// refuses to compile one that cannot fit in the memory available, so that a run too large for the machine stops
// at once with the estimate, the limit and what would fit, instead of being killed by the kernel minutes later.
//
// The estimate follows the storage plan (plan.go): the execution's arena, plus a replay of the schedule for the
// storage outside it — outputs and other pooled values, op scratch (convolution patch blocks, transposed matmul
// operands, partial reductions) — on a model of the buffer pool (storage reused only for the same dtype and
// length, at most maxPoolBytes kept), over two executions (the first, which allocates, and one that reuses the
// first's storage). PeakBytes is the arena plus the peak of that storage and the pool's; the inputs and
// constants, which exist before the execution starts, are InputBytes.

// MemoryEstimate is what one Executable needs.
type MemoryEstimate struct {
	// PeakBytes is the most storage the executions hold at once beyond their inputs and constants: live values,
	// op scratch and the storage the buffer pool keeps for reuse.
	PeakBytes int64
	// LiveBytes is the most storage live values and scratch hold at once (PeakBytes without the pool).
	LiveBytes int64
	// ArenaBytes is the part of both held in the execution's arena (see plan.go).
	ArenaBytes int64
	// InputBytes is the storage of the parameters and constants.
	InputBytes int64
	// Largest is the largest single value (bytes) and its op, for the error message.
	Largest   int64
	LargestOp string
	// ProcessBytes is the peak resident memory predicted for the process while it runs this computation: its
	// RSS when the computation was compiled, less the storage the backend kept for reuse then (pool, arenas),
	// plus PeakBytes. 0 when /proc/self/status cannot be read.
	ProcessBytes int64
}

// memSim models the storage of executions: the bytes of live storage the execution allocated and the pool.
type memSim struct {
	free      map[poolKey]int
	poolBytes int64
	live      int64
	peak      int64
	peakLive  int64
	// pool, when set, is the real pool the replay also acts on (a dry execution: dryrun.go), with taken the
	// storage it got from it per key, so that the pool holds afterwards what a real execution leaves in it.
	pool  *bufferPool
	taken map[poolKey][]any
}

func (m *memSim) note() {
	m.peak, m.peakLive = max(m.peak, m.live+m.poolBytes), max(m.peakLive, m.live)
}

// get is bufferPool.get: reuse pooled storage of the same key, else allocate.
func (m *memSim) get(k poolKey) {
	b := int64(k.n) * int64(k.dt.Size())
	if m.free[k] > 0 {
		m.free[k]--
		m.poolBytes -= b
	}
	m.live += b
	m.note()
	if m.pool != nil {
		m.taken[k] = append(m.taken[k], m.pool.get(shapes.Make(k.dt, k.n)).flat)
	}
}

// put is bufferPool.put: keep for reuse unless tiny or the pool is full (then the storage is garbage, which the
// model counts as freed).
func (m *memSim) put(k poolKey) {
	b := int64(k.n) * int64(k.dt.Size())
	m.live -= b
	if m.pool != nil {
		l := m.taken[k]
		flat := makeFlat(k.dt, k.n)
		if len(l) > 0 {
			flat, m.taken[k] = l[len(l)-1], l[:len(l)-1]
		}
		m.pool.put(flat)
	}
	if k.n >= 16 && m.poolBytes+b <= maxPoolBytes {
		m.free[k]++
		m.poolBytes += b
	}
	m.note()
}

func keyOf(s shapes.Shape) poolKey { return poolKey{s.DType, s.Size()} }

// memView reports whether node n's output shares its input's storage.
func memView(n *node) bool {
	switch n.op {
	case backends.OpTypeReshape, backends.OpTypeIdentity:
		return true
	case backends.OpTypeBroadcastInDim:
		return n.inputs[0].shape.Size() == n.shape.Size()
	case backends.OpTypeConvertDType:
		return n.inputs[0].shape.DType == n.shape.DType
	case backends.OpTypeTranspose:
		_, perm := simplifyPerm(n.inputs[0].shape.Dimensions, n.data.([]int))
		return isIdentity(perm)
	case backends.OpTypeReduceSum, backends.OpTypeReduceProduct, backends.OpTypeReduceMax, backends.OpTypeReduceMin,
		backends.OpTypeReduceLogicalAnd, backends.OpTypeReduceLogicalOr:
		return len(reduceGroups(n.inputs[0].shape.Dimensions, n.data.([]int))) == 0
	}
	return false
}

// memReusable lists the input slots whose storage node n's output may take when they die there (ex.output's
// reusable slots).
func memReusable(n *node) []int {
	fn := reflect.ValueOf(n.exec).Pointer()
	switch fn {
	case reflect.ValueOf(execBinary).Pointer():
		return []int{0, 1}
	case reflect.ValueOf(execUnary).Pointer(), reflect.ValueOf(execScatter).Pointer():
		return []int{0}
	case reflect.ValueOf(execWhere).Pointer():
		return []int{1, 2}
	case reflect.ValueOf(execSelectCompare).Pointer():
		return []int{1, 0}
	}
	return nil
}

// memScratch lists the temporary storage node n's op gets from the pool while it runs.
func memScratch(n *node) []poolKey {
	switch n.op {
	case backends.OpTypeConvGeneral:
		return n.data.(*convPlan).convScratchKeys(n.shape.DType, n.inputs[1].shape)
	case backends.OpTypeDotGeneral:
		p := n.data.(*dotPlan)
		var ks []poolKey
		ld, rd := n.inputs[0].shape.Dimensions, n.inputs[1].shape.Dimensions
		if !inOrder(ld, p.lhsBatch, p.lhsFree, p.lhsContract) && !inOrder(ld, p.lhsBatch, p.lhsContract, p.lhsFree) {
			ks = append(ks, keyOf(n.inputs[0].shape))
		}
		if !inOrder(rd, p.rhsBatch, p.rhsContract, p.rhsFree) && !inOrder(rd, p.rhsBatch, p.rhsFree, p.rhsContract) {
			ks = append(ks, keyOf(n.inputs[1].shape))
		}
		return ks
	case backends.OpTypeReduceSum, backends.OpTypeReduceProduct, backends.OpTypeReduceMax, backends.OpTypeReduceMin,
		backends.OpTypeReduceLogicalAnd, backends.OpTypeReduceLogicalOr:
		steps := reduceGroups(n.inputs[0].shape.Dimensions, n.data.([]int))
		var ks []poolKey
		for i := 0; i+1 < len(steps); i++ {
			ks = append(ks, poolKey{n.shape.DType, steps[i][0] * steps[i][2]})
		}
		return ks
	}
	return nil
}

// patchGeometry returns the rows and columns of a convolution's patch matrix.
func (p *convPlan) patchGeometry() (rows, cols int) {
	if p.form == convFilterForm {
		rows, cols = p.cin, p.batch // x's batch, x's channels
		for s := range p.kSp {
			rows *= p.kSp[s]
			cols *= p.outSp[s]
		}
		return rows, cols
	}
	rows, cols = p.batch, p.cin
	for s := range p.kSp {
		rows *= p.outSp[s]
		cols *= p.kSp[s]
	}
	return rows, cols
}

// estimateMemory replays two executions of e (inputs not donated) on a model of the pool.
func (e *Executable) estimateMemory() MemoryEstimate {
	var est MemoryEstimate
	seen := map[*node]bool{}
	for _, p := range e.params {
		est.InputBytes += int64(p.shape.Memory())
		seen[p] = true
	}
	for _, n := range e.schedule {
		for _, in := range n.inputs {
			if in.op == backends.OpTypeConstant && !seen[in] {
				seen[in] = true
				est.InputBytes += int64(in.shape.Memory())
			}
		}
		if b := int64(n.shape.Memory()); b > est.Largest && !memView(n) {
			est.Largest, est.LargestOp = b, n.op.String()
		}
	}
	m := &memSim{free: map[poolKey]int{}}
	for range 2 {
		e.simulate(m)
	}
	est.ArenaBytes = e.plan.arenaBytes
	est.PeakBytes, est.LiveBytes = e.plan.arenaBytes+m.peak, e.plan.arenaBytes+m.peakLive
	return est
}

// simulate replays one execution's storage outside the arena (pooled values, op scratch), following the plan.
func (e *Executable) simulate(m *memSim) {
	type rootInfo struct {
		key   poolKey
		refs  int
		owned bool // pooled storage of this execution (arena storage is not modelled here)
	}
	roots := map[int]*rootInfo{} // by the id of the node that allocated the storage
	rootOf := make([]int, e.numNodes)
	for _, p := range e.params {
		rootOf[p.id] = p.id
		roots[p.id] = &rootInfo{key: keyOf(p.shape), refs: 1}
	}
	alive := make([]bool, e.numNodes)
	for _, p := range e.params {
		alive[p.id] = true
	}
	for step, n := range e.schedule {
		switch e.plan.kind[n.id] {
		case planView:
			in := n.inputs[0]
			if in.op == backends.OpTypeConstant {
				rootOf[n.id] = n.id
				roots[n.id] = &rootInfo{key: keyOf(n.shape)}
			} else {
				rootOf[n.id] = rootOf[in.id]
			}
		case planSteal:
			rootOf[n.id] = rootOf[n.inputs[e.plan.steal[n.id]].id]
			roots[rootOf[n.id]].refs-- // the input's reference passes to the output (it dies here)
			alive[n.inputs[e.plan.steal[n.id]].id] = false
		case planArena:
			rootOf[n.id] = n.id
			roots[n.id] = &rootInfo{key: keyOf(n.shape)}
		default:
			m.get(keyOf(n.shape))
			rootOf[n.id] = n.id
			roots[n.id] = &rootInfo{key: keyOf(n.shape), owned: true}
		}
		for _, k := range memScratch(n) {
			m.get(k)
		}
		for _, k := range memScratch(n) {
			m.put(k)
		}
		roots[rootOf[n.id]].refs++
		alive[n.id] = true
		for _, in := range n.inputs {
			if e.lastUse[in.id] != step || !alive[in.id] || in.op == backends.OpTypeConstant {
				continue
			}
			alive[in.id] = false
			r := rootOf[in.id]
			ri := roots[r]
			if ri.refs--; ri.refs > 0 {
				continue
			}
			delete(roots, r)
			if ri.owned {
				m.put(ri.key)
			}
		}
	}
	// Outputs: pooled storage handed to the caller (copies of what the execution does not own), who frees it
	// before the next execution.
	given := map[int]bool{}
	var out []poolKey
	for _, o := range e.outputs {
		r := -1
		if o.op != backends.OpTypeConstant {
			r = rootOf[o.id]
		}
		if r < 0 || roots[r] == nil || !roots[r].owned || given[r] {
			m.get(keyOf(o.shape))
			out = append(out, keyOf(o.shape))
			continue
		}
		given[r] = true
		out = append(out, roots[r].key)
	}
	for r, ri := range roots {
		if ri.owned && !given[r] {
			m.put(ri.key)
		}
	}
	for _, k := range out {
		m.put(k)
	}
}

// ---- the check ----

// MemoryError says that a computation would not fit in memory.
type MemoryError struct {
	Name      string
	Estimate  MemoryEstimate
	Available int64 // bytes
	Source    string
	// Image is the largest rank-4 [B,H,W,C] parameter, when there is one: what to shrink.
	Image []int
}

func (e *MemoryError) Error() string {
	need := e.Estimate.PeakBytes
	f := float64(e.Available) / float64(need)
	msg := fmt.Sprintf("cpu backend: computation %q needs an estimated %s of memory at its peak (beyond its inputs of %s; largest value %s, from %s), but only %s is available (%s)",
		e.Name, gb(need), gb(e.Estimate.InputBytes), gb(e.Estimate.Largest), e.Estimate.LargestOp, gb(e.Available), e.Source)
	if len(e.Image) == 4 && f < 1 {
		b, h, w := e.Image[0], e.Image[1], e.Image[2]
		// Memory grows with the pixels of each image times the batch.
		side := func(x int) int { return max(1, int(float64(x)*math.Sqrt(f)*0.98)) }
		msg += fmt.Sprintf("; memory grows with pixels × batch, so for input %v about %d×%d pixels", e.Image, side(h), side(w))
		if b > 1 {
			msg += fmt.Sprintf(" or a batch of %d", max(1, int(float64(b)*f*0.98)))
		}
		msg += " would fit"
	}
	return msg + "; free memory, lower the size or batch, or set STYLELAB_MEMORY_CHECK=off to run anyway"
}

// pooledNote is the source's note on the storage the backend keeps for reuse (counted as available).
func pooledNote(pooled int64) string {
	if pooled < 1<<20 {
		return ""
	}
	return fmt.Sprintf(", plus %s the backend keeps for reuse", gb(pooled))
}

func gb(b int64) string {
	if b >= 1<<30 {
		return fmt.Sprintf("%.2f GB", float64(b)/(1<<30))
	}
	return fmt.Sprintf("%.0f MB", float64(b)/(1<<20))
}

// LastCompiled returns the memory estimate of the computation this backend compiled last (zero before the
// first): what a dry run reports after building its graphs.
func (b *Backend) LastCompiled() MemoryEstimate {
	if m := b.lastCompiled.Load(); m != nil {
		return *m
	}
	return MemoryEstimate{}
}

// availableMemory returns the bytes this process may still allocate: MemAvailable, or the cgroup's limit minus
// its usage when that is less; ok is false when neither can be read.
var availableMemory = func() (bytes int64, source string, ok bool) {
	bytes, source = -1, ""
	if v, err := meminfo("MemAvailable"); err == nil {
		bytes, source, ok = v, "MemAvailable in /proc/meminfo", true
	}
	if lim, use, err := cgroupMemory(); err == nil && lim > 0 {
		if free := lim - use; !ok || free < bytes {
			bytes, source, ok = max(free, 0), fmt.Sprintf("cgroup limit %s, %s in use", gb(lim), gb(use)), true
		}
	}
	return bytes, source, ok
}

func meminfo(field string) (int64, error) { return kbField("/proc/meminfo", field) }

// procStatus reads a "kB" field of /proc/self/status (VmRSS, VmHWM), in bytes.
func procStatus(field string) (int64, error) { return kbField("/proc/self/status", field) }

func kbField(path, field string) (int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok || k != field {
			continue
		}
		fs := strings.Fields(v)
		if len(fs) == 0 {
			break
		}
		n, err := strconv.ParseInt(fs[0], 10, 64)
		if err != nil {
			return 0, err
		}
		return n * 1024, nil
	}
	return 0, fmt.Errorf("no %s in %s", field, path)
}

// cgroupMemory reads the cgroup v2 (memory.max, memory.current) or v1 (memory.limit_in_bytes,
// memory.usage_in_bytes) limit and usage of this process's cgroup; limit 0 means none.
func cgroupMemory() (limit, usage int64, err error) {
	read := func(p string) (int64, error) {
		b, err := os.ReadFile(p)
		if err != nil {
			return 0, err
		}
		s := strings.TrimSpace(string(b))
		if s == "max" {
			return 0, nil
		}
		return strconv.ParseInt(s, 10, 64)
	}
	if limit, err = read("/sys/fs/cgroup/memory.max"); err == nil {
		usage, err = read("/sys/fs/cgroup/memory.current")
		return limit, usage, err
	}
	if limit, err = read("/sys/fs/cgroup/memory/memory.limit_in_bytes"); err == nil {
		if limit >= 1<<60 { // v1's "no limit"
			limit = 0
		}
		usage, err = read("/sys/fs/cgroup/memory/memory.usage_in_bytes")
	}
	return limit, usage, err
}

// checkMemory refuses an executable whose estimate exceeds the memory available, counting the storage the pool
// holds now as available (it is reused before anything new is allocated). STYLELAB_MEMORY_CHECK=off skips it.
func (e *Executable) checkMemory() error {
	if os.Getenv("STYLELAB_MEMORY_CHECK") == "off" {
		return nil
	}
	if me := e.memoryVerdict(); me != nil {
		return me
	}
	return nil
}

// memoryVerdict is the check itself (whatever STYLELAB_MEMORY_CHECK says): the refusal, or nil when the estimate
// fits or no available memory can be read.
func (e *Executable) memoryVerdict() *MemoryError {
	avail, source, ok := AvailableMemory()
	if !ok {
		return nil
	}
	pooled := e.backend.pool.held() + e.backend.arenas.held()
	if e.memory.PeakBytes <= avail+pooled {
		return nil
	}
	me := &MemoryError{Name: e.name, Estimate: e.memory, Available: avail + pooled, Source: source}
	me.Source += pooledNote(pooled)
	me.Image = e.largestImage()
	return me
}
