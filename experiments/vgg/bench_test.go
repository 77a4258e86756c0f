package vgg

import (
	"fmt"
	"testing"

	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

// BenchmarkFeatures times VGG-19 up to relu5_1 (random weights, average pooling, float32) on the pure-Go
// backend ("go:ops_sequential"): "forward" computes the features, "grad" also the gradient of
// mean(F²) with respect to the image, as one Gatys step does (without the optimiser update).
//
//	go test -run XXX -bench Features -benchtime 3x ./experiments/vgg
func BenchmarkFeatures(b *testing.B) {
	w := testWeights()
	for _, size := range []int{64, 128} {
		img := loadTestImage(b, "../../images/content/astronaut.jpg", size)
		for _, mode := range []string{"forward", "grad"} {
			b.Run(fmt.Sprintf("%s/%dpx", mode, size), func(b *testing.B) {
				ctx := context.New()
				exec, err := context.NewExec(testBackend(), ctx, func(ctx *context.Context, x *graph.Node) *graph.Node {
					f := Features(ctx, w, PoolAvg, x, []string{"relu5_1"})["relu5_1"]
					loss := graph.ReduceAllMean(graph.Square(f))
					if mode == "forward" {
						return loss
					}
					return graph.Gradient(loss, x)[0]
				})
				if err != nil {
					b.Fatal(err)
				}
				defer exec.Finalize()
				if _, err := exec.Exec(img); err != nil { // compile and upload weights outside the timing
					b.Fatal(err)
				}
				for b.Loop() {
					out, err := exec.Exec(img)
					if err != nil {
						b.Fatal(err)
					}
					out[0].FinalizeAll()
				}
			})
		}
	}
}
