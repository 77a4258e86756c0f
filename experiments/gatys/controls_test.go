package gatys

import (
	"math"
	"strings"
	"testing"

	"github.com/stylelab/stylelab/experiments/colour"
	"github.com/stylelab/stylelab/experiments/imageio"
	"github.com/stylelab/stylelab/experiments/losses"
)

// flatMask returns a w×h mask of one colour.
func flatMask(w, h int, r, g, b float32) *imageio.Image {
	m := imageio.New(w, h)
	for p := 0; p < w*h; p++ {
		m.Pix[3*p], m.Pix[3*p+1], m.Pix[3*p+2] = r, g, b
	}
	return m
}

// splitMask returns a w×h mask, the left `left` columns red, the rest blue.
func splitMask(w, h, left int) *imageio.Image {
	m := flatMask(w, h, 0, 0, 1)
	for y := 0; y < h; y++ {
		for x := 0; x < left; x++ {
			m.Pix[3*(y*w+x)], m.Pix[3*(y*w+x)+2] = 1, 0
		}
	}
	return m
}

func relClose(a, b, tol float64) bool { return math.Abs(a-b) <= tol*math.Max(math.Abs(b), 1e-12) }

// A mask of one colour (a region covering everything) gives the unmasked loss, for every style loss, in the
// exact and the sampled forms; the mask may be any size of the content's aspect ratio.
func TestFullMaskEqualsNoMask(t *testing.T) {
	content, style := load(t, chelsea, 32), load(t, starry, 32)
	mask := flatMask(content.W*3, content.H*3, 0.2, 0.4, 0.6) // another size, same aspect
	for _, exactMax := range []int{0, 100} {
		for _, name := range losses.Names {
			cfg := smallConfig("adam", 1)
			cfg.Loss = name
			cfg.LossOptions.GaussExactMax, cfg.LossOptions.GaussSamples = exactMax, 64
			plain, err := Run(cfg, content, []*imageio.Image{style}, weights(), nil)
			if err != nil {
				t.Fatal(err)
			}
			for _, mode := range MaskModes {
				c := cfg
				c.MaskMode = mode
				masked, err := RunGuided(c, content, []*imageio.Image{style}, &Guide{Mask: mask}, weights(), nil)
				if err != nil {
					t.Fatalf("%s %s: %v", name, mode, err)
				}
				for _, l := range cfg.StyleLayers {
					if a, b := masked.First.StyleByLayer[l], plain.First.StyleByLayer[l]; !relClose(a, b, 1e-4) {
						t.Errorf("%s (exact max %d) %s %s: masked %.7g, unmasked %.7g", name, exactMax, mode, l, a, b)
					}
				}
				if !relClose(masked.Last.Style, plain.Last.Style, 1e-3) {
					t.Errorf("%s %s after a step: masked %.7g, unmasked %.7g", name, mode, masked.Last.Style, plain.Last.Style)
				}
			}
		}
	}
}

func TestRegionErrors(t *testing.T) {
	content, style := load(t, chelsea, 32), load(t, starry, 32)
	styles := []*imageio.Image{style}
	cfg := smallConfig("adam", 1)
	// A colour absent from the mask.
	c := cfg
	c.RegionColours = []string{"#00ff00"}
	_, err := RunGuided(c, content, styles, &Guide{Mask: splitMask(content.W, content.H, 10), RegionStyles: styles}, weights(), nil)
	if err == nil || !strings.Contains(err.Error(), "#00ff00 is not in the mask") || !strings.Contains(err.Error(), "#0000ff, #ff0000") {
		t.Errorf("absent colour: %v", err)
	}
	// A region empty at a layer: 4 px wide, eroded away by relu2_1 in inside mode.
	c = cfg
	c.MaskMode = "inside"
	_, err = RunGuided(c, content, styles, &Guide{Mask: splitMask(content.W, content.H, 4)}, weights(), nil)
	if err == nil || !strings.Contains(err.Error(), "is empty at relu") || !strings.Contains(err.Error(), "mask mode inside") {
		t.Errorf("empty region: %v", err)
	}
	// Another aspect ratio.
	_, err = RunGuided(cfg, content, styles, &Guide{Mask: flatMask(50, 50, 1, 0, 0)}, weights(), nil)
	if err == nil || !strings.Contains(err.Error(), "aspect") {
		t.Errorf("another aspect ratio: %v", err)
	}
	// Region styles without a mask.
	c = cfg
	c.RegionColours = []string{"#ff0000"}
	if _, err = RunGuided(c, content, styles, &Guide{RegionStyles: styles}, weights(), nil); err == nil || !strings.Contains(err.Error(), "need a mask") {
		t.Errorf("region styles without mask: %v", err)
	}
}

// A style per region changes the loss, and the region pairing is used (the pairing's image, not --style).
func TestRegionStyle(t *testing.T) {
	skipShort(t)
	content, starryIm, screamIm := load(t, chelsea, 32), load(t, starry, 32), load(t, scream, 32)
	mask := splitMask(content.W, content.H, content.W/2)
	cfg := smallConfig("adam", 1)
	cfg.RegionColours = []string{"#ff0000"}
	paired, err := RunGuided(cfg, content, []*imageio.Image{starryIm}, &Guide{Mask: mask, RegionStyles: []*imageio.Image{screamIm}}, weights(), nil)
	if err != nil {
		t.Fatal(err)
	}
	c := cfg
	c.RegionColours = nil
	unpaired, err := RunGuided(c, content, []*imageio.Image{starryIm}, &Guide{Mask: mask}, weights(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if relClose(paired.First.Style, unpaired.First.Style, 1e-3) {
		t.Errorf("pairing the red region with another style did not change the style loss (%g)", paired.First.Style)
	}
}

// Luminance-only transfer keeps the content's chroma; histogram matching runs and differs from none.
func TestColourControls(t *testing.T) {
	skipShort(t)
	content, style := load(t, chelsea, 32), load(t, starry, 32)
	cfg := smallConfig("adam", 5)
	cfg.Color = "luminance"
	res, err := Run(cfg, content, []*imageio.Image{style}, weights(), nil)
	if err != nil {
		t.Fatal(err)
	}
	_, ic, qc := colour.ToYIQ(content)
	_, io, qo := colour.ToYIQ(res.Image)
	yc, _, _ := colour.ToYIQ(content)
	yo, _, _ := colour.ToYIQ(res.Image)
	worst, moved := 0.0, 0.0
	for p := range ic {
		worst = max(worst, math.Abs(io[p]-ic[p]), math.Abs(qo[p]-qc[p]))
		moved = max(moved, math.Abs(yo[p]-yc[p]))
	}
	if worst > 1e-5 {
		t.Errorf("luminance transfer changed the chroma by %g", worst)
	}
	if moved < 1e-3 {
		t.Errorf("luminance transfer did not change the luminance (max change %g)", moved)
	}
	for _, v := range []string{"cholesky", "sym"} {
		c := smallConfig("adam", 1)
		c.Color, c.Histogram = "histogram", v
		h, err := Run(c, content, []*imageio.Image{style}, weights(), nil)
		if err != nil {
			t.Fatal(err)
		}
		plain, _ := Run(smallConfig("adam", 1), content, []*imageio.Image{style}, weights(), nil)
		if relClose(h.First.Style, plain.First.Style, 1e-3) {
			t.Errorf("histogram %s did not change the style loss", v)
		}
	}
}

// Coarse to fine gives the final size, and at the same total step budget its final style loss is at most the
// single-scale run's.
func TestCoarseToFine(t *testing.T) {
	skipShort(t)
	content, style := load(t, chelsea, 48), load(t, starry, 48)
	cfg := smallConfig("adam", 40)
	cfg.Size, cfg.Init, cfg.LearningRate = 48, "noise", 0.02
	single, err := Run(cfg, content, []*imageio.Image{style}, weights(), nil)
	if err != nil {
		t.Fatal(err)
	}
	c := cfg
	c.Scales = []int{24, 48}
	var steps []int
	multi, err := Run(c, content, []*imageio.Image{style}, weights(), func(r StepReport) error { steps = append(steps, r.Step); return nil })
	if err != nil {
		t.Fatal(err)
	}
	if multi.Image.W != single.Image.W || multi.Image.H != single.Image.H {
		t.Fatalf("coarse to fine made %d×%d, want %d×%d", multi.Image.W, multi.Image.H, single.Image.W, single.Image.H)
	}
	if len(steps) != 41 || steps[40] != 40 || multi.Steps != 40 || !slicesEqualInts(multi.Config.ScaleSteps, []int{20, 20}) {
		t.Errorf("steps reported %v, result steps %d, scale steps %v", steps, multi.Steps, multi.Config.ScaleSteps)
	}
	t.Logf("final style loss: coarse to fine %.5g, single scale %.5g", multi.Last.Style, single.Last.Style)
	if multi.Last.Style > single.Last.Style {
		t.Errorf("coarse to fine ended at style loss %.5g, above the single-scale run's %.5g", multi.Last.Style, single.Last.Style)
	}
}

func slicesEqualInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestStyleScaleAndValidation(t *testing.T) {
	content, style := load(t, chelsea, 32), load(t, starry, 64)
	cfg := smallConfig("adam", 1)
	_, ws, _, err := prepareInputs(mustResolve(t, cfg), content, []*imageio.Image{style})
	if err != nil || max(ws[0].W, ws[0].H) != 32 {
		t.Fatalf("style at scale 1: %v %d", err, max(ws[0].W, ws[0].H))
	}
	cfg.StyleScale = 1.5
	_, ws, _, err = prepareInputs(mustResolve(t, cfg), content, []*imageio.Image{style})
	if err != nil || max(ws[0].W, ws[0].H) != 48 {
		t.Fatalf("style at scale 1.5: %v %d", err, max(ws[0].W, ws[0].H))
	}
	for _, bad := range []func(*Config){
		func(c *Config) { c.Color = "sepia" },
		func(c *Config) { c.Histogram = "sym" },
		func(c *Config) { c.MaskMode = "outside" },
		func(c *Config) { c.Scales = []int{64, 32} },
		func(c *Config) { c.Scales = []int{16, 32}; c.ScaleSteps = []int{1} },
		func(c *Config) { c.RegionColours = []string{"red"} },
		func(c *Config) { c.StyleScale = -1 },
	} {
		c := smallConfig("adam", 10)
		bad(&c)
		if _, err := c.Resolve(1); err == nil {
			t.Errorf("config %+v accepted", c)
		}
	}
	// Resolving twice changes nothing; defaults are left out of the JSON.
	c := smallConfig("adam", 10)
	c.Scales, c.Color, c.StyleScale = []int{16, 32}, "histogram", 1
	r1 := mustResolve(t, c)
	r2 := mustResolve(t, r1)
	if r1.Histogram != "cholesky" || r1.StyleScale != 0 || !slicesEqualInts(r1.ScaleSteps, []int{5, 5}) || r2.Steps != 10 || !slicesEqualInts(r2.ScaleSteps, r1.ScaleSteps) {
		t.Errorf("resolved %+v then %+v", r1, r2)
	}
}

func mustResolve(t *testing.T, c Config) Config {
	t.Helper()
	r, err := c.Resolve(1)
	if err != nil {
		t.Fatal(err)
	}
	return r
}
