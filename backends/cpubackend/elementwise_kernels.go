package cpubackend

import (
	"math"

	"github.com/gomlx/gomlx/backends"
	"github.com/pkg/errors"
)

// Elementwise kernels, generic over the value type. Each works on one range of values: out[i] from a[i], b[i],
// where an operand slice of length 1 (with an output longer than 1) is one value that applies to every i. The
// dtype table (dtype_kernels.go) instantiates them for each storage type.

type integer interface {
	~int8 | ~int16 | ~int32 | ~int64 | ~uint8 | ~uint16 | ~uint32 | ~uint64
}

type number interface {
	integer | ~float32 | ~float64
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

// bitwiseI computes the bitwise binary ops on integers.
func bitwiseI[T integer](op backends.OpType, out, a, b []T) error {
	switch op {
	case backends.OpTypeBitwiseAnd:
		return elemwise2(out, a, b, func(x, y T) T { return x & y })
	case backends.OpTypeBitwiseOr:
		return elemwise2(out, a, b, func(x, y T) T { return x | y })
	case backends.OpTypeBitwiseXor:
		return elemwise2(out, a, b, func(x, y T) T { return x ^ y })
	}
	return errors.Errorf("binary op %s not supported for %T", op, out)
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

func toBool[T number](o []bool, s []T) {
	for i, v := range s {
		o[i] = v != 0
	}
}

func conv[D, S number](o []D, s []S) {
	for i, v := range s {
		o[i] = D(v)
	}
}
