package study

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/stylelab/stylelab/experiments/imageio"
)

func randomPoints(r *rand.Rand, n, dim int, shift float64) []float64 {
	x := make([]float64, n*dim)
	for i := range x {
		x[i] = r.NormFloat64() + shift
	}
	return x
}

func TestWasserstein1DUnequalSizesIsReplication(t *testing.T) {
	// The empirical distribution of n values equals that of each value repeated m times, so W_p between samples
	// of sizes n and m must equal the equal-size (n·m) formula (1/nm) Σ |a_(i) − b_(i)|^p on the replicated sets.
	r := rand.New(rand.NewPCG(3, 4))
	a, b := randomPoints(r, 7, 1, 0), randomPoints(r, 5, 1, 0.3)
	var ra, rb []float64
	for _, v := range a {
		for range len(b) {
			ra = append(ra, v)
		}
	}
	for _, v := range b {
		for range len(a) {
			rb = append(rb, v)
		}
	}
	for _, p := range []float64{1, 2, 3} {
		got, _ := Wasserstein1D(a, b, p)
		want, _ := Wasserstein1D(ra, rb, p)
		if math.Abs(got-want) > 1e-12*want {
			t.Errorf("p=%g: %v, replicated %v", p, got, want)
		}
	}
	if d, _ := Wasserstein1D([]float64{0}, []float64{3}, 2); d != 9 {
		t.Errorf("W2² of two points 3 apart = %v, want 9", d)
	}
	if _, err := Wasserstein1D(nil, a, 1); err == nil {
		t.Error("empty sample accepted")
	}
}

func TestSlicedWasserstein(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	dim := 4
	x := randomPoints(r, 50, dim, 0)
	dirs := Directions(dim, 32, 9)
	for k := 0; k < 32; k++ {
		n := 0.0
		for _, v := range dirs[k*dim : (k+1)*dim] {
			n += v * v
		}
		if math.Abs(n-1) > 1e-12 {
			t.Fatalf("direction %d has norm² %v", k, n)
		}
	}
	if d2 := Directions(dim, 32, 9); d2[17] != dirs[17] {
		t.Error("Directions is not deterministic")
	}
	if d, _ := SlicedWasserstein(x, x, dim, dirs); d != 0 {
		t.Errorf("SW(x, x) = %v", d)
	}
	// Reordering the points changes nothing.
	y := append([]float64(nil), x...)
	for i := 0; i < 50; i++ {
		j := r.IntN(50)
		for c := range dim {
			y[i*dim+c], y[j*dim+c] = y[j*dim+c], y[i*dim+c]
		}
	}
	if d, _ := SlicedWasserstein(x, y, dim, dirs); d != 0 {
		t.Errorf("SW of a permutation = %v", d)
	}
	// A translation t moves every projection by ⟨t, θ⟩: SW² = mean ⟨t, θ_k⟩².
	tr := []float64{0.5, -1, 2, 0.25}
	want := 0.0
	for i := range y {
		y[i] = x[i] + tr[i%dim]
	}
	for k := 0; k < 32; k++ {
		s := 0.0
		for c := range dim {
			s += tr[c] * dirs[k*dim+c]
		}
		want += s * s / 32
	}
	if d, _ := SlicedWasserstein(x, y, dim, dirs); math.Abs(d-math.Sqrt(want)) > 1e-12 {
		t.Errorf("SW of a translation = %v, want %v", d, math.Sqrt(want))
	}
	// Different sizes are allowed: a cloud against itself doubled is 0.
	if d, _ := SlicedWasserstein(x, append(append([]float64(nil), x...), x...), dim, dirs); d > 1e-12 {
		t.Errorf("SW(x, x∪x) = %v", d)
	}
	if _, err := SlicedWasserstein(x[:5], x, dim, dirs); err == nil || !strings.Contains(err.Error(), "dimension 4") {
		t.Errorf("ragged points: %v", err)
	}
}

func TestSSIMProperties(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	w, h := 20, 16
	x := make([]float64, w*h)
	for i := range x {
		x[i] = r.Float64()
	}
	if s, _ := SSIM(x, x, w, h, 1); math.Abs(s-1) > 1e-12 {
		t.Errorf("SSIM(x, x) = %v", s)
	}
	y := make([]float64, len(x))
	for i := range y {
		y[i] = 1 - x[i]
	}
	if s, _ := SSIM(x, y, w, h, 1); s >= 0 {
		t.Errorf("SSIM of the negative image = %v, want < 0 (anti-correlated structure)", s)
	}
	for _, bad := range []struct {
		w, h int
		want string
	}{{10, 32, "at least 11×11"}, {21, 16, "values"}} {
		if _, err := SSIM(x, x, bad.w, bad.h, 1); err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("SSIM %d×%d: %v, want %q", bad.w, bad.h, err, bad.want)
		}
	}
	im := &imageio.Image{W: w, H: h, Pix: make([]float32, 3*w*h)}
	for i := range im.Pix {
		im.Pix[i] = float32(r.Float64())
	}
	if s, _ := LuminanceSSIM(im, im); math.Abs(s-1) > 1e-12 {
		t.Errorf("LuminanceSSIM(im, im) = %v", s)
	}
	if _, err := LuminanceSSIM(im, &imageio.Image{W: 3, H: 3, Pix: make([]float32, 27)}); err == nil || !strings.Contains(err.Error(), "resize") {
		t.Errorf("size mismatch: %v", err)
	}
}
