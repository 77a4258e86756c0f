package study

import (
	"fmt"
	"math"

	"github.com/stylelab/stylelab/experiments/colour"
	"github.com/stylelab/stylelab/experiments/imageio"
)

// SSIM constants (Wang, Bovik, Sheikh & Simoncelli 2004): a Gaussian window of standard deviation SSIMSigma
// truncated at SSIMTruncate·σ (radius ⌊3.5·1.5 + 0.5⌋ = 5, an 11×11 window), K1 and K2.
const (
	SSIMSigma    = 1.5
	SSIMTruncate = 3.5
	SSIMK1       = 0.01
	SSIMK2       = 0.03
)

// ssimRadius is the Gaussian window's radius, int(truncate·σ + 0.5) as scipy.ndimage computes it.
var ssimRadius = int(math.Floor(SSIMTruncate*SSIMSigma + 0.5))

// SSIM is the mean structural similarity of two grey images x and y (row-major, w×h, values of dynamic range
// dataRange, 1 for [0,1]):
//
//	μ_x = G∗x, σ_x² = G∗x² − μ_x², σ_xy = G∗(xy) − μ_x μ_y   (G the normalised 11×11 Gaussian, σ = 1.5)
//	S = (2μ_xμ_y + C1)(2σ_xy + C2) / ((μ_x² + μ_y² + C1)(σ_x² + σ_y² + C2)),  C1 = (K1·L)², C2 = (K2·L)²
//
// averaged over the positions at least the window radius (5) from every border, where the window lies inside
// the image. This is skimage.metrics.structural_similarity(x, y, data_range=L, gaussian_weights=True,
// sigma=1.5, use_sample_covariance=False) (population covariances, as in the paper); its reflect padding only
// touches the border it crops. Both sides must be at least 11 pixels.
func SSIM(x, y []float64, w, h int, dataRange float64) (float64, error) {
	win := 2*ssimRadius + 1
	switch {
	case len(x) != w*h || len(y) != w*h:
		return 0, fmt.Errorf("study: SSIM needs two %d×%d images (%d values), got %d and %d values", w, h, w*h, len(x), len(y))
	case w < win || h < win:
		return 0, fmt.Errorf("study: SSIM needs images of at least %d×%d pixels (its Gaussian window), got %d×%d", win, win, w, h)
	case !(dataRange > 0):
		return 0, fmt.Errorf("study: SSIM data range must be positive (got %g); it is 1 for images in [0,1]", dataRange)
	}
	k := gaussianKernel(SSIMSigma, ssimRadius)
	xx, yy, xy := make([]float64, w*h), make([]float64, w*h), make([]float64, w*h)
	for i := range x {
		xx[i], yy[i], xy[i] = x[i]*x[i], y[i]*y[i], x[i]*y[i]
	}
	ux, uy := blur(x, w, h, k), blur(y, w, h, k)
	uxx, uyy, uxy := blur(xx, w, h, k), blur(yy, w, h, k), blur(xy, w, h, k)
	c1, c2 := (SSIMK1*dataRange)*(SSIMK1*dataRange), (SSIMK2*dataRange)*(SSIMK2*dataRange)
	r := ssimRadius
	sum, n := 0.0, 0
	for i := r; i < h-r; i++ {
		for j := r; j < w-r; j++ {
			p := i*w + j
			mx, my := ux[p], uy[p]
			vx, vy, vxy := uxx[p]-mx*mx, uyy[p]-my*my, uxy[p]-mx*my
			sum += ((2*mx*my + c1) * (2*vxy + c2)) / ((mx*mx + my*my + c1) * (vx + vy + c2))
			n++
		}
	}
	return sum / float64(n), nil
}

// LuminanceSSIM is SSIM of the luminances Y = 0.299R + 0.587G + 0.114B (colour.ToYIQ) of two RGB images in [0,1]
// of the same size, with dynamic range 1.
func LuminanceSSIM(a, b *imageio.Image) (float64, error) {
	if a.W != b.W || a.H != b.H {
		return 0, fmt.Errorf("study: SSIM of a %d×%d and a %d×%d image: resize one to the other's size first", a.W, a.H, b.W, b.H)
	}
	ya, _, _ := colour.ToYIQ(a)
	yb, _, _ := colour.ToYIQ(b)
	return SSIM(ya, yb, a.W, a.H, 1)
}

// gaussianKernel is scipy.ndimage's 1-D Gaussian: exp(−x²/(2σ²)) for x = −r … r, normalised to sum 1.
func gaussianKernel(sigma float64, r int) []float64 {
	k := make([]float64, 2*r+1)
	s := 0.0
	for i := range k {
		x := float64(i - r)
		k[i] = math.Exp(-0.5 * x * x / (sigma * sigma))
		s += k[i]
	}
	for i := range k {
		k[i] /= s
	}
	return k
}

// blur filters a w×h image with the separable kernel k along rows then columns, reflecting at the borders as
// scipy.ndimage's mode "reflect" does (… c b a | a b c …).
func blur(x []float64, w, h int, k []float64) []float64 {
	r := len(k) / 2
	tmp := make([]float64, w*h)
	for i := range h {
		for j := range w {
			s := 0.0
			for t, kv := range k {
				s += kv * x[i*w+reflect(j+t-r, w)]
			}
			tmp[i*w+j] = s
		}
	}
	out := make([]float64, w*h)
	for i := range h {
		for j := range w {
			s := 0.0
			for t, kv := range k {
				s += kv * tmp[reflect(i+t-r, h)*w+j]
			}
			out[i*w+j] = s
		}
	}
	return out
}

// reflect maps an index outside [0,n) back inside by half-sample symmetric reflection.
func reflect(i, n int) int {
	for i < 0 || i >= n {
		if i < 0 {
			i = -i - 1
		}
		if i >= n {
			i = 2*n - i - 1
		}
	}
	return i
}
