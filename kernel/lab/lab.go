// Package lab runs the notebooks' experiments and keeps what they produce in the tracker, so that later cells —
// each of which GoNB runs as a new program — read results back instead of recomputing them.
//
// The design of notebook state:
//
//   - Nothing computed in a cell survives in memory: GoNB re-runs the declarations of earlier cells, not their
//     effects.
//   - An expensive result is a tracker run: Stylise records the resolved parameters, a metric per step, and the
//     output image as the artifact "output.png", then returns the run. A later cell (or another notebook, or
//     `stylelab runs`, or the dashboard) finds the run with Store.Search and loads the image with Output.
//   - Re-running a cell does not recompute: Stylise tags each run with a key, the SHA-256 of the resolved
//     configuration, the input files' contents and the loss network's weights, and returns an existing FINISHED
//     run with the same key. Change any parameter and a new run is made. Delete runs (stylelab runs rm) to force
//     a recomputation.
//   - Cheap results (scores of a few images) are simply recomputed in the cell that shows them.
//
// This package calls gatys.Run and writes the tracker itself; experiments/runner, when it exists, is the place
// for that (provenance, reruns, verdicts), and Stylise should then delegate to it.
package lab

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/stylelab/stylelab/experiments/backend"
	"github.com/stylelab/stylelab/experiments/gatys"
	"github.com/stylelab/stylelab/experiments/imageio"
	"github.com/stylelab/stylelab/experiments/vgg"
	"github.com/stylelab/stylelab/kernel/nbui"
	"github.com/stylelab/stylelab/kernel/setup"
	"github.com/stylelab/stylelab/tracker"
	"github.com/stylelab/stylelab/tracker/provenance"
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

// Weights returns the loss network's weights: $STYLELAB_VGG_WEIGHTS (safetensors) when set, else the seeded
// random VGG-19 (vgg.FromEnvOrRandom).
func Weights(seed uint64) (*vgg.Weights, error) { return vgg.FromEnvOrRandom("", seed) }

// Spec is one stylisation for Stylise.
type Spec struct {
	Experiment  string       // tracker experiment (the notebook's name)
	Name        string       // run name (e.g. the loss)
	Content     string       // content image, repository-relative or absolute
	Styles      []string     // style images
	Config      gatys.Config // resolved by gatys; Size is the working size
	WeightsSeed uint64       // seed of the random VGG-19 when $STYLELAB_VGG_WEIGHTS is not set
}

// OutputArtifact is the name of the output image artifact of a Stylise run.
const OutputArtifact = "output.png"

// KeyTag is the tag holding a run's Stylise key.
const KeyTag = "lab.key"

// Stylise returns a FINISHED tracker run of spec: an existing one with the same key (see the package comment),
// or a new one, computed with gatys.Run under a live progress bar and recorded with its parameters, the metrics
// total, content, style, tv and style_rel (style / style at step 0, comparable across losses) at every step,
// and the output image. A failed optimisation is recorded as a FAILED run and returned as an error.
func Stylise(s *tracker.Store, spec Spec) (*tracker.RunInfo, error) {
	if strings.ContainsAny(spec.Experiment, `'"\`) {
		return nil, fmt.Errorf("lab: experiment name %q must not contain quotes or backslashes", spec.Experiment)
	}
	paths := append([]string{spec.Content}, spec.Styles...)
	hashes := make([]string, len(paths))
	for i, rel := range paths {
		p, err := Path(rel)
		if err != nil {
			return nil, err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("lab: input image: %v", err)
		}
		sum := sha256.Sum256(b)
		hashes[i] = hex.EncodeToString(sum[:])
	}
	cfg, err := spec.Config.Resolve(len(spec.Styles))
	if err != nil {
		return nil, err
	}
	w, err := Weights(spec.WeightsSeed)
	if err != nil {
		return nil, err
	}
	key, err := specKey(cfg, hashes, w.SHA256)
	if err != nil {
		return nil, err
	}
	old, err := s.Search(fmt.Sprintf("experiment = '%s' and tags.%s = '%s' and status = 'FINISHED'", spec.Experiment, KeyTag, key), "start_time DESC", 1)
	if err != nil {
		return nil, err
	}
	if len(old) == 1 {
		fmt.Printf("%s: reusing run %s from %s (same parameters, inputs and weights)\n", spec.Name, short(old[0].ID), old[0].Start.Local().Format("2006-01-02 15:04"))
		return &old[0], nil
	}

	content, err := LoadImage(spec.Content, cfg.Size)
	if err != nil {
		return nil, err
	}
	styles := make([]*imageio.Image, len(spec.Styles))
	for i, p := range spec.Styles {
		if styles[i], err = LoadImage(p, cfg.Size); err != nil {
			return nil, err
		}
	}
	root, err := Root()
	if err != nil {
		return nil, err
	}
	// Provenance from the repository (the cell program runs in GoNB's scratch folder, outside any git tree).
	run, err := s.StartRun(spec.Experiment, spec.Name, tracker.WithProvenanceOptions(provenance.Options{Dir: root}))
	if err != nil {
		return nil, err
	}
	id, err := record(run, spec, cfg, w, hashes, key, content, styles)
	if err != nil {
		return nil, err
	}
	return s.GetRun(id)
}

func record(run *tracker.Run, spec Spec, cfg gatys.Config, w *vgg.Weights, hashes []string, key string,
	content *imageio.Image, styles []*imageio.Image) (id string, err error) {
	defer func() {
		if e := run.End(&err); err == nil {
			err = e
		}
	}()
	params, err := Params(cfg)
	if err != nil {
		return "", err
	}
	params["content"] = spec.Content
	params["style"] = strings.Join(spec.Styles, ",")
	params["weights"] = w.Source
	if err := run.LogParams(params); err != nil {
		return "", err
	}
	tags := map[string]string{KeyTag: key, "lab.weights_sha256": w.SHA256, "lab.recorded_by": "kernel/lab (notebook)",
		"lab.content_sha256": hashes[0]}
	for k, v := range tags {
		if err := run.SetTag(k, v); err != nil {
			return "", err
		}
	}
	bar := nbui.NewProgress(fmt.Sprintf("%s (%s, %d px)", spec.Name, cfg.Loss, cfg.Size), cfg.Steps)
	var style0 float64
	res, err := gatys.Run(cfg, content, styles, w, func(r gatys.StepReport) error {
		if r.Step == 0 {
			style0 = r.Style
		}
		m := map[string]float64{"total": r.Total, "content": r.Content, "style": r.Style, "tv": r.TV}
		if style0 != 0 {
			m["style_rel"] = r.Style / style0
		}
		for k, v := range m {
			if err := run.LogMetric(k, int64(r.Step), v); err != nil {
				return err
			}
		}
		bar.Update(r.Step, m)
		return nil
	})
	if res != nil && res.Image != nil {
		var buf bytes.Buffer
		if e := imageio.EncodePNG(&buf, res.Image); e == nil {
			if _, e := run.LogArtifact(OutputArtifact, "image/png", buf.Bytes()); e != nil && err == nil {
				err = e
			}
		}
		run.SetTag("lab.backend", res.Backend.Name)
		run.SetTag("lab.seconds_per_step", fmt.Sprintf("%.3f", res.SecondsPerStep))
	}
	if err != nil {
		bar.Fail(err)
		return run.ID(), err
	}
	bar.Done()
	return run.ID(), nil
}

// Params flattens a resolved configuration into tracker params: its JSON fields, nested objects joined with
// dots (loss_options.PolyDegree), lists as comma-separated values.
func Params(cfg gatys.Config) (map[string]string, error) {
	b, err := json.Marshal(cfg)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	out := map[string]string{}
	var walk func(prefix string, v any)
	walk = func(prefix string, v any) {
		switch x := v.(type) {
		case map[string]any:
			keys := make([]string, 0, len(x))
			for k := range x {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				walk(join(prefix, k), x[k])
			}
		case []any:
			parts := make([]string, len(x))
			for i, e := range x {
				parts[i] = fmt.Sprint(e)
			}
			out[prefix] = strings.Join(parts, ",")
		case nil:
		default:
			out[prefix] = fmt.Sprint(x)
		}
	}
	walk("", m)
	return out, nil
}

func join(prefix, k string) string {
	if prefix == "" {
		return k
	}
	return prefix + "." + k
}

// specKey is the SHA-256 of the resolved configuration's JSON, the input files' SHA-256 and the weights' SHA-256.
func specKey(cfg gatys.Config, inputHashes []string, weightsSHA string) (string, error) {
	b, err := json.Marshal(struct {
		Config  gatys.Config
		Inputs  []string
		Weights string
	}{cfg, inputHashes, weightsSHA})
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:16]), nil
}

// Output loads the output image of a Stylise run from the tracker's artifact store.
func Output(s *tracker.Store, runID string) (*imageio.Image, error) {
	arts, err := s.Artifacts(runID)
	if err != nil {
		return nil, err
	}
	for _, a := range arts {
		if a.Name == OutputArtifact {
			p, err := s.ArtifactPath(a.SHA256)
			if err != nil {
				return nil, err
			}
			return imageio.Load(p, 0)
		}
	}
	return nil, fmt.Errorf("run %s has no %s artifact (was it made by lab.Stylise?)", short(runID), OutputArtifact)
}

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

func short(id string) string {
	if len(id) > 8 {
		return id[:8]
	}
	return id
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
