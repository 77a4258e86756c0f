package gatys

import (
	"fmt"

	"github.com/gomlx/gomlx/backends"
	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:staticcheck // GoMLX code reads best with the graph ops unqualified.
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/stylelab/stylelab/experiments/imageio"
	"github.com/stylelab/stylelab/experiments/losses"
	"github.com/stylelab/stylelab/experiments/vgg"
)

// prepared holds the style losses' targets computed once per run (losses.StylePrepared): for the Gram loss the
// Gram matrices S Sᵀ/M_S of every style image and layer, for meanvar the channel means and standard deviations,
// for mmd-linear the means. The step graph reads them as constants instead of recomputing them from the style
// features every step. For losses without a prepared form (the MMD kernel losses) prep.Target is nil and the
// problem keeps the raw style features in styleT, as before.
type prepared struct {
	prep  losses.Prepared
	prepT [][][]*context.Variable // [style image][style layer][target tensor]
}

// testTargetsInStep, when true, disables the preparation: the style images' raw features are kept and the whole
// style loss, style side included, is computed inside every step, as stylelab did before. Tests and benchmarks
// only: it shows that the preparation changes no value, and measures what it saves.
var testTargetsInStep = false

// prepareTargets computes the targets of every style image at every style layer, in one graph per image
// executed once, and keeps them as non-trainable variables. It does nothing for losses without a prepared form.
func (p *problem) prepareTargets(styles []*imageio.Image) error {
	prep, ok, err := losses.StylePrepared(p.cfg.Loss, p.cfg.LossOptions)
	if err != nil {
		return fmt.Errorf("gatys: %w", err)
	}
	if !ok || testTargetsInStep {
		return nil
	}
	p.prep = prep
	tctx := p.ctx.In("targets").Checked(false)
	for k, s := range styles {
		st, err := styleTargets(p.b, p.ctx, p.w, p.cfg.Pool, s, p.cfg.StyleLayers, prep)
		if err != nil {
			return fmt.Errorf("gatys: style targets of style image %d: %w", k+1, err)
		}
		var vs [][]*context.Variable
		for i, l := range p.cfg.StyleLayers {
			var vl []*context.Variable
			for j, t := range st[i] {
				vl = append(vl, tctx.VariableWithValue(fmt.Sprintf("style%d_%s_target%d", k, l, j), t).SetTrainable(false))
			}
			vs = append(vs, vl)
		}
		p.prepT = append(p.prepT, vs)
	}
	return nil
}

// styleLoss is the style loss of the generated features F at style layer i against style image k: from the
// prepared targets when there are any, else from the raw style features.
func (p *problem) styleLoss(i, k int, F *Node, g *Graph) *Node {
	if p.prep.Target == nil {
		return p.styleTerm(i, k, F, p.styleT[k][i].ValueGraph(g))
	}
	t := make([]*Node, len(p.prepT[k][i]))
	for j, v := range p.prepT[k][i] {
		t[j] = v.ValueGraph(g)
	}
	return p.prep.Loss(F, t)
}

// styleTargets computes, in one graph executed once, prep.Target of img's features at each layer:
// [layer][target tensor].
func styleTargets(b backends.Backend, ctx *context.Context, w *vgg.Weights, pool vgg.Pool, img *imageio.Image, layers []string, prep losses.Prepared) ([][]*tensors.Tensor, error) {
	counts := make([]int, len(layers))
	e, err := context.NewExec(b, ctx, func(ctx *context.Context, x *Node) []*Node {
		f := vgg.Features(ctx, w, pool, x, layers)
		var out []*Node
		for i, l := range layers {
			t := prep.Target(f[l])
			counts[i] = len(t)
			out = append(out, t...)
		}
		return out
	})
	if err != nil {
		return nil, err
	}
	defer e.Finalize()
	flat, err := e.Exec(img.Tensor())
	if err != nil {
		return nil, err
	}
	out := make([][]*tensors.Tensor, len(layers))
	for i := range layers {
		out[i], flat = flat[:counts[i]], flat[counts[i]:]
	}
	return out, nil
}
