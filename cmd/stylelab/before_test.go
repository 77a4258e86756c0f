package main

import (
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/stylelab/stylelab/jobs/runner"
	"github.com/stylelab/stylelab/tracker"
)

// Runs recorded by main before the run shell (commit a2b80c1, testdata/before/record.sh: two optimisations,
// a CIN and an AdaIN training run, stylize, interpolate and adain, on the pure-Go backend) still rerun
// "identical" with today's code, every kind, and their recorded spec keys are the keys today's code computes
// from their recorded specs (a changed Key would break reuse by spec key in notebooks and sweeps).
func TestRerunOfRunsRecordedBeforeTheShell(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: reruns seven tiny runs")
	}
	// The database and its artifacts are copied: reruns add runs. Models and images stay where the specs say
	// (testdata/before/*.safetensors, ../../images), read only.
	dir := t.TempDir()
	src := filepath.Join("testdata", "before")
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dir, rel), 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dir, rel), b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	db := filepath.Join(dir, "stylelab.db")
	st, err := tracker.Open(db)
	if err != nil {
		t.Fatal(err)
	}
	runs, err := st.SearchRuns(tracker.Query{Filter: "experiment = 'before'"})
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]bool{}
	for _, r := range runs {
		sp, err := runner.LoadSpec(st, r.ID)
		if err != nil {
			t.Fatal(err)
		}
		if err := sp.Resolve(); err != nil {
			t.Fatalf("run %s (%s): its recorded spec no longer resolves: %v", r.ID, r.Name, err)
		}
		if got := sp.Key(); got != r.Tags[runner.KeyTag] {
			t.Errorf("run %s (%s): spec key %s today, %s when recorded", r.ID, r.Name, got, r.Tags[runner.KeyTag])
		}
		kinds[sp.Kind] = true
	}
	st.Close()
	var got []string
	for k := range kinds {
		got = append(got, k)
	}
	sort.Strings(got)
	if len(runs) != 7 || len(got) != 5 {
		t.Fatalf("testdata/before holds %d runs of kinds %v, want 7 runs of all five kinds", len(runs), got)
	}
	env := []string{"GOMLX_BACKEND=go", "STYLELAB_VGG_WEIGHTS=", "STYLELAB_ARTIFACTS="}
	for _, r := range runs {
		res := runStylelab(t, env, "rerun", r.ID, "--db", db, "--json")
		var v runner.Verdict
		if err := json.Unmarshal([]byte(res.stdout), &v); err != nil {
			t.Fatalf("rerun %s (%s): exit %d, %v\n%s\n%s", r.ID, r.Name, res.code, err, res.stdout, res.stderr)
		}
		stepped := r.Params["kind"] == "optimise" || r.Params["kind"] == "train" // the inference kinds log no metrics
		if res.code != 0 || v.Verdict != runner.Identical || len(v.Artifacts) == 0 || (stepped && v.Points == 0) {
			t.Errorf("rerun of %s (%s, kind %s): exit %d, %s\n%s", r.ID, r.Name, r.Params["kind"], res.code, v.Summary(), res.stderr)
		}
		for _, a := range v.Artifacts {
			if !a.Equal {
				t.Errorf("rerun of %s (%s): artifact %s differs", r.ID, r.Name, a.Name)
			}
		}
		t.Logf("%s (%s): %s", r.Name, r.Params["kind"], v.Summary())
	}
}
