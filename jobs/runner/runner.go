// Package runner executes an experiment spec and records it in the tracker: the resolved spec (artifact
// spec.json), its parameters, provenance (input hashes, weights, backend, code), a metric per loss term at every
// step, and the output image (artifact output.png). It is the one place the CLI and the notebooks run
// experiments through, so every run, wherever it started, can be found, compared and rerun.
//
// Every run kind goes through one shell (Prepare, Prepared.Run, Rerun); what differs between kinds is a Kind
// registered by spec kind (Register; kind_*.go hold the built-in ones: optimise, train, stylize, interpolate,
// adain). See docs/ARCHITECTURE.md, "Adding a run kind".
package runner

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/stylelab/stylelab/experiments/gatys"
	"github.com/stylelab/stylelab/experiments/imageio"
	"github.com/stylelab/stylelab/experiments/safefile"
	"github.com/stylelab/stylelab/experiments/vgg"
	"github.com/stylelab/stylelab/jobs/spec"
	"github.com/stylelab/stylelab/tracker"
	"github.com/stylelab/stylelab/tracker/provenance"
)

// Artifact names and tags a recorded run carries.
const (
	SpecArtifact   = "spec.json"
	OutputArtifact = "output.png"
	KeyTag         = "spec.key"      // spec.Spec.Key of the run
	RerunOfTag     = "rerun.of"      // id of the run a rerun re-executed
	OutputHashTag  = "output.sha256" // SHA-256 of the output PNG bytes
)

// Metrics are the values logged for one step: total, content, style, tv and style/<layer> for every style
// layer (unweighted terms, as gatys.StepReport defines them), style_rel = style / style0, the style loss
// relative to its value at step 0 (style0), which is comparable across style losses of different scales, and
// evals, the number of loss evaluations of the step (1 for Adam; L-BFGS's line search may take several). Run
// also logs evals_total, the evaluations so far (steps 0..this one): the cost axis on which Adam and L-BFGS
// runs compare.
func Metrics(r gatys.StepReport, style0 float64) map[string]float64 {
	m := map[string]float64{"total": r.Total, "content": r.Content, "style": r.Style, "tv": r.TV, "evals": float64(r.Evals)}
	if style0 != 0 {
		m["style_rel"] = r.Style / style0
	}
	for l, v := range r.StyleByLayer {
		m["style/"+l] = v
	}
	return m
}

// Params flattens a configuration into tracker params: its JSON fields, nested objects joined with dots
// (loss_options.poly_degree), lists as comma-separated values, absent (null) fields left out.
func Params(cfg any) (map[string]string, error) {
	b, err := json.Marshal(cfg)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber() // numbers keep their JSON text: 1048576, not 1.048576e+06
	if err := dec.Decode(&m); err != nil {
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
				key := k
				if prefix != "" {
					key = prefix + "." + k
				}
				walk(key, x[k])
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

// LoadSpec reads the recorded spec of a run from the store.
func LoadSpec(s *tracker.Store, runID string) (*spec.Spec, error) {
	a, err := s.FindArtifact(runID, SpecArtifact)
	if err != nil {
		return nil, fmt.Errorf("run %s has no %s artifact (was it recorded by stylelab run or a notebook?): %w", runID, SpecArtifact, err)
	}
	b, err := s.ReadArtifact(a.SHA256) // checked against its SHA-256 (tracker.ErrDamaged)
	if err != nil {
		return nil, fmt.Errorf("the recorded spec of run %s: %w", runID, err)
	}
	return spec.Parse(bytes.NewReader(b))
}

// Output loads the output image of a recorded run.
func Output(s *tracker.Store, runID string) (*imageio.Image, error) {
	a, err := s.FindArtifact(runID, OutputArtifact)
	if err != nil {
		return nil, fmt.Errorf("run %s has no %s artifact: %w", runID, OutputArtifact, err)
	}
	b, err := s.ReadArtifact(a.SHA256) // checked against its SHA-256 (tracker.ErrDamaged)
	if err != nil {
		return nil, fmt.Errorf("output image of run %s: %w", runID, err)
	}
	return imageio.DecodeBytes(OutputArtifact, b, 0)
}

// writeFile writes data to path (creating its folder) through safefile.WriteFile, never through a fixed
// temporary name: the bytes go to a fresh O_CREATE|O_EXCL file in the same folder (a symlink or another file
// planted at a guessable name is never followed or overwritten), held under a lock, synced, given mode 0644 and
// renamed over path (atomic on one file system: readers see the old file or the whole new one); temporary files
// left by killed writers are removed first. On any failure the temporary file is removed and path is untouched.
// Every output file of a run (an image, a training run's checkpoint, `rerun --out`) is written by this function.
func writeFile(path string, data []byte) error {
	if err := safefile.WriteFile(path, data); err != nil {
		return fmt.Errorf("output %s: %w (check that the folder is writable)", path, err)
	}
	return nil
}

// recordWeights puts a weights file's net, layout with its input convention, and file SHA-256 in the provenance
// (nothing for stylelab's default random VGG-19).
func recordWeights(rec *provenance.Record, w *vgg.Weights) {
	if w.FileSHA256 == "" && (w.Net == "" || w.Net == vgg.VGG19) {
		return
	}
	net, layout := w.Net, w.Layout
	if net == "" {
		net = vgg.VGG19
	}
	if layout == "" {
		layout = vgg.Torchvision
	}
	rec.WeightsNet = string(net)
	if w.FileSHA256 != "" {
		rec.WeightsLayout = string(layout) + ": " + layout.Convention()
		rec.WeightsFileSHA256 = w.FileSHA256
	}
}
