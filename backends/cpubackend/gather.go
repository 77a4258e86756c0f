package cpubackend

import (
	"slices"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/backends/shapeinference"
	"github.com/pkg/errors"
)

// Gather and the Scatter ops, with XLA's semantics. Every Gather/ScatterSum stylelab emits takes whole rows:
// operand [R, rest…], indices [N…, 1] (index vector on the last axis), collapsed/inserted axis 0, full trailing
// slices. Those run as row copies (Gather) and row adds (Scatter); every other pattern takes a general
// element-by-element path. Indices are clamped into range for Gather (as XLA); scatter updates whose row is out
// of range are skipped (as XLA).

var _ = registerOps(backends.OpTypeGather, backends.OpTypeScatterSum, backends.OpTypeScatterMax,
	backends.OpTypeScatterMin)

type gatherData struct {
	indexVectorAxis                                                 int
	offsetOutputAxes, collapsedSliceAxes, startIndexMap, sliceSizes []int
	rowWise                                                         bool
	rowLen                                                          int
}

// Gather returns, for each batch position G of startIndices, the slice of operand of sliceSizes starting at the
// index vector startIndices[G] (mapped to operand axes by startIndexMap, clamped so the slice fits), with the
// collapsedSliceAxes (size 1) removed and the remaining slice axes placed at offsetOutputAxes of the output.
func (b *Builder) Gather(operandOp, startIndicesOp backends.Op, indexVectorAxis int, offsetOutputAxes, collapsedSliceAxes, startIndexMap, sliceSizes []int, indicesAreSorted bool) (backends.Op, error) {
	ins, err := b.checkOps("Gather", operandOp, startIndicesOp)
	if err != nil {
		return nil, err
	}
	op, idx := ins[0].shape, ins[1].shape
	if !idx.DType.IsInt() {
		return nil, errors.Errorf("Gather: indices must be integers, got %s", idx)
	}
	shape, err := shapeinference.Gather(op, idx, indexVectorAxis, offsetOutputAxes, collapsedSliceAxes, startIndexMap, sliceSizes, indicesAreSorted)
	if err != nil {
		return nil, err
	}
	d := &gatherData{indexVectorAxis: indexVectorAxis, offsetOutputAxes: slices.Clone(offsetOutputAxes),
		collapsedSliceAxes: slices.Clone(collapsedSliceAxes), startIndexMap: slices.Clone(startIndexMap),
		sliceSizes: slices.Clone(sliceSizes)}
	// Row-wise: operand [R, rest…], one index per slice (index vector of length 1 on the last axis of indices, or
	// implicit), collapsed axis 0, full trailing slices placed last in the output.
	batchRank := idx.Rank() - 1
	if indexVectorAxis == idx.Rank() {
		batchRank = idx.Rank()
	}
	rowWise := op.Rank() >= 1 && slices.Equal(collapsedSliceAxes, []int{0}) && slices.Equal(startIndexMap, []int{0}) &&
		indexVectorAxis >= idx.Rank()-1 && sliceSizes[0] == 1
	if rowWise {
		for i := 1; i < op.Rank(); i++ {
			if sliceSizes[i] != op.Dimensions[i] || offsetOutputAxes[i-1] != batchRank+i-1 {
				rowWise = false
				break
			}
		}
	}
	d.rowWise = rowWise
	d.rowLen = 1
	for _, v := range op.Dimensions[1:] {
		d.rowLen *= v
	}
	return b.add(backends.OpTypeGather, shape, execGather, d, ins...), nil
}

// indexValues returns integer indices as int (any integer dtype).
func indexValues(flat any) []int {
	switch f := flat.(type) {
	case []int32:
		out := make([]int, len(f))
		for i, v := range f {
			out[i] = int(v)
		}
		return out
	case []int64:
		out := make([]int, len(f))
		for i, v := range f {
			out[i] = int(v)
		}
		return out
	}
	out := make([]float64, flatLen(flat))
	_ = convertRange(out, flat, 0, len(out))
	res := make([]int, len(out))
	for i, v := range out {
		res[i] = int(v)
	}
	return res
}

func execGather(ex *execCtx, n *node, in []*Buffer) (*Buffer, error) {
	d := n.data.(*gatherData)
	operand, indices := in[0], in[1]
	out := ex.output(n)
	if d.rowWise {
		R, L := operand.shape.Dimensions[0], d.rowLen
		src, dst := words(operand.flat), words(out.flat)
		switch iv := indices.flat.(type) {
		case []int32:
			gatherRows(ex.backend, dst, src, iv, R, L)
		case []int64:
			gatherRows(ex.backend, dst, src, iv, R, L)
		default:
			gatherRows(ex.backend, dst, src, indexValues(iv), R, L)
		}
		return out, nil
	}
	idx := indexValues(indices.flat)
	// General path.
	os, is := operand.shape, indices.shape
	oStr := strides(os.Dimensions)
	outDims := n.shape.Dimensions
	isOffset := make([]bool, len(outDims))
	for _, a := range d.offsetOutputAxes {
		isOffset[a] = true
	}
	collapsed := make([]bool, os.Rank())
	for _, a := range d.collapsedSliceAxes {
		collapsed[a] = true
	}
	var windowAxes []int // operand axes of the offset dims, in order
	for a := 0; a < os.Rank(); a++ {
		if !collapsed[a] {
			windowAxes = append(windowAxes, a)
		}
	}
	ivLen := 1
	if d.indexVectorAxis < is.Rank() {
		ivLen = is.Dimensions[d.indexVectorAxis]
	}
	iStr := strides(is.Dimensions)
	ivStride := 0
	if d.indexVectorAxis < is.Rank() {
		ivStride = iStr[d.indexVectorAxis]
	}
	// Batch axes of indices (all but the index vector axis).
	var batchIdxAxes []int
	for a := 0; a < is.Rank(); a++ {
		if a != d.indexVectorAxis {
			batchIdxAxes = append(batchIdxAxes, a)
		}
	}
	src, dst := words(operand.flat), words(out.flat)
	oIdx := make([]int, len(outDims))
	start := make([]int, os.Rank())
	total := n.shape.Size()
	for pos := 0; pos < total; pos++ {
		// Index vector position.
		base, bi, wi := 0, 0, 0
		for a, v := range oIdx {
			if !isOffset[a] {
				base += v * iStr[batchIdxAxes[bi]]
				bi++
			}
		}
		clear(start)
		for k := 0; k < ivLen; k++ {
			ax := d.startIndexMap[k]
			s := idx[base+k*ivStride]
			start[ax] = min(max(s, 0), os.Dimensions[ax]-d.sliceSizes[ax])
		}
		off := 0
		for a := range start {
			off += start[a] * oStr[a]
		}
		for a, v := range oIdx {
			if isOffset[a] {
				off += v * oStr[windowAxes[wi]]
				wi++
			}
		}
		copyWords(dst, src, pos, off, 1)
		incr(oIdx, outDims)
	}
	return out, nil
}

// gatherRows copies row idx[i] (clamped into [0, R)) of src to row i of dst; rows have L words.
func gatherRows[I int32 | int64 | int](b *Backend, dst, src any, idx []I, R, L int) {
	b.parallelFor(len(idx), max(1, elemGrain/max(L, 1)), func(lo, hi int) {
		switch d := dst.(type) {
		case []uint32:
			s := src.([]uint32)
			if L <= 8 {
				// Short rows (the RGB input of the first conv): a plain loop beats copy's call.
				for i := lo; i < hi; i++ {
					r := min(max(int(idx[i]), 0), R-1)
					dd, ss := d[i*L:(i+1)*L], s[r*L:(r+1)*L]
					for j := range dd {
						dd[j] = ss[j]
					}
				}
				break
			}
			for i := lo; i < hi; i++ {
				r := min(max(int(idx[i]), 0), R-1)
				copy(d[i*L:(i+1)*L], s[r*L:(r+1)*L])
			}
		default:
			for i := lo; i < hi; i++ {
				r := min(max(int(idx[i]), 0), R-1)
				copyWords(dst, src, i*L, r*L, L)
			}
		}
	})
}

type scatterData struct {
	indexVectorAxis                                                int
	updateWindowAxes, insertedWindowAxes, scatterAxesToOperandAxes []int
	rowWise                                                        bool
	rowLen                                                         int
}

func (b *Builder) scatter(op backends.OpType, operandOp, indicesOp, updatesOp backends.Op, indexVectorAxis int, updateWindowAxes, insertedWindowAxes, scatterAxesToOperandAxes []int) (backends.Op, error) {
	ins, err := b.checkOps(op.String(), operandOp, indicesOp, updatesOp)
	if err != nil {
		return nil, err
	}
	os, is, us := ins[0].shape, ins[1].shape, ins[2].shape
	shape, err := shapeinference.ScatterOp(os, is, us, indexVectorAxis, updateWindowAxes, insertedWindowAxes, scatterAxesToOperandAxes)
	if err != nil {
		return nil, err
	}
	if err := checkSupportedDType(os.DType, op.String()); err != nil {
		return nil, err
	}
	d := &scatterData{indexVectorAxis: indexVectorAxis, updateWindowAxes: slices.Clone(updateWindowAxes),
		insertedWindowAxes: slices.Clone(insertedWindowAxes), scatterAxesToOperandAxes: slices.Clone(scatterAxesToOperandAxes)}
	batchRank := is.Rank() - 1
	if indexVectorAxis == is.Rank() {
		batchRank = is.Rank()
	}
	rowWise := os.Rank() >= 1 && slices.Equal(insertedWindowAxes, []int{0}) && slices.Equal(scatterAxesToOperandAxes, []int{0}) &&
		indexVectorAxis >= is.Rank()-1 && len(updateWindowAxes) == os.Rank()-1
	if rowWise {
		for i := 1; i < os.Rank(); i++ {
			if updateWindowAxes[i-1] != batchRank+i-1 || us.Dimensions[batchRank+i-1] != os.Dimensions[i] {
				rowWise = false
				break
			}
		}
	}
	d.rowWise = rowWise
	d.rowLen = 1
	for _, v := range os.Dimensions[1:] {
		d.rowLen *= v
	}
	return b.add(op, shape, execScatter, d, ins...), nil
}

// ScatterSum returns operand with each update added at its scattered position (the inverse layout of Gather:
// update batch position G goes to the window starting at scatterIndices[G]); repeated positions accumulate in
// update order.
func (b *Builder) ScatterSum(operand, scatterIndices, updates backends.Op, indexVectorAxis int, updateWindowAxes, insertedWindowAxes, scatterAxesToOperandAxes []int, indicesAreSorted, uniqueIndices bool) (backends.Op, error) {
	return b.scatter(backends.OpTypeScatterSum, operand, scatterIndices, updates, indexVectorAxis, updateWindowAxes, insertedWindowAxes, scatterAxesToOperandAxes)
}

// ScatterMax is ScatterSum with max instead of +.
func (b *Builder) ScatterMax(operand, scatterIndices, updates backends.Op, indexVectorAxis int, updateWindowAxes, insertedWindowAxes, scatterAxesToOperandAxes []int, indicesAreSorted, uniqueIndices bool) (backends.Op, error) {
	return b.scatter(backends.OpTypeScatterMax, operand, scatterIndices, updates, indexVectorAxis, updateWindowAxes, insertedWindowAxes, scatterAxesToOperandAxes)
}

// ScatterMin is ScatterSum with min instead of +.
func (b *Builder) ScatterMin(operand, scatterIndices, updates backends.Op, indexVectorAxis int, updateWindowAxes, insertedWindowAxes, scatterAxesToOperandAxes []int, indicesAreSorted, uniqueIndices bool) (backends.Op, error) {
	return b.scatter(backends.OpTypeScatterMin, operand, scatterIndices, updates, indexVectorAxis, updateWindowAxes, insertedWindowAxes, scatterAxesToOperandAxes)
}

func execScatter(ex *execCtx, n *node, in []*Buffer) (*Buffer, error) {
	d := n.data.(*scatterData)
	out := ex.output(n, 0)
	if ex.stolen == nil {
		copyFlat(out.flat, in[0].flat)
	}
	var idx []int
	if !d.rowWise {
		idx = indexValues(in[1].flat)
	}
	var err error
	switch o := out.flat.(type) {
	case []float32:
		err = scatterT(ex, n.op, d, o, idx, in[2].flat.([]float32), in)
	case []float64:
		err = scatterT(ex, n.op, d, o, idx, in[2].flat.([]float64), in)
	case []int32:
		err = scatterT(ex, n.op, d, o, idx, in[2].flat.([]int32), in)
	case []int64:
		err = scatterT(ex, n.op, d, o, idx, in[2].flat.([]int64), in)
	case []int8:
		err = scatterT(ex, n.op, d, o, idx, in[2].flat.([]int8), in)
	case []int16:
		err = scatterT(ex, n.op, d, o, idx, in[2].flat.([]int16), in)
	case []uint8:
		err = scatterT(ex, n.op, d, o, idx, in[2].flat.([]uint8), in)
	case []uint16:
		err = scatterT(ex, n.op, d, o, idx, in[2].flat.([]uint16), in)
	case []uint32:
		err = scatterT(ex, n.op, d, o, idx, in[2].flat.([]uint32), in)
	case []uint64:
		err = scatterT(ex, n.op, d, o, idx, in[2].flat.([]uint64), in)
	default:
		err = errors.Errorf("%s of %s not supported", n.op, n.shape.DType)
	}
	return out, err
}

func combine[T number](op backends.OpType, dst, src []T) {
	dst = dst[:len(src)]
	switch op {
	case backends.OpTypeScatterSum:
		for i, v := range src {
			dst[i] += v
		}
	case backends.OpTypeScatterMax:
		for i, v := range src {
			dst[i] = max(dst[i], v)
		}
	case backends.OpTypeScatterMin:
		for i, v := range src {
			dst[i] = min(dst[i], v)
		}
	}
}

// scatterRows combines row i of upd into row idx[i] of out (rows of L values; rows out of [0, R) are skipped).
// Workers own disjoint ranges of destination rows and each scans all updates in order, so every row accumulates
// in update order whatever the number of workers.
func scatterRows[T number, I int32 | int64 | int](b *Backend, op backends.OpType, out, upd []T, idx []I, R, L int) {
	b.parallelFor(R, max(1, (elemGrain/4)/max(L, 1)), func(lo, hi int) {
		for i, ri := range idx {
			r := int(ri)
			if r < lo || r >= hi {
				continue
			}
			combine(op, out[r*L:(r+1)*L], upd[i*L:(i+1)*L])
		}
	})
}

func scatterT[T number](ex *execCtx, op backends.OpType, d *scatterData, out []T, idx []int, upd []T, in []*Buffer) error {
	os, is, us := in[0].shape, in[1].shape, in[2].shape
	if d.rowWise {
		R, L := os.Dimensions[0], d.rowLen
		switch iv := in[1].flat.(type) {
		case []int32:
			scatterRows(ex.backend, op, out, upd, iv, R, L)
		case []int64:
			scatterRows(ex.backend, op, out, upd, iv, R, L)
		default:
			scatterRows(ex.backend, op, out, upd, indexValues(iv), R, L)
		}
		return nil
	}
	// General path: element by element, in update order.
	inserted := make([]bool, os.Rank())
	for _, a := range d.insertedWindowAxes {
		inserted[a] = true
	}
	var windowOperandAxes []int
	for a := 0; a < os.Rank(); a++ {
		if !inserted[a] {
			windowOperandAxes = append(windowOperandAxes, a)
		}
	}
	isWindow := make([]bool, us.Rank())
	for _, a := range d.updateWindowAxes {
		isWindow[a] = true
	}
	var batchIdxAxes []int
	for a := 0; a < is.Rank(); a++ {
		if a != d.indexVectorAxis {
			batchIdxAxes = append(batchIdxAxes, a)
		}
	}
	iStr := strides(is.Dimensions)
	ivLen, ivStride := 1, 0
	if d.indexVectorAxis < is.Rank() {
		ivLen, ivStride = is.Dimensions[d.indexVectorAxis], iStr[d.indexVectorAxis]
	}
	oStr := strides(os.Dimensions)
	uIdx := make([]int, us.Rank())
	full := make([]int, os.Rank())
	for pos := 0; pos < us.Size(); pos++ {
		base, bi, wi := 0, 0, 0
		for a, v := range uIdx {
			if !isWindow[a] {
				base += v * iStr[batchIdxAxes[bi]]
				bi++
			}
		}
		clear(full)
		for k := 0; k < ivLen; k++ {
			full[d.scatterAxesToOperandAxes[k]] += idx[base+k*ivStride]
		}
		for a, v := range uIdx {
			if isWindow[a] {
				full[windowOperandAxes[wi]] += v
				wi++
			}
		}
		off, ok := 0, true
		for a, v := range full {
			if v < 0 || v >= os.Dimensions[a] {
				ok = false
				break
			}
			off += v * oStr[a]
		}
		if ok {
			combine(op, out[off:off+1], upd[pos:pos+1])
		}
		incr(uIdx, us.Dimensions)
	}
	return nil
}
