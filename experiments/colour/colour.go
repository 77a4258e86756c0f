// Package colour holds the colour controls of Gatys et al. (CVPR 2017) for neural style transfer, as host-side
// image transforms (images in, images out; no graphs):
//
//   - luminance-only transfer (Luminance, Recombine): the transfer runs on the luminance
//     Y = 0.299R + 0.587G + 0.114B alone, with the style's luminance matched to the content's mean and standard
//     deviation, Y'_S = (Y_S − μ_S)·σ_C/σ_S + μ_C; the result's Y is then recombined with the content's chroma
//     (I, Q of YIQ), so the output keeps the content's colours exactly.
//   - colour histogram matching (HistogramMatch): an affine map of the style image's RGB to the content's mean
//     and covariance, x' = A(x − μ_S) + μ_C with A Σ_S Aᵀ = Σ_C, A from Cholesky factors (A = L_C L_S⁻¹) or from
//     symmetric square roots (A = Σ_C^½ Σ_S^-½); the result is clipped to [0,1].
//
// YIQ is the NTSC transform: Y as above, I = 0.595716R − 0.274453G − 0.321263B,
// Q = 0.211456R − 0.522591G + 0.311135B; its inverse is computed from that matrix (so RGB → YIQ → RGB is exact
// to float rounding). Statistics are over all pixels, in float64, population (1/n) moments.
package colour

import (
	"fmt"
	"math"
	"strings"

	"github.com/stylelab/stylelab/experiments/imageio"
)

// Modes of colour control, and the histogram-matching variants.
var (
	Modes      = []string{"none", "luminance", "histogram"}
	Histograms = []string{"cholesky", "sym"}
)

// yiq is the RGB → YIQ matrix (rows Y, I, Q); rgb its inverse.
var yiq = [3][3]float64{
	{0.299, 0.587, 0.114},
	{0.595716, -0.274453, -0.321263},
	{0.211456, -0.522591, 0.311135},
}

var rgb = inv3(yiq)

// Eps is added to the diagonal of both covariances in HistogramMatch, so a flat (e.g. grey) image's singular
// covariance still has a square root; it moves the matched covariance by at most about Eps.
const Eps = 1e-8

// ToYIQ returns the Y, I and Q planes of im (row-major, W·H each).
func ToYIQ(im *imageio.Image) (y, i, q []float64) {
	n := im.W * im.H
	y, i, q = make([]float64, n), make([]float64, n), make([]float64, n)
	for p := 0; p < n; p++ {
		r, g, b := float64(im.Pix[3*p]), float64(im.Pix[3*p+1]), float64(im.Pix[3*p+2])
		y[p] = yiq[0][0]*r + yiq[0][1]*g + yiq[0][2]*b
		i[p] = yiq[1][0]*r + yiq[1][1]*g + yiq[1][2]*b
		q[p] = yiq[2][0]*r + yiq[2][1]*g + yiq[2][2]*b
	}
	return y, i, q
}

// Luminance returns the luminance-only inputs of a luminance transfer: the content as a grey image (R = G = B =
// Y_C) and the style as a grey image of its luminance matched to the content's, Y'_S = (Y_S − μ_S)·σ_C/σ_S + μ_C
// (a flat style, σ_S = 0, becomes μ_C), clipped to [0,1]. A grey image's luminance is its value, so the transfer
// between the two runs on Y alone.
func Luminance(content, style *imageio.Image) (greyContent, greyStyle *imageio.Image) {
	yc, _, _ := ToYIQ(content)
	ys, _, _ := ToYIQ(style)
	mc, sc := meanStd(yc)
	ms, ss := meanStd(ys)
	scale := 0.0
	if ss > 0 {
		scale = sc / ss
	}
	for p := range ys {
		ys[p] = (ys[p]-ms)*scale + mc
	}
	return grey(content.W, content.H, yc), grey(style.W, style.H, ys)
}

// Recombine returns an image with the luminance of result and the chroma (I, Q) of content, which must have the
// same size. Each pixel's Y is clamped to the interval in which Y with the content's I, Q stays inside the RGB cube
// [0,1]³ (never empty: the content's own Y lies in it), so the output's chroma equals the content's exactly (up
// to float32 storage) with no clipping of channels.
func Recombine(result, content *imageio.Image) (*imageio.Image, error) {
	if result.W != content.W || result.H != content.H {
		return nil, fmt.Errorf("colour.Recombine: result %d×%d and content %d×%d differ in size", result.W, result.H, content.W, content.H)
	}
	yr, _, _ := ToYIQ(result)
	_, ic, qc := ToYIQ(content)
	out := imageio.New(content.W, content.H)
	for p := range yr {
		// RGB = Y·(1,1,1) + c, with c the chroma's contribution; channel k is in [0,1] iff Y ∈ [−c_k, 1 − c_k].
		// (rgb's first column is (1,1,1) up to rounding, so Y adds equally to every channel.)
		var c [3]float64
		lo, hi := math.Inf(-1), math.Inf(1)
		for k := 0; k < 3; k++ {
			c[k] = rgb[k][1]*ic[p] + rgb[k][2]*qc[p]
			lo = max(lo, -c[k]/rgb[k][0])
			hi = min(hi, (1-c[k])/rgb[k][0])
		}
		y := yr[p]
		if lo <= hi {
			y = min(max(y, lo), hi)
		}
		for k := 0; k < 3; k++ {
			out.Pix[3*p+k] = float32(min(max(rgb[k][0]*y+c[k], 0), 1))
		}
	}
	return out, nil
}

// HistogramMatch returns style with its colours mapped to the content's mean and covariance:
// x' = clip(A(x − μ_S) + μ_C, 0, 1), A as Affine computes it for variant ("cholesky" or "sym").
func HistogramMatch(style, content *imageio.Image, variant string) (*imageio.Image, error) {
	a, b, err := Affine(style, content, variant)
	if err != nil {
		return nil, err
	}
	out := imageio.New(style.W, style.H)
	for p := 0; p < style.W*style.H; p++ {
		for k := 0; k < 3; k++ {
			v := b[k]
			for j := 0; j < 3; j++ {
				v += a[k][j] * float64(style.Pix[3*p+j])
			}
			out.Pix[3*p+k] = float32(min(max(v, 0), 1))
		}
	}
	return out, nil
}

// Affine returns the map x' = A x + b of HistogramMatch (b = μ_C − A μ_S), before clipping, for the
// variant:
//
//	cholesky  A = L_C L_S⁻¹, with Σ = L Lᵀ (lower-triangular Cholesky factors)
//	sym       A = Σ_C^½ Σ_S^-½, with the symmetric (eigen-decomposition) square roots
//
// Both satisfy A Σ_S Aᵀ = Σ_C, so the unclipped output has exactly the content's mean and covariance. Σ are the
// population covariances of the RGB pixels plus Eps·I.
func Affine(style, content *imageio.Image, variant string) (a [3][3]float64, b [3]float64, err error) {
	muS, covS := moments(style)
	muC, covC := moments(content)
	switch variant {
	case "cholesky":
		lc, err1 := chol3(covC)
		ls, err2 := chol3(covS)
		if err1 != nil || err2 != nil {
			return a, b, fmt.Errorf("colour: a covariance is not positive definite (%v %v): use --histogram sym", err1, err2)
		}
		a = mul3(lc, inv3(ls))
	case "sym":
		a = mul3(symPow(covC, 0.5), symPow(covS, -0.5))
	default:
		return a, b, fmt.Errorf("colour: unknown histogram variant %q: use %s", variant, strings.Join(Histograms, " or "))
	}
	for k := 0; k < 3; k++ {
		b[k] = muC[k]
		for j := 0; j < 3; j++ {
			b[k] -= a[k][j] * muS[j]
		}
	}
	return a, b, nil
}

// Moments returns the per-channel mean and the population covariance (without Eps) of im's RGB pixels.
func Moments(im *imageio.Image) (mu [3]float64, cov [3][3]float64) {
	mu, cov = moments(im)
	for k := 0; k < 3; k++ {
		cov[k][k] -= Eps
	}
	return mu, cov
}

func moments(im *imageio.Image) (mu [3]float64, cov [3][3]float64) {
	n := im.W * im.H
	for p := 0; p < n; p++ {
		for k := 0; k < 3; k++ {
			mu[k] += float64(im.Pix[3*p+k])
		}
	}
	for k := range mu {
		mu[k] /= float64(n)
	}
	for p := 0; p < n; p++ {
		var d [3]float64
		for k := 0; k < 3; k++ {
			d[k] = float64(im.Pix[3*p+k]) - mu[k]
		}
		for i := 0; i < 3; i++ {
			for j := 0; j < 3; j++ {
				cov[i][j] += d[i] * d[j]
			}
		}
	}
	for i := 0; i < 3; i++ {
		for j := 0; j < 3; j++ {
			cov[i][j] /= float64(n)
		}
		cov[i][i] += Eps
	}
	return mu, cov
}

func meanStd(v []float64) (mean, std float64) {
	for _, x := range v {
		mean += x
	}
	mean /= float64(len(v))
	for _, x := range v {
		std += (x - mean) * (x - mean)
	}
	return mean, math.Sqrt(std / float64(len(v)))
}

func grey(w, h int, y []float64) *imageio.Image {
	im := imageio.New(w, h)
	for p, v := range y {
		g := float32(min(max(v, 0), 1))
		im.Pix[3*p], im.Pix[3*p+1], im.Pix[3*p+2] = g, g, g
	}
	return im
}

func mul3(a, b [3][3]float64) (c [3][3]float64) {
	for i := 0; i < 3; i++ {
		for j := 0; j < 3; j++ {
			for k := 0; k < 3; k++ {
				c[i][j] += a[i][k] * b[k][j]
			}
		}
	}
	return c
}

// inv3 inverts a 3×3 matrix by its adjugate.
func inv3(m [3][3]float64) (r [3][3]float64) {
	det := m[0][0]*(m[1][1]*m[2][2]-m[1][2]*m[2][1]) - m[0][1]*(m[1][0]*m[2][2]-m[1][2]*m[2][0]) + m[0][2]*(m[1][0]*m[2][1]-m[1][1]*m[2][0])
	for i := 0; i < 3; i++ {
		for j := 0; j < 3; j++ {
			a, b := (j+1)%3, (j+2)%3
			c, d := (i+1)%3, (i+2)%3
			r[i][j] = (m[a][c]*m[b][d] - m[a][d]*m[b][c]) / det
		}
	}
	return r
}

// chol3 returns the lower-triangular L with L Lᵀ = m.
func chol3(m [3][3]float64) (l [3][3]float64, err error) {
	for i := 0; i < 3; i++ {
		for j := 0; j <= i; j++ {
			s := m[i][j]
			for k := 0; k < j; k++ {
				s -= l[i][k] * l[j][k]
			}
			if i == j {
				if s <= 0 {
					return l, fmt.Errorf("pivot %d is %g", i, s)
				}
				l[i][i] = math.Sqrt(s)
			} else {
				l[i][j] = s / l[j][j]
			}
		}
	}
	return l, nil
}

// symPow returns m^p for a symmetric positive-definite m: V diag(λ^p) Vᵀ from the Jacobi eigen-decomposition.
func symPow(m [3][3]float64, p float64) [3][3]float64 {
	lam, v := jacobi3(m)
	var r [3][3]float64
	for i := 0; i < 3; i++ {
		for j := 0; j < 3; j++ {
			for k := 0; k < 3; k++ {
				r[i][j] += v[i][k] * math.Pow(max(lam[k], 0), p) * v[j][k]
			}
		}
	}
	return r
}

// jacobi3 returns the eigenvalues and eigenvectors (columns of v) of a symmetric 3×3 matrix by cyclic Jacobi
// rotations.
func jacobi3(m [3][3]float64) (lam [3]float64, v [3][3]float64) {
	a := m
	for i := 0; i < 3; i++ {
		v[i][i] = 1
	}
	for sweep := 0; sweep < 50; sweep++ {
		off := a[0][1]*a[0][1] + a[0][2]*a[0][2] + a[1][2]*a[1][2]
		if off < 1e-30 {
			break
		}
		for p := 0; p < 2; p++ {
			for q := p + 1; q < 3; q++ {
				if a[p][q] == 0 {
					continue
				}
				theta := (a[q][q] - a[p][p]) / (2 * a[p][q])
				t := math.Copysign(1, theta) / (math.Abs(theta) + math.Sqrt(theta*theta+1))
				c := 1 / math.Sqrt(t*t+1)
				s := t * c
				for k := 0; k < 3; k++ { // a ← a J
					akp, akq := a[k][p], a[k][q]
					a[k][p], a[k][q] = c*akp-s*akq, s*akp+c*akq
				}
				for k := 0; k < 3; k++ { // a ← Jᵀ a
					apk, aqk := a[p][k], a[q][k]
					a[p][k], a[q][k] = c*apk-s*aqk, s*apk+c*aqk
				}
				for k := 0; k < 3; k++ {
					vkp, vkq := v[k][p], v[k][q]
					v[k][p], v[k][q] = c*vkp-s*vkq, s*vkp+c*vkq
				}
			}
		}
	}
	for i := 0; i < 3; i++ {
		lam[i] = a[i][i]
	}
	return lam, v
}
