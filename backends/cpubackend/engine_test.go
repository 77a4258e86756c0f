package cpubackend

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"unsafe"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/core/tensors"
)

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func addr(b backends.Buffer) unsafe.Pointer {
	return unsafe.Pointer(unsafe.SliceData(b.(*Buffer).flat.([]float32)))
}

// TestOutputsNeverAlias: a parameter, views of it, a constant, one node returned twice and a view of it all come
// back as separate storage, distinct from the inputs, whether or not the input is donated.
func TestOutputsNeverAlias(t *testing.T) {
	for _, donate := range []bool{false, true} {
		be := must(New(""))
		bld := be.Builder("alias")
		x := must(bld.Parameter("x", shapes.Make(dtypes.Float32, 2, 3), nil))
		c := must(bld.Constant([]float32{1, 2, 3, 4, 5, 6}, 2, 3))
		y := must(bld.Add(x, c))
		outs := []backends.Op{x, must(bld.Reshape(x, 3, 2)), c, y, y, must(bld.Reshape(y, 6)), must(bld.Identity(c))}
		exe := must(bld.Compile(outs, nil))
		in := must(be.BufferFromFlatData(0, []float32{10, 20, 30, 40, 50, 60}, shapes.Make(dtypes.Float32, 2, 3)))
		inAddr := addr(in)
		res := must(exe.Execute([]backends.Buffer{in}, []bool{donate}, 0))
		seen := map[unsafe.Pointer]int{}
		for i, r := range res {
			p := addr(r)
			if j, dup := seen[p]; dup {
				t.Fatalf("donate=%v: outputs %d and %d share storage", donate, j, i)
			}
			seen[p] = i
			if p == inAddr && !donate {
				t.Fatalf("output %d aliases the (not donated) input", i)
			}
		}
		want := [][]float32{{10, 20, 30, 40, 50, 60}, {10, 20, 30, 40, 50, 60}, {1, 2, 3, 4, 5, 6},
			{11, 22, 33, 44, 55, 66}, {11, 22, 33, 44, 55, 66}, {11, 22, 33, 44, 55, 66}, {1, 2, 3, 4, 5, 6}}
		for i, r := range res {
			got := make([]float32, 6)
			if err := be.BufferToFlatData(r, got); err != nil {
				t.Fatal(err)
			}
			for k := range got {
				if got[k] != want[i][k] {
					t.Fatalf("donate=%v output %d = %v, want %v", donate, i, got, want[i])
				}
			}
		}
		// Writing to one output changes no other output and no input.
		res[3].(*Buffer).flat.([]float32)[0] = -1
		if res[4].(*Buffer).flat.([]float32)[0] != 11 {
			t.Fatal("outputs 3 and 4 alias")
		}
		if donate {
			if _, err := be.BufferShape(in); err == nil || !strings.Contains(err.Error(), "donated") {
				t.Fatalf("a donated input must be invalid after Execute, got %v", err)
			}
		} else {
			got := make([]float32, 6)
			if err := be.BufferToFlatData(in, got); err != nil || got[0] != 10 {
				t.Fatalf("the input changed: %v %v", got, err)
			}
		}
	}
}

// TestDonatedInputIsReusedInPlace: an elementwise chain on a donated input runs in its storage, and the
// intermediates' storage goes back to the pool.
func TestDonatedInputIsReusedInPlace(t *testing.T) {
	be := must(New(""))
	bld := be.Builder("inplace")
	s := shapes.Make(dtypes.Float32, 64, 64)
	x := must(bld.Parameter("x", s, nil))
	two := must(bld.Constant([]float32{2}))
	a := must(bld.Mul(x, two))
	b := must(bld.Exp(must(bld.Neg(a))))
	exe := must(bld.Compile([]backends.Op{b}, nil))
	flat := make([]float32, 64*64)
	for i := range flat {
		flat[i] = float32(i) / 4096
	}
	in := must(be.BufferFromFlatData(0, flat, s))
	inAddr := addr(in)
	res := must(exe.Execute([]backends.Buffer{in}, []bool{true}, 0))
	if addr(res[0]) != inAddr {
		t.Error("the elementwise chain on a donated input did not run in its storage")
	}
	got := res[0].(*Buffer).flat.([]float32)
	for i, v := range flat {
		if w := float32(mathExp(-2 * float64(v))); got[i] != w {
			t.Fatalf("[%d] = %v, want %v", i, got[i], w)
		}
	}
	// Not donated: the input is kept, the chain still reuses its own intermediates (one allocation only).
	in2 := must(be.BufferFromFlatData(0, flat, s))
	res2 := must(exe.Execute([]backends.Buffer{in2}, nil, 0))
	if addr(res2[0]) == addr(in2) {
		t.Error("an input that was not donated was overwritten")
	}
}

// TestPruning: nodes no output reaches are not scheduled.
func TestPruning(t *testing.T) {
	be := must(New(""))
	bld := be.Builder("prune")
	x := must(bld.Parameter("x", shapes.Make(dtypes.Float32, 16, 512), nil))
	unused := must(bld.DotGeneral(x, []int{0}, nil, x, []int{0}, nil)) // [512,512], never needed
	_ = unused
	y := must(bld.ReduceSum(x))
	exe := must(bld.Compile([]backends.Op{y}, nil)).(*Executable)
	for _, n := range exe.schedule {
		if n.op == backends.OpTypeDotGeneral {
			t.Fatal("an op no output needs was scheduled")
		}
	}
	if len(exe.schedule) != 1 {
		t.Fatalf("schedule has %d ops, want 1 (ReduceSum)", len(exe.schedule))
	}
}

// TestDeterministicBytes: the same graph and inputs give the same bytes on every run (large reductions and
// products that are split over the workers included, and convolutions with both gradients: patches in several
// blocks and tap by tap), also with one worker.
func TestDeterministicBytes(t *testing.T) {
	r := newRand(10)
	x := randHost(r, dtypes.Float32, []int{300, 500}, -1, 1)
	img := randHost(r, dtypes.Float32, []int{2, 40, 40, 20}, -1, 1)
	k3 := randHost(r, dtypes.Float32, []int{3, 3, 20, 24}, -1, 1)
	k9 := randHost(r, dtypes.Float32, []int{9, 9, 20, 3}, -1, 1)
	fn := func(in []*graph.Node) []*graph.Node {
		out := []*graph.Node{graph.ReduceAllSum(in[0]), graph.ReduceSum(in[0], 0), graph.ReduceSum(in[0], 1),
			graph.DotGeneral(in[0], []int{0}, nil, in[0], []int{0}, nil)}
		for _, k := range in[2:] {
			y := graph.Convolve(in[1], k).PadSame().Done()
			loss := graph.ReduceAllSum(graph.Mul(y, y))
			out = append(out, y)
			out = append(out, graph.Gradient(loss, in[1], k)...)
		}
		return out
	}
	first := runOn(t, cpuB(), fn, []host{x, img, k3, k9})
	one := must(New("workers=1"))
	for run := 0; run < 3; run++ {
		b := cpuB()
		if run == 2 {
			b = one
		}
		again := runOn(t, b, fn, []host{x, img, k3, k9})
		for k := range first {
			f, a := first[k].([]float32), again[k].([]float32)
			for i := range f {
				if f[i] != a[i] {
					t.Fatalf("run %d output %d [%d]: %v then %v", run, k, i, f[i], a[i])
				}
			}
		}
	}
}

// TestClearErrors: an op the backend lacks, a dtype it lacks and a bad option fail with messages that name them.
func TestClearErrors(t *testing.T) {
	be := must(New(""))
	bld := be.Builder("errors")
	x := must(bld.Parameter("x", shapes.Make(dtypes.Float32, 1, 4, 4, 1), nil))
	_, err := bld.FFT(x, backends.FFTForward, []int{4})
	if err == nil || !strings.Contains(err.Error(), "FFT") || !strings.Contains(err.Error(), "stylelab cpu backend") {
		t.Errorf("FFT: %v", err)
	}
	_, err = bld.Parameter("h", shapes.Make(dtypes.Float16, 3), nil)
	if err == nil || !strings.Contains(err.Error(), "Float16") {
		t.Errorf("float16: %v", err)
	}
	if _, err := New("threads=3"); err == nil || !strings.Contains(err.Error(), "threads=3") {
		t.Errorf("bad option: %v", err)
	}
	// Through the graph package: the error surfaces from Exec and names the op.
	e := graph.MustNewExec(be, func(x *graph.Node) *graph.Node { return graph.Cos(graph.ConvertDType(x, dtypes.Complex64)) })
	err = graphTry(func() { e.MustExec([]float32{1}) })
	if err == nil || !strings.Contains(err.Error(), "Complex64") {
		t.Errorf("complex: %v", err)
	}
}

// TestConcurrentExecutions: one compiled computation (convolutions, their gradients and elementwise ops, so that
// values live in the arena, in place and in pooled storage) executed from four goroutines at once gives, in every
// goroutine and every round, the bytes of a lone execution: each execution has an arena of its own.
func TestConcurrentExecutions(t *testing.T) {
	r := newRand(11)
	img := randHost(r, dtypes.Float32, []int{1, 36, 36, 18}, -1, 1)
	k := randHost(r, dtypes.Float32, []int{3, 3, 18, 18}, -1, 1)
	be := must(New(""))
	e := graph.MustNewExec(be, func(x, k *graph.Node) []*graph.Node {
		y := graph.Convolve(graph.Tanh(x), k).PadSame().Done()
		y = graph.Convolve(graph.Max(y, graph.ScalarZero(x.Graph(), dtypes.Float32)), k).PadSame().Done()
		loss := graph.ReduceAllSum(graph.Mul(y, y))
		return append([]*graph.Node{y}, graph.Gradient(loss, x, k)...)
	})
	defer e.Finalize()
	run := func() [][]float32 {
		outs, err := e.Exec(img.tensor(), k.tensor())
		if err != nil {
			panic(err)
		}
		res := make([][]float32, len(outs))
		for i, o := range outs {
			res[i] = tensors.MustCopyFlatData[float32](o)
			o.FinalizeAll()
		}
		return res
	}
	want := run()
	var wg sync.WaitGroup
	var mu sync.Mutex
	var errs []string
	for g := range 4 {
		wg.Go(func() {
			for round := range 3 {
				got := run()
				for i := range want {
					for j := range want[i] {
						if got[i][j] != want[i][j] {
							mu.Lock()
							errs = append(errs, fmt.Sprintf("goroutine %d round %d output %d [%d]: %v, alone %v", g, round, i, j, got[i][j], want[i][j]))
							mu.Unlock()
							return
						}
					}
				}
			}
		})
	}
	wg.Wait()
	for _, e := range errs {
		t.Error(e)
	}
}
