package nn

import (
	"fmt"

	"github.com/gomlx/gomlx/pkg/core/graph"
)

// ReflectPad pads the two spatial axes by p pixels on every side, mirroring without repeating the edge
// (PyTorch ReflectionPad2d, NumPy mode "reflect"):
//
//	y[b,i,j,c] = x[b, r_H(i − p), r_W(j − p), c],   r_N(k) = |k| for k < 0, 2(N−1) − k for k ≥ N, else k,
//
// so y is [B, H+2p, W+2p, C]. It needs 0 ≤ p < H and p < W. Built as one Gather (gradient: ScatterSum),
// which works on the pure-Go backend, unlike Slice and Pad.
func ReflectPad(x *graph.Node, p int) *graph.Node {
	b, h, w, c := checkNHWC("ReflectPad", x)
	if p < 0 || p >= h || p >= w {
		panic(fmt.Sprintf("nn.ReflectPad: padding %d must be ≥ 0 and smaller than the height and width of %s", p, x.Shape()))
	}
	if p == 0 {
		return x
	}
	t := cachedTable(gatherKey{kind: "reflect", b: b, h: h, w: w, p1: p}, func() *gatherTable {
		return mapTable(b, h, w, h+2*p, w+2*p, func(i, j int) (int, int) {
			return reflectIndex(i-p, h), reflectIndex(j-p, w)
		})
	})
	return spatialGather(x, t, false, b, h+2*p, w+2*p, c)
}

// reflectIndex maps k ∈ [−(n−1), 2n−2] into [0, n) by reflection about the edges (edge not repeated).
func reflectIndex(k, n int) int {
	if k < 0 {
		k = -k
	}
	if k >= n {
		k = 2*(n-1) - k
	}
	return k
}

// Upsample2xNearest doubles the spatial size by nearest-neighbour repetition:
//
//	y[b,i,j,c] = x[b, ⌊i/2⌋, ⌊j/2⌋, c],   y is [B, 2H, 2W, C].
//
// Built as Reshape → BroadcastToDims → Reshape (gradient: a ReduceSum over each 2×2 block).
func Upsample2xNearest(x *graph.Node) *graph.Node {
	b, h, w, c := checkNHWC("Upsample2xNearest", x)
	y := graph.Reshape(x, b, h, 1, w, 1, c)
	y = graph.BroadcastToDims(y, b, h, 2, w, 2, c)
	return graph.Reshape(y, b, 2*h, 2*w, c)
}
