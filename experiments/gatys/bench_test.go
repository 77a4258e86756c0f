package gatys

import (
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/stylelab/stylelab/backends/backend"
	"github.com/stylelab/stylelab/experiments/imageio"
)

// BenchmarkGatysStep times one Adam step (forward through VGG-19 to relu5_1 for the content layer relu4_2 and
// the five style layers, Gram loss, backward, update) on square 64², 128² and 256² images (the shipped photo and
// painting resized), on the process backend. Setup (weights, target features, compilation and one warm-up step)
// is not timed. It reports wall seconds per step and process CPU seconds per step (user+system; on a shared
// machine the wall time grows with the load, the CPU time much less). Run with -benchtime 2x at 256²:
//
//	go test ./experiments/gatys -run '^$' -bench GatysStep -benchtime 2x
func BenchmarkGatysStep(b *testing.B) {
	for _, size := range []int{64, 128, 256} {
		b.Run(fmt.Sprintf("%dpx", size), func(b *testing.B) {
			content, err := imageio.Resize(load(b, chelsea, 0), size, size)
			if err != nil {
				b.Fatal(err)
			}
			style, err := imageio.Resize(load(b, starry, 0), size, size)
			if err != nil {
				b.Fatal(err)
			}
			cfg, err := DefaultConfig().Resolve(1)
			if err != nil {
				b.Fatal(err)
			}
			cfg.Size = size
			be, info, err := backend.New()
			if err != nil {
				b.Fatal(err)
			}
			p, err := newProblem(be, cfg, weights(), content, []*imageio.Image{style}, nil)
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
			cpu0 := cpuSeconds()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, _, err := a.run(true); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			b.ReportMetric(b.Elapsed().Seconds()/float64(b.N), "s/step")
			b.ReportMetric((cpuSeconds()-cpu0)/float64(b.N), "cpu-s/step")
			b.Logf("backend %s, image %d×%d", info.Config, content.W, content.H)
		})
	}
}

// cpuSeconds returns the user+system CPU time of this process so far.
func cpuSeconds() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}
