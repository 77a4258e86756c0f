package notebooks

func study05() Notebook {
	return Notebook{File: "05-study.ipynb", Cells: []Cell{
		md(`
# 05 — A loss study: is one style loss better than another, and how sure are we?

Notebook 01 compares style losses on one photograph and one painting with one seed, each scored by its own
objective. That is a demonstration, not a result. This notebook runs a **study**: three losses (the **arms**)
on four content × style pairs (the **units**, the replicates) with two seeds each, judges every output with a
network that took no part in the optimisation, and reports statistics over the units:

- every style loss, the content loss, SSIM to the content image, and sliced Wasserstein distances of colours (CIE
  Lab) and features, all computed on a **judge** VGG-19 with other weights than the optimising one;
- per arm the mean over units with a bootstrap interval; per pair of arms the paired difference, a Wilcoxon
  signed-rank test and Holm's correction; a sentence per pair saying what the data support.

The same study runs from a terminal with ‵stylelab study studies/tiny.json --wait‵ (worker processes or Slurm);
here the runs execute in the kernel, one after another, under a live progress bar.`),
		code(SetupCell),
		md(`
## Set-up

The study file, written as it would be on disk: arms are spec paths set over a base spec, units are pairs of
shipped images, seeds are per unit. Gram and mmd-poly with the kernel (xᵀy)² are the same loss (Li et al. 2017,
"Demystifying Neural Style Transfer"): a study must find them identical on every judge, which checks the whole
pipeline. Mean-variance matches only the channels' means and deviations.`),
		code(`
import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/stylelab/stylelab/experiments/imageio"
	"github.com/stylelab/stylelab/jobs/runner"
	"github.com/stylelab/stylelab/jobs/studies"
	"github.com/stylelab/stylelab/kernel/lab"
	"github.com/stylelab/stylelab/kernel/nbui"
	"github.com/stylelab/stylelab/tracker"
	"github.com/stylelab/stylelab/tracker/dashboard"
)

var Size, Steps = lab.Scale(64, 12, 256, 100)

var pairs = [][2]string{
	{"images/content/chelsea.jpg", "images/style/vangogh_starry_night.jpg"},
	{"images/content/colosseum.jpg", "images/style/munch_scream.jpg"},
	{"images/content/coffee.jpg", "images/style/hokusai_great_wave.jpg"},
	{"images/content/rocket.jpg", "images/style/kandinsky_composition_viii.jpg"},
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// studyFile is the study, with the images' paths made absolute so the kernel's working folder does not matter.
func studyFile() *studies.File {
	var units []map[string]string
	for _, p := range pairs {
		units = append(units, map[string]string{"content": must(lab.Path(p[0])), "style": must(lab.Path(p[1]))})
	}
	doc := map[string]any{
		"name": "notebook-05",
		"base": map[string]any{"version": 2, "kind": "optimise", "experiment": "notebook-05-study", "weights": map[string]any{"random_seed": 0},
			"optimise": map[string]any{"size": Size, "steps": Steps, "optimizer": "adam", "init": "content"}},
		"arms": []map[string]any{
			{"name": "gram", "set": map[string]any{"optimise.loss": "gram"}},
			{"name": "mmd-poly", "set": map[string]any{"optimise.loss": "mmd-poly", "optimise.loss_options.poly_degree": 2, "optimise.loss_options.poly_c": 0}},
			{"name": "meanvar", "set": map[string]any{"optimise.loss": "meanvar"}},
		},
		"units":      map[string]any{"pairs": units},
		"seeds":      []int{1, 2},
		"judge":      map[string]any{"weights": map[string]any{"random_seed": 1000}, "projections": 64, "projection_seed": 0},
		"statistics": map[string]any{"bootstrap": 10000, "level": 0.95, "seed": 1},
	}
	return must(studies.Parse(strings.NewReader(string(must(json.Marshal(doc))))))
}

// sweepsRoot is where studies live: sweeps/ beside the notebook's database, as for the CLI.
func sweepsRoot() string { return filepath.Join(filepath.Dir(must(lab.DBPath())), "sweeps") }

// theStudy finds this notebook's study (the same file: same images, size and steps), or creates it.
func theStudy(create bool) (*studies.Record, *studies.Design) {
	f := studyFile()
	d := must(f.Expand("", 0))
	if rec := must(studies.Find(sweepsRoot(), f)); rec != nil {
		return rec, d
	}
	if !create {
		panic("no study of this notebook yet: run the cell that creates it")
	}
	rec, _ := must2(studies.Create(sweepsRoot(), d, must(lab.DBPath()), "", "local", false))
	return rec, d
}

func must2[A, B any](a A, b B, err error) (A, B) {
	if err != nil {
		panic(err)
	}
	return a, b
}

%%
fmt.Println(lab.ScaleNote(Size, Steps))
fmt.Println("database:", must(lab.DBPath()))`),
		md(`
## The design

‵Expand‵ builds one ordinary spec per arm × unit × seed. Nothing runs yet; a bad file (an unknown spec path, an
empty unit list, a judge identical to the optimising network, too many runs) is refused here with the field named.`),
		code(`
%%
rec, d := theStudy(true)
fmt.Printf("study %s: %d arms × %d units × %d seeds = %d runs\n", rec.ID, len(d.File.Arms), len(d.Units), len(d.File.Seeds), len(d.Runs))
for _, u := range d.Units {
	fmt.Println("  unit", u.ID)
}`),
		md(`
## Running it, with live progress

Every run is recorded in the tracker like any other, tagged ‵study.id‵, ‵study.arm‵, ‵study.unit‵ and
‵study.seed‵. Runs that already finished are skipped, so this cell resumes an interrupted study.`),
		code(`
%%
rec, _ := theStudy(false)
_, sw := must2(studies.Open(sweepsRoot(), rec.ID))
store := must(lab.Open())
defer store.Close()
p := nbui.NewProgress("study "+rec.ID+": runs", len(rec.Runs))
failed := 0
err := studies.RunHere(context.Background(), sw, store, func(done, total int, err error) {
	if err != nil {
		failed++
	}
	p.Update(done, map[string]float64{"failed": float64(failed), "to do": float64(total)})
})
if err != nil {
	p.Fail(err)
	panic(err)
}
p.Done()`),
		md(`
## Judging and statistics

The evaluation judges each finished run's output with the judge network (seed 1000; the runs optimised against
seed 0, which is checked by the weights' SHA-256), then computes the statistics. It is recorded as a tracker run of
its own; judging again with another judge (‵stylelab study evaluate ID --judge-seed N‵) is a new evaluation of the
same runs.`),
		code(`
%%
rec, _ := theStudy(false)
_, sw := must2(studies.Open(sweepsRoot(), rec.ID))
store := must(lab.Open())
defer store.Close()
p := nbui.NewProgress("study "+rec.ID+": judging", len(rec.Runs))
ev := must(studies.Evaluate(rec, sw, studies.EvaluateOptions{Store: store, Progress: func(done, total int) { p.Update(done, nil) }}))
p.Done()
fmt.Println("evaluation run", ev.RunID)
for _, f := range ev.Analysis.Findings {
	fmt.Println("•", f)
}
gm := ev.Analysis.Comparison("gram", "mmd-poly", "judge/style/gram")
fmt.Printf("gram vs mmd-poly on the judge's Gram distance: relative |Δ| %.2g\n", gm.Relative)
mv := ev.Analysis.Comparison("gram", "meanvar", "judge/style/gram")
fmt.Printf("gram vs meanvar on the judge's Gram distance: Δ = %.3g, 95%% CI [%.3g, %.3g], relative %.2g\n", mv.Diff.Estimate, mv.Diff.Lo, mv.Diff.Hi, mv.Relative)`),
		md(`
## The outputs

One row per unit: the content, the style, and each arm's output for seed 1.`),
		code(`
%%
rec, _ := theStudy(false)
store := must(lab.Open())
defer store.Close()
runs := must(store.SearchRuns(tracker.Query{Filter: "tags.\"study.id\" = '" + rec.ID + "' AND tags.\"study.seed\" = '1' AND status = 'FINISHED'"}))
byCell := map[string]string{}
for _, r := range runs {
	byCell[r.Tags["study.unit"]+"/"+r.Tags["study.arm"]] = r.ID
}
var captions []string
var images []*imageio.Image
for i, u := range rec.Units {
	captions = append(captions, u.ID, "style")
	images = append(images, must(lab.LoadImage(pairs[i][0], Size)), must(lab.LoadImage(pairs[i][1], Size)))
	for _, arm := range []string{"gram", "mmd-poly", "meanvar"} {
		captions = append(captions, arm)
		images = append(images, must(runner.Output(store, byCell[u.ID+"/"+arm])))
	}
}
must(0, nbui.Images(captions, images...))`),
		md(`
## The report

The same report as ‵stylelab study report ID --out report.html‵ and the dashboard's ‵/studies/ID‵: the design,
the image grid, means with intervals, the forest plot of the paired differences, the cross-loss matrix (each loss's
outputs judged by every loss) and the cost per arm. With four units the exact Wilcoxon test cannot go below
p = 0.125, so no difference can be significant at 0.05 however large: the findings say so; add units to decide.`),
		code(`
%%
rec, _ := theStudy(false)
store := must(lab.Open())
defer store.Close()
nbui.HTML(must(dashboard.StudySnippet(store, rec.ID)), "study "+rec.ID+": see stylelab study report "+rec.ID)`),
	}}
}
