package study

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
)

// DirectionStream is the PCG stream of the projection directions: PCG(seed, DirectionStream).
const DirectionStream = 0x736c6963 // "slic"

// Directions returns p unit vectors of R^dim (row-major, p·dim values): each is a vector of standard normal
// coordinates (math/rand/v2's NormFloat64 from PCG(seed, DirectionStream)) divided by its norm, i.e. uniform on
// the sphere. The same (dim, p, seed) always gives the same directions.
func Directions(dim, p int, seed uint64) []float64 {
	r := rand.New(rand.NewPCG(seed, DirectionStream))
	out := make([]float64, p*dim)
	for k := range p {
		v := out[k*dim : (k+1)*dim]
		for {
			norm := 0.0
			for i := range v {
				v[i] = r.NormFloat64()
				norm += v[i] * v[i]
			}
			if norm > 0 {
				norm = math.Sqrt(norm)
				for i := range v {
					v[i] /= norm
				}
				break
			}
		}
	}
	return out
}

// Wasserstein1D is the exact p-Wasserstein distance raised to the power p, W_p^p = ∫₀¹ |F⁻¹(t) − G⁻¹(t)|^p dt,
// between the empirical distributions of a (n values, weight 1/n each) and b (m values). The quantile functions
// are step functions with steps at i/n and j/m, so the integral is a finite sum over the merged steps, computed
// in integer units of 1/(n·m); with n = m it is (1/n) Σ_i |a_(i) − b_(i)|^p over the sorted values. For p = 1 this
// is scipy.stats.wasserstein_distance(a, b). a and b are not modified.
func Wasserstein1D(a, b []float64, p float64) (float64, error) {
	if len(a) == 0 || len(b) == 0 {
		return 0, fmt.Errorf("study: Wasserstein distance of an empty sample (%d and %d values)", len(a), len(b))
	}
	sa, sb := slices.Clone(a), slices.Clone(b)
	slices.Sort(sa)
	slices.Sort(sb)
	return wassersteinSorted(sa, sb, p), nil
}

func wassersteinSorted(sa, sb []float64, p float64) float64 {
	n, m := int64(len(sa)), int64(len(sb))
	var i, j, at int64 // at: position in units of 1/(n·m)
	sum := 0.0
	for i < n && j < m {
		nextA, nextB := (i+1)*m, (j+1)*n
		next := min(nextA, nextB)
		d := math.Abs(sa[i] - sb[j])
		if p == 2 {
			d *= d
		} else if p != 1 {
			d = math.Pow(d, p)
		}
		sum += float64(next-at) * d
		at = next
		if nextA == next {
			i++
		}
		if nextB == next {
			j++
		}
	}
	return sum / float64(n*m)
}

// SlicedWasserstein is the sliced 2-Wasserstein distance between two point clouds x (n points) and y (m points)
// of R^dim, row-major:
//
//	SW₂(x, y) = √( (1/P) Σ_k W₂²(⟨x, θ_k⟩, ⟨y, θ_k⟩) )
//
// over the P unit directions θ_k of dirs (P·dim values, e.g. Directions), W₂² the exact 1-D distance of the
// projections (Wasserstein1D with p = 2; exact also for n ≠ m). It is 0 for identical clouds, and a translation
// t of one cloud gives √((1/P) Σ_k ⟨t, θ_k⟩²).
func SlicedWasserstein(x, y []float64, dim int, dirs []float64) (float64, error) {
	switch {
	case dim < 1 || len(x)%dim != 0 || len(y)%dim != 0 || len(dirs)%dim != 0:
		return 0, fmt.Errorf("study: sliced Wasserstein needs row-major points of dimension %d (got %d, %d values and %d direction values)", dim, len(x), len(y), len(dirs))
	case len(x) == 0 || len(y) == 0:
		return 0, fmt.Errorf("study: sliced Wasserstein of an empty point cloud")
	case len(dirs) == 0:
		return 0, fmt.Errorf("study: sliced Wasserstein needs at least one projection direction")
	}
	n, m, p := len(x)/dim, len(y)/dim, len(dirs)/dim
	px, py := make([]float64, n), make([]float64, m)
	sum := 0.0
	for k := range p {
		th := dirs[k*dim : (k+1)*dim]
		project(px, x, th)
		project(py, y, th)
		slices.Sort(px)
		slices.Sort(py)
		sum += wassersteinSorted(px, py, 2)
	}
	return math.Sqrt(sum / float64(p)), nil
}

func project(dst, pts, th []float64) {
	dim := len(th)
	for i := range dst {
		s := 0.0
		row := pts[i*dim : (i+1)*dim]
		for c, t := range th {
			s += row[c] * t
		}
		dst[i] = s
	}
}
