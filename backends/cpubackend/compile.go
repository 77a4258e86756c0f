package cpubackend

import (
	"context"
	"fmt"
	"os"
	"runtime/debug"
	"runtime/pprof"
	"slices"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/pkg/errors"
)

// opLabels turns on pprof labels naming the op being executed (STYLELAB_CPU_OPLABELS=1), so that a CPU profile
// says which ops the time goes to.
var opLabels = os.Getenv("STYLELAB_CPU_OPLABELS") == "1"

// memLog prints every compiled computation's memory estimate to stderr (STYLELAB_CPU_MEMLOG=1).
var memLog = os.Getenv("STYLELAB_CPU_MEMLOG") == "1"

// execFn computes one node from its input buffers. It gets its output storage from ex.output, which may hand it
// the storage of an input that is at its last use (then the op runs in place).
type execFn func(ex *execCtx, n *node, in []*Buffer) (*Buffer, error)

// Executable is a compiled computation: the live nodes in execution order and, for each, which inputs die there.
type Executable struct {
	backend   *Backend
	name      string
	params    []*node
	schedule  []*node // live nodes except parameters and constants, in topological order
	outputs   []*node
	lastUse   []int  // per node id: index in schedule of its last consumer; len(schedule) if it is an output
	live      []bool // per node id: some output depends on it
	numNodes  int
	finalized bool
	plan      storagePlan
	memory    MemoryEstimate
	dryRun    *DryRun // compiled during this dry run (dryrun.go)
}

var _ backends.Executable = (*Executable)(nil)

// Compile prunes the nodes no output reaches, computes each node's last use, and returns the Executable.
func (b *Builder) Compile(outputs []backends.Op, shardings []*backends.ShardingSpec) (backends.Executable, error) {
	if len(shardings) > 0 {
		for _, s := range shardings {
			if s != nil {
				return nil, errors.Errorf("cpu backend: Compile(%q): output shardings are not supported (one device)", b.name)
			}
		}
	}
	outs, err := b.checkOps("Compile", outputs...)
	if err != nil {
		return nil, err
	}
	b.compiled = true
	e := &Executable{backend: b.backend, name: b.name, params: b.params, outputs: outs, numNodes: len(b.nodes)}
	// Liveness: walk back from the outputs.
	e.live = make([]bool, len(b.nodes))
	stack := append([]*node(nil), outs...)
	for len(stack) > 0 {
		n := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if e.live[n.id] {
			continue
		}
		e.live[n.id] = true
		stack = append(stack, n.inputs...)
	}
	for _, n := range b.nodes {
		if e.live[n.id] && n.op != backends.OpTypeParameter && n.op != backends.OpTypeConstant {
			e.schedule = append(e.schedule, n)
		}
	}
	e.lastUse = make([]int, len(b.nodes))
	for i := range e.lastUse {
		e.lastUse[i] = -1
	}
	for i, n := range e.schedule {
		for _, in := range n.inputs {
			e.lastUse[in.id] = i
		}
	}
	for _, o := range outs {
		e.lastUse[o.id] = len(e.schedule)
	}
	e.plan = e.planStorage()
	e.memory = e.estimateMemory()
	if rss, err := procStatus("VmRSS"); err == nil {
		e.memory.ProcessBytes = max(rss-e.backend.pool.held()-e.backend.arenas.held(), 0) + e.memory.PeakBytes
	}
	mem := e.memory
	b.backend.lastCompiled.Store(&mem)
	if memLog {
		rss, _ := procStatus("VmRSS")
		fmt.Fprintf(os.Stderr, "cpu backend: compiled %q: %d ops, memory estimate: peak %s (live %s, arena %s) beyond inputs and constants of %s (largest value %s, %s); process RSS now %s, pool %s\n",
			e.name, len(e.schedule), gb(e.memory.PeakBytes), gb(e.memory.LiveBytes), gb(e.memory.ArenaBytes), gb(e.memory.InputBytes), gb(e.memory.Largest), e.memory.LargestOp, gb(rss), gb(e.backend.pool.held()))
	}
	if d := activeDryRun.Load(); d != nil {
		e.dryCompile(d)
		return e, nil
	}
	if err := e.checkMemory(); err != nil {
		return nil, err
	}
	return e, nil
}

// Memory returns the executable's memory estimate (see memory.go).
func (e *Executable) Memory() MemoryEstimate { return e.memory }

// Finalize releases the executable.
func (e *Executable) Finalize() { e.finalized = true; e.schedule = nil }

// Inputs returns the parameters' names and shapes in creation order.
func (e *Executable) Inputs() (names []string, inputShapes []shapes.Shape) {
	for _, p := range e.params {
		names = append(names, p.data.(paramData).name)
		inputShapes = append(inputShapes, p.shape)
	}
	return
}

// Outputs returns the output shapes in the order given to Compile.
func (e *Executable) Outputs() []shapes.Shape {
	out := make([]shapes.Shape, len(e.outputs))
	for i, o := range e.outputs {
		out[i] = o.shape
	}
	return out
}

// execCtx is the state of one Execute call.
type execCtx struct {
	backend *Backend
	pool    *bufferPool
	plan    *storagePlan
	arena   []uint64
	// Storage accounting: every value is a Buffer whose storage belongs to a root Buffer (itself, or base for a
	// view). refs counts the live values using each root; owned says the execution may overwrite or recycle the
	// root's storage (intermediates and donated inputs; never constants, plain inputs or exposed memory).
	refs    map[*Buffer]int
	owned   map[*Buffer]bool
	donated map[*Buffer]bool // the roots of donated inputs
	// For the running node:
	in     []*Buffer
	dying  []bool  // per input slot: this is the value's last use
	stolen *Buffer // the root whose storage became the output (in-place op), if any
}

func root(b *Buffer) *Buffer {
	if b.base != nil {
		return b.base
	}
	return b
}

// takeable reports whether input slot i's storage may become the output: the value dies here, the execution owns
// its root and no other live value shares it.
func (ex *execCtx) takeable(i int) bool {
	if i >= len(ex.in) || !ex.dying[i] || ex.stolen != nil {
		return false
	}
	r := root(ex.in[i])
	return ex.owned[r] && ex.refs[r] == 1 && !r.exposed && r.flat != nil
}

// output returns storage for n's output, as the storage plan says: the arena at the node's offset, the storage
// of the input slot the plan names (the op then runs in place; ops list as reusable only inputs they can safely
// overwrite while reading them), or pooled storage.
func (ex *execCtx) output(n *node, reusable ...int) *Buffer {
	// A donated input that dies here is taken whatever the plan says (the plan only knows the computation, not
	// which inputs a call donates); the storage the plan meant for the output stays unused.
	for _, j := range reusable {
		if j < len(ex.in) && ex.donated[root(ex.in[j])] && ex.takeable(j) {
			in := ex.in[j]
			if in.shape.DType == n.shape.DType && in.shape.Size() == n.shape.Size() {
				ex.stolen = root(in)
				return &Buffer{shape: n.shape, flat: in.flat}
			}
		}
	}
	switch ex.plan.kind[n.id] {
	case planSteal:
		if j := ex.plan.steal[n.id]; slices.Contains(reusable, j) && ex.takeable(j) {
			in := ex.in[j]
			if in.shape.DType == n.shape.DType && in.shape.Size() == n.shape.Size() {
				ex.stolen = root(in)
				return &Buffer{shape: n.shape, flat: in.flat, arena: ex.stolen.arena}
			}
		}
	case planArena:
		return &Buffer{shape: n.shape, flat: arenaSlice(ex.arena, ex.plan.off[n.id], n.shape.DType, n.shape.Size()), arena: true}
	}
	return ex.pool.get(n.shape)
}

// view returns a value of n's shape sharing in's storage (no copy): used by Reshape, Identity and the other ops
// that do not change the values' order.
func (ex *execCtx) view(n *node, in *Buffer) *Buffer {
	return &Buffer{shape: n.shape, flat: in.flat, base: root(in)}
}

// release drops one reference to a root, recycling its storage when it was the last and the execution owns it.
func (ex *execCtx) release(r *Buffer) {
	ex.refs[r]--
	if ex.refs[r] > 0 {
		return
	}
	delete(ex.refs, r)
	if r == ex.stolen {
		return // its storage lives on as the output
	}
	if ex.owned[r] {
		if r.flat != nil && !r.exposed && !r.arena {
			ex.pool.put(r.flat)
		}
		r.flat = nil // a donated input is invalid after the call
	}
}

// Execute runs the computation. Parameters arrive in creation order; donated inputs become invalid and their
// storage may be reused. Outputs are always fresh buffers, never an input, a constant or another output.
func (e *Executable) Execute(inputs []backends.Buffer, donate []bool, defaultDevice backends.DeviceNum) (outs []backends.Buffer, err error) {
	if e.finalized {
		return nil, errors.Errorf("cpu backend: Execute(%q) after Finalize", e.name)
	}
	if len(inputs) != len(e.params) {
		return nil, errors.Errorf("cpu backend: Execute(%q) got %d inputs, the computation has %d parameters", e.name, len(inputs), len(e.params))
	}
	if donate != nil && len(donate) != len(inputs) {
		return nil, errors.Errorf("cpu backend: Execute(%q) got %d donate flags for %d inputs", e.name, len(donate), len(inputs))
	}
	if outs, ok := e.dryExecute(); ok {
		return outs, nil
	}
	ex := &execCtx{backend: e.backend, pool: e.backend.pool, plan: &e.plan, refs: map[*Buffer]int{}, owned: map[*Buffer]bool{},
		donated: map[*Buffer]bool{}}
	if e.plan.arenaBytes > 0 {
		ex.arena = e.backend.arenas.get(e.plan.arenaBytes)
		defer e.backend.arenas.put(ex.arena) // every value in it is dead by then: outputs never live there
	}
	values := make([]*Buffer, e.numNodes)
	for i, p := range e.params {
		buf, err := e.backend.checkBuffer(inputs[i], fmt.Sprintf("Execute(%q) input #%d (%s)", e.name, i, p.data.(paramData).name))
		if err != nil {
			return nil, err
		}
		if !buf.shape.Equal(p.shape) {
			return nil, errors.Errorf("cpu backend: Execute(%q) input #%d (%s) has shape %s, the parameter was declared %s", e.name, i, p.data.(paramData).name, buf.shape, p.shape)
		}
		r := root(buf)
		values[p.id] = buf
		ex.refs[r]++
		if donate != nil && donate[i] {
			ex.owned[r], ex.donated[r] = true, true
		}
	}
	// Ops panic only on internal errors; report them as errors with the op and a stack.
	var current *node
	defer func() {
		if rec := recover(); rec != nil {
			what := "?"
			if current != nil {
				what = fmt.Sprintf("%s -> %s", current.op, current.shape)
			}
			err = errors.Errorf("cpu backend: Execute(%q) panicked in op %s: %v\n%s", e.name, what, rec, debug.Stack())
			outs = nil
		}
	}()
	var inBufs [8]*Buffer
	var inDying [8]bool
	for step, n := range e.schedule {
		current = n
		ex.in, ex.dying = inBufs[:0], inDying[:0]
		for _, in := range n.inputs {
			v := values[in.id]
			if v == nil {
				v = in.data.(*Buffer) // constant
			}
			ex.in = append(ex.in, v)
			ex.dying = append(ex.dying, e.lastUse[in.id] == step && in.op != backends.OpTypeConstant)
		}
		ex.stolen = nil
		var out *Buffer
		var err error
		if opLabels {
			// CPU profiles then attribute time to ops: go tool pprof -tagfocus op=DotGeneral, or -tags.
			pprof.Do(context.Background(), pprof.Labels("op", n.op.String()), func(context.Context) { out, err = n.exec(ex, n, ex.in) })
		} else {
			out, err = n.exec(ex, n, ex.in)
		}
		if err != nil {
			return nil, errors.WithMessagef(err, "cpu backend: Execute(%q), op %s", e.name, n.op)
		}
		values[n.id] = out
		r := root(out)
		ex.refs[r]++
		if out.base == nil {
			ex.owned[r] = true
		}
		// Release the inputs that die here (each value once, even if it feeds several slots).
		for j, in := range n.inputs {
			if ex.dying[j] && values[in.id] != nil {
				ex.release(root(values[in.id]))
				values[in.id] = nil
			}
		}
		if ex.stolen != nil {
			// The stolen root's storage now belongs to the output; invalidate the old handle (a donated input).
			if _, alive := ex.refs[ex.stolen]; !alive {
				ex.stolen.flat = nil
			}
		}
	}
	current = nil
	// Outputs: every output gets storage of its own.
	outs = make([]backends.Buffer, len(e.outputs))
	given := map[*Buffer]bool{}
	for i, o := range e.outputs {
		v := values[o.id]
		if v == nil {
			v = o.data.(*Buffer)
		}
		r := root(v)
		if !ex.owned[r] || given[r] || r.exposed || r.arena {
			c := ex.pool.get(o.shape)
			copyFlat(c.flat, v.flat)
			outs[i] = c
			continue
		}
		given[r] = true
		outs[i] = &Buffer{shape: o.shape, flat: v.flat}
	}
	// Invalidate donated inputs whose storage was handed out, and recycle owned roots nobody got.
	for r := range ex.refs {
		if given[r] {
			r.flat = nil
		} else if ex.owned[r] && r.flat != nil {
			if !r.exposed && !r.arena {
				ex.pool.put(r.flat)
			}
			r.flat = nil
		}
	}
	return outs, nil
}

// execIdentity returns its input's values as a view of the same storage (no copy).
func execIdentity(ex *execCtx, n *node, in []*Buffer) (*Buffer, error) {
	return ex.view(n, in[0]), nil
}
