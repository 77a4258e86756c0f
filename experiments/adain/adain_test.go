package adain

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/stylelab/stylelab/backends/backend"
	"github.com/stylelab/stylelab/experiments/vgg"
)

func randImage(seed uint64, h, w int) *tensors.Tensor {
	rng := rand.New(rand.NewPCG(seed, 2))
	v := make([]float32, h*w*3)
	for i := range v {
		v[i] = rng.Float32()
	}
	return tensors.FromFlatDataAndDimensions(v, 1, h, w, 3)
}

// stats returns the per-channel mean and biased standard deviation (no ε) of a [1,H,W,C] tensor, in float64.
func stats(t *tensors.Tensor) (mean, std []float64) {
	d := t.Shape().Dimensions
	c := d[3]
	m := d[1] * d[2]
	mean, std = make([]float64, c), make([]float64, c)
	tensors.ConstFlatData(t, func(v []float32) {
		for p := range m {
			for k := range c {
				mean[k] += float64(v[p*c+k]) / float64(m)
			}
		}
		for p := range m {
			for k := range c {
				d := float64(v[p*c+k]) - mean[k]
				std[k] += d * d / float64(m)
			}
		}
	})
	for k := range std {
		std[k] = math.Sqrt(std[k])
	}
	return mean, std
}

// The AdaIN target of a content image's encoder features has exactly the per-channel mean and standard deviation
// of the style image's features (up to float32 rounding and the ε = 1e-5 inside σ, accounted for exactly), also
// when the two images differ in size.
func TestAdaINMatchesStyleStatistics(t *testing.T) {
	b, _, err := backend.New()
	if err != nil {
		t.Fatal(err)
	}
	w := vgg.Random(0)
	ctx := context.New()
	e, err := context.NewExec(b, ctx, func(ctx *context.Context, c, s *graph.Node) (*graph.Node, *graph.Node, *graph.Node) {
		fc := Encode(ctx, w, vgg.PoolAvg, c, []string{"relu2_1"})["relu2_1"]
		fs := Encode(ctx, w, vgg.PoolAvg, s, []string{"relu2_1"})["relu2_1"]
		return Target(fc, []*graph.Node{fs}, []float64{1}, 1), fs, fc
	})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Finalize()
	out, err := e.Exec(randImage(1, 32, 32), randImage(2, 24, 40))
	if err != nil {
		t.Fatal(err)
	}
	mt, st := stats(out[0])
	ms, ss := stats(out[1])
	_, sc := stats(out[2])
	checked := 0
	for k := range mt {
		if ss[k] < 1e-2 { // a dead (all-zero) ReLU channel has σ_s = 0 and σ_t = √ε-scaled noise
			continue
		}
		checked++
		if d := math.Abs(mt[k]-ms[k]) / math.Max(math.Abs(ms[k]), ss[k]); d > 1e-5 {
			t.Errorf("channel %d: mean %.7g, style mean %.7g", k, mt[k], ms[k])
		}
		// σ_t = σ_ε(s) · σ(c)/σ_ε(c) with σ_ε = √(σ² + ε): the style's std, but for the ε of the norm.
		want := math.Sqrt(ss[k]*ss[k]+Eps) * sc[k] / math.Sqrt(sc[k]*sc[k]+Eps)
		if d := math.Abs(st[k]-want) / want; d > 2e-5 {
			t.Errorf("channel %d: std %.7g, style std %.7g, with the norm's ε %.7g (rel %.2g)", k, st[k], ss[k], want, d)
		}
	}
	if checked < len(mt)/2 {
		t.Fatalf("only %d of %d channels are alive: the test checks too little", checked, len(mt))
	}
}

// The decoder mirrors the encoder (Huang & Belongie's layout at relu4_1) and returns the input size.
func TestDecoderMirrorsEncoder(t *testing.T) {
	a := Arch{EncoderLayer: "relu4_1", Width: 1}
	ls := a.Layers()
	want := []Layer{{"d1", 512, 256, false, true}, {"d2", 256, 256, true, true}, {"d3", 256, 256, false, true},
		{"d4", 256, 256, false, true}, {"d5", 256, 128, false, true}, {"d6", 128, 128, true, true},
		{"d7", 128, 64, false, true}, {"d8", 64, 64, true, true}, {"d9", 64, 3, false, false}}
	if len(ls) != len(want) {
		t.Fatalf("%d layers, want %d: %+v", len(ls), len(want), ls)
	}
	for i := range ls {
		if ls[i] != want[i] {
			t.Errorf("layer %d = %+v, want %+v", i, ls[i], want[i])
		}
	}
	if a.Downscale() != 8 {
		t.Errorf("downscale %d, want 8", a.Downscale())
	}
	small := Arch{EncoderLayer: "relu2_1", Width: 0.25}
	b, _, _ := backend.New()
	ctx := context.New()
	if err := Init(ctx, small, 1); err != nil {
		t.Fatal(err)
	}
	w := vgg.Random(0)
	out, err := context.ExecOnce(b, ctx, func(ctx *context.Context, c *graph.Node) *graph.Node {
		f := Encode(ctx, w, vgg.PoolAvg, c, []string{"relu2_1"})["relu2_1"]
		return Decode(ctx, small, f)
	}, randImage(3, 16, 24))
	if err != nil {
		t.Fatal(err)
	}
	if d := out.Shape().Dimensions; d[1] != 16 || d[2] != 24 || d[3] != 3 {
		t.Errorf("decoded shape %v, want [1 16 24 3]", d)
	}
	if (Arch{EncoderLayer: "relu5_1", Width: 1}).Validate() == nil {
		t.Error("relu5_1 accepted as encoder layer")
	}
}
