package notebooks

func feedforward03() Notebook {
	return Notebook{File: "03-feedforward.ipynb", Cells: []Cell{
		md(`
# 03 — Feed-forward style transfer: CIN multi-style networks, interpolation, AdaIN

Gatys optimisation (notebook 01) spends hundreds of steps on every image. A **feed-forward** network is trained
once and then stylises in one pass (Johnson et al. 2016). With **conditional instance normalisation** (Dumoulin et
al. 2017) one network holds several styles: every normalisation layer has a row of (γ, β) per style, and a weight
vector over the styles selects one row or mixes them — inside the network, so a 50/50 mix is a new style, not a
blend of two outputs. **AdaIN** (Huang & Belongie 2017) goes further: a decoder trained to invert the loss
network's features stylises with any style image by giving the content's features the style's channel means and
standard deviations.

This notebook trains a 4-style CIN network under two style losses (Gram and mean-variance), shows each style, a
two-style interpolation strip and a four-style grid, trains a small AdaIN decoder, and ends with a table of the
runs. Every run goes through the same path as ‵stylelab train/stylize/interpolate/adain‵ and is recorded in the
tracker (‵stylelab rerun ID‵ reproduces any of them). On the CPU the networks are tiny (32 px crops, width 1/8,
one residual block, a few dozen steps): the styles are visible as colour and texture changes, not as paintings.
On a GPU (XLA) the sizes grow; ‵stylelab train --preset gpu‵ has the papers' sizes.`),
		code(SetupCell),
		md(`
## Set-up

Declarations are re-declared in every later cell (GoNB runs each cell as a new program); results live in the
tracker. ‵cfg‵ starts from the ‵tiny‵ preset on the CPU, the ‵cpu‵ preset on XLA.`),
		code(`
import (
	"fmt"
	"strconv"
	"time"

	"github.com/stylelab/stylelab/experiments/imageio"
	"github.com/stylelab/stylelab/jobs/spec"
	"github.com/stylelab/stylelab/experiments/train"
	"github.com/stylelab/stylelab/kernel/lab"
	"github.com/stylelab/stylelab/kernel/nbui"
	"github.com/stylelab/stylelab/tracker"
)

const (
	Experiment   = "notebook-03-feedforward"
	ContentImage = "images/content/chelsea.jpg"
)

var Styles = []string{"images/style/vangogh_starry_night.jpg", "images/style/hokusai_great_wave.jpg",
	"images/style/munch_scream.jpg", "images/style/kandinsky_composition_viii.jpg"}

var Size, Steps = lab.Scale(32, 16, 64, 300)

var Losses = []string{"gram", "meanvar"}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// cinConfig is the training configuration of the CIN networks: batch 4, so every style is in every batch.
func cinConfig(loss string) train.Config {
	preset := "tiny"
	if Size >= 64 {
		preset = "cpu"
	}
	c := must(train.Preset(preset, train.KindCIN))
	c.Size, c.StyleSize, c.SampleSize, c.Steps, c.Batch = Size, Size, Size, Steps, 4
	c.Loss, c.StyleWeight, c.LearningRate = loss, 0, 0.02
	c.SampleEvery, c.CheckpointEvery = Steps/3, 0
	return c
}

// model returns the checkpoint path of the CIN network trained under loss.
func model(store *tracker.Store, loss string) string {
	r := must(lab.Execute(store, lab.TrainSpec(Experiment, "cin-"+loss, Styles, cinConfig(loss), 1)))
	return must(lab.ModelPath(store, r.ID))
}

// inference returns a FINISHED stylize/interpolate/adain run on the content image.
func inference(store *tracker.Store, kind, name, modelPath string, set func(*spec.Spec)) *tracker.RunInfo {
	sp := &spec.Spec{Version: spec.Version, Kind: kind, Experiment: Experiment, Name: name,
		Inputs: spec.Inputs{Content: spec.Input{Path: ContentImage}, Model: &spec.Input{Path: modelPath}}}
	set(sp)
	return must(lab.Execute(store, sp))
}

%%
fmt.Println(lab.ScaleNote(Size, Steps))`),
		md(`
## Training a 4-style CIN network under two losses

Each step takes a batch of random 32 px crops (with random flips) of the shipped photos, gives each crop a
random style (every style once per batch of 4), and minimises content + style loss through the VGG-19 loss
network with Adam. The per-style style losses are logged at every step, and every few steps the two first photos
are stylised with every style and logged as an image (the dashboard's run page shows them in step order).`),
		code(`
%%
store := must(lab.Open())
defer store.Close()
for _, loss := range Losses {
	fmt.Println(loss, "→", model(store, loss))
}
runs := must(lab.Latest(store, Experiment, "", []string{"cin-gram", "cin-meanvar"}))
must(0, nbui.OverlayRuns(store, lab.IDs(runs), []string{"style", "content"}))`),
		md(`
## Each style

The content image through the Gram-trained network with each one-hot style vector (‵stylelab stylize --style K‵).`),
		code(`
%%
store := must(lab.Open())
defer store.Close()
m := model(store, "gram")
ims := []*imageio.Image{must(lab.LoadImage(ContentImage, 4*Size))}
captions := []string{"content"}
for k := range Styles {
	mix := make([]float64, len(Styles))
	mix[k] = 1
	r := inference(store, spec.KindStylize, fmt.Sprintf("style-%d", k), m, func(sp *spec.Spec) {
		sp.Stylize = &spec.StylizeParams{Size: 4 * Size, Mix: mix}
	})
	ims = append(ims, must(lab.Output(store, r.ID)))
	captions = append(captions, train.StyleName(Styles[k]))
}
must(0, nbui.Images(captions, ims...))`),
		md(`
## Interpolation: a strip between two styles, a grid between four

Style weights (1−u, u) between styles 0 and 1 in five steps; then a 4×4 grid mixing four styles bilinearly
(corners are the pure styles). The mixing happens on γ and β inside the network.`),
		code(`
%%
store := must(lab.Open())
defer store.Close()
m := model(store, "gram")
strip := inference(store, spec.KindInterpolate, "strip-0-1", m, func(sp *spec.Spec) {
	sp.Interpolate = &spec.InterpolateParams{Size: 4 * Size, Styles: []int{0, 1}, Steps: 5}
})
grid := inference(store, spec.KindInterpolate, "grid-0-1-2-3", m, func(sp *spec.Spec) {
	sp.Interpolate = &spec.InterpolateParams{Size: 4 * Size, Styles: []int{0, 1, 2, 3}, Steps: 4}
})
must(0, nbui.Images([]string{"two-style strip", "four-style grid"}, must(lab.Output(store, strip.ID)), must(lab.Output(store, grid.ID))))`),
		md(`
## AdaIN: any style image

A small AdaIN decoder (encoder = VGG-19 up to relu2_1 on the CPU, relu3_1 on XLA; the paper uses relu4_1),
trained with the content-to-AdaIN-target loss and the mean-variance style loss on two paintings, then applied to
a painting it never saw during training, at full strength and at α = 0.5.`),
		code(`
func adainModel(store *tracker.Store) string {
	preset := "tiny"
	if Size >= 64 {
		preset = "cpu"
	}
	c := must(train.Preset(preset, train.KindAdaIN))
	c.Size, c.SampleSize, c.Steps, c.Batch, c.LearningRate = Size, Size, Steps, 2, 0.01
	c.SampleEvery, c.CheckpointEvery = 0, 0
	r := must(lab.Execute(store, lab.TrainSpec(Experiment, "adain-meanvar", Styles[:2], c, 1)))
	return must(lab.ModelPath(store, r.ID))
}

%%
store := must(lab.Open())
defer store.Close()
m := adainModel(store)
unseen := "images/style/renoir_moulin_de_la_galette.jpg"
var ims []*imageio.Image
for _, alpha := range []float64{1, 0.5} {
	a := alpha
	r := inference(store, spec.KindAdaIN, fmt.Sprintf("adain-alpha-%g", a), m, func(sp *spec.Spec) {
		sp.Inputs.Styles = []spec.Input{{Path: unseen}}
		sp.AdaIN = &spec.AdaINParams{Size: 4 * Size, Alpha: &a}
	})
	ims = append(ims, must(lab.Output(store, r.ID)))
}
must(0, nbui.Images([]string{"content", "style (unseen)", "AdaIN α=1", "AdaIN α=0.5"},
	append([]*imageio.Image{must(lab.LoadImage(ContentImage, 4*Size)), must(lab.LoadImage(unseen, 4*Size))}, ims...)...))`),
		md(`
## The runs in one table

Training time is the run's wall time; the final content and style losses are the last step's (unweighted, batch
means); inference is the time per image of the stylize runs (first call included, so graph building too).`),
		code(`
%%
store := must(lab.Open())
defer store.Close()
var rows [][]string
for _, name := range []string{"cin-gram", "cin-meanvar", "adain-meanvar"} {
	r := must(lab.Latest(store, Experiment, "", []string{name}))[0]
	ms := "—"
	if name == "cin-gram" {
		s := must(lab.Latest(store, Experiment, "", []string{"style-0"}))[0]
		ms = s.Tags["ms_per_image"]
	}
	if name == "adain-meanvar" {
		s := must(lab.Latest(store, Experiment, "", []string{"adain-alpha-1"}))[0]
		ms = s.Tags["ms_per_image"]
	}
	sps, _ := strconv.ParseFloat(r.Tags["seconds_per_step"], 64)
	rows = append(rows, []string{name, r.Params["loss"], r.Duration().Round(time.Second).String(), fmt.Sprintf("%.2f", sps),
		nbui.FormatFloat(r.Latest["content"]), nbui.FormatFloat(r.Latest["style"]), ms})
}
nbui.Table(fmt.Sprintf("feed-forward runs (%d px crops, %d steps)", Size, Steps),
	[]string{"run", "loss", "training time", "s/step", "final content", "final style", "inference ms/image"}, rows)`),
	}}
}
