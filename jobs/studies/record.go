package studies

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/stylelab/stylelab/jobs/sweep"
)

// RecordFile is the study record's file name inside the sweep folder the study runs as.
const RecordFile = "study.json"

// Record is what a study keeps beside its sweep record (root/ID/study.json): the study file as given, its
// units and every run's arm, unit and seed by index. The study's id is its sweep's id.
type Record struct {
	ID      string          `json:"id"`
	Name    string          `json:"name"`
	Created time.Time       `json:"created"`
	File    json.RawMessage `json:"file"`     // the study file, as parsed (re-encoded)
	BaseDir string          `json:"base_dir"` // the study file's folder
	Units   []Unit          `json:"units"`
	Runs    []Planned       `json:"runs"`

	dir  string
	file *File
}

// Dir is the study's folder (its sweep's).
func (r *Record) Dir() string { return r.dir }

// StudyFile is the parsed study file of the record.
func (r *Record) StudyFile() *File { return r.file }

// Create writes the sweep record of the design (specs, sweep.json) and the study record beside it, and returns
// both; nothing is submitted. With dry, nothing is written (the records are only planned).
func Create(root string, d *Design, db, binary, executor string, dry bool) (*Record, *sweep.Record, error) {
	def, pts := d.Sweep()
	plan := sweep.Create
	if dry {
		plan = sweep.Plan
	}
	sw, err := plan(root, def, pts, db, binary, executor)
	if err != nil {
		return nil, nil, err
	}
	// The study's id is the sweep's, known now: every run is tagged with it too.
	for i := range sw.Runs {
		if sw.Runs[i].Tags == nil {
			sw.Runs[i].Tags = map[string]string{}
		}
		sw.Runs[i].Tags[TagID] = sw.ID
	}
	if !dry {
		if err := sw.Save(); err != nil {
			os.RemoveAll(sw.Dir())
			return nil, nil, err
		}
	}
	raw, err := json.Marshal(d.File)
	if err != nil {
		return nil, nil, err
	}
	rec := &Record{ID: sw.ID, Name: d.File.Name, Created: sw.Created, File: raw, BaseDir: d.BaseDir, Units: d.Units,
		Runs: d.Runs, dir: sw.Dir(), file: d.File}
	if dry {
		return rec, sw, nil
	}
	if err := rec.save(); err != nil {
		os.RemoveAll(sw.Dir())
		return nil, nil, err
	}
	return rec, sw, nil
}

func (r *Record) save() error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	tmp := filepath.Join(r.dir, "."+RecordFile+".tmp")
	if err := os.WriteFile(tmp, append(b, '\n'), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(r.dir, RecordFile))
}

// Open reads study id under root, with its sweep record.
func Open(root, id string) (*Record, *sweep.Record, error) {
	sw, err := sweep.Open(root, id)
	if err != nil {
		return nil, nil, fmt.Errorf("study %s: %w", id, err)
	}
	b, err := os.ReadFile(filepath.Join(sw.Dir(), RecordFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil, fmt.Errorf("%s is a sweep, not a study (no %s): use stylelab sweep status %s", id, RecordFile, id)
	}
	if err != nil {
		return nil, nil, err
	}
	var r Record
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, nil, fmt.Errorf("%s: damaged study record: %w", filepath.Join(sw.Dir(), RecordFile), err)
	}
	r.dir = sw.Dir()
	if r.file, err = parseRaw(r.File); err != nil {
		return nil, nil, fmt.Errorf("%s: the study file it holds: %w", filepath.Join(sw.Dir(), RecordFile), err)
	}
	if len(r.Runs) != len(sw.Runs) {
		return nil, nil, fmt.Errorf("%s: %d runs in the study record, %d in the sweep record: the folder is damaged", sw.Dir(), len(r.Runs), len(sw.Runs))
	}
	return &r, sw, nil
}

func parseRaw(b []byte) (*File, error) {
	var f File
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, err
	}
	return &f, f.Check()
}

// List returns the studies under root (sweeps with a study record), oldest first.
func List(root string) ([]*Record, error) {
	sws, err := sweep.List(root)
	if err != nil {
		return nil, err
	}
	var out []*Record
	for _, s := range sws {
		if r, _, err := Open(root, s.ID); err == nil {
			out = append(out, r)
		}
	}
	return out, nil
}

// Find returns the latest study under root made from the same study file as f (compared as compact JSON), or nil
// when there is none: a notebook or script uses it to resume its study instead of starting another.
func Find(root string, f *File) (*Record, error) {
	want, err := compactJSON(f)
	if err != nil {
		return nil, err
	}
	recs, err := List(root)
	if err != nil {
		return nil, err
	}
	for i := len(recs) - 1; i >= 0; i-- {
		var b bytes.Buffer
		if json.Compact(&b, recs[i].File) == nil && b.String() == want {
			return recs[i], nil
		}
	}
	return nil, nil
}

func compactJSON(v any) (string, error) {
	raw, err := json.Marshal(v)
	if err != nil {
		return "", err
	}
	var b bytes.Buffer
	if err := json.Compact(&b, raw); err != nil {
		return "", err
	}
	return b.String(), nil
}
