package nn

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"

	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/shapes"
)

func TestDotGeneralVJPIsRegistered(t *testing.T) {
	RegisterDotGeneralVJP() // idempotent: a second call must not save our own VJP as the "stock" one
	got := reflect.ValueOf(graph.VJPRegistration[graph.NodeTypeDotGeneral]).Pointer()
	want := reflect.ValueOf(graph.VJP(DotGeneralVJP)).Pointer()
	if got != want || !DotGeneralVJPRegistered() {
		t.Fatalf("graph.VJPRegistration[DotGeneral] is not nn.DotGeneralVJP")
	}
	if stockDotGeneralVJP == nil || reflect.ValueOf(stockDotGeneralVJP).Pointer() == want {
		t.Fatalf("the stock DotGeneral VJP was not saved")
	}
}

type dotCase struct {
	name    string
	lhsDims []int
	lc, lb  []int
	rhsDims []int
	rc, rb  []int
}

var dotCases = []dotCase{
	{"matmul", []int{3, 4}, []int{1}, nil, []int{4, 5}, []int{0}, nil},
	{"matmul transposed operands", []int{4, 3}, []int{0}, nil, []int{5, 4}, []int{1}, nil},
	{"batched", []int{2, 3, 4}, []int{2}, []int{0}, []int{2, 4, 5}, []int{1}, []int{0}},
	// Batch axes not leading, two contracting axes given in non-ascending and mismatched orders.
	{"shuffled axes", []int{3, 2, 4, 5}, []int{3, 2}, []int{1}, []int{4, 6, 2, 5}, []int{3, 0}, []int{2}},
	{"two batch axes, no rhs cross", []int{2, 3, 4, 5}, []int{3}, []int{0, 1}, []int{2, 3, 5}, []int{2}, []int{0, 1}},
	{"outer product", []int{3}, nil, nil, []int{4}, nil, nil},
	{"im2col conv shape", []int{50, 18}, []int{1}, nil, []int{18, 4}, []int{0}, nil},
}

// TestDotGeneralVJPMatchesStock evaluates the replacement and the stock GoMLX VJP on the same node and
// the same output gradient v, and requires equal results.
func TestDotGeneralVJPMatchesStock(t *testing.T) {
	rng := rand.New(rand.NewPCG(21, 22))
	for _, tc := range dotCases {
		lhs, rhs := randArr(rng, tc.lhsDims...), randArr(rng, tc.rhsDims...)
		outs := run(t, func(in []*graph.Node) []*graph.Node {
			z := graph.DotGeneral(in[0], tc.lc, tc.lb, in[1], tc.rc, tc.rb)
			v := projection(z)
			ours := DotGeneralVJP(z, []*graph.Node{v}, shapes.Make(z.DType()))
			stock := stockDotGeneralVJP(z, []*graph.Node{v}, shapes.Make(z.DType()))
			return []*graph.Node{ours[0], ours[1], stock[0], stock[1]}
		}, lhs, rhs)
		assertClose(t, tc.name+" ∂/∂lhs", outs[0], outs[2], 1e-12, 1e-12)
		assertClose(t, tc.name+" ∂/∂rhs", outs[1], outs[3], 1e-12, 1e-12)
	}
}

// TestDotGeneralGradientFiniteDifferences checks graph.Gradient (which now uses DotGeneralVJP) against
// finite differences, including through Einsum.
func TestDotGeneralGradientFiniteDifferences(t *testing.T) {
	rng := rand.New(rand.NewPCG(23, 24))
	for _, tc := range dotCases {
		lhs, rhs := randArr(rng, tc.lhsDims...), randArr(rng, tc.rhsDims...)
		checkGradient(t, "DotGeneral "+tc.name, func(in []*graph.Node) *graph.Node {
			return graph.DotGeneral(in[0], tc.lc, tc.lb, in[1], tc.rc, tc.rb)
		}, []arr{lhs, rhs}, 30)
	}
	f := randArr(rng, 1, 3, 4, 5)
	checkGradient(t, "Einsum gram", func(in []*graph.Node) *graph.Node {
		return graph.Einsum("bhwc,bhwd->bcd", in[0], in[0])
	}, []arr{f}, 30)
}

func TestReadDotAxes(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	tc := dotCases[3]
	var got dotAxes
	run1(t, func(in []*graph.Node) *graph.Node {
		z := graph.DotGeneral(in[0], tc.lc, tc.lb, in[1], tc.rc, tc.rb)
		var err error
		got, err = readDotAxes(z)
		if err != nil {
			t.Fatal(err)
		}
		return z
	}, randArr(rng, tc.lhsDims...), randArr(rng, tc.rhsDims...))
	want := dotAxes{tc.lc, tc.lb, tc.rc, tc.rb}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("readDotAxes = %v, want %v", got, want)
	}
}
