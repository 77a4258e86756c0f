// Package spec defines the experiment spec: one versioned JSON document that says everything a stylelab run
// needs to be re-executed — its kind, its input files by path and SHA-256, the loss network's weights, every
// parameter with its default resolved, and the seed. The CLI flags and the notebook API both build one; the
// tracker stores the resolved spec of every run as the artifact "spec.json"; `stylelab rerun` reads it back.
//
// A spec file looks like
//
//	{
//	  "version": 2,
//	  "kind": "optimise",
//	  "experiment": "losses",
//	  "name": "gram",
//	  "seed": 1,
//	  "inputs": {"content": {"path": "images/content/chelsea.jpg", "sha256": "…"},
//	             "styles": [{"path": "images/style/vangogh_starry_night.jpg", "sha256": "…"}]},
//	  "weights": {"random_seed": 0},
//	  "optimise": {"size": 128, "steps": 100, "optimizer": "adam", "loss": "gram", …}
//	}
//
// Fields left out of a hand-written file get their documented defaults: those of the optimise block when it is
// decoded (gatys.DefaultConfig), the others when the spec is resolved (Resolve); hashes left empty are filled from
// the files. Unknown fields are errors at every level.
package spec

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/stylelab/stylelab/experiments/gatys"
	"github.com/stylelab/stylelab/experiments/safefile"
	"github.com/stylelab/stylelab/experiments/train"
)

// Version is the spec format this code writes. Older versions are upgraded on Load; newer ones are refused.
//
//   - 2: the loss options (optimise.loss_options) are snake_case (poly_degree, poly_c, gauss_samples,
//     gauss_exact_max, seed), like every other field; fields left out of optimise get gatys.DefaultConfig's values.
//   - 1: loss options were spelt PolyDegree, PolyC, GaussSamples, GaussExactMax, Seed. Every run recorded
//     before version 2 has such a spec.json; Parse renames them.
const Version = 2

// v1LossOptionNames maps the version-1 spelling of each loss option to the current one.
var v1LossOptionNames = map[string]string{"PolyDegree": "poly_degree", "PolyC": "poly_c", "GaussSamples": "gauss_samples",
	"GaussExactMax": "gauss_exact_max", "Seed": "seed"}

// Kinds of experiment: optimise (Gatys), train (a feed-forward network: single, cin or adain), stylize (one
// image through a trained transformer, one style or a mix), interpolate (a strip or grid of mixes), adain (an
// AdaIN model on any style images).
const (
	KindOptimise    = "optimise"
	KindTrain       = "train"
	KindStylize     = "stylize"
	KindInterpolate = "interpolate"
	KindAdaIN       = "adain"
)

// Kinds lists every kind a spec may name.
var Kinds = []string{KindOptimise, KindTrain, KindStylize, KindInterpolate, KindAdaIN}

// Input is one input file: its path (relative paths are resolved against the working directory, then against
// the spec's BaseDir) and the SHA-256 of its bytes.
type Input struct {
	Path   string `json:"path"`
	SHA256 string `json:"sha256,omitempty"`
}

// Inputs are the files a run reads. Content is empty for train; ContentDir is train's folder of photos (every
// image file listed with its hash); Model is the checkpoint of stylize, interpolate and adain; Resume the
// checkpoint a training run continues. Mask and RegionStyles are spatial control's (gatys.Guide): the region
// image, and the style images paired by index with optimise.region_colours; both are hashed like the other
// inputs and left out when unused.
type Inputs struct {
	Content      Input   `json:"content"`
	Styles       []Input `json:"styles"`
	ContentDir   *Folder `json:"content_dir,omitempty"`
	Model        *Input  `json:"model,omitempty"`
	Resume       *Input  `json:"resume,omitempty"`
	Mask         *Input  `json:"mask,omitempty"`
	RegionStyles []Input `json:"region_styles,omitempty"`
}

// Folder is a folder of input files; Files are filled (sorted, with hashes) when the run is prepared.
type Folder struct {
	Path  string  `json:"path"`
	Files []Input `json:"files,omitempty"`
}

// StylizeParams are the parameters of a stylize spec: the content's longer side (0 keeps it) and the style
// weights (one per style of the model; --style K is the one-hot mix).
type StylizeParams struct {
	Size int       `json:"size"`
	Mix  []float64 `json:"mix"`
}

// InterpolateParams: the styles (indices into the model's, 2 for a strip or 4 for a grid) and the number of
// images along each side (Steps ≥ 2).
type InterpolateParams struct {
	Size   int   `json:"size"`
	Styles []int `json:"styles"`
	Steps  int   `json:"steps"`
}

// AdaINParams: the content's longer side, the weights of the style images (default equal, summing to 1) and the
// style strength alpha in [0,1] (default 1).
type AdaINParams struct {
	Size         int       `json:"size"`
	StyleWeights []float64 `json:"style_weights"`
	Alpha        *float64  `json:"alpha"`
}

// Weights names the loss network's weights: a safetensors file (File, with the SHA-256 of the weight values as
// vgg.Weights.SHA256 computes it), or, when File is empty, the seeded random VGG-19 vgg.Random(RandomSeed).
type Weights struct {
	File       *Input `json:"file,omitempty"`
	RandomSeed uint64 `json:"random_seed"`
	// SHA256 is the hash of the weight values the run used (vgg.Weights.SHA256), filled when the run starts.
	SHA256 string `json:"sha256,omitempty"`
}

// Spec is one experiment. Output and Name do not change what is computed; everything else does.
type Spec struct {
	Version    int     `json:"version"`
	Kind       string  `json:"kind"`
	Experiment string  `json:"experiment"`
	Name       string  `json:"name,omitempty"`
	Seed       uint64  `json:"seed"`
	Inputs     Inputs  `json:"inputs"`
	Weights    Weights `json:"weights"`
	// Backend is the GoMLX backend the run used ("go" or "xla"), filled when it runs; a rerun on another
	// backend is reported (results then agree only within a tolerance).
	Backend string `json:"backend,omitempty"`
	// BaseDir is the working directory the spec was made in, used to find relative input paths from elsewhere.
	BaseDir string `json:"base_dir,omitempty"`
	// Output is where the CLI writes the output image (the tracker always keeps it as the artifact output.png).
	Output string `json:"output,omitempty"`
	// Optimise holds the parameters of a KindOptimise spec: the resolved gatys.Config.
	Optimise *gatys.Config `json:"optimise,omitempty"`
	// Train, Stylize, Interpolate and AdaIN hold the parameters of the other kinds.
	Train       *train.Config      `json:"train,omitempty"`
	Stylize     *StylizeParams     `json:"stylize,omitempty"`
	Interpolate *InterpolateParams `json:"interpolate,omitempty"`
	AdaIN       *AdaINParams       `json:"adain,omitempty"`
}

// NewOptimise returns a KindOptimise spec for content and styles with cfg (not yet resolved), the run seed
// taken from cfg.Seed and BaseDir set to the working directory.
func NewOptimise(experiment, name, content string, styles []string, cfg gatys.Config) *Spec {
	wd, _ := os.Getwd()
	s := &Spec{Version: Version, Kind: KindOptimise, Experiment: experiment, Name: name, Seed: cfg.Seed, BaseDir: wd,
		Inputs: Inputs{Content: Input{Path: content}}}
	for _, p := range styles {
		s.Inputs.Styles = append(s.Inputs.Styles, Input{Path: p})
	}
	c := cfg
	s.Optimise = &c
	return s
}

// Parse decodes a spec from JSON. Unknown fields are errors (a typo must not silently become a default), fields
// left out of the optimise block get their defaults (gatys.Config.UnmarshalJSON), older versions are upgraded
// (see Version) and a version newer than Version is refused.
func Parse(r io.Reader) (*Spec, error) {
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("spec: %w", err)
	}
	if err := CheckDuplicateKeys(b); err != nil {
		return nil, fmt.Errorf("spec: %w", err)
	}
	var head struct {
		Version  int             `json:"version"`
		Optimise json.RawMessage `json:"optimise"`
	}
	// The version decides how the rest is read; a document that is not JSON fails in the strict decode below.
	if json.Unmarshal(b, &head) == nil {
		switch {
		case head.Version == 0:
			return nil, fmt.Errorf(`spec: "version" is missing (this code writes version %d)`, Version)
		case head.Version > Version:
			return nil, fmt.Errorf("spec: version %d is newer than this stylelab understands (%d): update stylelab", head.Version, Version)
		case head.Version == 1 && len(head.Optimise) > 0:
			if b, err = upgradeV1(b); err != nil {
				return nil, fmt.Errorf("spec: upgrading version 1: %w", err)
			}
		}
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var s Spec
	if err := dec.Decode(&s); err != nil {
		return nil, fmt.Errorf("spec: %w (see docs/spec.md for the format)", err)
	}
	if dec.More() {
		return nil, errors.New("spec: more than one JSON value in the file")
	}
	if s.Version == 0 {
		return nil, fmt.Errorf(`spec: "version" is missing (this code writes version %d)`, Version)
	}
	s.Version = Version
	return &s, nil
}

// upgradeV1 rewrites a version-1 document as version 2: the loss options' names become snake_case.
func upgradeV1(b []byte) ([]byte, error) {
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(b, &doc); err != nil {
		return nil, err
	}
	var opt map[string]json.RawMessage
	if err := json.Unmarshal(doc["optimise"], &opt); err != nil || opt == nil {
		return b, nil // not an object (null): the strict decode reports what is wrong
	}
	var lo map[string]json.RawMessage
	if err := json.Unmarshal(opt["loss_options"], &lo); err != nil || lo == nil {
		return b, nil
	}
	renamed := map[string]json.RawMessage{}
	for k, v := range lo {
		if n, ok := v1LossOptionNames[k]; ok {
			k = n
		}
		renamed[k] = v
	}
	var err error
	if opt["loss_options"], err = json.Marshal(renamed); err != nil {
		return nil, err
	}
	if doc["optimise"], err = json.Marshal(opt); err != nil {
		return nil, err
	}
	return json.Marshal(doc)
}

// Load reads and parses a spec file.
func Load(path string) (*Spec, error) {
	b, err := safefile.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("spec: %w", err)
	}
	s, err := Parse(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return s, nil
}

// JSON returns the spec as indented JSON with a trailing newline. The encoding is deterministic (struct field
// order; the only map, gatys.Config.LayerWeights, is sorted by encoding/json).
func (s *Spec) JSON() []byte {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil { // cannot happen: every field is a plain value
		panic(fmt.Sprintf("spec: marshal: %v", err))
	}
	return append(b, '\n')
}

// Resolve fills every default and validates the spec: the kind is known and implemented, the inputs are named,
// and the parameters are resolved (gatys.Config.Resolve) with the spec's seed. It does not touch files.
func (s *Spec) Resolve() error {
	if s.Version == 0 {
		s.Version = Version
	}
	if s.Experiment == "" {
		s.Experiment = "default"
	}
	if !slices.Contains(Kinds, s.Kind) {
		return fmt.Errorf("spec: unknown kind %q (want one of %s)", s.Kind, strings.Join(Kinds, ", "))
	}
	if s.Kind != KindOptimise {
		return s.resolveFeedForward()
	}
	if s.Inputs.Content.Path == "" {
		return errors.New(`spec: inputs.content.path is empty: name the content image`)
	}
	if len(s.Inputs.Styles) == 0 {
		return errors.New(`spec: inputs.styles is empty: name at least one style image`)
	}
	for i, in := range s.Inputs.Styles {
		if in.Path == "" {
			return fmt.Errorf("spec: inputs.styles[%d].path is empty", i)
		}
	}
	if s.Optimise == nil {
		c := gatys.DefaultConfig()
		s.Optimise = &c
	}
	if s.Inputs.Mask != nil && s.Inputs.Mask.Path == "" {
		return errors.New("spec: inputs.mask.path is empty: name the mask image, or drop inputs.mask")
	}
	if len(s.Inputs.RegionStyles) != len(s.Optimise.RegionColours) {
		return fmt.Errorf("spec: %d inputs.region_styles for %d optimise.region_colours: pair each colour with one image", len(s.Inputs.RegionStyles), len(s.Optimise.RegionColours))
	}
	if len(s.Inputs.RegionStyles) > 0 && s.Inputs.Mask == nil {
		return errors.New("spec: inputs.region_styles need inputs.mask (the image whose colours are the regions)")
	}
	for i, in := range s.Inputs.RegionStyles {
		if in.Path == "" {
			return fmt.Errorf("spec: inputs.region_styles[%d].path is empty", i)
		}
	}
	cfg := *s.Optimise
	cfg.Seed = s.Seed
	resolved, err := cfg.Resolve(len(s.Inputs.Styles))
	if err != nil {
		return fmt.Errorf("spec: optimise: %w", err)
	}
	s.Optimise = &resolved
	return nil
}

// FilePath resolves an input path: absolute paths as they are; relative ones against the working directory if
// the file exists there, else against BaseDir.
func (s *Spec) FilePath(p string) string {
	if filepath.IsAbs(p) {
		return p
	}
	if _, err := os.Stat(p); err == nil || s.BaseDir == "" {
		return p
	}
	return filepath.Join(s.BaseDir, p)
}

// InputRef points at one Input of a spec together with its role ("content", "style[0]", "weights").
type InputRef struct {
	Role  string
	Input *Input
}

// Files returns every input file of the spec with its role, in a fixed order.
func (s *Spec) Files() []InputRef {
	var refs []InputRef
	if s.Inputs.Content.Path != "" || s.Kind == KindOptimise || s.Kind == "" {
		refs = append(refs, InputRef{"content", &s.Inputs.Content})
	}
	for i := range s.Inputs.Styles {
		refs = append(refs, InputRef{fmt.Sprintf("style[%d]", i), &s.Inputs.Styles[i]})
	}
	if d := s.Inputs.ContentDir; d != nil {
		for i := range d.Files {
			refs = append(refs, InputRef{fmt.Sprintf("content_dir[%d]", i), &d.Files[i]})
		}
	}
	if s.Inputs.Model != nil {
		refs = append(refs, InputRef{"model", s.Inputs.Model})
	}
	if s.Inputs.Resume != nil {
		refs = append(refs, InputRef{"resume", s.Inputs.Resume})
	}
	if s.Inputs.Mask != nil {
		refs = append(refs, InputRef{"mask", s.Inputs.Mask})
	}
	for i := range s.Inputs.RegionStyles {
		refs = append(refs, InputRef{fmt.Sprintf("region_style[%d]", i), &s.Inputs.RegionStyles[i]})
	}
	if s.Weights.File != nil {
		refs = append(refs, InputRef{"weights", s.Weights.File})
	}
	return refs
}

// ChangedInputError reports input files that are missing or whose bytes no longer have the recorded SHA-256.
type ChangedInputError struct{ Problems []string }

func (e *ChangedInputError) Error() string {
	return "inputs changed since the run was recorded: " + strings.Join(e.Problems, "; ") +
		" (restore them, or pass --allow-changed-inputs to run with the files as they are now)"
}

// HashInputs computes the SHA-256 of every input file. Inputs without a recorded hash get the computed one.
// Inputs with a recorded hash that differs, or files that cannot be read, are reported together in a
// *ChangedInputError; when allowChanged is true, a changed file's new hash is recorded instead and the
// problems are returned as warnings with a nil error (a missing file is always an error).
func (s *Spec) HashInputs(allowChanged bool) (warnings []string, err error) {
	var problems []string
	missing := false
	for _, ref := range s.Files() {
		p := s.FilePath(ref.Input.Path)
		sum, err := hashFile(p)
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s %s: %v", ref.Role, ref.Input.Path, err))
			missing = true
			continue
		}
		if ref.Input.SHA256 != "" && ref.Input.SHA256 != sum {
			problems = append(problems, fmt.Sprintf("%s %s has SHA-256 %s, recorded %s", ref.Role, ref.Input.Path, short(sum), short(ref.Input.SHA256)))
			if !allowChanged {
				continue
			}
		}
		ref.Input.SHA256 = sum
	}
	if len(problems) == 0 {
		return nil, nil
	}
	if allowChanged && !missing {
		return problems, nil
	}
	return nil, &ChangedInputError{Problems: problems}
}

// Key identifies what a spec computes: the SHA-256 of its resolved kind, seed, input hashes, weights and
// parameters (not its experiment, name, output path, base directory or backend, nor the parameter its optimiser
// does not use: gatys.Config.OnlyUsed). Two specs with the same key compute the same thing; notebooks use it to
// reuse a finished run instead of recomputing. A resolved spec read back (Parse) has the same key.
func (s *Spec) Key() string {
	opt := s.Optimise
	if opt != nil {
		o := opt.OnlyUsed()
		opt = &o
	}
	id := struct {
		Kind        string
		Seed        uint64
		Inputs      []string
		Weights     Weights
		Optimise    *gatys.Config
		Train       *train.Config      `json:",omitempty"`
		Stylize     *StylizeParams     `json:",omitempty"`
		Interpolate *InterpolateParams `json:",omitempty"`
		AdaIN       *AdaINParams       `json:",omitempty"`
	}{s.Kind, s.Seed, nil, s.Weights, opt, s.Train, s.Stylize, s.Interpolate, s.AdaIN}
	for _, ref := range s.Files() {
		id.Inputs = append(id.Inputs, ref.Role+"="+ref.Input.SHA256)
	}
	id.Weights.File = nil // its hash is in Inputs; its path does not change the result
	b, _ := json.Marshal(id)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:16])
}

// hashFile is the hex SHA-256 of a regular file's bytes (a FIFO or a device is refused, never read without end:
// safefile.Copy).
func hashFile(path string) (string, error) {
	h := sha256.New()
	if _, err := safefile.Copy(h, path); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

func short(sum string) string {
	if len(sum) > 12 {
		return sum[:12]
	}
	return sum
}
