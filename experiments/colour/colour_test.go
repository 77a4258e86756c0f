package colour

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stylelab/stylelab/experiments/imageio"
)

// randomImage returns an image whose pixels are mu + M·(u − ½), u uniform in [0,1)³: correlated channels.
func randomImage(seed uint64, w, h int, mu [3]float64, m [3][3]float64) *imageio.Image {
	r := rand.New(rand.NewPCG(seed, 1))
	im := imageio.New(w, h)
	for p := 0; p < w*h; p++ {
		u := [3]float64{r.Float64() - .5, r.Float64() - .5, r.Float64() - .5}
		for k := 0; k < 3; k++ {
			v := mu[k]
			for j := 0; j < 3; j++ {
				v += m[k][j] * u[j]
			}
			im.Pix[3*p+k] = float32(v)
		}
	}
	return im
}

func TestHistogramMatchGivesContentMoments(t *testing.T) {
	for seed := uint64(1); seed <= 3; seed++ {
		style := randomImage(seed, 40, 30, [3]float64{.5, .5, .5}, [3][3]float64{{.9, .05, 0}, {.1, .8, .05}, {0, .1, .9}})
		content := randomImage(seed+10, 33, 27, [3]float64{.45, .5, .55}, [3][3]float64{{.2, .1, 0}, {.05, .25, .05}, {0, .1, .3}})
		muC, covC := Moments(content)
		for _, variant := range Histograms {
			out, err := HistogramMatch(style, content, variant)
			if err != nil {
				t.Fatal(err)
			}
			a, _, _ := Affine(style, content, variant)
			clipped := 0
			for _, v := range out.Pix {
				if v <= 0 || v >= 1 {
					clipped++
				}
			}
			if clipped > 0 {
				t.Fatalf("%s: %d values clipped: the test images must stay inside [0,1] (A=%v)", variant, clipped, a)
			}
			mu, cov := Moments(out)
			for i := 0; i < 3; i++ {
				if math.Abs(mu[i]-muC[i]) > 1e-4 {
					t.Errorf("seed %d %s: mean[%d] = %.6f, content's %.6f", seed, variant, i, mu[i], muC[i])
				}
				for j := 0; j < 3; j++ {
					if math.Abs(cov[i][j]-covC[i][j]) > 1e-4 {
						t.Errorf("seed %d %s: cov[%d][%d] = %.6f, content's %.6f", seed, variant, i, j, cov[i][j], covC[i][j])
					}
				}
			}
		}
	}
	// The two variants are different maps (the test must be able to tell them apart).
	style := randomImage(5, 20, 20, [3]float64{.5, .5, .5}, [3][3]float64{{.9, .3, 0}, {.1, .8, .05}, {0, .1, .9}})
	content := randomImage(6, 20, 20, [3]float64{.4, .5, .6}, [3][3]float64{{.2, 0, .1}, {.05, .25, .05}, {0, .1, .3}})
	a1, _, _ := Affine(style, content, "cholesky")
	a2, _, _ := Affine(style, content, "sym")
	if a1 == a2 {
		t.Error("cholesky and sym gave the same matrix on non-diagonal covariances")
	}
	if _, _, err := Affine(style, content, "bogus"); err == nil {
		t.Error("unknown variant accepted")
	}
}

func TestLuminanceKeepsContentChroma(t *testing.T) {
	content := randomImage(1, 32, 24, [3]float64{.5, .4, .6}, [3][3]float64{{.6, .2, 0}, {.1, .5, .1}, {0, .2, .7}})
	style := randomImage(2, 20, 20, [3]float64{.3, .6, .5}, [3][3]float64{{.9, .05, 0}, {.1, .8, .05}, {0, .1, .9}})
	gc, gs := Luminance(content, style)
	yc, _, _ := ToYIQ(content)
	for p := range yc {
		if gc.Pix[3*p] != gc.Pix[3*p+1] || gc.Pix[3*p] != gc.Pix[3*p+2] || math.Abs(float64(gc.Pix[3*p])-yc[p]) > 1e-6 {
			t.Fatalf("grey content pixel %d = %v, want Y %v in every channel", p, gc.Pix[3*p:3*p+3], yc[p])
		}
	}
	ysm, _, _ := ToYIQ(gs)
	mc, sc := meanStd(yc)
	ms, ss := meanStd(ysm)
	if math.Abs(mc-ms) > 2e-3 || math.Abs(sc-ss) > 2e-3 {
		t.Errorf("matched style luminance mean/std %.4f/%.4f, content's %.4f/%.4f", ms, ss, mc, sc)
	}
	// A "stylised" luminance: anything, e.g. noise. The recombined image, saved at 8 bits, has the content's I and Q.
	result := randomImage(3, 32, 24, [3]float64{.5, .5, .5}, [3][3]float64{{1, 0, 0}, {0, 1, 0}, {0, 0, 1}})
	out, err := Recombine(result, content)
	if err != nil {
		t.Fatal(err)
	}
	q8 := imageio.New(out.W, out.H)
	for i, v := range out.Pix {
		q8.Pix[i] = float32(math.Round(float64(v)*255) / 255)
	}
	_, ic, qc := ToYIQ(content)
	_, io, qo := ToYIQ(q8)
	// 8-bit rounding moves each channel by ≤ 0.5/255; I and Q move by ≤ 0.5/255 · Σ|row| ≤ 0.6/255.
	tol := 0.5 / 255 * 1.2
	worst := 0.0
	for p := range ic {
		worst = max(worst, math.Abs(io[p]-ic[p]), math.Abs(qo[p]-qc[p]))
	}
	if worst > tol {
		t.Errorf("chroma differs from the content's by %.5f (8-bit rounding allows %.5f)", worst, tol)
	}
	// And the luminance is the result's wherever it fits the gamut: it is not simply the content.
	yr, _, _ := ToYIQ(result)
	yo, _, _ := ToYIQ(out)
	same := 0
	for p := range yr {
		if math.Abs(yo[p]-yr[p]) < 1e-5 {
			same++
		}
	}
	if same < len(yr)/2 {
		t.Errorf("only %d of %d pixels kept the result's luminance", same, len(yr))
	}
	if _, err := Recombine(result, style); err == nil {
		t.Error("sizes that differ were accepted")
	}
}

func TestInverses(t *testing.T) {
	m := [3][3]float64{{2, .3, .1}, {.3, 1, .2}, {.1, .2, .5}}
	check := func(name string, got [3][3]float64, want [3][3]float64) {
		for i := 0; i < 3; i++ {
			for j := 0; j < 3; j++ {
				if math.Abs(got[i][j]-want[i][j]) > 1e-12 {
					t.Fatalf("%s: got %v, want %v", name, got, want)
				}
			}
		}
	}
	id := [3][3]float64{{1, 0, 0}, {0, 1, 0}, {0, 0, 1}}
	check("m·m⁻¹", mul3(m, inv3(m)), id)
	h := symPow(m, .5)
	check("√m·√m", mul3(h, h), m)
	check("m^½·m^-½", mul3(h, symPow(m, -.5)), id)
	l, _ := chol3(m)
	lt := [3][3]float64{}
	for i := 0; i < 3; i++ {
		for j := 0; j < 3; j++ {
			lt[i][j] = l[j][i]
		}
	}
	check("L·Lᵀ", mul3(l, lt), m)
	check("yiq·rgb", mul3(yiq, rgb), id)
}
