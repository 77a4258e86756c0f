package gatys

import (
	"errors"
	"math"
	"testing"
)

// run iterates Step until the gradient is tiny or maxIter is reached; it returns the iterations used.
func runLBFGS(t *testing.T, l *LBFGS, x []float64, eval EvalFunc, maxIter int) (float64, int) {
	t.Helper()
	f, g, err := eval(x)
	if err != nil {
		t.Fatal(err)
	}
	for it := 0; it < maxIter; it++ {
		if math.Sqrt(dot(g, g)) < 1e-9 {
			return f, it
		}
		r, err := l.Step(x, f, g, eval)
		if errors.Is(err, ErrNoDecrease) {
			return f, it
		}
		if err != nil {
			t.Fatal(err)
		}
		fNew, gNew := r.F, r.G
		if fNew > f {
			t.Fatalf("iteration %d: f rose from %g to %g", it, f, fNew)
		}
		f, g = fNew, gNew
	}
	return f, maxIter
}

// diagQuadratic returns f(x) = ½ Σ dᵢ (xᵢ − cᵢ)², ill-conditioned (κ = 1000), in n variables, with its d and c.
func diagQuadratic(n int) (EvalFunc, []float64, []float64) {
	d := make([]float64, n)
	c := make([]float64, n)
	for i := range d {
		d[i] = math.Pow(1000, float64(i)/float64(n-1))
		c[i] = math.Sin(float64(i))
	}
	return func(x []float64) (float64, []float64, error) {
		f, g := 0.0, make([]float64, n)
		for i := range x {
			f += 0.5 * d[i] * (x[i] - c[i]) * (x[i] - c[i])
			g[i] = d[i] * (x[i] - c[i])
		}
		return f, g, nil
	}, d, c
}

func TestLBFGSQuadratic(t *testing.T) {
	n := 50
	eval, _, c := diagQuadratic(n)
	x := make([]float64, n)
	f, iters := runLBFGS(t, NewLBFGS(LBFGSOptions{}, nil), x, eval, 400)
	if f > 1e-12 {
		t.Fatalf("f = %g after %d iterations", f, iters)
	}
	for i := range x {
		if math.Abs(x[i]-c[i]) > 1e-5 {
			t.Fatalf("x[%d] = %g, want %g", i, x[i], c[i])
		}
	}
	// Gradient descent with the best fixed step contracts the error by (κ−1)/(κ+1) ≈ 0.998 per iteration and
	// would need about 8,000 iterations for the same accuracy.
	t.Logf("quadratic, κ = 1000, n = %d: %d iterations", n, iters)
}

// TestLBFGSTwoLoopIsBFGS checks the two-loop recursion itself: with memory ≥ n and exact line searches, BFGS
// on a strictly convex quadratic reaches the minimum in at most n iterations (it generates conjugate directions).
func TestLBFGSTwoLoopIsBFGS(t *testing.T) {
	n := 30
	eval, d, _ := diagQuadratic(n)
	l := NewLBFGS(LBFGSOptions{History: n}, nil)
	x := make([]float64, n)
	_, g, _ := eval(x)
	for it := 0; it < n; it++ {
		p := l.direction(g)
		pDp := 0.0
		for i := range p {
			pDp += p[i] * d[i] * p[i]
		}
		alpha := -dot(g, p) / pDp // exact minimiser along p
		s := make([]float64, n)
		for i := range x {
			s[i] = alpha * p[i]
			x[i] += s[i]
		}
		_, g2, _ := eval(x)
		y := make([]float64, n)
		for i := range y {
			y[i] = g2[i] - g[i]
		}
		l.s, l.y, l.rho = append(l.s, s), append(l.y, y), append(l.rho, 1/dot(s, y))
		g = g2
	}
	if gn := math.Sqrt(dot(g, g)); gn > 1e-6 {
		t.Fatalf("after n = %d exact-line-search iterations ‖g‖ = %g, want ≈ 0", n, gn)
	}
}

func TestLBFGSRosenbrock(t *testing.T) {
	// f(x,y) = (1−x)² + 100(y−x²)², minimum 0 at (1,1), from the classic start (−1.2, 1).
	eval := func(v []float64) (float64, []float64, error) {
		x, y := v[0], v[1]
		f := (1-x)*(1-x) + 100*(y-x*x)*(y-x*x)
		return f, []float64{-2*(1-x) - 400*x*(y-x*x), 200 * (y - x*x)}, nil
	}
	x := []float64{-1.2, 1}
	f, iters := runLBFGS(t, NewLBFGS(LBFGSOptions{FirstStep: 0.1}, nil), x, eval, 500)
	if f > 1e-10 || math.Abs(x[0]-1) > 1e-4 || math.Abs(x[1]-1) > 1e-4 {
		t.Fatalf("after %d iterations f = %g at %v, want 0 at (1,1)", iters, f, x)
	}
	t.Logf("Rosenbrock: %d iterations", iters)
}

func TestLBFGSProjected(t *testing.T) {
	// Minimise Σ (xᵢ − tᵢ)² over the box [0,1]: the answer is clamp(t, 0, 1).
	target := []float64{-0.5, 0.3, 1.7, 0.9, 2}
	eval := func(x []float64) (float64, []float64, error) {
		f, g := 0.0, make([]float64, len(x))
		for i := range x {
			f += (x[i] - target[i]) * (x[i] - target[i])
			g[i] = 2 * (x[i] - target[i])
		}
		return f, g, nil
	}
	clamp := func(x []float64) {
		for i := range x {
			x[i] = min(1, max(0, x[i]))
		}
	}
	x := []float64{0.5, 0.5, 0.5, 0.5, 0.5}
	runLBFGS(t, NewLBFGS(LBFGSOptions{}, clamp), x, eval, 100)
	want := []float64{0, 0.3, 1, 0.9, 1}
	for i := range x {
		if math.Abs(x[i]-want[i]) > 1e-6 {
			t.Fatalf("x = %v, want %v", x, want)
		}
	}
}

func TestLBFGSBacktracksOverNaN(t *testing.T) {
	// f = x² for |x| < 1 and NaN outside: the first full step from 0.9 lands outside and must be shortened.
	eval := func(x []float64) (float64, []float64, error) {
		if math.Abs(x[0]) >= 1 {
			return math.NaN(), []float64{math.NaN()}, nil
		}
		return x[0] * x[0], []float64{2 * x[0]}, nil
	}
	l := NewLBFGS(LBFGSOptions{FirstStep: 5}, nil)
	x := []float64{0.9}
	f, g, _ := eval(x)
	r, err := l.Step(x, f, g, eval)
	if err != nil {
		t.Fatal(err)
	}
	f2, evals := r.F, r.Evals
	if r.Accepted < 1 || r.Accepted > evals {
		t.Fatalf("accepted evaluation %d of %d", r.Accepted, evals)
	}
	if evals < 2 || !(f2 < f) || math.Abs(x[0]) >= 1 {
		t.Fatalf("evals %d, f %g → %g, x %v", evals, f, f2, x)
	}
	if l.Pairs() != 1 {
		t.Fatalf("pairs %d, want 1", l.Pairs())
	}
}

func TestLBFGSMemoryIsBounded(t *testing.T) {
	eval := func(x []float64) (float64, []float64, error) {
		f, g := 0.0, make([]float64, len(x))
		for i := range x {
			w := float64(i + 1)
			f += w * math.Cosh(x[i]-1)
			g[i] = w * math.Sinh(x[i]-1)
		}
		return f, g, nil
	}
	l := NewLBFGS(LBFGSOptions{History: 3}, nil)
	x := make([]float64, 20)
	f, g, _ := eval(x)
	for range 8 {
		r, err := l.Step(x, f, g, eval)
		if err != nil {
			break
		}
		f, g = r.F, r.G
		if l.Pairs() > 3 {
			t.Fatalf("%d pairs kept, history is 3", l.Pairs())
		}
	}
}
