package lab

import (
	"fmt"
	"os"
	"strings"

	"github.com/stylelab/stylelab/experiments/train"
	"github.com/stylelab/stylelab/experiments/vgg"
	"github.com/stylelab/stylelab/jobs/runner"
	"github.com/stylelab/stylelab/jobs/spec"
	"github.com/stylelab/stylelab/tracker"
	"github.com/stylelab/stylelab/tracker/charts"
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
	return execute(s, sp)
}

// ModelPath is the file of a training run's final checkpoint inside the tracker's artifact store (to use as a
// stylize, interpolate or adain spec's inputs.model).
func ModelPath(s *tracker.Store, runID string) (string, error) {
	a, err := s.FindArtifact(runID, runner.ModelArtifact)
	if err != nil {
		return "", fmt.Errorf("run %s has no %s: is it a finished training run? %w", charts.ShortID(runID), runner.ModelArtifact, err)
	}
	return s.ArtifactPath(a.SHA256)
}
