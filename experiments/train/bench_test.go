package train

import (
	"fmt"
	"testing"

	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/stylelab/stylelab/backends/backend"
	"github.com/stylelab/stylelab/experiments/transformer"
)

// BenchmarkTrainStepCPUPreset times training steps of the cpu preset (2-style CIN, 64 px, batch 2); the
// reported s/step excludes the first step (compilation).
//
//	go test -run '^$' -bench TrainStep -benchtime 1x ./experiments/train
func BenchmarkTrainStepCPUPreset(b *testing.B) {
	cfg, _ := Preset("cpu", KindCIN)
	cfg.Steps, cfg.SampleEvery, cfg.CheckpointEvery = 6, 0, 0
	for range b.N {
		res, err := Run(cfg, tinyInputs(b, twoStyles...), nil, Hooks{})
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(res.SecondsPerStep, "s/step")
	}
}

// BenchmarkInference times one image through the cpu preset's network and the paper's network at 64, 128 and
// 256 px (after a warm-up call that compiles).
//
//	go test -run '^$' -bench Inference -benchtime 3x ./experiments/train
func BenchmarkInference(b *testing.B) {
	be, _, err := backend.New()
	if err != nil {
		b.Fatal(err)
	}
	for _, a := range []struct {
		name string
		arch transformer.Arch
	}{{"cpu-preset", transformer.Arch{Styles: 2, Width: 0.25, ResBlocks: 2}}, {"paper", transformer.Paper(2)}} {
		for _, size := range []int{64, 128, 256} {
			b.Run(fmt.Sprintf("%s/%dpx", a.name, size), func(b *testing.B) {
				ctx := context.New()
				if err := transformer.Init(ctx, a.arch, 1); err != nil {
					b.Fatal(err)
				}
				e, err := context.NewExec(be, ctx, func(ctx *context.Context, x, w *graph.Node) *graph.Node {
					return transformer.Apply(ctx, a.arch, x, w)
				})
				if err != nil {
					b.Fatal(err)
				}
				defer e.Finalize()
				x := tensors.FromFlatDataAndDimensions(make([]float32, size*size*3), 1, size, size, 3)
				w := transformer.OneHot(1, 2, 0)
				if _, err := e.Exec(x, w); err != nil {
					b.Fatal(err)
				}
				b.ResetTimer()
				for range b.N {
					out, err := e.Exec(x, w)
					if err != nil {
						b.Fatal(err)
					}
					out[0].FinalizeAll()
				}
				b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/image")
			})
		}
	}
}
