package gemm

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
)

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
func (p problem[T]) run(f func(bool, bool, int, int, int, T, []T, int, []T, int, T, []T, int)) []T {
	c := append([]T(nil), p.c...)
	f(p.transA, p.transB, p.m, p.n, p.k, p.alpha, p.a, p.lda, p.b, p.ldb, p.beta, c, p.ldc)
	return c
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

// ref is the naive reference for element (i,j), want = T(alpha·Σ_p op(A)[i,p]·op(B)[p,j] + beta·C₀[i,j])
// accumulated in float64 in order p = 0..k−1 (beta = 0 ignores C₀), and the magnitude
// |alpha|·Σ_p |op(A)[i,p]·op(B)[p,j]| + |beta·C₀[i,j]| that scales the tolerance.
func (p problem[T]) ref(i, j int) (want, mag float64) {
	var sum float64
	for q := 0; q < p.k; q++ {
		x := float64(p.opA(i, q)) * float64(p.opB(q, j))
		sum += x
		mag += math.Abs(x)
	}
	want = float64(p.alpha) * sum
	c0 := float64(p.c[i*p.ldc+j])
	if p.beta != 0 {
		want += float64(p.beta) * c0
	}
	return float64(T(want)), math.Abs(float64(p.alpha))*mag + math.Abs(float64(p.beta)*c0)
}

// check compares got with the naive reference ref. Element (i,j) passes when
//
//	|got − ref| ≤ 2·(k+2)·ε·(|alpha|·Σ_p |op(A)[i,p]·op(B)[p,j]| + |beta·C₀[i,j]|)
//
// with ε = 2⁻²³ (float32) or 2⁻⁵² (float64), the classic bound for a length-k dot product; elements
// in the stride padding (columns ≥ n) must be untouched. Returns the first failure, nil if none.
func (p problem[T]) check(got []T) error {
	eps := 0x1p-23
	var zero T
	if _, ok := any(zero).(float64); ok {
		eps = 0x1p-52
	}
	tol := 2 * float64(p.k+2) * eps
	for i := 0; i < p.m; i++ {
		for j := 0; j < p.ldc; j++ {
			idx := i*p.ldc + j
			if j >= p.n {
				if math.Float64bits(float64(got[idx])) != math.Float64bits(float64(p.c[idx])) {
					return fmt.Errorf("%v: C[%d,%d] in the stride padding was changed: %v -> %v", p, i, j, p.c[idx], got[idx])
				}
				continue
			}
			want, mag := p.ref(i, j)
			if d := math.Abs(float64(got[idx]) - want); !(d <= tol*mag) {
				return fmt.Errorf("%v: C[%d,%d] = %v, reference %v (|diff| %.3g > bound %.3g)", p, i, j, got[idx], T(want), d, tol*mag)
			}
		}
	}
	return nil
}

// verifyShapes are the start-up check's products: odd sizes, split over two goroutines along M
// (m ≥ n) or N (the check lowers the split threshold), and one too small to split.
var verifyShapes = [][3]int{{67, 45, 93}, {40, 7, 301}, {9, 131, 160}, {3, 5, 7}}

// verify runs the start-up check on e: every verifyShapes product, all four transpose combinations,
// strides padded by up to 3, alpha = 1.5 and beta = −0.75, in float32 and float64, through e's
// whole path (splitting over at least two goroutines included, the small-product shortcut
// excluded), compared by problem.check.
func verify(e *engine) error {
	ev := *e
	ev.smallMNK = 0
	ev.threads = max(2, e.threads)
	ev.partMNK = 1000
	r := rand.New(rand.NewPCG(8, 8))
	for _, s := range verifyShapes {
		for tr := 0; tr < 4; tr++ {
			p32 := newProblem[float32](r, tr&1 != 0, tr&2 != 0, s[0], s[1], s[2], 3, 1.5, -0.75)
			if err := p32.check(p32.run(func(tA, tB bool, m, n, k int, al float32, a []float32, lda int, b []float32, ldb int, be float32, c []float32, ldc int) {
				run(&ev, ev.s, tA, tB, m, n, k, al, a, lda, b, ldb, be, c, ldc)
			})); err != nil {
				return errors.New("float32 " + err.Error())
			}
			p64 := newProblem[float64](r, tr&1 != 0, tr&2 != 0, s[0], s[1], s[2], 3, 1.5, -0.75)
			if err := p64.check(p64.run(func(tA, tB bool, m, n, k int, al float64, a []float64, lda int, b []float64, ldb int, be float64, c []float64, ldc int) {
				run(&ev, ev.d, tA, tB, m, n, k, al, a, lda, b, ldb, be, c, ldc)
			})); err != nil {
				return errors.New("float64 " + err.Error())
			}
		}
	}
	return nil
}
