package train

import (
	"math"
	"testing"
)

// train --resume --lr X trains at X: the resumed run's stored learning rate is X (not the checkpoint's), and two
// resumes of one checkpoint at different rates reach different losses, while the checkpoint itself is left as it
// was (a resume at its own rate stays bit-identical: TestCheckpointRoundTripAndResume). (#21 item 12.)
func TestResumeUsesTheNewLearningRate(t *testing.T) {
	cfg := tinyConfig(t, KindCIN, "gram")
	cfg.Steps, cfg.CheckpointEvery, cfg.SampleEvery = 1, 0, 0
	in := tinyInputs(t, twoStyles...)
	res, err := Run(cfg, in, nil, Hooks{})
	if err != nil {
		t.Fatal(err)
	}
	ck, err := DecodeCheckpoint("step1", res.Checkpoint)
	if err != nil {
		t.Fatal(err)
	}
	stored := ck.Tensors[LearningRateVarName].Value().(float32)
	if stored != float32(cfg.LearningRate) {
		t.Fatalf("stored rate %g, trained at %g", stored, cfg.LearningRate)
	}
	last := map[float64]float64{}
	for _, lr := range []float64{0.5, 1e-4} {
		c := cfg
		c.Steps, c.LearningRate = 3, lr
		r, err := Run(c, in, ck, Hooks{})
		if err != nil {
			t.Fatal(err)
		}
		if r.First.Step != 2 {
			t.Fatalf("resumed at step %d", r.First.Step)
		}
		out, err := DecodeCheckpoint("resumed", r.Checkpoint)
		if err != nil {
			t.Fatal(err)
		}
		if got := out.Tensors[LearningRateVarName].Value().(float32); got != float32(lr) {
			t.Errorf("--lr %g: the resumed run's learning rate is %g", lr, got)
		}
		if r.Header.Config.LearningRate != lr {
			t.Errorf("--lr %g: the header records %g", lr, r.Header.Config.LearningRate)
		}
		last[lr] = r.Last.Total
	}
	if math.Float64bits(last[0.5]) == math.Float64bits(last[1e-4]) {
		t.Errorf("step 3's loss is %g at both rates: the rate was ignored", last[0.5])
	}
	if got := ck.Tensors[LearningRateVarName].Value().(float32); got != stored {
		t.Errorf("resuming changed the checkpoint's own rate to %g", got)
	}
}

// A config naming a preset gets that preset's residual blocks when it leaves res_blocks out (it got 0: a gpu
// sweep trained a net with no residual blocks); NoResBlocks asks for none, and a resolved config resolves to
// itself. (#21 item 13.)
func TestPresetResBlocks(t *testing.T) {
	for preset, want := range map[string]int{"gpu": 5, "cpu": 2, "tiny": 1, "": 2} {
		c, err := Config{Kind: KindCIN, Preset: preset}.Resolve(2)
		if err != nil {
			t.Fatal(err)
		}
		if c.ResBlocks != want || c.Arch(2).ResBlocks != want {
			t.Errorf("preset %q: %d residual blocks (arch %d), want %d", preset, c.ResBlocks, c.Arch(2).ResBlocks, want)
		}
	}
	c, err := Config{Kind: KindCIN, Preset: "gpu", ResBlocks: NoResBlocks}.Resolve(2)
	if err != nil {
		t.Fatal(err)
	}
	again, err := c.Resolve(2)
	if err != nil {
		t.Fatal(err)
	}
	if c.Arch(2).ResBlocks != 0 || again.Arch(2).ResBlocks != 0 || again.ResBlocks != NoResBlocks {
		t.Errorf("NoResBlocks: arch %d, re-resolved %d", c.Arch(2).ResBlocks, again.ResBlocks)
	}
	if _, err := (Config{Kind: KindCIN, ResBlocks: -2}).Resolve(2); err == nil {
		t.Error("res_blocks −2 accepted")
	}
}
