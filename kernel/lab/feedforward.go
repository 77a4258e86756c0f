package lab

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/stylelab/stylelab/jobs/runner"
	"github.com/stylelab/stylelab/jobs/spec"
	"github.com/stylelab/stylelab/experiments/train"
	"github.com/stylelab/stylelab/experiments/vgg"
	"github.com/stylelab/stylelab/kernel/nbui"
	"github.com/stylelab/stylelab/tracker"
)

// TrainSpec is a training run for Execute: kind, styles (repository-relative), loss and configuration.
func TrainSpec(experiment, name string, styles []string, cfg train.Config, seed uint64) *spec.Spec {
	c := cfg
	sp := &spec.Spec{Version: spec.Version, Kind: spec.KindTrain, Experiment: experiment, Name: name, Seed: seed,
		Train: &c, Inputs: spec.Inputs{ContentDir: &spec.Folder{Path: "images/content"}}}
	for _, s := range styles {
		sp.Inputs.Styles = append(sp.Inputs.Styles, spec.Input{Path: s})
	}
	return sp
}

// Execute returns a FINISHED run of sp, a spec of any kind with repository-relative paths: an existing run of
// the same experiment with the same spec key, or a new one executed by jobs/runner (training under a
// live progress bar). A failed run is returned as an error.
func Execute(s *tracker.Store, sp *spec.Spec) (*tracker.RunInfo, error) {
	if strings.ContainsAny(sp.Experiment, `'"\`) {
		return nil, fmt.Errorf("lab: experiment name %q must not contain quotes or backslashes", sp.Experiment)
	}
	root, err := Root()
	if err != nil {
		return nil, err
	}
	sp.BaseDir = root
	if p := os.Getenv(vgg.EnvWeights); p != "" && sp.Weights.File == nil {
		sp.Weights.File = &spec.Input{Path: p}
	}
	if n := os.Getenv(vgg.EnvNet); n != "" && sp.Weights.Net == "" {
		sp.Weights.Net = strings.ToLower(strings.TrimSpace(n))
	}
	p, err := runner.Prepare(sp, false, nil)
	if err != nil {
		return nil, err
	}
	if old, err := finishedWithKey(s, sp); err != nil || old != nil {
		if old != nil {
			fmt.Printf("%s: reusing run %s (same parameters, inputs and weights)\n", old.Name, short(old.ID))
		}
		return old, err
	}
	// An interrupted cell (SIGINT from GoNB) stops at the next step boundary, as in Stylise: a training run is
	// recorded KILLED with the checkpoint of its last completed step as its model.safetensors.
	ctx, stop := runner.NotifyInterrupt(context.Background())
	defer stop()
	o := runner.Options{Store: s, Notebook: notebookName(), Context: ctx}
	var bar *nbui.Progress
	if sp.Kind == spec.KindTrain {
		bar = nbui.NewProgress(fmt.Sprintf("training %s (%s, %s, %d px)", sp.Name, sp.Train.Kind, sp.Train.Loss, sp.Train.Size), sp.Train.Steps)
		o.OnTrainStep = func(r train.StepReport) {
			bar.Update(r.Step, map[string]float64{"total": r.Total, "content": r.Content, "style": r.Style})
		}
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

// ModelPath is the file of a training run's final checkpoint inside the tracker's artifact store (to use as a
// stylize, interpolate or adain spec's inputs.model).
func ModelPath(s *tracker.Store, runID string) (string, error) {
	a, err := s.FindArtifact(runID, runner.ModelArtifact)
	if err != nil {
		return "", fmt.Errorf("run %s has no %s: is it a finished training run? %w", short(runID), runner.ModelArtifact, err)
	}
	return s.ArtifactPath(a.SHA256)
}
