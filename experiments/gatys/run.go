package gatys

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"time"

	"github.com/gomlx/gomlx/backends"
	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:staticcheck // GoMLX code reads best with the graph ops unqualified.
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/gomlx/gomlx/pkg/ml/train/optimizers"
	"github.com/stylelab/stylelab/backends/backend"
	"github.com/stylelab/stylelab/experiments/imageio"
	"github.com/stylelab/stylelab/experiments/losses"
	"github.com/stylelab/stylelab/experiments/vgg"
)

// StepReport gives the loss terms of the image after Step steps (Step 0 is the initial image). The terms are
// unweighted: Total = ContentWeight·Content + StyleWeight·Style + TVWeight·TV, Style = Σ_l λ_l·StyleByLayer[l],
// StyleByLayer[l] = Σ_k w_k L(F_l(x), F_l(style_k)).
type StepReport struct {
	Step         int                `json:"step"`
	Total        float64            `json:"total"`
	Content      float64            `json:"content"`
	Style        float64            `json:"style"`
	TV           float64            `json:"tv"`
	StyleByLayer map[string]float64 `json:"style_by_layer"`
	// Elapsed is the wall time since Run started (including loading the weights and computing the targets).
	Elapsed time.Duration `json:"elapsed_ns"`
	// StepTime is the wall time of the computation that produced this report (for Adam, the update step that
	// evaluated this image; for L-BFGS, the iteration that reached it, line search included).
	StepTime time.Duration `json:"step_time_ns"`
	// Evals is the number of loss evaluations of this step (1 for Adam, 1 or more for L-BFGS).
	Evals int `json:"evals"`
}

// Result is what Run returns, also alongside an error when a run stops on a non-finite value.
type Result struct {
	// Image is the final image; after a NaN stop, the last image whose loss was finite.
	Image *imageio.Image
	// First and Last are the reports of step 0 and of the step Image comes from.
	First, Last StepReport
	// Steps is the number of steps completed (Last.Step).
	Steps int
	// SecondsPerStep is the mean wall time of the optimisation steps after the first one (which includes graph
	// compilation); with a single step, that step's time.
	SecondsPerStep float64
	// Config is the resolved configuration the run used.
	Config  Config
	Backend backend.Info
	// WeightsSource and WeightsSHA256 identify the loss network's weights (vgg.Weights.Source and SHA256).
	WeightsSource, WeightsSHA256 string
	// StoppedEarly says why the run ended before Config.Steps without an error ("" when it ran all steps):
	// L-BFGS stops when its line search finds no decrease.
	StoppedEarly string
	// Tiling is how the run was tiled (tile.go); nil for an untiled run.
	Tiling *Tiling `json:"tiling,omitempty"`
}

// NaNError reports a loss term or the image becoming NaN or ±Inf. The Result returned with it holds the last
// good image (the last one whose loss was finite).
type NaNError struct {
	Step     int     // the step whose image gave the non-finite value
	Term     string  // "content", "style (relu3_1)", "tv", "total", "image", "gradient"
	Value    float64 // the offending value (NaN, +Inf or −Inf)
	LastGood int     // the step of the image returned in the Result, or -1 if none
}

func (e *NaNError) Error() string {
	kept := fmt.Sprintf("the last good image (step %d) is kept", e.LastGood)
	if e.LastGood < 0 {
		kept = "no step had a finite loss; the initial image is returned"
	}
	return fmt.Sprintf("step %d: %s became %v; stopped, %s (lower the learning rate or the weights)", e.Step, e.Term, e.Value, kept)
}

// A lossHook changes the image a loss is evaluated at, for fault injection: the tests set one (hook_test.go) that
// makes the loss of a chosen step NaN. It keeps its own state in the problem's context (its variables), not in
// the problem. Nil outside tests, so the graph is then exactly the loss of the image.
type lossHook interface {
	// prepare is called once per problem, before any graph is built.
	prepare(ctx *context.Context)
	// input returns the image the loss graph evaluates, given the image x.
	input(ctx *context.Context, x *Node) *Node
	// atStep is called before the loss of the image of step is evaluated.
	atStep(ctx *context.Context, step int)
}

// testLossHook is the lossHook in use (nil: none).
var testLossHook lossHook

// Run stylises content with styles (len(styles) ≥ 1, blended by cfg.StyleBlend) under the loss network w, and
// calls onStep (if not nil) with the report of every step from 0 to the last; an error from onStep stops the run
// and is returned with the Result so far. The backend is the process backend (backend.New).
func Run(cfg Config, content *imageio.Image, styles []*imageio.Image, w *vgg.Weights,
	onStep func(StepReport) error) (*Result, error) {
	return RunGuided(cfg, content, styles, nil, w, onStep)
}

// resizeInputs resizes content and styles so that their longer side is size (0 keeps them).
func resizeInputs(size int, content *imageio.Image, styles []*imageio.Image) (*imageio.Image, []*imageio.Image, error) {
	if size == 0 {
		return content, styles, nil
	}
	fit := func(im *imageio.Image) (*imageio.Image, error) {
		if max(im.W, im.H) == size {
			return im, nil
		}
		return imageio.ResizeLonger(im, size)
	}
	c, err := fit(content)
	if err != nil {
		return nil, nil, err
	}
	out := make([]*imageio.Image, len(styles))
	for i, s := range styles {
		if out[i], err = fit(s); err != nil {
			return nil, nil, err
		}
	}
	return c, out, nil
}

// InitialImage returns the starting image of a run with the resolved cfg, for content and styles already at the
// run's size (what Run starts from; see initialImage).
func InitialImage(cfg Config, content *imageio.Image, styles []*imageio.Image) (*imageio.Image, error) {
	if cfg.Init == "style" && len(styles) == 0 {
		return nil, errors.New("gatys: init \"style\" needs a style image")
	}
	return initialImage(cfg, content, styles)
}

// initialImage returns the starting image: a copy of the content, seeded uniform noise in [0,1) (math/rand/v2
// PCG seeded with (Seed, "GATYSINI")), or the first style image scaled to cover the content's size with its
// aspect ratio kept, then centre-cropped to it (imageio.ResizeCover).
func initialImage(cfg Config, content *imageio.Image, styles []*imageio.Image) (*imageio.Image, error) {
	switch cfg.Init {
	case "noise":
		rng := rand.New(rand.NewPCG(cfg.Seed, 0x4741545953494e49))
		im := imageio.New(content.W, content.H)
		for i := range im.Pix {
			im.Pix[i] = rng.Float32()
		}
		return im, nil
	case "style":
		return imageio.ResizeCover(styles[0], content.W, content.H)
	}
	return content.Clone(), nil
}

// problem holds the compiled pieces shared by both optimisers.
type problem struct {
	b          backends.Backend
	cfg        Config
	ctx        *context.Context
	w          *vgg.Weights
	loss       losses.StyleLossAt
	h, wd      int
	contentT   []*context.Variable   // per content layer
	styleT     [][]*context.Variable // [style image][style layer]
	layerNames []string              // union of content and style layers, for one Features call

	prepared                            // the style losses' targets, computed once (targets.go)
	gloss      losses.StyleGuidedLossAt // the guided style loss (spatial control)
	regions    []regionTerm             // spatial control's regions; nil without a mask (controls.go)
	slots      map[[2]int]*sampleSlot   // sampled positions per (style layer, style image); see sampling.go
	sampleStep int                      // the step whose positions the slots hold
	tiled      *tiledProblem            // the tiled evaluation, when the run is tiled (tile.go); nil otherwise
}

// features computes the given layers of img once, as tensors.
func features(b backends.Backend, ctx *context.Context, w *vgg.Weights, pool vgg.Pool, img *imageio.Image, layers []string) ([]*tensors.Tensor, error) {
	e, err := context.NewExec(b, ctx, func(ctx *context.Context, x *Node) []*Node {
		f := vgg.Features(ctx, w, pool, x, layers)
		out := make([]*Node, len(layers))
		for i, l := range layers {
			out[i] = f[l]
		}
		return out
	})
	if err != nil {
		return nil, err
	}
	defer e.Finalize()
	return e.Exec(img.Tensor())
}

func newProblem(b backends.Backend, cfg Config, w *vgg.Weights, content *imageio.Image, styles []*imageio.Image, regions []regionTerm) (*problem, error) {
	loss, err := losses.StyleAt(cfg.Loss, cfg.LossOptions)
	if err != nil {
		return nil, fmt.Errorf("gatys: %w", err)
	}
	gloss, err := losses.StyleGuidedAt(cfg.Loss, cfg.LossOptions)
	if err != nil {
		return nil, fmt.Errorf("gatys: %w", err)
	}
	p := &problem{b: b, cfg: cfg, ctx: context.New(), w: w, loss: loss, gloss: gloss, h: content.H, wd: content.W,
		slots: map[[2]int]*sampleSlot{}, regions: regions}
	for r := range p.regions {
		p.regions[r].vars = nil
		for i, l := range cfg.StyleLayers {
			v := p.ctx.In("guides").Checked(false).VariableWithValue(fmt.Sprintf("region%d_%s", r, l), p.regions[r].guide[i]).SetTrainable(false)
			p.regions[r].vars = append(p.regions[r].vars, v)
		}
	}
	seen := map[string]bool{}
	for _, l := range append(append([]string{}, cfg.ContentLayers...), cfg.StyleLayers...) {
		if !seen[l] {
			seen[l] = true
			p.layerNames = append(p.layerNames, l)
		}
	}
	tctx := p.ctx.In("targets").Checked(false)
	ct, err := features(b, p.ctx, w, cfg.Pool, content, cfg.ContentLayers)
	if err != nil {
		return nil, fmt.Errorf("gatys: content features: %w", err)
	}
	for i, l := range cfg.ContentLayers {
		p.contentT = append(p.contentT, tctx.VariableWithValue("content_"+l, ct[i]).SetTrainable(false))
	}
	if err := p.prepareTargets(styles); err != nil {
		return nil, err
	}
	for k, s := range styles {
		if p.prep.Target != nil {
			break // the targets replace the raw style features
		}
		st, err := features(b, p.ctx, w, cfg.Pool, s, cfg.StyleLayers)
		if err != nil {
			return nil, fmt.Errorf("gatys: features of style image %d: %w", k+1, err)
		}
		var vs []*context.Variable
		for i, l := range cfg.StyleLayers {
			vs = append(vs, tctx.VariableWithValue(fmt.Sprintf("style%d_%s", k, l), st[i]).SetTrainable(false))
		}
		p.styleT = append(p.styleT, vs)
	}
	if testLossHook != nil {
		testLossHook.prepare(p.ctx)
	}
	return p, nil
}

// terms builds the loss of image x [1,H,W,3]: it returns the weighted total and the vector
// [total, content, style, tv, styleByLayer...] (float32).
func (p *problem) terms(ctx *context.Context, x *Node) (total, vec *Node) {
	g := x.Graph()
	cfg := p.cfg
	if testLossHook != nil {
		x = testLossHook.input(ctx, x)
	}
	f := vgg.Features(ctx, p.w, cfg.Pool, x, p.layerNames)
	content := ScalarZero(g, x.DType())
	for i, l := range cfg.ContentLayers {
		content = Add(content, losses.Content(f[l], p.contentT[i].ValueGraph(g)))
	}
	content = DivScalar(content, float64(len(cfg.ContentLayers)))
	style := ScalarZero(g, x.DType())
	byLayer := make([]*Node, len(cfg.StyleLayers))
	for i, l := range cfg.StyleLayers {
		li := ScalarZero(g, x.DType())
		if p.regions != nil {
			li = p.regionLoss(i, f[l], g)
		} else {
			for k := range cfg.StyleBlend {
				if wk := cfg.StyleBlend[k]; wk != 0 {
					li = Add(li, MulScalar(p.styleLoss(i, k, f[l], g), wk))
				}
			}
		}
		byLayer[i] = li
		if lw := cfg.layerWeight(l); lw != 0 {
			style = Add(style, MulScalar(li, lw))
		}
	}
	tv := losses.TotalVariation(x)
	total = Add(Add(MulScalar(content, *cfg.ContentWeight), MulScalar(style, *cfg.StyleWeight)), MulScalar(tv, *cfg.TVWeight))
	parts := append([]*Node{total, content, style, tv}, byLayer...)
	for i := range parts {
		parts[i] = Reshape(parts[i], 1)
	}
	return total, Concatenate(parts, 0)
}

// runner carries the state of one run's loop.
type runner struct {
	p        *problem
	cfg      Config
	res      *Result
	start    time.Time
	onStep   func(StepReport) error
	stepSecs []float64
}

func (r *runner) secondsPerStep() float64 {
	s := r.stepSecs
	if len(s) > 1 {
		s = s[1:]
	}
	if len(s) == 0 {
		return 0
	}
	t := 0.0
	for _, v := range s {
		t += v
	}
	return t / float64(len(s))
}

// report turns the terms vector into a StepReport.
func (r *runner) report(step int, vec []float32, stepTime time.Duration, evals int) StepReport {
	rep := StepReport{Step: step, Total: float64(vec[0]), Content: float64(vec[1]), Style: float64(vec[2]),
		TV: float64(vec[3]), StyleByLayer: map[string]float64{}, Elapsed: time.Since(r.start), StepTime: stepTime, Evals: evals}
	for i, l := range r.cfg.StyleLayers {
		rep.StyleByLayer[l] = float64(vec[4+i])
	}
	return rep
}

// nonFinite returns the first non-finite term of a report, in the order content, style layers, style, tv, total.
func nonFinite(rep StepReport, layers []string) (string, float64, bool) {
	bad := func(v float64) bool { return math.IsNaN(v) || math.IsInf(v, 0) }
	if bad(rep.Content) {
		return "the content loss", rep.Content, true
	}
	for _, l := range layers {
		if v := rep.StyleByLayer[l]; bad(v) {
			return "the style loss (" + l + ")", v, true
		}
	}
	for _, t := range []struct {
		name string
		v    float64
	}{{"the style loss", rep.Style}, {"the total-variation loss", rep.TV}, {"the total loss", rep.Total}} {
		if bad(t.v) {
			return t.name, t.v, true
		}
	}
	return "", 0, false
}

// accept records a finite report and its image, and calls onStep.
func (r *runner) accept(rep StepReport, img *imageio.Image) error {
	if rep.Step == 0 {
		r.res.First = rep
	}
	r.res.Last = rep
	r.res.Image = img
	if r.onStep != nil {
		return r.onStep(rep)
	}
	return nil
}

func (r *runner) lastGood() int {
	if r.res.Image == nil {
		return -1
	}
	return r.res.Last.Step
}

func flat32(t *tensors.Tensor) ([]float32, error) {
	var out []float32
	err := tensors.ConstFlatData(t, func(f []float32) { out = append([]float32(nil), f...) })
	t.FinalizeAll()
	return out, err
}

// adamStepper holds the compiled Adam step and the forward-only evaluation of the image variable.
type adamStepper struct {
	p      *problem
	imgVar *context.Variable
	step   *context.Exec // loss terms of the current image, then image ← clamp(image + Adam update, 0, 1)
	eval   *context.Exec // loss terms of the current image only
}

func newAdamStepper(p *problem, init *imageio.Image, lr float64) (*adamStepper, error) {
	a := &adamStepper{p: p, imgVar: p.ctx.In("gatys").VariableWithValue("image", init.Tensor())}
	opt := optimizers.Adam().LearningRate(lr).Done()
	var err error
	a.step, err = context.NewExec(p.b, p.ctx, func(ctx *context.Context, g *Graph) []*Node {
		total, vec := p.terms(ctx, a.imgVar.ValueGraph(g))
		opt.UpdateGraph(ctx, g, total)
		upd := a.imgVar.ValueGraph(g)
		a.imgVar.SetValueGraph(ClipScalar(upd, 0, 1))
		return []*Node{vec, ReduceAllSum(upd)}
	})
	if err != nil {
		return nil, fmt.Errorf("gatys: building the Adam step: %w", err)
	}
	a.eval, err = context.NewExec(p.b, p.ctx, func(ctx *context.Context, g *Graph) *Node {
		_, vec := p.terms(ctx, a.imgVar.ValueGraph(g))
		return vec
	})
	if err != nil {
		a.step.Finalize()
		return nil, fmt.Errorf("gatys: building the loss evaluation: %w", err)
	}
	return a, nil
}

func (a *adamStepper) finalize() {
	a.step.Finalize()
	a.eval.Finalize()
}

// image returns a host copy of the current image.
func (a *adamStepper) image() (*imageio.Image, error) {
	t, err := a.imgVar.Value()
	if err != nil {
		return nil, err
	}
	return imageio.FromTensor(t)
}

// run executes one Adam update (update = true) or only evaluates the loss. It returns the terms vector of the
// image before the update and, for an update, the sum of the unclamped new image (non-finite if it went bad).
func (a *adamStepper) run(update bool) (vec []float32, sum float64, err error) {
	var outs []*tensors.Tensor
	if update {
		outs, err = a.step.Exec()
	} else {
		outs, err = a.eval.Exec()
	}
	if err != nil {
		return nil, 0, err
	}
	if vec, err = flat32(outs[0]); err != nil {
		return nil, 0, err
	}
	if update {
		s, err := flat32(outs[1])
		if err != nil {
			return nil, 0, err
		}
		sum = float64(s[0])
	}
	return vec, sum, nil
}

// adam runs cfg.Steps Adam updates. Execution i (1-based) evaluates the loss of image x_{i−1} and writes
// x_i = clamp(x_{i−1} + AdamUpdate, 0, 1); a last forward-only execution evaluates x_Steps.
func (r *runner) adam(init *imageio.Image) error {
	p := r.p
	a, err := newAdamStepper(p, init, r.cfg.LearningRate)
	if err != nil {
		return err
	}
	defer a.finalize()
	for i := 1; i <= r.cfg.Steps+1; i++ {
		cur, err := a.image()
		if err != nil {
			return fmt.Errorf("gatys: reading the image at step %d: %w", i-1, err)
		}
		if testLossHook != nil {
			testLossHook.atStep(p.ctx, i-1)
		}
		update := i <= r.cfg.Steps
		if err := p.resample(i); err != nil {
			return fmt.Errorf("gatys: sampling positions for step %d: %w", i, err)
		}
		t0 := time.Now()
		vec, sum, err := a.run(update)
		if err != nil {
			return fmt.Errorf("gatys: step %d: %w", i, err)
		}
		dt := time.Since(t0)
		if more, err := r.adamStepDone(i, vec, sum, dt, cur, update); err != nil || !more {
			return err
		}
	}
	return nil
}

// adamStepDone records Adam execution i (1-based), which evaluated x_{i−1} in dt (vec: its loss terms; sum: the
// updated image's checksum, when update): the report of step i−1 (a non-finite loss term stops the run with
// the last good image), the step time, and an update that overflowed. more is false after the final,
// forward-only execution. The untiled and the tiled Adam loops share it.
func (r *runner) adamStepDone(i int, vec []float32, sum float64, dt time.Duration, cur *imageio.Image, update bool) (more bool, err error) {
	rep := r.report(i-1, vec, dt, 1)
	if term, v, bad := nonFinite(rep, r.cfg.StyleLayers); bad {
		return false, &NaNError{Step: i - 1, Term: term, Value: v, LastGood: r.lastGood()}
	}
	if err := r.accept(rep, cur); err != nil {
		return false, err
	}
	if !update {
		return false, nil
	}
	r.stepSecs = append(r.stepSecs, dt.Seconds())
	if math.IsNaN(sum) || math.IsInf(sum, 0) {
		return false, &NaNError{Step: i, Term: "the image (after the Adam update: the gradient overflowed)", Value: sum, LastGood: r.lastGood()}
	}
	return true, nil
}

// lbfgs runs cfg.Steps L-BFGS iterations on the pixels, projected onto [0,1] (lbfgsLoop).
func (r *runner) lbfgs(init *imageio.Image) error {
	e, err := newLBFGSEval(r)
	if err != nil {
		return err
	}
	if e.exec != nil {
		defer e.exec.Finalize()
	}
	l := &lbfgsLoop{r: r, e: e, x: make([]float64, len(init.Pix))}
	for i, v := range init.Pix {
		l.x[i] = float64(v)
	}
	if err := l.start(); err != nil {
		return err
	}
	l.opt = NewLBFGS(LBFGSOptions{History: r.cfg.LBFGSHistory}, projectUnit)
	for iter := 1; iter <= r.cfg.Steps; iter++ {
		if done, err := l.step(iter); done || err != nil {
			return err
		}
	}
	return nil
}

// lbfgsEval is the L-BFGS loop's EvalFunc: the loss and its gradient at a host point, from one compiled graph.
// Per step it keeps the terms vector of every evaluation (vecs, in call order) and the first non-finite term or
// gradient value met (firstBad; the evaluation then reports f = NaN, which the line search treats as too long a
// step); err keeps an execution error.
type lbfgsEval struct {
	r        *runner
	exec     *context.Exec
	buf      *imageio.Image
	iter     int // the step being evaluated
	vecs     [][]float32
	firstBad *NaNError
	err      error
}

func newLBFGSEval(r *runner) (*lbfgsEval, error) {
	p := r.p
	if p.tiled != nil {
		return &lbfgsEval{r: r, buf: imageio.New(p.wd, p.h)}, nil
	}
	exec, err := context.NewExec(p.b, p.ctx, func(ctx *context.Context, x *Node) []*Node {
		total, vec := p.terms(ctx, x)
		return []*Node{vec, Gradient(total, x)[0]}
	})
	if err != nil {
		return nil, fmt.Errorf("gatys: building the loss and gradient: %w", err)
	}
	return &lbfgsEval{r: r, exec: exec, buf: imageio.New(p.wd, p.h)}, nil
}

// startStep clears the per-step record for step iter.
func (e *lbfgsEval) startStep(iter int) { e.iter, e.firstBad, e.vecs = iter, nil, nil }

// eval returns f(xs) and ∇f(xs) (an EvalFunc).
func (e *lbfgsEval) eval(xs []float64) (float64, []float64, error) {
	for i, v := range xs {
		e.buf.Pix[i] = float32(v)
	}
	var vec, g32 []float32
	var err error
	if t := e.r.p.tiled; t != nil {
		if vec, g32, err = t.eval(e.buf.Pix, true); err != nil {
			e.err = err
			return 0, nil, err
		}
	} else {
		if testLossHook != nil {
			testLossHook.atStep(e.r.p.ctx, e.iter)
		}
		outs, err := e.exec.Exec(e.buf.Tensor())
		if err != nil {
			e.err = err
			return 0, nil, err
		}
		if vec, err = flat32(outs[0]); err != nil {
			return 0, nil, err
		}
		if g32, err = flat32(outs[1]); err != nil {
			return 0, nil, err
		}
	}
	e.vecs = append(e.vecs, vec)
	rep := e.r.report(e.iter, vec, 0, 0)
	if term, v, bad := nonFinite(rep, e.r.cfg.StyleLayers); bad {
		e.noteBad(term, v)
		return math.NaN(), nil, nil
	}
	g := make([]float64, len(xs))
	for i, v := range g32 {
		g[i] = float64(v)
		if math.IsNaN(g[i]) || math.IsInf(g[i], 0) {
			e.noteBad("the gradient", g[i])
			return math.NaN(), nil, nil
		}
	}
	return float64(vec[0]), g, nil
}

// noteBad records the first non-finite value of the step.
func (e *lbfgsEval) noteBad(term string, v float64) {
	if e.firstBad == nil {
		e.firstBad = &NaNError{Step: e.iter, Term: term, Value: v}
	}
}

// projectUnit projects pixels onto [0,1], rounded to float32 (the values the graph sees).
func projectUnit(xs []float64) {
	for i, v := range xs {
		xs[i] = float64(float32(min(1, max(0, v))))
	}
}

// lbfgsLoop is the state of an L-BFGS run between steps: the point x with its loss f and gradient g.
type lbfgsLoop struct {
	r   *runner
	e   *lbfgsEval
	opt *LBFGS
	x   []float64
	f   float64
	g   []float64
}

// image is a copy of the current point as an image.
func (l *lbfgsLoop) image() *imageio.Image {
	im := imageio.New(l.r.p.wd, l.r.p.h)
	for i, v := range l.x {
		im.Pix[i] = float32(v)
	}
	return im
}

// start evaluates the initial image (step 0) and reports it.
func (l *lbfgsLoop) start() error {
	r, e := l.r, l.e
	t0 := time.Now()
	if err := r.p.resample(0); err != nil {
		return fmt.Errorf("gatys: sampling positions for step 0: %w", err)
	}
	var err error
	if l.f, l.g, err = e.eval(l.x); err != nil {
		return fmt.Errorf("gatys: step 0: %w", err)
	}
	if e.firstBad != nil {
		e.firstBad.LastGood = -1
		return e.firstBad
	}
	return r.accept(r.report(0, e.vecs[0], time.Since(t0), 1), l.image())
}

// step runs iteration iter: new sampled positions if the loss samples (then f and g at x are evaluated again, a
// new function), one LBFGS.Step, the report of the accepted point. done is true when L-BFGS converged (the run
// ends without error, Result.StoppedEarly says so).
func (l *lbfgsLoop) step(iter int) (done bool, err error) {
	r, e, p := l.r, l.e, l.r.p
	e.startStep(iter)
	t0 := time.Now()
	reEvals := 0
	if p.sampling() {
		if err := p.resample(iter); err != nil {
			return false, fmt.Errorf("gatys: sampling positions for step %d: %w", iter, err)
		}
		if l.f, l.g, err = e.eval(l.x); err != nil {
			return false, fmt.Errorf("gatys: step %d: %w", iter, err)
		}
		if e.firstBad != nil {
			e.firstBad.LastGood = r.lastGood()
			return false, e.firstBad
		}
		e.vecs, reEvals = nil, 1
	}
	sr, err := l.opt.Step(l.x, l.f, l.g, e.eval)
	dt := time.Since(t0)
	if e.err != nil {
		return false, fmt.Errorf("gatys: step %d: %w", iter, e.err)
	}
	if errors.Is(err, ErrNoDecrease) {
		if e.firstBad != nil {
			e.firstBad.LastGood = r.lastGood()
			return false, e.firstBad
		}
		r.res.StoppedEarly = fmt.Sprintf("L-BFGS converged at step %d: %v", iter-1, err)
		return true, nil
	}
	if err != nil {
		return false, fmt.Errorf("gatys: step %d: %w", iter, err)
	}
	r.stepSecs = append(r.stepSecs, dt.Seconds())
	l.f, l.g = sr.F, sr.G
	return false, r.accept(r.report(iter, e.vecs[sr.Accepted-1], dt, sr.Evals+reEvals), l.image())
}
