package runner

import (
	"errors"
	"fmt"
	"maps"
	"math"
	"os"
	"sort"
	"strings"

	"github.com/stylelab/stylelab/tracker"
)

// Verdicts of a rerun.
const (
	Identical       = "identical"
	WithinTolerance = "within tolerance"
	Different       = "different"
)

// DefaultTolerance is the largest relative difference of any metric at any step that still counts as "within
// tolerance" when a rerun is not bit-identical (an XLA GPU rerun: reduction order differs between kernels).
const DefaultTolerance = 1e-3

// RerunOptions control Rerun.
type RerunOptions struct {
	Options
	// Tolerance is the relative difference allowed for "within tolerance"; 0 means DefaultTolerance.
	Tolerance float64
	// Output is where the rerun writes its output (image, or final checkpoint of a training run) besides the
	// tracker; "" writes no file. The recorded spec's output path is never used: a rerun must not overwrite the
	// file the original run wrote.
	Output string
}

// Divergence is the first metric value that differs beyond the tolerance, in step order (then metric name).
type Divergence struct {
	Step     int64   `json:"step"`
	Metric   string  `json:"metric"`
	Original float64 `json:"original"`
	Rerun    float64 `json:"rerun"`
	RelDiff  float64 `json:"rel_diff"`
}

// ArtifactCheck compares one output artifact of the two runs by hash.
type ArtifactCheck struct {
	Name     string `json:"name"`
	Original string `json:"original_sha256"`
	Rerun    string `json:"rerun_sha256"`
	Equal    bool   `json:"equal"`
}

// Verdict is the outcome of a rerun: the two runs, the verdict, and the evidence.
type Verdict struct {
	Original   string          `json:"original"`
	Rerun      string          `json:"rerun"`
	Verdict    string          `json:"verdict"`
	MaxRelDiff float64         `json:"max_rel_diff"`
	Tolerance  float64         `json:"tolerance"`
	Points     int             `json:"points_compared"`
	Divergence *Divergence     `json:"first_divergence,omitempty"`
	Artifacts  []ArtifactCheck `json:"artifacts"`
	Warnings   []string        `json:"warnings,omitempty"`
	// RunError is the rerun's own failure, when it failed (a NaN stop, say); the verdict is then computed on
	// what it logged.
	RunError string `json:"run_error,omitempty"`
}

// OK reports whether the verdict is identical or within tolerance (exit status 0 for `stylelab rerun`).
func (v *Verdict) OK() bool { return v.Verdict == Identical || v.Verdict == WithinTolerance }

// Summary is the one-line human form of the verdict.
func (v *Verdict) Summary() string {
	switch v.Verdict {
	case Identical:
		return fmt.Sprintf("identical: %d metric points and %d artifacts equal bit for bit", v.Points, len(v.Artifacts))
	case WithinTolerance:
		return fmt.Sprintf("within tolerance (max rel diff %.3g ≤ %.3g over %d metric points)", v.MaxRelDiff, v.Tolerance, v.Points)
	}
	if d := v.Divergence; d != nil {
		return fmt.Sprintf("different (first divergence at step %d, metric %s: %.9g vs %.9g, rel diff %.3g)", d.Step, d.Metric, d.Original, d.Rerun, d.RelDiff)
	}
	for _, a := range v.Artifacts {
		if !a.Equal {
			return fmt.Sprintf("different (artifact %s: %s vs %s)", a.Name, short(a.Original), short(a.Rerun))
		}
	}
	return "different"
}

// Rerun re-executes the recorded run runID from its stored spec as a new run in the same experiment, tagged
// rerun.of=<runID>, and compares the two: every metric at every step, and the output artifacts' hashes.
// Inputs whose bytes changed (or a training run's content folder with other files) are refused, naming the
// file, unless o.AllowChangedInputs; the allowed changes are then in the verdict's warnings (and go to o.Warn).
// Differences in code (git commit, dirty diff, module versions) or backend are warnings too.
// A rerun stopped by o.Context (a signal, see NotifyInterrupt) returns both the verdict on what it ran so far and
// the *Interrupted error, so a caller can show the partial comparison and still exit as interrupted.
func Rerun(s *tracker.Store, runID string, o RerunOptions) (*Verdict, error) {
	orig, err := s.GetRun(runID)
	if err != nil {
		return nil, err
	}
	if orig.Status == tracker.StatusRunning {
		return nil, fmt.Errorf("run %s is still RUNNING: wait for it to end before rerunning it", orig.ID)
	}
	sp, err := LoadSpec(s, orig.ID)
	if err != nil {
		return nil, err
	}
	recordedBackend := sp.Backend
	sp.Output = o.Output       // never the original's file (Output does not change what is computed, nor the key)
	var inputWarnings []string // allowed input changes: in the verdict too, so that it never says "identical" alone
	warn := func(w string) {
		inputWarnings = append(inputWarnings, w)
		if o.Warn != nil {
			o.Warn(w)
		}
	}
	var tmpDir string
	defer func() {
		if tmpDir != "" {
			os.RemoveAll(tmpDir)
		}
	}()
	tmp := func() (string, error) {
		var err error
		tmpDir, err = os.MkdirTemp("", "stylelab-rerun-inputs-")
		return tmpDir, err
	}
	restored, err := restoreInputs(s, orig.ID, sp, tmp) // inputs.go: missing input files from the store
	if err != nil {
		return nil, fmt.Errorf("rerun of %s: %w", short(orig.ID), err)
	}
	for _, m := range restored {
		if o.Warn != nil {
			o.Warn(m)
		}
	}
	p, err := Prepare(sp, o.AllowChangedInputs, warn)
	if err != nil {
		return nil, fmt.Errorf("rerun of %s: %w", short(orig.ID), err)
	}
	o.Options.Store = s
	tags := map[string]string{RerunOfTag: orig.ID}
	for k, v := range o.Tags {
		tags[k] = v
	}
	o.Options.Tags = tags
	out, runErr := p.Run(o.Options)
	if out == nil || out.RunID == "" {
		return nil, fmt.Errorf("rerun of %s: %w", short(orig.ID), runErr)
	}
	v, err := Compare(s, orig.ID, out.RunID, o.Tolerance)
	if err != nil {
		return nil, err
	}
	if runErr != nil {
		v.RunError = runErr.Error()
	}
	for _, w := range inputWarnings {
		v.Warnings = append(v.Warnings, "input changed (allowed): "+w)
	}
	v.Warnings = append(v.Warnings, restored...)
	var in *Interrupted
	if errors.As(runErr, &in) {
		err = runErr
	}
	if recordedBackend != "" && sp.Backend != recordedBackend {
		v.Warnings = append(v.Warnings, fmt.Sprintf("backend differs: recorded %s, rerun on %s (results agree only within a tolerance)", recordedBackend, sp.Backend))
	}
	if w, e := CodeDifferences(s, orig.ID, out.RunID); e == nil {
		v.Warnings = append(v.Warnings, w...)
	}
	return v, err
}

// Compare compares two recorded runs: every metric point (by key and step) and the artifacts named
// output.png / spec-independent outputs. Identical: every point bit-equal and the outputs' hashes equal.
// Within tolerance: same keys and steps, and every relative difference |a−b|/max(|a|,|b|) ≤ tol (NaN equals
// NaN). Different otherwise, with the first divergence in step order.
func Compare(s *tracker.Store, a, b string, tol float64) (*Verdict, error) {
	if tol <= 0 {
		tol = DefaultTolerance
	}
	ra, rb, err := twoRuns(s, a, b)
	if err != nil {
		return nil, err
	}
	v := &Verdict{Original: ra.ID, Rerun: rb.ID, Tolerance: tol, Verdict: Identical}
	pa, err := points(s, ra.ID)
	if err != nil {
		return nil, err
	}
	pb, err := points(s, rb.ID)
	if err != nil {
		return nil, err
	}
	// Scores added to a run after it ran (tracker.Annotate: a study's judge/… metrics) are not its work.
	skip := tracker.AnnotatedKeys(ra)
	maps.Copy(skip, tracker.AnnotatedKeys(rb))
	for _, p := range []map[pointKey]float64{pa, pb} {
		for k := range p {
			if skip[k.key] {
				delete(p, k)
			}
		}
	}
	keys := make([]pointKey, 0, len(pa)+len(pb))
	for k := range pa {
		keys = append(keys, k)
	}
	for k := range pb {
		if _, ok := pa[k]; !ok {
			keys = append(keys, k)
		}
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].step != keys[j].step {
			return keys[i].step < keys[j].step
		}
		return keys[i].key < keys[j].key
	})
	bitEqual := true
	for _, k := range keys {
		x, okA := pa[k]
		y, okB := pb[k]
		v.Points++
		var rel float64
		switch {
		case !okA || !okB:
			rel = math.Inf(1)
		case math.Float64bits(x) == math.Float64bits(y) || (math.IsNaN(x) && math.IsNaN(y)):
			continue
		default:
			rel = relDiff(x, y)
		}
		bitEqual = false
		if rel > v.MaxRelDiff {
			v.MaxRelDiff = rel
		}
		if rel > tol && v.Divergence == nil {
			orig, re := x, y
			if !okA {
				orig = math.NaN()
			}
			if !okB {
				re = math.NaN()
			}
			v.Divergence = &Divergence{Step: k.step, Metric: k.key, Original: orig, Rerun: re, RelDiff: rel}
		}
	}
	arts, allEqual, err := compareArtifacts(s, ra.ID, rb.ID)
	if err != nil {
		return nil, err
	}
	v.Artifacts = arts
	switch {
	case v.Divergence != nil:
		v.Verdict = Different
	case bitEqual && allEqual:
		v.Verdict = Identical
	case bitEqual && !allEqual:
		// Same metrics but other output bytes: only possible if the image differs below the metrics'
		// resolution; that is not a reproduction.
		v.Verdict = Different
	default:
		v.Verdict = WithinTolerance
	}
	if math.IsInf(v.MaxRelDiff, 1) {
		v.MaxRelDiff = math.MaxFloat64 // JSON cannot hold +Inf
	}
	return v, nil
}

type pointKey struct {
	key  string
	step int64
}

func points(s *tracker.Store, runID string) (map[pointKey]float64, error) {
	m := map[pointKey]float64{}
	err := s.EachPoint(runID, func(key string, p tracker.Point) error {
		m[pointKey{key, p.Step}] = p.Value
		return nil
	})
	return m, err
}

func relDiff(a, b float64) float64 {
	if math.IsNaN(a) || math.IsNaN(b) || math.IsInf(a, 0) || math.IsInf(b, 0) {
		return math.Inf(1)
	}
	d := math.Abs(a - b)
	m := math.Max(math.Abs(a), math.Abs(b))
	if m == 0 {
		return 0
	}
	return d / m
}

// compareArtifacts compares the output artifacts (every artifact except the records that always differ:
// provenance.json, git.diff and spec.json, whose backend and base dir may legitimately change; and the stored
// inputs, inputs/…, which are what was read, not made, and already checked against the spec's hashes).
func compareArtifacts(s *tracker.Store, a, b string) ([]ArtifactCheck, bool, error) {
	la, err := s.Artifacts(a)
	if err != nil {
		return nil, false, err
	}
	lb, err := s.Artifacts(b)
	if err != nil {
		return nil, false, err
	}
	hb := map[string]string{}
	for _, x := range lb {
		hb[x.Name] = x.SHA256
	}
	skip := map[string]bool{"provenance.json": true, "git.diff": true, SpecArtifact: true}
	var out []ArtifactCheck
	all := true
	for _, x := range la {
		if skip[x.Name] || strings.HasPrefix(x.Name, InputPrefix) {
			continue
		}
		c := ArtifactCheck{Name: x.Name, Original: x.SHA256, Rerun: hb[x.Name]}
		// The verdict compares the recorded hashes: the blobs must still hold those bytes.
		for _, sum := range []string{c.Original, c.Rerun} {
			if sum == "" {
				continue
			}
			if err := s.VerifyArtifact(sum); err != nil {
				return nil, false, fmt.Errorf("artifact %s: %w", x.Name, err)
			}
		}
		c.Equal = c.Original == c.Rerun
		all = all && c.Equal
		out = append(out, c)
	}
	return out, all, nil
}

// CodeDifferences lists the differences in the code a run was made with: git commit, dirty diff, Go version and
// module versions, from the provenance tags of the two runs.
func CodeDifferences(s *tracker.Store, a, b string) ([]string, error) {
	ra, rb, err := twoRuns(s, a, b)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, c := range changes(ra.Tags, rb.Tags, isCodeTag) {
		out = append(out, fmt.Sprintf("code differs: %s was %q, now %q", strings.TrimPrefix(c.Key, "provenance."), c.A, c.B))
	}
	return out, nil
}

func isCodeTag(k string) bool {
	for _, p := range []string{"provenance.git.commit", "provenance.git.dirty", "provenance.git.diff_sha256", "provenance.go_version", "provenance.module", "provenance.main_module"} {
		if strings.HasPrefix(k, p) {
			return true
		}
	}
	return false
}

// twoRuns reads runs a and b (ids or unique prefixes).
func twoRuns(s *tracker.Store, a, b string) (ra, rb *tracker.RunInfo, err error) {
	if ra, err = s.GetRun(a); err != nil {
		return nil, nil, err
	}
	if rb, err = s.GetRun(b); err != nil {
		return nil, nil, err
	}
	return ra, rb, nil
}

func short(s string) string {
	if len(s) > 8 {
		return s[:8]
	}
	return s
}
