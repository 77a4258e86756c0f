// Package cpubackend is stylelab's own GoMLX v0.26.0 backend for the CPU, registered as "cpu".
//
// It implements backends.Backend, Builder and Executable for the ops stylelab's graphs use (the VGG loss network,
// every style loss, Adam, L-BFGS, the feed-forward transformer with CIN/AdaIN) and is written for speed and
// memory:
//
//   - DotGeneral maps to (batched) 2-D GEMMs run by backends/gemm (OpenBLAS sgemm when present, a Go kernel
//     otherwise);
//   - ConvGeneral is one op: the convolution and its input gradient as patches built in bounded blocks (or, for
//     stride-1 convolutions with many channels, one product per kernel tap on the input read in place) times the
//     kernel, the kernel gradient as accumulated products of patch blocks; no whole patch matrix ever exists;
//   - Gather and ScatterSum of whole rows (what im2col and its gradient emit on other paths) are row copies and
//     row adds;
//   - elementwise ops have same-shape and scalar fast paths and run on all cores for large tensors;
//   - reductions sum in a fixed order (deterministic: the same graph and inputs give the same bytes);
//   - Compile prunes nodes no output reaches, computes each value's last use and plans where every value lives
//     (a view, in place over a dying input, an offset in one arena per execution, or pooled storage for outputs),
//     so an execution holds no more than its live values at their peak and allocates nothing in steady state;
//   - Compile estimates that peak and refuses a computation that cannot fit in the memory available, with the
//     estimate, the limit and what would fit (memory.go).
//
// Ops it lacks fail at graph-building time with an error naming the op and the backend (the embedded
// notimplemented.Builder). Outputs never alias inputs, constants or each other.
//
// Files:
//   - backend.go: Backend and the data interface; buffers.go: buffers and the recycling pool;
//   - builder.go: the node graph, OpShape, Parameter, Constant; compile.go: pruning, liveness, Execute;
//     plan.go: the storage plan and the arena cache; memory.go: the memory estimate and the refusal;
//     dryrun.go: dry runs (compile and estimate, execute nothing) and STYLELAB_MEMORY_LIMIT;
//   - elementwise.go: the elementwise ops (builders and execution); elementwise_kernels.go: their kernels,
//     generic over the value type; dtype_kernels.go: the dtype table, which instantiates the kernels for each
//     storage type (the one place elementwise ops list types); broadcast.go: the broadcast plan of binary ops;
//   - reduce.go: reductions and ArgMinMax; layout.go: Reshape, Transpose, BroadcastInDim, Concatenate, Slice,
//     Reverse, Iota, Pad; dot.go: DotGeneral; conv.go: ConvGeneral; gather.go: Gather and the Scatter ops;
//   - parallel.go: splitting an op's work over the workers.
package cpubackend

import (
	"fmt"
	"reflect"
	"runtime"
	"strings"
	"sync/atomic"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/pkg/errors"
)

// Name is the name the backend is registered under: GOMLX_BACKEND=cpu selects it.
const Name = "cpu"

func init() {
	backends.Register(Name, New)
}

// Backend is the stylelab CPU backend. It is safe for concurrent use: builders and executables may be used from
// several goroutines (each Execute has its own state; the buffer pool is locked).
type Backend struct {
	pool         *bufferPool
	arenas       arenaCache
	workers      int
	finalized    atomic.Bool
	lastCompiled atomic.Pointer[MemoryEstimate]
}

var _ backends.Backend = (*Backend)(nil)

// New creates the backend. config may be empty, or "workers=N" to cap the goroutines one op uses
// (default GOMAXPROCS).
func New(config string) (backends.Backend, error) {
	b := &Backend{pool: newBufferPool(), workers: runtime.GOMAXPROCS(0)}
	for _, opt := range strings.Split(config, ",") {
		opt = strings.TrimSpace(opt)
		if opt == "" {
			continue
		}
		var n int
		if _, err := fmt.Sscanf(opt, "workers=%d", &n); err == nil && n >= 1 {
			b.workers = n
			continue
		}
		return nil, errors.Errorf("cpu backend: unknown option %q in config %q; the only option is workers=N (N ≥ 1)", opt, config)
	}
	return b, nil
}

// Name returns "cpu".
func (b *Backend) Name() string { return Name }

// String returns "cpu".
func (b *Backend) String() string { return Name }

// Description says what the backend is.
func (b *Backend) Description() string {
	return fmt.Sprintf("stylelab CPU backend (%d workers, matmul: %s)", b.workers, matmulEngine())
}

// NumDevices is 1: the host.
func (b *Backend) NumDevices() int { return 1 }

// DeviceDescription describes the one device.
func (b *Backend) DeviceDescription(deviceNum backends.DeviceNum) string {
	return fmt.Sprintf("CPU (%d cores)", runtime.NumCPU())
}

// Capabilities lists the ops and dtypes implemented (GoMLX v0.26.0 does not read it; it documents the backend).
func (b *Backend) Capabilities() backends.Capabilities {
	c := backends.Capabilities{Operations: map[backends.OpType]bool{}, DTypes: map[dtypes.DType]bool{}}
	for op := range implementedOps {
		c.Operations[op] = true
	}
	for _, dt := range []dtypes.DType{dtypes.Bool, dtypes.Int8, dtypes.Int16, dtypes.Int32, dtypes.Int64,
		dtypes.Uint8, dtypes.Uint16, dtypes.Uint32, dtypes.Uint64, dtypes.Float32, dtypes.Float64} {
		c.DTypes[dt] = true
	}
	return c
}

// Builder starts a new computation.
func (b *Backend) Builder(name string) backends.Builder { return newBuilder(b, name) }

// Finalize marks the backend finalized and drops the buffer pool.
func (b *Backend) Finalize() {
	b.finalized.Store(true)
	b.pool.clear()
	b.arenas.clear()
}

// IsFinalized reports whether Finalize was called.
func (b *Backend) IsFinalized() bool { return b.finalized.Load() }

// checkBuffer converts a backends.Buffer to ours, with an error naming the problem.
func (b *Backend) checkBuffer(buf backends.Buffer, what string) (*Buffer, error) {
	if buf == nil {
		return nil, errors.Errorf("cpu backend: %s: nil buffer", what)
	}
	bb, ok := buf.(*Buffer)
	if !ok {
		return nil, errors.Errorf("cpu backend: %s: buffer of type %T comes from another backend; tensors cannot cross backends (use Tensor.LocalClone)", what, buf)
	}
	if bb.flat == nil {
		return nil, errors.Errorf("cpu backend: %s: buffer %s was already finalized (or donated)", what, bb.shape)
	}
	return bb, nil
}

// BufferFinalize releases a buffer. Buffers whose memory was never handed out to the caller (BufferData,
// NewSharedBuffer) go back to the pool.
func (b *Backend) BufferFinalize(buf backends.Buffer) error {
	bb, err := b.checkBuffer(buf, "BufferFinalize")
	if err != nil {
		return err
	}
	if !bb.exposed {
		b.pool.put(bb.flat)
	}
	bb.flat = nil
	return nil
}

// BufferShape returns the buffer's shape.
func (b *Backend) BufferShape(buf backends.Buffer) (shapes.Shape, error) {
	bb, err := b.checkBuffer(buf, "BufferShape")
	if err != nil {
		return shapes.Invalid(), err
	}
	return bb.shape, nil
}

// BufferDeviceNum is always 0.
func (b *Backend) BufferDeviceNum(buf backends.Buffer) (backends.DeviceNum, error) {
	if _, err := b.checkBuffer(buf, "BufferDeviceNum"); err != nil {
		return 0, err
	}
	return 0, nil
}

// BufferToFlatData copies the buffer into flat, a slice of the buffer's Go type and exact length.
func (b *Backend) BufferToFlatData(buf backends.Buffer, flat any) error {
	bb, err := b.checkBuffer(buf, "BufferToFlatData")
	if err != nil {
		return err
	}
	dst, src := reflect.ValueOf(flat), reflect.ValueOf(bb.flat)
	if dst.Kind() != reflect.Slice || dst.Type() != src.Type() || dst.Len() != src.Len() {
		return errors.Errorf("cpu backend: BufferToFlatData: got %T of length %d for a buffer of shape %s; pass a []%s of length %d",
			flat, lenOf(flat), bb.shape, bb.shape.DType.GoType(), bb.shape.Size())
	}
	reflect.Copy(dst, src)
	return nil
}

// BufferFromFlatData copies flat into a new buffer of the given shape.
func (b *Backend) BufferFromFlatData(deviceNum backends.DeviceNum, flat any, shape shapes.Shape) (backends.Buffer, error) {
	if deviceNum != 0 {
		return nil, errors.Errorf("cpu backend: device %d requested; the cpu backend has only device 0", deviceNum)
	}
	if err := checkSupportedDType(shape.DType, "BufferFromFlatData"); err != nil {
		return nil, err
	}
	src := reflect.ValueOf(flat)
	if src.Kind() != reflect.Slice || src.Type().Elem() != shape.DType.GoType() || src.Len() != shape.Size() {
		return nil, errors.Errorf("cpu backend: BufferFromFlatData: got %T of length %d for shape %s; pass a []%s of length %d",
			flat, lenOf(flat), shape, shape.DType.GoType(), shape.Size())
	}
	out := b.pool.get(shape)
	reflect.Copy(reflect.ValueOf(out.flat), src)
	return out, nil
}

// HasSharedBuffers is true: buffers live in host memory and can be read directly.
func (b *Backend) HasSharedBuffers() bool { return true }

// NewSharedBuffer returns a new buffer and its flat storage, which the caller may read and write (not while an
// execution uses it).
func (b *Backend) NewSharedBuffer(deviceNum backends.DeviceNum, shape shapes.Shape) (backends.Buffer, any, error) {
	if deviceNum != 0 {
		return nil, nil, errors.Errorf("cpu backend: device %d requested; the cpu backend has only device 0", deviceNum)
	}
	if err := checkSupportedDType(shape.DType, "NewSharedBuffer"); err != nil {
		return nil, nil, err
	}
	out := newBuffer(shape)
	out.exposed = true
	return out, out.flat, nil
}

// BufferData returns the buffer's storage itself (the buffer is then never recycled).
func (b *Backend) BufferData(buf backends.Buffer) (any, error) {
	bb, err := b.checkBuffer(buf, "BufferData")
	if err != nil {
		return nil, err
	}
	bb.exposed = true
	return bb.flat, nil
}

// BufferCopyToDevice fails: there is only one device.
func (b *Backend) BufferCopyToDevice(source backends.Buffer, deviceNum backends.DeviceNum) (backends.Buffer, error) {
	return nil, errors.Errorf("cpu backend: BufferCopyToDevice(%d): the cpu backend has only device 0", deviceNum)
}

func lenOf(flat any) int {
	v := reflect.ValueOf(flat)
	if v.Kind() == reflect.Slice {
		return v.Len()
	}
	return -1
}
