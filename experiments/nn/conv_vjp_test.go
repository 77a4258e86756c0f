package nn

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/gomlx/gomlx/pkg/core/graph"
)

// convBuilt counts the op types of the graph fn builds on the test backend.
func convBuilt(t *testing.T, fn func([]*graph.Node) []*graph.Node, inputs ...arr) map[graph.NodeType]int {
	t.Helper()
	counts := map[graph.NodeType]int{}
	run(t, func(in []*graph.Node) []*graph.Node {
		out := fn(in)
		for _, n := range in[0].Graph().Nodes() {
			counts[n.Type()]++
		}
		return out
	}, inputs...)
	return counts
}

// TestConv2DNativeMatchesIm2col: on the CPU backend Conv2D is one ConvGeneral op (no Gather), and it gives, on
// random shapes, kernel sizes (even ones too), strides and paddings, the same output and the same gradients
// with respect to the input and the kernel as the im2col construction (Gather + DotGeneral), in float64.
func TestConv2DNativeMatchesIm2col(t *testing.T) {
	if name := testBackend().Name(); name != "cpu" && name != "xla" {
		t.Skipf("backend %q has no native convolution", name)
	}
	rng := rand.New(rand.NewPCG(41, 42))
	for trial := range 24 {
		b, cin, cout := 1+rng.IntN(2), 1+rng.IntN(4), 1+rng.IntN(5)
		if trial%3 == 0 {
			cin, cout = 16+rng.IntN(4), 16+rng.IntN(4) // the backend's tap-by-tap paths (input and gradients)
		}
		k := 1 + rng.IntN(5)
		stride, pad := 1+rng.IntN(3), rng.IntN(k)
		h, w := k+rng.IntN(8), k+rng.IntN(8)
		if ConvOutputSize(h, k, stride, pad) < 1 || ConvOutputSize(w, k, stride, pad) < 1 {
			continue
		}
		x, kern := randArr(rng, b, h, w, cin), randArr(rng, k, k, cin, cout)
		name := fmt.Sprintf("#%d x%v k%d stride %d pad %d", trial, x.dims, k, stride, pad)
		fn := func(in []*graph.Node) []*graph.Node {
			y := Conv2D(in[0], in[1], stride, pad)
			loss := graph.ReduceAllSum(graph.Mul(y, projection(y)))
			return append([]*graph.Node{y}, graph.Gradient(loss, in[0], in[1])...)
		}
		counts := convBuilt(t, fn, x, kern)
		if counts[graph.NodeTypeConvGeneral] != 3 || counts[graph.NodeTypeGather] != 0 {
			t.Fatalf("%s: the native graph has %d ConvGeneral and %d Gather ops, want 3 (forward, two gradients) and 0",
				name, counts[graph.NodeTypeConvGeneral], counts[graph.NodeTypeGather])
		}
		native := run(t, fn, x, kern)
		restore := UseIm2col(true)
		im2col := run(t, fn, x, kern)
		restore()
		for i, what := range []string{"output", "∂/∂x", "∂/∂kernel"} {
			assertClose(t, name+" "+what, native[i], im2col[i], 1e-12, 1e-12)
		}
	}
}

// TestConvVJPMatchesFiniteDifferences: ConvVJP's gradients of strided, padded convolutions with even and odd
// kernels (GoMLX's stock gradient is wrong for even ones) match central differences.
func TestConvVJPMatchesFiniteDifferences(t *testing.T) {
	if name := testBackend().Name(); name != "cpu" && name != "xla" {
		t.Skipf("backend %q has no native convolution", name)
	}
	rng := rand.New(rand.NewPCG(43, 44))
	for _, tc := range []struct{ h, w, k, s, p int }{{8, 8, 4, 1, 1}, {8, 7, 4, 3, 2}, {8, 8, 2, 2, 0}, {7, 7, 3, 2, 1}, {9, 9, 9, 1, 4}} {
		x, kern := randArr(rng, 2, tc.h, tc.w, 2), randArr(rng, tc.k, tc.k, 2, 3)
		checkGradient(t, fmt.Sprintf("Conv2D%+v", tc), func(in []*graph.Node) *graph.Node {
			return Conv2D(in[0], in[1], tc.s, tc.p)
		}, []arr{x, kern}, 30)
	}
}

// TestReadConvParams reads back what a ConvGeneral node was built with.
func TestReadConvParams(t *testing.T) {
	rng := rand.New(rand.NewPCG(45, 46))
	x, kern := randArr(rng, 1, 9, 9, 2), randArr(rng, 3, 3, 2, 4)
	run(t, func(in []*graph.Node) []*graph.Node {
		y := graph.ConvGeneral(in[0], in[1], nhwcAxes, []int{2, 3}, [][2]int{{1, 2}, {0, -1}}, nil, []int{1, 2}, 1, 1)
		p, err := readConvParams(y)
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(p.strides, p.paddings, p.inDil, p.kDil, p.axes.InputChannels, p.axes.KernelSpatial, p.channelGroups) !=
			"[2 3] [[1 2] [0 -1]] [1 1] [1 2] 3 [0 1] 1" {
			t.Errorf("read %+v", p)
		}
		return []*graph.Node{y}
	}, x, kern)
}
