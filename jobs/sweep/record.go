package sweep

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/stylelab/stylelab/jobs/spec"
	"github.com/stylelab/stylelab/tracker"
)

// Executors.
const (
	ExecutorLocal = "local"
	ExecutorSlurm = "slurm"
)

// Record is what a sweep folder (Dir/ID) keeps about a sweep in sweep.json: its expanded runs (each spec also
// written, input hashes filled, to specs/NNNN.json) and every submission, so that status, resume and cancel
// work from any process on the shared filesystem.
type Record struct {
	ID       string    `json:"id"`
	Name     string    `json:"name"`
	Created  time.Time `json:"created"`
	DB       string    `json:"db"`     // tracker path (absolute) or URL the runs are recorded in
	Binary   string    `json:"binary"` // the stylelab executable the tasks run
	Executor string    `json:"executor"`
	Paths    []string  `json:"paths"`  // swept spec paths
	Params   []string  `json:"params"` // the tracker params they show up as
	Runs     []Entry   `json:"runs"`
	// Submissions, oldest first.
	Submissions []Submission `json:"submissions"`

	dir    string
	points []Point // the specs, until written
}

// Entry is one expanded run.
type Entry struct {
	Index  int            `json:"index"`
	Key    string         `json:"key"`  // spec.Spec.Key, with input hashes
	Spec   string         `json:"spec"` // file, relative to the sweep folder
	Values map[string]any `json:"values"`
	// Tags are extra tags of this run only (a study's study.arm, study.unit, study.seed), passed as --tag.
	Tags map[string]string `json:"tags,omitempty"`
}

// Submission is one hand-over of runs to an executor: a Slurm job array, or a local supervisor process.
type Submission struct {
	Executor string    `json:"executor"`
	Time     time.Time `json:"time"`
	Indices  []int     `json:"indices"`
	JobID    string    `json:"job_id,omitempty"` // Slurm array job id
	PID      int       `json:"pid,omitempty"`    // local supervisor
	// The local supervisor's identity, so that a later cancel or status never takes another process that reuses
	// the pid, or one on another host sharing the sweep folder, for it (see Identity).
	Host       string `json:"host,omitempty"`        // os.Hostname of the machine it runs on
	BootID     string `json:"boot_id,omitempty"`     // /proc/sys/kernel/random/boot_id of that boot
	StartTicks uint64 `json:"start_ticks,omitempty"` // /proc/PID/stat field 22: start time after boot, in clock ticks
	Script     string `json:"script,omitempty"`      // sbatch script file, relative to the sweep folder
}

// Dir is the sweep's folder.
func (r *Record) Dir() string { return r.dir }

// SpecPath is the absolute path of run i's spec.
func (r *Record) SpecPath(i int) string { return filepath.Join(r.dir, r.Runs[i].Spec) }

// NewID returns "name-xxxxxxxx": the sweep's name reduced to [a-z0-9-] and 8 random hex digits.
func NewID(name string) string {
	s := strings.Trim(regexp.MustCompile(`[^a-z0-9]+`).ReplaceAllString(strings.ToLower(name), "-"), "-")
	if len(s) > 40 {
		s = s[:40]
	}
	if s == "" {
		s = "sweep"
	}
	var b [4]byte
	_, _ = rand.Read(b[:])
	return s + "-" + hex.EncodeToString(b[:])
}

// Plan makes the record of a new sweep in folder root/ID without writing anything: every point's input
// hashes are computed (so a missing or changed input is caught before anything is submitted) and its key taken.
func Plan(root string, d *Definition, points []Point, db, binary, executor string) (*Record, error) {
	id := NewID(d.Name)
	rec := &Record{ID: id, Name: d.Name, Created: time.Now().UTC(), DB: db, Binary: binary, Executor: executor,
		Paths: d.Paths(), dir: filepath.Join(root, id), points: points}
	for _, p := range rec.Paths {
		rec.Params = append(rec.Params, ParamKey(p))
	}
	weights := map[string]string{} // weights file or random seed → hash of the weight values (computed once)
	for _, p := range points {
		if _, err := p.Spec.HashInputs(false); err != nil {
			return nil, fmt.Errorf("sweep: run %d (%s): %w", p.Index, p.Describe(), err)
		}
		// The key covers the weights' value hash, which the run records (runner.Prepare): fill it the same way.
		if err := fillWeightsHash(p.Spec, weights); err != nil {
			return nil, fmt.Errorf("sweep: run %d (%s): %w", p.Index, p.Describe(), err)
		}
		name := filepath.Join("specs", fmt.Sprintf("%04d.json", p.Index))
		rec.Runs = append(rec.Runs, Entry{Index: p.Index, Key: p.Spec.Key(), Spec: name, Values: p.Values, Tags: p.Tags})
	}
	return rec, nil
}

// Create plans a sweep (Plan) and writes its folder: specs/NNNN.json, logs/ and sweep.json.
func Create(root string, d *Definition, points []Point, db, binary, executor string) (*Record, error) {
	rec, err := Plan(root, d, points, db, binary, executor)
	if err != nil {
		return nil, err
	}
	return rec, rec.write()
}

func (r *Record) write() error {
	for _, sub := range []string{"specs", "logs"} {
		if err := os.MkdirAll(filepath.Join(r.dir, sub), 0o755); err != nil {
			return fmt.Errorf("sweep folder: %w (choose another with --dir)", err)
		}
	}
	for i, p := range r.points {
		if err := os.WriteFile(r.SpecPath(i), p.Spec.JSON(), 0o644); err != nil {
			os.RemoveAll(r.dir)
			return err
		}
	}
	if err := r.Save(); err != nil {
		os.RemoveAll(r.dir)
		return err
	}
	return nil
}

// Save writes sweep.json atomically (temporary file, then rename).
func (r *Record) Save() error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	tmp := filepath.Join(r.dir, ".sweep.json.tmp")
	if err := os.WriteFile(tmp, append(b, '\n'), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(r.dir, "sweep.json"))
}

// Open reads the record of sweep id under root.
func Open(root, id string) (*Record, error) {
	if id == "" || strings.ContainsAny(id, `/\`) || id == "." || id == ".." {
		return nil, fmt.Errorf("sweep id %q is not valid (ids look like name-1a2b3c4d; `stylelab sweep list` shows them)", id)
	}
	dir := filepath.Join(root, id)
	b, err := os.ReadFile(filepath.Join(dir, "sweep.json"))
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("no sweep %q under %s (pass the --dir the sweep was started with)", id, root)
	}
	if err != nil {
		return nil, err
	}
	var r Record
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("%s: damaged sweep record: %w", filepath.Join(dir, "sweep.json"), err)
	}
	r.dir = dir
	return &r, nil
}

// List returns the ids of the sweeps under root, oldest first.
func List(root string) ([]*Record, error) {
	ents, err := os.ReadDir(root)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []*Record
	for _, e := range ents {
		if !e.IsDir() {
			continue
		}
		if r, err := Open(root, e.Name()); err == nil {
			out = append(out, r)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Created.Before(out[j].Created) })
	return out, nil
}

// TaskArgs are the arguments of `stylelab` that run index i of the sweep, with its sweep tags and the entry's
// own Tags (extra tags, e.g. the Slurm ids, are appended by the executor).
func (r *Record) TaskArgs(i int) []string {
	return append(r.sweepArgs(i), r.entryTagArgs(i)...)
}

func (r *Record) sweepArgs(i int) []string {
	return []string{"run", "--spec", r.SpecPath(i), "--db", r.DB,
		"--tag", TagID + "=" + r.ID, "--tag", fmt.Sprintf("%s=%d", TagIndex, i),
		"--tag", TagParams + "=" + strings.Join(r.Params, ","), "--tag", TagPaths + "=" + strings.Join(r.Paths, ",")}
}

// entryTagArgs are "--tag k=v" for the entry's Tags, in sorted key order.
func (r *Record) entryTagArgs(i int) []string {
	var out []string
	for _, k := range slices.Sorted(maps.Keys(r.Runs[i].Tags)) {
		out = append(out, "--tag", k+"="+r.Runs[i].Tags[k])
	}
	return out
}

// Searcher is the part of the tracker the status needs (*tracker.Store).
type Searcher interface {
	SearchRuns(q tracker.Query) ([]tracker.RunInfo, error)
}

// Runs returns every tracker run tagged with the sweep.
func (r *Record) TrackerRuns(st Searcher) ([]tracker.RunInfo, error) {
	if !regexp.MustCompile(`^[a-z0-9-]+$`).MatchString(r.ID) {
		return nil, fmt.Errorf("sweep id %q has characters a filter cannot hold", r.ID)
	}
	return st.SearchRuns(tracker.Query{Filter: "tags.`" + TagID + "` = '" + r.ID + "'", OrderBy: "start_time ASC"})
}

func fillWeightsHash(sp *spec.Spec, cache map[string]string) error {
	if sp.Weights.SHA256 != "" {
		return nil
	}
	k := fmt.Sprintf("random:%d", sp.Weights.RandomSeed)
	if sp.Weights.File != nil {
		k = "file:" + sp.Weights.File.SHA256
	}
	if h, ok := cache[k]; ok {
		sp.Weights.SHA256 = h
		return nil
	}
	w, err := sp.LoadWeights()
	if err != nil {
		return err
	}
	cache[k] = w.SHA256
	sp.Weights.SHA256 = w.SHA256
	return nil
}
