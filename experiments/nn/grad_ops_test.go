package nn

import (
	"math/rand/v2"
	"testing"

	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/shapes"
)

// TestReLUGradientFiniteDifferences checks ReLU's gradient (MaxVJP) against central finite differences in
// float64, away from the kink (inputs with |x| < 0.05 are pushed out, so a difference step never crosses 0).
func TestReLUGradientFiniteDifferences(t *testing.T) {
	rng := rand.New(rand.NewPCG(31, 32))
	x := randArr(rng, 2, 3, 4, 5)
	for i, v := range x.data {
		if v > -0.05 && v < 0.05 {
			x.data[i] += 0.1
		}
	}
	checkGradient(t, "ReLU", func(in []*graph.Node) *graph.Node { return ReLU(in[0]) }, []arr{x}, 40)
	checkGradient(t, "MaxScalar(x, 0.3)", func(in []*graph.Node) *graph.Node { return graph.MaxScalar(in[0], 0.3) }, []arr{x}, 40)
}

// TestMaxVJPMatchesStock: on inputs with exact ties (x == c) as well as both sides, MaxVJP gives what GoMLX's
// stock gradient gives for x (ties pass the gradient), and Max of two tensors still uses the stock gradient.
func TestMaxVJPMatchesStock(t *testing.T) {
	rng := rand.New(rand.NewPCG(33, 34))
	x := randArr(rng, 3, 4, 6)
	for i := range x.data {
		if i%5 == 0 {
			x.data[i] = 0 // exact ties with the constant
		}
	}
	outs := run(t, func(in []*graph.Node) []*graph.Node {
		z := ReLU(in[0])
		v := projection(z)
		ours := MaxVJP(z, []*graph.Node{v}, shapes.Make(z.DType()))
		stock := stockMaxVJP(z, []*graph.Node{v}, shapes.Make(z.DType()))
		if ours[1] != nil {
			t.Errorf("MaxVJP returned a gradient for the constant")
		}
		return []*graph.Node{ours[0], stock[0]}
	}, x)
	assertClose(t, "ReLU ∂/∂x", outs[0], outs[1], 0, 0)

	y := randArr(rng, 3, 4, 6)
	checkGradient(t, "Max(x, y)", func(in []*graph.Node) *graph.Node { return graph.Max(in[0], in[1]) }, []arr{x, y}, 30)
}

// TestGradientOpsNeeded counts the ops that the gradients of ReLU and of a Gram matrix build: no Sign at all for
// ReLU, and for the Gram matrix one DotGeneral for the backward pass (plus the forward one) and no transpose of
// the large [B,M,N] features (only of the small [B,N,N] output gradient).
func TestGradientOpsNeeded(t *testing.T) {
	rng := rand.New(rand.NewPCG(35, 36))
	x := randArr(rng, 1, 64, 5)
	counts := map[graph.NodeType]int{}
	run(t, func(in []*graph.Node) []*graph.Node {
		r := ReLU(in[0])
		gram := graph.Einsum("bmi,bmj->bij", r, r)
		loss := graph.ReduceAllSum(graph.Mul(gram, projection(gram)))
		grad := graph.Gradient(loss, in[0])
		for _, n := range in[0].Graph().Nodes() {
			counts[n.Type()]++
			if n.Type() == graph.NodeTypeTranspose && n.Shape().Size() >= 64*5 {
				t.Errorf("gradient transposes a large tensor: %s", n.Shape())
			}
		}
		return grad
	}, x)
	if counts[graph.NodeTypeSign] != 0 {
		t.Errorf("ReLU gradient built %d Sign ops, want 0", counts[graph.NodeTypeSign])
	}
	if counts[graph.NodeTypeDotGeneral] != 2 {
		t.Errorf("Gram forward + backward built %d DotGenerals, want 2", counts[graph.NodeTypeDotGeneral])
	}
}

// TestGramVJPMatchesStock: for a DotGeneral whose two operands are the same node (a Gram matrix), the one-product
// gradient equals the sum of the stock gradient's two terms, with and without batch axes.
func TestGramVJPMatchesStock(t *testing.T) {
	rng := rand.New(rand.NewPCG(37, 38))
	for _, tc := range []struct {
		dims   []int
		lc, lb []int
	}{
		{[]int{7, 4}, []int{0}, nil},            // FᵀF, positions first
		{[]int{2, 9, 3}, []int{1}, []int{0}},    // batched
		{[]int{4, 7}, []int{1}, nil},            // F Fᵀ, channels first
		{[]int{3, 2, 5}, []int{0, 2}, nil},      // two contracting axes
		{[]int{2, 3, 4, 5}, []int{1}, []int{0}}, // two cross axes per side
	} {
		x := randArr(rng, tc.dims...)
		outs := run(t, func(in []*graph.Node) []*graph.Node {
			z := graph.DotGeneral(in[0], tc.lc, tc.lb, in[0], tc.lc, tc.lb)
			v := projection(z)
			ours := DotGeneralVJP(z, []*graph.Node{v}, shapes.Make(z.DType()))
			stock := stockDotGeneralVJP(z, []*graph.Node{v}, shapes.Make(z.DType()))
			if ours[1] != nil {
				t.Errorf("%v: second operand got its own gradient", tc.dims)
			}
			return []*graph.Node{ours[0], graph.Add(stock[0], stock[1])}
		}, x)
		assertClose(t, "gram", outs[0], outs[1], 1e-12, 1e-12)
		checkGradient(t, "gram FD", func(in []*graph.Node) *graph.Node {
			return graph.DotGeneral(in[0], tc.lc, tc.lb, in[0], tc.lc, tc.lb)
		}, []arr{x}, 30)
	}
}

// TestUseStockGradients: the switch brings back the stock ReLU gradient (Sign ops) and the plain DotGeneral
// gradient (three DotGenerals for a Gram matrix), with the same values, and restore undoes it.
func TestUseStockGradients(t *testing.T) {
	rng := rand.New(rand.NewPCG(39, 40))
	x := randArr(rng, 1, 16, 3)
	build := func() (map[graph.NodeType]int, arr) {
		counts := map[graph.NodeType]int{}
		out := run1(t, func(in []*graph.Node) *graph.Node {
			r := ReLU(in[0])
			gram := graph.Einsum("bmi,bmj->bij", r, r)
			grad := graph.Gradient(graph.ReduceAllSum(graph.Mul(gram, projection(gram))), in[0])[0]
			for _, n := range in[0].Graph().Nodes() {
				counts[n.Type()]++
			}
			return grad
		}, x)
		return counts, out
	}
	fast, gFast := build()
	restore := UseStockGradients(true)
	stock, gStock := build()
	restore()
	again, _ := build()
	if stock[graph.NodeTypeSign] == 0 || stock[graph.NodeTypeDotGeneral] != 3 {
		t.Errorf("stock gradients: %d Sign, %d DotGeneral; want > 0 and 3", stock[graph.NodeTypeSign], stock[graph.NodeTypeDotGeneral])
	}
	if fast[graph.NodeTypeSign] != 0 || again[graph.NodeTypeSign] != 0 || again[graph.NodeTypeDotGeneral] != 2 {
		t.Errorf("fast gradients after restore: %v", again)
	}
	assertClose(t, "stock vs fast gradient", gFast, gStock, 1e-12, 1e-12)
}
