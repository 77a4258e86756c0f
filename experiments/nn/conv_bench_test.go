package nn

import (
	"fmt"
	"math/rand/v2"
	"syscall"
	"testing"
	"time"

	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
)

// BenchmarkConv2DNative compares the native convolution (one ConvGeneral op) with im2col on VGG-sized float32
// layers: the first layer (3→64), a 64→64 and a 256→256 layer, each forward only ("fwd"), forward and input
// gradient ("dx", what Gatys needs) and forward with both gradients ("dxdw", training). cpu-ms/op is the
// process CPU time per pass, steadier than ns/op on a shared machine.
//
//	go test -run XXX -bench Conv2DNative -benchtime 3x ./experiments/nn
func BenchmarkConv2DNative(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 1))
	mk := func(dims ...int) *tensors.Tensor {
		d := make([]float32, size(dims))
		for i := range d {
			d[i] = float32(rng.NormFloat64())
		}
		return tensors.FromFlatDataAndDimensions(d, dims...)
	}
	layers := []struct {
		name          string
		hw, cin, cout int
	}{{"conv1_1", 256, 3, 64}, {"conv1_2", 256, 64, 64}, {"conv3", 64, 256, 256}, {"conv4@128", 16, 512, 512}, {"conv5@128", 8, 512, 512},
		{"conv2@128", 64, 128, 128}}
	for _, l := range layers {
		x, k := mk(1, l.hw, l.hw, l.cin), mk(3, 3, l.cin, l.cout)
		for _, pass := range []string{"fwd", "dx", "dxdw"} {
			for _, variant := range []string{"native", "im2col"} {
				b.Run(fmt.Sprintf("%s/%s/%s", l.name, pass, variant), func(b *testing.B) {
					defer UseIm2col(variant == "im2col")()
					exec, err := graph.NewExec(testBackend(), func(x, k *graph.Node) []*graph.Node {
						y := Conv2D(x, k, 1, 1)
						switch pass {
						case "dx":
							return graph.Gradient(graph.ReduceAllSum(graph.Mul(y, y)), x)
						case "dxdw":
							return graph.Gradient(graph.ReduceAllSum(graph.Mul(y, y)), x, k)
						}
						return []*graph.Node{y}
					})
					if err != nil {
						b.Fatal(err)
					}
					defer exec.Finalize()
					if _, err := exec.Exec(x, k); err != nil { // compile outside the timing
						b.Fatal(err)
					}
					b.ResetTimer()
					cpu0 := cpuTime()
					for b.Loop() {
						out, err := exec.Exec(x, k)
						if err != nil {
							b.Fatal(err)
						}
						for _, o := range out {
							o.FinalizeAll()
						}
					}
					b.ReportMetric(float64(cpuTime()-cpu0)/1e6/float64(b.N), "cpu-ms/op")
				})
			}
		}
	}
}

// cpuTime is the process's user+system CPU time: on a machine shared with other work it says what an op costs
// better than wall time does.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
