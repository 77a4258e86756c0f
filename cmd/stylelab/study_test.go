package main

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stylelab/stylelab/jobs/studies"
	"github.com/stylelab/stylelab/tracker"
)

// writeStudy writes a tiny study (gram, mmd-poly × 2 pairs × 2 seeds = 8 runs, 32 px, few steps); extra is
// appended to the top-level object.
func writeStudy(t *testing.T, dir string, steps int, extra string) string {
	t.Helper()
	c1, _ := filepath.Abs(testContent)
	s1, _ := filepath.Abs(testStyle)
	c2, _ := filepath.Abs("../../images/content/colosseum.jpg")
	s2, _ := filepath.Abs(testStyle2)
	body := fmt.Sprintf(`{"name": "cli", "base": {"version": 2, "kind": "optimise", "weights": {"random_seed": 0},
	  "optimise": {"size": 32, "steps": %d}},
	  "arms": [{"name": "gram", "set": {"optimise.loss": "gram"}}, {"name": "mmd-poly", "set": {"optimise.loss": "mmd-poly"}}],
	  "units": {"pairs": [{"content": %q, "style": %q}, {"content": %q, "style": %q}]},
	  "seeds": [1, 2], "judge": {"projections": 16}, "statistics": {"bootstrap": 500}%s}`, steps, c1, s1, c2, s2, extra)
	p := filepath.Join(dir, "study.json")
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestStudyBadInputAndDryRun(t *testing.T) {
	dir := t.TempDir()
	env := []string{"STYLELAB_DB=" + filepath.Join(dir, "t.db")}
	file := writeStudy(t, dir, 2, "")
	if r := runStylelab(t, env, "study"); r.code != 2 || !strings.Contains(r.stderr, "one study file") {
		t.Errorf("no file: exit %d %s", r.code, r.stderr)
	}
	if r := runStylelab(t, env, "study", file, "--executor", "k8s"); r.code != 2 {
		t.Errorf("bad executor: exit %d", r.code)
	}
	bad := writeStudy(t, t.TempDir(), 2, `, "arms": [{"name": "a", "set": {"optimise.los": "gram"}}, {"name": "b", "set": {}}]`)
	if r := runStylelab(t, env, "study", bad); r.code != 1 || !strings.Contains(r.stderr, `key "arms" appears twice`) {
		t.Errorf("arms given twice: exit %d %s", r.code, r.stderr)
	}
	unknownPath := filepath.Join(t.TempDir(), "s.json")
	b, _ := os.ReadFile(file)
	os.WriteFile(unknownPath, []byte(strings.Replace(string(b), `"optimise.loss": "mmd-poly"`, `"optimise.los": "mmd-poly"`, 1)), 0o644)
	if r := runStylelab(t, env, "study", unknownPath); r.code != 1 || !strings.Contains(r.stderr, `unknown arm path: "optimise.los" is not a spec field`) {
		t.Errorf("unknown arm path: exit %d %s", r.code, r.stderr)
	}
	oneSeedPath := filepath.Join(t.TempDir(), "one.json")
	os.WriteFile(oneSeedPath, []byte(strings.Replace(string(b), `"seeds": [1, 2]`, `"seeds": [4]`, 1)), 0o644)
	oneSeed := oneSeedPath
	if r := runStylelab(t, env, "study", oneSeed, "--json"); r.code != 1 || !strings.Contains(r.stdout, `"kind":"error"`) || !strings.Contains(r.stdout, "one seed (4)") {
		t.Errorf("one seed: exit %d %s%s", r.code, r.stdout, r.stderr)
	}
	r := runStylelab(t, env, "study", file, "--max-runs", "7")
	if r.code != 1 || !strings.Contains(r.stderr, "8 runs is more than 7") {
		t.Errorf("bound: exit %d %s", r.code, r.stderr)
	}
	r = runStylelab(t, env, "study", file, "--dry-run")
	if r.code != 0 || !strings.Contains(r.stdout, "8 runs: 2 arms × 2 units × 2 seeds (nothing started)") || !strings.Contains(r.stdout, "chelsea×vangogh_starry_night") {
		t.Errorf("dry run: exit %d %s%s", r.code, r.stdout, r.stderr)
	}
	r = runStylelab(t, env, "study", file, "--dry-run", "--json")
	var out struct {
		ID   string `json:"id"`
		Runs int    `json:"runs"`
	}
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &out) != nil || out.Runs != 8 || !strings.HasPrefix(out.ID, "cli-") {
		t.Errorf("dry run --json: exit %d %s", r.code, r.stdout)
	}
	// Nothing was started: no sweep folder, no run.
	if ents, _ := os.ReadDir(filepath.Join(dir, "sweeps")); len(ents) != 0 {
		t.Errorf("a refused or dry study left %d folders", len(ents))
	}
	if r := runStylelab(t, env, "study", "report", "nosuch-00000000"); r.code != 1 {
		t.Errorf("report of an unknown study: exit %d %s", r.code, r.stderr)
	}
	if r := runStylelab(t, env, "study", "export", "x", "--format", "xlsx"); r.code != 2 {
		t.Errorf("bad export format: exit %d", r.code)
	}
}

type studyJSON struct {
	ID         string   `json:"id"`
	Runs       int      `json:"runs"`
	Evaluation string   `json:"evaluation"`
	Findings   []string `json:"findings"`
	Missing    []string `json:"missing"`
}

// runStudyCLI starts the study with --wait --json and checks what every study run must show: FINISHED, tagged
// with the study and its arm, unit and seed; the findings say gram and mmd-poly do not differ.
func runStudyCLI(t *testing.T, env []string, db string, args ...string) studyJSON {
	t.Helper()
	r := runStylelab(t, env, append(append([]string{"study"}, args...), "--wait", "--json")...)
	if r.code != 0 {
		t.Fatalf("study %v: exit %d: %s%s", args, r.code, r.stdout, r.stderr)
	}
	var s studyJSON
	if err := json.Unmarshal([]byte(r.stdout), &s); err != nil {
		t.Fatalf("%v: %s", err, r.stdout)
	}
	if s.Runs != 8 || s.Evaluation == "" || len(s.Missing) != 0 || !strings.Contains(strings.Join(s.Findings, " "), "gram and mmd-poly do not differ on any judge") {
		t.Fatalf("study outcome %+v", s)
	}
	st, err := tracker.OpenReadOnly(db)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	runs, err := st.SearchRuns(tracker.Query{Filter: "tags.`study.id` = '" + s.ID + "' AND params.kind = 'optimise'"})
	if err != nil || len(runs) != 8 {
		t.Fatalf("%d study runs, %v", len(runs), err)
	}
	seen := map[string]bool{}
	for _, ri := range runs {
		if ri.Status != tracker.StatusFinished || ri.Tags[studies.TagArm] == "" || ri.Tags[studies.TagUnit] == "" {
			t.Fatalf("run %s: %s tags %v", ri.ID, ri.Status, ri.Tags)
		}
		if ri.Params["loss"] != ri.Tags[studies.TagArm] {
			t.Errorf("run %s of arm %s optimised %s", ri.ID, ri.Tags[studies.TagArm], ri.Params["loss"])
		}
		seen[ri.Tags[studies.TagArm]+"/"+ri.Tags[studies.TagUnit]+"/"+ri.Tags[studies.TagSeed]] = true
	}
	if len(seen) != 8 {
		t.Errorf("%d distinct arm/unit/seed cells, want 8", len(seen))
	}
	return s
}

// The study end to end on the local executor, then its report, export and a second evaluation.
func TestStudyLocal(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: 8 optimisation runs")
	}
	dir := t.TempDir()
	db := filepath.Join(dir, "t.db")
	env := []string{"STYLELAB_DB=" + db}
	s := runStudyCLI(t, env, db, writeStudy(t, dir, 4, ""), "--workers", "2")

	report := filepath.Join(dir, "report.html")
	if r := runStylelab(t, env, "study", "report", s.ID, "--out", report); r.code != 0 {
		t.Fatalf("report: exit %d %s", r.code, r.stderr)
	}
	html, _ := os.ReadFile(report)
	for _, want := range []string{`id="study-forest"`, `id="study-heatmap"`, `<table class="means">`, "gram and mmd-poly do not differ"} {
		if !strings.Contains(string(html), want) {
			t.Errorf("report lacks %q", want)
		}
	}
	r := runStylelab(t, env, "study", "export", s.ID, "--format", "csv")
	rows, err := csv.NewReader(strings.NewReader(r.stdout)).ReadAll()
	if r.code != 0 || err != nil || len(rows) < 8*40 || strings.Join(rows[0], ",") != "run,arm,unit,seed,metric,value" {
		t.Fatalf("export csv: exit %d, %d rows, %v", r.code, len(rows), err)
	}
	r = runStylelab(t, env, "study", "export", s.ID, "--format", "json")
	var obs []map[string]any
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &obs) != nil || len(obs) != len(rows)-1 {
		t.Fatalf("export json: exit %d, %d rows (csv %d)", r.code, len(obs), len(rows)-1)
	}
	// Another judge is a new evaluation of the same runs; the judge may not be the optimising network.
	if r := runStylelab(t, env, "study", "evaluate", s.ID, "--judge-seed", "0"); r.code != 1 || !strings.Contains(r.stderr, "same weights") {
		t.Errorf("judge = optimiser: exit %d %s", r.code, r.stderr)
	}
	r = runStylelab(t, env, "study", "evaluate", s.ID, "--judge-seed", "7", "--json")
	var ev studyJSON
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &ev) != nil || ev.Evaluation == s.Evaluation || ev.Evaluation == "" {
		t.Fatalf("evaluate --judge-seed 7: exit %d %s%s", r.code, r.stdout, r.stderr)
	}
	// Rerunning the study: every run and every number of the latest evaluation reproduce on the CPU backend.
	r = runStylelab(t, env, "study", "rerun", s.ID, "--json")
	var rr studies.RerunReport
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &rr) != nil || !rr.OK || rr.RunsReproduced != 8 || rr.JudgeEqual != 8 || !rr.AnalysisEqual || rr.Evaluation != ev.Evaluation {
		t.Errorf("study rerun: exit %d %s%s", r.code, r.stdout, r.stderr)
	}
	if r := runStylelab(t, env, "study", "list"); r.code != 0 || !strings.Contains(r.stdout, s.ID) {
		t.Errorf("list: %d %s", r.code, r.stdout)
	}
	if r := runStylelab(t, env, "study", "status", s.ID); r.code != 0 || !strings.Contains(r.stdout, "8/8 finished") {
		t.Errorf("status: %d %s", r.code, r.stdout)
	}
}

// The same study as one Slurm job array on the single-node cluster (skipped without Slurm, as the sweep tests).
func TestStudySlurm(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a Slurm cluster and runs 8 optimisations")
	}
	env := startSlurm(t)
	dir := t.TempDir()
	db := filepath.Join(dir, "t.db")
	env = append(env, "STYLELAB_DB="+db)
	s := runStudyCLI(t, env, db, writeStudy(t, dir, 4, ""), "--executor", "slurm")
	st, err := tracker.OpenReadOnly(db)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	runs, _ := st.SearchRuns(tracker.Query{Filter: "tags.`study.id` = '" + s.ID + "' AND params.kind = 'optimise'"})
	for _, ri := range runs {
		if ri.Tags["slurm.job_id"] == "" || ri.Tags["slurm.task_id"] != ri.Tags["sweep.index"] {
			t.Errorf("run %s: slurm tags %q %q (index %s)", ri.ID, ri.Tags["slurm.job_id"], ri.Tags["slurm.task_id"], ri.Tags["sweep.index"])
		}
	}
}
