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
	if f := fuseSelect(ins, shape); f != nil {
		return b.add(backends.OpTypeWhere, shape, execSelectCompare, f, f.x, ins[1]), nil
	}
	return b.add(backends.OpTypeWhere, shape, execWhere, nil, ins...), nil
}

// selectGE32 is o[i] = x[i] ≥ c ? v[i] : f without data-dependent branches (the ReLU gradient's x is half
// negative, where branches mispredict).
func selectGE32(o, x, v []float32, c, f float32) {
	fb := math.Float32bits(f)
	x, v = x[:len(o)], v[:len(o)]
	for i := range o {
		var m uint32
		if x[i] >= c {
			m = 0xffffffff
		}
		o[i] = math.Float32frombits(math.Float32bits(v[i])&m | fb&^m)
	}
}

// selectCompare is Where(Compare(x, c), v, f) with c and f scalar constants, as the ReLU gradient
// Where(x ≥ 0, v, 0) is built: one pass, out[i] = v[i] if x[i] cmp c, else f, without the boolean tensor (the
// comparison node is then pruned unless something else uses it). float32 and float64.
type selectCompare struct {
	cmp  backends.OpType
	x    *node
	c, f float64
}

// fuseSelect returns the fused form of Where(condition, onTrue, onFalse) when it applies, else nil.
func fuseSelect(ins []*node, shape shapes.Shape) *selectCompare {
	cond, v, f := ins[0], ins[1], ins[2]
	switch cond.op {
	case backends.OpTypeGreaterOrEqual, backends.OpTypeGreaterThan, backends.OpTypeLessOrEqual, backends.OpTypeLessThan:
	default:
		return nil
	}
	x, c := cond.inputs[0], cond.inputs[1]
	dt := v.shape.DType
	if (dt != dtypes.Float32 && dt != dtypes.Float64) || x.shape.DType != dt || !x.shape.Equal(shape) || !v.shape.Equal(shape) {
		return nil
	}
	cv, ok1 := scalarConstant(c)
	fv, ok2 := scalarConstant(f)
	if !ok1 || !ok2 {
		return nil
	}
	return &selectCompare{cmp: cond.op, x: x, c: cv, f: fv}
}

// scalarConstant returns the value of a one-element float constant.
func scalarConstant(n *node) (float64, bool) {
	if n.op != backends.OpTypeConstant || n.shape.Size() != 1 {
		return 0, false
	}
	switch f := n.data.(*Buffer).flat.(type) {
	case []float32:
		return float64(f[0]), true
	case []float64:
		return f[0], true
	}
	return 0, false
}

func execSelectCompare(ex *execCtx, n *node, in []*Buffer) (*Buffer, error) {
	d := n.data.(*selectCompare)
	out := ex.output(n, 1, 0)
	switch o := out.flat.(type) {
	case []float32:
		selectCompareT(ex.backend, d, o, in[0].flat.([]float32), in[1].flat.([]float32))
	case []float64:
		selectCompareT(ex.backend, d, o, in[0].flat.([]float64), in[1].flat.([]float64))
	default:
		return nil, errors.Errorf("Where of %s not supported", n.shape.DType)
	}
	return out, nil
}

func selectCompareT[T float32 | float64](be *Backend, d *selectCompare, o, x, v []T) {
	c, f := T(d.c), T(d.f)
	be.parallelFor(len(o), elemGrain, func(lo, hi int) {
		o, x, v := o[lo:hi], x[lo:hi], v[lo:hi]
		x, v = x[:len(o)], v[:len(o)]
		if o32, ok := any(o).([]float32); ok && d.cmp == backends.OpTypeGreaterOrEqual {
			selectGE32(o32, any(x).([]float32), any(v).([]float32), float32(c), float32(f))
			return
		}
		switch d.cmp {
		case backends.OpTypeGreaterOrEqual:
			for i := range o {
				if x[i] >= c {
					o[i] = v[i]
				} else {
					o[i] = f
				}
			}
		case backends.OpTypeGreaterThan:
			for i := range o {
				if x[i] > c {
					o[i] = v[i]
				} else {
					o[i] = f
				}
			}
		case backends.OpTypeLessOrEqual:
			for i := range o {
				if x[i] <= c {
					o[i] = v[i]
				} else {
					o[i] = f
				}
			}
		case backends.OpTypeLessThan:
			for i := range o {
				if x[i] < c {
					o[i] = v[i]
				} else {
					o[i] = f
				}
			}
		}
	})
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
//
// The exec functions below find the kernels of the operands' storage type in the dtype table (dtype_kernels.go)
// once per chunk, so they list no types themselves.

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
	k, err := kernelsFor(a.flat, n.op)
	if err != nil {
		return nil, err
	}
	out := ex.output(n, reuse...)
	total := n.shape.Size()
	// Fast paths: same shape or scalar operands (stride 1: the operand's own range; stride 0: its one value).
	if (a.shape.Size() == total || a.shape.Size() == 1) && (bb.shape.Size() == total || bb.shape.Size() == 1) &&
		(a.shape.Size() == 1 || slices.Equal(a.shape.Dimensions, n.shape.Dimensions) || total == 1) &&
		(bb.shape.Size() == 1 || slices.Equal(bb.shape.Dimensions, n.shape.Dimensions) || total == 1) {
		sa, sb := flatStride(a, total), flatStride(bb, total)
		return out, ex.backend.parallelForErr(total, elemGrain, func(lo, hi int) error {
			return k.binary(n.op, out.flat, a.flat, bb.flat, rowBlock{o: lo, n: hi - lo, rows: 1, ao: lo * sa, sa: sa, bo: lo * sb, sb: sb})
		})
	}
	// Broadcast: rows of the last merged axis, handed to the kernel a run of rows at a time (the rows of one index
	// of the axes before the second-to-last, which advance every operand by a fixed stride).
	p := newBPlan(n.shape.Dimensions, a.shape.Dimensions, bb.shape.Dimensions)
	L := p.rowLen()
	sa, sb := p.innerStride(0), p.innerStride(1)
	per, ra, rb := 1, 0, 0 // rows per run and the operands' strides from row to row
	if d := len(p.dims); d >= 2 {
		per, ra, rb = p.dims[d-2], p.strides[0][d-2], p.strides[1][d-2]
	}
	return out, ex.backend.parallelForErr(p.numRows(), max(1, elemGrain/L), func(lo, hi int) error {
		var err error
		blk := rowBlock{n: L, ro: L, sa: sa, ra: ra, sb: sb, rb: rb}
		flush := func() {
			if blk.rows > 0 && err == nil {
				err = k.binary(n.op, out.flat, a.flat, bb.flat, blk)
			}
			blk.rows = 0
		}
		p.forRows(lo, hi, func(row int, offs []int) {
			if blk.rows > 0 && row%per != 0 {
				blk.rows++ // the run goes on
				return
			}
			flush()
			blk.o, blk.ao, blk.bo, blk.rows = row*L, offs[0], offs[1], 1
		})
		flush()
		return err
	})
}

// flatStride is an operand's stride in a same-shape-or-scalar op of total elements: 0 for one value broadcast to
// all, else 1.
func flatStride(x *Buffer, total int) int {
	if x.shape.Size() == 1 && total != 1 {
		return 0
	}
	return 1
}

func execUnary(ex *execCtx, n *node, in []*Buffer) (*Buffer, error) {
	x := in[0]
	k, err := kernelsFor(x.flat, n.op)
	if err != nil {
		return nil, err
	}
	out := ex.output(n, 0)
	return out, ex.backend.parallelForErr(n.shape.Size(), elemGrain/4, func(lo, hi int) error {
		return k.unary(n.op, out.flat, x.flat, lo, hi)
	})
}

func execWhere(ex *execCtx, n *node, in []*Buffer) (*Buffer, error) {
	c, t, f := in[0], in[1], in[2]
	var reuse []int
	for k := 1; k <= 2; k++ {
		if in[k].shape.Size() == n.shape.Size() {
			reuse = append(reuse, k)
		}
	}
	k, err := kernelsFor(t.flat, backends.OpTypeWhere)
	if err != nil {
		return nil, err
	}
	out := ex.output(n, reuse...)
	cv := c.flat.([]bool)
	total := n.shape.Size()
	ex.backend.parallelFor(total, elemGrain, func(lo, hi int) {
		k.where(out.flat, sub(cv, lo, hi, total), t.flat, f.flat, lo, hi, total)
	})
	return out, nil
}

// sub returns the part of an operand for output range [lo,hi): the range itself, or the one value of a scalar.
func sub[T any](s []T, lo, hi, total int) []T {
	if len(s) == 1 && total != 1 {
		return s
	}
	return s[lo:hi]
}

func execConvert(ex *execCtx, n *node, in []*Buffer) (*Buffer, error) {
	if in[0].shape.DType == n.shape.DType {
		return execIdentity(ex, n, in)
	}
	out := ex.output(n)
	return out, ex.backend.parallelForErr(n.shape.Size(), elemGrain, func(lo, hi int) error {
		return convertRange(out.flat, in[0].flat, lo, hi)
	})
}

// convertRange sets dst[lo:hi] to src[lo:hi] converted to dst's type (see ConvertDType).
func convertRange(dst, src any, lo, hi int) error {
	k, err := kernelsFor(src, backends.OpTypeConvertDType)
	if err != nil {
		return err
	}
	to, ok := k.convertTo[flatDType(dst)]
	if !ok {
		return errors.Errorf("ConvertDType to %T not supported", dst)
	}
	to(dst, src, lo, hi)
	return nil
}
