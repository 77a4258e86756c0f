package bench

import (
	"slices"

	"encoding/json"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/stylelab/stylelab/backends/backend"
	"github.com/stylelab/stylelab/experiments/losses"
	"os"
	"path/filepath"

	"github.com/nlpodyssey/safetensors"
	"github.com/stylelab/stylelab/experiments/gatys"
	"github.com/stylelab/stylelab/experiments/imageio"
	"github.com/stylelab/stylelab/experiments/vgg"
)

// CheckSteps is the number of Adam steps ExportCheck records.
const CheckSteps = 2

// CheckFile is expected.json of ExportCheck: the problem and stylelab's loss terms at every step.
type CheckFile struct {
	Size    int                `json:"size"`
	Config  gatys.Config       `json:"config"`
	Backend string             `json:"backend"`
	Weights string             `json:"weights"` // vgg.Weights.Source
	SHA256  string             `json:"weights_sha256"`
	Steps   []gatys.StepReport `json:"steps"` // steps 0…CheckSteps: loss terms of the image before each update
	// Float64 holds the terms of the init image (step 0) computed in float64 by the same packages (vgg,
	// losses; combined as gatys documents), free of float32 rounding: the peer's float64 computation must agree
	// with it closely, which shows the maths (not only the magnitudes) is the same. Total is 0 (not computed).
	Float64 gatys.StepReport `json:"float64_step0"`
}

// ExportCheck writes what a peer needs to verify that it computes the same losses as stylelab, into dir:
//
//	weights.safetensors  the loss network w (nil: vgg.Random(0)) in torchvision layout (vgg.WriteSafetensors)
//	inputs.safetensors   "content", "style", "init": float32 [1,size,size,3] images in [0,1] (NHWC, RGB)
//	expected.json        CheckFile: Config(size, "adam", CheckSteps) with a seeded noise init (seed 1), and the
//	                     loss terms (total, content, style, tv, style per layer) of steps 0…CheckSteps
//
// Step 0's terms check the forward maths (network, normalisation, losses, weights); steps 1 and 2 also check the
// gradient and the Adam update with its clamp to [0,1] (Adam's first steps move every pixel by about the learning
// rate in the direction of −sign(gradient), so a wrong gradient shows in the losses that follow).
func ExportCheck(dir string, size int, w *vgg.Weights) (*CheckFile, error) {
	if err := (Setup{Size: size, Steps: 1}).Validate(); err != nil {
		return nil, err
	}
	if w == nil {
		w = vgg.Random(0)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	content, style := Images(size)
	cfg := Config(size, "adam", CheckSteps)
	cfg.Init, cfg.Seed = "noise", 1
	var steps []gatys.StepReport
	res, err := gatys.Run(cfg, content, []*imageio.Image{style}, w, func(r gatys.StepReport) error {
		steps = append(steps, r)
		return nil
	})
	if err != nil {
		return nil, err
	}
	// The init image, built by the function gatys.Run uses (Run does not return it).
	init, err := gatys.InitialImage(res.Config, content, []*imageio.Image{style})
	if err != nil {
		return nil, err
	}
	if err := vgg.WriteSafetensors(filepath.Join(dir, "weights.safetensors"), w); err != nil {
		return nil, err
	}
	views := map[string]safetensors.View{}
	for name, im := range map[string]*imageio.Image{"content": content, "style": style, "init": init} {
		views[name] = vgg.Float32View([]uint64{1, uint64(im.H), uint64(im.W), 3}, im.Pix)
	}
	f, err := os.Create(filepath.Join(dir, "inputs.safetensors"))
	if err != nil {
		return nil, err
	}
	if err := safetensors.SerializeToWriter(views, map[string]string{"layout": "NHWC RGB [0,1]"}, f); err != nil {
		f.Close()
		return nil, err
	}
	if err := f.Close(); err != nil {
		return nil, err
	}
	f64, err := terms64(res.Config, init, content, style, w)
	if err != nil {
		return nil, err
	}
	out := &CheckFile{Size: size, Config: res.Config, Backend: res.Backend.String(), Weights: w.Source, SHA256: w.SHA256,
		Steps: steps, Float64: f64}
	data, err := json.MarshalIndent(out, "", "  ")
	if err != nil {
		return nil, err
	}
	return out, os.WriteFile(filepath.Join(dir, "expected.json"), data, 0o644)
}

// terms64 computes the loss terms of img in float64: Content = mean over content layers of losses.Content,
// StyleByLayer[l] = the configured style loss, Style = Σ_l λ_l StyleByLayer[l] (one style image, blend 1),
// TV = losses.TotalVariation (gatys's documented composition). Total is left 0: the weighted sum is checked by
// the float32 run's totals.
func terms64(cfg gatys.Config, img, content, style *imageio.Image, w *vgg.Weights) (gatys.StepReport, error) {
	rep := gatys.StepReport{StyleByLayer: map[string]float64{}}
	b, _, err := backend.New()
	if err != nil {
		return rep, err
	}
	loss, err := losses.Style(cfg.Loss, cfg.LossOptions)
	if err != nil {
		return rep, err
	}
	e, err := context.NewExec(b, context.New(), func(ctx *context.Context, x, c, s *graph.Node) []*graph.Node {
		x, c, s = graph.ConvertDType(x, dtypes.Float64), graph.ConvertDType(c, dtypes.Float64), graph.ConvertDType(s, dtypes.Float64)
		layers := append(slices.Clone(cfg.ContentLayers), cfg.StyleLayers...)
		fx := vgg.Features(ctx, w, cfg.Pool, x, layers)
		fc := vgg.Features(ctx, w, cfg.Pool, c, cfg.ContentLayers)
		fs := vgg.Features(ctx, w, cfg.Pool, s, cfg.StyleLayers)
		var out []*graph.Node
		for _, l := range cfg.ContentLayers {
			out = append(out, losses.Content(fx[l], fc[l]))
		}
		for _, l := range cfg.StyleLayers {
			out = append(out, loss(fx[l], fs[l]))
		}
		return append(out, losses.TotalVariation(x))
	})
	if err != nil {
		return rep, err
	}
	defer e.Finalize()
	outs, err := e.Exec(img.Tensor(), content.Tensor(), style.Tensor())
	if err != nil {
		return rep, err
	}
	v := make([]float64, len(outs))
	for i, o := range outs {
		v[i] = o.Value().(float64)
		o.FinalizeAll()
	}
	nc := len(cfg.ContentLayers)
	for i := range nc {
		rep.Content += v[i] / float64(nc)
	}
	for i, l := range cfg.StyleLayers {
		rep.StyleByLayer[l] = v[nc+i] * cfg.StyleBlend[0]
		lw := 1 / float64(len(cfg.StyleLayers))
		if cfg.LayerWeights != nil {
			lw = cfg.LayerWeights[l]
		}
		rep.Style += lw * rep.StyleByLayer[l]
	}
	rep.TV = v[len(v)-1]
	return rep, nil
}
