// Package lab runs the notebooks' experiments and keeps what they produce in the tracker, so that later cells —
// each of which GoNB runs as a new program — read results back instead of recomputing them.
//
// The design of notebook state:
//
//   - Nothing computed in a cell survives in memory: GoNB re-runs the declarations of earlier cells, not their
//     effects.
//   - An expensive result is a tracker run: Stylise executes an experiment spec through jobs/runner —
//     the same path as `stylelab run` — which records the resolved spec, parameters, provenance, a metric per
//     step and the output image as the artifact "output.png"; Stylise then returns the run. A later cell (or another notebook, or
//     `stylelab runs`, or the dashboard) finds the run with Store.Search and loads the image with Output.
//   - Re-running a cell does not recompute: every run is tagged with its spec key (spec.Spec.Key: the hash of
//     the resolved parameters, seed, the input files' contents and the loss network's weights), and Stylise
//     returns an existing FINISHED run with the same key. Change any parameter and a new run is made. Delete runs (stylelab runs rm) to force
//     a recomputation.
//   - Cheap results (scores of a few images) are simply recomputed in the cell that shows them.
//   - Every notebook run can be rerun and checked with `stylelab rerun RUN` (runner.Rerun), like a CLI run.
package lab

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/stylelab/stylelab/backends/backend"
	"github.com/stylelab/stylelab/experiments/gatys"
	"github.com/stylelab/stylelab/experiments/imageio"
	"github.com/stylelab/stylelab/experiments/vgg"
	"github.com/stylelab/stylelab/jobs/runner"
	"github.com/stylelab/stylelab/jobs/spec"
	"github.com/stylelab/stylelab/kernel/nbui"
	"github.com/stylelab/stylelab/kernel/setup"
	"github.com/stylelab/stylelab/tracker"
	"github.com/stylelab/stylelab/tracker/charts"
)

// Root is the repository root: $STYLELAB_ROOT (set by the kernelspec), else the folder above $GONB_DIR (the
// notebook's folder) when it is the repository, else the repository holding the working directory.
func Root() (string, error) {
	if r := os.Getenv("STYLELAB_ROOT"); r != "" {
		return r, nil
	}
	if d := os.Getenv("GONB_DIR"); d != "" {
		if r, err := setup.FindRoot(d); err == nil {
			return r, nil
		}
	}
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	return setup.FindRoot(wd)
}

// Path resolves a repository-relative path (absolute paths are returned as they are).
func Path(rel string) (string, error) {
	if filepath.IsAbs(rel) {
		return rel, nil
	}
	r, err := Root()
	if err != nil {
		return "", err
	}
	return filepath.Join(r, rel), nil
}

// DBPath is the tracker database notebooks use: $STYLELAB_DB (set by the kernelspec, and by the notebook tests
// to a temporary file), else ROOT/runs/stylelab.db.
func DBPath() (string, error) {
	if p := os.Getenv("STYLELAB_DB"); p != "" {
		return p, nil
	}
	return Path(filepath.Join("runs", "stylelab.db"))
}

// Open opens the notebooks' tracker store (DBPath).
func Open() (*tracker.Store, error) {
	p, err := DBPath()
	if err != nil {
		return nil, err
	}
	return tracker.Open(p)
}

// Scale picks the image size and step count of a notebook: (cpuSize, cpuSteps) on the pure-Go CPU backend,
// (accelSize, accelSteps) on XLA (a GPU), each overridden by $STYLELAB_NB_SIZE and $STYLELAB_NB_STEPS. It prints
// nothing (a notebook's global declarations run again in every cell); ScaleNote says what was chosen and why.
func Scale(cpuSize, cpuSteps, accelSize, accelSteps int) (size, steps int) {
	size, steps = cpuSize, cpuSteps
	if backend.Choose().Name == "xla" {
		size, steps = accelSize, accelSteps
	}
	if v, err := strconv.Atoi(os.Getenv("STYLELAB_NB_SIZE")); err == nil && v > 0 {
		size = v
	}
	if v, err := strconv.Atoi(os.Getenv("STYLELAB_NB_STEPS")); err == nil && v > 0 {
		steps = v
	}
	return size, steps
}

// ScaleNote describes a Scale choice: "size 48 px, 20 steps; backend go: <why>", naming the environment
// variables that overrode it.
func ScaleNote(size, steps int) string {
	info := backend.Choose()
	note := fmt.Sprintf("size %d px, %d steps; backend %s: %s", size, steps, info.Name, info.Reason)
	for _, v := range []string{"STYLELAB_NB_SIZE", "STYLELAB_NB_STEPS"} {
		if os.Getenv(v) != "" {
			note += "; $" + v + "=" + os.Getenv(v)
		}
	}
	return note
}

// LoadImage loads a repository-relative image with its longer side resized to size (0 keeps it).
func LoadImage(rel string, size int) (*imageio.Image, error) {
	p, err := Path(rel)
	if err != nil {
		return nil, err
	}
	return imageio.Load(p, size)
}

// Weights returns the loss network's weights: $STYLELAB_VGG_WEIGHTS (safetensors or .pth) when set, else the
// seeded random VGG-19, or VGG-16 with $STYLELAB_VGG_NET=vgg16 (vgg.FromEnvOrRandomNet).
func Weights(seed uint64) (*vgg.Weights, error) {
	net, err := vgg.ParseNet(os.Getenv(vgg.EnvNet))
	if err != nil {
		return nil, fmt.Errorf("$%s: %w", vgg.EnvNet, err)
	}
	if os.Getenv(vgg.EnvNet) == "" {
		net = ""
	}
	return vgg.FromEnvOrRandomNet("", net, seed)
}

// Spec is one stylisation for Stylise: the notebook-friendly form of an experiment spec (spec.Spec), with
// repository-relative paths.
type Spec struct {
	Experiment  string       // tracker experiment (the notebook's name)
	Name        string       // run name (e.g. the loss)
	Content     string       // content image, repository-relative or absolute
	Styles      []string     // style images
	Config      gatys.Config // resolved by gatys; Size is the working size
	WeightsSeed uint64       // seed of the random VGG-19 when $STYLELAB_VGG_WEIGHTS is not set
	// Mask and RegionStyles are spatial control's inputs (spec inputs.mask, inputs.region_styles): the region
	// image, and style images paired by index with Config.RegionColours. Empty for none.
	Mask         string
	RegionStyles []string
}

// OutputArtifact is the name of the output image artifact of a run (runner.OutputArtifact).
const OutputArtifact = runner.OutputArtifact

// KeyTag is the tag holding a run's spec key (runner.KeyTag).
const KeyTag = runner.KeyTag

// ExperimentSpec converts s into the experiment spec the runner executes, with paths resolved against the
// repository root and the loss network's weights from $STYLELAB_VGG_WEIGHTS or the seeded random VGG-19.
func (s Spec) ExperimentSpec() (*spec.Spec, error) {
	root, err := Root()
	if err != nil {
		return nil, err
	}
	cfg := s.Config
	sp := spec.NewOptimise(s.Experiment, s.Name, s.Content, s.Styles, cfg)
	sp.BaseDir = root // relative paths stay relative (portable), found from the repository root
	sp.Weights.RandomSeed = s.WeightsSeed
	if s.Mask != "" {
		sp.Inputs.Mask = &spec.Input{Path: s.Mask}
		for _, p := range s.RegionStyles {
			sp.Inputs.RegionStyles = append(sp.Inputs.RegionStyles, spec.Input{Path: p})
		}
	}
	if p := os.Getenv(vgg.EnvWeights); p != "" {
		sp.Weights.File = &spec.Input{Path: p}
	}
	sp.Weights.Net = strings.ToLower(strings.TrimSpace(os.Getenv(vgg.EnvNet))) // "" : the file's net, or VGG-19
	return sp, nil
}

// Stylise returns a FINISHED tracker run of spec: an existing one with the same spec key (see the package
// comment), or a new one executed by jobs/runner under a live progress bar — recorded with its spec,
// parameters, provenance, the metrics total, content, style, tv, style/<layer> and style_rel at every step,
// and the output image. A failed optimisation is recorded as a FAILED run and returned as an error. An
// interrupted one (SIGINT or SIGTERM, which is how Jupyter's interrupt reaches a GoNB cell) stops at the step
// boundary, is recorded KILLED with its last image, and returns a *runner.Interrupted.
func Stylise(s *tracker.Store, ls Spec) (*tracker.RunInfo, error) {
	sp, err := ls.ExperimentSpec()
	if err != nil {
		return nil, err
	}
	return execute(s, sp)
}

// execute is the one path of Stylise and Execute: prepare sp through jobs/runner (inputs checked and hashed),
// return the newest FINISHED run with its spec key when there is one, else run it — recorded, under a live
// progress bar when the kind has steps, stopping at a step boundary on SIGINT (how Jupyter's interrupt reaches
// a GoNB cell: SIGINT, then SIGKILL 5 s later) with the run KILLED and its last image or checkpoint kept.
func execute(s *tracker.Store, sp *spec.Spec) (*tracker.RunInfo, error) {
	if strings.ContainsAny(sp.Experiment, `'"\`) {
		return nil, fmt.Errorf("lab: experiment name %q must not contain quotes or backslashes", sp.Experiment)
	}
	p, err := runner.Prepare(sp, false, nil)
	if err != nil {
		return nil, err
	}
	if old, err := finishedWithKey(s, sp); err != nil || old != nil {
		if old != nil {
			fmt.Printf("%s: reusing run %s from %s (same parameters, inputs and weights)\n", p.Name(), charts.ShortID(old.ID), old.Start.Local().Format("2006-01-02 15:04"))
		}
		return old, err
	}
	o := runner.Options{Store: s, Notebook: notebookName(), StopOnSignal: true}
	var bar *nbui.Progress
	if p.Steps() > 0 {
		bar = nbui.NewProgress(fmt.Sprintf("%s (%s)", p.Name(), p.Job.Describe()), p.Steps())
		o.OnProgress = func(r runner.Progress) { bar.Update(r.Step, r.Metrics) }
	}
	out, err := p.Run(o)
	if err != nil {
		if bar != nil {
			bar.Fail(err)
		}
		return nil, err
	}
	if bar != nil {
		bar.Done()
	}
	return s.GetRun(out.RunID)
}

// finishedWithKey returns the newest FINISHED run of sp's experiment whose spec key (tag KeyTag) is sp's, or
// nil when there is none: what Stylise and Execute reuse instead of computing again.
func finishedWithKey(s *tracker.Store, sp *spec.Spec) (*tracker.RunInfo, error) {
	old, err := s.Search(fmt.Sprintf("experiment = '%s' and tags.`%s` = '%s' and status = 'FINISHED'", sp.Experiment, KeyTag, sp.Key()), "start_time DESC", 1)
	if err != nil || len(old) == 0 {
		return nil, err
	}
	return &old[0], nil
}

// notebookName is the notebook a cell runs in, as far as the environment tells: GoNB sets GONB_DIR to the
// notebook's folder (not its file name), so the folder is what is recorded.
func notebookName() string {
	if d := os.Getenv("GONB_DIR"); d != "" {
		return d
	}
	return "(not in a notebook)"
}

// Output loads the output image of a run from the tracker's artifact store.
func Output(s *tracker.Store, runID string) (*imageio.Image, error) { return runner.Output(s, runID) }

// Outputs loads the output image of each run, in order.
func Outputs(s *tracker.Store, runs []tracker.RunInfo) ([]*imageio.Image, error) {
	ims := make([]*imageio.Image, len(runs))
	var errs []error
	for i, r := range runs {
		var err error
		if ims[i], err = Output(s, r.ID); err != nil {
			errs = append(errs, err)
		}
	}
	return ims, errors.Join(errs...)
}

// IDs returns the ids of runs.
func IDs(runs []tracker.RunInfo) []string {
	ids := make([]string, len(runs))
	for i, r := range runs {
		ids[i] = r.ID
	}
	return ids
}

// Latest returns, for each name in names, the most recent FINISHED run of experiment with that name that also
// matches filter (the tracker's filter syntax; "" for none), in the order of names. A name without such a run is
// an error that says to run the cell that makes it.
func Latest(s *tracker.Store, experiment, filter string, names []string) ([]tracker.RunInfo, error) {
	f := fmt.Sprintf("experiment = '%s' and status = 'FINISHED'", experiment)
	if filter != "" {
		f += " and (" + filter + ")"
	}
	all, err := s.Search(f, "start_time DESC", 10000)
	if err != nil {
		return nil, err
	}
	out := make([]tracker.RunInfo, 0, len(names))
	for _, n := range names {
		found := false
		for _, r := range all {
			if r.Name == n {
				out = append(out, r)
				found = true
				break
			}
		}
		if !found {
			return nil, fmt.Errorf("no finished run %q in experiment %q matching %q in %s: run the cell that makes it first", n, experiment, filter, s.Path())
		}
	}
	return out, nil
}
