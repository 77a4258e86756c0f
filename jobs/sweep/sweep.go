// Package sweep expands a parameter sweep into experiment specs and runs them with an executor: local worker
// processes or one Slurm job array. Every run a sweep starts is an ordinary `stylelab run --spec` recorded in the
// shared tracker and tagged with the sweep (TagID, TagIndex, TagParams, and the Slurm job and task ids under
// Slurm); the sweep's own record (Record, a JSON file in the sweep folder) lists the expanded specs, so status and
// resume read the tracker, never the executor's memory.
//
// A sweep file is
//
//	{"name": "losses", "base": {…a spec…},
//	 "grid": {"optimise.loss": ["gram", "meanvar"], "optimise.style_weight": [1, 5]},
//	 "random": {"seed": 7, "count": 3, "choices": {"seed": [1, 2, 3, 4]}}}
//
// Keys are dotted paths into the spec's JSON (docs/spec.md); a path that is not a spec field is an error naming it.
// Expansion is deterministic: the grid is the Cartesian product of its keys in sorted order, the last key varying
// fastest; with "random", each grid point is combined with count draws, draw j choosing, for each key in sorted
// order, element ⌊u·len⌋ of its list with u from math/rand/v2's PCG(seed, j). N = Π|grid values| · max(count, 1).
package sweep

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math/big"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"github.com/stylelab/stylelab/jobs/spec"
)

// Tags every run of a sweep carries.
const (
	TagID        = "sweep.id"      // the sweep's id
	TagIndex     = "sweep.index"   // the spec's index in the expansion (0-based)
	TagParams    = "sweep.params"  // comma list of the tracker params the sweep varies (for parallel coordinates)
	TagPaths     = "sweep.paths"   // comma list of the dotted spec paths the sweep varies
	TagSlurmJob  = "slurm.job_id"  // SLURM_ARRAY_JOB_ID
	TagSlurmTask = "slurm.task_id" // SLURM_ARRAY_TASK_ID
)

// MaxRuns bounds one sweep's expansion (a typo in a grid must not queue a million runs).
const MaxRuns = 10000

// Random is the seeded random part of a sweep: Count draws, each choosing one value of every key of Choices.
type Random struct {
	Seed    uint64           `json:"seed"`
	Count   int              `json:"count"`
	Choices map[string][]any `json:"choices"`
}

// Definition is a sweep file.
type Definition struct {
	Name   string           `json:"name"`
	Base   json.RawMessage  `json:"base"`
	Grid   map[string][]any `json:"grid,omitempty"`
	Random *Random          `json:"random,omitempty"`
}

// Parse decodes a sweep file strictly (unknown fields and keys given twice are errors) and checks every key path
// against the spec.
func Parse(r io.Reader) (*Definition, error) {
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("sweep: %w", err)
	}
	if err := spec.CheckDuplicateKeys(b); err != nil {
		return nil, fmt.Errorf("sweep: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	dec.UseNumber()
	var d Definition
	if err := dec.Decode(&d); err != nil {
		return nil, fmt.Errorf("sweep: %w (see docs/spec.md, \"Sweeps\")", err)
	}
	if strings.TrimSpace(d.Name) == "" {
		return nil, errors.New(`sweep: "name" is empty: give the sweep a name`)
	}
	if len(d.Base) == 0 {
		return nil, errors.New(`sweep: "base" is missing: give the spec every run starts from`)
	}
	if len(d.Grid) == 0 && (d.Random == nil || len(d.Random.Choices) == 0) {
		return nil, errors.New(`sweep: nothing to sweep: give "grid" and/or "random.choices" (dotted spec paths to lists of values)`)
	}
	for k, vs := range d.Grid {
		if err := checkPath(k); err != nil {
			return nil, fmt.Errorf("sweep: grid key %q: %w", k, err)
		}
		if len(vs) == 0 {
			return nil, fmt.Errorf("sweep: grid key %q has no values: list at least one", k)
		}
	}
	if d.Random != nil {
		if d.Random.Count < 1 {
			return nil, fmt.Errorf("sweep: random.count must be at least 1 (got %d)", d.Random.Count)
		}
		for k, vs := range d.Random.Choices {
			if err := checkPath(k); err != nil {
				return nil, fmt.Errorf("sweep: random key %q: %w", k, err)
			}
			if _, dup := d.Grid[k]; dup {
				return nil, fmt.Errorf("sweep: key %q is in both grid and random: keep it in one", k)
			}
			if len(vs) == 0 {
				return nil, fmt.Errorf("sweep: random key %q has no values: list at least one", k)
			}
		}
	}
	return &d, nil
}

// Load reads and parses a sweep file.
func Load(path string) (*Definition, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("sweep: %w", err)
	}
	d, err := Parse(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return d, nil
}

// Paths returns the swept spec paths, sorted: grid keys, then random keys.
func (d *Definition) Paths() []string {
	p := slices.Sorted(maps.Keys(d.Grid))
	if d.Random != nil {
		p = append(p, slices.Sorted(maps.Keys(d.Random.Choices))...)
	}
	return p
}

// ParamKey is the tracker param a spec path shows up as (the run shell flattens the kind's section into the top
// level): optimise.X, train.X, stylize.X, interpolate.X, adain.X (and any registered kind's section) → X,
// inputs.content… → content, inputs.styles… → style, weights… → weights, others unchanged.
func ParamKey(path string) string {
	if head, rest, ok := strings.Cut(path, "."); ok && slices.Contains(spec.Kinds, head) {
		return rest
	}
	switch {
	case strings.HasPrefix(path, "inputs.content"):
		return "content"
	case strings.HasPrefix(path, "inputs.styles"):
		return "style"
	case strings.HasPrefix(path, "weights"):
		return "weights"
	}
	return path
}

// Point is one expanded spec: its index, the values the sweep set, and the resolved spec. Tags, when set, are
// extra tags of this run (Entry.Tags).
type Point struct {
	Index  int
	Values map[string]any // dotted path → value
	Spec   *spec.Spec
	Tags   map[string]string
}

// Count is the number of specs Expand returns, N = Π|grid values| · max(random.count, 1), exactly: a product of
// a few lists and a count can exceed any fixed-size integer (4 × 2^62 wraps an int64 to 0), so it is a big.Int.
func (d *Definition) Count() *big.Int {
	n := big.NewInt(1)
	for _, vs := range d.Grid {
		n.Mul(n, big.NewInt(int64(len(vs))))
	}
	if d.Random != nil && d.Random.Count > 1 {
		n.Mul(n, big.NewInt(int64(d.Random.Count)))
	}
	return n
}

// Expand returns the sweep's specs in their deterministic order (see the package doc), each parsed strictly and
// resolved (spec.Resolve). Experiment defaults to the sweep's name, Name to "name/index", and a relative input
// path is found from baseDir when the base spec has no base_dir. Input hashes are not computed here.
func (d *Definition) Expand(baseDir string) ([]Point, error) {
	if n := d.Count(); n.Cmp(big.NewInt(MaxRuns)) > 0 {
		return nil, fmt.Errorf("sweep: %s runs (%s) is more than %d: shrink the grid or random.count", n, d.countFormula(), MaxRuns)
	}
	var base map[string]any
	dec := json.NewDecoder(bytes.NewReader(d.Base))
	dec.UseNumber()
	if err := dec.Decode(&base); err != nil || base == nil {
		return nil, fmt.Errorf("sweep: \"base\" must be a spec object: %v", err)
	}
	if _, err := spec.Parse(bytes.NewReader(d.Base)); err != nil {
		return nil, fmt.Errorf("sweep: base: %w", err)
	}
	gridKeys := slices.Sorted(maps.Keys(d.Grid))
	combos := []map[string]any{{}}
	for _, k := range gridKeys {
		var next []map[string]any
		for _, c := range combos {
			for _, v := range d.Grid[k] {
				m := copyMap(c)
				m[k] = v
				next = append(next, m)
			}
		}
		combos = next
	}
	var draws []map[string]any
	if d.Random != nil {
		keys := slices.Sorted(maps.Keys(d.Random.Choices))
		for j := 0; j < d.Random.Count; j++ {
			r := rand.New(rand.NewPCG(d.Random.Seed, uint64(j)))
			m := map[string]any{}
			for _, k := range keys {
				vs := d.Random.Choices[k]
				m[k] = vs[int(r.Float64()*float64(len(vs)))]
			}
			draws = append(draws, m)
		}
	} else {
		draws = []map[string]any{{}}
	}
	var out []Point
	for _, c := range combos {
		for _, dr := range draws {
			vals := copyMap(c)
			for k, v := range dr {
				vals[k] = v
			}
			doc := DeepCopy(base).(map[string]any)
			for _, k := range slices.Sorted(maps.Keys(vals)) {
				if err := setPath(doc, strings.Split(k, "."), vals[k]); err != nil {
					return nil, fmt.Errorf("sweep: key %q: %w", k, err)
				}
			}
			b, err := json.Marshal(doc)
			if err != nil {
				return nil, err
			}
			sp, err := spec.Parse(bytes.NewReader(b))
			if err != nil {
				return nil, fmt.Errorf("sweep: run %d (%s): %w", len(out), describe(vals), err)
			}
			if sp.Experiment == "" {
				sp.Experiment = d.Name
			}
			if sp.Name == "" {
				sp.Name = fmt.Sprintf("%s/%d", d.Name, len(out))
			}
			if sp.BaseDir == "" && baseDir != "" {
				sp.BaseDir = baseDir
			}
			if err := sp.Resolve(); err != nil {
				return nil, fmt.Errorf("sweep: run %d (%s): %w", len(out), describe(vals), err)
			}
			out = append(out, Point{Index: len(out), Values: vals, Spec: sp})
		}
	}
	return out, nil
}

// countFormula writes Count's product: "3 × 1000 × 1000" (grid lists in key order, then random.count).
func (d *Definition) countFormula() string {
	var f []string
	for _, k := range slices.Sorted(maps.Keys(d.Grid)) {
		f = append(f, strconv.Itoa(len(d.Grid[k])))
	}
	if d.Random != nil {
		f = append(f, "random.count "+strconv.Itoa(d.Random.Count))
	}
	return strings.Join(f, " × ")
}

// Describe formats a point's values as "path=value, …" in sorted order.
func describe(vals map[string]any) string {
	parts := make([]string, 0, len(vals))
	for _, k := range slices.Sorted(maps.Keys(vals)) {
		parts = append(parts, fmt.Sprintf("%s=%v", k, vals[k]))
	}
	return strings.Join(parts, ", ")
}

// Describe formats the point's swept values as "path=value, …".
func (p Point) Describe() string { return describe(p.Values) }

var specType = reflect.TypeOf(spec.Spec{})

// CheckPath reports whether a dotted path names a field of spec.Spec (see checkPath); the error names the
// path and the fields that exist.
func CheckPath(path string) error { return checkPath(path) }

// SetPath sets the dotted path in a decoded spec document, creating missing objects (list elements must
// exist); doc is changed in place.
func SetPath(doc map[string]any, path string, v any) error {
	return setPath(doc, strings.Split(path, "."), v)
}

// checkPath reports whether a dotted path names a field of spec.Spec by its JSON names: struct fields by their
// json tag, list elements by a number (inputs.styles.0.path), map entries by any key (optimise.layer_weights.relu1_1).
func checkPath(path string) error {
	if path == "" {
		return errors.New("empty path")
	}
	t := specType
	segs := strings.Split(path, ".")
	for i, s := range segs {
		for t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		switch t.Kind() {
		case reflect.Struct:
			f, ok := jsonField(t, s)
			if !ok {
				return fmt.Errorf("%q is not a spec field (no %q in %s; fields: %s; see docs/spec.md)",
					path, s, strings.Join(append([]string{"spec"}, segs[:i]...), "."), strings.Join(jsonNames(t), ", "))
			}
			t = f.Type
		case reflect.Slice:
			if _, err := strconv.Atoi(s); err != nil {
				return fmt.Errorf("%q: %q indexes a list: use a number (e.g. %s.0)", path, s, strings.Join(segs[:i], "."))
			}
			t = t.Elem()
		case reflect.Map:
			t = t.Elem()
		default:
			return fmt.Errorf("%q: %s is a value, it has no field %q", path, strings.Join(segs[:i], "."), s)
		}
	}
	return nil
}

func jsonField(t reflect.Type, name string) (reflect.StructField, bool) {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if n, _, _ := strings.Cut(f.Tag.Get("json"), ","); n == name && n != "-" {
			return f, true
		}
	}
	return reflect.StructField{}, false
}

func jsonNames(t reflect.Type) []string {
	var n []string
	for i := 0; i < t.NumField(); i++ {
		if s, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ","); s != "" && s != "-" {
			n = append(n, s)
		}
	}
	return n
}

// setPath sets doc[segs…] = v, creating missing objects (list elements must exist).
func setPath(doc map[string]any, segs []string, v any) error {
	var cur any = doc
	for i, s := range segs {
		last := i == len(segs)-1
		switch c := cur.(type) {
		case map[string]any:
			if last {
				c[s] = v
				return nil
			}
			nx, ok := c[s]
			if !ok || nx == nil {
				nx = map[string]any{}
				c[s] = nx
			}
			cur = nx
		case []any:
			j, err := strconv.Atoi(s)
			if err != nil || j < 0 || j >= len(c) {
				return fmt.Errorf("the base spec's %s has %d elements, no element %s", strings.Join(segs[:i], "."), len(c), s)
			}
			if last {
				c[j] = v
				return nil
			}
			cur = c[j]
		default:
			return fmt.Errorf("the base spec's %s is not an object", strings.Join(segs[:i], "."))
		}
	}
	return nil
}

// DeepCopy copies a decoded JSON value (maps and slices, recursively), so a point can set paths in its own copy
// of a base spec.
func DeepCopy(v any) any {
	switch x := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[k] = DeepCopy(e)
		}
		return m
	case []any:
		s := make([]any, len(x))
		for i, e := range x {
			s[i] = DeepCopy(e)
		}
		return s
	}
	return v
}

func copyMap(m map[string]any) map[string]any {
	c := make(map[string]any, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}

// AbsDir is filepath.Abs of the folder holding path ("" on error).
func AbsDir(path string) string {
	d, err := filepath.Abs(filepath.Dir(path))
	if err != nil {
		return ""
	}
	return d
}
