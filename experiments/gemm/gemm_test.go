package gemm

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// gemmFunc is the shape of one engine's product, for running the same tests on each engine.
type gemmFunc[T float32 | float64] func(transA, transB bool, m, n, k int, alpha T, a []T, lda int, b []T, ldb int, beta T, c []T, ldc int)

// problem is one product with its operands laid out with padded strides.
type problem[T float32 | float64] struct {
	transA, transB bool
	m, n, k        int
	alpha, beta    T
	a, b, c        []T
	lda, ldb, ldc  int
}

func (p problem[T]) String() string {
	return fmt.Sprintf("tA=%v tB=%v m=%d n=%d k=%d alpha=%v beta=%v lda=%d ldb=%d ldc=%d",
		p.transA, p.transB, p.m, p.n, p.k, p.alpha, p.beta, p.lda, p.ldb, p.ldc)
}

func randSlice[T float32 | float64](r *rand.Rand, n int) []T {
	s := make([]T, n)
	for i := range s {
		s[i] = T(r.Float64()*2 - 1)
	}
	return s
}

// newProblem lays out op(A) m×k, op(B) k×n and C m×n with row strides padded by 0..pad elements.
func newProblem[T float32 | float64](r *rand.Rand, transA, transB bool, m, n, k, pad int, alpha, beta T) problem[T] {
	p := problem[T]{transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, beta: beta}
	ar, ac := m, k
	if transA {
		ar, ac = k, m
	}
	br, bc := k, n
	if transB {
		br, bc = n, k
	}
	p.lda = max(1, ac) + r.IntN(pad+1)
	p.ldb = max(1, bc) + r.IntN(pad+1)
	p.ldc = max(1, n) + r.IntN(pad+1)
	p.a = randSlice[T](r, ar*p.lda)
	p.b = randSlice[T](r, br*p.ldb)
	p.c = randSlice[T](r, m*p.ldc)
	return p
}

// run computes the problem with f on a copy of C and returns that copy.
func (p problem[T]) run(f gemmFunc[T]) []T {
	c := append([]T(nil), p.c...)
	f(p.transA, p.transB, p.m, p.n, p.k, p.alpha, p.a, p.lda, p.b, p.ldb, p.beta, c, p.ldc)
	return c
}

// check compares got with the naive reference. An element passes when
// |got − ref| ≤ tol·(|alpha|·Σ_p |op(A)[i,p]|·|op(B)[p,j]| + |beta·C[i,j]|) with tol = 2·(k+2)·ε(T),
// the classic bound for a length-k dot product; an element outside the m×n window (the stride padding)
// must be untouched. Returns a description of the first failure, "" if none.
func (p problem[T]) check(got []T) string {
	want := p.run(refGemm[T])
	var eps float64 = 0x1p-23
	var zero T
	if _, ok := any(zero).(float64); ok {
		eps = 0x1p-52
	}
	tol := 2 * float64(p.k+2) * eps
	for i := 0; i < p.m; i++ {
		for j := 0; j < p.ldc; j++ {
			idx := i*p.ldc + j
			if j >= p.n {
				if got[idx] != p.c[idx] && !(math.IsNaN(float64(got[idx])) && math.IsNaN(float64(p.c[idx]))) {
					return fmt.Sprintf("C[%d,%d] outside the %d columns was changed: %v -> %v", i, j, p.n, p.c[idx], got[idx])
				}
				continue
			}
			var mag float64
			for q := 0; q < p.k; q++ {
				x, y := p.opA(i, q), p.opB(q, j)
				mag += math.Abs(float64(x) * float64(y))
			}
			mag = math.Abs(float64(p.alpha))*mag + math.Abs(float64(p.beta)*float64(p.c[idx]))
			d := math.Abs(float64(got[idx]) - float64(want[idx]))
			if !(d <= tol*mag+1e-30) {
				return fmt.Sprintf("C[%d,%d] = %v, reference %v (|diff| %.3g > bound %.3g)", i, j, got[idx], want[idx], d, tol*mag)
			}
		}
	}
	return ""
}

func (p problem[T]) opA(i, q int) T {
	if p.transA {
		return p.a[q*p.lda+i]
	}
	return p.a[i*p.lda+q]
}

func (p problem[T]) opB(q, j int) T {
	if p.transB {
		return p.b[j*p.ldb+q]
	}
	return p.b[q*p.ldb+j]
}

// shapes are the (m, n, k) triples every engine is tested on: edge cases, odd sizes, sizes around
// typical register-block and cache-block boundaries, and a few larger ones.
var shapes = [][3]int{
	{0, 0, 0}, {0, 5, 3}, {5, 0, 3}, {4, 5, 0}, {1, 1, 1}, {1, 1, 7}, {1, 9, 1}, {9, 1, 1}, {2, 3, 4},
	{3, 5, 7}, {7, 13, 5}, {16, 16, 16}, {17, 15, 33}, {31, 47, 29}, {64, 64, 64}, {65, 63, 130},
	{100, 1, 300}, {1, 100, 300}, {129, 97, 257}, {300, 70, 513}, {513, 33, 65},
}

// testEngine checks f against the reference on every shape, all four transpose combinations, padded
// strides, and several alpha/beta pairs.
func testEngine[T float32 | float64](t *testing.T, f gemmFunc[T]) {
	r := rand.New(rand.NewPCG(1, 2))
	ab := [][2]T{{1, 0}, {1, 1}, {-0.5, 2.25}, {0, 0.5}, {1.5, 0}}
	for _, s := range shapes {
		for tr := 0; tr < 4; tr++ {
			for i, x := range ab {
				if testing.Short() && i > 2 && s[0]*s[1]*s[2] > 100000 {
					continue
				}
				p := newProblem[T](r, tr&1 != 0, tr&2 != 0, s[0], s[1], s[2], 3, x[0], x[1])
				if msg := p.check(p.run(f)); msg != "" {
					t.Fatalf("%v: %s", p, msg)
				}
			}
		}
	}
}

func TestGoEngine(t *testing.T) {
	t.Run("float32", func(t *testing.T) { testEngine(t, goGemm[float32]) })
	t.Run("float64", func(t *testing.T) { testEngine(t, goGemm[float64]) })
}

func TestPublicAPI(t *testing.T) {
	t.Logf("engine: %+v", Current())
	t.Run("Sgemm", func(t *testing.T) { testEngine(t, Sgemm) })
	t.Run("Dgemm", func(t *testing.T) { testEngine(t, Dgemm) })
}

// TestBetaZeroDropsNaN: beta = 0 overwrites C, as in BLAS, even where C holds NaN.
func TestBetaZeroDropsNaN(t *testing.T) {
	a := []float32{1, 2, 3, 4}
	b := []float32{1, 0, 0, 1}
	c := []float32{float32(math.NaN()), float32(math.NaN()), float32(math.NaN()), float32(math.NaN())}
	Sgemm(false, false, 2, 2, 2, 1, a, 2, b, 2, 0, c, 2)
	for i, want := range a {
		if c[i] != want {
			t.Fatalf("C = %v, want %v", c, a)
		}
	}
}

func TestBadArgumentsPanic(t *testing.T) {
	for name, f := range map[string]func(){
		"negative m": func() { Sgemm(false, false, -1, 2, 2, 1, make([]float32, 4), 2, make([]float32, 4), 2, 0, make([]float32, 4), 2) },
		"short a":    func() { Sgemm(false, false, 2, 2, 2, 1, make([]float32, 3), 2, make([]float32, 4), 2, 0, make([]float32, 4), 2) },
		"small lda":  func() { Sgemm(false, false, 2, 2, 3, 1, make([]float32, 9), 2, make([]float32, 9), 2, 0, make([]float32, 4), 2) },
		"short c":    func() { Dgemm(true, true, 2, 2, 2, 1, make([]float64, 4), 2, make([]float64, 4), 2, 0, make([]float64, 3), 2) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: no panic", name)
				}
			}()
			f()
		}()
	}
}
