package cpubackend

import (
	"fmt"
	"runtime/debug"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/pkg/errors"
)

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
	// Constants are never freed; drop the builder's references to dead nodes' data.
	return e, nil
}

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

// execCtx is the state of one Execute call while one node runs.
type execCtx struct {
	backend *Backend
	pool    *bufferPool
	owned   []bool // per input slot of the running node: its storage may be taken (last use, ours)
	stolen  *Buffer
	in      []*Buffer
}

// output returns storage for n's output: the storage of the first listed input slot that is at its last use,
// owned by the execution and of the same dtype and size (the op then runs in place), else pooled storage. Ops
// only list inputs they can safely overwrite while reading them (elementwise ops over same-shaped operands).
func (ex *execCtx) output(n *node, reusable ...int) *Buffer {
	for _, i := range reusable {
		if i < len(ex.in) && ex.owned[i] && ex.stolen == nil {
			in := ex.in[i]
			if in.shape.DType == n.shape.DType && in.shape.Size() == n.shape.Size() && !in.exposed {
				ex.stolen = in
				return &Buffer{shape: n.shape, flat: in.flat}
			}
		}
	}
	return ex.pool.get(n.shape)
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
	values := make([]*Buffer, e.numNodes)
	owned := make([]bool, e.numNodes) // the execution may reuse or recycle the storage
	for i, p := range e.params {
		buf, err := e.backend.checkBuffer(inputs[i], fmt.Sprintf("Execute(%q) input #%d (%s)", e.name, i, p.data.(paramData).name))
		if err != nil {
			return nil, err
		}
		if !buf.shape.Equal(p.shape) {
			return nil, errors.Errorf("cpu backend: Execute(%q) input #%d (%s) has shape %s, the parameter was declared %s", e.name, i, p.data.(paramData).name, buf.shape, p.shape)
		}
		values[p.id] = buf
		owned[p.id] = donate != nil && donate[i]
	}
	// Ops panic only on internal errors; report them as errors with the op and a stack.
	var current *node
	defer func() {
		if r := recover(); r != nil {
			what := "?"
			if current != nil {
				what = fmt.Sprintf("%s -> %s", current.op, current.shape)
			}
			err = errors.Errorf("cpu backend: Execute(%q) panicked in op %s: %v\n%s", e.name, what, r, debug.Stack())
			outs = nil
		}
	}()
	ex := &execCtx{backend: e.backend, pool: e.backend.pool}
	var inBufs [8]*Buffer
	var inOwned [8]bool
	for step, n := range e.schedule {
		current = n
		ex.in = inBufs[:0]
		ex.owned = inOwned[:0]
		for _, in := range n.inputs {
			v := values[in.id]
			if v == nil {
				v = in.data.(*Buffer) // constant
			}
			ex.in = append(ex.in, v)
			ex.owned = append(ex.owned, owned[in.id] && e.lastUse[in.id] == step)
		}
		ex.stolen = nil
		out, err := n.exec(ex, n, ex.in)
		if err != nil {
			return nil, errors.WithMessagef(err, "cpu backend: Execute(%q), op %s", e.name, n.op)
		}
		values[n.id] = out
		owned[n.id] = true
		// Release the inputs that die here.
		for j, in := range n.inputs {
			if e.lastUse[in.id] != step || values[in.id] == nil {
				continue
			}
			buf := values[in.id]
			if ex.owned[j] {
				if buf != ex.stolen && buf.flat != nil && !buf.exposed {
					ex.pool.put(buf.flat)
				}
				buf.flat = nil // a donated input is invalid after the call
			}
			values[in.id] = nil
		}
	}
	current = nil
	// Outputs: fresh buffers only.
	outs = make([]backends.Buffer, len(e.outputs))
	given := map[*Buffer]bool{}
	for i, o := range e.outputs {
		v := values[o.id]
		if v == nil {
			v = o.data.(*Buffer)
		}
		if !owned[o.id] || given[v] {
			c := ex.pool.get(o.shape)
			copyFlat(c.flat, v.flat)
			v = c
		} else if o.op == backends.OpTypeParameter {
			// A donated input returned as is: hand out a new handle and invalidate the donated one.
			v = &Buffer{shape: v.shape, flat: v.flat}
			values[o.id].flat = nil
		}
		given[v] = true
		outs[i] = v
	}
	// Donated inputs no live node read.
	for _, p := range e.params {
		if owned[p.id] && !e.live[p.id] && values[p.id] != nil && values[p.id].flat != nil {
			if !values[p.id].exposed {
				ex.pool.put(values[p.id].flat)
			}
			values[p.id].flat = nil
		}
	}
	return outs, nil
}

// execIdentity returns its input's values (taking its storage when the input dies here).
func execIdentity(ex *execCtx, n *node, in []*Buffer) (*Buffer, error) {
	out := ex.output(n, 0)
	if ex.stolen == nil {
		copyFlat(out.flat, in[0].flat)
	}
	return out, nil
}
