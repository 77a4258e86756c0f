package nn

import (
	"fmt"

	"github.com/gomlx/gomlx/pkg/core/graph"
)

// MaxPool2x2 is 2×2 max pooling with stride 2:
//
//	y[b,i,j,c] = max_{u,v ∈ {0,1}} x[b, 2i+u, 2j+v, c],   y is [B, ⌊H/2⌋, ⌊W/2⌋, C].
//
// Odd sizes: the last row (H odd) and/or last column (W odd) are dropped before pooling, which is what
// PyTorch's MaxPool2d(2) and AvgPool2d(2) do (floor mode). H and W must be ≥ 2.
//
// It is built as Reshape + ReduceMax, whose gradient works on the pure-Go backend (the stock MaxPool's
// needs SelectAndScatterMax). Gradient at ties: every element equal to the window maximum receives the
// full upstream gradient (GoMLX's ReduceMax gradient); in practice ties only occur among ReLU zeros,
// whose gradient the ReLU then blocks.
func MaxPool2x2(x *graph.Node) *graph.Node {
	return pool2x2("MaxPool2x2", x, graph.ReduceMax)
}

// AvgPool2x2 is 2×2 average pooling with stride 2:
//
//	y[b,i,j,c] = ¼ Σ_{u,v ∈ {0,1}} x[b, 2i+u, 2j+v, c],   y is [B, ⌊H/2⌋, ⌊W/2⌋, C].
//
// Odd sizes: the last row and/or column are dropped first (PyTorch floor mode). H and W must be ≥ 2.
// Built as Reshape + ReduceMean, whose gradient works on the pure-Go backend.
func AvgPool2x2(x *graph.Node) *graph.Node {
	return pool2x2("AvgPool2x2", x, graph.ReduceMean)
}

func pool2x2(op string, x *graph.Node, reduce func(*graph.Node, ...int) *graph.Node) *graph.Node {
	b, h, w, c := checkNHWC(op, x)
	if h < 2 || w < 2 {
		panic(fmt.Sprintf("nn.%s: input %s is smaller than the 2×2 window", op, x.Shape()))
	}
	h2, w2 := h/2, w/2
	if h%2 != 0 || w%2 != 0 {
		x = CropTo(x, 2*h2, 2*w2)
	}
	x = graph.Reshape(x, b, h2, 2, w2, 2, c)
	return reduce(x, 2, 4)
}

// CropTo keeps the top-left outH×outW pixels: y[b,i,j,c] = x[b,i,j,c] for i < outH, j < outW.
//
// It is a Gather (not a Slice) because Slice's gradient needs the op Pad, which the pure-Go backend lacks.
// It panics unless 1 ≤ outH ≤ H and 1 ≤ outW ≤ W.
func CropTo(x *graph.Node, outH, outW int) *graph.Node {
	b, h, w, c := checkNHWC("CropTo", x)
	if outH < 1 || outH > h || outW < 1 || outW > w {
		panic(fmt.Sprintf("nn.CropTo: cannot crop %s to %dx%d", x.Shape(), outH, outW))
	}
	if outH == h && outW == w {
		return x
	}
	t := cachedTable(gatherKey{kind: "crop", b: b, h: h, w: w, p1: outH, p2: outW}, func() *gatherTable {
		return mapTable(b, h, w, outH, outW, func(i, j int) (int, int) { return i, j })
	})
	return spatialGather(x, t, false, b, outH, outW, c)
}

// mapTable builds a spatial-gather table where output pixel (i, j) of image b reads input pixel src(i, j).
func mapTable(b, h, w, outH, outW int, src func(i, j int) (int, int)) *gatherTable {
	idx := make([]int32, 0, b*outH*outW)
	for bb := range b {
		for i := range outH {
			for j := range outW {
				y, xx := src(i, j)
				idx = append(idx, int32((bb*h+y)*w+xx))
			}
		}
	}
	return &gatherTable{idx: idx, dims: []int{len(idx), 1}}
}
