package cpubackend

import (
	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/pkg/errors"
)

// The dtype table: for each storage type, the elementwise kernels instantiated from the generic code in
// elementwise_kernels.go. It is the one place the elementwise ops list the types they support; the exec
// functions look the kernels up by the operands' storage (kernelsFor) instead of switching on it.

// kernels are the elementwise kernels of one storage type T. Ranges: out[o:o+n] (binary), out[lo:hi] (unary,
// where, convert); every operand slice holds T values unless stated.
type kernels struct {
	// binary computes a block of rows of out = a op b (see rowBlock). out holds T for arithmetic, bitwise and
	// logical ops, bool for comparisons.
	binary func(op backends.OpType, out, a, b any, blk rowBlock) error
	// unary computes out[i] = f(x[i]) for i in [lo, hi); out holds T, or bool for IsFinite and IsNaN.
	unary func(op backends.OpType, out, x any, lo, hi int) error
	// where sets out[i] = t[i] if c[i] else f[i] for i in [lo, hi) (c is already the range's part; t or f may be
	// one value, with total the output's size).
	where func(out any, c []bool, t, f any, lo, hi, total int)
	// convertTo[D] sets dst[lo:hi] (storage of dtype D) to src[lo:hi] converted (see ConvertDType).
	convertTo map[dtypes.DType]func(dst, src any, lo, hi int)
}

// rowBlock is a block of rows of a binary op: rows rows of n values; row r of the output starts at o + r·ro, of
// operand a at ao + r·ra with its values at stride sa (1, or 0 for one value repeated), of b at bo + r·rb (stride
// sb). One call of a kernel computes the whole block.
type rowBlock struct {
	o, n, rows, ro int
	ao, sa, ra     int
	bo, sb, rb     int
}

// forRows calls f(r, out row, a row, b row) for each row of the block.
func forRows[O, T any](blk rowBlock, out []O, a, b []T, f func(o []O, a, b []T) error) error {
	for r := range blk.rows {
		o := blk.o + r*blk.ro
		if err := f(out[o:o+blk.n], run(a, blk.ao+r*blk.ra, blk.sa, blk.n), run(b, blk.bo+r*blk.rb, blk.sb, blk.n)); err != nil {
			return err
		}
	}
	return nil
}

var dtypeKernels = map[dtypes.DType]*kernels{
	dtypes.Float32: floatKernels[float32](),
	dtypes.Float64: floatKernels[float64](),
	dtypes.Int8:    intKernels[int8](),
	dtypes.Int16:   intKernels[int16](),
	dtypes.Int32:   intKernels[int32](),
	dtypes.Int64:   intKernels[int64](),
	dtypes.Uint8:   intKernels[uint8](),
	dtypes.Uint16:  intKernels[uint16](),
	dtypes.Uint32:  intKernels[uint32](),
	dtypes.Uint64:  intKernels[uint64](),
	dtypes.Bool:    boolKernels(),
}

// kernelsFor returns the kernels of flat's storage type, or an error naming the op and the type.
func kernelsFor(flat any, op backends.OpType) (*kernels, error) {
	if k := dtypeKernels[flatDType(flat)]; k != nil {
		return k, nil
	}
	return nil, errors.Errorf("%s: dtype %T not supported by the stylelab cpu backend", op, flat)
}

// numberKernels are the kernels every number type shares: arithmetic and comparisons, Where, conversions.
func numberKernels[T number]() *kernels {
	return &kernels{
		binary: func(op backends.OpType, out, a, b any, blk rowBlock) error {
			if ob, ok := out.([]bool); ok {
				return forRows(blk, ob, a.([]T), b.([]T), func(o []bool, x, y []T) error { return compareT(op, o, x, y) })
			}
			return forRows(blk, out.([]T), a.([]T), b.([]T), func(o, x, y []T) error { return binaryT(op, o, x, y) })
		},
		where:     whereKernel[T],
		convertTo: convertersFrom[T](),
	}
}

// floatKernels add the float unary ops (math functions, IsFinite, IsNaN) to numberKernels.
func floatKernels[T ~float32 | ~float64]() *kernels {
	k := numberKernels[T]()
	k.unary = func(op backends.OpType, out, x any, lo, hi int) error { return unaryFloat(op, out, x.([]T), lo, hi) }
	return k
}

// intKernels add the integer unary ops and the bitwise binary ops to numberKernels.
func intKernels[T integer]() *kernels {
	k := numberKernels[T]()
	arith := k.binary
	k.binary = func(op backends.OpType, out, a, b any, blk rowBlock) error {
		switch op {
		case backends.OpTypeBitwiseAnd, backends.OpTypeBitwiseOr, backends.OpTypeBitwiseXor:
			return forRows(blk, out.([]T), a.([]T), b.([]T), func(o, x, y []T) error { return bitwiseI(op, o, x, y) })
		}
		return arith(op, out, a, b, blk)
	}
	k.unary = func(op backends.OpType, out, x any, lo, hi int) error {
		return unaryInt(op, out.([]T)[lo:hi], x.([]T)[lo:hi])
	}
	return k
}

// boolKernels: the logical ops (Equal and NotEqual included), LogicalNot, Where and conversions from bool.
func boolKernels() *kernels {
	return &kernels{
		binary: func(op backends.OpType, out, a, b any, blk rowBlock) error {
			return forRows(blk, out.([]bool), a.([]bool), b.([]bool), func(o, x, y []bool) error { return logicalT(op, o, x, y) })
		},
		unary: func(op backends.OpType, out, x any, lo, hi int) error {
			if op != backends.OpTypeLogicalNot {
				return errors.Errorf("%s not defined for bool", op)
			}
			o := out.([]bool)[lo:hi]
			for i, v := range x.([]bool)[lo:hi] {
				o[i] = !v
			}
			return nil
		},
		where:     whereKernel[bool],
		convertTo: convertersFromBool(),
	}
}

func whereKernel[T any](out any, c []bool, t, f any, lo, hi, total int) {
	where(out.([]T)[lo:hi], c, sub(t.([]T), lo, hi, total), sub(f.([]T), lo, hi, total))
}

// convertersFrom lists the conversions from number type S to every storage type.
func convertersFrom[S number]() map[dtypes.DType]func(dst, src any, lo, hi int) {
	return map[dtypes.DType]func(dst, src any, lo, hi int){
		dtypes.Float32: convertKernel[float32, S],
		dtypes.Float64: convertKernel[float64, S],
		dtypes.Int8:    convertKernel[int8, S],
		dtypes.Int16:   convertKernel[int16, S],
		dtypes.Int32:   convertKernel[int32, S],
		dtypes.Int64:   convertKernel[int64, S],
		dtypes.Uint8:   convertKernel[uint8, S],
		dtypes.Uint16:  convertKernel[uint16, S],
		dtypes.Uint32:  convertKernel[uint32, S],
		dtypes.Uint64:  convertKernel[uint64, S],
		dtypes.Bool:    func(dst, src any, lo, hi int) { toBool(dst.([]bool)[lo:hi], src.([]S)[lo:hi]) },
	}
}

// convertersFromBool lists the conversions from bool (true → 1, false → 0) to every number type.
func convertersFromBool() map[dtypes.DType]func(dst, src any, lo, hi int) {
	return map[dtypes.DType]func(dst, src any, lo, hi int){
		dtypes.Float32: fromBoolKernel[float32],
		dtypes.Float64: fromBoolKernel[float64],
		dtypes.Int8:    fromBoolKernel[int8],
		dtypes.Int16:   fromBoolKernel[int16],
		dtypes.Int32:   fromBoolKernel[int32],
		dtypes.Int64:   fromBoolKernel[int64],
		dtypes.Uint8:   fromBoolKernel[uint8],
		dtypes.Uint16:  fromBoolKernel[uint16],
		dtypes.Uint32:  fromBoolKernel[uint32],
		dtypes.Uint64:  fromBoolKernel[uint64],
	}
}

func convertKernel[D, S number](dst, src any, lo, hi int) { conv(dst.([]D)[lo:hi], src.([]S)[lo:hi]) }

func fromBoolKernel[D number](dst, src any, lo, hi int) {
	o := dst.([]D)[lo:hi]
	for i, v := range src.([]bool)[lo:hi] {
		if v {
			o[i] = 1
		} else {
			o[i] = 0
		}
	}
}
