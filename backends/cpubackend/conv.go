package cpubackend

import (
	"slices"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/backends/shapeinference"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/pkg/errors"
	"github.com/stylelab/stylelab/backends/gemm"
)

// ConvGeneral, XLA's convolution: with S spatial axes, input x (batch, spatial…, channels in any axis order),
// kernel w (spatial…, in, out) and output y (batch, spatial…, out),
//
//	y[b, o…, c'] = Σ_{k…, c} x̂[b, o_s·stride_s + k_s·kdil_s − padLo_s …, c] · w[k…, c, c']
//
// where x̂ is x dilated by inputDilations (x̂[q] = x[q/idil] when idil divides q, else 0) and zero outside x.
// Output sizes: ⌊((in−1)·idil + 1 + padLo + padHi − ((k−1)·kdil + 1)) / stride⌋ + 1. Paddings may be negative
// (a crop), as GoMLX's filter gradient emits.
//
// How it runs, chosen at build time from the axis layout (float32 and float64):
//   - data form (the forward convolution and its input gradient): x and y NHWC-like (batch first, channels
//     last, spatial axes in order), any kernel layout. y = P·W, with P the im2col patch matrix [B·Πout, Πk·C]
//     and W the kernel as a [Πk·C, C'] matrix. P is never materialised whole: it is built in row blocks of at
//     most convScratch values (8 MB), each multiplied by W at once through backends/gemm (or tap by tap, by each
//     tap's columns, when W's taps are [out, in] or reversed: see below). A stride-1 2-D convolution with at least
//     tapwiseMinChannels input channels and tapwiseMinPositions positions builds no patches at all (convTapwise:
//     one product per tap on the input read in place). A 1×1 convolution that reads x as it is (stride 1, no
//     padding) is one product with x itself;
//   - filter form (the gradient with respect to the kernel, as GoMLX's autodiff emits it: x with batch and
//     channels swapped, the output gradient as the kernel, an HWIO output): dW = Pᵀ·dY, P the patches of x
//     over the positions of dY, accumulated block by block in a fixed order;
//   - any other layout, or channel/batch groups: refused with an error naming the op (GOMLX_BACKEND=go runs it).
//
// Kernels: a Reverse of the kernel's spatial axes (GoMLX's input gradient) is folded into the op at build time
// and the kernel read backwards; kernels whose spatial axes come first ("tap-major") are used in place, with
// [out, in] taps multiplied transposed; only other layouts, and swapped or reversed taps with fewer than
// tapwiseMinChannels input channels (small kernels), are repacked, on every execution.
//
// Memory: besides x, w and y, scratch of at most convScratch values (a block of patches, or convTapwise's padded
// input block and output block) and, when repacked, one kernel-sized copy. Deterministic: blocks are fixed by the
// shapes alone and products are computed block after block, tap after tap.

var _ = registerOps(backends.OpTypeConvGeneral)

// convScratch is the most values one block of patches (or of convTapwise's padded input and output) holds. A
// variable only so that the tests can run several blocks on small inputs.
var convScratch = 1 << 21

type convForm int

const (
	convDataForm   convForm = iota // x, y NHWC-like
	convFilterForm                 // kernel gradient: x and dY NHWC with roles swapped, HWIO output
)

// convPlan is a ConvGeneral with its sizes and layout resolved.
type convPlan struct {
	form                               convForm
	axes                               backends.ConvolveAxesConfig
	strides, inDil, kDil, padLo, padHi []int
	inSp, kSp, outSp                   []int // spatial sizes of x (undilated), w and y
	batch, cin, cout                   int
	kernelCanonical                    bool   // w is [spatial…, in, out] in memory, not reversed (data form)
	kernelTapMajor                     bool   // w's spatial axes come first, in order (then in and out, either order)
	kernelSwapped                      bool   // w's last two axes are [out, in] (tap-major kernels)
	kernelRev                          []bool // per spatial axis: the kernel is read reversed (a folded Reverse)
}

// tapMatrix returns tap t's kernel slice (taps in row-major order of the spatial axes, as the patches' columns) as
// a product operand: for [in, out] taps (B = slice, no transpose, ldb = out) or [out, in] ones (transposed,
// ldb = in); reversed spatial axes are read backwards. Tap-major kernels only.
func tapMatrix[T float32 | float64](p *convPlan, w []T, t int) (b []T, trans bool, ldb int) {
	pt, rem, stride := 0, t, 1
	for s := len(p.kSp) - 1; s >= 0; s-- {
		k := rem % p.kSp[s]
		rem /= p.kSp[s]
		if p.kernelRev[s] {
			k = p.kSp[s] - 1 - k
		}
		pt += k * stride
		stride *= p.kSp[s]
	}
	size := p.cin * p.cout
	if p.kernelSwapped {
		return w[pt*size : (pt+1)*size], true, p.cin
	}
	return w[pt*size : (pt+1)*size], false, p.cout
}

// ConvGeneral builds the convolution described above.
func (b *Builder) ConvGeneral(inputOp, kernelOp backends.Op, axes backends.ConvolveAxesConfig, strides []int, paddings [][2]int,
	inputDilations, kernelDilations []int, channelGroupCount, batchGroupCount int) (backends.Op, error) {
	ins, err := b.checkOps("ConvGeneral", inputOp, kernelOp)
	if err != nil {
		return nil, err
	}
	// A Reverse of the kernel's spatial axes (what the input gradient builds) is folded into the convolution: the
	// kernel is read backwards instead of copied reversed on every execution.
	kernelRev := make([]bool, max(ins[0].shape.Rank()-2, 0))
	dataForm := func() bool { // the data form with a tap-major kernel: where a reversed kernel can be read backwards
		r := ins[0].shape.Rank()
		for s, a := range axes.KernelSpatial {
			if a != s || axes.InputSpatial[s] != s+1 || axes.OutputSpatial[s] != s+1 {
				return false
			}
		}
		return axes.InputBatch == 0 && axes.InputChannels == r-1 && axes.OutputBatch == 0 && axes.OutputChannels == r-1
	}
	if k := ins[1]; k.op == backends.OpTypeReverse && len(kernelRev) == len(axes.KernelSpatial) && len(axes.InputSpatial) == len(kernelRev) &&
		len(axes.OutputSpatial) == len(kernelRev) && dataForm() {
		fold := true
		rev := make([]bool, len(kernelRev))
		for _, a := range k.data.([]int) {
			if s := slices.Index(axes.KernelSpatial, a); s >= 0 && k.shape.Dimensions[a] > 1 {
				rev[s] = !rev[s]
			} else if s < 0 {
				fold = false
			}
		}
		if fold {
			kernelRev, ins[1] = rev, k.inputs[0]
		}
	}
	xs, ws := ins[0].shape, ins[1].shape
	S := xs.Rank() - 2
	ones := func(v []int) []int {
		if len(v) == 0 {
			v = make([]int, max(S, 0))
			for i := range v {
				v[i] = 1
			}
		}
		return slices.Clone(v)
	}
	strides, inputDilations, kernelDilations = ones(strides), ones(inputDilations), ones(kernelDilations)
	if len(paddings) == 0 {
		paddings = make([][2]int, max(S, 0))
	}
	channelGroupCount, batchGroupCount = max(channelGroupCount, 1), max(batchGroupCount, 1)
	shape, err := shapeinference.ConvGeneralOp(xs, ws, axes, strides, paddings, inputDilations, kernelDilations, channelGroupCount, batchGroupCount)
	if err != nil {
		return nil, err
	}
	if xs.DType != ws.DType || (xs.DType != dtypes.Float32 && xs.DType != dtypes.Float64) {
		return nil, errors.Errorf("ConvGeneral: input %s and kernel %s: the stylelab cpu backend convolves float32 or float64 operands of one dtype; convert them (or run with GOMLX_BACKEND=go)", xs, ws)
	}
	if channelGroupCount != 1 || batchGroupCount != 1 {
		return nil, errors.Errorf("ConvGeneral: channel groups (%d) and batch groups (%d) are not supported by the stylelab cpu backend; use groups of 1, or run with GOMLX_BACKEND=go", channelGroupCount, batchGroupCount)
	}
	p := &convPlan{axes: axes.Clone(), strides: strides, inDil: inputDilations, kDil: kernelDilations, kernelRev: kernelRev,
		batch: xs.Dimensions[axes.InputBatch], cin: xs.Dimensions[axes.InputChannels], cout: ws.Dimensions[axes.KernelOutputChannels]}
	for s := range S {
		p.padLo = append(p.padLo, paddings[s][0])
		p.padHi = append(p.padHi, paddings[s][1])
		p.inSp = append(p.inSp, xs.Dimensions[axes.InputSpatial[s]])
		p.kSp = append(p.kSp, ws.Dimensions[axes.KernelSpatial[s]])
		p.outSp = append(p.outSp, shape.Dimensions[axes.OutputSpatial[s]])
	}
	rank := xs.Rank()
	inOrder := func(sp []int, from int) bool {
		for s, a := range sp {
			if a != from+s {
				return false
			}
		}
		return true
	}
	nhwc := func(batch, ch int, sp []int) bool { return batch == 0 && ch == rank-1 && inOrder(sp, 1) }
	switch {
	case nhwc(axes.InputBatch, axes.InputChannels, axes.InputSpatial) && nhwc(axes.OutputBatch, axes.OutputChannels, axes.OutputSpatial):
		p.form = convDataForm
		p.kernelTapMajor = inOrder(axes.KernelSpatial, 0)
		p.kernelSwapped = axes.KernelInputChannels == S+1
		p.kernelCanonical = p.kernelTapMajor && !p.kernelSwapped && !slices.Contains(kernelRev, true)
		if !p.kernelTapMajor && slices.Contains(kernelRev, true) {
			return nil, errors.Errorf("ConvGeneral: internal error: a reversed kernel folded into a kernel layout %+v that is not tap-major", axes)
		}
	case axes.InputBatch == rank-1 && axes.InputChannels == 0 && inOrder(axes.InputSpatial, 1) &&
		axes.KernelInputChannels == 0 && axes.KernelOutputChannels == rank-1 && inOrder(axes.KernelSpatial, 1) &&
		inOrder(axes.OutputSpatial, 0) && axes.OutputBatch == S && axes.OutputChannels == S+1 && allOnes(inputDilations):
		p.form = convFilterForm
		if slices.Contains(kernelRev, true) {
			return nil, errors.Errorf("ConvGeneral: internal error: a Reverse folded into a kernel-gradient convolution")
		}
	default:
		return nil, errors.Errorf("ConvGeneral: axes %+v (input %s, kernel %s) are not a layout the stylelab cpu backend runs: it takes channels-last input and output (NHWC, any kernel layout) and the kernel gradient GoMLX derives from them; transpose to channels-last, or run with GOMLX_BACKEND=go", axes, xs, ws)
	}
	return b.add(backends.OpTypeConvGeneral, shape, execConvGeneral, p, ins...), nil
}

func allOnes(v []int) bool {
	for _, x := range v {
		if x != 1 {
			return false
		}
	}
	return true
}

// im2colSpec describes a patch matrix: rows are positions (b, pos…) over posSp, columns are (tap…, c) over tapSp
// and the cin channels; entry = x̂[b, pos_s·posStep_s + tap_s·tapStep_s − padLo_s …, c].
type im2colSpec struct {
	batch, cin                     int
	inSp, inDil, padLo             []int
	posSp, posStep, tapSp, tapStep []int
	rows, cols                     int
	src                            [][]int // per spatial axis: src[s][pos·tapSp_s + tap] = index along x's axis s, or −1
	run                            []int   // per position of the last axis: the index its taps start at when they read consecutive positions of x (one copy), else −1
	inStr                          []int   // element strides of x's spatial axes
}

func newIm2col(batch, cin int, inSp, inDil, padLo, posSp, posStep, tapSp, tapStep []int) *im2colSpec {
	S := len(inSp)
	sp := &im2colSpec{batch: batch, cin: cin, inSp: inSp, inDil: inDil, padLo: padLo, posSp: posSp, posStep: posStep,
		tapSp: tapSp, tapStep: tapStep, rows: batch, cols: cin, src: make([][]int, S), inStr: make([]int, S)}
	str := cin
	for s := S - 1; s >= 0; s-- {
		sp.inStr[s] = str
		str *= inSp[s]
	}
	for s := range S {
		sp.rows *= posSp[s]
		sp.cols *= tapSp[s]
		tab := make([]int, posSp[s]*tapSp[s])
		for pos := range posSp[s] {
			for tap := range tapSp[s] {
				q := pos*posStep[s] + tap*tapStep[s] - padLo[s]
				idx := -1
				if q >= 0 && q%inDil[s] == 0 && q/inDil[s] < inSp[s] {
					idx = q / inDil[s]
				}
				tab[pos*tapSp[s]+tap] = idx
			}
		}
		sp.src[s] = tab
	}
	last := S - 1
	sp.run = make([]int, posSp[last])
	for pos := range posSp[last] {
		taps := sp.src[last][pos*tapSp[last] : (pos+1)*tapSp[last]]
		sp.run[pos] = taps[0]
		for k, i := range taps {
			if i < 0 || i != taps[0]+k {
				sp.run[pos] = -1
				break
			}
		}
	}
	return sp
}

// im2colFill writes rows [r0, r1) of the patch matrix into dst (row-major, cols values per row).
func im2colFill[T float32 | float64](sp *im2colSpec, dst, x []T, r0, r1 int) {
	S := len(sp.inSp)
	C := sp.cin
	pos := make([]int, S)
	tap := make([]int, S)
	imgSize := sp.inStr[0] * sp.inSp[0]
	// Position of row r0.
	rem := r0
	for s := S - 1; s >= 0; s-- {
		pos[s] = rem % sp.posSp[s]
		rem /= sp.posSp[s]
	}
	b := rem
	for r := r0; r < r1; r++ {
		row := dst[(r-r0)*sp.cols : (r-r0+1)*sp.cols]
		base := b * imgSize
		if S == 2 {
			// The common case, without the odometer.
			t0, t1 := sp.src[0][pos[0]*sp.tapSp[0]:(pos[0]+1)*sp.tapSp[0]], sp.src[1][pos[1]*sp.tapSp[1]:(pos[1]+1)*sp.tapSp[1]]
			col := 0
			for _, i0 := range t0 {
				if i0 < 0 {
					clear(row[col : col+len(t1)*C])
					col += len(t1) * C
					continue
				}
				rowBase := base + i0*sp.inStr[0]
				if first := sp.run[pos[1]]; first >= 0 {
					// The taps of this row read one contiguous run of x.
					n := len(t1) * C
					o := rowBase + first*C
					copy(row[col:col+n], x[o:o+n])
					col += n
					continue
				}
				for _, i1 := range t1 {
					seg := row[col : col+C]
					if i1 < 0 {
						clear(seg)
					} else {
						o := rowBase + i1*C
						copy(seg, x[o:o+C])
					}
					col += C
				}
			}
		} else {
			clear(tap)
			for col := 0; col < sp.cols; col += C {
				off, ok := base, true
				for s := range S {
					i := sp.src[s][pos[s]*sp.tapSp[s]+tap[s]]
					if i < 0 {
						ok = false
						break
					}
					off += i * sp.inStr[s]
				}
				seg := row[col : col+C]
				if ok {
					copy(seg, x[off:off+C])
				} else {
					clear(seg)
				}
				incr(tap, sp.tapSp)
			}
		}
		// Next position.
		for s := S - 1; s >= 0; s-- {
			pos[s]++
			if pos[s] < sp.posSp[s] {
				break
			}
			pos[s] = 0
			if s == 0 {
				b++
			}
		}
	}
}

// identityPatches reports whether the data form's patch matrix is x itself: one tap, and every output position
// reads the input position of the same index.
func (p *convPlan) identityPatches() bool {
	for s := range p.inSp {
		if p.kSp[s] != 1 || p.strides[s] != 1 || p.inDil[s] != 1 || p.padLo[s] != 0 || p.outSp[s] != p.inSp[s] {
			return false
		}
	}
	return true
}

func execConvGeneral(ex *execCtx, n *node, in []*Buffer) (*Buffer, error) {
	p := n.data.(*convPlan)
	out := ex.output(n)
	switch o := out.flat.(type) {
	case []float32:
		convExec(ex, p, o, in[0].flat.([]float32), in[1], gemm.Sgemm)
	case []float64:
		convExec(ex, p, o, in[0].flat.([]float64), in[1], gemm.Dgemm)
	default:
		return nil, errors.Errorf("ConvGeneral of %s not supported", n.shape.DType)
	}
	return out, nil
}

type gemmFn[T float32 | float64] func(transA, transB bool, m, n, k int, alpha T, a []T, lda int, b []T, ldb int, beta T, c []T, ldc int)

func convExec[T float32 | float64](ex *execCtx, p *convPlan, out, x []T, kernel *Buffer, mm gemmFn[T]) {
	dt := kernel.shape.DType
	if p.form == convFilterForm {
		// dW[(o…, c), c'] = Σ_rows P[row, (o…, c)] · dY[row, c'], rows = (b, k…) over dY's spatial axes; here the
		// conv's "batch" is x's channels and its "input channels" are x's batch.
		B, C := p.cin, p.batch // x's physical batch and channels
		sp := newIm2col(B, C, p.inSp, p.inDil, p.padLo, p.kSp, p.kDil, p.outSp, p.strides)
		dy := kernel.flat.([]T)
		convBlocks(ex, dt, sp, x, func(block []T, r0, r1 int) {
			beta := T(1)
			if r0 == 0 {
				beta = 0
			}
			mm(true, false, sp.cols, p.cout, r1-r0, 1, block, sp.cols, dy[r0*p.cout:r1*p.cout], p.cout, beta, out, p.cout)
		})
		return
	}
	// Data form: y[(b, o…), c'] = P[(b, o…), (k…, c)] · W[(k…, c), c'] = Σ_taps P_t · W_t.
	w := kernel.flat.([]T)
	if !p.kernelTapMajor || (!p.kernelCanonical && p.cin < tapwiseMinChannels) {
		// Repack to [spatial…, in, out]: any kernel layout that is not tap-major, and swapped or reversed taps with
		// few input channels (one product per tap would have too few terms; such kernels are small). Other
		// swapped or reversed taps are multiplied tap by tap instead: measured faster than repacking on every
		// execution (kernels are parameters), e.g. VGG's input gradients at 128².
		if p.kernelTapMajor {
			packed := ex.pool.get(shapes.Make(dt, len(w)))
			defer ex.pool.put(packed.flat)
			w = packTaps(p, w, packed.flat.([]T))
		} else {
			perm := append(slices.Clone(p.axes.KernelSpatial), p.axes.KernelInputChannels, p.axes.KernelOutputChannels)
			packed := transposed(ex, kernel, perm)
			defer ex.pool.put(packed.flat)
			w = packed.flat.([]T)
		}
		q := *p
		q.kernelTapMajor, q.kernelSwapped, q.kernelCanonical = true, false, true
		q.kernelRev = make([]bool, len(p.kSp))
		p = &q
	}
	K := p.cin
	for _, k := range p.kSp {
		K *= k
	}
	if p.identityPatches() {
		b, tb, ldb := tapMatrix(p, w, 0)
		mm(false, tb, len(x)/p.cin, p.cout, p.cin, 1, x, p.cin, b, ldb, 0, out, p.cout)
		return
	}
	if p.tapwise() {
		convTapwise(ex, p, out, x, w, mm)
		return
	}
	sp := newIm2col(p.batch, p.cin, p.inSp, p.inDil, p.padLo, p.outSp, p.strides, p.kSp, p.kDil)
	taps := K / p.cin
	convBlocks(ex, dt, sp, x, func(block []T, r0, r1 int) {
		o := out[r0*p.cout : r1*p.cout]
		if p.kernelCanonical {
			mm(false, false, r1-r0, p.cout, K, 1, block, K, w, p.cout, 0, o, p.cout)
			return
		}
		// Swapped or reversed taps: one product per tap, over that tap's columns of the block.
		for t := range taps {
			b, tb, ldb := tapMatrix(p, w, t)
			beta := T(1)
			if t == 0 {
				beta = 0
			}
			mm(false, tb, r1-r0, p.cout, p.cin, 1, block[t*p.cin:], K, b, ldb, beta, o, p.cout)
		}
	})
}

// tapwiseMinPositions: see tapwise.
const tapwiseMinPositions = 1024

// positions is the number of output positions (batch × spatial) of a data-form convolution.
func (p *convPlan) positions() int {
	n := p.batch
	for _, o := range p.outSp {
		n *= o
	}
	return n
}

// packTaps writes a tap-major kernel into dst as [spatial…, in, out] taps in geometric order (reversed axes read
// backwards, [out, in] taps transposed).
func packTaps[T float32 | float64](p *convPlan, w, dst []T) []T {
	size := p.cin * p.cout
	for t := range len(w) / size {
		src, trans, _ := tapMatrix(p, w, t)
		d := dst[t*size : (t+1)*size]
		if !trans {
			copy(d, src)
			continue
		}
		for n := range p.cout { // src is [out, in]
			for c, v := range src[n*p.cin : (n+1)*p.cin] {
				d[c*p.cout+n] = v
			}
		}
	}
	return dst
}

// tapwiseMinChannels is the least number of input channels for which a stride-1 2-D convolution runs tap by tap
// (each tap's product has that many terms; fewer make poor products).
const tapwiseMinChannels = 16

// tapwise reports whether a data-form convolution runs as one product per kernel tap (convTapwise): 2-D, stride 1,
// no dilation, at least tapwiseMinChannels input channels.
//
// Below tapwiseMinPositions output positions the patches are built instead (each tap's product would be small).
func (p *convPlan) tapwise() bool {
	if p.positions() < tapwiseMinPositions {
		return false
	}
	return p.form == convDataForm && len(p.inSp) == 2 && allOnes(p.strides) && allOnes(p.inDil) && allOnes(p.kDil) &&
		p.cin >= tapwiseMinChannels
}

// tapwiseGeometry returns convTapwise's layout: whether x is its own padded image (no padding needed: read in
// place), the output rows per block R, and the padded width Wp = Wo + kw − 1. A block's padded input
// ((R+kh−1)·Wp·C values) and extended output (R·Wp·C') stay within convScratch.
func (p *convPlan) tapwiseGeometry() (direct bool, R, Wp int) {
	H, W, C, N := p.inSp[0], p.inSp[1], p.cin, p.cout
	Ho, Wo, kh, kw := p.outSp[0], p.outSp[1], p.kSp[0], p.kSp[1]
	Wp = Wo + kw - 1
	direct = p.padLo[0] == 0 && p.padLo[1] == 0 && W == Wp && H >= Ho+kh-1
	R = Ho
	if !direct || kw > 1 {
		R = max(1, min(Ho, (convScratch-(kh-1)*Wp*C)/max(Wp*(C+N), 1)))
	}
	return direct, R, Wp
}

// convScratchKeys lists the pooled scratch a convolution takes while it runs (for the memory estimate).
func (p *convPlan) convScratchKeys(dt dtypes.DType, kernel shapes.Shape) []poolKey {
	var ks []poolKey
	if p.form == convDataForm && (!p.kernelTapMajor || (!p.kernelCanonical && p.cin < tapwiseMinChannels)) {
		ks = append(ks, poolKey{dt, kernel.Size()})
	}
	switch {
	case p.form == convDataForm && p.identityPatches():
	case p.tapwise():
		direct, R, Wp := p.tapwiseGeometry()
		if !direct {
			ks = append(ks, poolKey{dt, (R + p.kSp[0] - 1) * Wp * p.cin})
		}
		if p.kSp[1] > 1 {
			ks = append(ks, poolKey{dt, R * Wp * p.cout})
		}
	default:
		rows, cols := p.patchGeometry()
		rowsPer := max(1, min(rows, convScratch/max(cols, 1)))
		size := rowsPer * cols
		if rowsPer < rows {
			size = max(size, convScratch)
		}
		ks = append(ks, poolKey{dt, size})
	}
	return ks
}

// convTapwise computes a stride-1 2-D convolution without patches: on the input padded to Hp×Wp (Wp = Wo + kw − 1),
// output position (y, x) of the extended Ho×Wp grid reads input position (y + ky, x + kx) at tap (ky, kx), which is
// the flat row (y·Wp + x) + (ky·Wp + kx) of the padded image. So for each tap the product of the padded image's
// rows from ky·Wp + kx on ([M, C], read in place) with the tap's kernel slice [C, C'] adds that tap to every output
// position at once, and the kw − 1 extra columns of each output row are dropped at the end. Output rows are done
// in blocks; a block of the padded input (zeros in the padding) and of the extended output live in scratch of at
// most convScratch values, skipped when the input needs no padding (it is then read in place) and kw = 1.
func convTapwise[T float32 | float64](ex *execCtx, p *convPlan, out, x, w []T, mm gemmFn[T]) {
	H, W, C, N := p.inSp[0], p.inSp[1], p.cin, p.cout
	Ho, Wo, kh, kw := p.outSp[0], p.outSp[1], p.kSp[0], p.kSp[1]
	direct, R, Wp := p.tapwiseGeometry()
	dt := dtypes.FromGenericsType[T]()
	var xpBuf, oeBuf []T
	if !direct {
		b := ex.pool.get(shapes.Make(dt, (R+kh-1)*Wp*C))
		defer ex.pool.put(b.flat)
		xpBuf = b.flat.([]T)
	}
	if kw > 1 {
		b := ex.pool.get(shapes.Make(dt, R*Wp*N))
		defer ex.pool.put(b.flat)
		oeBuf = b.flat.([]T)
	}
	img, outImg := H*W*C, Ho*Wo*N
	for b := range p.batch {
		xb, ob := x[b*img:(b+1)*img], out[b*outImg:(b+1)*outImg]
		for y0 := 0; y0 < Ho; y0 += R {
			r := min(R, Ho-y0)
			var xp []T // padded rows y0 … y0+r+kh−2, Wp wide
			if direct {
				xp = xb[y0*Wp*C:]
			} else {
				xp = xpBuf[:(r+kh-1)*Wp*C]
				ex.backend.parallelFor(r+kh-1, max(1, elemGrain/(Wp*C)), func(lo, hi int) {
					for i := lo; i < hi; i++ {
						row := xp[i*Wp*C : (i+1)*Wp*C]
						sy := y0 + i - p.padLo[0]
						if sy < 0 || sy >= H {
							clear(row)
							continue
						}
						// Columns: padded x' reads input x' − padLo[1].
						x0 := max(0, p.padLo[1])    // first padded column with data
						x1 := min(Wp, W+p.padLo[1]) // one past the last
						s0 := x0 - p.padLo[1]       // its input column
						clear(row[:x0*C])
						if x1 > x0 {
							copy(row[x0*C:x1*C], xb[(sy*W+s0)*C:(sy*W+s0+x1-x0)*C])
						}
						clear(row[max(x1, x0)*C:])
					}
				})
			}
			M := r*Wp - (kw - 1) // extended output rows; the last row's kw − 1 extra columns would read past the block
			oe := ob[y0*Wo*N:]
			if kw > 1 {
				oe = oeBuf
			}
			for ky := range kh {
				for kx := range kw {
					t := ky*kw + kx
					beta := T(1)
					if t == 0 {
						beta = 0
					}
					b, tb, ldb := tapMatrix(p, w, t)
					mm(false, tb, M, N, C, 1, xp[(ky*Wp+kx)*C:], C, b, ldb, beta, oe, N)
				}
			}
			if kw > 1 {
				for i := range r {
					copy(ob[(y0+i)*Wo*N:(y0+i+1)*Wo*N], oe[i*Wp*N:(i*Wp+Wo)*N])
				}
			}
		}
	}
}

// convBlocks builds the patch matrix of sp block by block (rows split over the workers) and hands each block,
// rows [r0, r1), to use, in order.
func convBlocks[T float32 | float64](ex *execCtx, dt dtypes.DType, sp *im2colSpec, x []T, use func(block []T, r0, r1 int)) {
	rowsPer := max(1, min(sp.rows, convScratch/max(sp.cols, 1)))
	size := rowsPer * sp.cols
	if rowsPer < sp.rows {
		size = max(size, convScratch) // one pooled size for every convolution that needs blocks
	}
	scratch := ex.pool.get(shapes.Make(dt, size))
	defer ex.pool.put(scratch.flat)
	buf := scratch.flat.([]T)
	for r0 := 0; r0 < sp.rows; r0 += rowsPer {
		r1 := min(r0+rowsPer, sp.rows)
		block := buf[:(r1-r0)*sp.cols]
		ex.backend.parallelFor(r1-r0, max(1, elemGrain/max(sp.cols, 1)), func(lo, hi int) {
			im2colFill(sp, block[lo*sp.cols:hi*sp.cols], x, r0+lo, r0+hi)
		})
		use(block, r0, r1)
	}
}
