package gatys

import (
	"errors"
	"fmt"
	"math"
)

// L-BFGS is written by hand: GoMLX v0.26.0's optimizers package has SGD, Adam, AdaMax, AdamW and RMSProp but no
// quasi-Newton method, and L-BFGS needs a host-side loop anyway (a line search evaluates the loss at points the
// optimiser chooses). The loss and its gradient come from one compiled GoMLX graph; the rest runs on the host in
// float64.

// LBFGSOptions configures LBFGS. Zero fields take the defaults given.
type LBFGSOptions struct {
	// History is m, the number of (s, y) pairs kept (default 10).
	History int
	// C1 is the Armijo constant of the sufficient-decrease test f(x⁺) ≤ f(x) + C1·gᵀ(x⁺ − x) (default 1e-4).
	C1 float64
	// C2 is the curvature constant of the weak Wolfe test ∇f(x⁺)ᵀs ≥ C2·∇f(x)ᵀs, s = x⁺ − x (default 0.9, the
	// usual value for quasi-Newton methods); a step that fails it is too short and is lengthened.
	C2 float64
	// MaxTrials bounds the evaluations of one line search (default 20).
	MaxTrials int
	// MaxNonFinite ends a line search after that many trials with a non-finite loss (default 8: the step has
	// been halved 8 times, so the trouble is not the step length).
	MaxNonFinite int
	// FirstStep is the largest coordinate change of the very first iteration (and after a memory reset), when no
	// curvature is known yet: the first trial step is −FirstStep·g/‖g‖∞ (default 0.05, sensible for images in [0,1]).
	FirstStep float64
}

func (o LBFGSOptions) withDefaults() LBFGSOptions {
	if o.History <= 0 {
		o.History = 10
	}
	if o.C1 <= 0 {
		o.C1 = 1e-4
	}
	if o.C2 <= o.C1 || o.C2 >= 1 {
		o.C2 = 0.9
	}
	if o.MaxTrials <= 0 {
		o.MaxTrials = 20
	}
	if o.MaxNonFinite <= 0 {
		o.MaxNonFinite = 8
	}
	if o.FirstStep <= 0 {
		o.FirstStep = 0.05
	}
	return o
}

// ErrNoDecrease is returned by LBFGS.Step when no trial point along the steepest-descent direction lowers the
// loss: x is (numerically) a local minimum of f in the feasible set.
var ErrNoDecrease = errors.New("L-BFGS: the line search found no decrease along the steepest-descent direction (converged to numerical precision)")

// EvalFunc returns f(x) and its gradient ∇f(x) (a new slice, or one the caller may keep until the next call).
type EvalFunc func(x []float64) (f float64, g []float64, err error)

// LBFGS minimises a function of n variables with the limited-memory BFGS method (Nocedal & Wright, Numerical
// Optimization, algorithms 7.4 and 7.5), optionally projected onto a box.
//
// One Step:
//  1. Direction p = −H·g by the two-loop recursion over the last m pairs s_i = x_{i+1} − x_i, y_i = g_{i+1} − g_i,
//     with the initial Hessian approximation H₀ = γI, γ = sᵀy/yᵀy of the newest pair. Without pairs,
//     p = −(FirstStep/‖g‖∞)·g.
//  2. Weak Wolfe line search by bracketing (Nocedal & Wright §3.5; Lewis & Overton's bisection): trial
//     x⁺ = P(x + αp), s = x⁺ − x, starting at α = 1, where P is the projection (identity when nil).
//     If f(x⁺) is not finite or f(x⁺) > f(x) + C1·gᵀs (not enough decrease), α is too long: hi = α.
//     Else if ∇f(x⁺)ᵀs < C2·gᵀs (the slope is still steep), α is too short: lo = α.
//     Else x⁺ is accepted. The next α is (lo+hi)/2, or 2α while no upper bound is known. When MaxTrials
//     evaluations pass without acceptance, the longest trial that passed the decrease test is taken, if any.
//  3. If the projected direction is not a descent direction (gᵀ(x⁺ − x) ≥ 0) or the search fails, the memory is
//     cleared and the search is retried once along −g; if that fails too, Step returns ErrNoDecrease.
//  4. The pair (s, y) of the accepted step is stored only if sᵀy > 1e-10·yᵀy (the curvature condition that keeps H
//     positive definite; projection or non-convexity can violate it).
//
// Projection makes this a simple projected L-BFGS (not L-BFGS-B): good enough for box constraints that are active
// on a small part of the variables, like pixels clamped to [0,1].
type LBFGS struct {
	opts    LBFGSOptions
	s, y    [][]float64 // ring of pairs, oldest first
	rho     []float64   // 1/(yᵢᵀsᵢ)
	project func([]float64)
}

// NewLBFGS returns an L-BFGS optimiser. project, if not nil, maps a point into the feasible set in place.
func NewLBFGS(o LBFGSOptions, project func([]float64)) *LBFGS {
	return &LBFGS{opts: o.withDefaults(), project: project}
}

// Reset clears the curvature memory.
func (l *LBFGS) Reset() { l.s, l.y, l.rho = nil, nil, nil }

// Pairs returns how many (s, y) pairs are stored.
func (l *LBFGS) Pairs() int { return len(l.s) }

// direction returns p = −H·g by the two-loop recursion.
func (l *LBFGS) direction(g []float64) []float64 {
	q := append([]float64(nil), g...)
	k := len(l.s)
	if k == 0 {
		gmax := 0.0
		for _, v := range g {
			gmax = max(gmax, math.Abs(v))
		}
		scale := 0.0
		if gmax > 0 {
			scale = l.opts.FirstStep / gmax
		}
		for i := range q {
			q[i] = -scale * q[i]
		}
		return q
	}
	alpha := make([]float64, k)
	for i := k - 1; i >= 0; i-- {
		alpha[i] = l.rho[i] * dot(l.s[i], q)
		axpy(-alpha[i], l.y[i], q)
	}
	gamma := dot(l.s[k-1], l.y[k-1]) / dot(l.y[k-1], l.y[k-1])
	for i := range q {
		q[i] *= gamma
	}
	for i := 0; i < k; i++ {
		beta := l.rho[i] * dot(l.y[i], q)
		axpy(alpha[i]-beta, l.s[i], q)
	}
	for i := range q {
		q[i] = -q[i]
	}
	return q
}

// StepResult describes one successful Step.
type StepResult struct {
	F        float64   // f at the new point
	G        []float64 // ∇f at the new point
	Evals    int       // evaluations made by this step
	Accepted int       // which of them (1-based, in call order) is the new point
}

// Step performs one L-BFGS iteration from x, where f and g are f(x) and ∇f(x). On success it updates x in place
// and returns f and ∇f at the new point, the number of evaluations, and which evaluation gave the new point.
// On error x is unchanged (evals made are still counted in the returned StepResult).
func (l *LBFGS) Step(x []float64, f float64, g []float64, eval EvalFunc) (StepResult, error) {
	var res StepResult
	if len(g) != len(x) {
		return res, fmt.Errorf("L-BFGS: gradient has %d values for %d variables", len(g), len(x))
	}
	for attempt := 0; attempt < 2; attempt++ {
		p := l.direction(g)
		xt, ft, gt, n, acc, ok, err := l.search(x, f, g, p, eval)
		if ok {
			res.Accepted = res.Evals + acc
		}
		res.Evals += n
		if err != nil {
			return res, err
		}
		if !ok {
			if len(l.s) == 0 {
				return res, ErrNoDecrease
			}
			l.Reset() // retry along −g
			continue
		}
		s := make([]float64, len(x))
		y := make([]float64, len(x))
		for i := range x {
			s[i] = xt[i] - x[i]
			y[i] = gt[i] - g[i]
		}
		if sy, yy := dot(s, y), dot(y, y); sy > 1e-10*yy && sy > 0 {
			if len(l.s) == l.opts.History {
				l.s, l.y, l.rho = l.s[1:], l.y[1:], l.rho[1:]
			}
			l.s, l.y, l.rho = append(l.s, s), append(l.y, y), append(l.rho, 1/sy)
		}
		copy(x, xt)
		res.F, res.G = ft, gt
		return res, nil
	}
	return res, ErrNoDecrease
}

// search is the weak Wolfe line search along p (see LBFGS). ok is false when no trial passed the decrease test;
// accepted is the 1-based index of the evaluation that gave the returned point.
func (l *LBFGS) search(x []float64, f float64, g, p []float64, eval EvalFunc) (xBest []float64, fBest float64, gBest []float64, evals, accepted int, ok bool, err error) {
	xt := make([]float64, len(x))
	step := make([]float64, len(x))
	lo, hi, alpha := 0.0, math.Inf(1), 1.0
	nonFinite := 0
	for trial := 0; trial < l.opts.MaxTrials; trial++ {
		for i := range x {
			xt[i] = x[i] + alpha*p[i]
		}
		if l.project != nil {
			l.project(xt)
		}
		for i := range x {
			step[i] = xt[i] - x[i]
		}
		slope := dot(g, step)
		if !(slope < 0) {
			// Not a descent direction once projected, or the step vanished.
			break
		}
		ft, gt, err := eval(xt)
		evals++
		if err != nil {
			return nil, 0, nil, evals, 0, false, err
		}
		switch {
		case math.IsNaN(ft) || math.IsInf(ft, 0):
			hi = alpha
			if nonFinite++; nonFinite >= l.opts.MaxNonFinite {
				return xBest, fBest, gBest, evals, accepted, ok, nil
			}
		case ft > f+l.opts.C1*slope:
			hi = alpha
		case dot(gt, step) < l.opts.C2*slope:
			// Enough decrease but still steep: remember it and try a longer step.
			lo = alpha
			xBest, fBest, gBest, accepted, ok = append([]float64(nil), xt...), ft, gt, evals, true
		default:
			return xt, ft, gt, evals, evals, true, nil
		}
		if math.IsInf(hi, 1) {
			alpha *= 2
		} else {
			alpha = (lo + hi) / 2
		}
	}
	return xBest, fBest, gBest, evals, accepted, ok, nil
}

func dot(a, b []float64) float64 {
	s := 0.0
	for i := range a {
		s += a[i] * b[i]
	}
	return s
}

// axpy sets y += a·x.
func axpy(a float64, x, y []float64) {
	for i := range x {
		y[i] += a * x[i]
	}
}
