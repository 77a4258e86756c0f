package cpubackend

import (
	"strings"
	"testing"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/shapes"
)

// TestParallelErrors: an elementwise kernel that fails in every chunk of a parallel op (here: ops the builder
// would reject, added to the graph behind its back) returns one error naming the op, and — run with -race — the
// chunks report it without a data race (they used to assign one shared error variable from every goroutine).
func TestParallelErrors(t *testing.T) {
	n := 4 * elemGrain // several chunks on 4 workers
	f32 := shapes.Make(dtypes.Float32, n)
	cases := []struct {
		name  string
		op    backends.OpType
		exec  execFn
		lhs   shapes.Shape
		rhs   shapes.Shape // Invalid: unary
		out   shapes.Shape
		wants []string
	}{
		{"binary same shape", backends.OpTypeBitwiseAnd, execBinary, f32, f32, f32, []string{"BitwiseAnd", "float32"}},
		{"binary broadcast rows", backends.OpTypeBitwiseOr, execBinary, shapes.Make(dtypes.Float32, n/64, 64),
			shapes.Make(dtypes.Float32, 1, 64), shapes.Make(dtypes.Float32, n/64, 64), []string{"BitwiseOr", "float32"}},
		{"unary", backends.OpTypeSqrt, execUnary, shapes.Make(dtypes.Int32, n), shapes.Invalid(), shapes.Make(dtypes.Int32, n),
			[]string{"Sqrt", "integers"}},
		{"unary bool", backends.OpTypeNeg, execUnary, shapes.Make(dtypes.Bool, n), shapes.Invalid(), shapes.Make(dtypes.Bool, n),
			[]string{"Neg", "bool"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			be := must(New("workers=4"))
			bld := be.Builder("errors").(*Builder)
			ins := []*node{must(bld.Parameter("x", c.lhs, nil)).(*node)}
			if c.rhs.Ok() {
				ins = append(ins, must(bld.Parameter("y", c.rhs, nil)).(*node))
			}
			y := bld.add(c.op, c.out, c.exec, nil, ins...)
			exe := must(bld.Compile([]backends.Op{y}, nil))
			var bufs []backends.Buffer
			for _, in := range ins {
				buf, _, err := be.NewSharedBuffer(0, in.shape)
				if err != nil {
					t.Fatal(err)
				}
				bufs = append(bufs, buf)
			}
			_, err := exe.Execute(bufs, nil, 0)
			if err == nil {
				t.Fatalf("%s ran without error", c.op)
			}
			for _, w := range c.wants {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not name %q", err, w)
				}
			}
		})
	}
}
