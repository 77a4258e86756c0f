package cpubackend

import (
	"math"
	"slices"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/backends/shapeinference"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/pkg/errors"
)

// Elementwise ops. Binary ops take operands of equal rank whose axes are equal or 1 (broadcast), or a scalar;
// out[i] = f(lhs[i'], rhs[i'']) with i', i'' the broadcast positions. Fast paths: same shape, one scalar operand,
// and rows of a broadcast; large outputs are split over the workers. Float results are computed in the operand's
// precision for + − × ÷ max min, and through float64 math (then rounded) for the transcendental functions.

type integer interface {
	~int8 | ~int16 | ~int32 | ~int64 | ~uint8 | ~uint16 | ~uint32 | ~uint64
}

type number interface {
	integer | ~float32 | ~float64
}

var _ = registerOps(
	backends.OpTypeAdd, backends.OpTypeSub, backends.OpTypeMul, backends.OpTypeDiv, backends.OpTypeMax,
	backends.OpTypeMin, backends.OpTypePow, backends.OpTypeRem,
	backends.OpTypeBitwiseAnd, backends.OpTypeBitwiseOr, backends.OpTypeBitwiseXor,
	backends.OpTypeLogicalAnd, backends.OpTypeLogicalOr, backends.OpTypeLogicalXor,
	backends.OpTypeEqual, backends.OpTypeNotEqual, backends.OpTypeGreaterThan, backends.OpTypeGreaterOrEqual,
	backends.OpTypeLessThan, backends.OpTypeLessOrEqual,
	backends.OpTypeNeg, backends.OpTypeAbs, backends.OpTypeSign, backends.OpTypeSqrt, backends.OpTypeRsqrt,
	backends.OpTypeExp, backends.OpTypeExpm1, backends.OpTypeLog, backends.OpTypeLog1p, backends.OpTypeLogistic,
	backends.OpTypeTanh, backends.OpTypeSin, backends.OpTypeCos, backends.OpTypeErf, backends.OpTypeFloor,
	backends.OpTypeCeil, backends.OpTypeRound, backends.OpTypeIsFinite, backends.OpTypeIsNaN,
	backends.OpTypeLogicalNot, backends.OpTypeBitwiseNot,
	backends.OpTypeWhere, backends.OpTypeClamp, backends.OpTypeConvertDType,
)

// ---- builder methods ----

func (b *Builder) binary(op backends.OpType, x, y backends.Op) (backends.Op, error) {
	ins, err := b.checkOps(op.String(), x, y)
	if err != nil {
		return nil, err
	}
	var shape shapes.Shape
	if shapeinference.ComparisonOperations.Has(op) {
		shape, err = shapeinference.ComparisonOp(op, ins[0].shape, ins[1].shape)
	} else {
		shape, err = shapeinference.BinaryOp(op, ins[0].shape, ins[1].shape)
	}
	if err != nil {
		return nil, err
	}
	if err := checkSupportedDType(ins[0].shape.DType, op.String()); err != nil {
		return nil, err
	}
	return b.add(op, shape, execBinary, nil, ins...), nil
}

// Add returns lhs + rhs.
func (b *Builder) Add(x, y backends.Op) (backends.Op, error) {
	return b.binary(backends.OpTypeAdd, x, y)
}

// Sub returns lhs − rhs.
func (b *Builder) Sub(x, y backends.Op) (backends.Op, error) {
	return b.binary(backends.OpTypeSub, x, y)
}

// Mul returns lhs · rhs.
func (b *Builder) Mul(x, y backends.Op) (backends.Op, error) {
	return b.binary(backends.OpTypeMul, x, y)
}

// Div returns lhs / rhs (integers: truncated; x/0 = −1 for signed, max for unsigned, as XLA).
func (b *Builder) Div(x, y backends.Op) (backends.Op, error) {
	return b.binary(backends.OpTypeDiv, x, y)
}

// Max returns max(lhs, rhs) (NaN if either is NaN).
func (b *Builder) Max(x, y backends.Op) (backends.Op, error) {
	return b.binary(backends.OpTypeMax, x, y)
}

// Min returns min(lhs, rhs) (NaN if either is NaN).
func (b *Builder) Min(x, y backends.Op) (backends.Op, error) {
	return b.binary(backends.OpTypeMin, x, y)
}

// Pow returns lhs^rhs (floats: math.Pow; integers: repeated squaring, negative exponents give 0 unless |lhs| = 1).
func (b *Builder) Pow(x, y backends.Op) (backends.Op, error) {
	return b.binary(backends.OpTypePow, x, y)
}

// Rem returns the remainder of lhs / rhs with the sign of lhs (math.Mod for floats).
func (b *Builder) Rem(x, y backends.Op) (backends.Op, error) {
	return b.binary(backends.OpTypeRem, x, y)
}

// BitwiseAnd returns lhs & rhs (integers).
func (b *Builder) BitwiseAnd(x, y backends.Op) (backends.Op, error) {
	return b.binary(backends.OpTypeBitwiseAnd, x, y)
}

// BitwiseOr returns lhs | rhs (integers).
func (b *Builder) BitwiseOr(x, y backends.Op) (backends.Op, error) {
	return b.binary(backends.OpTypeBitwiseOr, x, y)
}

// BitwiseXor returns lhs ^ rhs (integers).
func (b *Builder) BitwiseXor(x, y backends.Op) (backends.Op, error) {
	return b.binary(backends.OpTypeBitwiseXor, x, y)
}

// LogicalAnd returns lhs ∧ rhs (bool).
func (b *Builder) LogicalAnd(x, y backends.Op) (backends.Op, error) {
	return b.binary(backends.OpTypeLogicalAnd, x, y)
}

// LogicalOr returns lhs ∨ rhs (bool).
func (b *Builder) LogicalOr(x, y backends.Op) (backends.Op, error) {
	return b.binary(backends.OpTypeLogicalOr, x, y)
}

// LogicalXor returns lhs ≠ rhs (bool).
func (b *Builder) LogicalXor(x, y backends.Op) (backends.Op, error) {
	return b.binary(backends.OpTypeLogicalXor, x, y)
}

// Equal returns lhs == rhs (bool).
func (b *Builder) Equal(x, y backends.Op) (backends.Op, error) {
	return b.binary(backends.OpTypeEqual, x, y)
}

// NotEqual returns lhs != rhs (bool).
func (b *Builder) NotEqual(x, y backends.Op) (backends.Op, error) {
	return b.binary(backends.OpTypeNotEqual, x, y)
}

// GreaterThan returns lhs > rhs (bool).
func (b *Builder) GreaterThan(x, y backends.Op) (backends.Op, error) {
	return b.binary(backends.OpTypeGreaterThan, x, y)
}

// GreaterOrEqual returns lhs ≥ rhs (bool).
func (b *Builder) GreaterOrEqual(x, y backends.Op) (backends.Op, error) {
	return b.binary(backends.OpTypeGreaterOrEqual, x, y)
}

// LessThan returns lhs < rhs (bool).
func (b *Builder) LessThan(x, y backends.Op) (backends.Op, error) {
	return b.binary(backends.OpTypeLessThan, x, y)
}

// LessOrEqual returns lhs ≤ rhs (bool).
func (b *Builder) LessOrEqual(x, y backends.Op) (backends.Op, error) {
	return b.binary(backends.OpTypeLessOrEqual, x, y)
}

func (b *Builder) unary(op backends.OpType, x backends.Op) (backends.Op, error) {
	n, err := b.checkOp(op.String(), x)
	if err != nil {
		return nil, err
	}
	var shape shapes.Shape
	switch op {
	case backends.OpTypeIsNaN, backends.OpTypeIsFinite:
		if !n.shape.DType.IsFloat() {
			return nil, errors.Errorf("%s needs a float operand, got %s", op, n.shape)
		}
		shape = n.shape.Clone()
	default:
		shape, err = shapeinference.UnaryOp(op, n.shape)
		if err != nil {
			return nil, err
		}
		shape = shape.Clone()
	}
	if op == backends.OpTypeIsFinite || op == backends.OpTypeIsNaN {
		shape.DType = dtypes.Bool
	}
	if err := checkSupportedDType(n.shape.DType, op.String()); err != nil {
		return nil, err
	}
	return b.add(op, shape, execUnary, nil, n), nil
}

// Neg returns −x.
func (b *Builder) Neg(x backends.Op) (backends.Op, error) { return b.unary(backends.OpTypeNeg, x) }

// Abs returns |x|.
func (b *Builder) Abs(x backends.Op) (backends.Op, error) { return b.unary(backends.OpTypeAbs, x) }

// Sign returns −1, 0 or 1 by the sign of x (±0 and NaN are returned as they are).
func (b *Builder) Sign(x backends.Op) (backends.Op, error) { return b.unary(backends.OpTypeSign, x) }

// Sqrt returns √x.
func (b *Builder) Sqrt(x backends.Op) (backends.Op, error) { return b.unary(backends.OpTypeSqrt, x) }

// Rsqrt returns 1/√x.
func (b *Builder) Rsqrt(x backends.Op) (backends.Op, error) { return b.unary(backends.OpTypeRsqrt, x) }

// Exp returns eˣ.
func (b *Builder) Exp(x backends.Op) (backends.Op, error) { return b.unary(backends.OpTypeExp, x) }

// Expm1 returns eˣ − 1.
func (b *Builder) Expm1(x backends.Op) (backends.Op, error) { return b.unary(backends.OpTypeExpm1, x) }

// Log returns ln x.
func (b *Builder) Log(x backends.Op) (backends.Op, error) { return b.unary(backends.OpTypeLog, x) }

// Log1p returns ln(1 + x).
func (b *Builder) Log1p(x backends.Op) (backends.Op, error) { return b.unary(backends.OpTypeLog1p, x) }

// Logistic returns the sigmoid 1 / (1 + e⁻ˣ).
func (b *Builder) Logistic(x backends.Op) (backends.Op, error) {
	return b.unary(backends.OpTypeLogistic, x)
}

// Tanh returns tanh x.
func (b *Builder) Tanh(x backends.Op) (backends.Op, error) { return b.unary(backends.OpTypeTanh, x) }

// Sin returns sin x.
func (b *Builder) Sin(x backends.Op) (backends.Op, error) { return b.unary(backends.OpTypeSin, x) }

// Cos returns cos x.
func (b *Builder) Cos(x backends.Op) (backends.Op, error) { return b.unary(backends.OpTypeCos, x) }

// Erf returns the error function of x.
func (b *Builder) Erf(x backends.Op) (backends.Op, error) { return b.unary(backends.OpTypeErf, x) }

// Floor returns ⌊x⌋.
func (b *Builder) Floor(x backends.Op) (backends.Op, error) { return b.unary(backends.OpTypeFloor, x) }

// Ceil returns ⌈x⌉.
func (b *Builder) Ceil(x backends.Op) (backends.Op, error) { return b.unary(backends.OpTypeCeil, x) }

// Round returns x rounded to the nearest integer, halves away from zero.
func (b *Builder) Round(x backends.Op) (backends.Op, error) { return b.unary(backends.OpTypeRound, x) }

// IsFinite returns whether x is neither infinite nor NaN (bool).
func (b *Builder) IsFinite(x backends.Op) (backends.Op, error) {
	return b.unary(backends.OpTypeIsFinite, x)
}

// IsNaN returns whether x is NaN (bool).
func (b *Builder) IsNaN(x backends.Op) (backends.Op, error) { return b.unary(backends.OpTypeIsNaN, x) }

// LogicalNot returns ¬x (bool).
func (b *Builder) LogicalNot(x backends.Op) (backends.Op, error) {
	return b.unary(backends.OpTypeLogicalNot, x)
}

// BitwiseNot returns ^x (integers).
func (b *Builder) BitwiseNot(x backends.Op) (backends.Op, error) {
	return b.unary(backends.OpTypeBitwiseNot, x)
}

// Where returns onTrue[i] where condition[i], else onFalse[i]; any of the three may be a scalar.
func (b *Builder) Where(condition, onTrue, onFalse backends.Op) (backends.Op, error) {
	ins, err := b.checkOps("Where", condition, onTrue, onFalse)
	if err != nil {
		return nil, err
	}
	shape, err := shapeinference.WhereOp(ins[0].shape, ins[1].shape, ins[2].shape)
	if err != nil {
		return nil, err
	}
	if ins[1].shape.DType != ins[2].shape.DType {
		return nil, errors.Errorf("Where: onTrue %s and onFalse %s must have the same dtype", ins[1].shape, ins[2].shape)
	}
	return b.add(backends.OpTypeWhere, shape, execWhere, nil, ins...), nil
}

// Clamp returns min(max(x, lo), hi); lo and hi may be scalars.
func (b *Builder) Clamp(lo, x, hi backends.Op) (backends.Op, error) {
	ins, err := b.checkOps("Clamp", lo, x, hi)
	if err != nil {
		return nil, err
	}
	for _, k := range []int{0, 2} {
		if ins[k].shape.DType != ins[1].shape.DType || (!ins[k].shape.IsScalar() && !ins[k].shape.Equal(ins[1].shape)) {
			return nil, errors.Errorf("Clamp: bounds must be scalars or have x's shape %s, got %s", ins[1].shape, ins[k].shape)
		}
	}
	lower, _ := b.binary(backends.OpTypeMax, ins[1], ins[0])
	return b.binary(backends.OpTypeMin, lower, ins[2])
}

// ConvertDType returns x converted to dtype (floats to integers truncate toward zero; to bool: x ≠ 0; from bool:
// 1 or 0).
func (b *Builder) ConvertDType(x backends.Op, dtype dtypes.DType) (backends.Op, error) {
	n, err := b.checkOp("ConvertDType", x)
	if err != nil {
		return nil, err
	}
	if err := checkSupportedDType(n.shape.DType, "ConvertDType"); err != nil {
		return nil, err
	}
	if err := checkSupportedDType(dtype, "ConvertDType"); err != nil {
		return nil, err
	}
	shape := n.shape.Clone()
	shape.DType = dtype
	return b.add(backends.OpTypeConvertDType, shape, execConvert, nil, n), nil
}

// ---- execution ----

func execBinary(ex *execCtx, n *node, in []*Buffer) (*Buffer, error) {
	a, bb := in[0], in[1]
	var reuse []int
	if n.shape.DType == a.shape.DType {
		if a.shape.Size() == n.shape.Size() {
			reuse = append(reuse, 0)
		}
		if bb.shape.Size() == n.shape.Size() {
			reuse = append(reuse, 1)
		}
	}
	out := ex.output(n, reuse...)
	total := n.shape.Size()
	// Fast paths: same shape or scalar operands.
	if (a.shape.Size() == total || a.shape.Size() == 1) && (bb.shape.Size() == total || bb.shape.Size() == 1) &&
		(a.shape.Size() == 1 || slices.Equal(a.shape.Dimensions, n.shape.Dimensions) || total == 1) &&
		(bb.shape.Size() == 1 || slices.Equal(bb.shape.Dimensions, n.shape.Dimensions) || total == 1) {
		var err error
		ex.backend.parallelFor(total, elemGrain, func(lo, hi int) {
			e := binaryFlat(n.op, out.flat, a.flat, bb.flat, lo, hi)
			if e != nil {
				err = e
			}
		})
		return out, err
	}
	p := newBPlan(n.shape.Dimensions, a.shape.Dimensions, bb.shape.Dimensions)
	L := p.rowLen()
	sa, sb := p.innerStride(0), p.innerStride(1)
	var err error
	ex.backend.parallelFor(p.numRows(), max(1, elemGrain/L), func(lo, hi int) {
		p.forRows(lo, hi, func(row int, offs []int) {
			if e := binaryRun(n.op, out.flat, a.flat, bb.flat, row*L, L, offs[0], sa, offs[1], sb); e != nil {
				err = e
			}
		})
	})
	return out, err
}

// binaryFlat computes out[lo:hi] from same-shaped or one-value operands.
func binaryFlat(op backends.OpType, out, a, b any, lo, hi int) error {
	pick := func(n, l int) (int, int) { // range of an operand: [lo,hi) or its one value
		if n == 1 && l != 1 {
			return 0, 1
		}
		return lo, hi
	}
	_ = pick
	switch o := out.(type) {
	case []float32:
		return binaryT(op, o[lo:hi], sub(a.([]float32), lo, hi, len(o)), sub(b.([]float32), lo, hi, len(o)))
	case []float64:
		return binaryT(op, o[lo:hi], sub(a.([]float64), lo, hi, len(o)), sub(b.([]float64), lo, hi, len(o)))
	case []int32:
		return binaryT(op, o[lo:hi], sub(a.([]int32), lo, hi, len(o)), sub(b.([]int32), lo, hi, len(o)))
	case []int64:
		return binaryT(op, o[lo:hi], sub(a.([]int64), lo, hi, len(o)), sub(b.([]int64), lo, hi, len(o)))
	case []int8:
		return binaryT(op, o[lo:hi], sub(a.([]int8), lo, hi, len(o)), sub(b.([]int8), lo, hi, len(o)))
	case []int16:
		return binaryT(op, o[lo:hi], sub(a.([]int16), lo, hi, len(o)), sub(b.([]int16), lo, hi, len(o)))
	case []uint8:
		return binaryT(op, o[lo:hi], sub(a.([]uint8), lo, hi, len(o)), sub(b.([]uint8), lo, hi, len(o)))
	case []uint16:
		return binaryT(op, o[lo:hi], sub(a.([]uint16), lo, hi, len(o)), sub(b.([]uint16), lo, hi, len(o)))
	case []uint32:
		return binaryT(op, o[lo:hi], sub(a.([]uint32), lo, hi, len(o)), sub(b.([]uint32), lo, hi, len(o)))
	case []uint64:
		return binaryT(op, o[lo:hi], sub(a.([]uint64), lo, hi, len(o)), sub(b.([]uint64), lo, hi, len(o)))
	case []bool:
		if ab, ok := a.([]bool); ok {
			return logicalT(op, o[lo:hi], sub(ab, lo, hi, len(o)), sub(b.([]bool), lo, hi, len(o)))
		}
		return compareFlat(op, o, a, b, lo, hi)
	}
	return errors.Errorf("dtype of %T not supported", out)
}

// sub returns the part of an operand for output range [lo,hi): the range itself, or the one value of a scalar.
func sub[T any](s []T, lo, hi, total int) []T {
	if len(s) == 1 && total != 1 {
		return s
	}
	return s[lo:hi]
}

func compareFlat(op backends.OpType, o []bool, a, b any, lo, hi int) error {
	switch av := a.(type) {
	case []float32:
		return compareT(op, o[lo:hi], sub(av, lo, hi, len(o)), sub(b.([]float32), lo, hi, len(o)))
	case []float64:
		return compareT(op, o[lo:hi], sub(av, lo, hi, len(o)), sub(b.([]float64), lo, hi, len(o)))
	case []int32:
		return compareT(op, o[lo:hi], sub(av, lo, hi, len(o)), sub(b.([]int32), lo, hi, len(o)))
	case []int64:
		return compareT(op, o[lo:hi], sub(av, lo, hi, len(o)), sub(b.([]int64), lo, hi, len(o)))
	case []int8:
		return compareT(op, o[lo:hi], sub(av, lo, hi, len(o)), sub(b.([]int8), lo, hi, len(o)))
	case []int16:
		return compareT(op, o[lo:hi], sub(av, lo, hi, len(o)), sub(b.([]int16), lo, hi, len(o)))
	case []uint8:
		return compareT(op, o[lo:hi], sub(av, lo, hi, len(o)), sub(b.([]uint8), lo, hi, len(o)))
	case []uint16:
		return compareT(op, o[lo:hi], sub(av, lo, hi, len(o)), sub(b.([]uint16), lo, hi, len(o)))
	case []uint32:
		return compareT(op, o[lo:hi], sub(av, lo, hi, len(o)), sub(b.([]uint32), lo, hi, len(o)))
	case []uint64:
		return compareT(op, o[lo:hi], sub(av, lo, hi, len(o)), sub(b.([]uint64), lo, hi, len(o)))
	case []bool:
		bv := b.([]bool)
		x, y := sub(av, lo, hi, len(o)), sub(bv, lo, hi, len(o))
		oo := o[lo:hi]
		for i := range oo {
			p, q := x[min(i, len(x)-1)], y[min(i, len(y)-1)]
			switch op {
			case backends.OpTypeEqual:
				oo[i] = p == q
			case backends.OpTypeNotEqual:
				oo[i] = p != q
			default:
				return errors.Errorf("%s not defined for bool", op)
			}
		}
		return nil
	}
	return errors.Errorf("dtype of %T not supported for %s", a, op)
}

// binaryRun computes one broadcast row: out[o:o+n] from operand runs at offsets ao, bo with strides sa, sb.
func binaryRun(op backends.OpType, out, a, b any, o, n, ao, sa, bo, sb int) error {
	switch ov := out.(type) {
	case []float32:
		return binaryT(op, ov[o:o+n], run(a.([]float32), ao, sa, n), run(b.([]float32), bo, sb, n))
	case []float64:
		return binaryT(op, ov[o:o+n], run(a.([]float64), ao, sa, n), run(b.([]float64), bo, sb, n))
	case []int32:
		return binaryT(op, ov[o:o+n], run(a.([]int32), ao, sa, n), run(b.([]int32), bo, sb, n))
	case []int64:
		return binaryT(op, ov[o:o+n], run(a.([]int64), ao, sa, n), run(b.([]int64), bo, sb, n))
	case []int8:
		return binaryT(op, ov[o:o+n], run(a.([]int8), ao, sa, n), run(b.([]int8), bo, sb, n))
	case []int16:
		return binaryT(op, ov[o:o+n], run(a.([]int16), ao, sa, n), run(b.([]int16), bo, sb, n))
	case []uint8:
		return binaryT(op, ov[o:o+n], run(a.([]uint8), ao, sa, n), run(b.([]uint8), bo, sb, n))
	case []uint16:
		return binaryT(op, ov[o:o+n], run(a.([]uint16), ao, sa, n), run(b.([]uint16), bo, sb, n))
	case []uint32:
		return binaryT(op, ov[o:o+n], run(a.([]uint32), ao, sa, n), run(b.([]uint32), bo, sb, n))
	case []uint64:
		return binaryT(op, ov[o:o+n], run(a.([]uint64), ao, sa, n), run(b.([]uint64), bo, sb, n))
	case []bool:
		if ab, ok := a.([]bool); ok {
			return logicalT(op, ov[o:o+n], run(ab, ao, sa, n), run(b.([]bool), bo, sb, n))
		}
		// Comparison: build one-row views and reuse compareFlat on a temporary.
		return compareRun(op, ov[o:o+n], a, b, ao, sa, bo, sb, n)
	}
	return errors.Errorf("dtype of %T not supported", out)
}

func compareRun(op backends.OpType, o []bool, a, b any, ao, sa, bo, sb, n int) error {
	switch av := a.(type) {
	case []float32:
		return compareT(op, o, run(av, ao, sa, n), run(b.([]float32), bo, sb, n))
	case []float64:
		return compareT(op, o, run(av, ao, sa, n), run(b.([]float64), bo, sb, n))
	case []int32:
		return compareT(op, o, run(av, ao, sa, n), run(b.([]int32), bo, sb, n))
	case []int64:
		return compareT(op, o, run(av, ao, sa, n), run(b.([]int64), bo, sb, n))
	case []int8:
		return compareT(op, o, run(av, ao, sa, n), run(b.([]int8), bo, sb, n))
	case []int16:
		return compareT(op, o, run(av, ao, sa, n), run(b.([]int16), bo, sb, n))
	case []uint8:
		return compareT(op, o, run(av, ao, sa, n), run(b.([]uint8), bo, sb, n))
	case []uint16:
		return compareT(op, o, run(av, ao, sa, n), run(b.([]uint16), bo, sb, n))
	case []uint32:
		return compareT(op, o, run(av, ao, sa, n), run(b.([]uint32), bo, sb, n))
	case []uint64:
		return compareT(op, o, run(av, ao, sa, n), run(b.([]uint64), bo, sb, n))
	case []bool:
		x, y := run(av, ao, sa, n), run(b.([]bool), bo, sb, n)
		for i := range o {
			p, q := x[min(i, len(x)-1)], y[min(i, len(y)-1)]
			switch op {
			case backends.OpTypeEqual:
				o[i] = p == q
			case backends.OpTypeNotEqual:
				o[i] = p != q
			default:
				return errors.Errorf("%s not defined for bool", op)
			}
		}
		return nil
	}
	return errors.Errorf("dtype of %T not supported for %s", a, op)
}

// binaryT computes out[i] = a[i] op b[i], where a or b may hold one value that applies to every i.
func binaryT[T number](op backends.OpType, out, a, b []T) error {
	n := len(out)
	as, bs := len(a) == 1 && n != 1, len(b) == 1 && n != 1
	switch op {
	case backends.OpTypeAdd:
		switch {
		case as && bs:
			fill(out, a[0]+b[0])
		case as:
			s, b := a[0], b[:n]
			for i := range out {
				out[i] = s + b[i]
			}
		case bs:
			s, a := b[0], a[:n]
			for i := range out {
				out[i] = a[i] + s
			}
		default:
			a, b := a[:n], b[:n]
			for i := range out {
				out[i] = a[i] + b[i]
			}
		}
	case backends.OpTypeSub:
		switch {
		case as && bs:
			fill(out, a[0]-b[0])
		case as:
			s, b := a[0], b[:n]
			for i := range out {
				out[i] = s - b[i]
			}
		case bs:
			s, a := b[0], a[:n]
			for i := range out {
				out[i] = a[i] - s
			}
		default:
			a, b := a[:n], b[:n]
			for i := range out {
				out[i] = a[i] - b[i]
			}
		}
	case backends.OpTypeMul:
		switch {
		case as && bs:
			fill(out, a[0]*b[0])
		case as:
			s, b := a[0], b[:n]
			for i := range out {
				out[i] = s * b[i]
			}
		case bs:
			s, a := b[0], a[:n]
			for i := range out {
				out[i] = a[i] * s
			}
		default:
			a, b := a[:n], b[:n]
			for i := range out {
				out[i] = a[i] * b[i]
			}
		}
	case backends.OpTypeDiv:
		if isInteger[T]() {
			return elemwise2(out, a, b, intDiv[T])
		}
		switch {
		case as && bs:
			fill(out, a[0]/b[0])
		case as:
			s, b := a[0], b[:n]
			for i := range out {
				out[i] = s / b[i]
			}
		case bs:
			s, a := b[0], a[:n]
			for i := range out {
				out[i] = a[i] / s
			}
		default:
			a, b := a[:n], b[:n]
			for i := range out {
				out[i] = a[i] / b[i]
			}
		}
	case backends.OpTypeMax:
		switch {
		case as:
			s, b := a[0], b[:n]
			for i := range out {
				out[i] = max(s, b[i])
			}
		case bs:
			s, a := b[0], a[:n]
			for i := range out {
				out[i] = max(a[i], s)
			}
		default:
			a, b := a[:n], b[:n]
			for i := range out {
				out[i] = max(a[i], b[i])
			}
		}
	case backends.OpTypeMin:
		switch {
		case as:
			s, b := a[0], b[:n]
			for i := range out {
				out[i] = min(s, b[i])
			}
		case bs:
			s, a := b[0], a[:n]
			for i := range out {
				out[i] = min(a[i], s)
			}
		default:
			a, b := a[:n], b[:n]
			for i := range out {
				out[i] = min(a[i], b[i])
			}
		}
	case backends.OpTypePow:
		if isInteger[T]() {
			return elemwise2(out, a, b, intPow[T])
		}
		return elemwise2(out, a, b, func(x, y T) T { return T(math.Pow(float64(x), float64(y))) })
	case backends.OpTypeRem:
		if isInteger[T]() {
			return elemwise2(out, a, b, intRem[T])
		}
		return elemwise2(out, a, b, func(x, y T) T { return T(math.Mod(float64(x), float64(y))) })
	case backends.OpTypeBitwiseAnd, backends.OpTypeBitwiseOr, backends.OpTypeBitwiseXor:
		return bitwise(op, out, a, b)
	default:
		return errors.Errorf("binary op %s not supported for %T", op, out)
	}
	return nil
}

func fill[T any](s []T, v T) {
	for i := range s {
		s[i] = v
	}
}

// elemwise2 is the generic (slower) path: out[i] = f(a[i], b[i]) with one-value broadcasting.
func elemwise2[T, U any](out []U, a, b []T, f func(T, T) U) error {
	n := len(out)
	as, bs := len(a) == 1 && n != 1, len(b) == 1 && n != 1
	for i := range out {
		x, y := a[0], b[0]
		if !as {
			x = a[i]
		}
		if !bs {
			y = b[i]
		}
		out[i] = f(x, y)
	}
	return nil
}

func isInteger[T number]() bool {
	var x T = 1
	x /= 2
	return x == 0
}

func isSigned[T number]() bool {
	var x T
	x--
	return x < 0
}

// intDiv is truncated division; division by zero gives −1 (signed) or all ones (unsigned), as XLA.
func intDiv[T number](x, y T) T {
	if y == 0 {
		var z T
		return z - 1
	}
	if isSigned[T]() && y == z1[T]() && x == minInt[T]() {
		return x
	}
	return x / y
}

// intRem is the remainder of truncated division; x rem 0 = x, as XLA.
func intRem[T number](x, y T) T {
	if y == 0 {
		return x
	}
	if isSigned[T]() && y == z1[T]() && x == minInt[T]() {
		return 0
	}
	return T(int64(x) % int64(y))
}

func z1[T number]() T {
	var z T
	return z - 1
}

// minInt returns the most negative value of a signed integer type.
func minInt[T number]() T {
	var x T = 1
	for {
		y := x * 2
		if y <= 0 {
			if y < 0 {
				return y
			}
			return x
		}
		x = y
	}
}

// intPow computes x^y by repeated squaring; a negative y gives 1 for x = 1, ±1 for x = −1, else 0.
func intPow[T number](x, y T) T {
	if isSigned[T]() && y < 0 {
		switch {
		case x == 1:
			return 1
		case x == z1[T]():
			if int64(y)%2 == 0 {
				return 1
			}
			return x
		}
		return 0
	}
	r := T(1)
	for y > 0 {
		if uint64(y)&1 == 1 {
			r *= x
		}
		x *= x
		y /= 2
	}
	return r
}

func bitwise[T number](op backends.OpType, out, a, b []T) error {
	switch o := any(out).(type) {
	case []int8:
		return bitwiseI(op, o, any(a).([]int8), any(b).([]int8))
	case []int16:
		return bitwiseI(op, o, any(a).([]int16), any(b).([]int16))
	case []int32:
		return bitwiseI(op, o, any(a).([]int32), any(b).([]int32))
	case []int64:
		return bitwiseI(op, o, any(a).([]int64), any(b).([]int64))
	case []uint8:
		return bitwiseI(op, o, any(a).([]uint8), any(b).([]uint8))
	case []uint16:
		return bitwiseI(op, o, any(a).([]uint16), any(b).([]uint16))
	case []uint32:
		return bitwiseI(op, o, any(a).([]uint32), any(b).([]uint32))
	case []uint64:
		return bitwiseI(op, o, any(a).([]uint64), any(b).([]uint64))
	}
	return errors.Errorf("%s needs integers, got %T", op, out)
}

func bitwiseI[T integer](op backends.OpType, out, a, b []T) error {
	switch op {
	case backends.OpTypeBitwiseAnd:
		return elemwise2(out, a, b, func(x, y T) T { return x & y })
	case backends.OpTypeBitwiseOr:
		return elemwise2(out, a, b, func(x, y T) T { return x | y })
	default:
		return elemwise2(out, a, b, func(x, y T) T { return x ^ y })
	}
}

func logicalT(op backends.OpType, out, a, b []bool) error {
	switch op {
	case backends.OpTypeLogicalAnd:
		return elemwise2(out, a, b, func(x, y bool) bool { return x && y })
	case backends.OpTypeLogicalOr:
		return elemwise2(out, a, b, func(x, y bool) bool { return x || y })
	case backends.OpTypeLogicalXor, backends.OpTypeNotEqual:
		return elemwise2(out, a, b, func(x, y bool) bool { return x != y })
	case backends.OpTypeEqual:
		return elemwise2(out, a, b, func(x, y bool) bool { return x == y })
	}
	return errors.Errorf("%s not defined for bool operands", op)
}

func compareT[T number](op backends.OpType, out []bool, a, b []T) error {
	switch op {
	case backends.OpTypeEqual:
		return elemwise2(out, a, b, func(x, y T) bool { return x == y })
	case backends.OpTypeNotEqual:
		return elemwise2(out, a, b, func(x, y T) bool { return x != y })
	case backends.OpTypeGreaterThan:
		return elemwise2(out, a, b, func(x, y T) bool { return x > y })
	case backends.OpTypeGreaterOrEqual:
		return elemwise2(out, a, b, func(x, y T) bool { return x >= y })
	case backends.OpTypeLessThan:
		return elemwise2(out, a, b, func(x, y T) bool { return x < y })
	case backends.OpTypeLessOrEqual:
		return elemwise2(out, a, b, func(x, y T) bool { return x <= y })
	}
	return errors.Errorf("comparison %s not supported", op)
}

func execUnary(ex *execCtx, n *node, in []*Buffer) (*Buffer, error) {
	x := in[0]
	out := ex.output(n, 0)
	var err error
	ex.backend.parallelFor(n.shape.Size(), elemGrain/4, func(lo, hi int) {
		var e error
		switch xv := x.flat.(type) {
		case []float32:
			e = unaryFloat(n.op, out.flat, xv, lo, hi)
		case []float64:
			e = unaryFloat(n.op, out.flat, xv, lo, hi)
		case []int32:
			e = unaryInt(n.op, out.flat.([]int32)[lo:hi], xv[lo:hi])
		case []int64:
			e = unaryInt(n.op, out.flat.([]int64)[lo:hi], xv[lo:hi])
		case []int8:
			e = unaryInt(n.op, out.flat.([]int8)[lo:hi], xv[lo:hi])
		case []int16:
			e = unaryInt(n.op, out.flat.([]int16)[lo:hi], xv[lo:hi])
		case []uint8:
			e = unaryInt(n.op, out.flat.([]uint8)[lo:hi], xv[lo:hi])
		case []uint16:
			e = unaryInt(n.op, out.flat.([]uint16)[lo:hi], xv[lo:hi])
		case []uint32:
			e = unaryInt(n.op, out.flat.([]uint32)[lo:hi], xv[lo:hi])
		case []uint64:
			e = unaryInt(n.op, out.flat.([]uint64)[lo:hi], xv[lo:hi])
		case []bool:
			if n.op != backends.OpTypeLogicalNot {
				e = errors.Errorf("%s not defined for bool", n.op)
				break
			}
			o := out.flat.([]bool)[lo:hi]
			for i, v := range xv[lo:hi] {
				o[i] = !v
			}
		default:
			e = errors.Errorf("dtype %T not supported for %s", x.flat, n.op)
		}
		if e != nil {
			err = e
		}
	})
	return out, err
}

func unaryFloat[T ~float32 | ~float64](op backends.OpType, outAny any, xs []T, lo, hi int) error {
	x := xs[lo:hi]
	if op == backends.OpTypeIsFinite || op == backends.OpTypeIsNaN {
		o := outAny.([]bool)[lo:hi]
		for i, v := range x {
			f := float64(v)
			if op == backends.OpTypeIsNaN {
				o[i] = math.IsNaN(f)
			} else {
				o[i] = !math.IsNaN(f) && !math.IsInf(f, 0)
			}
		}
		return nil
	}
	o := outAny.([]T)[lo:hi]
	o = o[:len(x)]
	switch op {
	case backends.OpTypeNeg:
		for i, v := range x {
			o[i] = -v
		}
	case backends.OpTypeAbs:
		for i, v := range x {
			if v < 0 {
				v = -v
			}
			o[i] = v
		}
	case backends.OpTypeSign:
		if xs, ok := any(x).([]float32); ok {
			signFloat32(any(o).([]float32), xs)
			break
		}
		for i, v := range x {
			switch {
			case v > 0:
				o[i] = 1
			case v < 0:
				o[i] = -1
			default:
				o[i] = v // ±0 and NaN
			}
		}
	case backends.OpTypeSqrt:
		for i, v := range x {
			o[i] = T(math.Sqrt(float64(v)))
		}
	case backends.OpTypeRsqrt:
		for i, v := range x {
			o[i] = T(1 / math.Sqrt(float64(v)))
		}
	case backends.OpTypeExp:
		for i, v := range x {
			o[i] = T(math.Exp(float64(v)))
		}
	case backends.OpTypeExpm1:
		for i, v := range x {
			o[i] = T(math.Expm1(float64(v)))
		}
	case backends.OpTypeLog:
		for i, v := range x {
			o[i] = T(math.Log(float64(v)))
		}
	case backends.OpTypeLog1p:
		for i, v := range x {
			o[i] = T(math.Log1p(float64(v)))
		}
	case backends.OpTypeLogistic:
		for i, v := range x {
			o[i] = T(1 / (1 + math.Exp(-float64(v))))
		}
	case backends.OpTypeTanh:
		for i, v := range x {
			o[i] = T(math.Tanh(float64(v)))
		}
	case backends.OpTypeSin:
		for i, v := range x {
			o[i] = T(math.Sin(float64(v)))
		}
	case backends.OpTypeCos:
		for i, v := range x {
			o[i] = T(math.Cos(float64(v)))
		}
	case backends.OpTypeErf:
		for i, v := range x {
			o[i] = T(math.Erf(float64(v)))
		}
	case backends.OpTypeFloor:
		for i, v := range x {
			o[i] = T(math.Floor(float64(v)))
		}
	case backends.OpTypeCeil:
		for i, v := range x {
			o[i] = T(math.Ceil(float64(v)))
		}
	case backends.OpTypeRound:
		for i, v := range x {
			o[i] = T(math.Round(float64(v)))
		}
	default:
		return errors.Errorf("unary op %s not supported for floats", op)
	}
	return nil
}

// signFloat32 is Sign without data-dependent branches (ReLU gradients take the sign of half-zero tensors, where
// branches mispredict): ±1 with x's sign bit, except ±0 and NaN, which are kept.
func signFloat32(o, x []float32) {
	o = o[:len(x)]
	for i, v := range x {
		b := math.Float32bits(v)
		m := b & 0x7fffffff                    // |x|'s bits
		r := b&0x80000000 | 0x3f800000         // ±1.0
		keep := (m-1)>>31 | (0x7f800000-m)>>31 // 1 for ±0 (m−1 wraps) and NaN (m > +Inf's bits)
		mask := -keep                          // all ones when x is kept
		o[i] = math.Float32frombits(b&mask | r&^mask)
	}
}

func unaryInt[T integer](op backends.OpType, o, x []T) error {
	switch op {
	case backends.OpTypeNeg:
		for i, v := range x {
			o[i] = -v
		}
	case backends.OpTypeAbs:
		for i, v := range x {
			if v < 0 {
				v = -v
			}
			o[i] = v
		}
	case backends.OpTypeSign:
		for i, v := range x {
			switch {
			case v > 0:
				o[i] = 1
			case v < 0:
				o[i] = 0
				o[i]--
			default:
				o[i] = 0
			}
		}
	case backends.OpTypeBitwiseNot:
		for i, v := range x {
			o[i] = ^v
		}
	default:
		return errors.Errorf("unary op %s not supported for integers", op)
	}
	return nil
}

func execWhere(ex *execCtx, n *node, in []*Buffer) (*Buffer, error) {
	c, t, f := in[0], in[1], in[2]
	var reuse []int
	for k := 1; k <= 2; k++ {
		if in[k].shape.Size() == n.shape.Size() {
			reuse = append(reuse, k)
		}
	}
	out := ex.output(n, reuse...)
	cv := c.flat.([]bool)
	total := n.shape.Size()
	var err error
	ex.backend.parallelFor(total, elemGrain, func(lo, hi int) {
		cs := sub(cv, lo, hi, total)
		switch o := out.flat.(type) {
		case []float32:
			where(o[lo:hi], cs, sub(t.flat.([]float32), lo, hi, total), sub(f.flat.([]float32), lo, hi, total))
		case []float64:
			where(o[lo:hi], cs, sub(t.flat.([]float64), lo, hi, total), sub(f.flat.([]float64), lo, hi, total))
		case []int32:
			where(o[lo:hi], cs, sub(t.flat.([]int32), lo, hi, total), sub(f.flat.([]int32), lo, hi, total))
		case []int64:
			where(o[lo:hi], cs, sub(t.flat.([]int64), lo, hi, total), sub(f.flat.([]int64), lo, hi, total))
		case []bool:
			where(o[lo:hi], cs, sub(t.flat.([]bool), lo, hi, total), sub(f.flat.([]bool), lo, hi, total))
		case []int8:
			where(o[lo:hi], cs, sub(t.flat.([]int8), lo, hi, total), sub(f.flat.([]int8), lo, hi, total))
		case []int16:
			where(o[lo:hi], cs, sub(t.flat.([]int16), lo, hi, total), sub(f.flat.([]int16), lo, hi, total))
		case []uint8:
			where(o[lo:hi], cs, sub(t.flat.([]uint8), lo, hi, total), sub(f.flat.([]uint8), lo, hi, total))
		case []uint16:
			where(o[lo:hi], cs, sub(t.flat.([]uint16), lo, hi, total), sub(f.flat.([]uint16), lo, hi, total))
		case []uint32:
			where(o[lo:hi], cs, sub(t.flat.([]uint32), lo, hi, total), sub(f.flat.([]uint32), lo, hi, total))
		case []uint64:
			where(o[lo:hi], cs, sub(t.flat.([]uint64), lo, hi, total), sub(f.flat.([]uint64), lo, hi, total))
		default:
			err = errors.Errorf("Where: dtype %T not supported", out.flat)
		}
	})
	return out, err
}

func where[T any](o []T, c []bool, t, f []T) {
	n := len(o)
	cs, ts, fs := len(c) == 1 && n != 1, len(t) == 1 && n != 1, len(f) == 1 && n != 1
	for i := range o {
		ci, ti, fi := i, i, i
		if cs {
			ci = 0
		}
		if ts {
			ti = 0
		}
		if fs {
			fi = 0
		}
		if c[ci] {
			o[i] = t[ti]
		} else {
			o[i] = f[fi]
		}
	}
}

func execConvert(ex *execCtx, n *node, in []*Buffer) (*Buffer, error) {
	if in[0].shape.DType == n.shape.DType {
		return execIdentity(ex, n, in)
	}
	out := ex.output(n)
	var err error
	ex.backend.parallelFor(n.shape.Size(), elemGrain, func(lo, hi int) {
		if e := convertRange(out.flat, in[0].flat, lo, hi); e != nil {
			err = e
		}
	})
	return out, err
}

func convertRange(dst, src any, lo, hi int) error {
	switch d := dst.(type) {
	case []float32:
		return convertTo(d[lo:hi], src, lo, hi)
	case []float64:
		return convertTo(d[lo:hi], src, lo, hi)
	case []int32:
		return convertTo(d[lo:hi], src, lo, hi)
	case []int64:
		return convertTo(d[lo:hi], src, lo, hi)
	case []int8:
		return convertTo(d[lo:hi], src, lo, hi)
	case []int16:
		return convertTo(d[lo:hi], src, lo, hi)
	case []uint8:
		return convertTo(d[lo:hi], src, lo, hi)
	case []uint16:
		return convertTo(d[lo:hi], src, lo, hi)
	case []uint32:
		return convertTo(d[lo:hi], src, lo, hi)
	case []uint64:
		return convertTo(d[lo:hi], src, lo, hi)
	case []bool:
		o := d[lo:hi]
		switch s := src.(type) {
		case []float32:
			toBool(o, s[lo:hi])
		case []float64:
			toBool(o, s[lo:hi])
		case []int32:
			toBool(o, s[lo:hi])
		case []int64:
			toBool(o, s[lo:hi])
		case []int8:
			toBool(o, s[lo:hi])
		case []int16:
			toBool(o, s[lo:hi])
		case []uint8:
			toBool(o, s[lo:hi])
		case []uint16:
			toBool(o, s[lo:hi])
		case []uint32:
			toBool(o, s[lo:hi])
		case []uint64:
			toBool(o, s[lo:hi])
		default:
			return errors.Errorf("ConvertDType from %T not supported", src)
		}
		return nil
	}
	return errors.Errorf("ConvertDType to %T not supported", dst)
}

func toBool[T number](o []bool, s []T) {
	for i, v := range s {
		o[i] = v != 0
	}
}

func convertTo[D number](o []D, src any, lo, hi int) error {
	switch s := src.(type) {
	case []float32:
		conv(o, s[lo:hi])
	case []float64:
		conv(o, s[lo:hi])
	case []int32:
		conv(o, s[lo:hi])
	case []int64:
		conv(o, s[lo:hi])
	case []int8:
		conv(o, s[lo:hi])
	case []int16:
		conv(o, s[lo:hi])
	case []uint8:
		conv(o, s[lo:hi])
	case []uint16:
		conv(o, s[lo:hi])
	case []uint32:
		conv(o, s[lo:hi])
	case []uint64:
		conv(o, s[lo:hi])
	case []bool:
		for i, v := range s[lo:hi] {
			if v {
				o[i] = 1
			} else {
				o[i] = 0
			}
		}
	default:
		return errors.Errorf("ConvertDType from %T not supported", src)
	}
	return nil
}

func conv[D, S number](o []D, s []S) {
	for i, v := range s {
		o[i] = D(v)
	}
}
