package train

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"

	"github.com/gomlx/gomlx/backends"
	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:staticcheck // GoMLX code reads best with the graph ops unqualified.
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/stylelab/stylelab/backends/backend"
	"github.com/stylelab/stylelab/experiments/adain"
	"github.com/stylelab/stylelab/experiments/imageio"
	"github.com/stylelab/stylelab/experiments/transformer"
	"github.com/stylelab/stylelab/experiments/vgg"
)

// Model is a trained network loaded from a checkpoint, for inference. Its compiled graphs are kept between calls:
// Stylize compiles once per input shape, AdaIN once per (content size, style sizes, weights, alpha), at most
// maxAdaINExecs of the latter at a time. A Model is safe for concurrent use; its calls run one at a time.
type Model struct {
	Header  Header
	b       backends.Backend
	ctx     *context.Context
	weights *vgg.Weights // adain encoder

	mu         sync.Mutex // guards everything below, and serialises the calls that use the compiled graphs
	exec       *context.Exec
	adainExecs map[string]*context.Exec // by adainKey
	compiles   int                      // AdaIN graphs built so far (for tests)
}

// maxAdaINExecs bounds the AdaIN graphs a Model keeps; past it they are all released and rebuilt on demand.
const maxAdaINExecs = 16

// NewModel prepares a checkpoint for inference. An adain checkpoint needs the encoder's weights w, which must be
// the ones it was trained with (same SHA-256); transformer checkpoints ignore w.
func NewModel(c *Checkpoint, w *vgg.Weights) (*Model, error) {
	b, _, err := backend.New()
	if err != nil {
		return nil, err
	}
	m := &Model{Header: c.Header, b: b, ctx: context.New()}
	m.ctx.SetLoader(c)
	h := c.Header
	if h.Kind == KindAdaIN {
		if w == nil || w.SHA256 != h.LossNet.SHA256 {
			have := "none"
			if w != nil {
				have = w.Source + " (" + w.SHA256[:12] + ")"
			}
			return nil, fmt.Errorf("model %s was trained with encoder weights %s (SHA-256 %.12s), but %s were given: pass the same --weights",
				c.Path, h.LossNet.Source, h.LossNet.SHA256, have)
		}
		m.weights = w
		if err := adain.Init(m.ctx, *h.Architecture.AdaIN, 0); err != nil {
			return nil, err
		}
		return m, nil
	}
	if err := transformer.Init(m.ctx, *h.Architecture.Transformer, 0); err != nil {
		return nil, err
	}
	return m, nil
}

// Styles is the number of styles of a transformer model.
func (m *Model) Styles() int { return len(m.Header.Styles) }

// CheckMix validates style weights for an S-style model: S finite, non-negative values, not all zero.
func CheckMix(mix []float64, s int) error {
	if len(mix) != s {
		return fmt.Errorf("--mix has %d weights, but the model has %d styles: give one weight per style", len(mix), s)
	}
	sum := 0.0
	for i, w := range mix {
		if math.IsNaN(w) || math.IsInf(w, 0) || w < 0 {
			return fmt.Errorf("--mix weight %d is %g: weights must be finite and ≥ 0", i+1, w)
		}
		sum += w
	}
	if sum == 0 {
		return errors.New("--mix weights are all 0: give at least one positive weight")
	}
	return nil
}

// OneHotMix returns the mix selecting style k of s, or an error when k is out of range.
func OneHotMix(k, s int) ([]float64, error) {
	if k < 0 || k >= s {
		return nil, fmt.Errorf("--style %d is out of range: the model has %d styles, numbered 0 to %d", k, s, s-1)
	}
	mix := make([]float64, s)
	mix[k] = 1
	return mix, nil
}

// fitMultiple resizes im so that both sides are multiples of m (rounded down, at least m·⌈16/m⌉).
func fitMultiple(im *imageio.Image, m int) (*imageio.Image, error) {
	lo := ((16 + m - 1) / m) * m
	w, h := max(lo, im.W/m*m), max(lo, im.H/m*m)
	if w == im.W && h == im.H {
		return im, nil
	}
	return imageio.Resize(im, w, h)
}

// Stylize runs a transformer model on content images of one size, one mix per image (each checked with
// CheckMix); sides that are not multiples of 4 are resized down to the nearest multiple.
func (m *Model) Stylize(contents []*imageio.Image, mixes [][]float64) ([]*imageio.Image, error) {
	if m.Header.Kind == KindAdaIN {
		return nil, errors.New("this is an AdaIN model: use stylelab adain (Model.AdaIN)")
	}
	if len(contents) == 0 || len(contents) != len(mixes) {
		return nil, fmt.Errorf("stylize: %d images and %d mixes", len(contents), len(mixes))
	}
	s := m.Styles()
	ims := make([]*imageio.Image, len(contents))
	w := make([][]float32, len(contents))
	for i, c := range contents {
		if err := CheckMix(mixes[i], s); err != nil {
			return nil, err
		}
		var err error
		if ims[i], err = fitMultiple(c, 4); err != nil {
			return nil, err
		}
		if ims[i].W != ims[0].W || ims[i].H != ims[0].H {
			return nil, errors.New("stylize: the images of one batch must have one size")
		}
		w[i] = make([]float32, s)
		for k, v := range mixes[i] {
			w[i][k] = float32(v)
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.exec == nil {
		arch := *m.Header.Architecture.Transformer
		var err error
		m.exec, err = context.NewExec(m.b, m.ctx, func(ctx *context.Context, x, w *Node) *Node {
			return transformer.Apply(ctx, arch, x, w)
		})
		if err != nil {
			return nil, err
		}
	}
	x := tensors.FromFlatDataAndDimensions(batchPix(ims), len(ims), ims[0].H, ims[0].W, 3)
	outs, err := m.exec.Exec(x, w)
	if err != nil {
		return nil, err
	}
	return split(outs[0], len(ims), ims[0].W, ims[0].H), nil
}

func split(t *tensors.Tensor, n, w, h int) []*imageio.Image {
	defer t.FinalizeAll()
	out := make([]*imageio.Image, n)
	tensors.ConstFlatData(t, func(v []float32) {
		for i := range out {
			out[i] = imageio.New(w, h)
			copy(out[i].Pix, v[i*w*h*3:(i+1)*w*h*3])
		}
	})
	return out
}

// AdaIN stylises content with an adain model: target Σ_k weights[k]·AdaIN(f(content), f(styles[k])), blended
// with the content features by alpha (adain.Target). Weights must be finite, ≥ 0 and not all 0; alpha in [0,1].
// The content is resized down to multiples of the encoder's downscale factor.
func (m *Model) AdaIN(content *imageio.Image, styles []*imageio.Image, weights []float64, alpha float64) (*imageio.Image, error) {
	if m.Header.Kind != KindAdaIN {
		return nil, fmt.Errorf("this is a %s model, not an AdaIN one: use stylelab stylize", m.Header.Kind)
	}
	if len(styles) == 0 {
		return nil, errors.New("adain: name at least one style image")
	}
	if err := CheckMix(weights, len(styles)); err != nil {
		return nil, fmt.Errorf("--style-weights: %w", err)
	}
	if !(alpha >= 0 && alpha <= 1) {
		return nil, fmt.Errorf("--alpha must be between 0 and 1 (got %g)", alpha)
	}
	a := *m.Header.Architecture.AdaIN
	d := a.Downscale()
	c, err := fitMultiple(content, d)
	if err != nil {
		return nil, err
	}
	enc, pool := a.EncoderLayer, m.Header.LossNet.Pool
	args := []any{c.Tensor()}
	sized := make([]*imageio.Image, len(styles))
	for k, s := range styles {
		if sized[k], err = fitMultiple(s, d); err != nil {
			return nil, err
		}
		args = append(args, sized[k].Tensor())
	}
	// The weights and alpha are constants of the graph, so they are part of the key with the input sizes.
	var key strings.Builder
	fmt.Fprintf(&key, "%dx%d|%x", c.W, c.H, math.Float64bits(alpha))
	for k, s := range sized {
		fmt.Fprintf(&key, "|%dx%d:%x", s.W, s.H, math.Float64bits(weights[k]))
	}
	weights = slices.Clone(weights) // the graph function may run after the caller changed its slice
	m.mu.Lock()
	defer m.mu.Unlock()
	e := m.adainExecs[key.String()]
	if e == nil {
		if len(m.adainExecs) >= maxAdaINExecs {
			m.closeAdaIN()
		}
		e, err = context.NewExec(m.b, m.ctx, func(ctx *context.Context, in []*Node) *Node {
			fc := adain.Encode(ctx, m.weights, pool, in[0], []string{enc})[enc]
			fs := make([]*Node, len(in)-1)
			for k := range fs {
				fs[k] = adain.Encode(ctx, m.weights, pool, in[k+1], []string{enc})[enc]
			}
			return adain.Decode(ctx, a, adain.Target(fc, fs, weights, alpha))
		})
		if err != nil {
			return nil, err
		}
		if m.adainExecs == nil {
			m.adainExecs = map[string]*context.Exec{}
		}
		m.adainExecs[key.String()] = e
		m.compiles++
	}
	outs, err := e.Exec(args...)
	if err != nil {
		return nil, err
	}
	return split(outs[0], 1, c.W, c.H)[0], nil
}

// Close releases the compiled graphs.
func (m *Model) Close() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.exec != nil {
		m.exec.Finalize()
		m.exec = nil
	}
	m.closeAdaIN()
}

// closeAdaIN releases the AdaIN graphs; m.mu is held.
func (m *Model) closeAdaIN() {
	for _, e := range m.adainExecs {
		e.Finalize()
	}
	m.adainExecs = nil
}
