package studies

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"

	"github.com/stylelab/stylelab/experiments/losses"
	"github.com/stylelab/stylelab/experiments/study"
	"github.com/stylelab/stylelab/experiments/train"
	"github.com/stylelab/stylelab/tracker"
)

// A feed-forward study file (issue #17, "for feed-forward work, the kind"):
//
//	{"name": "ff-tiny",
//	 "feedforward": {"losses": ["gram", "meanvar"], "styles": ["../images/style/a.jpg", "../images/style/b.jpg"],
//	                 "content_dir": "../images/content-train", "held_out": ["../images/content/colosseum.jpg"],
//	                 "preset": "tiny", "steps": 2, "size": 32, "path_steps": 5},
//	 "seeds": [1, 2],
//	 "judge": {…as in any study…}, "statistics": {…as in any study…}}
//
// For every seed and loss it runs RunFeedForward: S single-style nets and one CIN net over the S styles. The
// arms analysed are "<loss>/single" and "<loss>/cin" (every pair of them compared, Holm over the family); the
// units are held-out content × style ("<content stem>×<style stem>"), each seed one observation of the unit,
// so the same means, bootstrap CIs over units, Wilcoxon and Holm as an optimise study apply. The CIN arms also
// carry the interpolation smoothness (MonotoneFraction over every seed's paths). Runs are in-process (no
// sweep: no Slurm, resume or cancel for this form); "base", "arms" and "units" must be absent. With a
// store, an evaluation run tagged study.id = the study id holds the report (dashboard /studies/ID).

// FeedForwardFile is the "feedforward" object of a study file.
type FeedForwardFile struct {
	Losses     []string `json:"losses"`
	Styles     []string `json:"styles"`      // image files or folders; at least 2 images
	ContentDir string   `json:"content_dir"` // folder of training photos
	HeldOut    []string `json:"held_out"`    // image files or folders never seen in training
	Preset     string   `json:"preset"`      // train preset: tiny, cpu, gpu
	Steps      int      `json:"steps"`       // training steps per net
	Size       int      `json:"size"`        // side of the stylised held-out images
	PathSteps  int      `json:"path_steps"`  // points on the style 0 → 1 path (default 5)
}

// Arm names of a feed-forward study.
func ffArm(loss, kind string) string { return loss + "/" + kind }

// FeedForwardArms lists the arms in order: per loss, single then cin.
func (ff *FeedForwardFile) FeedForwardArms() []string {
	var a []string
	for _, l := range ff.Losses {
		a = append(a, ffArm(l, ArmSingle), ffArm(l, ArmCIN))
	}
	return a
}

func (f *File) checkFeedForward() error {
	ff := f.FeedForward
	switch {
	case len(f.Base) > 0:
		return errors.New(`study file: "base" with "feedforward": a feed-forward study trains nets from "feedforward.preset"; remove "base" (or "feedforward" for an optimise study)`)
	case len(f.Arms) > 0:
		return errors.New(`study file: "arms" with "feedforward": the arms of a feed-forward study are <loss>/single and <loss>/cin from "feedforward.losses"; remove "arms"`)
	case len(f.Units.Content) > 0 || len(f.Units.Style) > 0 || len(f.Units.Pairs) > 0 || f.Units.Pairing != "":
		return errors.New(`study file: "units" with "feedforward": the units are "feedforward.held_out" × "feedforward.styles"; remove "units"`)
	case len(f.Seeds) == 0:
		return errors.New(`study file: "seeds" is empty: give at least one training seed (two or more to see seed variance)`)
	case len(ff.Losses) == 0:
		return fmt.Errorf(`study file: feedforward.losses is empty: list the losses the nets are trained under, from %v`, losses.Names)
	case len(ff.Styles) == 0:
		return errors.New(`study file: feedforward.styles is empty: give at least 2 style images (files or folders)`)
	case ff.ContentDir == "":
		return errors.New(`study file: feedforward.content_dir is empty: give the folder of training photos`)
	case len(ff.HeldOut) == 0:
		return errors.New(`study file: feedforward.held_out is empty: give content images (files or folders) that are not in content_dir`)
	case ff.Steps < 1:
		return fmt.Errorf(`study file: feedforward.steps = %d: give the training steps per net (at least 1)`, ff.Steps)
	case ff.Size < 8:
		return fmt.Errorf(`study file: feedforward.size = %d: give the side in pixels of the stylised held-out images (at least 8, e.g. 64)`, ff.Size)
	case ff.PathSteps != 0 && ff.PathSteps < 2:
		return fmt.Errorf(`study file: feedforward.path_steps = %d: give at least 2 points on the interpolation path (default 5)`, ff.PathSteps)
	}
	if !armName.MatchString(f.Name) {
		return fmt.Errorf("study file: name %q: use letters, digits and . _ + - (it becomes the study id and the runs' experiment)", f.Name)
	}
	seen := map[string]bool{}
	for i, l := range ff.Losses {
		if !slices.Contains(losses.Names, l) {
			return fmt.Errorf("study file: feedforward.losses[%d] %q: not a loss; use one of %v", i, l, losses.Names)
		}
		if seen[l] {
			return fmt.Errorf("study file: feedforward.losses[%d] %q is listed twice", i, l)
		}
		seen[l] = true
	}
	for _, kind := range []string{train.KindSingle, train.KindCIN} {
		if _, err := train.Preset(ff.Preset, kind); err != nil {
			return fmt.Errorf("study file: feedforward.preset: %w", err)
		}
	}
	return f.checkSettings()
}

// ffInputs lists the styles and held-out images and finds the training folder (paths as in listImages).
func (ff *FeedForwardFile) inputs(baseDir string) (styles, held []string, content string, err error) {
	if styles, err = listImages(ff.Styles, baseDir, "feedforward.styles"); err != nil {
		return
	}
	if len(styles) < 2 {
		return nil, nil, "", fmt.Errorf("study file: feedforward.styles: %d style image: a CIN net over one style is a single net; give at least 2", len(styles))
	}
	if held, err = listImages(ff.HeldOut, baseDir, "feedforward.held_out"); err != nil {
		return
	}
	content = ff.ContentDir
	if !filepath.IsAbs(content) {
		if _, e := os.Stat(content); e != nil && baseDir != "" {
			content = filepath.Join(baseDir, content)
		}
	}
	if fi, e := os.Stat(content); e != nil || !fi.IsDir() {
		return nil, nil, "", fmt.Errorf("study file: feedforward.content_dir %q is not a folder (found from the working directory, then the study file's folder): give the folder of training photos", ff.ContentDir)
	}
	// Relative paths are made absolute so the nets' specs find them from any directory.
	for _, l := range [][]string{styles, held} {
		for i, p := range l {
			if !filepath.IsAbs(p) {
				if _, e := os.Stat(p); e != nil && baseDir != "" {
					p = filepath.Join(baseDir, p)
				}
				l[i], _ = filepath.Abs(p)
			}
		}
	}
	content, _ = filepath.Abs(content)
	return styles, held, content, nil
}

// FeedForwardPlan is what a feed-forward study file will run.
type FeedForwardPlan struct {
	Arms       []string `json:"arms"`
	Units      []Unit   `json:"units"` // held-out content × style
	Seeds      []uint64 `json:"seeds"`
	TrainRuns  int      `json:"train_runs"`  // seeds × losses × (S + 1)
	JudgedRuns int      `json:"judged_runs"` // seeds × losses × 2 · S · H stylize runs judged
	PathRuns   int      `json:"path_runs"`   // seeds × losses × H · path_steps stylize runs on the interpolation path
	Runs       int      `json:"runs"`        // every run recorded
	ContentDir string   `json:"content_dir"`
	Styles     []string `json:"styles"`
	HeldOut    []string `json:"held_out"`
}

// PlanFeedForward lists the inputs (touching no image's bytes except to list folders) and counts the runs.
func (f *File) PlanFeedForward(baseDir string) (*FeedForwardPlan, error) {
	ff := f.FeedForward
	if ff == nil {
		return nil, errors.New("study file: not a feed-forward study (no \"feedforward\")")
	}
	styles, held, content, err := ff.inputs(baseDir)
	if err != nil {
		return nil, err
	}
	ps := ff.PathSteps
	if ps == 0 {
		ps = 5
	}
	n, l, s, h := len(f.Seeds), len(ff.Losses), len(styles), len(held)
	p := &FeedForwardPlan{Arms: ff.FeedForwardArms(), Seeds: f.Seeds, TrainRuns: n * l * (s + 1), JudgedRuns: n * l * 2 * s * h,
		PathRuns: n * l * h * ps, ContentDir: content, Styles: styles, HeldOut: held}
	p.Runs = p.TrainRuns + p.JudgedRuns + p.PathRuns
	for _, c := range held {
		for _, st := range styles {
			p.Units = append(p.Units, Unit{ID: stem(c) + "×" + stem(st), Content: c, Style: st})
		}
	}
	return p, nil
}

// FeedForwardCount is the number of runs a feed-forward study file records.
func (f *File) FeedForwardCount(baseDir string) (int, error) {
	p, err := f.PlanFeedForward(baseDir)
	if err != nil {
		return 0, err
	}
	return p.Runs, nil
}

// FeedForwardStudy is the result of a feed-forward study file.
type FeedForwardStudy struct {
	ID           string                `json:"id"`
	Name         string                `json:"name"`
	Dir          string                `json:"folder"`
	Plan         *FeedForwardPlan      `json:"plan"`
	Observations []study.Observation   `json:"-"`
	Analysis     *study.Analysis       `json:"analysis"`
	Smoothness   map[string]Smoothness `json:"smoothness"` // by CIN arm ("<loss>/cin"), pooled over seeds
	TrainRuns    []string              `json:"train_runs"`
	// EvaluationRun is the tracker run holding the report (stylelab study report ID); "" without a store.
	EvaluationRun string `json:"evaluation_run,omitempty"`
}

// RunFeedForwardFile runs a feed-forward study file in-process: RunFeedForward per seed (outputs under
// dir/s<seed>, runs recorded in st under experiment id), then study.Analyse over the judged rows.
func (f *File) RunFeedForwardFile(baseDir, dir, id string, st *tracker.Store, progress func(kind, output string)) (*FeedForwardStudy, error) {
	plan, err := f.PlanFeedForward(baseDir)
	if err != nil {
		return nil, err
	}
	ff := f.FeedForward
	// Everything checkable is checked before anything trains: the held-out images against the training folder,
	// the judge's weights.
	if err := checkHeldOut(plan.ContentDir, plan.HeldOut); err != nil {
		return nil, err
	}
	jcfg, err := f.Judge.JudgeConfig(baseDir)
	if err != nil {
		return nil, err
	}
	ps := ff.PathSteps
	if ps == 0 {
		ps = 5
	}
	unitOf := map[[2]string]string{}
	for _, u := range plan.Units {
		unitOf[[2]string{u.Content, u.Style}] = u.ID
	}
	res := &FeedForwardStudy{ID: id, Name: f.Name, Dir: dir, Plan: plan, Smoothness: map[string]Smoothness{}}
	metrics := SummaryMetrics()
	for _, seed := range f.Seeds {
		sd := filepath.Join(dir, fmt.Sprintf("s%d", seed))
		if err := os.MkdirAll(sd, 0o755); err != nil {
			return nil, err
		}
		d := FeedForwardDesign{Losses: ff.Losses, Styles: plan.Styles, TrainContent: plan.ContentDir, HeldOut: plan.HeldOut,
			Preset: ff.Preset, Steps: ff.Steps, Size: ff.Size, PathSteps: ps, Dir: sd, Seed: seed, Experiment: id, Progress: progress}
		r, err := RunFeedForward(d, jcfg, st)
		if err != nil {
			return nil, fmt.Errorf("study %s, seed %d: %w", f.Name, seed, err)
		}
		res.TrainRuns = append(res.TrainRuns, r.TrainRuns...)
		for _, row := range r.Scores {
			arm := ffArm(row.Loss, row.Arm)
			unit := unitOf[[2]string{row.Content, plan.Styles[row.Style]}]
			for _, m := range append(slices.Clone(metrics), MetricSecondsPerStep, MetricPeakRSS) {
				if v, ok := row.Scores[m]; ok {
					res.Observations = append(res.Observations, study.Observation{Run: row.RunID, Arm: arm, Unit: unit, Seed: seed, Metric: m, Value: v})
				}
			}
		}
		for loss, sm := range r.Smoothness {
			a := ffArm(loss, ArmCIN)
			acc := res.Smoothness[a]
			acc.Monotone += sm.Monotone
			acc.Paths += sm.Paths
			acc.Fraction = float64(acc.Monotone) / float64(acc.Paths)
			res.Smoothness[a] = acc
		}
	}
	o := f.Statistics.Options()
	o.Arms, o.Metrics = plan.Arms, metrics
	o.Describe = []string{MetricSecondsPerStep, MetricPeakRSS}
	if res.Analysis, err = study.Analyse(res.Observations, o); err != nil {
		return nil, fmt.Errorf("study %s: analysis: %w", f.Name, err)
	}
	if st != nil {
		if err := res.record(f, jcfg, o, st); err != nil {
			return res, fmt.Errorf("study %s: recording the evaluation: %w", f.Name, err)
		}
	}
	return res, nil
}
