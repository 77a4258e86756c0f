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

// Reductions. ReduceSum/Product/Max/Min over a set of axes (none = all axes) remove those axes. Every reduced
// group of adjacent axes is an [outer O, reduced R, inner I] problem, out[o,i] = ⊕_r x[o,r,i]; several groups are
// reduced one after another, innermost first. Float32 sums and products accumulate in float64 and round once, in
// a fixed order (sequential along r, or fixed 4096-element blocks added in order when one long run is reduced),
// so results are deterministic whatever the number of workers.

var _ = registerOps(backends.OpTypeReduceSum, backends.OpTypeReduceProduct, backends.OpTypeReduceMax,
	backends.OpTypeReduceMin, backends.OpTypeArgMinMax, backends.OpTypeReduceLogicalAnd,
	backends.OpTypeReduceLogicalOr)

func (b *Builder) reduce(op backends.OpType, x backends.Op, axes []int) (backends.Op, error) {
	n, err := b.checkOp(op.String(), x)
	if err != nil {
		return nil, err
	}
	if len(axes) == 0 {
		axes = make([]int, n.shape.Rank())
		for i := range axes {
			axes[i] = i
		}
	}
	axes = slices.Clone(axes)
	slices.Sort(axes)
	for i := 1; i < len(axes); i++ {
		if axes[i] == axes[i-1] {
			return nil, errors.Errorf("%s: axis %d repeated in %v", op, axes[i], axes)
		}
	}
	shape, err := shapeinference.ReduceOp(n.shape, axes)
	if err != nil {
		return nil, err
	}
	shape.DType = n.shape.DType
	isLogical := op == backends.OpTypeReduceLogicalAnd || op == backends.OpTypeReduceLogicalOr
	if isLogical != (n.shape.DType == dtypes.Bool) {
		return nil, errors.Errorf("%s not defined for dtype %s", op, n.shape.DType)
	}
	if err := checkSupportedDType(n.shape.DType, op.String()); err != nil {
		return nil, err
	}
	return b.add(op, shape, execReduce, axes, n), nil
}

// ReduceSum returns Σ of x over axes (all axes when none are given).
func (b *Builder) ReduceSum(x backends.Op, axes ...int) (backends.Op, error) {
	return b.reduce(backends.OpTypeReduceSum, x, axes)
}

// ReduceProduct returns Π of x over axes.
func (b *Builder) ReduceProduct(x backends.Op, axes ...int) (backends.Op, error) {
	return b.reduce(backends.OpTypeReduceProduct, x, axes)
}

// ReduceMax returns the maximum of x over axes (NaN if any is NaN).
func (b *Builder) ReduceMax(x backends.Op, axes ...int) (backends.Op, error) {
	return b.reduce(backends.OpTypeReduceMax, x, axes)
}

// ReduceMin returns the minimum of x over axes (NaN if any is NaN).
func (b *Builder) ReduceMin(x backends.Op, axes ...int) (backends.Op, error) {
	return b.reduce(backends.OpTypeReduceMin, x, axes)
}

// ReduceLogicalAnd returns ∧ of boolean x over axes.
func (b *Builder) ReduceLogicalAnd(x backends.Op, axes ...int) (backends.Op, error) {
	return b.reduce(backends.OpTypeReduceLogicalAnd, x, axes)
}

// ReduceLogicalOr returns ∨ of boolean x over axes.
func (b *Builder) ReduceLogicalOr(x backends.Op, axes ...int) (backends.Op, error) {
	return b.reduce(backends.OpTypeReduceLogicalOr, x, axes)
}

// reduceGroups merges the reduced axes into groups of adjacent axes and returns, innermost group first, the
// (O, R, I) sizes of each successive reduction.
func reduceGroups(dims, axes []int) [][3]int {
	red := make([]bool, len(dims))
	for _, a := range axes {
		red[a] = true
	}
	cur := slices.Clone(dims)
	isRed := slices.Clone(red)
	var steps [][3]int
	for {
		// Find the innermost reduced run.
		end := -1
		for i := len(cur) - 1; i >= 0; i-- {
			if isRed[i] {
				end = i
				break
			}
		}
		if end < 0 {
			return steps
		}
		start := end
		for start > 0 && isRed[start-1] {
			start--
		}
		O, R, I := 1, 1, 1
		for i := 0; i < start; i++ {
			O *= cur[i]
		}
		for i := start; i <= end; i++ {
			R *= cur[i]
		}
		for i := end + 1; i < len(cur); i++ {
			I *= cur[i]
		}
		steps = append(steps, [3]int{O, R, I})
		cur = append(cur[:start], cur[end+1:]...)
		isRed = append(isRed[:start], isRed[end+1:]...)
	}
}

func execReduce(ex *execCtx, n *node, in []*Buffer) (*Buffer, error) {
	steps := reduceGroups(in[0].shape.Dimensions, n.data.([]int))
	src := in[0].flat
	var tmp any
	for si, st := range steps {
		O, R, I := st[0], st[1], st[2]
		var dst any
		if si == len(steps)-1 {
			dst = nil
		} else {
			dst = makeFlatFromPool(ex, n.shape.DType, O*I)
		}
		var out *Buffer
		if dst == nil {
			out = ex.output(n)
			dst = out.flat
		}
		if err := reduceORI(ex.backend, n.op, dst, src, O, R, I); err != nil {
			return nil, err
		}
		if tmp != nil {
			ex.pool.put(tmp)
		}
		tmp, src = dst, dst
		if out != nil {
			return out, nil
		}
	}
	// No axes reduced (a reduction over zero axes): a copy.
	return execIdentity(ex, n, in)
}

func makeFlatFromPool(ex *execCtx, dt dtypes.DType, n int) any {
	return ex.pool.get(shapes.Make(dt, n)).flat
}

func reduceORI(b *Backend, op backends.OpType, dst, src any, O, R, I int) error {
	switch d := dst.(type) {
	case []float32:
		reduceFloat32(b, op, d, src.([]float32), O, R, I)
	case []float64:
		reduceT(b, op, d, src.([]float64), O, R, I)
	case []int32:
		reduceT(b, op, d, src.([]int32), O, R, I)
	case []int64:
		reduceT(b, op, d, src.([]int64), O, R, I)
	case []int8:
		reduceT(b, op, d, src.([]int8), O, R, I)
	case []int16:
		reduceT(b, op, d, src.([]int16), O, R, I)
	case []uint8:
		reduceT(b, op, d, src.([]uint8), O, R, I)
	case []uint16:
		reduceT(b, op, d, src.([]uint16), O, R, I)
	case []uint32:
		reduceT(b, op, d, src.([]uint32), O, R, I)
	case []uint64:
		reduceT(b, op, d, src.([]uint64), O, R, I)
	case []bool:
		s := src.([]bool)
		and := op == backends.OpTypeReduceLogicalAnd
		for o := 0; o < O; o++ {
			for i := 0; i < I; i++ {
				v := and
				for r := 0; r < R; r++ {
					if s[(o*R+r)*I+i] != and {
						v = !and
						break
					}
				}
				d[o*I+i] = v
			}
		}
	default:
		return errors.Errorf("reduction of %T not supported", dst)
	}
	return nil
}

// sumBlock is the fixed block length of long reductions (partial sums of blocks are added in order).
const sumBlock = 4096

// reduceFloat32 reduces float32 values, summing (and multiplying) in float64.
func reduceFloat32(b *Backend, op backends.OpType, d, s []float32, O, R, I int) {
	switch op {
	case backends.OpTypeReduceMax, backends.OpTypeReduceMin:
		reduceT(b, op, d, s, O, R, I)
		return
	}
	prod := op == backends.OpTypeReduceProduct
	if I == 1 {
		if O < b.workers && R >= 2*sumBlock && !prod {
			// Few long runs: blocks in parallel, partial sums added in order.
			nb := (R + sumBlock - 1) / sumBlock
			parts := make([]float64, O*nb)
			b.parallelFor(O*nb, 4, func(lo, hi int) {
				for t := lo; t < hi; t++ {
					o, k := t/nb, t%nb
					row := s[o*R+k*sumBlock : o*R+min((k+1)*sumBlock, R)]
					parts[t] = sum64(row)
				}
			})
			for o := 0; o < O; o++ {
				var acc float64
				for _, p := range parts[o*nb : (o+1)*nb] {
					acc += p
				}
				d[o] = float32(acc)
			}
			return
		}
		b.parallelFor(O, max(1, elemGrain/max(R, 1)), func(lo, hi int) {
			for o := lo; o < hi; o++ {
				row := s[o*R : (o+1)*R]
				if prod {
					acc := 1.0
					for _, v := range row {
						acc *= float64(v)
					}
					d[o] = float32(acc)
				} else {
					d[o] = float32(sum64(row))
				}
			}
		})
		return
	}
	// Inner runs: accumulate rows of length I.
	b.parallelFor(O, max(1, elemGrain/max(R*I, 1)), func(lo, hi int) {
		acc := make([]float64, I)
		for o := lo; o < hi; o++ {
			if prod {
				fill(acc, 1)
			} else {
				clear(acc)
			}
			for r := 0; r < R; r++ {
				row := s[(o*R+r)*I : (o*R+r+1)*I]
				row = row[:len(acc)]
				if prod {
					for i, v := range row {
						acc[i] *= float64(v)
					}
				} else {
					for i, v := range row {
						acc[i] += float64(v)
					}
				}
			}
			dd := d[o*I : (o+1)*I]
			for i, v := range acc {
				dd[i] = float32(v)
			}
		}
	})
}

// sum64 adds float32 values in float64, four lanes then combined (a fixed order).
func sum64(row []float32) float64 {
	var a0, a1, a2, a3 float64
	i := 0
	for ; i+4 <= len(row); i += 4 {
		a0 += float64(row[i])
		a1 += float64(row[i+1])
		a2 += float64(row[i+2])
		a3 += float64(row[i+3])
	}
	for ; i < len(row); i++ {
		a0 += float64(row[i])
	}
	return (a0 + a1) + (a2 + a3)
}

// reduceT is the generic reduction in the values' own type.
func reduceT[T number](b *Backend, op backends.OpType, d, s []T, O, R, I int) {
	var init T
	switch op {
	case backends.OpTypeReduceProduct:
		init = 1
	case backends.OpTypeReduceMax:
		init = lowest[T]()
	case backends.OpTypeReduceMin:
		init = highest[T]()
	}
	b.parallelFor(O*I, max(1, elemGrain/max(R, 1)), func(lo, hi int) {
		if I == 1 {
			for o := lo; o < hi; o++ {
				row := s[o*R : (o+1)*R]
				acc := init
				switch op {
				case backends.OpTypeReduceSum:
					for _, v := range row {
						acc += v
					}
				case backends.OpTypeReduceProduct:
					for _, v := range row {
						acc *= v
					}
				case backends.OpTypeReduceMax:
					for _, v := range row {
						acc = max(acc, v)
					}
				case backends.OpTypeReduceMin:
					for _, v := range row {
						acc = min(acc, v)
					}
				}
				d[o] = acc
			}
			return
		}
		for t := lo; t < hi; t++ {
			o, i := t/I, t%I
			acc := init
			for r := 0; r < R; r++ {
				v := s[(o*R+r)*I+i]
				switch op {
				case backends.OpTypeReduceSum:
					acc += v
				case backends.OpTypeReduceProduct:
					acc *= v
				case backends.OpTypeReduceMax:
					acc = max(acc, v)
				case backends.OpTypeReduceMin:
					acc = min(acc, v)
				}
			}
			d[t] = acc
		}
	})
}

// lowest returns −∞ for floats, the minimum for integers.
func lowest[T number]() T {
	var z T
	switch any(z).(type) {
	case float32:
		return T(math.Inf(-1))
	case float64:
		return T(math.Inf(-1))
	}
	if isSigned[T]() {
		return minInt[T]()
	}
	return 0
}

// highest returns +∞ for floats, the maximum for integers.
func highest[T number]() T {
	var z T
	switch any(z).(type) {
	case float32:
		return T(math.Inf(1))
	case float64:
		return T(math.Inf(1))
	}
	if isSigned[T]() {
		return -(minInt[T]() + 1)
	}
	return z - 1
}

// ---- ArgMinMax ----

type argData struct {
	axis  int
	isMin bool
}

// ArgMinMax returns the index (in outputDType) of the first minimum (isMin) or maximum of x along axis; a NaN is
// chosen over any number.
func (b *Builder) ArgMinMax(x backends.Op, axis int, outputDType dtypes.DType, isMin bool) (backends.Op, error) {
	n, err := b.checkOp("ArgMinMax", x)
	if err != nil {
		return nil, err
	}
	shape, err := shapeinference.ArgMinMaxOp(n.shape, axis, outputDType)
	if err != nil {
		return nil, err
	}
	if err := checkSupportedDType(n.shape.DType, "ArgMinMax"); err != nil {
		return nil, err
	}
	return b.add(backends.OpTypeArgMinMax, shape, execArgMinMax, argData{axis, isMin}, n), nil
}

func execArgMinMax(ex *execCtx, n *node, in []*Buffer) (*Buffer, error) {
	d := n.data.(argData)
	dims := in[0].shape.Dimensions
	O, R, I := 1, dims[d.axis], 1
	for _, v := range dims[:d.axis] {
		O *= v
	}
	for _, v := range dims[d.axis+1:] {
		I *= v
	}
	idx := make([]float64, O*I)
	switch s := in[0].flat.(type) {
	case []float32:
		argT(idx, s, O, R, I, d.isMin)
	case []float64:
		argT(idx, s, O, R, I, d.isMin)
	case []int32:
		argT(idx, s, O, R, I, d.isMin)
	case []int64:
		argT(idx, s, O, R, I, d.isMin)
	case []int8:
		argT(idx, s, O, R, I, d.isMin)
	case []int16:
		argT(idx, s, O, R, I, d.isMin)
	case []uint8:
		argT(idx, s, O, R, I, d.isMin)
	case []uint16:
		argT(idx, s, O, R, I, d.isMin)
	case []uint32:
		argT(idx, s, O, R, I, d.isMin)
	case []uint64:
		argT(idx, s, O, R, I, d.isMin)
	default:
		return nil, errors.Errorf("ArgMinMax of %s not supported", in[0].shape.DType)
	}
	out := ex.output(n)
	return out, convertRange(out.flat, idx, 0, len(idx))
}

func argT[T number](idx []float64, s []T, O, R, I int, isMin bool) {
	for o := 0; o < O; o++ {
		for i := 0; i < I; i++ {
			best, bi := s[o*R*I+i], 0
			for r := 1; r < R; r++ {
				v := s[(o*R+r)*I+i]
				if v != v { // NaN wins
					if best == best {
						best, bi = v, r
					}
					continue
				}
				if best != best {
					continue
				}
				if (isMin && v < best) || (!isMin && v > best) {
					best, bi = v, r
				}
			}
			idx[o*I+i] = float64(bi)
		}
	}
}
