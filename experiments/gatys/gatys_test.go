package gatys

import (
	"encoding/json"
	"errors"
	"math"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/stylelab/stylelab/experiments/imageio"
	"github.com/stylelab/stylelab/experiments/losses"
	"github.com/stylelab/stylelab/experiments/vgg"
)

var (
	weightsOnce sync.Once
	testWeights *vgg.Weights
)

// weights returns the seeded random VGG-19 shared by the tests.
func weights() *vgg.Weights {
	weightsOnce.Do(func() { testWeights = vgg.Random(0) })
	return testWeights
}

func load(t testing.TB, path string, size int) *imageio.Image {
	t.Helper()
	im, err := imageio.Load(path, size)
	if err != nil {
		t.Fatal(err)
	}
	return im
}

const (
	chelsea = "../../images/content/chelsea.jpg"
	starry  = "../../images/style/vangogh_starry_night.jpg"
	scream  = "../../images/style/munch_scream.jpg"
)

// skipShort skips end-to-end optimisation tests under -short.
func skipShort(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: end-to-end optimisation")
	}
}

func smallConfig(opt string, steps int) Config {
	c := DefaultConfig()
	c.Size = 32
	c.Steps = steps
	c.Optimizer = opt
	return c
}

func TestLossFalls(t *testing.T) {
	skipShort(t)
	content, style := load(t, chelsea, 32), load(t, starry, 32)
	for _, opt := range []string{"adam", "lbfgs"} {
		t.Run(opt, func(t *testing.T) {
			var reports []StepReport
			res, err := Run(smallConfig(opt, 6), content, []*imageio.Image{style}, weights(), func(r StepReport) error {
				reports = append(reports, r)
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if len(reports) != 7 || reports[0].Step != 0 || reports[6].Step != 6 || res.Steps != 6 {
				t.Fatalf("got %d reports (steps %d..%d), Steps %d; want steps 0..6", len(reports), reports[0].Step, reports[len(reports)-1].Step, res.Steps)
			}
			if res.First.Total != reports[0].Total || res.Last.Total != reports[6].Total {
				t.Fatal("First/Last are not the reports of steps 0 and 6")
			}
			t.Logf("%s: total %.5g → %.5g (content %.3g → %.3g, style %.3g → %.3g), %.2fs/step",
				opt, res.First.Total, res.Last.Total, res.First.Content, res.Last.Content, res.First.Style, res.Last.Style, res.SecondsPerStep)
			// Adam at learning rate 0.01 moves each pixel by about 0.01 per step: 6 steps lower the loss by
			// ~13%; L-BFGS with its line search by ~75%.
			want := map[string]float64{"adam": 0.9, "lbfgs": 0.5}[opt]
			if !(res.Last.Total < want*res.First.Total) {
				t.Fatalf("total loss %g → %g: did not fall below %g× the initial loss", res.First.Total, res.Last.Total, want)
			}
			for _, r := range reports[1:] {
				if !(r.Total < res.First.Total) {
					t.Fatalf("step %d: total %g is not below the initial %g", r.Step, r.Total, res.First.Total)
				}
			}
			if opt == "lbfgs" {
				for i := 1; i < len(reports); i++ {
					if reports[i].Total > reports[i-1].Total {
						t.Fatalf("L-BFGS loss rose at step %d: %g → %g", i, reports[i-1].Total, reports[i].Total)
					}
				}
			}
			// The reported terms add up.
			r := res.Last
			cfg := res.Config
			if want := *cfg.ContentWeight*r.Content + *cfg.StyleWeight*r.Style + *cfg.TVWeight*r.TV; math.Abs(r.Total-want) > 1e-4*math.Abs(want) {
				t.Fatalf("total %g ≠ weighted sum %g", r.Total, want)
			}
			mean := 0.0
			for _, l := range cfg.StyleLayers {
				mean += r.StyleByLayer[l] / float64(len(cfg.StyleLayers))
			}
			if math.Abs(r.Style-mean) > 1e-4*math.Abs(mean) {
				t.Fatalf("style %g ≠ mean of the layers %g", r.Style, mean)
			}
			for _, v := range res.Image.Pix {
				if v < 0 || v > 1 {
					t.Fatalf("pixel %v outside [0,1]", v)
				}
			}
		})
	}
}

func TestSameSeedSamePixels(t *testing.T) {
	skipShort(t)
	content, style := load(t, chelsea, 32), load(t, starry, 32)
	cfg := smallConfig("adam", 3)
	cfg.Init = "noise"
	cfg.Seed = 42
	run := func(c Config) *Result {
		res, err := Run(c, content, []*imageio.Image{style}, weights(), nil)
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	a, b := run(cfg), run(cfg)
	for i := range a.Image.Pix {
		if a.Image.Pix[i] != b.Image.Pix[i] {
			t.Fatalf("value %d differs between two runs with seed 42: %v vs %v", i, a.Image.Pix[i], b.Image.Pix[i])
		}
	}
	if a.Last.Total != b.Last.Total {
		t.Fatalf("losses differ: %v vs %v", a.Last.Total, b.Last.Total)
	}
	// A different seed gives a different noise image.
	cfg.Seed = 43
	cfg.Steps = 1
	c := run(cfg)
	same := 0
	for i := range a.Image.Pix {
		if a.Image.Pix[i] == c.Image.Pix[i] {
			same++
		}
	}
	if same > len(a.Image.Pix)/10 {
		t.Fatalf("seeds 42 and 43 share %d of %d values", same, len(a.Image.Pix))
	}
}

func TestNaNStopsWithLastGoodImage(t *testing.T) {
	skipShort(t)
	content, style := load(t, chelsea, 32), load(t, starry, 32)
	defer func() { testPoisonStep = -1 }()
	for _, opt := range []string{"adam", "lbfgs"} {
		t.Run(opt, func(t *testing.T) {
			testPoisonStep = 2
			var seen []StepReport
			res, err := Run(smallConfig(opt, 5), content, []*imageio.Image{style}, weights(), func(r StepReport) error {
				seen = append(seen, r)
				return nil
			})
			var nanErr *NaNError
			if !errors.As(err, &nanErr) {
				t.Fatalf("got error %v, want a *NaNError", err)
			}
			if nanErr.Step != 2 || nanErr.LastGood != 1 || !strings.Contains(err.Error(), "step 2") || !strings.Contains(err.Error(), "NaN") {
				t.Fatalf("error %q (step %d, last good %d), want step 2 and last good 1", err, nanErr.Step, nanErr.LastGood)
			}
			if !strings.Contains(nanErr.Term, "loss") {
				t.Fatalf("term %q should name a loss term", nanErr.Term)
			}
			if res == nil || res.Image == nil || res.Steps != 1 || res.Last.Step != 1 || len(seen) != 2 {
				t.Fatalf("result %+v after %d reports, want the image of step 1", res, len(seen))
			}
			for _, v := range res.Image.Pix {
				if math.IsNaN(float64(v)) || v < 0 || v > 1 {
					t.Fatalf("returned image holds %v", v)
				}
			}
			// The returned image is the step-1 image: its loss is the reported one.
			testPoisonStep = -1
			again, err := Run(smallConfig(opt, 1), content, []*imageio.Image{style}, weights(), nil)
			if err != nil {
				t.Fatal(err)
			}
			for i := range again.Image.Pix {
				if again.Image.Pix[i] != res.Image.Pix[i] {
					t.Fatalf("the returned image is not the step-1 image (value %d: %v vs %v)", i, res.Image.Pix[i], again.Image.Pix[i])
				}
			}
		})
	}
}

func TestOverflowingWeightIsANaNError(t *testing.T) {
	skipShort(t)
	// A style weight of 1e39 is beyond float32's range (3.4e38): in the float32 graph the weighted style term
	// is +Inf at once, so no step has a finite loss.
	content, style := load(t, chelsea, 32), load(t, starry, 32)
	cfg := smallConfig("adam", 2)
	cfg.StyleWeight = new(1e39)
	res, err := Run(cfg, content, []*imageio.Image{style}, weights(), nil)
	var nanErr *NaNError
	if !errors.As(err, &nanErr) || nanErr.Step != 0 || nanErr.LastGood != -1 || !strings.Contains(nanErr.Term, "total") {
		t.Fatalf("got %v, want a NaNError at step 0 on the total", err)
	}
	if res == nil || res.Image == nil || res.Image.W != content.W {
		t.Fatal("the initial image must be returned")
	}
}

func TestOnStepErrorStops(t *testing.T) {
	skipShort(t)
	content, style := load(t, chelsea, 32), load(t, starry, 32)
	stop := errors.New("enough")
	n := 0
	res, err := Run(smallConfig("adam", 10), content, []*imageio.Image{style}, weights(), func(r StepReport) error {
		n++
		if r.Step == 1 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) || n != 2 || res.Steps != 1 {
		t.Fatalf("err %v after %d calls, %d steps; want the onStep error after step 1", err, n, res.Steps)
	}
}

func TestMeasureStyleAgainstItselfIsZero(t *testing.T) {
	style := load(t, starry, 32)
	content := load(t, chelsea, 32)
	sc, err := Measure(style, content, style, weights(), vgg.PoolAvg, losses.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range losses.Names {
		m := sc.Style[n]
		if len(m) != len(DefaultStyleLayers)+1 {
			t.Fatalf("%s: %d entries, want the %d layers and total", n, len(m), len(DefaultStyleLayers))
		}
		for k, v := range m {
			if math.Abs(v) > 1e-6 {
				t.Errorf("%s %s = %g, want 0 for the style image against itself", n, k, v)
			}
		}
	}
	if sc.Content["relu4_2"] <= 0 || sc.Content["total"] != sc.Content["relu4_2"] {
		t.Errorf("content scores %v: the style image must differ from the content", sc.Content)
	}
	// Against the content image every style loss is positive, and the content loss of content is 0.
	sc, err = Measure(content, content, style, weights(), vgg.PoolAvg, losses.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	if sc.Content["total"] != 0 {
		t.Errorf("content loss of the content image = %g, want 0", sc.Content["total"])
	}
	for _, n := range losses.Names {
		if !(sc.Style[n]["total"] > 1e-4) {
			t.Errorf("%s of the content against the style = %g, want > 0", n, sc.Style[n]["total"])
		}
	}
	b, _ := json.Marshal(sc)
	for _, want := range []string{`"content":{"relu4_2":`, `"style":{"gram":{"relu1_1":`, `"mmd-gauss":{`, `"total":`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("JSON %s lacks %s", b, want)
		}
	}
}

func TestMeasureSampledEstimatorIsNearZero(t *testing.T) {
	// With exact kernels capped at 64² entries, mmd-gauss (and mmd-poly with d = 3) use the sampled estimator at
	// relu1_1…relu3_1: positions drawn for F and S differ, so the loss is only ≈ 0, against the clearly positive
	// value between two different images.
	style := load(t, starry, 32)
	o := losses.DefaultOptions()
	o.GaussExactMax = 64 * 64
	self, err := Measure(style, style, style, weights(), vgg.PoolAvg, o)
	if err != nil {
		t.Fatal(err)
	}
	other, err := Measure(load(t, chelsea, 32), style, style, weights(), vgg.PoolAvg, o)
	if err != nil {
		t.Fatal(err)
	}
	s, d := self.Style["mmd-gauss"]["relu1_1"], other.Style["mmd-gauss"]["relu1_1"]
	t.Logf("sampled mmd-gauss relu1_1: self %.3g, other image %.3g", s, d)
	if !(math.Abs(s) < 0.1*d) {
		t.Fatalf("sampled estimator against itself %g is not ≈ 0 next to %g", s, d)
	}
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		edit func(*Config)
		n    int
		want string
	}{
		{func(c *Config) { c.Loss = "gramm" }, 1, `unknown style loss "gramm"`},
		{func(c *Config) { c.Optimizer = "sgd" }, 1, "adam or lbfgs"},
		{func(c *Config) { c.Init = "zeros" }, 1, "content, noise, style"},
		{func(c *Config) { c.Steps = 0 }, 1, "steps must be at least 1"},
		{func(c *Config) { c.Size = 8 }, 1, "size must be between 16 and 4096 (got 8)"},
		{func(c *Config) { c.StyleLayers = []string{"relu9_1"} }, 1, `"relu9_1"`},
		{func(c *Config) { c.StyleBlend = []float64{1} }, 2, "1 style blend weights for 2 style images"},
		{func(c *Config) { c.StyleBlend = []float64{0, 0} }, 2, "all 0"},
		{func(c *Config) { c.TVWeight = new(-1.0) }, 1, "TV weight must be a finite number ≥ 0"},
		{func(c *Config) { c.LearningRate = math.Inf(1) }, 1, "learning rate"},
		{func(c *Config) { c.LayerWeights = map[string]float64{"relu4_2": 1} }, 1, "not a style layer"},
		{func(c *Config) {}, 0, "at least one style image"},
	} {
		c := DefaultConfig()
		tc.edit(&c)
		_, err := c.Resolve(tc.n)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("got %v, want an error containing %q", err, tc.want)
		}
	}
	c, err := DefaultConfig().Resolve(3)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.StyleBlend) != 3 || c.StyleBlend[0] != 1.0/3 {
		t.Fatalf("default blend %v, want 1/3 each", c.StyleBlend)
	}
	c = DefaultConfig()
	c.Loss = "meanvar"
	if c, _ = c.Resolve(1); *c.StyleWeight != DefaultStyleWeight("meanvar") {
		t.Fatalf("style weight %g, want meanvar's default", *c.StyleWeight)
	}
	c = DefaultConfig()
	c.StyleWeight, c.ContentWeight, c.TVWeight = new(0.0), nil, nil
	if c, _ = c.Resolve(1); *c.StyleWeight != 0 || *c.ContentWeight != DefaultContentWeight || *c.TVWeight != DefaultTVWeight {
		t.Fatalf("weights %g %g %g: want 0 kept, unset ones given their defaults", *c.StyleWeight, *c.ContentWeight, *c.TVWeight)
	}
	// Resolving is idempotent, and keeps only the parameter the optimiser uses.
	for _, opt := range Optimizers {
		c = DefaultConfig()
		c.Optimizer = opt
		once, err := c.Resolve(1)
		if err != nil {
			t.Fatal(err)
		}
		twice, err := once.Resolve(1)
		if err != nil || !reflect.DeepEqual(once, twice) {
			t.Fatalf("%s: resolving twice changed the config: %+v → %+v (%v)", opt, once, twice, err)
		}
		if (opt == "lbfgs") != (once.LearningRate == 0) || (opt == "adam") != (once.LBFGSHistory == 0) {
			t.Fatalf("%s: learning rate %g, history %d: want only the optimiser's own parameter", opt, once.LearningRate, once.LBFGSHistory)
		}
	}
}

func TestBlendWeightZeroIgnoresThatStyle(t *testing.T) {
	skipShort(t)
	// Blend weights (1, 0) must give exactly the run with the first style alone.
	content, a, b := load(t, chelsea, 32), load(t, starry, 32), load(t, scream, 32)
	cfg := smallConfig("adam", 2)
	one, err := Run(cfg, content, []*imageio.Image{a}, weights(), nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg.StyleBlend = []float64{1, 0}
	two, err := Run(cfg, content, []*imageio.Image{a, b}, weights(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if one.Last.Total != two.Last.Total {
		t.Fatalf("loss %v with one style, %v with blend (1,0)", one.Last.Total, two.Last.Total)
	}
	cfg.StyleBlend = []float64{0.5, 0.5}
	mix, err := Run(cfg, content, []*imageio.Image{a, b}, weights(), nil)
	if err != nil {
		t.Fatal(err)
	}
	// At step 0 (the content image) the blended style loss is the average of the two single-style losses.
	onlyB, err := Run(smallConfig("adam", 1), content, []*imageio.Image{b}, weights(), nil)
	if err != nil {
		t.Fatal(err)
	}
	want := 0.5*one.First.Style + 0.5*onlyB.First.Style
	if math.Abs(mix.First.Style-want) > 1e-5*want {
		t.Fatalf("blended style loss %g, want the mean %g", mix.First.Style, want)
	}
}

// TestDefaultWeightsBalanceTerms checks the per-loss default style weights with the seeded random VGG-19: from
// the content image, a few Adam steps must lower the style loss, and at the end the weighted style term must
// not be negligible next to the weighted content term (≥ 1/10 of it).
func TestDefaultWeightsBalanceTerms(t *testing.T) {
	skipShort(t)
	content, style := load(t, chelsea, 32), load(t, starry, 32)
	for _, name := range losses.Names {
		cfg := smallConfig("adam", 8)
		cfg.Loss = name
		res, err := Run(cfg, content, []*imageio.Image{style}, weights(), nil)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		c := res.Config
		ws, wc := *c.StyleWeight*res.Last.Style, *c.ContentWeight*res.Last.Content
		t.Logf("%-10s weight %-4g style %.4g → %.4g, weighted style %.3g vs content %.3g", name, *c.StyleWeight, res.First.Style, res.Last.Style, ws, wc)
		if !(res.Last.Style < 0.9*res.First.Style) {
			t.Errorf("%s: style loss %g → %g did not fall by 10%%", name, res.First.Style, res.Last.Style)
		}
		if !(ws >= 0.1*wc) {
			t.Errorf("%s: weighted style term %g is negligible next to the content term %g", name, ws, wc)
		}
	}
}
