package nn

import (
	"math/rand/v2"
	"testing"

	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
)

// BenchmarkConv2DGradient times one forward+backward pass of a VGG-like 3×3 convolution (64→64 channels,
// 32×32, float32) with the replacement DotGeneral gradient ("custom") and with GoMLX's stock one ("stock").
//
//	go test -run XXX -bench Conv2DGradient -benchtime 5x ./experiments/nn
//
// The stock variant swaps graph.VJPRegistration for the duration of the benchmark; this is only safe
// because nothing else builds graphs while it runs.
func BenchmarkConv2DGradient(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 1))
	mk := func(dims ...int) *tensors.Tensor {
		d := make([]float32, size(dims))
		for i := range d {
			d[i] = float32(rng.NormFloat64())
		}
		return tensors.FromFlatDataAndDimensions(d, dims...)
	}
	x, k := mk(1, 32, 32, 64), mk(3, 3, 64, 64)
	for _, variant := range []string{"custom", "stock"} {
		b.Run(variant, func(b *testing.B) {
			if variant == "stock" {
				graph.VJPRegistration[graph.NodeTypeDotGeneral] = stockDotGeneralVJP
				defer func() { graph.VJPRegistration[graph.NodeTypeDotGeneral] = DotGeneralVJP }()
			}
			exec, err := graph.NewExec(testBackend(), func(x, k *graph.Node) (*graph.Node, *graph.Node) {
				y := Conv2D(x, k, 1, 1)
				loss := graph.ReduceAllSum(graph.Mul(y, y))
				g := graph.Gradient(loss, x, k)
				return g[0], g[1]
			})
			if err != nil {
				b.Fatal(err)
			}
			defer exec.Finalize()
			if _, err := exec.Exec(x, k); err != nil { // compile outside the timing
				b.Fatal(err)
			}
			b.ResetTimer()
			for b.Loop() {
				out, err := exec.Exec(x, k)
				if err != nil {
					b.Fatal(err)
				}
				for _, o := range out {
					o.FinalizeAll()
				}
			}
		})
	}
}
