package gatys

import (
	"fmt"
	"testing"

	"github.com/stylelab/stylelab/experiments/backend"
	"github.com/stylelab/stylelab/experiments/imageio"
)

// BenchmarkGatysStep times one Adam step (forward through VGG-19 to relu5_1 for the content layer relu4_2 and
// the five style layers, Gram loss, backward, update) at 64, 128 and 256 px, on the process backend. Setup
// (weights, target features, compilation and one warm-up step) is not timed. Run with -benchtime 2x at 256 px:
//
//	go test ./experiments/gatys -run '^$' -bench GatysStep -benchtime 2x
func BenchmarkGatysStep(b *testing.B) {
	for _, size := range []int{64, 128, 256} {
		b.Run(fmt.Sprintf("%dpx", size), func(b *testing.B) {
			content, style := load(b, chelsea, size), load(b, starry, size)
			cfg, err := DefaultConfig().Resolve(1)
			if err != nil {
				b.Fatal(err)
			}
			cfg.Size = size
			be, info, err := backend.New()
			if err != nil {
				b.Fatal(err)
			}
			p, err := newProblem(be, cfg, weights(), content, []*imageio.Image{style})
			if err != nil {
				b.Fatal(err)
			}
			a, err := newAdamStepper(p, content, cfg.LearningRate)
			if err != nil {
				b.Fatal(err)
			}
			defer a.finalize()
			if _, _, err := a.run(true); err != nil { // compile and warm up
				b.Fatal(err)
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, _, err := a.run(true); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			b.ReportMetric(b.Elapsed().Seconds()/float64(b.N), "s/step")
			b.Logf("backend %s, image %d×%d", info.Config, content.W, content.H)
		})
	}
}
