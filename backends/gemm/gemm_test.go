package gemm

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

// gemmFunc is the shape of one engine's product, for running the same tests on each engine.
type gemmFunc[T float32 | float64] func(transA, transB bool, m, n, k int, alpha T, a []T, lda int, b []T, ldb int, beta T, c []T, ldc int)

// shapes are the (m, n, k) triples every engine is tested on: edge cases, odd sizes, sizes around
// typical register-block and cache-block boundaries, and a few larger ones.
var shapes = [][3]int{
	{0, 0, 0}, {0, 5, 3}, {5, 0, 3}, {4, 5, 0}, {1, 1, 1}, {1, 1, 7}, {1, 9, 1}, {9, 1, 1}, {2, 3, 4},
	{3, 5, 7}, {7, 13, 5}, {16, 16, 16}, {17, 15, 33}, {31, 47, 29}, {64, 64, 64}, {65, 63, 130},
	{100, 1, 300}, {1, 100, 300}, {129, 97, 257}, {200, 40, 300}, {260, 33, 65},
}

// testEngine checks f against the reference on every shape, all four transpose combinations, padded
// strides, and two alpha/beta pairs per (shape, transposition), cycling through all pairs.
func testEngine[T float32 | float64](t *testing.T, f gemmFunc[T]) {
	r := rand.New(rand.NewPCG(1, 2))
	ab := [][2]T{{1, 0}, {1, 1}, {-0.5, 2.25}, {0, 0.5}, {1.5, 0}}
	for si, s := range shapes {
		for tr := 0; tr < 4; tr++ {
			for _, x := range [][2]T{ab[(si+tr)%len(ab)], ab[(si+tr+2)%len(ab)]} {
				p := newProblem[T](r, tr&1 != 0, tr&2 != 0, s[0], s[1], s[2], 3, x[0], x[1])
				if err := p.check(p.run(f)); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
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
		"negative m": func() {
			Sgemm(false, false, -1, 2, 2, 1, make([]float32, 4), 2, make([]float32, 4), 2, 0, make([]float32, 4), 2)
		},
		"short a": func() {
			Sgemm(false, false, 2, 2, 2, 1, make([]float32, 3), 2, make([]float32, 4), 2, 0, make([]float32, 4), 2)
		},
		"small lda": func() {
			Sgemm(false, false, 2, 2, 3, 1, make([]float32, 9), 2, make([]float32, 9), 2, 0, make([]float32, 4), 2)
		},
		"short c": func() {
			Dgemm(true, true, 2, 2, 2, 1, make([]float64, 4), 2, make([]float64, 4), 2, 0, make([]float64, 3), 2)
		},
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

// TestReference: the reference on a product small enough to write out:
// [1 2; 3 4]ᵀ·[5 6; 7 8] = [1·5+3·7, 1·6+3·8; 2·5+4·7, 2·6+4·8] = [26 30; 38 44]; C = 2·that − 1·[1 1; 1 1].
func TestReference(t *testing.T) {
	p := problem[float64]{transA: true, m: 2, n: 2, k: 2, alpha: 2, beta: -1, a: []float64{1, 2, 3, 4}, b: []float64{5, 6, 7, 8},
		c: []float64{1, 1, 1, 1}, lda: 2, ldb: 2, ldc: 2}
	want := []float64{51, 59, 75, 87}
	mags := []float64{2*26 + 1, 2*30 + 1, 2*38 + 1, 2*44 + 1}
	for e := range want {
		if got, mag := p.ref(e/2, e%2); got != want[e] || mag != mags[e] {
			t.Errorf("ref(%d,%d) = %v (magnitude %v), want %v (%v)", e/2, e%2, got, mag, want[e], mags[e])
		}
	}
}

// TestCheckRejects: the check that guards every engine refuses an element off by ten times its
// tolerance and a write into the stride padding, and accepts the correct product.
func TestCheckRejects(t *testing.T) {
	p := newProblem[float32](rand.New(rand.NewPCG(9, 9)), false, true, 20, 30, 40, 0, 1, 0.5)
	p.ldc = p.n + 2
	p.c = randSlice[float32](rand.New(rand.NewPCG(9, 10)), p.m*p.ldc)
	good := p.run(goGemm[float32])
	if err := p.check(good); err != nil {
		t.Fatalf("correct product refused: %v", err)
	}
	_, mag := p.ref(3, 4)
	bad := append([]float32(nil), good...)
	bad[3*p.ldc+4] += float32(10 * 2 * float64(p.k+2) * 0x1p-23 * mag)
	if err := p.check(bad); err == nil || !strings.Contains(err.Error(), "C[3,4]") {
		t.Errorf("an element off by 10× the tolerance: %v", err)
	}
	pad := append([]float32(nil), good...)
	pad[5*p.ldc+p.n] = 42
	if err := p.check(pad); err == nil || !strings.Contains(err.Error(), "padding") {
		t.Errorf("a write into the padding: %v", err)
	}
}
