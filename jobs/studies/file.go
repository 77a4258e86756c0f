// Package studies runs loss studies: a study file names arms (the factor compared, e.g. the style loss), units
// (content × style pairs, the replicates) and seeds over a base spec; it expands to one ordinary run per
// arm × unit × seed, executed through jobs/sweep (local worker processes or one Slurm job array, with resume and
// cancel) and tagged study.id, study.arm, study.unit and study.seed. An evaluation judges every finished run's
// output with experiments/study's judge panel (a network other than the optimising one), analyses the scores
// (experiments/study.Analyse) and records the result as a tracker run of its own: the judge scores as metrics
// (judge/… at step = the run's index in the study), the tidy observations, the analysis and the report data
// (tracker/dashboard.StudyReport) as artifacts. `stylelab study` and the dashboard's /studies/ID read it.
//
// A study file:
//
//	{"name": "tiny",
//	 "base": {…a spec without inputs…},
//	 "arms": [{"name": "gram", "set": {"optimise.loss": "gram"}}, {"name": "meanvar", "set": {"optimise.loss": "meanvar"}}],
//	 "units": {"content": ["../images/content/chelsea.jpg", …], "style": ["../images/style"], "pairing": "cross"},
//	 "seeds": [1, 2],
//	 "judge": {"weights": {"random_seed": 1000}, "projections": 64, "projection_seed": 0},
//	 "statistics": {"bootstrap": 10000, "level": 0.95, "seed": 1, "alpha": 0.05, "identical": 0.001}}
//
// Units are "content" × "style" (files or folders of images; "pairing" "cross" for every combination, "zip"
// to pair them by position) or explicit "pairs": [{"content": …, "style": …}]. Relative paths are found as in
// a spec: from the working directory, else from the study file's folder. Expansion order is seed, unit, arm
// (the arm varying fastest), so a study stopped half-way has every arm equally far.
package studies

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/stylelab/stylelab/experiments/losses"
	"github.com/stylelab/stylelab/experiments/safefile"
	"github.com/stylelab/stylelab/experiments/study"
	"github.com/stylelab/stylelab/experiments/vgg"
	"github.com/stylelab/stylelab/jobs/spec"
	"github.com/stylelab/stylelab/jobs/sweep"
)

// Tags every run of a study carries (besides the sweep's), and the evaluation run's.
const (
	TagID   = "study.id"
	TagArm  = "study.arm"
	TagUnit = "study.unit"
	TagSeed = "study.seed"
	// TagRole is "evaluation" on an evaluation's tracker run.
	TagRole        = "study.role"
	RoleEvaluation = "evaluation"
	TagJudgeKey    = "study.judge_key"  // hash of the judge and statistics settings of an evaluation
	TagEvaluation  = "study.evaluation" // on a judged run: the evaluation run whose judge/… scores are the latest
)

// DefaultMaxRuns is the largest design accepted unless the caller raises it.
const DefaultMaxRuns = sweep.MaxRuns

// File is a study file.
type File struct {
	Name        string          `json:"name"`
	Description string          `json:"description,omitempty"`
	Base        json.RawMessage `json:"base"`
	Arms        []Arm           `json:"arms"`
	Units       Units           `json:"units"`
	Seeds       []uint64        `json:"seeds"`
	Judge       Judge           `json:"judge"`
	Statistics  Statistics      `json:"statistics"`
	// FeedForward, when present, makes this a feed-forward study (ffile.go): then "base", "arms" and "units"
	// must be absent.
	FeedForward *FeedForwardFile `json:"feedforward,omitempty"`
}

// Arm is one level of the factor compared: a name and the spec paths it sets over the base spec.
type Arm struct {
	Name string         `json:"name"`
	Set  map[string]any `json:"set"`
}

// Units are the replicates: content × style pairs.
type Units struct {
	Content []string `json:"content,omitempty"`
	Style   []string `json:"style,omitempty"`
	Pairing string   `json:"pairing,omitempty"` // "cross" (default) or "zip"
	Pairs   []Pair   `json:"pairs,omitempty"`
}

// Pair is one listed unit.
type Pair struct {
	Content string `json:"content"`
	Style   string `json:"style"`
}

// Judge configures the judge panel (experiments/study.JudgeConfig) in a study file.
type Judge struct {
	// Weights of the judge network, as a spec's weights: {"random_seed": N} or {"file": {"path": …}}. Default
	// {"random_seed": DefaultJudgeSeed}. Must differ from every run's optimising network.
	Weights        *spec.Weights   `json:"weights,omitempty"`
	Pool           vgg.Pool        `json:"pool,omitempty"`
	Projections    int             `json:"projections,omitempty"`
	ProjectionSeed uint64          `json:"projection_seed"`
	LossOptions    *losses.Options `json:"loss_options,omitempty"`
}

// DefaultJudgeSeed is the random seed of the judge's VGG-19 when a study names none.
const DefaultJudgeSeed = 1000

// Statistics configure the analysis. Bootstrap nil = study.DefaultResamples, 0 = no bootstrap intervals.
type Statistics struct {
	Bootstrap *int    `json:"bootstrap,omitempty"`
	Level     float64 `json:"level,omitempty"`
	Seed      uint64  `json:"seed"`
	Alpha     float64 `json:"alpha,omitempty"`
	Identical float64 `json:"identical,omitempty"`
}

// Options are the analysis options these statistics give (arms and metrics are filled by the evaluation).
func (s Statistics) Options() study.AnalysisOptions {
	o := study.AnalysisOptions{Level: s.Level, Seed: s.Seed, Alpha: s.Alpha, Identical: s.Identical}
	switch {
	case s.Bootstrap == nil:
		o.Resamples = study.DefaultResamples
	case *s.Bootstrap == 0:
		o.Resamples = -1
	default:
		o.Resamples = *s.Bootstrap
	}
	return o
}

// Parse decodes a study file strictly (unknown fields and keys given twice are errors naming them) and checks
// it (Check).
func Parse(r io.Reader) (*File, error) {
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("study file: %w", err)
	}
	if err := spec.CheckDuplicateKeys(b); err != nil {
		return nil, fmt.Errorf("study file: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	dec.UseNumber()
	var f File
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("study file: %w (see docs/spec.md, \"Studies\")", err)
	}
	if dec.More() {
		return nil, errors.New("study file: more than one JSON value")
	}
	if err := f.Check(); err != nil {
		return nil, err
	}
	return &f, nil
}

// Load reads and parses a study file.
func Load(path string) (*File, error) {
	b, err := safefile.ReadFile(path) // a regular file, read exactly its size
	if err != nil {
		return nil, fmt.Errorf("study file: %w", err)
	}
	f, err := Parse(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return f, nil
}

var armName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._+-]*$`)

// Check validates what can be checked without touching files: every error names the field and the fix.
func (f *File) Check() error {
	if f.FeedForward != nil {
		return f.checkFeedForward()
	}
	switch {
	case strings.TrimSpace(f.Name) == "":
		return errors.New(`study file: "name" is empty: give the study a name`)
	case len(f.Base) == 0:
		return errors.New(`study file: "base" is missing: give the spec every run starts from (inputs and seed come from "units" and "seeds")`)
	case len(f.Arms) == 0:
		return errors.New(`study file: "arms" is empty: list at least two arms, e.g. [{"name": "gram", "set": {"optimise.loss": "gram"}}, …]`)
	case len(f.Arms) < 2:
		return fmt.Errorf(`study file: "arms" has one arm (%s): a study compares at least two`, f.Arms[0].Name)
	case len(f.Seeds) == 0:
		return errors.New(`study file: "seeds" is empty: give at least one seed per unit (two or more to see seed variance)`)
	}
	seen := map[string]bool{}
	for i, a := range f.Arms {
		if !armName.MatchString(a.Name) {
			return fmt.Errorf("study file: arms[%d].name %q: use letters, digits and . _ + - (it becomes a tag value)", i, a.Name)
		}
		if seen[a.Name] {
			return fmt.Errorf("study file: arms[%d].name %q is used twice: arm names must be unique", i, a.Name)
		}
		seen[a.Name] = true
		for _, k := range slices.Sorted(maps.Keys(a.Set)) {
			if err := sweep.CheckPath(k); err != nil {
				return fmt.Errorf("study file: arms[%d] (%s).set: unknown arm path: %w", i, a.Name, err)
			}
			if k == "seed" || k == "inputs" || strings.HasPrefix(k, "inputs.") || k == "optimise.seed" {
				return fmt.Errorf("study file: arms[%d] (%s).set: %q is set by the study's units and seeds: an arm may not set it", i, a.Name, k)
			}
		}
	}
	u := f.Units
	if len(u.Pairs) > 0 && (len(u.Content) > 0 || len(u.Style) > 0) {
		return errors.New(`study file: "units" has both "pairs" and "content"/"style": use one form`)
	}
	if len(u.Pairs) == 0 && (len(u.Content) == 0 || len(u.Style) == 0) {
		return errors.New(`study file: "units": the unit list is empty: give "content" and "style" (image files or folders) or "pairs": [{"content": …, "style": …}]`)
	}
	if u.Pairing != "" && u.Pairing != "cross" && u.Pairing != "zip" {
		return fmt.Errorf(`study file: units.pairing %q: use "cross" (every content with every style) or "zip" (paired by position)`, u.Pairing)
	}
	return f.checkSettings()
}

// checkSettings checks the seeds, statistics and judge, which every study form shares.
func (f *File) checkSettings() error {
	seeds := map[uint64]bool{}
	for i, s := range f.Seeds {
		if seeds[s] {
			return fmt.Errorf("study file: seeds[%d] = %d is listed twice: seeds must be distinct", i, s)
		}
		seeds[s] = true
	}
	st := f.Statistics
	boot := st.Bootstrap == nil || *st.Bootstrap > 0
	switch {
	case st.Bootstrap != nil && *st.Bootstrap < 0:
		return fmt.Errorf("study file: statistics.bootstrap = %d: give the number of resamples (10000 is usual), or 0 for none", *st.Bootstrap)
	case st.Level != 0 && !(st.Level > 0 && st.Level < 1):
		return fmt.Errorf("study file: statistics.level = %g: give a confidence level in (0,1), e.g. 0.95", st.Level)
	case st.Alpha != 0 && !(st.Alpha > 0 && st.Alpha < 1):
		return fmt.Errorf("study file: statistics.alpha = %g: give a significance level in (0,1), e.g. 0.05", st.Alpha)
	case st.Identical < 0:
		return fmt.Errorf("study file: statistics.identical = %g must be ≥ 0 (default 0.001)", st.Identical)
	case boot && len(f.Seeds) == 1:
		return fmt.Errorf("study file: seeds has one seed (%d) but statistics.bootstrap asks for intervals: with one seed per unit "+
			"the seed variance cannot be told from the differences between arms; give two or more seeds, or set \"bootstrap\": 0 for a descriptive study", f.Seeds[0])
	}
	if j := f.Judge; j.Projections < 0 {
		return fmt.Errorf("study file: judge.projections = %d: give the number of sliced Wasserstein directions (default %d)", j.Projections, study.DefaultProjections)
	}
	if f.Judge.Pool != "" {
		if _, err := vgg.ParsePool(string(f.Judge.Pool)); err != nil {
			return fmt.Errorf("study file: judge.pool: %w", err)
		}
	}
	if w := f.Judge.Weights; w != nil && w.File != nil && w.File.Path == "" {
		return errors.New("study file: judge.weights.file.path is empty: name the judge's safetensors file, or use {\"random_seed\": N}")
	}
	return nil
}

// Unit is one content × style pair of a design.
type Unit struct {
	ID      string `json:"id"` // "<content stem>×<style stem>" (numbered when two pairs share it)
	Content string `json:"content"`
	Style   string `json:"style"`
}

// Planned is one run of a design.
type Planned struct {
	Index int        `json:"index"`
	Arm   string     `json:"arm"`
	Unit  string     `json:"unit"`
	Seed  uint64     `json:"seed"`
	Spec  *spec.Spec `json:"-"` // in the sweep folder's specs/NNNN.json
}

// Design is an expanded study.
type Design struct {
	File    *File
	BaseDir string
	Units   []Unit
	Runs    []Planned
}

// Count is the number of runs the file expands to, without touching files when units are files (folders are
// listed).
func (f *File) Count(baseDir string) (int, error) {
	if f.FeedForward != nil {
		return f.FeedForwardCount(baseDir)
	}
	units, err := f.units(baseDir)
	if err != nil {
		return 0, err
	}
	return len(f.Arms) * len(units) * len(f.Seeds), nil
}

// Expand lists the units and builds every run's spec, parsed strictly and resolved: base, then the arm's
// paths, then inputs.content, inputs.styles and seed; experiment defaults to the study's name, name to
// "NAME/arm/unit/sSEED", base_dir to baseDir. A design over maxRuns is refused before any spec is built. The
// judge's network is checked against every run's optimising network (by weights seed or file), before any
// file is hashed.
func (f *File) Expand(baseDir string, maxRuns int) (*Design, error) {
	if f.FeedForward != nil {
		return nil, fmt.Errorf("study %s: a \"feedforward\" study does not expand to a sweep: run it with RunFeedForwardFile (stylelab study FILE, local executor)", f.Name)
	}
	units, err := f.units(baseDir)
	if err != nil {
		return nil, err
	}
	if maxRuns <= 0 {
		maxRuns = DefaultMaxRuns
	}
	if n := len(f.Arms) * len(units) * len(f.Seeds); n > maxRuns {
		return nil, fmt.Errorf("study %s: %d arms × %d units × %d seeds = %d runs is more than %d: shrink the design, or raise the bound (--max-runs)",
			f.Name, len(f.Arms), len(units), len(f.Seeds), n, maxRuns)
	}
	if len(units) < 2 && (f.Statistics.Bootstrap == nil || *f.Statistics.Bootstrap > 0) {
		return nil, fmt.Errorf("study %s: units: %d unit: a bootstrap over units needs at least 2 (add content or style images), or set statistics.bootstrap to 0", f.Name, len(units))
	}
	var base map[string]any
	dec := json.NewDecoder(bytes.NewReader(f.Base))
	dec.UseNumber()
	if err := dec.Decode(&base); err != nil || base == nil {
		return nil, fmt.Errorf("study %s: \"base\" must be a spec object: %v", f.Name, err)
	}
	d := &Design{File: f, BaseDir: baseDir, Units: units}
	for _, seed := range f.Seeds {
		for _, u := range units {
			for _, a := range f.Arms {
				doc := sweep.DeepCopy(base).(map[string]any)
				for _, k := range slices.Sorted(maps.Keys(a.Set)) {
					if err := sweep.SetPath(doc, k, a.Set[k]); err != nil {
						return nil, fmt.Errorf("study %s: arm %s: %s: %w", f.Name, a.Name, k, err)
					}
				}
				inputs, _ := doc["inputs"].(map[string]any)
				if inputs == nil {
					inputs = map[string]any{}
				}
				inputs["content"] = map[string]any{"path": u.Content}
				inputs["styles"] = []any{map[string]any{"path": u.Style}}
				doc["inputs"] = inputs
				doc["seed"] = seed
				if _, ok := doc["version"]; !ok {
					doc["version"] = spec.Version
				}
				b, err := json.Marshal(doc)
				if err != nil {
					return nil, err
				}
				sp, err := spec.Parse(bytes.NewReader(b))
				if err != nil {
					return nil, fmt.Errorf("study %s: arm %s, unit %s: %w", f.Name, a.Name, u.ID, err)
				}
				if sp.Kind != spec.KindOptimise {
					return nil, fmt.Errorf("study %s: base.kind %q: studies run optimise specs (feed-forward arms are not implemented yet)", f.Name, sp.Kind)
				}
				if sp.Experiment == "" {
					sp.Experiment = f.Name
				}
				if sp.Name == "" {
					sp.Name = fmt.Sprintf("%s/%s/%s/s%d", f.Name, a.Name, u.ID, seed)
				}
				if sp.BaseDir == "" {
					sp.BaseDir = baseDir
				}
				if err := sp.Resolve(); err != nil {
					return nil, fmt.Errorf("study %s: arm %s, unit %s: %w", f.Name, a.Name, u.ID, err)
				}
				d.Runs = append(d.Runs, Planned{Index: len(d.Runs), Arm: a.Name, Unit: u.ID, Seed: seed, Spec: sp})
			}
		}
	}
	if err := d.checkJudge(); err != nil {
		return nil, err
	}
	return d, nil
}

// JudgeWeights is the judge network's weights reference (the default when the file names none).
func (f *File) JudgeWeights() spec.Weights {
	if f.Judge.Weights != nil {
		return *f.Judge.Weights
	}
	return spec.Weights{RandomSeed: DefaultJudgeSeed}
}

// checkJudge refuses a judge network identical to some run's optimising network: the same random seed, or
// the same weights file (by path, then by the hash of its values when the evaluation loads it).
func (d *Design) checkJudge() error {
	jw := d.File.JudgeWeights()
	for _, r := range d.Runs {
		w := r.Spec.Weights
		same := false
		switch {
		case jw.File == nil && w.File == nil:
			same = jw.RandomSeed == w.RandomSeed
		case jw.File != nil && w.File != nil:
			a, errA := filepath.Abs(r.Spec.FilePath(jw.File.Path))
			b, errB := filepath.Abs(r.Spec.FilePath(w.File.Path))
			same = errA == nil && errB == nil && a == b
		}
		if same {
			return fmt.Errorf("study %s: judge.weights: the judge network is the optimising network of run %d (arm %s, %s): "+
				"judging with the weights an image was optimised against is circular; give the judge another random_seed or weights file",
				d.File.Name, r.Index, r.Arm, describeWeights(w))
		}
	}
	return nil
}

func describeWeights(w spec.Weights) string {
	if w.File != nil {
		return "weights file " + w.File.Path
	}
	return fmt.Sprintf("random_seed %d", w.RandomSeed)
}

// Sweep returns the design as sweep points (each tagged with its arm, unit and seed) and the sweep definition
// whose name and paths the sweep record takes.
func (d *Design) Sweep() (*sweep.Definition, []sweep.Point) {
	grid := map[string][]any{"inputs.content.path": nil, "inputs.styles": nil, "seed": nil}
	for _, a := range d.File.Arms {
		for k := range a.Set {
			grid[k] = nil
		}
	}
	def := &sweep.Definition{Name: d.File.Name, Base: d.File.Base, Grid: grid}
	pts := make([]sweep.Point, len(d.Runs))
	for i, r := range d.Runs {
		pts[i] = sweep.Point{Index: i, Spec: r.Spec,
			Values: map[string]any{"arm": r.Arm, "unit": r.Unit, "seed": r.Seed},
			Tags:   map[string]string{TagArm: r.Arm, TagUnit: r.Unit, TagSeed: fmt.Sprint(r.Seed)}}
	}
	return def, pts
}

// units lists the design's units: explicit pairs, or the content and style images (folders listed, sorted)
// crossed or zipped.
func (f *File) units(baseDir string) ([]Unit, error) {
	u := f.Units
	var pairs []Pair
	if len(u.Pairs) > 0 {
		for i, p := range u.Pairs {
			if p.Content == "" || p.Style == "" {
				return nil, fmt.Errorf("study file: units.pairs[%d] needs both \"content\" and \"style\"", i)
			}
		}
		pairs = u.Pairs
	} else {
		contents, err := listImages(u.Content, baseDir, "units.content")
		if err != nil {
			return nil, err
		}
		styles, err := listImages(u.Style, baseDir, "units.style")
		if err != nil {
			return nil, err
		}
		if u.Pairing == "zip" {
			if len(contents) != len(styles) {
				return nil, fmt.Errorf("study file: units.pairing \"zip\" pairs by position, but there are %d content and %d style images: list as many of each, or use \"cross\"", len(contents), len(styles))
			}
			for i := range contents {
				pairs = append(pairs, Pair{contents[i], styles[i]})
			}
		} else {
			for _, c := range contents {
				for _, s := range styles {
					pairs = append(pairs, Pair{c, s})
				}
			}
		}
	}
	var out []Unit
	ids := map[string]int{}
	for _, p := range pairs {
		id := stem(p.Content) + "×" + stem(p.Style)
		ids[id]++
		if ids[id] > 1 {
			id = fmt.Sprintf("%s#%d", id, ids[id])
		}
		out = append(out, Unit{ID: id, Content: p.Content, Style: p.Style})
	}
	return out, nil
}

func stem(p string) string {
	b := filepath.Base(p)
	return strings.TrimSuffix(b, filepath.Ext(b))
}

var imageExts = []string{".png", ".jpg", ".jpeg"}

// listImages expands folders into their image files (sorted by name); files are kept as given. A path is found
// as spec.FilePath finds inputs: from the working directory, else from baseDir.
func listImages(paths []string, baseDir, field string) ([]string, error) {
	var out []string
	for i, p := range paths {
		full := p
		if !filepath.IsAbs(p) {
			if _, err := os.Stat(p); err != nil && baseDir != "" {
				full = filepath.Join(baseDir, p)
			}
		}
		fi, err := os.Stat(full)
		if err != nil {
			return nil, fmt.Errorf("study file: %s[%d] %q: %w (paths are found from the working directory, then from the study file's folder)", field, i, p, err)
		}
		if !fi.IsDir() {
			out = append(out, p)
			continue
		}
		ents, err := os.ReadDir(full)
		if err != nil {
			return nil, fmt.Errorf("study file: %s[%d] %q: %w", field, i, p, err)
		}
		var names []string
		for _, e := range ents {
			if !e.IsDir() && slices.Contains(imageExts, strings.ToLower(filepath.Ext(e.Name()))) {
				names = append(names, e.Name())
			}
		}
		if len(names) == 0 {
			return nil, fmt.Errorf("study file: %s[%d] %q is a folder without PNG or JPEG images", field, i, p)
		}
		sort.Strings(names)
		for _, n := range names {
			out = append(out, filepath.Join(p, n))
		}
	}
	return out, nil
}
