package gatys

import (
	"math"
	"testing"

	"github.com/stylelab/stylelab/backends/backend"
	"github.com/stylelab/stylelab/experiments/imageio"
)

// tileTestConfig is a small objective whose deepest layer is relu3_1 (halo 16, alignment 4), so that a 96×64
// image splits into 3×2 tiles of 32 px whose halos do not cover the whole image.
func tileTestConfig(t *testing.T, loss string) Config {
	c := DefaultConfig()
	c.Size = 96
	c.Loss = loss
	c.ContentLayers = []string{"relu3_1"}
	c.StyleLayers = []string{"relu1_1", "relu2_1", "relu3_1"}
	c.Init = "noise"
	c.Seed = 3
	rc, err := c.Resolve(1)
	if err != nil {
		t.Fatal(err)
	}
	return rc
}

// noiseImage is seeded noise blended with content, so the features vary everywhere.
func testImage(t *testing.T, cfg Config, content *imageio.Image) []float32 {
	im, err := initialImage(cfg, content, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := range im.Pix {
		im.Pix[i] = 0.5*im.Pix[i] + 0.5*content.Pix[i]
	}
	return im.Pix
}

// untiledEval returns the terms vector and gradient of the untiled objective at pix (step's sampled positions).
func untiledEval(t *testing.T, cfg Config, content *imageio.Image, styles []*imageio.Image, pix []float32, step int) ([]float32, []float64) {
	return untiledEvalRegions(t, cfg, content, styles, nil, pix, step)
}

func untiledEvalRegions(t *testing.T, cfg Config, content *imageio.Image, styles []*imageio.Image, regions []regionTerm, pix []float32, step int) ([]float32, []float64) {
	b, _, err := backend.New()
	if err != nil {
		t.Fatal(err)
	}
	p, err := newProblem(b, cfg, weights(), content, styles, regions)
	if err != nil {
		t.Fatal(err)
	}
	r := &runner{p: p, cfg: cfg, res: &Result{}}
	e, err := newLBFGSEval(r)
	if err != nil {
		t.Fatal(err)
	}
	defer e.exec.Finalize()
	x := make([]float64, len(pix))
	for i, v := range pix {
		x[i] = float64(v)
	}
	// Build the graph once (creating the sampling slots), then set the step's positions and evaluate.
	if _, _, err := e.eval(x); err != nil {
		t.Fatal(err)
	}
	if err := p.resample(step); err != nil {
		t.Fatal(err)
	}
	e.vecs = nil
	_, g, err := e.eval(x)
	if err != nil || g == nil {
		t.Fatalf("untiled eval: %v (gradient nil: %v)", err, g == nil)
	}
	return e.vecs[0], g
}

func tiledEval(t *testing.T, cfg Config, content *imageio.Image, styles []*imageio.Image, pix []float32, step, tile int) ([]float32, []float32, *tiledProblem) {
	return tiledEvalRegions(t, cfg, content, styles, nil, pix, step, tile)
}

func tiledEvalRegions(t *testing.T, cfg Config, content *imageio.Image, styles []*imageio.Image, regions []regionTerm, pix []float32, step, tile int) ([]float32, []float32, *tiledProblem) {
	b, _, err := backend.New()
	if err != nil {
		t.Fatal(err)
	}
	tp, err := newTiledProblem(b, cfg, weights(), content, styles, regions, tile)
	if err != nil {
		t.Fatal(err)
	}
	defer tp.finalize()
	tp.step = step
	vec, g, err := tp.eval(pix, true)
	if err != nil {
		t.Fatal(err)
	}
	return vec, g, tp
}

// gradRelErr is ‖a − b‖/‖b‖.
func gradRelErr(a []float32, b []float64) float64 {
	var d, n float64
	for i := range b {
		d += (float64(a[i]) - b[i]) * (float64(a[i]) - b[i])
		n += b[i] * b[i]
	}
	return math.Sqrt(d / n)
}

// TestTiledEqualsUntiled is the exactness claim of tile.go: for every style loss (the kernel MMDs in both their
// exact and their sampled forms, the sampled positions drawn globally), the loss terms and the pixel gradient
// computed tile by tile equal the untiled ones to float rounding.
func TestTiledEqualsUntiled(t *testing.T) {
	content := load(t, chelsea, 96)
	style := load(t, starry, 80)
	cases := []struct {
		name string
		loss string
		opt  func(c *Config)
	}{
		{"gram", "gram", nil},
		{"meanvar", "meanvar", nil},
		{"mmd-linear", "mmd-linear", nil},
		{"mmd-poly", "mmd-poly", nil},
		{"mmd-poly-c", "mmd-poly", func(c *Config) { c.LossOptions.PolyC = 0.5 }},
		{"mmd-poly-d3-exact-and-sampled", "mmd-poly", func(c *Config) {
			c.LossOptions.PolyDegree, c.LossOptions.GaussExactMax, c.LossOptions.GaussSamples = 3, 400*400, 64
		}},
		{"mmd-gauss-exact-and-sampled", "mmd-gauss", func(c *Config) { c.LossOptions.GaussExactMax, c.LossOptions.GaussSamples = 400*400, 64 }},
		{"two-styles", "gram", func(c *Config) { c.StyleBlend = []float64{0.3, 0.7} }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := tileTestConfig(t, tc.loss)
			styles := []*imageio.Image{style}
			if tc.opt != nil {
				tc.opt(&cfg)
			}
			if len(cfg.StyleBlend) == 2 {
				styles = append(styles, load(t, scream, 64))
			}
			pix := testImage(t, cfg, content)
			const step = 5
			uv, ug := untiledEval(t, cfg, content, styles, pix, step)
			tv, tg, tp := tiledEval(t, cfg, content, styles, pix, step, 32)
			if len(tp.tiles) != 6 || tp.halo != 16 {
				t.Fatalf("got %d tiles, halo %d; want 6 tiles of 32 px with halo 16", len(tp.tiles), tp.halo)
			}
			for i := range uv {
				if !relClose(float64(tv[i]), float64(uv[i]), 1e-4) {
					t.Errorf("term %d: tiled %.8g, untiled %.8g", i, tv[i], uv[i])
				}
			}
			if e := gradRelErr(tg, ug); e > 1e-4 {
				t.Errorf("gradient: ‖tiled − untiled‖/‖untiled‖ = %.3g, want ≤ 1e-4", e)
			}
			t.Logf("total %.6g vs %.6g, gradient rel err %.2g", tv[0], uv[0], gradRelErr(tg, ug))
		})
	}
}

// TestShortHaloIsNotExact shows the exactness test has teeth: with a halo of 4 px instead of the receptive
// field's 16, the interior features near tile borders are wrong and the gradient differs.
func TestShortHaloIsNotExact(t *testing.T) {
	content, style := load(t, chelsea, 96), load(t, starry, 80)
	cfg := tileTestConfig(t, "gram")
	pix := testImage(t, cfg, content)
	_, ug := untiledEval(t, cfg, content, []*imageio.Image{style}, pix, 0)
	testHalo = 4
	defer func() { testHalo = 0 }()
	_, tg, _ := tiledEval(t, cfg, content, []*imageio.Image{style}, pix, 0, 32)
	if e := gradRelErr(tg, ug); e < 1e-3 {
		t.Fatalf("with a 4 px halo the gradient still matches (rel err %.3g): the exactness test would not catch a short halo", e)
	}
}

// TestTiledRunEqualsUntiled runs short optimisations tiled and untiled (Adam and L-BFGS) and compares the images.
func TestTiledRunEqualsUntiled(t *testing.T) {
	content, style := load(t, chelsea, 96), load(t, starry, 80)
	for _, opt := range []string{"adam", "lbfgs"} {
		t.Run(opt, func(t *testing.T) {
			cfg := tileTestConfig(t, "gram")
			cfg.Optimizer = opt
			cfg.Steps = 3
			cfg, _ = cfg.Resolve(1)
			u, err := Run(cfg, content, []*imageio.Image{style}, weights(), nil)
			if err != nil {
				t.Fatal(err)
			}
			cfg.Tile = "32"
			tl, err := Run(cfg, content, []*imageio.Image{style}, weights(), nil)
			if err != nil {
				t.Fatal(err)
			}
			if tl.Tiling == nil || tl.Tiling.Tile != 32 || tl.Tiling.Halo != 16 || tl.Tiling.Passes != 2 || u.Tiling != nil {
				t.Fatalf("tiling record %+v (untiled %+v)", tl.Tiling, u.Tiling)
			}
			maxd := 0.0
			for i := range u.Image.Pix {
				maxd = math.Max(maxd, math.Abs(float64(u.Image.Pix[i]-tl.Image.Pix[i])))
			}
			if maxd > 1e-3 || !relClose(tl.Last.Total, u.Last.Total, 1e-3) {
				t.Fatalf("after %d steps: max pixel difference %.3g, total %.6g vs %.6g", cfg.Steps, maxd, tl.Last.Total, u.Last.Total)
			}
			t.Logf("%s: max pixel difference %.2g, total %.6g vs %.6g", opt, maxd, tl.Last.Total, u.Last.Total)
		})
	}
}

// TestTileErrors: a tile below the halo names the minimum; a tile off the pooling grid names the valid sizes.
func TestTileErrors(t *testing.T) {
	cfg := mustResolve(t, DefaultConfig())
	net := weights().Net
	if net == "" {
		net = "vgg19"
	}
	err := checkTile(48, cfg, net)
	if err == nil || !contains(err.Error(), "minimum tile") || !contains(err.Error(), "96") {
		t.Fatalf("tile 48 with the default layers: %v; want an error naming the minimum 96", err)
	}
	if err := checkTile(100, cfg, net); err == nil || !contains(err.Error(), "use 96 or 112") {
		t.Fatalf("tile 100: %v", err)
	}
	if err := checkTile(128, cfg, net); err != nil {
		t.Fatal(err)
	}
	if _, err := ParseTile("big"); err == nil {
		t.Fatal("tile \"big\" accepted")
	}
}

func contains(s, sub string) bool {
	return len(sub) == 0 || (len(s) >= len(sub) && indexOf(s, sub) >= 0)
}

func indexOf(s, sub string) int {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return i
		}
	}
	return -1
}

// TestTiledOddSize: an image whose sides are not multiples of the pooling stride or the tile (90×60, tiles of
// 32, windows shifted inward at the border) is still exact.
func TestTiledOddSize(t *testing.T) {
	content, style := load(t, chelsea, 90), load(t, starry, 72)
	for _, loss := range []string{"gram", "meanvar"} {
		cfg := tileTestConfig(t, loss)
		cfg.Size = 90
		pix := testImage(t, cfg, content)
		uv, ug := untiledEval(t, cfg, content, []*imageio.Image{style}, pix, 0)
		tv, tg, _ := tiledEval(t, cfg, content, []*imageio.Image{style}, pix, 0, 32)
		for i := range uv {
			if !relClose(float64(tv[i]), float64(uv[i]), 1e-4) {
				t.Errorf("%s term %d: tiled %.8g, untiled %.8g", loss, i, tv[i], uv[i])
			}
		}
		if e := gradRelErr(tg, ug); e > 1e-4 {
			t.Errorf("%s gradient rel err %.3g", loss, e)
		}
	}
}

func TestPadAxis(t *testing.T) {
	// 100 px, tiles of 32, halo 16, align 16: windows of 64 px, the last ones shifted inward onto the border.
	want := [][2]int{{0, 64}, {16, 80}, {32, 100}, {32, 100}}
	for i, a0 := range []int{0, 32, 64, 96} {
		p0, p1 := padAxis(a0, 100, 32, 16, 16)
		if [2]int{p0, p1} != want[i] {
			t.Errorf("interior at %d: window [%d,%d), want %v", a0, p0, p1, want[i])
		}
		if a0-p0 < 16 && p0 != 0 || min(a0+32, 100)+16 > p1 && p1 != 100 {
			t.Errorf("interior at %d: window [%d,%d) leaves less than the halo", a0, p0, p1)
		}
	}
}

// TestTiledCoarseToFine: a coarse-to-fine run tiled at every scale gives the untiled run's image.
func TestTiledCoarseToFine(t *testing.T) {
	content, style := load(t, chelsea, 96), load(t, starry, 80)
	cfg := tileTestConfig(t, "gram")
	cfg.Scales, cfg.ScaleSteps, cfg.Steps = []int{64, 96}, nil, 4
	cfg, err := cfg.Resolve(1)
	if err != nil {
		t.Fatal(err)
	}
	u, err := Run(cfg, content, []*imageio.Image{style}, weights(), nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Tile = "32"
	var tiles []TileReport
	tl, err := RunGuidedTiles(cfg, content, []*imageio.Image{style}, nil, weights(), nil, func(r TileReport) error {
		tiles = append(tiles, r)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	maxd := 0.0
	for i := range u.Image.Pix {
		maxd = math.Max(maxd, math.Abs(float64(u.Image.Pix[i]-tl.Image.Pix[i])))
	}
	if maxd > 1e-3 || tl.Steps != u.Steps {
		t.Fatalf("coarse to fine: max pixel difference %.3g, steps %d vs %d", maxd, tl.Steps, u.Steps)
	}
	sizes := map[int]bool{}
	for _, r := range tiles {
		sizes[r.Size] = true
	}
	if !sizes[64] || !sizes[96] || tiles[len(tiles)-1].ETA <= 0 {
		t.Fatalf("tile reports cover sizes %v (last %+v)", sizes, tiles[len(tiles)-1])
	}
	t.Logf("max pixel difference %.2g over %d tile reports", maxd, len(tiles))
}

// TestTiledGuidedEqualsUntiled: spatial control (a mask of two regions, the red one with its own style image,
// the boundary off the tile grid) tiled equals untiled for the moment losses' guided forms.
func TestTiledGuidedEqualsUntiled(t *testing.T) {
	content, style, style2 := load(t, chelsea, 96), load(t, starry, 80), load(t, scream, 64)
	mask := splitMask(content.W, content.H, 40)
	for _, loss := range []string{"gram", "meanvar", "mmd-linear"} {
		cfg := tileTestConfig(t, loss)
		cfg.RegionColours = []string{"#ff0000"}
		regions, err := buildRegions(cfg, mask, content.W, content.H, 1)
		if err != nil {
			t.Fatal(err)
		}
		styles := []*imageio.Image{style, style2}
		pix := testImage(t, cfg, content)
		uv, ug := untiledEvalRegions(t, cfg, content, styles, regions, pix, 0)
		tv, tg, _ := tiledEvalRegions(t, cfg, content, styles, regions, pix, 0, 32)
		for i := range uv {
			if !relClose(float64(tv[i]), float64(uv[i]), 1e-4) {
				t.Errorf("%s term %d: tiled %.8g, untiled %.8g", loss, i, tv[i], uv[i])
			}
		}
		if e := gradRelErr(tg, ug); e > 1e-4 {
			t.Errorf("%s gradient rel err %.3g", loss, e)
		}
		t.Logf("%s guided: total %.6g vs %.6g, gradient rel err %.2g", loss, tv[0], uv[0], gradRelErr(tg, ug))
	}
	cfg := tileTestConfig(t, "mmd-gauss")
	regions, _ := buildRegions(cfg, mask, content.W, content.H, 1)
	b, _, _ := backend.New()
	if _, err := newTiledProblem(b, cfg, weights(), content, []*imageio.Image{style}, regions, 32); err == nil || !contains(err.Error(), "not tiled") {
		t.Errorf("guided mmd-gauss tiled: %v, want a refusal", err)
	}
}
