package bench

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/stylelab/stylelab/backends/backend"
	"github.com/stylelab/stylelab/experiments/imageio"
	"github.com/stylelab/stylelab/experiments/train"
	"github.com/stylelab/stylelab/experiments/transformer"
)

// Feed-forward rows (issue #8): a training step of the cpu preset's 2-style CIN network and inference of one
// image through that network and through the paper's (transformer.Paper). Inference rows also carry
// MsPerImage = 1000·Seconds (one pass is one image).

// trainStepStyles is S, the number of styles of the train-step and inference networks.
const trainStepStyles = 2

// runTrainStep times train.Run on the cpu preset (train.Preset("cpu", train.KindCIN): width 1/4, 2 residual
// blocks, batch 2, style relu1_1…relu3_1, content relu2_1, Gram loss) with Size×Size crops and 2 styles.
// Contents are 4 synthetic pictures, styles 2 (Images at 2·Size with different phases, written as PNG to a
// temporary folder, so the run reads files like a real one). Step 1 compiles, steps 2…1+Warmup are untimed,
// the next Steps are timed: each sample is train.StepReport.StepTime (crop, batch upload, forward, losses,
// backward, Adam update), not the final step's sample grid or checkpoint. Loss is the last timed step's total.
func runTrainStep(s Setup) (Row, error) { return runTrainPreset(s, "train-step", "cpu", 0) }

// runTrainStepPaper is runTrainStep on the gpu preset, the papers' network and losses (train.Preset("gpu",
// train.KindCIN): transformer.Paper, style relu1_1…relu4_1, content relu3_1, Gram loss, Adam 1e-3), batch 4,
// 2 styles at Size (style images at Size too).
func runTrainStepPaper(s Setup) (Row, error) { return runTrainPreset(s, "train-step-paper", "gpu", 4) }

// runTrainPreset times train.Run on a preset's CIN configuration with Size×Size crops (batch: the preset's
// when 0), as runTrainStep describes.
func runTrainPreset(s Setup, name, preset string, batch int) (Row, error) {
	cfg, err := train.Preset(preset, train.KindCIN)
	if err != nil {
		return Row{}, err
	}
	cfg.Size = s.Size
	if batch > 0 {
		cfg.Batch = batch
	}
	if preset == "gpu" {
		cfg.StyleSize = s.Size
	}
	cfg.Steps = 1 + s.Warmup + s.Steps
	cfg.SampleEvery, cfg.CheckpointEvery = 0, 0
	cfg.SampleSize = MinSize // the final sample grid is not timed; keep it cheap
	dir, err := os.MkdirTemp("", "stylelab-bench-train-")
	if err != nil {
		return Row{}, err
	}
	defer os.RemoveAll(dir)
	in := train.Inputs{Weights: s.weights()}
	for i := range 4 {
		content, style := Images(2*s.Size + 4*i) // different sizes: different pixels at every crop
		p := filepath.Join(dir, fmt.Sprintf("content%d.png", i))
		if err := imageio.SavePNG(p, content); err != nil {
			return Row{}, err
		}
		in.ContentFiles = append(in.ContentFiles, p)
		if i < trainStepStyles {
			p := filepath.Join(dir, fmt.Sprintf("style%d.png", i))
			if err := imageio.SavePNG(p, style); err != nil {
				return Row{}, err
			}
			in.Styles = append(in.Styles, train.StyleRef{Name: train.StyleName(p), Path: p})
		}
	}
	var row Row
	var cpu, last float64
	onStep := func(r train.StepReport) error {
		now := cpuSeconds()
		s.progressf("bench %s %dpx: step %d %.3fs (loss %.6g)", name, s.Size, r.Step, r.StepTime.Seconds(), r.Total)
		if r.Step > 1+s.Warmup {
			row.Samples = append(row.Samples, r.StepTime.Seconds())
			cpu += now - last
			row.Loss = r.Total
		}
		last = now
		return nil
	}
	if _, err := train.Run(cfg, in, nil, train.Hooks{OnStep: onStep}); err != nil {
		return Row{}, err
	}
	if len(row.Samples) != s.Steps {
		return Row{}, fmt.Errorf("%s: %d timed steps reported, want %d", name, len(row.Samples), s.Steps)
	}
	row.Seconds = median(row.Samples)
	row.CPUSeconds = cpu / float64(len(row.Samples))
	return row, nil
}

// cpuPresetArch is the cpu preset's CIN network for trainStepStyles styles.
func cpuPresetArch() (transformer.Arch, error) {
	cfg, err := train.Preset("cpu", train.KindCIN)
	if err != nil {
		return transformer.Arch{}, err
	}
	return cfg.Arch(trainStepStyles), nil
}

// runInferenceCPU times one image through the cpu preset's network (see runInference).
func runInferenceCPU(s Setup) (Row, error) {
	a, err := cpuPresetArch()
	if err != nil {
		return Row{}, err
	}
	return runInference(s, "inference", a)
}

// runInferencePaper times one image through the paper's network, transformer.Paper(2) (see runInference).
func runInferencePaper(s Setup) (Row, error) {
	return runInference(s, "inference-paper", transformer.Paper(trainStepStyles))
}

// runInference times transformer.Apply on the synthetic content image (batch 1, Size×Size, style mix one-hot
// on style 0) with weights from transformer.Init(seed 1): 1 + Warmup untimed executions (the first compiles),
// then Steps timed ones, each until the stylised image has been read back. MsPerImage = 1000·Seconds.
func runInference(s Setup, name string, a transformer.Arch) (Row, error) {
	b, _, err := backend.New()
	if err != nil {
		return Row{}, err
	}
	ctx := context.New()
	if err := transformer.Init(ctx, a, 1); err != nil {
		return Row{}, err
	}
	e, err := context.NewExec(b, ctx, func(ctx *context.Context, x, w *graph.Node) *graph.Node {
		return transformer.Apply(ctx, a, x, w)
	})
	if err != nil {
		return Row{}, err
	}
	defer e.Finalize()
	content, _ := Images(s.Size)
	in := content.Tensor()
	defer in.FinalizeAll()
	mix := tensors.FromValue(transformer.OneHot(1, a.Styles, 0))
	defer mix.FinalizeAll()
	var row Row
	var cpu float64
	for i := range 1 + s.Warmup + s.Steps {
		c0, t0 := cpuSeconds(), time.Now()
		outs, err := e.Exec(in, mix)
		if err != nil {
			return Row{}, err
		}
		var n int
		if err := tensors.ConstFlatData(outs[0], func(f []float32) { n = len(f) }); err != nil {
			return Row{}, err
		}
		dt := time.Since(t0).Seconds()
		for _, o := range outs {
			o.FinalizeAll()
		}
		if n != s.Size*s.Size*3 {
			return Row{}, fmt.Errorf("%s: output has %d values, want %d (one %d×%d RGB image)", name, n, s.Size*s.Size*3, s.Size, s.Size)
		}
		s.progressf("bench %s %dpx: image %d %.1fms", name, s.Size, i, 1000*dt)
		if i >= 1+s.Warmup {
			row.Samples = append(row.Samples, dt)
			cpu += cpuSeconds() - c0
		}
	}
	row.Seconds = median(row.Samples)
	row.MsPerImage = 1000 * row.Seconds
	row.CPUSeconds = cpu / float64(len(row.Samples))
	return row, nil
}
