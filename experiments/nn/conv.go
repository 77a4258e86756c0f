package nn

import (
	"fmt"
	"sync/atomic"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/graph"
)

// ConvOutputSize returns the output length of a convolution along one axis:
//
//	out = ⌊(in + 2·pad − k) / stride⌋ + 1
//
// It returns a value < 1 when the (padded) input is smaller than the kernel.
func ConvOutputSize(in, k, stride, pad int) int {
	if stride < 1 {
		return 0
	}
	n := in + 2*pad - k
	if n < 0 {
		return 0
	}
	return n/stride + 1
}

// Conv2D is a 2-D cross-correlation (what deep-learning libraries call convolution).
//
// x is NHWC [B,H,W,Cin]; kernel is HWIO [KH,KW,Cin,Cout]; the same zero padding `pad` is added on all four
// sides and the window moves by `stride` in both directions. The output y is [B,Ho,Wo,Cout] with
// Ho = ⌊(H + 2·pad − KH)/stride⌋ + 1 (same for W) and
//
//	y[b,i,j,o] = Σ_{u<KH, v<KW, c<Cin} x̃[b, i·stride − pad + u, j·stride − pad + v, c] · kernel[u,v,c,o]
//
// where x̃ is x with zeros outside [0,H)×[0,W). No bias is added (see BiasAdd).
//
// How it is built depends on the graph's backend:
//   - stylelab's CPU backend ("cpu") and XLA run convolutions themselves: one ConvGeneral op, whose gradients
//     (ConvVJP) are ConvGeneral ops too. The CPU backend never holds the whole patch matrix (see
//     backends/cpubackend); XLA uses its native convolution (what a GPU wants).
//   - any other backend (GoMLX's pure Go one, which cannot differentiate ConvGeneral: its input gradient needs
//     Reverse), or after UseIm2col(true): im2col, one Gather building the patches and one DotGeneral applying
//     the kernel, with the stock Gather (ScatterSum) and DotGeneral gradients. The patch indices are computed on
//     the host and cached per (B,H,W,KH,KW,stride,pad). Memory: the patch tensor holds B·Ho·Wo·KH·KW·Cin values.
//
// Both compute the same values (to float rounding; the tests compare them).
//
// It panics (with the shapes in the message) on incompatible shapes, stride < 1, pad < 0, or an output
// smaller than 1×1.
func Conv2D(x, kernel *graph.Node, stride, pad int) *graph.Node {
	b, h, w, cin := checkNHWC("Conv2D", x)
	if kernel.Rank() != 4 {
		panic(fmt.Sprintf("nn.Conv2D: kernel must be HWIO [KH,KW,Cin,Cout], got shape %s", kernel.Shape()))
	}
	kd := kernel.Shape().Dimensions
	kh, kw, kcin, cout := kd[0], kd[1], kd[2], kd[3]
	if kcin != cin {
		panic(fmt.Sprintf("nn.Conv2D: kernel input channels %d (kernel %s) differ from the input's %d (x %s)",
			kcin, kernel.Shape(), cin, x.Shape()))
	}
	if kernel.DType() != x.DType() {
		panic(fmt.Sprintf("nn.Conv2D: kernel dtype %s differs from input dtype %s", kernel.DType(), x.DType()))
	}
	if stride < 1 || pad < 0 {
		panic(fmt.Sprintf("nn.Conv2D: stride must be ≥ 1 and pad ≥ 0 (got stride=%d, pad=%d)", stride, pad))
	}
	ho, wo := ConvOutputSize(h, kh, stride, pad), ConvOutputSize(w, kw, stride, pad)
	if ho < 1 || wo < 1 {
		panic(fmt.Sprintf("nn.Conv2D: input %dx%d with pad %d is smaller than the kernel %dx%d", h, w, pad, kh, kw))
	}
	if nativeConv(x.Graph()) {
		return graph.ConvGeneral(x, kernel, nhwcAxes, []int{stride, stride}, [][2]int{{pad, pad}, {pad, pad}}, nil, nil, 1, 1)
	}
	k2 := graph.Reshape(kernel, kh*kw*cin, cout)
	var patches *graph.Node
	if kh == 1 && kw == 1 && stride == 1 && pad == 0 {
		// A 1×1 convolution needs no patches.
		patches = graph.Reshape(x, b*h*w, cin)
	} else {
		t := cachedTable(gatherKey{kind: "conv", b: b, h: h, w: w, p1: kh, p2: kw, p3: stride, p4: pad},
			func() *gatherTable { return convTable(b, h, w, kh, kw, stride, pad) })
		patches = spatialGather(x, t, true, b*ho*wo, kh*kw*cin)
	}
	y := graph.DotGeneral(patches, []int{1}, nil, k2, []int{0}, nil)
	return graph.Reshape(y, b, ho, wo, cout)
}

// nhwcAxes is the ConvGeneral layout of Conv2D: NHWC input and output, HWIO kernel.
var nhwcAxes = backends.ConvolveAxesConfig{
	InputBatch: 0, InputSpatial: []int{1, 2}, InputChannels: 3,
	KernelSpatial: []int{0, 1}, KernelInputChannels: 2, KernelOutputChannels: 3,
	OutputBatch: 0, OutputSpatial: []int{1, 2}, OutputChannels: 3,
}

// im2colOnly forces the im2col construction on every backend (UseIm2col).
var im2colOnly atomic.Bool

// UseIm2col makes Conv2D build im2col convolutions on every backend, for graphs built from now on (on = true),
// or restores the default (native convolutions where the backend has them). It returns a function that restores
// the previous setting. It exists to compare the two constructions within one process (tests, benchmarks).
func UseIm2col(on bool) (restore func()) {
	prev := im2colOnly.Swap(on)
	return func() { im2colOnly.Store(prev) }
}

// nativeConv reports whether Conv2D builds one ConvGeneral op on g's backend: stylelab's "cpu" and "xla" run it
// (forward and every gradient form), GoMLX's pure-Go backend cannot differentiate it.
func nativeConv(g *graph.Graph) bool {
	if im2colOnly.Load() {
		return false
	}
	switch g.Backend().Name() {
	case "cpu", "xla":
		return true
	}
	return false
}

// convTable lists, for every output pixel and kernel tap in (b, i, j, u, v) order, the flattened input row
// b·H·W + y·W + x it reads, or B·H·W (the appended zero row) when (y, x) falls in the padding.
func convTable(b, h, w, kh, kw, stride, pad int) *gatherTable {
	ho, wo := ConvOutputSize(h, kh, stride, pad), ConvOutputSize(w, kw, stride, pad)
	zero := int32(b * h * w)
	idx := make([]int32, 0, b*ho*wo*kh*kw)
	for bb := range b {
		for i := range ho {
			for j := range wo {
				for u := range kh {
					y := i*stride - pad + u
					for v := range kw {
						xx := j*stride - pad + v
						if y < 0 || y >= h || xx < 0 || xx >= w {
							idx = append(idx, zero)
						} else {
							idx = append(idx, int32((bb*h+y)*w+xx))
						}
					}
				}
			}
		}
	}
	return &gatherTable{idx: idx, dims: []int{len(idx), 1}}
}

// BiasAdd returns y[b,i,j,c] = x[b,i,j,c] + bias[c] for x NHWC [B,H,W,C] and bias [C].
func BiasAdd(x, bias *graph.Node) *graph.Node {
	_, _, _, c := checkNHWC("BiasAdd", x)
	if bias.Rank() != 1 || bias.Shape().Dimensions[0] != c {
		panic(fmt.Sprintf("nn.BiasAdd: bias must be [%d] for input %s, got %s", c, x.Shape(), bias.Shape()))
	}
	return graph.Add(x, graph.Reshape(bias, 1, 1, 1, c))
}
