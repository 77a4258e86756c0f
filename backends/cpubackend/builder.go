package cpubackend

import (
	"reflect"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/backends/notimplemented"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/pkg/errors"
)

// node is one value of the computation graph: the output of an op applied to inputs.
type node struct {
	id     int // position in Builder.nodes (creation order, which is a topological order)
	op     backends.OpType
	shape  shapes.Shape
	inputs []*node
	data   any // op parameters (axes, permutation, ...), the parameter index, or the constant's *Buffer
	exec   execFn
	b      *Builder
}

// Builder records ops as nodes; Compile turns them into an Executable. Ops not overridden here come from the
// embedded notimplemented.Builder and fail with an error naming the op.
type Builder struct {
	notimplemented.Builder
	backend  *Backend
	name     string
	nodes    []*node
	params   []*node
	compiled bool
}

var _ backends.Builder = (*Builder)(nil)

func newBuilder(b *Backend, name string) *Builder {
	bld := &Builder{backend: b, name: name}
	bld.Builder.ErrFn = func(op backends.OpType) error {
		return errors.Errorf("op %s is not implemented by the stylelab cpu backend (GOMLX_BACKEND=cpu); build the graph without it, or run with GOMLX_BACKEND=go", op)
	}
	return bld
}

// Name of the computation.
func (b *Builder) Name() string { return b.name }

// OpShape returns the shape of an op's output.
func (b *Builder) OpShape(op backends.Op) (shapes.Shape, error) {
	n, err := b.checkOp("OpShape", op)
	if err != nil {
		return shapes.Invalid(), err
	}
	return n.shape, nil
}

// checkOp converts an Op to a node of this builder.
func (b *Builder) checkOp(what string, op backends.Op) (*node, error) {
	if b.compiled {
		return nil, errors.Errorf("cpu backend: %s on computation %q after Compile; a Builder cannot be reused", what, b.name)
	}
	n, ok := op.(*node)
	if !ok || n == nil {
		return nil, errors.Errorf("cpu backend: %s got an op of type %T, not one built by the cpu backend", what, op)
	}
	if n.b != b {
		return nil, errors.Errorf("cpu backend: %s got an op from another computation (%q, this is %q)", what, n.b.name, b.name)
	}
	return n, nil
}

// checkOps converts several Ops.
func (b *Builder) checkOps(what string, ops ...backends.Op) ([]*node, error) {
	out := make([]*node, len(ops))
	for i, op := range ops {
		n, err := b.checkOp(what, op)
		if err != nil {
			return nil, err
		}
		out[i] = n
	}
	return out, nil
}

// add appends a node.
func (b *Builder) add(op backends.OpType, shape shapes.Shape, exec execFn, data any, inputs ...*node) *node {
	n := &node{id: len(b.nodes), op: op, shape: shape, inputs: inputs, data: data, exec: exec, b: b}
	b.nodes = append(b.nodes, n)
	return n
}

// Parameter adds an input of the computation; inputs are fed to Execute in creation order.
func (b *Builder) Parameter(name string, shape shapes.Shape, sharding *backends.ShardingSpec) (backends.Op, error) {
	if b.compiled {
		return nil, errors.Errorf("cpu backend: Parameter %q after Compile", name)
	}
	if sharding != nil {
		return nil, errors.Errorf("cpu backend: Parameter %q: sharding is not supported (one device)", name)
	}
	if err := checkSupportedDType(shape.DType, "Parameter "+name); err != nil {
		return nil, err
	}
	n := b.add(backends.OpTypeParameter, shape, nil, paramData{index: len(b.params), name: name})
	b.params = append(b.params, n)
	return n, nil
}

type paramData struct {
	index int
	name  string
}

// Constant adds a constant holding a copy of flat (a slice of a supported Go type) with the given dimensions.
func (b *Builder) Constant(flat any, dims ...int) (backends.Op, error) {
	if b.compiled {
		return nil, errors.Errorf("cpu backend: Constant after Compile")
	}
	v := reflect.ValueOf(flat)
	if v.Kind() != reflect.Slice {
		return nil, errors.Errorf("cpu backend: Constant needs a flat slice, got %T", flat)
	}
	dt := dtypes.FromGoType(v.Type().Elem())
	if err := checkSupportedDType(dt, "Constant"); err != nil {
		return nil, err
	}
	shape := shapes.Make(dt, dims...)
	if shape.Size() != v.Len() {
		return nil, errors.Errorf("cpu backend: Constant with %d values for dimensions %v (size %d)", v.Len(), dims, shape.Size())
	}
	buf := newBuffer(shape)
	reflect.Copy(reflect.ValueOf(buf.flat), v)
	return b.add(backends.OpTypeConstant, shape, nil, buf), nil
}

// Identity returns its input unchanged (GoMLX wraps outputs that repeat in it).
func (b *Builder) Identity(x backends.Op) (backends.Op, error) {
	n, err := b.checkOp("Identity", x)
	if err != nil {
		return nil, err
	}
	return b.add(backends.OpTypeIdentity, n.shape, execIdentity, nil, n), nil
}

// DeviceAssignment accepts only device 0.
func (b *Builder) DeviceAssignment(devices ...backends.DeviceNum) error {
	if len(devices) != 1 || devices[0] != 0 {
		return errors.Errorf("cpu backend: device assignment %v; only the single device 0 exists", devices)
	}
	return nil
}

// implementedOps lists the ops this backend implements (for Capabilities and the tests).
var implementedOps = map[backends.OpType]bool{
	backends.OpTypeParameter: true, backends.OpTypeConstant: true, backends.OpTypeIdentity: true,
}

func registerOps(ops ...backends.OpType) bool {
	for _, op := range ops {
		implementedOps[op] = true
	}
	return true
}
