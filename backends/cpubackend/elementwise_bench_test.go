package cpubackend

import (
	"testing"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/shapes"
)

// BenchmarkElementwise times the elementwise ops stylelab's graphs run most (on 2^20 float32 values, one worker,
// so that the numbers compare kernels rather than scheduling): same-shape and scalar binary ops, a bias-style
// broadcast, a comparison, Sign, Sqrt, Where and ConvertDType.
func BenchmarkElementwise(b *testing.B) {
	const n = 1 << 20
	f32 := shapes.Make(dtypes.Float32, n)
	rows := shapes.Make(dtypes.Float32, n/64, 64)
	cases := []struct {
		name  string
		ins   []shapes.Shape
		build func(bld *Builder, x []backends.Op) (backends.Op, error)
	}{
		{"Add", []shapes.Shape{f32, f32}, func(bld *Builder, x []backends.Op) (backends.Op, error) { return bld.Add(x[0], x[1]) }},
		{"MulScalar", []shapes.Shape{f32, shapes.Make(dtypes.Float32)}, func(bld *Builder, x []backends.Op) (backends.Op, error) {
			return bld.Mul(x[0], x[1])
		}},
		{"AddBias", []shapes.Shape{rows, shapes.Make(dtypes.Float32, 1, 64)}, func(bld *Builder, x []backends.Op) (backends.Op, error) {
			return bld.Add(x[0], x[1])
		}},
		{"GreaterOrEqual", []shapes.Shape{f32, f32}, func(bld *Builder, x []backends.Op) (backends.Op, error) {
			return bld.GreaterOrEqual(x[0], x[1])
		}},
		{"Sign", []shapes.Shape{f32}, func(bld *Builder, x []backends.Op) (backends.Op, error) { return bld.Sign(x[0]) }},
		{"Sqrt", []shapes.Shape{f32}, func(bld *Builder, x []backends.Op) (backends.Op, error) { return bld.Sqrt(x[0]) }},
		{"Where", []shapes.Shape{shapes.Make(dtypes.Bool, n), f32, f32}, func(bld *Builder, x []backends.Op) (backends.Op, error) {
			return bld.Where(x[0], x[1], x[2])
		}},
		{"ConvertInt32", []shapes.Shape{shapes.Make(dtypes.Int32, n)}, func(bld *Builder, x []backends.Op) (backends.Op, error) {
			return bld.ConvertDType(x[0], dtypes.Float32)
		}},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			be := must(New("workers=1"))
			bld := be.Builder(c.name).(*Builder)
			var params []backends.Op
			var bufs []backends.Buffer
			for i, s := range c.ins {
				params = append(params, must(bld.Parameter(string(rune('a'+i)), s, nil)))
				buf, _, err := be.NewSharedBuffer(0, s)
				if err != nil {
					b.Fatal(err)
				}
				bufs = append(bufs, buf)
			}
			exe := must(bld.Compile([]backends.Op{must(c.build(bld, params))}, nil))
			b.SetBytes(int64(n * 4))
			for b.Loop() {
				outs, err := exe.Execute(bufs, nil, 0)
				if err != nil {
					b.Fatal(err)
				}
				be.BufferFinalize(outs[0])
			}
		})
	}
}
