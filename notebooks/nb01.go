package notebooks

func losses01() Notebook {
	return Notebook{File: "01-losses.ipynb", Cells: []Cell{
		md(`
# 01 — One photograph, one painting, five style losses

Gatys, Ecker and Bethge (2016) stylise an image by optimising its pixels so that the deep features of a
loss network (VGG-19) keep the *content* of a photograph while their *statistics* match those of a painting.
Which statistics, and how their mismatch is measured, is the **style loss**. This notebook runs the same
optimisation — same content, same style image, same seed, same steps — under five style losses, and compares
what comes out:

| name | what it matches | reference |
|---|---|---|
| ‵gram‵ | second moments: the Gram matrix of feature channels | Gatys et al. 2016 |
| ‵mmd-poly‵ | the feature distributions under the kernel (xᵀy)², which is the Gram loss again | Li et al. 2017 |
| ‵mmd-linear‵ | first moments: the mean feature vector | Li et al. 2017 |
| ‵mmd-gauss‵ | all moments: MMD with a Gaussian kernel | Li et al. 2017 |
| ‵meanvar‵ | per-channel mean and standard deviation (what AdaIN aligns) | Huang & Belongie 2017 |

Runs are 128 px and 20 Adam steps on a CPU (about a minute for the five with stylelab's CPU backend) and
larger on a GPU (256 px, 300 steps). The loss network is a VGG-19 with seeded random weights unless ‵STYLELAB_VGG_WEIGHTS‵
names pretrained weights (torchvision's ‵vgg19-dcbb9e9d.pth‵ as it is, or safetensors; README, "Bring your own
weights"); ‵STYLELAB_VGG_NET=vgg16‵ runs everything on VGG-16 instead. Random weights still carry texture statistics
(Ustyuzhaninov et al. 2017), but results look different from the paper's.

The first cell links the kernel to this repository's Go module (it runs ‵go mod edit‵ in GoNB's scratch module).`),
		code(SetupCell),
		md(`
## Set-up

GoNB runs **every cell as a new Go program**. The imports, constants, variables and functions declared in a cell
are kept and declared again in every later cell; what a cell *computes* is gone when it ends. So the parameters
live here as declarations, and everything expensive goes into the tracker (next sections).

‵lab.Scale‵ picks the CPU or GPU size from the backend ‵backends/backend‵ chooses. To change it, run
‵%env STYLELAB_NB_SIZE 128‵ (and/or ‵%env STYLELAB_NB_STEPS 100‵) in a cell before this one.`),
		code(`
import (
	"fmt"
	"math"

	"github.com/stylelab/stylelab/experiments/gatys"
	"github.com/stylelab/stylelab/experiments/imageio"
	"github.com/stylelab/stylelab/experiments/losses"
	"github.com/stylelab/stylelab/experiments/vgg"
	"github.com/stylelab/stylelab/kernel/lab"
	"github.com/stylelab/stylelab/kernel/nbui"
	"github.com/stylelab/stylelab/tracker"
)

const (
	Experiment   = "notebook-01-losses"
	ContentImage = "images/content/chelsea.jpg"
	StyleImage   = "images/style/vangogh_starry_night.jpg"
)

// Size (px, longer side) and Steps: small on the CPU, larger on a GPU.
var Size, Steps = lab.Scale(128, 20, 256, 300)

// must stops the cell with the error (GoNB shows it as the cell's error).
func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// config is the run configuration for one style loss; everything else is the same for all five.
func config(loss string) gatys.Config {
	c := gatys.DefaultConfig()
	c.Size, c.Steps, c.Loss, c.Seed = Size, Steps, loss, 1
	// c.StyleWeight is left unset: each loss gets its own default weight (gatys.DefaultStyleWeight), as the losses
	// differ in scale.
	return c
}

%%
fmt.Println(lab.ScaleNote(Size, Steps))
content := must(lab.LoadImage(ContentImage, Size))
style := must(lab.LoadImage(StyleImage, Size))
must(0, nbui.Images([]string{"content: " + ContentImage, "style: " + StyleImage}, content, style))`),
		md(`
## The five optimisations

Each run starts from the photograph and takes ‵Steps‵ Adam steps on

  total = content + w_style · style + w_tv · TV,

with the content loss at ‵relu4_2‵ and the style loss averaged over ‵relu1_1 … relu5_1‵. The losses differ in
scale by orders of magnitude, so each has its own default style weight.

‵lab.Stylise‵ records every run in the tracker (‵$STYLELAB_DB‵): parameters, the four loss terms at every step,
‵style_rel‵ = style / style at step 0 (comparable across losses), and the output image as an artifact. It tags the
run with a key — a hash of the resolved parameters, the input files and the loss network's weights — and when a
finished run with the same key exists it returns that one instead of recomputing: **run this cell again and it
takes a second**. The progress bar below each run is one display updated in place.`),
		code(`
%%
store := must(lab.Open())
defer store.Close()
var runs []tracker.RunInfo
for _, loss := range losses.Names {
	spec := lab.Spec{Experiment: Experiment, Name: loss, Content: ContentImage, Styles: []string{StyleImage}, Config: config(loss)}
	runs = append(runs, *must(lab.Stylise(store, spec)))
}
nbui.CompareRuns("final losses of the five runs (bold: smallest)", runs, []string{"total", "content", "style", "style_rel"})`),
		md(`
## Reading the results back: state between cells

The program of the previous cell has exited. What it produced is in the tracker, so this cell — a new program —
finds the runs by searching the store (‵lab.Latest‵: the newest finished run of each loss with this notebook's
size and steps) and loads their output images from the artifact store. The same runs are visible from the CLI
(‵stylelab runs ls‵), from the dashboard, and from notebook 04.

Declarations made here (‵results‵) are available to every later cell.`),
		code(`
// results returns this notebook's runs, one per loss in losses.Names order, read back from the tracker.
func results(store *tracker.Store) []tracker.RunInfo {
	return must(lab.Latest(store, Experiment, fmt.Sprintf("params.size = '%d' and params.steps = '%d'", Size, Steps), losses.Names))
}

%%
store := must(lab.Open())
defer store.Close()
runs := results(store)
outs := must(lab.Outputs(store, runs))
content := must(lab.LoadImage(ContentImage, Size))
style := must(lab.LoadImage(StyleImage, Size))
captions := []string{"content", "style"}
for _, r := range runs {
	captions = append(captions, r.Name)
}
must(0, nbui.Images(captions, append([]*imageio.Image{content, style}, outs...)...))`),
		md(`
## Loss curves

Each chart overlays the five runs. ‵style_rel‵ is each run's style loss divided by its value at step 0: the raw
style losses are not comparable across losses (different units and weights), but how fast each falls is. The
content loss starts at 0 (the photograph is the initial image) and rises as the style is imposed. Charts are
interactive (zoom, legend toggles) and carry their own copy of ECharts, so they render offline and in the
saved notebook.`),
		code(`
%%
store := must(lab.Open())
defer store.Close()
must(0, nbui.OverlayRuns(store, lab.IDs(results(store)), []string{"style_rel", "content", "total"}))`),
		md(`
## Gram loss = MMD with a polynomial kernel

Li, Wang, Liu and Hou ("Demystifying Neural Style Transfer", 2017) observed that the Gram loss is a maximum mean
discrepancy. With feature columns f_i (the N channels at each of M positions),

  ‖F Fᵀ/M − S Sᵀ/M‖²_F = (1/M²) Σ_ij (f_iᵀ f_j)² + (1/M²) Σ_ij (s_iᵀ s_j)² − (2/M²) Σ_ij (f_iᵀ s_j)²,

which is MMD²[F, S] with the kernel k(x, y) = (xᵀy)². ‵gram‵ computes it through the N×N Gram matrices;
‵mmd-poly‵ through the M×M kernel matrices while they are small enough (M² ≤ ‵loss_options.gauss_exact_max‵,
1024² entries by default). Above that limit ‵mmd-poly‵ with degree 2 switches to this very identity — it *is*
the Gram computation, plus 2c‖μ_F − μ_S‖²/(4N²) when c ≠ 0 — because the kernel matrices would cost O(M²)
memory (at 256 px, relu1_1 has M = 49,152 positions: 9.7 GB per float32 matrix). So:

1. The identity itself is checked where the kernel form is really computed: scoring an image under both
   (‵gatys.Measure‵, no optimisation) with the exact limit raised so that **every** layer uses the M×M kernel
   matrices, at ≤ 48 px so that they stay small (48×32 px: M = 1,536 at relu1_1, 9 MB per matrix). The two agree
   at every layer up to float32 rounding. The kernel form subtracts three large sums, so its rounding error is
   relative to those sums, not to the loss: where a style loss is tiny (an optimised output), the relative
   difference can grow.
2. The gram and mmd-poly runs, same seed and steps, follow the same path: their outputs are the same image up to
   rounding. In these runs the layers above the exact limit (relu1_1 at 48 px) use the Gram form for mmd-poly,
   so there the agreement is by construction; the layers below it use the kernel matrices.`),
		code(`
%%
store := must(lab.Open())
defer store.Close()
runs := results(store)
outs := must(lab.Outputs(store, runs))
// The kernel form at every layer: the exact limit raised to the largest layer's M² (relu1_1, M = H·W), at ≤ 48 px.
checkSize := min(Size, 48)
content := must(lab.LoadImage(ContentImage, checkSize))
style := must(lab.LoadImage(StyleImage, checkSize))
kernelForm := losses.DefaultOptions()
m := max(content.W*content.H, style.W*style.H)
kernelForm.GaussExactMax = m * m
w := must(lab.Weights(0))
relDiff := func(im *imageio.Image) (worst float64, rows [][]string) {
	if max(im.W, im.H) != checkSize {
		im = must(imageio.ResizeLonger(im, checkSize))
	}
	sc := must(gatys.Measure(im, content, style, w, vgg.PoolAvg, kernelForm))
	for _, layer := range gatys.DefaultStyleLayers {
		g, p := sc.Style["gram"][layer], sc.Style["mmd-poly"][layer]
		rel := math.Abs(g-p) / math.Abs(g)
		worst = math.Max(worst, rel)
		rows = append(rows, []string{layer, nbui.FormatFloat(g), nbui.FormatFloat(p), fmt.Sprintf("%.1e", rel)})
	}
	return worst, rows
}
photo, rows := relDiff(content)
nbui.Table(fmt.Sprintf("the content photograph under gram and mmd-poly (kernel form at every layer, %d px)", checkSize), []string{"layer", "gram", "mmd-poly", "|gram − mmd-poly| / gram"}, rows)
outWorst, rows := relDiff(outs[0])
nbui.Table("the output of the gram run under gram and mmd-poly", []string{"layer", "gram", "mmd-poly", "|gram − mmd-poly| / gram"}, rows)
pix := 0.0
for i := range outs[0].Pix {
	pix = math.Max(pix, math.Abs(float64(outs[0].Pix[i]-outs[1].Pix[i])))
}
fmt.Printf("gram = mmd-poly: max relative difference %.2e on the photograph (5 layers)\n", photo)
fmt.Printf("on the gram run's output (style loss near 0, float32 cancellation in the kernel form): %.2e\n", outWorst)
fmt.Printf("the gram and mmd-poly runs after %d steps: max |pixel difference| %.2e (pixels in [0,1])\n", Steps, pix)`),
		md(`
## Every output under every loss

Each output was optimised under one loss; here each is scored under all of them (and the content loss), against
the same photograph and painting. Reading down a column shows which outputs a loss considers closest to the
style; an output tends to score best under the loss it was optimised for, and the identical ‵gram‵ and
‵mmd-poly‵ columns show the identity once more. Values are unweighted means over the style layers.`),
		code(`
%%
store := must(lab.Open())
defer store.Close()
runs := results(store)
outs := must(lab.Outputs(store, runs))
content := must(lab.LoadImage(ContentImage, Size))
style := must(lab.LoadImage(StyleImage, Size))
w := must(lab.Weights(0))
header := append([]string{"image", "content"}, losses.Names...)
var rows [][]string
for i, im := range append([]*imageio.Image{content, style}, outs...) {
	label := []string{"content photo", "style painting"}
	name := ""
	if i < 2 {
		name = label[i]
	} else {
		name = "output of " + runs[i-2].Name
	}
	sc := must(gatys.Measure(im, content, style, w, vgg.PoolAvg, losses.DefaultOptions()))
	row := []string{name, nbui.FormatFloat(sc.Content["total"])}
	for _, l := range losses.Names {
		row = append(row, nbui.FormatFloat(sc.Style[l]["total"]))
	}
	rows = append(rows, row)
}
nbui.Table("every image scored by gatys.Measure under every loss", header, rows)`),
		md(`
## One run in full

A run card holds what the tracker knows about a run — parameters, final losses, tags — with a link to its page on
the dashboard (‵stylelab serve‵, see notebook 04). Below it, every metric of that run.`),
		code(`
%%
store := must(lab.Open())
defer store.Close()
gram := results(store)[0]
nbui.RunCard(&gram)
must(0, nbui.RunChart(store, gram.ID))`),
	}}
}
