package gatys

import (
	"fmt"

	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:staticcheck // GoMLX code reads best with the graph ops unqualified.
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/stylelab/stylelab/experiments/losses"
)

// Sampled style losses (mmd-gauss, and mmd-poly with degree ≠ 2, above losses.Options.GaussExactMax) estimate the
// loss on K positions of each feature map. Like the reference code of "Demystifying Neural Style Transfer",
// which draws fresh random pairs every iteration, Run draws new positions for every step, so that over the steps
// every position of every layer is under the loss (with positions fixed once, a 128 px image would leave ~91% of
// relu1_1 without gradient from the style loss).
//
// The positions are graph inputs: one non-trainable int32 variable [K] per (style layer, style image, role F or
// S), whose value is replaced before each execution. The step executables are compiled once; new values of the
// same shape never recompile them. The positions of step s are drawn on the host, uniformly with replacement
// (losses.SampleIndices), from a PCG generator seeded with (LossOptions.Seed — the run seed unless given —,
// stream(s, layer, style image, role)), so a run is reproducible bit for bit.
//
// Which step's positions an execution uses: Adam's execution i (i = 1…Steps) evaluates x_{i−1} and updates it with
// the positions of step i; the final evaluation of x_Steps uses those of step Steps+1. L-BFGS evaluates step 0
// with the positions of step 0; iteration s first re-evaluates the loss and gradient at its starting point with
// the positions of step s (counted in its Evals), so that its whole line search minimises one function.

// sampleSlot holds the sampled positions of one style layer and style image.
type sampleSlot struct {
	layer, image int // index in Config.StyleLayers, index of the style image
	mF, mS, k    int // positions of the generated and the style feature map; samples per map
	idxF, idxS   *context.Variable
}

// sampleStream is the PCG stream of the positions of one step, style layer, style image and role (1 = F, 2 = S):
// a fixed multiply-xor mix of the four numbers.
func sampleStream(step, layer, image, role int) uint64 {
	return uint64(step+1)*0x9E3779B97F4A7C15 ^ uint64(layer+1)*0xBF58476D1CE4E5B9 ^
		uint64(image+1)*0x94D049BB133111EB ^ uint64(role)*0xD6E8FEB86659FD93
}

// draw returns the positions of step for this slot's role (1 = F, 2 = S).
func (s *sampleSlot) draw(seed uint64, step, role int) *tensors.Tensor {
	m := s.mF
	if role == 2 {
		m = s.mS
	}
	return tensors.FromValue(losses.SampleIndices(seed, sampleStream(step, s.layer, s.image, role), m, s.k))
}

// SampleDraw returns the positions (of F: role 1, of S: role 2) that Run uses at step for style layer `layer`
// (index in StyleLayers) and style image `image`, on feature maps of m positions, with k samples and seed
// LossOptions.Seed. Exposed for tests and for inspecting a run.
func SampleDraw(seed uint64, step, layer, image, role, m, k int) []int32 {
	return losses.SampleIndices(seed, sampleStream(step, layer, image, role), m, k)
}

// resample sets every slot's positions to those of step; slots made later (while a graph is built) start there.
func (p *problem) resample(step int) error {
	p.sampleStep = step
	if p.tiled != nil {
		p.tiled.step = step
	}
	for _, s := range p.slots {
		if err := s.idxF.SetValue(s.draw(p.cfg.LossOptions.Seed, step, 1)); err != nil {
			return err
		}
		if err := s.idxS.SetValue(s.draw(p.cfg.LossOptions.Seed, step, 2)); err != nil {
			return err
		}
	}
	return nil
}

// sampling reports whether any style term uses sampled positions (known once a loss graph has been built).
func (p *problem) sampling() bool { return len(p.slots) > 0 || (p.tiled != nil && p.tiled.sampled) }

// styleTerm is the style loss of style layer i (features F) against style image k's target S in F's graph,
// with the slot's current positions as inputs where the loss samples; with a guide (spatial control, not nil),
// its guided form.
func (p *problem) styleTerm(i, k int, F, S, guide *Node) *Node {
	mF := F.Shape().Dimensions[1] * F.Shape().Dimensions[2]
	mS := S.Shape().Dimensions[1] * S.Shape().Dimensions[2]
	loss := p.loss
	if guide != nil {
		loss = func(F, S, idxF, idxS *Node) *Node { return p.gloss(F, S, guide, idxF, idxS) }
	}
	if !losses.Sampled(p.cfg.Loss, p.cfg.LossOptions, mF, mS) {
		return loss(F, S, nil, nil)
	}
	key := [2]int{i, k}
	s := p.slots[key]
	if s == nil {
		s = &sampleSlot{layer: i, image: k, mF: mF, mS: mS, k: p.cfg.LossOptions.WithDefaults().GaussSamples}
		sctx := p.ctx.In("sampling").Checked(false)
		name := fmt.Sprintf("style%d_%s", k, p.cfg.StyleLayers[i])
		s.idxF = sctx.VariableWithValue(name+"_F", s.draw(p.cfg.LossOptions.Seed, p.sampleStep, 1)).SetTrainable(false)
		s.idxS = sctx.VariableWithValue(name+"_S", s.draw(p.cfg.LossOptions.Seed, p.sampleStep, 2)).SetTrainable(false)
		p.slots[key] = s
	}
	g := F.Graph()
	return loss(F, S, s.idxF.ValueGraph(g), s.idxS.ValueGraph(g))
}
