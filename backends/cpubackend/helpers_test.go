package cpubackend

import (
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"sync"
	"testing"

	"github.com/gomlx/gomlx/backends"
	_ "github.com/gomlx/gomlx/backends/simplego"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/core/tensors"
)

// The differential tests run the same graph on this backend and on GoMLX's simplego (the reference) and compare
// the outputs with a tolerance stated per op. Inputs are host arrays; each backend gets its own tensors (tensors
// cannot cross backends).

var (
	cpuB = sync.OnceValue(func() backends.Backend {
		b, err := New("")
		if err != nil {
			panic(err)
		}
		return b
	})
	refB = sync.OnceValue(func() backends.Backend {
		b, err := backends.NewWithConfig("go:ops_sequential")
		if err != nil {
			panic(err)
		}
		return b
	})
)

// host is an input: a flat Go slice and its dimensions.
type host struct {
	flat any
	dims []int
}

func (h host) tensor() *tensors.Tensor {
	v := reflect.ValueOf(h.flat)
	t := tensors.FromShape(shapes.Make(dtypes.FromGoType(v.Type().Elem()), h.dims...))
	t.MustMutableFlatData(func(flat any) { reflect.Copy(reflect.ValueOf(flat), v) })
	return t
}

// tol is a comparison tolerance: |got − want| ≤ abs + rel·|want| per element; both 0 means bit-exact (NaNs equal).
type tol struct{ rel, abs float64 }

var exact = tol{}

// ulps4 is the elementwise float32 tolerance: 4 units in the last place (relative 2⁻²¹), plus a tiny absolute
// floor for results near 0.
var ulps4 = tol{rel: 0x1p-21, abs: 1e-30}

// runOn executes fn on backend b with the inputs and returns the outputs as flat slices.
func runOn(t testing.TB, b backends.Backend, fn func([]*graph.Node) []*graph.Node, ins []host) []any {
	t.Helper()
	e, err := graph.NewExec(b, fn)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Finalize()
	args := make([]any, len(ins))
	for i, h := range ins {
		args[i] = h.tensor()
	}
	var outs []*tensors.Tensor
	err = graphTry(func() { outs = e.MustExec(args...) })
	if err != nil {
		t.Fatalf("%s: %v", b.Name(), err)
	}
	res := make([]any, len(outs))
	for i, o := range outs {
		o.MustConstFlatData(func(flat any) {
			v := reflect.ValueOf(flat)
			c := reflect.MakeSlice(v.Type(), v.Len(), v.Len())
			reflect.Copy(c, v)
			res[i] = c.Interface()
		})
		o.FinalizeAll()
	}
	return res
}

func graphTry(fn func()) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%v", r)
		}
	}()
	fn()
	return nil
}

// asFloat64 converts any supported flat slice to float64 (bool: 0/1).
func asFloat64(flat any) []float64 {
	v := reflect.ValueOf(flat)
	out := make([]float64, v.Len())
	for i := range out {
		e := v.Index(i)
		switch e.Kind() {
		case reflect.Bool:
			if e.Bool() {
				out[i] = 1
			}
		case reflect.Float32, reflect.Float64:
			out[i] = e.Float()
		case reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
			out[i] = float64(e.Int())
		default:
			out[i] = float64(e.Uint())
		}
	}
	return out
}

// compare runs fn on both backends and checks every output within tl.
func compare(t *testing.T, name string, tl tol, fn func([]*graph.Node) []*graph.Node, ins ...host) {
	t.Helper()
	compareWith(t, refB(), name, tl, fn, ins...)
}

// refSmallDot is simplego forced onto its small DotGeneral path: its large path crashes (index out of range in
// a worker goroutine) on some integer products.
var refSmallDot = sync.OnceValue(func() backends.Backend {
	b, err := backends.NewWithConfig("go:ops_sequential,dotgeneral_small")
	if err != nil {
		panic(err)
	}
	return b
})

// compareWith is compare against a given reference backend.
func compareWith(t *testing.T, ref backends.Backend, name string, tl tol, fn func([]*graph.Node) []*graph.Node, ins ...host) {
	t.Helper()
	got := runOn(t, cpuB(), fn, ins)
	want := runOn(t, ref, fn, ins)
	for k := range want {
		if reflect.TypeOf(got[k]) != reflect.TypeOf(want[k]) {
			t.Fatalf("%s output %d: type %T, reference %T", name, k, got[k], want[k])
		}
		g, w := asFloat64(got[k]), asFloat64(want[k])
		if len(g) != len(w) {
			t.Fatalf("%s output %d: %d values, reference %d", name, k, len(g), len(w))
		}
		for i := range w {
			if !close(g[i], w[i], tl) {
				t.Fatalf("%s output %d [%d]: got %v, reference %v (tolerance %+v; inputs %v)", name, k, i, g[i], w[i], tl, dimsOf(ins))
			}
		}
	}
}

func dimsOf(ins []host) [][]int {
	var d [][]int
	for _, h := range ins {
		d = append(d, h.dims)
	}
	return d
}

func close(g, w float64, tl tol) bool {
	if math.IsNaN(w) || math.IsNaN(g) {
		return math.IsNaN(w) && math.IsNaN(g)
	}
	if tl == exact || math.IsInf(w, 0) {
		return g == w
	}
	return math.Abs(g-w) <= tl.abs+tl.rel*math.Abs(w)
}

// one is a single-output fn.
func one(f func(x []*graph.Node) *graph.Node) func([]*graph.Node) []*graph.Node {
	return func(x []*graph.Node) []*graph.Node { return []*graph.Node{f(x)} }
}

// randDims returns rank dims in [1, maxDim], some set to 1.
func randDims(r *rand.Rand, rank, maxDim int) []int {
	d := make([]int, rank)
	for i := range d {
		d[i] = 1 + r.IntN(maxDim)
		if r.IntN(5) == 0 {
			d[i] = 1
		}
	}
	return d
}

func size(d []int) int {
	n := 1
	for _, v := range d {
		n *= v
	}
	return n
}

// randHost returns values of dtype: floats uniform in [lo, hi), integers in [lo, hi], bools random.
func randHost(r *rand.Rand, dt dtypes.DType, dims []int, lo, hi float64) host {
	n := size(dims)
	f := make([]float64, n)
	for i := range f {
		f[i] = lo + (hi-lo)*r.Float64()
	}
	var flat any
	switch dt {
	case dtypes.Float32:
		s := make([]float32, n)
		for i, v := range f {
			s[i] = float32(v)
		}
		flat = s
	case dtypes.Float64:
		flat = f
	case dtypes.Int32:
		s := make([]int32, n)
		for i, v := range f {
			s[i] = int32(math.Round(v))
		}
		flat = s
	case dtypes.Int64:
		s := make([]int64, n)
		for i, v := range f {
			s[i] = int64(math.Round(v))
		}
		flat = s
	case dtypes.Bool:
		s := make([]bool, n)
		for i := range s {
			s[i] = r.IntN(2) == 0
		}
		flat = s
	default:
		panic(dt)
	}
	return host{flat, dims}
}

func newRand(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, seed)) }

func mathExp(x float64) float64 { return math.Exp(x) }
