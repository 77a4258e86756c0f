package cpubackend

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/shapes"
)

// convCase is one random ConvGeneral: operand dimensions and its parameters.
type convCase struct {
	x, w                 []int
	axes                 backends.ConvolveAxesConfig
	strides, inDil, kDil []int
	pads                 [][2]int
}

func (c convCase) String() string {
	return fmt.Sprintf("x%v w%v strides%v pads%v inDil%v kDil%v axes%+v", c.x, c.w, c.strides, c.pads, c.inDil, c.kDil, c.axes)
}

// valid reports whether shape inference accepts the case.
func (c convCase) valid() bool {
	_, err := convShape(c)
	return err == nil
}

func convShape(c convCase) (shapes.Shape, error) {
	b := must(New("")).Builder("shape").(*Builder)
	x := must(b.Parameter("x", shapes.Make(dtypes.Float32, c.x...), nil))
	w := must(b.Parameter("w", shapes.Make(dtypes.Float32, c.w...), nil))
	y, err := b.ConvGeneral(x, w, c.axes, c.strides, c.pads, c.inDil, c.kDil, 1, 1)
	if err != nil {
		return shapes.Invalid(), err
	}
	return b.OpShape(y)
}

// randDataConv is a forward-style convolution with S spatial axes: NHWC input and output, the kernel in a random
// axis order, random strides, (possibly negative) paddings and dilations of both kinds.
func randDataConv(r *rand.Rand, S int) convCase {
	for {
		c := convCase{x: []int{1 + r.IntN(2)}}
		k := make([]int, S)
		for s := range S {
			c.x = append(c.x, 1+r.IntN(9))
			k[s] = 1 + r.IntN(4)
			c.strides = append(c.strides, 1+r.IntN(3))
			c.inDil = append(c.inDil, 1+r.IntN(2)*r.IntN(3))
			c.kDil = append(c.kDil, 1+r.IntN(2)*r.IntN(2))
			c.pads = append(c.pads, [2]int{r.IntN(4) - 1, r.IntN(4) - 1})
		}
		cin, cout := 1+r.IntN(5), 1+r.IntN(6)
		c.x = append(c.x, cin)
		// Kernel axes: a random permutation of (spatial…, in, out).
		perm := r.Perm(S + 2)
		c.w = make([]int, S+2)
		c.axes.KernelSpatial = make([]int, S)
		for s := range S {
			c.axes.KernelSpatial[s] = perm[s]
			c.w[perm[s]] = k[s]
		}
		c.axes.KernelInputChannels, c.axes.KernelOutputChannels = perm[S], perm[S+1]
		c.w[perm[S]], c.w[perm[S+1]] = cin, cout
		c.axes.InputBatch, c.axes.InputChannels = 0, S+1
		c.axes.OutputBatch, c.axes.OutputChannels = 0, S+1
		for s := range S {
			c.axes.InputSpatial = append(c.axes.InputSpatial, s+1)
			c.axes.OutputSpatial = append(c.axes.OutputSpatial, s+1)
		}
		if c.valid() {
			return c
		}
	}
}

// randFilterConv is the kernel-gradient form GoMLX's autodiff emits for a 2-D NHWC convolution: x [B,H,W,C] read
// with batch and channels swapped, the output gradient [B,Ho,Wo,C'] as the kernel, an HWIO output; strides are
// the forward's kernel dilations and kernel dilations its strides.
func randFilterConv(r *rand.Rand) convCase {
	for {
		B, C, Cout := 1+r.IntN(3), 1+r.IntN(4), 1+r.IntN(5)
		c := convCase{x: []int{B, 2 + r.IntN(9), 2 + r.IntN(9), C}}
		c.w = []int{B, 1 + r.IntN(5), 1 + r.IntN(5), Cout}
		for range 2 {
			c.strides = append(c.strides, 1+r.IntN(2)*r.IntN(2))
			c.kDil = append(c.kDil, 1+r.IntN(3))
			c.pads = append(c.pads, [2]int{r.IntN(3), r.IntN(4) - 2})
		}
		c.axes = backends.ConvolveAxesConfig{InputBatch: 3, InputChannels: 0, InputSpatial: []int{1, 2},
			KernelInputChannels: 0, KernelOutputChannels: 3, KernelSpatial: []int{1, 2},
			OutputBatch: 2, OutputChannels: 3, OutputSpatial: []int{0, 1}}
		if c.valid() {
			return c
		}
	}
}

func convFn(c convCase) func([]*graph.Node) []*graph.Node {
	return one(func(in []*graph.Node) *graph.Node {
		return graph.ConvGeneral(in[0], in[1], c.axes, c.strides, c.pads, c.inDil, c.kDil, 1, 1)
	})
}

// convTol: a product of k terms of values in [−1, 1], accumulated in float32 (1e-5·√k relative to its bound k).
func convTol(c convCase, dt dtypes.DType) tol {
	k := 1
	for _, d := range c.w {
		k *= d
	}
	if c.axes.InputBatch != 0 { // filter form: the sum runs over the output gradient's positions
		k = size(c.w)
	}
	if dt == dtypes.Float64 {
		return tol{abs: 1e-12 * float64(k)}
	}
	return tol{abs: 1e-5 * math.Sqrt(float64(k)) * float64(k)}
}

// TestConvGeneral: the convolution forms the backend runs match simplego's ConvGeneral (a direct loop) on random
// shapes, strides, paddings (negative ones too) and dilations: forward-style with 1, 2 and 3 spatial axes and
// every kernel layout, the kernel-gradient form, float32 and float64, and large enough cases to need several
// blocks of patches.
func TestConvGeneral(t *testing.T) {
	r := rand.New(rand.NewPCG(8, 8))
	for _, dt := range []dtypes.DType{dtypes.Float32, dtypes.Float64} {
		for _, S := range []int{1, 2, 3} {
			t.Run(fmt.Sprintf("data/%dD/%s", S, dt), func(t *testing.T) {
				for range trials {
					c := randDataConv(r, S)
					compare(t, c.String(), convTol(c, dt), convFn(c), randHost(r, dt, c.x, -1, 1), randHost(r, dt, c.w, -1, 1))
				}
			})
		}
		t.Run("filter/"+dt.String(), func(t *testing.T) {
			for range 2 * trials {
				c := randFilterConv(r)
				compare(t, c.String(), convTol(c, dt), convFn(c), randHost(r, dt, c.x, -1, 1), randHost(r, dt, c.w, -1, 1))
			}
		})
	}
	t.Run("tapwise", func(t *testing.T) {
		// Stride-1 2-D convolutions with at least tapwiseMinChannels input channels run tap by tap (convTapwise):
		// random kernel sizes, paddings (negative too), batches and kernel layouts, float32 and float64.
		for i := range trials {
			dt := []dtypes.DType{dtypes.Float32, dtypes.Float64}[i%2]
			var c convCase
			for {
				c = randDataConv(r, 2)
				c.strides, c.inDil, c.kDil = []int{1, 1}, []int{1, 1}, []int{1, 1}
				cin := tapwiseMinChannels + r.IntN(5)
				c.x[3], c.w[c.axes.KernelInputChannels] = cin, cin
				if c.valid() {
					break
				}
			}
			compare(t, c.String(), convTol(c, dt), convFn(c), randHost(r, dt, c.x, -1, 1), randHost(r, dt, c.w, -1, 1))
		}
	})
	t.Run("reversed", func(t *testing.T) {
		// A Reverse of the kernel's spatial axes is folded into the convolution (the kernel read backwards): all,
		// some or none of the spatial axes, or an axis that is not spatial (not folded), on every kernel layout, on
		// the patch and the tap-by-tap paths.
		for i := range 2 * trials {
			c := randDataConv(r, 2)
			if i%2 == 1 {
				c.strides, c.inDil, c.kDil = []int{1, 1}, []int{1, 1}, []int{1, 1}
				cin := tapwiseMinChannels + r.IntN(3)
				c.x[3], c.w[c.axes.KernelInputChannels] = cin, cin
				if !c.valid() {
					continue
				}
			}
			var axes []int
			for _, a := range c.axes.KernelSpatial {
				if r.IntN(3) > 0 {
					axes = append(axes, a)
				}
			}
			if r.IntN(4) == 0 {
				axes = append(axes, c.axes.KernelOutputChannels)
			}
			// simplego has no Reverse: its kernel is reversed on the host.
			x, w := randHost(r, dtypes.Float32, c.x, -1, 1), randHost(r, dtypes.Float32, c.w, -1, 1)
			got := runOn(t, cpuB(), one(func(in []*graph.Node) *graph.Node {
				return graph.ConvGeneral(in[0], graph.Reverse(in[1], axes...), c.axes, c.strides, c.pads, c.inDil, c.kDil, 1, 1)
			}), []host{x, w})[0].([]float32)
			want := runOn(t, refB(), convFn(c), []host{x, reverseHost(w, axes)})[0].([]float32)
			tl := convTol(c, dtypes.Float32)
			for k := range want {
				if !close(float64(got[k]), float64(want[k]), tl) {
					t.Fatalf("%v reversed on %v: [%d] = %v, reference %v", c, axes, k, got[k], want[k])
				}
			}
		}
	})
	t.Run("blocks", func(t *testing.T) {
		// More rows than one block holds (the block shrunk to 3000 values), on every path: im2col (3 input
		// channels), tap by tap with padding and with the input read in place (pad 0), the kernel gradient.
		saved := convScratch
		defer func() { convScratch = saved }()
		convScratch = 3000
		nhwc := backends.ConvolveAxesConfig{InputBatch: 0, InputChannels: 3, InputSpatial: []int{1, 2},
			KernelSpatial: []int{0, 1}, KernelInputChannels: 2, KernelOutputChannels: 3,
			OutputBatch: 0, OutputChannels: 3, OutputSpatial: []int{1, 2}}
		for _, c := range []convCase{
			{x: []int{2, 19, 17, 3}, w: []int{3, 3, 3, 5}, strides: []int{1, 1}, pads: [][2]int{{1, 1}, {1, 1}}, axes: nhwc},
			{x: []int{2, 19, 17, 16}, w: []int{3, 2, 16, 5}, strides: []int{1, 1}, pads: [][2]int{{1, 2}, {0, 1}}, axes: nhwc},
			{x: []int{1, 23, 13, 18}, w: []int{5, 5, 18, 3}, strides: []int{1, 1}, pads: [][2]int{{0, 0}, {0, 0}}, axes: nhwc},
			{x: []int{1, 23, 13, 18}, w: []int{4, 1, 18, 3}, strides: []int{1, 1}, pads: [][2]int{{0, -1}, {0, 0}}, axes: nhwc},
			{x: []int{2, 15, 14, 6}, w: []int{2, 13, 12, 4}, strides: []int{1, 1}, kDil: []int{1, 1}, pads: [][2]int{{1, 1}, {1, 1}}, axes: randFilterConv(r).axes},
		} {
			if !c.valid() {
				t.Fatalf("%v is not a valid convolution", c)
			}
			compare(t, c.String(), convTol(c, dtypes.Float32), convFn(c), randHost(r, dtypes.Float32, c.x, -1, 1), randHost(r, dtypes.Float32, c.w, -1, 1))
		}
	})
}

// TestConvGradientMatchesFiniteDifferences: graph.Gradient of a strided, padded 2-D convolution (GoMLX's
// autodiff: a data-form convolution with input dilation for x, a filter-form one for the kernel) matches central
// differences of the loss L = Σ y·m for a fixed random m, in float64. Odd kernels only: GoMLX v0.26.0's stock
// input gradient pads wrongly for even ones; experiments/nn registers a gradient that is right for every size
// (and tests it).
func TestConvGradientMatchesFiniteDifferences(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 9))
	for _, cfg := range []struct{ h, w, k, stride, pad int }{{7, 6, 3, 2, 1}, {6, 6, 3, 1, 1}, {8, 7, 5, 3, 2}, {5, 5, 1, 2, 0}, {8, 8, 3, 3, 1}, {9, 9, 9, 1, 4}, {8, 8, 3, 2, 0}} {
		t.Run(fmt.Sprintf("%dx%d_k%d_s%d_p%d", cfg.h, cfg.w, cfg.k, cfg.stride, cfg.pad), func(t *testing.T) {
			x := randHost(r, dtypes.Float64, []int{2, cfg.h, cfg.w, 3}, -1, 1)
			w := randHost(r, dtypes.Float64, []int{cfg.k, cfg.k, 3, 4}, -1, 1)
			conv := func(x, w *graph.Node) *graph.Node {
				return graph.Convolve(x, w).StridePerAxis(cfg.stride, cfg.stride).
					PaddingPerDim([][2]int{{cfg.pad, cfg.pad}, {cfg.pad, cfg.pad}}).Done()
			}
			ho := (cfg.h+2*cfg.pad-cfg.k)/cfg.stride + 1
			wo := (cfg.w+2*cfg.pad-cfg.k)/cfg.stride + 1
			m := randHost(r, dtypes.Float64, []int{2, ho, wo, 4}, -1, 1)
			loss := func(in []*graph.Node) *graph.Node { return graph.ReduceAllSum(graph.Mul(conv(in[0], in[1]), in[2])) }
			outs := runOn(t, cpuB(), func(in []*graph.Node) []*graph.Node {
				l := loss(in)
				return append([]*graph.Node{l}, graph.Gradient(l, in[0], in[1])...)
			}, []host{x, w, m})
			lossAt := func(xv, wv []float64) float64 {
				return runOn(t, cpuB(), one(loss), []host{{xv, x.dims}, {wv, w.dims}, m})[0].([]float64)[0]
			}
			const eps = 1e-6
			for k, in := range []host{x, w} {
				g := outs[1+k].([]float64)
				v := in.flat.([]float64)
				for _, i := range r.Perm(len(v))[:min(len(v), 12)] {
					save := v[i]
					v[i] = save + eps
					up := lossAt(x.flat.([]float64), w.flat.([]float64))
					v[i] = save - eps
					down := lossAt(x.flat.([]float64), w.flat.([]float64))
					v[i] = save
					fd := (up - down) / (2 * eps)
					if math.Abs(fd-g[i]) > 1e-6*(1+math.Abs(fd)) {
						t.Errorf("d loss / d %s[%d] = %v, finite differences %v", []string{"x", "w"}[k], i, g[i], fd)
					}
				}
			}
		})
	}
}

// TestConvGeneralRefusals: groups, integer operands and layouts the backend does not run fail at build time with
// errors naming the problem and a way out.
func TestConvGeneralRefusals(t *testing.T) {
	nhwc := backends.ConvolveAxesConfig{InputBatch: 0, InputChannels: 3, InputSpatial: []int{1, 2},
		KernelSpatial: []int{0, 1}, KernelInputChannels: 2, KernelOutputChannels: 3,
		OutputBatch: 0, OutputChannels: 3, OutputSpatial: []int{1, 2}}
	nchw := backends.ConvolveAxesConfig{InputBatch: 0, InputChannels: 1, InputSpatial: []int{2, 3},
		KernelSpatial: []int{0, 1}, KernelInputChannels: 2, KernelOutputChannels: 3,
		OutputBatch: 0, OutputChannels: 1, OutputSpatial: []int{2, 3}}
	for _, c := range []struct {
		name   string
		dt     dtypes.DType
		x, w   []int
		axes   backends.ConvolveAxesConfig
		groups int
		want   string
	}{
		{"groups", dtypes.Float32, []int{1, 5, 5, 4}, []int{3, 3, 2, 4}, nhwc, 2, "groups"},
		{"int32", dtypes.Int32, []int{1, 5, 5, 4}, []int{3, 3, 4, 4}, nhwc, 1, "float32 or float64"},
		{"NCHW", dtypes.Float32, []int{1, 4, 5, 5}, []int{3, 3, 4, 4}, nchw, 1, "channels-last"},
	} {
		b := must(New("")).Builder("refuse").(*Builder)
		x := must(b.Parameter("x", shapes.Make(c.dt, c.x...), nil))
		w := must(b.Parameter("w", shapes.Make(c.dt, c.w...), nil))
		_, err := b.ConvGeneral(x, w, c.axes, nil, nil, nil, nil, c.groups, 1)
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "GOMLX_BACKEND=go") {
			t.Errorf("%s: error %v, want one naming %q and GOMLX_BACKEND=go", c.name, err, c.want)
		}
	}
}

// reverseHost returns a float32 host array with the order of its values reversed along axes.
func reverseHost(h host, axes []int) host {
	src := h.flat.([]float32)
	dst := make([]float32, len(src))
	str := strides(h.dims)
	idx := make([]int, len(h.dims))
	for i := range src {
		off := 0
		for a, v := range idx {
			if slices.Contains(axes, a) {
				v = h.dims[a] - 1 - v
			}
			off += v * str[a]
		}
		dst[i] = src[off]
		incr(idx, h.dims)
	}
	return host{dst, h.dims}
}
