package gatys

import (
	"fmt"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/stylelab/stylelab/backends/backend"
	"github.com/stylelab/stylelab/experiments/imageio"
	"github.com/stylelab/stylelab/experiments/nn"
)

// TestStyleTargetsOnceSameLosses: computing the style targets once (losses.StylePrepared, the default) gives the
// same loss terms, on the same backend, as computing the whole style loss inside every step (testTargetsInStep),
// for the losses whose targets are prepared, at step 0 (the first loss) and step 1 (after an Adam update, so the
// gradient is the same too). The style image has another aspect ratio than the content (M_F ≠ M_S).
func TestStyleTargetsOnceSameLosses(t *testing.T) {
	content, style := load(t, chelsea, 32), load(t, starry, 32)
	for _, loss := range []string{"gram", "meanvar", "mmd-linear"} {
		cfg := smallConfig("adam", 1)
		cfg.Loss, cfg.StyleWeight = loss, nil
		run := func(inStep bool) []StepReport {
			testTargetsInStep = inStep
			defer func() { testTargetsInStep = false }()
			var reps []StepReport
			if _, err := Run(cfg, content, []*imageio.Image{style}, weights(), func(r StepReport) error {
				reps = append(reps, r)
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			return reps
		}
		once, inStep := run(false), run(true)
		for i := range once {
			for _, x := range []struct {
				name      string
				got, want float64
			}{{"total", once[i].Total, inStep[i].Total}, {"style", once[i].Style, inStep[i].Style},
				{"relu5_1", once[i].StyleByLayer["relu5_1"], inStep[i].StyleByLayer["relu5_1"]}} {
				if math.Abs(x.got-x.want) > 1e-6*math.Abs(x.want) || !(x.want > 0) {
					t.Errorf("%s step %d %s: targets once %.9g, in the step %.9g", loss, i, x.name, x.got, x.want)
				}
			}
		}
	}
}

// BenchmarkLayerChanges measures, in one process and on the process backend, an Adam step of the default
// problem (square images) before and after the changes to stylelab's own layers: style targets computed once
// instead of in every step, the ReLU gradient as one select, the DotGeneral gradient in the operand's layout and
// one product for each Gram matrix. The two compiled steps are executed alternately (so a change in machine load
// affects both alike); it reports the median wall seconds of each, their ratio before/after, and the ratio of
// the median process CPU seconds per step (less sensitive to other processes on a shared machine).
//
//	go test ./experiments/gatys -run '^$' -bench LayerChanges -benchtime 5x
func BenchmarkLayerChanges(b *testing.B) {
	for _, size := range []int{128, 256} {
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
			stepper := func(before bool) *adamStepper {
				testTargetsInStep = before
				restore := nn.UseStockGradients(before)
				defer func() { testTargetsInStep = false; restore() }()
				p, err := newProblem(be, cfg, weights(), content, []*imageio.Image{style}, nil)
				if err != nil {
					b.Fatal(err)
				}
				a, err := newAdamStepper(p, content, cfg.LearningRate)
				if err != nil {
					b.Fatal(err)
				}
				if _, _, err := a.run(true); err != nil { // the graph is built and compiled here
					b.Fatal(err)
				}
				return a
			}
			before, after := stepper(true), stepper(false)
			defer before.finalize()
			defer after.finalize()
			var tb, ta, cb, ca []float64
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				for _, x := range []struct {
					a    *adamStepper
					t, c *[]float64
				}{{before, &tb, &cb}, {after, &ta, &ca}} {
					c0, t0 := cpuSeconds(), time.Now()
					if _, _, err := x.a.run(true); err != nil {
						b.Fatal(err)
					}
					*x.t = append(*x.t, time.Since(t0).Seconds())
					*x.c = append(*x.c, cpuSeconds()-c0)
				}
			}
			b.StopTimer()
			mb, ma, mcb, mca := median(tb), median(ta), median(cb), median(ca)
			b.ReportMetric(mb, "before-s/step")
			b.ReportMetric(ma, "after-s/step")
			b.ReportMetric(mb/ma, "before/after")
			b.ReportMetric(mcb/mca, "cpu-before/after")
			b.Logf("backend %s, %d×%d: wall before %.3f s, after %.3f s; CPU before %.3f s, after %.3f s per step (medians of %d)",
				info.Config, size, size, mb, ma, mcb, mca, len(ta))
		})
	}
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
