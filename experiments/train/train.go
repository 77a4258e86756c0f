package train

import (
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/gomlx/gomlx/backends"
	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:staticcheck // GoMLX code reads best with the graph ops unqualified.
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/gomlx/gomlx/pkg/ml/train/optimizers"
	"github.com/stylelab/stylelab/backends/backend"
	"github.com/stylelab/stylelab/experiments/adain"
	"github.com/stylelab/stylelab/experiments/imageio"
	"github.com/stylelab/stylelab/experiments/losses"
	"github.com/stylelab/stylelab/experiments/transformer"
	"github.com/stylelab/stylelab/experiments/vgg"
)

// Inputs are what a training run reads.
type Inputs struct {
	// ContentFiles are the content photos (see ContentFiles).
	ContentFiles []string
	// Styles are the style images, with their SHA-256 (recorded in checkpoints).
	Styles []StyleRef
	// Weights are the loss network's weights (and the adain encoder's).
	Weights *vgg.Weights
}

// StepReport gives the loss terms of one training step (the batch evaluated in update Step, before it is
// applied). Content, Style and TV are unweighted batch means; Total is the weighted loss that is minimised.
// StyleByStyle[k] and ContentByStyle[k] are the means over the batch's examples of style k (NaN when the batch
// has none).
type StepReport struct {
	Step                         int
	Total, Content, Style, TV    float64
	StyleByStyle, ContentByStyle []float64
	StepTime, Elapsed            time.Duration
}

// Hooks receive progress; an error from one stops training and is returned.
type Hooks struct {
	OnStep func(StepReport) error
	// OnSample gets the grid of the sample contents (rows) stylised with every style (columns; the first column
	// is the content, the first row the styles).
	OnSample func(step int, grid *imageio.Image) error
	// OnCheckpoint gets the checkpoint bytes every Config.CheckpointEvery steps and at the end (final = true):
	// the last step, or the step after which Stop asked to stop.
	OnCheckpoint func(step int, data []byte, final bool) error
	// Stop, when set, is asked after each completed step (after OnStep and OnSample) whether to stop there. A
	// non-nil error stops training at that step boundary: a checkpoint of the step (Adam state included, so
	// --resume continues at step+1) goes to OnCheckpoint with final = true and becomes Result.Checkpoint, and Run
	// returns the error with the partial Result.
	Stop func(step int) error
}

// Result is what a finished (or stopped) training run produced.
type Result struct {
	Header Header
	// Checkpoint is the last checkpoint's bytes (the final one when training completed).
	Checkpoint []byte
	// First and Last are the reports of the first step of this run (after a resume: the first resumed step) and
	// of the last one.
	First, Last StepReport
	// SecondsPerStep is the mean wall time per step after the first (which includes compilation).
	SecondsPerStep float64
	// Samples is the last sample grid.
	Samples *imageio.Image
	Backend backend.Info
}

// StyleName is a style's display name: its file name without the folder and extension.
func StyleName(path string) string {
	b := filepath.Base(path)
	return strings.TrimSuffix(b, filepath.Ext(b))
}

// Run trains a network as cfg says on in, calling hooks as it goes. With resume (a checkpoint of the same
// architecture, loss network, styles and loss), training continues from resume's step with its weights and Adam
// state, drawing exactly the batches an uninterrupted run would, at cfg's learning rate (the rate stored in the
// checkpoint is replaced, so a resume may change it).
func Run(cfg Config, in Inputs, resume *Checkpoint, hooks Hooks) (*Result, error) {
	start := time.Now()
	cfg, err := cfg.Resolve(len(in.Styles))
	if err != nil {
		return nil, err
	}
	if len(in.ContentFiles) == 0 {
		return nil, errors.New("train: no content images (see train.ContentFiles)")
	}
	if err := in.Weights.Validate(); err != nil {
		return nil, fmt.Errorf("train: %w", err)
	}
	b, info, err := backend.New()
	if err != nil {
		return nil, fmt.Errorf("train: %w", err)
	}
	h := newHeader(cfg, in)
	first := 1
	ctx := context.New()
	if resume != nil {
		if err := checkResume(cfg, &h, resume); err != nil {
			return nil, err
		}
		first = resume.Header.Step + 1
		ctx.SetLoader(resume.withLearningRate(cfg.LearningRate))
	}
	t, err := newTrainer(b, ctx, cfg, in)
	if err != nil {
		return nil, err
	}
	defer t.finalize()
	res := &Result{Backend: info}
	var secs []float64
	for step := first; step <= cfg.Steps; step++ {
		t0 := time.Now()
		rep, err := t.step(step)
		if err != nil {
			return res, fmt.Errorf("train: step %d: %w", step, err)
		}
		rep.StepTime, rep.Elapsed = time.Since(t0), time.Since(start)
		secs = append(secs, rep.StepTime.Seconds())
		if step == first {
			res.First = rep
		}
		res.Last = rep
		if math.IsNaN(rep.Total) || math.IsInf(rep.Total, 0) {
			return res, fmt.Errorf("train: step %d: the loss became %v; stopped (lower --lr or the weights)", step, rep.Total)
		}
		if hooks.OnStep != nil {
			if err := hooks.OnStep(rep); err != nil {
				return res, err
			}
		}
		last := step == cfg.Steps
		if last || (cfg.SampleEvery > 0 && step%cfg.SampleEvery == 0) {
			grid, err := t.samples()
			if err != nil {
				return res, fmt.Errorf("train: samples at step %d: %w", step, err)
			}
			res.Samples = grid
			if hooks.OnSample != nil {
				if err := hooks.OnSample(step, grid); err != nil {
					return res, err
				}
			}
		}
		var stop error
		if hooks.Stop != nil && !last {
			stop = hooks.Stop(step)
		}
		if last || stop != nil || (cfg.CheckpointEvery > 0 && step%cfg.CheckpointEvery == 0) {
			h.Step = step
			data, err := Encode(ctx, &h, true)
			if err != nil {
				return res, fmt.Errorf("train: checkpoint at step %d: %w", step, err)
			}
			res.Checkpoint, res.Header = data, h
			if hooks.OnCheckpoint != nil {
				if err := hooks.OnCheckpoint(step, data, last || stop != nil); err != nil {
					return res, errors.Join(stop, err)
				}
			}
		}
		if stop != nil {
			res.SecondsPerStep = meanAfterFirst(secs)
			return res, stop
		}
	}
	res.SecondsPerStep = meanAfterFirst(secs)
	return res, nil
}

// meanAfterFirst is the mean of secs without its first element (the step that compiled), or secs[0] alone.
func meanAfterFirst(secs []float64) float64 {
	if len(secs) > 1 {
		secs = secs[1:]
	}
	m := 0.0
	for _, s := range secs {
		m += s / float64(len(secs))
	}
	return m
}

// trainer holds the compiled step and sample graphs.
type trainer struct {
	b        backends.Backend
	ctx      *context.Context
	cfg      Config
	in       Inputs
	contents *pool
	styles   *pool // adain: style crops
	ns       int
	stepExec *context.Exec
	sampExec *context.Exec
	sampIn   []any // inputs of the sample graph
	sampCont []*imageio.Image
	sampSty  []*imageio.Image
}

func (t *trainer) finalize() {
	if t.stepExec != nil {
		t.stepExec.Finalize()
	}
	if t.sampExec != nil {
		t.sampExec.Finalize()
	}
}

// newTrainer prepares training: the content pool and the sample images (loadData), then the compiled step and
// sample graphs of the kind (buildAdaIN or buildTransformer), which create the network's variables in ctx.
func newTrainer(b backends.Backend, ctx *context.Context, cfg Config, in Inputs) (*trainer, error) {
	t := &trainer{b: b, ctx: ctx, cfg: cfg, in: in, ns: len(in.Styles)}
	if err := t.loadData(); err != nil {
		return nil, err
	}
	lossFn, err := losses.Style(cfg.Loss, cfg.LossOptions)
	if err != nil {
		return nil, fmt.Errorf("train: %w", err)
	}
	opt := optimizers.Adam().LearningRate(cfg.LearningRate).Done()
	if cfg.Kind == KindAdaIN {
		err = t.buildAdaIN(lossFn, opt)
	} else {
		err = t.buildTransformer(lossFn, opt)
	}
	if err != nil {
		return nil, err
	}
	return t, nil
}

// stylePaths are the style images' files.
func (t *trainer) stylePaths() []string {
	out := make([]string, t.ns)
	for i, s := range t.in.Styles {
		out[i] = s.Path
	}
	return out
}

// centreSquares loads each file and takes its centre square at side×side (CenterSquare); errors are prefixed by
// label(i).
func centreSquares(paths []string, side int, label func(i int) string) ([]*imageio.Image, error) {
	out := make([]*imageio.Image, 0, len(paths))
	for i, p := range paths {
		im, err := imageio.Load(p, 0)
		if err == nil {
			im, err = CenterSquare(im, side)
		}
		if err != nil {
			return nil, fmt.Errorf("train: %s%w", label(i), err)
		}
		out = append(out, im)
	}
	return out, nil
}

// loadData builds the content pool and the sample images: the first two content photos and every style, centre
// squares at SampleSize.
func (t *trainer) loadData() error {
	var err error
	if t.contents, err = newPool(t.in.ContentFiles, t.cfg.Size); err != nil {
		return err
	}
	if t.sampCont, err = centreSquares(t.in.ContentFiles[:min(2, len(t.in.ContentFiles))], t.cfg.SampleSize,
		func(int) string { return "" }); err != nil {
		return err
	}
	t.sampSty, err = centreSquares(t.stylePaths(), t.cfg.SampleSize, styleLabel)
	return err
}

func styleLabel(i int) string { return fmt.Sprintf("style %d: ", i+1) }

// buildAdaIN initialises the decoder, makes the style-crop pool, and compiles the AdaIN training step (content
// and style crops in, the decoder trained to reproduce AdaIN(f(c), f(s)) in the encoder's space) and the sample
// graph (every sample content with every sample style).
func (t *trainer) buildAdaIN(lossFn losses.StyleLoss, opt optimizers.Interface) error {
	cfg, w := t.cfg, t.in.Weights
	a := cfg.AdaINArch()
	if err := adain.Init(t.ctx, a, cfg.Seed); err != nil {
		return err
	}
	var err error
	if t.styles, err = newPool(t.stylePaths(), cfg.Size); err != nil {
		return err
	}
	layers := a.StyleLayers()
	enc := a.EncoderLayer
	t.stepExec, err = context.NewExec(t.b, t.ctx, func(ctx *context.Context, c, s, cw, sw *Node) []*Node {
		fc := adain.Encode(ctx, w, cfg.Pool, c, []string{enc})[enc]
		fs := adain.Encode(ctx, w, cfg.Pool, s, layers)
		tgt := StopGradient(adain.Target(fc, []*Node{fs[enc]}, []float64{1}, 1))
		y := adain.Decode(ctx, a, tgt)
		fy := adain.Encode(ctx, w, cfg.Pool, y, layers)
		content := losses.ContentPerExample(fy[enc], tgt)
		style := perExampleStyle(lossFn, fy, fs, layers)
		return objective(ctx, opt, cfg, y, content, style, cw, sw)
	})
	if err != nil {
		return fmt.Errorf("train: building the AdaIN step: %w", err)
	}
	t.sampExec, err = context.NewExec(t.b, t.ctx, func(ctx *context.Context, c, s *Node) *Node {
		fc := adain.Encode(ctx, w, cfg.Pool, c, []string{enc})[enc]
		fs := adain.Encode(ctx, w, cfg.Pool, s, []string{enc})[enc]
		return adain.Decode(ctx, a, adain.Target(fc, []*Node{fs}, []float64{1}, 1))
	})
	if err != nil {
		return fmt.Errorf("train: building the sample graph: %w", err)
	}
	var cs, ss []*imageio.Image
	for _, c := range t.sampCont {
		for _, s := range t.sampSty {
			cs, ss = append(cs, c), append(ss, s)
		}
	}
	n := len(cs)
	t.sampIn = []any{tensors.FromFlatDataAndDimensions(batchPix(cs), n, cfg.SampleSize, cfg.SampleSize, 3),
		tensors.FromFlatDataAndDimensions(batchPix(ss), n, cfg.SampleSize, cfg.SampleSize, 3)}
	return nil
}

// buildTransformer initialises the transformer, stores the style targets (styleTargets), and compiles the
// training step (content crops with their styles in, the per-example losses of package doc's formula) and the
// sample graph (every sample content with every style, one-hot).
func (t *trainer) buildTransformer(lossFn losses.StyleLoss, opt optimizers.Interface) error {
	cfg, w := t.cfg, t.in.Weights
	arch := cfg.Arch(t.ns)
	if err := transformer.Init(t.ctx, arch, cfg.Seed); err != nil {
		return err
	}
	targets, err := t.styleTargets()
	if err != nil {
		return err
	}
	layers := cfg.StyleLayers
	all := slices.Clone(cfg.ContentLayers)
	for _, l := range layers {
		if !slices.Contains(all, l) {
			all = append(all, l)
		}
	}
	t.stepExec, err = context.NewExec(t.b, t.ctx, func(ctx *context.Context, x, mix, sidx, cw, sw *Node) []*Node {
		g := x.Graph()
		y := transformer.ApplyWith(ctx, arch, x, mix, transformer.Options{CheckpointActivations: cfg.CheckpointActivations})
		fy := vgg.Features(ctx, w, cfg.Pool, y, all)
		fx := vgg.Features(ctx, w, cfg.Pool, x, cfg.ContentLayers)
		content := ScalarZero(g, y.DType())
		for _, l := range cfg.ContentLayers {
			content = Add(content, losses.ContentPerExample(fy[l], StopGradient(fx[l])))
		}
		content = DivScalar(content, float64(len(cfg.ContentLayers)))
		tg := map[string]*Node{}
		for i, l := range layers {
			tg[l] = Gather(targets[i].ValueGraph(g), sidx) // [B,h,w,C]: each example's own style
		}
		style := perExampleStyle(lossFn, fy, tg, layers)
		return objective(ctx, opt, cfg, y, content, style, cw, sw)
	})
	if err != nil {
		return fmt.Errorf("train: building the training step: %w", err)
	}
	t.sampExec, err = context.NewExec(t.b, t.ctx, func(ctx *context.Context, x, mix *Node) *Node {
		return transformer.Apply(ctx, arch, x, mix)
	})
	if err != nil {
		return fmt.Errorf("train: building the sample graph: %w", err)
	}
	var xs []*imageio.Image
	var mix [][]float32
	for _, c := range t.sampCont {
		for k := range t.ns {
			xs = append(xs, c)
			mix = append(mix, transformer.OneHot(1, t.ns, k)[0])
		}
	}
	t.sampIn = []any{tensors.FromFlatDataAndDimensions(batchPix(xs), len(xs), cfg.SampleSize, cfg.SampleSize, 3), mix}
	return nil
}

// styleTargets computes the loss network's features of the style images (centre squares at StyleSize) once and
// stores them as untrained variables under /targets, one [S,h,w,C] per style layer (never saved in checkpoints).
func (t *trainer) styleTargets() ([]*context.Variable, error) {
	cfg, w := t.cfg, t.in.Weights
	stys, err := centreSquares(t.stylePaths(), cfg.StyleSize, styleLabel)
	if err != nil {
		return nil, err
	}
	layers := cfg.StyleLayers
	fe, err := context.NewExec(t.b, t.ctx, func(ctx *context.Context, x *Node) []*Node {
		f := vgg.Features(ctx, w, cfg.Pool, x, layers)
		out := make([]*Node, len(layers))
		for i, l := range layers {
			out[i] = f[l]
		}
		return out
	})
	if err != nil {
		return nil, fmt.Errorf("train: style features: %w", err)
	}
	feats, err := fe.Exec(tensors.FromFlatDataAndDimensions(batchPix(stys), t.ns, cfg.StyleSize, cfg.StyleSize, 3))
	fe.Finalize()
	if err != nil {
		return nil, fmt.Errorf("train: style features: %w", err)
	}
	tctx := t.ctx.In("targets").Checked(false)
	targets := make([]*context.Variable, len(layers))
	for i, l := range layers {
		targets[i] = tctx.VariableWithValue("style_"+l, feats[i]).SetTrainable(false)
	}
	return targets, nil
}

// perExampleStyle is Σ_l λ_l PerExample(L, F_l, S_l), λ_l = 1/len(layers): shape [B].
func perExampleStyle(L losses.StyleLoss, f, s map[string]*Node, layers []string) *Node {
	var style *Node
	for _, l := range layers {
		v := MulScalar(losses.PerExample(L, f[l], s[l]), 1/float64(len(layers)))
		if style == nil {
			style = v
		} else {
			style = Add(style, v)
		}
	}
	return style
}

// objective adds the weighted total, applies Adam, and returns total, content [B], style [B], tv.
func objective(ctx *context.Context, opt optimizers.Interface, cfg Config, y, content, style, cw, sw *Node) []*Node {
	tv := losses.TotalVariation(y)
	per := Add(MulScalar(Mul(content, cw), cfg.ContentWeight), MulScalar(Mul(style, sw), cfg.StyleWeight))
	total := Add(ReduceAllMean(per), MulScalar(tv, cfg.TVWeight))
	opt.UpdateGraph(ctx, y.Graph(), total)
	return []*Node{total, content, style, tv}
}

// step draws step's batch and runs one update.
func (t *trainer) step(step int) (StepReport, error) {
	cfg := t.cfg
	rng := stepRNG(cfg.Seed, step)
	bsz := cfg.Batch
	xs := make([]*imageio.Image, bsz)
	for i := range xs {
		var err error
		if xs[i], err = t.contents.sample(rng); err != nil {
			return StepReport{}, err
		}
	}
	sidx := styleChoice(rng, bsz, t.ns)
	cw, sw := make([]float32, bsz), make([]float32, bsz)
	for i, k := range sidx {
		cw[i], sw[i] = 1, 1
		if cfg.Kind != KindAdaIN {
			cw[i], sw[i] = float32(cfg.ContentWeights[k]), float32(cfg.StyleWeights[k])
		}
	}
	x := tensors.FromFlatDataAndDimensions(batchPix(xs), bsz, cfg.Size, cfg.Size, 3)
	var outs []*tensors.Tensor
	var err error
	if cfg.Kind == KindAdaIN {
		ss := make([]*imageio.Image, bsz)
		for i, k := range sidx {
			var err error
			if ss[i], err = t.styles.sampleFrom(rng, k); err != nil {
				return StepReport{}, err
			}
		}
		s := tensors.FromFlatDataAndDimensions(batchPix(ss), bsz, cfg.Size, cfg.Size, 3)
		outs, err = t.stepExec.Exec(x, s, cw, sw)
	} else {
		mix := make([][]float32, bsz)
		idx := make([][]int32, bsz)
		for i, k := range sidx {
			mix[i] = transformer.OneHot(1, t.ns, k)[0]
			idx[i] = []int32{int32(k)}
		}
		outs, err = t.stepExec.Exec(x, mix, idx, cw, sw)
	}
	if err != nil {
		return StepReport{}, err
	}
	defer func() {
		for _, o := range outs {
			o.FinalizeAll()
		}
	}()
	content, style := outs[1].Value().([]float32), outs[2].Value().([]float32)
	rep := StepReport{Step: step, Total: float64(outs[0].Value().(float32)), TV: float64(outs[3].Value().(float32)),
		StyleByStyle: make([]float64, t.ns), ContentByStyle: make([]float64, t.ns)}
	count := make([]int, t.ns)
	for i, k := range sidx {
		rep.Content += float64(content[i]) / float64(bsz)
		rep.Style += float64(style[i]) / float64(bsz)
		rep.ContentByStyle[k] += float64(content[i])
		rep.StyleByStyle[k] += float64(style[i])
		count[k]++
	}
	for k := range t.ns {
		if count[k] == 0 {
			rep.ContentByStyle[k], rep.StyleByStyle[k] = math.NaN(), math.NaN()
		} else {
			rep.ContentByStyle[k] /= float64(count[k])
			rep.StyleByStyle[k] /= float64(count[k])
		}
	}
	return rep, nil
}

// samples stylises the sample contents with every style and lays them out as a grid.
func (t *trainer) samples() (*imageio.Image, error) {
	outs, err := t.sampExec.Exec(t.sampIn...)
	if err != nil {
		return nil, err
	}
	defer outs[0].FinalizeAll()
	s := t.cfg.SampleSize
	var flat []float32
	tensors.ConstFlatData(outs[0], func(v []float32) { flat = append(flat, v...) })
	header := []*imageio.Image{imageio.New(s, s)}
	for i := range header[0].Pix {
		header[0].Pix[i] = 1
	}
	header = append(header, t.sampSty...)
	rows := [][]*imageio.Image{header}
	n := 0
	for _, c := range t.sampCont {
		row := []*imageio.Image{c}
		for range t.ns {
			im := imageio.New(s, s)
			copy(im.Pix, flat[n*s*s*3:(n+1)*s*s*3])
			row = append(row, im)
			n++
		}
		rows = append(rows, row)
	}
	return Grid(rows, 2), nil
}

// newHeader is the checkpoint header of a run of cfg (resolved) on in, at step 0.
func newHeader(cfg Config, in Inputs) Header {
	h := Header{Kind: cfg.Kind, Styles: in.Styles, Loss: cfg.Loss, Config: cfg,
		LossNet: LossNet{Source: in.Weights.Source, SHA256: in.Weights.SHA256, Pool: cfg.Pool}}
	if cfg.Kind == KindAdaIN {
		a := cfg.AdaINArch()
		h.Architecture.AdaIN = &a
	} else {
		a := cfg.Arch(len(in.Styles))
		h.Architecture.Transformer = &a
	}
	return h
}

func checkResume(cfg Config, h *Header, resume *Checkpoint) error {
	if err := resume.Header.SameArchitecture(h); err != nil {
		return fmt.Errorf("--resume %s: the checkpoint has %v: resume only a run of the same network (or start a new one without --resume)", resume.Path, err)
	}
	if !resume.Header.AdamState {
		return fmt.Errorf("--resume %s: the checkpoint has no Adam state (it was saved for inference only)", resume.Path)
	}
	if resume.Header.Step >= cfg.Steps {
		return fmt.Errorf("--resume %s: the checkpoint is at step %d, and --steps is %d: ask for more steps than it has done", resume.Path, resume.Header.Step, cfg.Steps)
	}
	return nil
}

// CheckResume reports whether a training run of cfg on in can resume from ck (same kind, architecture, loss
// network, styles and loss; Adam state present; fewer steps done than cfg.Steps), before anything is started.
func CheckResume(cfg Config, in Inputs, ck *Checkpoint) error {
	cfg, err := cfg.Resolve(len(in.Styles))
	if err != nil {
		return err
	}
	h := newHeader(cfg, in)
	return checkResume(cfg, &h, ck)
}
