package gatys

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"time"

	"github.com/gomlx/gomlx/backends"
	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:staticcheck // GoMLX code reads best with the graph ops unqualified.
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/stylelab/stylelab/backends/backend"
	"github.com/stylelab/stylelab/backends/cpubackend"
	"github.com/stylelab/stylelab/experiments/imageio"
	"github.com/stylelab/stylelab/experiments/vgg"
)

// TileReport is the progress of a tiled stage, given before each tile of each pass (RunGuidedTiles).
type TileReport struct {
	Size  int // the stage's longer side
	Step  int // the step being computed (Adam: its execution Step evaluates the image of step Step−1, reported after it)
	Steps int // the stage's steps
	Pass  int // 1 or 2
	Tile  int // 1-based
	Tiles int
	// ETA estimates the time left in this stage, from the tiles done so far (a pass-2 tile, forward and
	// backward, counted as 3 pass-1 tiles); 0 until a tile is done.
	ETA time.Duration
}

// SizeError reports a size whose evaluation does not fit in memory even at the smallest tile.
type SizeError struct {
	W, H     int
	MinTile  int
	Estimate int64 // bytes, of one tile at MinTile
	Err      error // the backend's refusal
}

func (e *SizeError) Error() string {
	return fmt.Sprintf("gatys: a %d×%d image does not fit in memory even tiled at the smallest tile (%d px): one tile needs an estimated %.2f GB (%v)",
		e.W, e.H, e.MinTile, float64(e.Estimate)/(1<<30), e.Err)
}

// probeFits reports whether the loss-and-gradient evaluation of an h×w image (forward and backward through the
// loss network's layers; the losses' statistics are small next to the feature maps) passes the backend's memory
// check at compile time. Backends without a check always fit. est is the estimate of the refusal, or 0.
func probeFits(b backends.Backend, cfg Config, w *vgg.Weights, layers []string, h, wd int) (fits bool, est int64, err error) {
	if _, ok := b.(*cpubackend.Backend); !ok {
		return true, 0, nil
	}
	e, err := context.NewExec(b, context.New(), func(ctx *context.Context, x *Node) *Node {
		f := vgg.Features(ctx, w, cfg.Pool, x, layers)
		loss := ScalarZero(x.Graph(), x.DType())
		for _, l := range layers {
			loss = Add(loss, ReduceAllSum(Square(f[l])))
		}
		return Gradient(loss, x)[0]
	})
	if err != nil {
		return false, 0, err
	}
	defer e.Finalize()
	err = e.PreCompile(tensors.FromShape(shapesF32(1, h, wd, 3)))
	var me *cpubackend.MemoryError
	if errors.As(err, &me) {
		return false, me.Estimate.PeakBytes, me
	}
	return err == nil, 0, err
}

// autoProbeMin: "auto" does not probe images of at most autoProbeMin² pixels, which always run untiled (the
// untiled VGG-19 loss and gradient of a 512² image is estimated at about 2 GB on the CPU backend).
const autoProbeMin = 512

// chooseTile resolves cfg.Tile for an h×w generated image: 0 for untiled, else the tile size. "auto" tiles only
// when the untiled evaluation does not fit, with the largest power-of-two-ish tile (halving from half the longer
// side, in multiples of the alignment) whose padded tile fits.
func chooseTile(b backends.Backend, cfg Config, w *vgg.Weights, h, wd int) (int, error) {
	t, err := ParseTile(cfg.Tile)
	if err != nil || t >= 0 {
		return t, err
	}
	net := w.Net
	if net == "" {
		net = vgg.VGG19
	}
	layers := append(slices.Clone(cfg.ContentLayers), cfg.StyleLayers...)
	if h*wd <= autoProbeMin*autoProbeMin {
		return 0, nil
	}
	fits, _, err := probeFits(b, cfg, w, layers, h, wd)
	if fits {
		return 0, nil
	}
	var me *cpubackend.MemoryError
	if !errors.As(err, &me) {
		return 0, err
	}
	halo, align := tileHalo(net, layers)
	lo := max(halo, align)
	var lastErr error
	var lastEst int64
	for t := max(h, wd) / 2 / align * align; t >= lo; t = t / 2 / align * align {
		ok, est, err := probeFits(b, cfg, w, layers, min(h, t+2*halo), min(wd, t+2*halo))
		if ok {
			return t, nil
		}
		if !errors.As(err, &me) {
			return 0, err
		}
		lastErr, lastEst = err, est
		if t/2/align*align < lo && t > lo {
			t = 2 * lo // try the smallest tile last
		}
	}
	if lastErr == nil {
		_, lastEst, lastErr = probeFits(b, cfg, w, layers, min(h, lo+2*halo), min(wd, lo+2*halo))
		if lastErr == nil {
			return lo, nil
		}
	}
	return 0, &SizeError{W: wd, H: h, MinTile: lo, Estimate: lastEst, Err: lastErr}
}

// runTiledStage is runStage's tiled path: the same loop and reports, the loss and gradient from tiles.
func runTiledStage(b backends.Backend, r *runner, work *imageio.Image, ws []*imageio.Image, regions []regionTerm, init *imageio.Image, w *vgg.Weights, tile int, onTile func(TileReport) error) error {
	tp, err := newTiledProblem(b, r.cfg, w, work, ws, regions, tile)
	if err != nil {
		return err
	}
	defer tp.finalize()
	if onTile != nil {
		n := len(tp.tiles)
		total := float64(r.cfg.Steps*4*n + n) // units: pass-1 tiles; an evaluation with gradient is 4n
		var t0 time.Time
		done := 0.0
		tp.onTile = func(pass, i, _ int) error {
			if t0.IsZero() {
				t0 = time.Now()
			}
			rep := TileReport{Size: max(tp.W, tp.H), Step: tp.step, Steps: r.cfg.Steps, Pass: pass, Tile: i + 1, Tiles: n}
			if done > 0 {
				rep.ETA = time.Duration(float64(time.Since(t0)) / done * max(0, total-done))
			}
			if pass == 1 {
				done++
			} else {
				done += 3
			}
			return onTile(rep)
		}
	}
	r.p.tiled = tp
	tl := tp.Tiling()
	r.res.Tiling = &tl
	r.res.Config.Tile = strconv.Itoa(tile)
	if r.cfg.Optimizer == "lbfgs" {
		return r.lbfgs(init)
	}
	return r.tiledAdam(tp, init)
}

// tiledAdam is adam on the tiled evaluation: execution i evaluates x_{i−1} (positions of step i) and applies
// hostAdam; the last evaluation of x_Steps is forward only (pass 1).
func (r *runner) tiledAdam(tp *tiledProblem, init *imageio.Image) error {
	x := slices.Clone(init.Pix)
	opt := &hostAdam{lr: float32(r.cfg.LearningRate)}
	for i := 1; i <= r.cfg.Steps+1; i++ {
		cur := imageio.New(tp.W, tp.H)
		copy(cur.Pix, x)
		update := i <= r.cfg.Steps
		tp.step = i
		t0 := time.Now()
		vec, g, err := tp.eval(x, update)
		if err != nil {
			return fmt.Errorf("gatys: step %d: %w", i, err)
		}
		sum := 0.0
		if update {
			sum = opt.step(x, g)
		}
		dt := time.Since(t0)
		if more, err := r.adamStepDone(i, vec, sum, dt, cur, update); err != nil || !more {
			return err
		}
	}
	return nil
}

// CheckTiling resolves cfg.Tile (resolved config) at every scale of a run on content (already at cfg.Size)
// before the run starts, so that a tile below the halo, or a size that does not fit even at the smallest tile,
// is refused with nothing run or written. It returns the tile of each scale (0: untiled).
func CheckTiling(cfg Config, w *vgg.Weights, content *imageio.Image) ([]int, error) {
	t, err := ParseTile(cfg.Tile)
	if err != nil {
		return nil, err
	}
	net := w.Net
	if net == "" {
		net = vgg.VGG19
	}
	if t > 0 {
		if err := checkTile(t, cfg, net); err != nil {
			return nil, err
		}
	}
	sizes := cfg.Scales
	if len(sizes) == 0 {
		sizes = []int{max(content.W, content.H)}
	}
	b, _, err := backend.New()
	if err != nil {
		return nil, err
	}
	var out []int
	for _, s := range sizes {
		long := max(content.W, content.H)
		h := max(1, int(math.Round(float64(content.H)*float64(s)/float64(long))))
		wd := max(1, int(math.Round(float64(content.W)*float64(s)/float64(long))))
		tile, err := chooseTile(b, cfg, w, h, wd)
		if err != nil {
			return nil, err
		}
		out = append(out, tile)
	}
	return out, nil
}
