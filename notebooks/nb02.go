package notebooks

func controls02() Notebook {
	return Notebook{File: "02-controls.ipynb", Cells: []Cell{
		md(`
# 02 — Controlling perceptual factors: where, which colours, what scale

Gatys, Ecker, Hertzmann and Shechtman (CVPR 2017) add three controls to optimisation-based style transfer. This
notebook runs each beside the uncontrolled result — same content, style, seed and steps — and **measures** what
it changes:

| control | ‵stylelab run‵ flags | ‵gatys.Config‵ / spec |
|---|---|---|
| spatial: a style per region of a mask | ‵--mask M.png --region-style '#rrggbb=S.png'‵, ‵--mask-mode resize⎮inside‵ | ‵RegionColours‵, ‵MaskMode‵; inputs ‵mask‵, ‵region_styles‵ |
| colour: keep the content's colours | ‵--color luminance⎮histogram‵, ‵--histogram cholesky⎮sym‵ | ‵Color‵, ‵Histogram‵ |
| scale: brush-stroke size | ‵--style-scale F‵, ‵--scales 32,64‵, ‵--style-layers‵, ‵stylelab combine-scales‵ | ‵StyleScale‵, ‵Scales‵, ‵ScaleSteps‵, ‵StyleLayers‵ |

How they work (formulas in the doc comments of ‵experiments/gatys/controls.go‵, ‵experiments/guides‵,
‵experiments/losses/guided.go‵ and ‵experiments/colour‵):
- **Spatial**: each mask colour is a region r with a guide T_r at every style layer (its share of each position's
  cell, or with ‵inside‵ only the positions whose receptive field lies in the region). The style term is
  Σ_r w_r L(F weighted by T_r², style_r): every style loss computes its statistics over the region's positions
  (for the Gram loss this is the paper's guided Gram matrix with the guide normalised to mean square 1).
- **Colour**: ‵luminance‵ transfers on Y = 0.299R + 0.587G + 0.114B only and puts the content's chroma (YIQ) back;
  ‵histogram‵ first maps the style's colours to the content's mean and covariance.
- **Scale**: ‵--style-scale 0.5‵ shows the network a smaller style image, so its strokes come out larger;
  ‵--scales‵ stylises small first and refines the upsampled result.

Runs are small on a CPU (64 px, 20 steps) so the notebook runs in CI; ‵%env STYLELAB_NB_SIZE 256‵ makes them larger.`),
		code(SetupCell),
		md(`
## Set-up

The content is the cat photograph, the style Starry Night; the mask ‵images/masks/chelsea_halves.png‵ is the
photograph's left half red and right half blue. Each variant changes one control of the baseline.`),
		code(`
import (
	"fmt"
	"math"

	"github.com/stylelab/stylelab/experiments/colour"
	"github.com/stylelab/stylelab/experiments/gatys"
	"github.com/stylelab/stylelab/experiments/imageio"
	"github.com/stylelab/stylelab/experiments/losses"
	"github.com/stylelab/stylelab/experiments/vgg"
	"github.com/stylelab/stylelab/kernel/lab"
	"github.com/stylelab/stylelab/kernel/nbui"
	"github.com/stylelab/stylelab/tracker"
)

const (
	Experiment   = "notebook-02-controls"
	ContentImage = "images/content/chelsea.jpg"
	StyleImage   = "images/style/vangogh_starry_night.jpg"
	RegionStyle  = "images/style/munch_scream.jpg"
	MaskImage    = "images/masks/chelsea_halves.png"
)

var Size, Steps = lab.Scale(64, 20, 256, 200)

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// variants are the baseline and one run per control.
func variants() []lab.Spec {
	base := gatys.DefaultConfig()
	base.Size, base.Steps, base.Seed = Size, Steps, 1
	spec := func(name string, edit func(c *gatys.Config)) lab.Spec {
		c := base
		edit(&c)
		return lab.Spec{Experiment: Experiment, Name: name, Content: ContentImage, Styles: []string{StyleImage}, Config: c}
	}
	regions := spec("regions", func(c *gatys.Config) { c.RegionColours = []string{"#ff0000"} })
	regions.Mask, regions.RegionStyles = MaskImage, []string{RegionStyle}
	return []lab.Spec{
		spec("none", func(c *gatys.Config) {}),
		regions,
		spec("luminance", func(c *gatys.Config) { c.Color = "luminance" }),
		spec("histogram", func(c *gatys.Config) { c.Color = "histogram" }),
		spec("style-scale-0.5", func(c *gatys.Config) { c.StyleScale = 0.5 }),
		spec("coarse-to-fine", func(c *gatys.Config) { c.Scales = []int{Size / 2, Size} }),
	}
}

// runs returns this notebook's runs at the current size and steps, in variants() order.
func runs(store *tracker.Store) []tracker.RunInfo {
	var names []string
	for _, s := range variants() {
		names = append(names, s.Name)
	}
	return must(lab.Latest(store, Experiment, fmt.Sprintf("params.size = '%d' and params.steps = '%d'", Size, Steps), names))
}

%%
fmt.Println(lab.ScaleNote(Size, Steps))`),
		md(`
## The runs

Each run is recorded in the tracker with its controls as parameters (‵color‵, ‵scales‵, ‵mask‵, …) and its mask
hashed like the other inputs, so ‵stylelab rerun‵ reproduces it; a run that already exists is reused.`),
		code(`
%%
store := must(lab.Open())
defer store.Close()
for _, s := range variants() {
	r := must(lab.Stylise(store, s))
	fmt.Printf("%-16s run %s  style %.4g  content %.4g\n", r.Name, r.ID[:8], r.Latest["style"], r.Latest["content"])
}`),
		md(`
## Side by side, and the measured losses

The region run gives the left (red) half The Scream and the rest Starry Night. The two colour controls keep the
cat's colours; the style-scale run has coarser strokes; coarse to fine spent half its steps at half the size.

Every output is then scored the same way (‵gatys.Measure‵, unweighted, means over relu1_1…relu5_1): the content loss, the
Gram and mean-variance style losses against Starry Night, the Gram loss of the **left half** against The Scream
(what the region control targets), and the colour distance to the content: ‖μ_out − μ_content‖ + ‖Σ_out − Σ_content‖_F
over RGB pixels (what the colour controls target). Then the optimised losses per step of every run.

With the seeded random VGG-19 (no ‵STYLELAB_VGG_WEIGHTS‵), colour dominates the Gram statistics: once the style's
colours are the content's (luminance, histogram), little style loss is left at the content image and the default
style weight changes the photograph only slightly; raise ‵--style-weight‵ for these controls.`),
		code(`
// halfLeft returns the left half of im.
func halfLeft(im *imageio.Image) *imageio.Image { return must(imageio.Crop(im, 0, 0, im.W/2, im.H)) }

// colourDistance is ‖μ_a − μ_b‖ + ‖Σ_a − Σ_b‖_F over RGB pixels.
func colourDistance(a, b *imageio.Image) float64 {
	ma, ca := colour.Moments(a)
	mb, cb := colour.Moments(b)
	dm, dc := 0.0, 0.0
	for i := 0; i < 3; i++ {
		dm += (ma[i] - mb[i]) * (ma[i] - mb[i])
		for j := 0; j < 3; j++ {
			dc += (ca[i][j] - cb[i][j]) * (ca[i][j] - cb[i][j])
		}
	}
	return math.Sqrt(dm) + math.Sqrt(dc)
}

%%
store := must(lab.Open())
defer store.Close()
rs := runs(store)
outs := must(lab.Outputs(store, rs))
content := must(lab.LoadImage(ContentImage, Size))
style := must(lab.LoadImage(StyleImage, Size))
scream := must(lab.LoadImage(RegionStyle, Size))
mask := must(lab.LoadImage(MaskImage, Size))
captions := []string{"content", "style", "mask"}
for _, r := range rs {
	captions = append(captions, r.Name)
}
must(0, nbui.Images(captions, append([]*imageio.Image{content, style, mask}, outs...)...))
w := must(lab.Weights(0))
var rows [][]string
for i, out := range outs {
	s := must(gatys.Measure(out, content, style, w, vgg.PoolAvg, losses.DefaultOptions()))
	left := must(gatys.Measure(halfLeft(out), halfLeft(content), scream, w, vgg.PoolAvg, losses.DefaultOptions()))
	rows = append(rows, []string{rs[i].Name, fmt.Sprintf("%.4g", s.Content["total"]), fmt.Sprintf("%.4g", s.Style["gram"]["total"]),
		fmt.Sprintf("%.4g", s.Style["meanvar"]["total"]), fmt.Sprintf("%.4g", left.Style["gram"]["total"]),
		fmt.Sprintf("%.4f", colourDistance(out, content))})
}
nbui.Table(fmt.Sprintf("measured losses at %d px, %d steps", Size, Steps),
	[]string{"control", "content", "gram vs Starry", "meanvar vs Starry", "left half: gram vs Scream", "colour distance to content"}, rows)
// The losses during the runs: for the luminance and histogram runs the style target itself changed (a grey or
// recoloured style image), so their curves measure a different problem; the table measures every output
// against the same images.
must(0, nbui.OverlayRuns(store, lab.IDs(rs), []string{"style_rel", "content"}))`),
		md(`
## Two more scale and mask tools

‵stylelab combine-scales --coarse S1 --fine S2 --out S.png‵ (‵gatys.CombineScales‵) makes a new style image:
the fine style's texture (its statistics on relu1_1 and relu2_1 only) on the coarse style's composition. And the
‵inside‵ mask mode keeps only positions whose receptive field lies inside a region: on a small image the deep
layers' receptive fields cover the whole picture, so the run refuses, saying what to change.`),
		code(`
%%
w := must(lab.Weights(0))
scream := must(lab.LoadImage(RegionStyle, Size))
starry := must(lab.LoadImage(StyleImage, Size))
cfg := gatys.DefaultConfig()
cfg.Size, cfg.Steps, cfg.Seed = Size, Steps, 1
res := must(gatys.CombineScales(cfg, scream, starry, w, nil))
fmt.Printf("combine-scales: style loss on %v %.4g → %.4g\n", gatys.CombineLayers, res.First.Style, res.Last.Style)
must(0, nbui.Images([]string{"coarse: The Scream", "fine: Starry Night", "combined"}, scream, starry, res.Image))

inside := cfg
inside.MaskMode, inside.Steps = "inside", 1
content := must(lab.LoadImage(ContentImage, Size))
mask := must(lab.LoadImage(MaskImage, 0))
_, err := gatys.RunGuided(inside, content, []*imageio.Image{starry}, &gatys.Guide{Mask: mask}, w, nil)
fmt.Println("inside at", Size, "px:", err)`),
	}}
}
