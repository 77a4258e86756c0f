package cpubackend

import (
	"sync"

	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/pkg/errors"
)

// Buffer is a tensor in host memory: flat holds shape.Size() values of the shape's Go type ([]float32, []int32,
// []bool, ...) in row-major order. flat is nil once the buffer is finalized or donated.
type Buffer struct {
	shape shapes.Shape
	flat  any
	// exposed is set once the caller got the storage itself (BufferData, NewSharedBuffer): such memory is never
	// recycled, since the caller may still hold it.
	exposed bool
	// base is the buffer whose storage this one views (Reshape and the like), nil when it owns its storage.
	// Views exist only inside an execution: outputs are always roots.
	base *Buffer
	// arena is set for storage in an execution's arena (see plan.go): never pooled, dead when the execution ends.
	arena bool
}

// supportedDTypes are the dtypes buffers can hold. Ops accept a subset (see each op's doc comment).
var supportedDTypes = map[dtypes.DType]bool{
	dtypes.Bool: true, dtypes.Int8: true, dtypes.Int16: true, dtypes.Int32: true, dtypes.Int64: true,
	dtypes.Uint8: true, dtypes.Uint16: true, dtypes.Uint32: true, dtypes.Uint64: true,
	dtypes.Float32: true, dtypes.Float64: true,
}

func checkSupportedDType(dt dtypes.DType, op string) error {
	if !supportedDTypes[dt] {
		return errors.Errorf("dtype %s not supported by the stylelab cpu backend for %s (it supports bool, int8-64, uint8-64, float32, float64); use GOMLX_BACKEND=go for other dtypes", dt, op)
	}
	return nil
}

// makeFlat allocates a zeroed slice of n values of dtype dt.
func makeFlat(dt dtypes.DType, n int) any {
	switch dt {
	case dtypes.Float32:
		return make([]float32, n)
	case dtypes.Float64:
		return make([]float64, n)
	case dtypes.Int32:
		return make([]int32, n)
	case dtypes.Int64:
		return make([]int64, n)
	case dtypes.Bool:
		return make([]bool, n)
	case dtypes.Int8:
		return make([]int8, n)
	case dtypes.Int16:
		return make([]int16, n)
	case dtypes.Uint8:
		return make([]uint8, n)
	case dtypes.Uint16:
		return make([]uint16, n)
	case dtypes.Uint32:
		return make([]uint32, n)
	case dtypes.Uint64:
		return make([]uint64, n)
	}
	panic(errors.Errorf("cpu backend: dtype %s not supported", dt))
}

// flatLen returns len(flat) for any supported slice type.
func flatLen(flat any) int {
	switch f := flat.(type) {
	case []float32:
		return len(f)
	case []float64:
		return len(f)
	case []int32:
		return len(f)
	case []int64:
		return len(f)
	case []bool:
		return len(f)
	case []int8:
		return len(f)
	case []int16:
		return len(f)
	case []uint8:
		return len(f)
	case []uint16:
		return len(f)
	case []uint32:
		return len(f)
	case []uint64:
		return len(f)
	}
	return -1
}

// flatDType returns the dtype of a supported slice type.
func flatDType(flat any) dtypes.DType {
	switch flat.(type) {
	case []float32:
		return dtypes.Float32
	case []float64:
		return dtypes.Float64
	case []int32:
		return dtypes.Int32
	case []int64:
		return dtypes.Int64
	case []bool:
		return dtypes.Bool
	case []int8:
		return dtypes.Int8
	case []int16:
		return dtypes.Int16
	case []uint8:
		return dtypes.Uint8
	case []uint16:
		return dtypes.Uint16
	case []uint32:
		return dtypes.Uint32
	case []uint64:
		return dtypes.Uint64
	}
	panic(errors.Errorf("cpu backend: unsupported storage %T", flat))
}

// newBuffer allocates a zeroed buffer.
func newBuffer(shape shapes.Shape) *Buffer {
	return &Buffer{shape: shape, flat: makeFlat(shape.DType, shape.Size())}
}

// poolKey identifies interchangeable storage: same dtype, same length.
type poolKey struct {
	dt dtypes.DType
	n  int
}

// maxPoolBytes bounds the memory the pool keeps for reuse.
const maxPoolBytes = 1 << 30

// bufferPool recycles the storage of dead buffers so that a step's intermediates reuse the previous step's memory
// instead of allocating (and zeroing, and later collecting) it again. Storage from the pool is NOT zeroed: every op
// writes its whole output.
type bufferPool struct {
	mu    sync.Mutex
	free  map[poolKey][]any
	bytes int
}

func newBufferPool() *bufferPool { return &bufferPool{free: map[poolKey][]any{}} }

// get returns a buffer of the shape, with recycled (not zeroed) storage when some is free.
func (p *bufferPool) get(shape shapes.Shape) *Buffer {
	n := shape.Size()
	k := poolKey{shape.DType, n}
	p.mu.Lock()
	if l := p.free[k]; len(l) > 0 {
		flat := l[len(l)-1]
		l[len(l)-1] = nil
		p.free[k] = l[:len(l)-1]
		p.bytes -= n * shape.DType.Size()
		p.mu.Unlock()
		return &Buffer{shape: shape, flat: flat}
	}
	p.mu.Unlock()
	return newBuffer(shape)
}

// put gives storage back for reuse (dropped when the pool is full or the storage is tiny).
func (p *bufferPool) put(flat any) {
	n := flatLen(flat)
	if n < 16 {
		return
	}
	dt := flatDType(flat)
	bytes := n * dt.Size()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.bytes+bytes > maxPoolBytes {
		return
	}
	k := poolKey{dt, n}
	p.free[k] = append(p.free[k], flat)
	p.bytes += bytes
}

// held returns the bytes the pool keeps for reuse.
func (p *bufferPool) held() int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return int64(p.bytes)
}

func (p *bufferPool) clear() {
	p.mu.Lock()
	p.free = map[poolKey][]any{}
	p.bytes = 0
	p.mu.Unlock()
}

// copyFlat copies src into dst (same type and length).
func copyFlat(dst, src any) {
	switch d := dst.(type) {
	case []float32:
		copy(d, src.([]float32))
	case []float64:
		copy(d, src.([]float64))
	case []int32:
		copy(d, src.([]int32))
	case []int64:
		copy(d, src.([]int64))
	case []bool:
		copy(d, src.([]bool))
	case []int8:
		copy(d, src.([]int8))
	case []int16:
		copy(d, src.([]int16))
	case []uint8:
		copy(d, src.([]uint8))
	case []uint16:
		copy(d, src.([]uint16))
	case []uint32:
		copy(d, src.([]uint32))
	case []uint64:
		copy(d, src.([]uint64))
	default:
		panic(errors.Errorf("cpu backend: copyFlat of %T", dst))
	}
}
