package notebooks

func compare04() Notebook {
	return Notebook{File: "04-compare-runs.ipynb", Cells: []Cell{
		md(`
# 04 — Searching and comparing runs

Every optimisation made from a notebook, the CLI (‵stylelab run‵) or a sweep is a **run** in the tracker, a SQLite
database (‵$STYLELAB_DB‵, by default ‵runs/stylelab.db‵ in the repository) with the files it produced beside it.
A run holds its parameters (write-once), a value per step of each metric, tags (backend, weights, provenance) and
artifacts (the output image). This notebook makes a few runs that differ in one choice each, finds them again
with a search, compares them, and points to the dashboard that shows the same store in a browser.

It also finds the runs of notebook 01 when both use the same database: the tracker is how results travel between
cells, notebooks and tools.`),
		code(SetupCell),
		md(`
## Set-up

As in notebook 01: declarations here are re-declared in every later cell (GoNB runs each cell as a new program),
and the size follows the backend (‵%env STYLELAB_NB_SIZE …‵ overrides it).`),
		code(`
import (
	"fmt"

	"github.com/stylelab/stylelab/experiments/gatys"
	"github.com/stylelab/stylelab/experiments/imageio"
	"github.com/stylelab/stylelab/jobs/runner"
	"github.com/stylelab/stylelab/experiments/vgg"
	"github.com/stylelab/stylelab/kernel/lab"
	"github.com/stylelab/stylelab/kernel/nbui"
	"github.com/stylelab/stylelab/tracker"
)

const (
	Experiment   = "notebook-04-compare"
	ContentImage = "images/content/coffee.jpg"
	StyleImage   = "images/style/hokusai_great_wave.jpg"
)

var Size, Steps = lab.Scale(128, 15, 256, 200)

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// variants are the runs compared here: the Gram loss with Adam (the baseline), with L-BFGS, and with max pooling
// in the loss network instead of average pooling.
func variants() []lab.Spec {
	base := gatys.DefaultConfig()
	base.Size, base.Steps, base.Seed = Size, Steps, 1
	lbfgs, maxPool := base, base
	lbfgs.Optimizer = "lbfgs"
	maxPool.Pool = vgg.PoolMax
	var specs []lab.Spec
	for _, v := range []struct {
		name string
		cfg  gatys.Config
	}{{"adam-avgpool", base}, {"lbfgs-avgpool", lbfgs}, {"adam-maxpool", maxPool}} {
		specs = append(specs, lab.Spec{Experiment: Experiment, Name: v.name, Content: ContentImage, Styles: []string{StyleImage}, Config: v.cfg})
	}
	return specs
}

%%
fmt.Println(lab.ScaleNote(Size, Steps))
fmt.Println("database:", must(lab.DBPath()))`),
		md(`
## Three runs that differ in one choice each

Gatys et al. optimised with L-BFGS and replaced VGG's max pooling by average pooling ("improves the gradient
flow and one obtains slightly more appealing results"). The baseline here is Adam with average pooling; one run
changes the optimiser, one the pooling. An L-BFGS step may evaluate the loss several times (line search), so it
costs more per step. Runs that already exist with the same parameters are reused, not recomputed.`),
		code(`
%%
store := must(lab.Open())
defer store.Close()
for _, spec := range variants() {
	r := must(lab.Stylise(store, spec))
	fmt.Printf("%-14s run %s  %s  style %.4g  content %.4g\n", r.Name, r.ID[:8], r.Status, r.Latest["style"], r.Latest["content"])
}`),
		md(`
## Searching the tracker

‵Store.Search(filter, orderBy, limit)‵ takes MLflow-like filters over params, tags, metrics (their latest value)
and attributes:

    experiment = 'notebook-04-compare' and status = 'FINISHED' and params.size = '128'
    params.loss = 'gram' and metrics.style_rel < 0.5
    params.optimizer in ('adam', 'lbfgs') and name like 'adam-%'

Here: this notebook's runs at the current size, best final style loss first; then every finished Gram-loss run
in the database at this size, whichever notebook or tool made it.`),
		code(`
%%
store := must(lab.Open())
defer store.Close()
mine := must(store.Search(fmt.Sprintf("experiment = '%s' and status = 'FINISHED' and params.size = '%d' and params.steps = '%d'", Experiment, Size, Steps), "metrics.style ASC", 20))
nbui.CompareRuns("this notebook's runs, best style loss first (columns: the params that differ)", mine, []string{"total", "style", "content", "style_rel"})
gram := must(store.Search(fmt.Sprintf("params.loss = 'gram' and status = 'FINISHED' and params.size = '%d'", Size), "start_time DESC", 20))
nbui.CompareRuns(fmt.Sprintf("every finished Gram-loss run at %d px, newest first", Size), gram, []string{"style_rel", "content"})`),
		md(`
## Comparing the three runs

Outputs side by side, then each metric overlaid across the runs. The runs are found again by name (‵lab.Latest‵)
in this new cell program.`),
		code(`
// compared returns this notebook's three runs at the current size and steps, in variants() order.
func compared(store *tracker.Store) []tracker.RunInfo {
	var names []string
	for _, s := range variants() {
		names = append(names, s.Name)
	}
	return must(lab.Latest(store, Experiment, fmt.Sprintf("params.size = '%d' and params.steps = '%d'", Size, Steps), names))
}

%%
store := must(lab.Open())
defer store.Close()
runs := compared(store)
outs := must(lab.Outputs(store, runs))
content := must(lab.LoadImage(ContentImage, Size))
style := must(lab.LoadImage(StyleImage, Size))
captions := []string{"content", "style"}
for _, r := range runs {
	captions = append(captions, fmt.Sprintf("%s (%s s/step)", r.Name, r.Tags["seconds_per_step"]))
}
must(0, nbui.Images(captions, append([]*imageio.Image{content, style}, outs...)...))
must(0, nbui.OverlayRuns(store, lab.IDs(runs), []string{"style_rel", "content", "total"}))`),
		md(`
## One run in detail

The run card of the run with the smallest final total loss, and all of its metrics in one chart.`),
		code(`
%%
store := must(lab.Open())
defer store.Close()
runs := compared(store)
best := runs[0]
for _, r := range runs[1:] {
	if r.Latest["total"] < best.Latest["total"] {
		best = r
	}
}
nbui.RunCard(&best)
must(0, nbui.RunChart(store, best.ID))`),
		md(`
## Did it reproduce? Rerunning a recorded run

Every run stores its resolved **spec** (artifact ‵spec.json‵: inputs with their SHA-256, the loss network's weights,
every parameter, the seed). ‵runner.Rerun‵ — the same as ‵stylelab rerun RUN‵ in a terminal — executes that spec
again as a new run tagged ‵rerun.of‵, then compares every metric at every step and the output image's hash. On the
CPU backend the verdict must be ‵identical‵ (bit for bit); on a GPU, ‵within tolerance‵. ‵runner.Diff‵
(‵stylelab runs diff A B‵) lists what differs between the two records: spec, provenance, final metrics.`),
		code(`
%%
store := must(lab.Open())
defer store.Close()
orig := compared(store)[0]
v := must(runner.Rerun(store, orig.ID, runner.RerunOptions{}))
fmt.Printf("original %s\nrerun    %s\nverdict: %s\n", v.Original[:8], v.Rerun[:8], v.Summary())
for _, w := range v.Warnings {
	fmt.Println("warning:", w)
}
d := must(runner.Diff(store, v.Original, v.Rerun))
fmt.Printf("spec differences: %d; provenance differences: %d\n", len(d.Spec), len(d.Provenance))
for _, c := range d.Provenance {
	fmt.Printf("  %s: %.60q → %.60q\n", c.Key, c.A, c.B)
}
re := must(store.GetRun(v.Rerun))
nbui.CompareRuns("the run and its rerun", []tracker.RunInfo{orig, *re}, []string{"total", "style", "content"})
if !v.OK() {
	panic("the rerun did not reproduce: " + v.Summary())
}`),
		md(`
## The dashboard

‵stylelab serve‵ shows the same store in a browser: a filterable runs table, a page per run (parameters, tags,
provenance, charts, images) and a compare page (overlaid curves, a parameter diff, outputs side by side). It only
reads the database, so it can run while notebooks write to it. Start it in a terminal with the command below
(‵make notebook‵ does not start it; ‵docker compose up‵ starts both), then follow the links.`),
		code(`
%%
store := must(lab.Open())
defer store.Close()
lab.Dashboard(store, compared(store))`),
	}}
}
