package nn

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/stylelab/stylelab/backends/backend"
)

// testBackend is the process backend (backends/backend: stylelab's CPU backend unless GOMLX_BACKEND or a
// PJRT plugin says otherwise).
var testBackend = sync.OnceValue(func() backends.Backend {
	b, _, err := backend.New()
	if err != nil {
		panic(err)
	}
	return b
})

// arr is a dense float64 host array in row-major order.
type arr struct {
	dims []int
	data []float64
}

func size(dims []int) int {
	n := 1
	for _, d := range dims {
		n *= d
	}
	return n
}

// randArr returns an array of the given dimensions with values uniform in [-1, 1).
func randArr(rng *rand.Rand, dims ...int) arr {
	a := arr{dims: dims, data: make([]float64, size(dims))}
	for i := range a.data {
		a.data[i] = 2*rng.Float64() - 1
	}
	return a
}

// at returns the flat index of a 4-D position.
func (a arr) at4(b, i, j, c int) int {
	return ((b*a.dims[1]+i)*a.dims[2]+j)*a.dims[3] + c
}

// run builds fn on the test backend, feeds it the inputs (float64) and returns its outputs.
func run(t testing.TB, fn func([]*graph.Node) []*graph.Node, inputs ...arr) []arr {
	t.Helper()
	exec, err := graph.NewExec(testBackend(), fn)
	if err != nil {
		t.Fatal(err)
	}
	defer exec.Finalize()
	args := make([]any, len(inputs))
	for i, in := range inputs {
		args[i] = tensors.FromFlatDataAndDimensions(in.data, in.dims...)
	}
	outs, err := exec.Exec(args...)
	if err != nil {
		t.Fatal(err)
	}
	res := make([]arr, len(outs))
	for i, o := range outs {
		res[i] = arr{dims: o.Shape().Dimensions, data: tensors.MustCopyFlatData[float64](o)}
	}
	return res
}

// run1 is run for a single-output function.
func run1(t testing.TB, fn func([]*graph.Node) *graph.Node, inputs ...arr) arr {
	t.Helper()
	return run(t, func(in []*graph.Node) []*graph.Node { return []*graph.Node{fn(in)} }, inputs...)[0]
}

// assertClose fails unless got and want have the same dims and |got−want| ≤ atol + rtol·|want| everywhere.
func assertClose(t testing.TB, what string, got, want arr, atol, rtol float64) {
	t.Helper()
	if len(got.dims) != len(want.dims) {
		t.Fatalf("%s: dims %v, want %v", what, got.dims, want.dims)
	}
	for i := range got.dims {
		if got.dims[i] != want.dims[i] {
			t.Fatalf("%s: dims %v, want %v", what, got.dims, want.dims)
		}
	}
	bad := 0
	for i := range want.data {
		if d := math.Abs(got.data[i] - want.data[i]); !(d <= atol+rtol*math.Abs(want.data[i])) {
			if bad < 5 {
				t.Errorf("%s: element %d = %.10g, want %.10g (diff %.3g)", what, i, got.data[i], want.data[i], d)
			}
			bad++
		}
	}
	if bad > 0 {
		t.Errorf("%s: %d of %d elements differ", what, bad, len(want.data))
	}
}

// projection returns a deterministic pseudo-random constant with the shape of x, so that
// Σ f(x)·R exercises every output element with a different weight.
func projection(x *graph.Node) *graph.Node {
	rng := rand.New(rand.NewPCG(7, 11))
	r := make([]float64, x.Shape().Size())
	for i := range r {
		r[i] = 2*rng.Float64() - 1
	}
	return graph.ConstTensor(x.Graph(), tensors.FromFlatDataAndDimensions(r, x.Shape().Dimensions...))
}

// checkGradient compares the autodiff gradient of L = Σ f(inputs)·R (R fixed random) with central
// finite differences, for every input, on up to maxPerInput randomly chosen elements of each.
// Everything runs in float64 on the pure-Go backend.
func checkGradient(t *testing.T, name string, f func([]*graph.Node) *graph.Node, inputs []arr, maxPerInput int) {
	t.Helper()
	lossFn := func(in []*graph.Node) *graph.Node {
		y := f(in)
		return graph.ReduceAllSum(graph.Mul(y, projection(y)))
	}
	grads := run(t, func(in []*graph.Node) []*graph.Node {
		loss := lossFn(in)
		return append([]*graph.Node{loss}, graph.Gradient(loss, in...)...)
	}, inputs...)

	exec, err := graph.NewExec(testBackend(), lossFn)
	if err != nil {
		t.Fatal(err)
	}
	defer exec.Finalize()
	eval := func(in []arr) float64 {
		args := make([]any, len(in))
		for i, a := range in {
			args[i] = tensors.FromFlatDataAndDimensions(a.data, a.dims...)
		}
		out, err := exec.Exec(args...)
		if err != nil {
			t.Fatal(err)
		}
		return tensors.ToScalar[float64](out[0])
	}
	rng := rand.New(rand.NewPCG(3, 5))
	const h = 1e-5
	for k := range inputs {
		// Work on copies so the caller's inputs stay unchanged.
		in := make([]arr, len(inputs))
		for i, a := range inputs {
			in[i] = arr{dims: a.dims, data: append([]float64(nil), a.data...)}
		}
		n := len(in[k].data)
		picks := rng.Perm(n)
		if len(picks) > maxPerInput {
			picks = picks[:maxPerInput]
		}
		bad := 0
		for _, e := range picks {
			x0 := in[k].data[e]
			in[k].data[e] = x0 + h
			lp := eval(in)
			in[k].data[e] = x0 - h
			lm := eval(in)
			in[k].data[e] = x0
			fd := (lp - lm) / (2 * h)
			g := grads[1+k].data[e]
			if math.Abs(fd-g) > 1e-6*(1+math.Abs(fd)) {
				if bad < 5 {
					t.Errorf("%s: ∂L/∂input%d[%d] = %.10g by autodiff, %.10g by finite differences", name, k, e, g, fd)
				}
				bad++
			}
		}
		if bad > 0 {
			t.Errorf("%s: %d of %d checked gradient elements of input %d differ", name, bad, len(picks), k)
		}
	}
}

// graphBuildError builds and runs fn and returns the error (or recovered panic) it produced, or nil.
func graphBuildError(fn func([]*graph.Node) *graph.Node, inputs ...arr) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%v", r)
		}
	}()
	exec, err := graph.NewExec(testBackend(), fn)
	if err != nil {
		return err
	}
	defer exec.Finalize()
	args := make([]any, len(inputs))
	for i, in := range inputs {
		args[i] = tensors.FromFlatDataAndDimensions(in.data, in.dims...)
	}
	_, err = exec.Exec(args...)
	return err
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }
