package cpubackend

import (
	"slices"
	"unsafe"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/backends/shapeinference"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/pkg/errors"
)

// Layout ops move values without computing on them, so they work on the raw words of any dtype (1, 2, 4 or 8
// bytes) and are exact.

var _ = registerOps(backends.OpTypeReshape, backends.OpTypeTranspose, backends.OpTypeBroadcastInDim,
	backends.OpTypeConcatenate, backends.OpTypeSlice, backends.OpTypeIota, backends.OpTypePad,
	backends.OpTypeReverse)

// words returns the storage of flat as a slice of same-sized unsigned words ([]uint8, []uint16, []uint32 or
// []uint64) sharing its memory.
func words(flat any) any {
	switch f := flat.(type) {
	case []float32:
		return unsafe.Slice((*uint32)(unsafe.Pointer(unsafe.SliceData(f))), len(f))
	case []float64:
		return unsafe.Slice((*uint64)(unsafe.Pointer(unsafe.SliceData(f))), len(f))
	case []int32:
		return unsafe.Slice((*uint32)(unsafe.Pointer(unsafe.SliceData(f))), len(f))
	case []int64:
		return unsafe.Slice((*uint64)(unsafe.Pointer(unsafe.SliceData(f))), len(f))
	case []bool:
		return unsafe.Slice((*uint8)(unsafe.Pointer(unsafe.SliceData(f))), len(f))
	case []int8:
		return unsafe.Slice((*uint8)(unsafe.Pointer(unsafe.SliceData(f))), len(f))
	case []int16:
		return unsafe.Slice((*uint16)(unsafe.Pointer(unsafe.SliceData(f))), len(f))
	case []uint8, []uint16, []uint32, []uint64:
		return f
	}
	panic(errors.Errorf("cpu backend: no word view for %T", flat))
}

// ---- Reshape ----

// Reshape returns x with new dimensions of the same total size (row-major order is kept). It takes x's storage
// when x dies here, else copies.
func (b *Builder) Reshape(x backends.Op, dims ...int) (backends.Op, error) {
	n, err := b.checkOp("Reshape", x)
	if err != nil {
		return nil, err
	}
	shape, err := shapeinference.ReshapeOp(n.shape, dims)
	if err != nil {
		return nil, err
	}
	return b.add(backends.OpTypeReshape, shape, execIdentity, nil, n), nil
}

// ---- Transpose ----

// Transpose returns y with y.dims[i] = x.dims[perm[i]] and y[.., j_i, ..] = x[.., j at axis perm[i], ..].
func (b *Builder) Transpose(x backends.Op, perm ...int) (backends.Op, error) {
	n, err := b.checkOp("Transpose", x)
	if err != nil {
		return nil, err
	}
	shape, err := shapeinference.TransposeOp(n.shape, perm)
	if err != nil {
		return nil, err
	}
	return b.add(backends.OpTypeTranspose, shape, execTranspose, slices.Clone(perm), n), nil
}

func execTranspose(ex *execCtx, n *node, in []*Buffer) (*Buffer, error) {
	dims, perm := simplifyPerm(in[0].shape.Dimensions, n.data.([]int))
	if isIdentity(perm) {
		return execIdentity(ex, n, in)
	}
	out := ex.output(n)
	switch s := words(in[0].flat).(type) {
	case []uint8:
		transposeT(ex.backend, words(out.flat).([]uint8), s, dims, perm)
	case []uint16:
		transposeT(ex.backend, words(out.flat).([]uint16), s, dims, perm)
	case []uint32:
		transposeT(ex.backend, words(out.flat).([]uint32), s, dims, perm)
	case []uint64:
		transposeT(ex.backend, words(out.flat).([]uint64), s, dims, perm)
	}
	return out, nil
}

func isIdentity(perm []int) bool {
	for i, p := range perm {
		if i != p {
			return false
		}
	}
	return true
}

// simplifyPerm drops axes of size 1 and merges source axes that stay adjacent and in order in the output.
func simplifyPerm(dims, perm []int) ([]int, []int) {
	// Drop size-1 axes.
	keep := make([]int, len(dims)) // old axis -> new axis or -1
	var d1 []int
	for ax, d := range dims {
		if d == 1 {
			keep[ax] = -1
			continue
		}
		keep[ax] = len(d1)
		d1 = append(d1, d)
	}
	var p1 []int
	for _, p := range perm {
		if keep[p] >= 0 {
			p1 = append(p1, keep[p])
		}
	}
	// Merge runs: output positions i, i+1 with p1[i+1] == p1[i]+1.
	var groups [][]int // source axes of each merged group, in output order
	for i, p := range p1 {
		if i > 0 && p == p1[i-1]+1 {
			groups[len(groups)-1] = append(groups[len(groups)-1], p)
		} else {
			groups = append(groups, []int{p})
		}
	}
	// Order groups by their first source axis to get the merged source dims.
	order := make([]int, len(groups))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int { return groups[a][0] - groups[b][0] })
	newDims := make([]int, len(groups))
	srcPos := make([]int, len(groups)) // group index -> merged source axis
	for s, g := range order {
		size := 1
		for _, ax := range groups[g] {
			size *= d1[ax]
		}
		newDims[s] = size
		srcPos[g] = s
	}
	newPerm := make([]int, len(groups))
	for g := range groups {
		newPerm[g] = srcPos[g]
	}
	return newDims, newPerm
}

const tile = 32

// transposeT writes dst = src transposed (src dims and perm already simplified, perm not the identity).
func transposeT[T any](b *Backend, dst, src []T, dims, perm []int) {
	r := len(dims)
	if perm[r-1] == r-1 {
		// The innermost axis stays: copy contiguous runs.
		inner := dims[r-1]
		odims := make([]int, r-1)
		sstr := strides(dims)
		for i := 0; i < r-1; i++ {
			odims[i] = dims[perm[i]]
		}
		rows := len(dst) / inner
		b.parallelFor(rows, max(1, elemGrain/inner), func(lo, hi int) {
			idx := unravel(lo, odims)
			for row := lo; row < hi; row++ {
				off := 0
				for i, v := range idx {
					off += v * sstr[perm[i]]
				}
				copy(dst[row*inner:(row+1)*inner], src[off:off+inner])
				incr(idx, odims)
			}
		})
		return
	}
	if r == 2 || (r == 3 && perm[0] == 0 && perm[1] == 2 && perm[2] == 1) {
		// (Batched) 2-D transpose [P, A, B] -> [P, B, A], in 32×32 tiles.
		P, A, B := 1, dims[r-2], dims[r-1]
		if r == 3 {
			P = dims[0]
		}
		tilesA, tilesB := (A+tile-1)/tile, (B+tile-1)/tile
		b.parallelFor(P*tilesA, max(1, elemGrain/(tile*B)), func(lo, hi int) {
			for t := lo; t < hi; t++ {
				p, ta := t/tilesA, t%tilesA
				s := src[p*A*B : (p+1)*A*B]
				d := dst[p*A*B : (p+1)*A*B]
				a0, a1 := ta*tile, min(ta*tile+tile, A)
				for tb := 0; tb < tilesB; tb++ {
					b0, b1 := tb*tile, min(tb*tile+tile, B)
					for a := a0; a < a1; a++ {
						row := s[a*B : a*B+B]
						for bb := b0; bb < b1; bb++ {
							d[bb*A+a] = row[bb]
						}
					}
				}
			}
		})
		return
	}
	// General: walk the output, gathering from strided source positions.
	sstr := strides(dims)
	odims := make([]int, r)
	ostr := make([]int, r) // source stride of each output axis
	for i := range perm {
		odims[i] = dims[perm[i]]
		ostr[i] = sstr[perm[i]]
	}
	inner := odims[r-1]
	istr := ostr[r-1]
	rows := len(dst) / inner
	b.parallelFor(rows, max(1, elemGrain/inner), func(lo, hi int) {
		idx := unravel(lo, odims[:r-1])
		for row := lo; row < hi; row++ {
			off := 0
			for i, v := range idx {
				off += v * ostr[i]
			}
			d := dst[row*inner : (row+1)*inner]
			for j := range d {
				d[j] = src[off+j*istr]
			}
			incr(idx, odims[:r-1])
		}
	})
}

// strides returns row-major strides for dims.
func strides(dims []int) []int {
	s := make([]int, len(dims))
	acc := 1
	for i := len(dims) - 1; i >= 0; i-- {
		s[i] = acc
		acc *= dims[i]
	}
	return s
}

// unravel returns the multi-index of flat position i in dims.
func unravel(i int, dims []int) []int {
	idx := make([]int, len(dims))
	for ax := len(dims) - 1; ax >= 0; ax-- {
		if dims[ax] > 0 {
			idx[ax] = i % dims[ax]
			i /= dims[ax]
		}
	}
	return idx
}

// incr advances a multi-index by one position in row-major order.
func incr(idx, dims []int) {
	for ax := len(idx) - 1; ax >= 0; ax-- {
		idx[ax]++
		if idx[ax] < dims[ax] {
			return
		}
		idx[ax] = 0
	}
}

// ---- BroadcastInDim ----

// BroadcastInDim returns y of outputShape with y[idx] = x[idx restricted to broadcastAxes], where x's axis i maps
// to output axis broadcastAxes[i] and x's axes of size 1 repeat.
func (b *Builder) BroadcastInDim(x backends.Op, outputShape shapes.Shape, broadcastAxes []int) (backends.Op, error) {
	n, err := b.checkOp("BroadcastInDim", x)
	if err != nil {
		return nil, err
	}
	if err := shapeinference.BroadcastInDimOp(n.shape, outputShape, broadcastAxes); err != nil {
		return nil, err
	}
	if outputShape.DType != n.shape.DType {
		outputShape = outputShape.Clone()
		outputShape.DType = n.shape.DType
	}
	// The operand seen at the output's rank: its dims at broadcastAxes, 1 elsewhere.
	inDims := make([]int, outputShape.Rank())
	for i := range inDims {
		inDims[i] = 1
	}
	for i, ax := range broadcastAxes {
		inDims[ax] = n.shape.Dimensions[i]
	}
	// The operand's axes must appear in increasing order for this view; otherwise transpose first.
	if !slices.IsSorted(broadcastAxes) {
		perm := make([]int, len(broadcastAxes))
		for i := range perm {
			perm[i] = i
		}
		slices.SortFunc(perm, func(a, c int) int { return broadcastAxes[a] - broadcastAxes[c] })
		t, err := b.Transpose(n, perm...)
		if err != nil {
			return nil, err
		}
		n = t.(*node)
	}
	return b.add(backends.OpTypeBroadcastInDim, outputShape, execBroadcastInDim, inDims, n), nil
}

func execBroadcastInDim(ex *execCtx, n *node, in []*Buffer) (*Buffer, error) {
	if in[0].shape.Size() == n.shape.Size() {
		return execIdentity(ex, n, in)
	}
	out := ex.output(n)
	p := newBPlan(n.shape.Dimensions, n.data.([]int))
	switch s := words(in[0].flat).(type) {
	case []uint8:
		broadcastT(ex.backend, &p, words(out.flat).([]uint8), s)
	case []uint16:
		broadcastT(ex.backend, &p, words(out.flat).([]uint16), s)
	case []uint32:
		broadcastT(ex.backend, &p, words(out.flat).([]uint32), s)
	case []uint64:
		broadcastT(ex.backend, &p, words(out.flat).([]uint64), s)
	}
	return out, nil
}

func broadcastT[T any](b *Backend, p *bplan, dst, src []T) {
	L := p.rowLen()
	st := p.innerStride(0)
	b.parallelFor(p.numRows(), max(1, elemGrain/L), func(lo, hi int) {
		p.forRows(lo, hi, func(row int, offs []int) {
			d := dst[row*L : (row+1)*L]
			if st == 1 {
				copy(d, src[offs[0]:offs[0]+L])
			} else {
				fill(d, src[offs[0]])
			}
		})
	})
}

// ---- Concatenate ----

// Concatenate joins operands along axis (all other dimensions equal).
func (b *Builder) Concatenate(axis int, ops ...backends.Op) (backends.Op, error) {
	ins, err := b.checkOps("Concatenate", ops...)
	if err != nil {
		return nil, err
	}
	inShapes := make([]shapes.Shape, len(ins))
	for i, n := range ins {
		inShapes[i] = n.shape
	}
	shape, err := shapeinference.ConcatenateOp(inShapes, axis)
	if err != nil {
		return nil, err
	}
	if len(ins) == 1 {
		return b.Identity(ins[0])
	}
	return b.add(backends.OpTypeConcatenate, shape, execConcatenate, axis, ins...), nil
}

func execConcatenate(ex *execCtx, n *node, in []*Buffer) (*Buffer, error) {
	axis := n.data.(int)
	out := ex.output(n)
	outer := 1
	for _, d := range n.shape.Dimensions[:axis] {
		outer *= d
	}
	inner := 1
	for _, d := range n.shape.Dimensions[axis+1:] {
		inner *= d
	}
	chunk := make([]int, len(in))
	total := 0
	for i, x := range in {
		chunk[i] = x.shape.Dimensions[axis] * inner
		total += chunk[i]
	}
	dst := words(out.flat)
	for o := 0; o < outer; o++ {
		pos := o * total
		for i, x := range in {
			copyWords(dst, words(x.flat), pos, o*chunk[i], chunk[i])
			pos += chunk[i]
		}
	}
	return out, nil
}

// copyWords copies n words from src[so:] to dst[do:].
func copyWords(dst, src any, do, so, n int) {
	switch d := dst.(type) {
	case []uint8:
		copy(d[do:do+n], src.([]uint8)[so:so+n])
	case []uint16:
		copy(d[do:do+n], src.([]uint16)[so:so+n])
	case []uint32:
		copy(d[do:do+n], src.([]uint32)[so:so+n])
	case []uint64:
		copy(d[do:do+n], src.([]uint64)[so:so+n])
	}
}

// ---- Slice ----

type sliceData struct{ starts, limits, strides []int }

// Slice returns x[starts:limits:strides] on every axis.
func (b *Builder) Slice(x backends.Op, starts, limits, strides []int) (backends.Op, error) {
	n, err := b.checkOp("Slice", x)
	if err != nil {
		return nil, err
	}
	if strides == nil {
		strides = make([]int, n.shape.Rank())
		for i := range strides {
			strides[i] = 1
		}
	}
	shape, err := shapeinference.SliceOp(n.shape, starts, limits, strides)
	if err != nil {
		return nil, err
	}
	return b.add(backends.OpTypeSlice, shape, execSlice, sliceData{slices.Clone(starts), slices.Clone(limits), slices.Clone(strides)}, n), nil
}

func execSlice(ex *execCtx, n *node, in []*Buffer) (*Buffer, error) {
	d := n.data.(sliceData)
	out := ex.output(n)
	if n.shape.Size() == 0 {
		return out, nil
	}
	r := n.shape.Rank()
	if r == 0 {
		copyFlat(out.flat, in[0].flat)
		return out, nil
	}
	sstr := strides(in[0].shape.Dimensions)
	base := 0
	step := make([]int, r)
	for i := range r {
		base += d.starts[i] * sstr[i]
		step[i] = d.strides[i] * sstr[i]
	}
	odims := n.shape.Dimensions
	switch s := words(in[0].flat).(type) {
	case []uint8:
		stridedCopy(ex.backend, words(out.flat).([]uint8), s, odims, step, base)
	case []uint16:
		stridedCopy(ex.backend, words(out.flat).([]uint16), s, odims, step, base)
	case []uint32:
		stridedCopy(ex.backend, words(out.flat).([]uint32), s, odims, step, base)
	case []uint64:
		stridedCopy(ex.backend, words(out.flat).([]uint64), s, odims, step, base)
	}
	return out, nil
}

// stridedCopy fills dst (dims odims, row-major) with src[base + Σ idx[i]·step[i]].
func stridedCopy[T any](b *Backend, dst, src []T, odims, step []int, base int) {
	r := len(odims)
	inner, istep := odims[r-1], step[r-1]
	rows := len(dst) / inner
	b.parallelFor(rows, max(1, elemGrain/inner), func(lo, hi int) {
		idx := unravel(lo, odims[:r-1])
		for row := lo; row < hi; row++ {
			off := base
			for i, v := range idx {
				off += v * step[i]
			}
			dd := dst[row*inner : (row+1)*inner]
			if istep == 1 {
				copy(dd, src[off:off+inner])
			} else {
				for j := range dd {
					dd[j] = src[off+j*istep]
				}
			}
			incr(idx, odims[:r-1])
		}
	})
}

// ---- Reverse ----

// Reverse returns x with the order of the values along each of axes reversed.
func (b *Builder) Reverse(x backends.Op, axes ...int) (backends.Op, error) {
	n, err := b.checkOp("Reverse", x)
	if err != nil {
		return nil, err
	}
	for _, a := range axes {
		if a < 0 || a >= n.shape.Rank() {
			return nil, errors.Errorf("Reverse: axis %d out of range for %s", a, n.shape)
		}
	}
	return b.add(backends.OpTypeReverse, n.shape, execReverse, slices.Clone(axes), n), nil
}

func execReverse(ex *execCtx, n *node, in []*Buffer) (*Buffer, error) {
	out := ex.output(n)
	if n.shape.Size() == 0 {
		return out, nil
	}
	dims := n.shape.Dimensions
	if len(dims) == 0 {
		copyFlat(out.flat, in[0].flat)
		return out, nil
	}
	sstr := strides(dims)
	step := slices.Clone(sstr)
	base := 0
	for _, a := range n.data.([]int) {
		step[a] = -sstr[a]
		base += (dims[a] - 1) * sstr[a]
	}
	switch s := words(in[0].flat).(type) {
	case []uint8:
		stridedCopy(ex.backend, words(out.flat).([]uint8), s, dims, step, base)
	case []uint16:
		stridedCopy(ex.backend, words(out.flat).([]uint16), s, dims, step, base)
	case []uint32:
		stridedCopy(ex.backend, words(out.flat).([]uint32), s, dims, step, base)
	case []uint64:
		stridedCopy(ex.backend, words(out.flat).([]uint64), s, dims, step, base)
	}
	return out, nil
}

// ---- Iota ----

// Iota returns a tensor of shape whose value at idx is idx[iotaAxis] (in shape's dtype).
func (b *Builder) Iota(shape shapes.Shape, iotaAxis int) (backends.Op, error) {
	if iotaAxis < 0 || iotaAxis >= shape.Rank() {
		return nil, errors.Errorf("Iota: axis %d out of range for %s", iotaAxis, shape)
	}
	if err := checkSupportedDType(shape.DType, "Iota"); err != nil {
		return nil, err
	}
	if shape.DType == dtypes.Bool {
		return nil, errors.Errorf("Iota: dtype bool not supported; use a number dtype")
	}
	return b.add(backends.OpTypeIota, shape, execIota, iotaAxis), nil
}

func execIota(ex *execCtx, n *node, in []*Buffer) (*Buffer, error) {
	axis := n.data.(int)
	dims := n.shape.Dimensions
	inner := 1
	for _, d := range dims[axis+1:] {
		inner *= d
	}
	// A float64 ramp then converted: exact for every dtype's representable range.
	ramp := make([]float64, n.shape.Size())
	for i := range ramp {
		ramp[i] = float64((i / inner) % dims[axis])
	}
	out := ex.output(n)
	return out, convertRange(out.flat, ramp, 0, len(ramp))
}

// ---- Pad ----

type padData struct{ axes []backends.PadAxis }

// Pad returns x with fill values added before (Start), after (End) and between (Interior) the values of each
// axis. Negative padding is not supported.
func (b *Builder) Pad(x, fill backends.Op, axesConfig ...backends.PadAxis) (backends.Op, error) {
	ins, err := b.checkOps("Pad", x, fill)
	if err != nil {
		return nil, err
	}
	xs := ins[0].shape
	if !ins[1].shape.IsScalar() || ins[1].shape.DType != xs.DType {
		return nil, errors.Errorf("Pad: the fill value must be a scalar of x's dtype %s, got %s", xs.DType, ins[1].shape)
	}
	if len(axesConfig) > xs.Rank() {
		return nil, errors.Errorf("Pad: %d axis configs for %s", len(axesConfig), xs)
	}
	cfg := make([]backends.PadAxis, xs.Rank())
	copy(cfg, axesConfig)
	out := xs.Clone()
	for i, c := range cfg {
		if c.Start < 0 || c.End < 0 || c.Interior < 0 {
			return nil, errors.Errorf("Pad: negative padding %+v on axis %d is not supported by the cpu backend", c, i)
		}
		d := xs.Dimensions[i]
		out.Dimensions[i] = c.Start + c.End + d + max(0, d-1)*c.Interior
	}
	return b.add(backends.OpTypePad, out, execPad, padData{cfg}, ins...), nil
}

func execPad(ex *execCtx, n *node, in []*Buffer) (*Buffer, error) {
	cfg := n.data.(padData).axes
	out := ex.output(n)
	// Fill everything, then scatter x's values to their places.
	outW, fillW := words(out.flat), words(in[1].flat)
	xs := in[0].shape
	if xs.Size() == 0 || xs.Rank() == 0 {
		fillWords(outW, fillW)
		if xs.Rank() == 0 {
			copyFlat(out.flat, in[0].flat)
		}
		return out, nil
	}
	fillWords(outW, fillW)
	ostr := strides(n.shape.Dimensions)
	step := make([]int, xs.Rank())
	base := 0
	for i, c := range cfg {
		step[i] = (c.Interior + 1) * ostr[i]
		base += c.Start * ostr[i]
	}
	idx := make([]int, xs.Rank())
	src := words(in[0].flat)
	for i := 0; i < xs.Size(); i++ {
		off := base
		for a, v := range idx {
			off += v * step[a]
		}
		copyWords(outW, src, off, i, 1)
		incr(idx, xs.Dimensions)
	}
	return out, nil
}

func fillWords(dst, v any) {
	switch d := dst.(type) {
	case []uint8:
		fill(d, v.([]uint8)[0])
	case []uint16:
		fill(d, v.([]uint16)[0])
	case []uint32:
		fill(d, v.([]uint32)[0])
	case []uint64:
		fill(d, v.([]uint64)[0])
	}
}
