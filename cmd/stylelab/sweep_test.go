package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stylelab/stylelab/jobs/sweep"
	"github.com/stylelab/stylelab/tracker"
)

// writeSweep writes the 2×2 sweep (loss × style weight, 32 px, 3 steps) plus extra grid entries.
func writeSweep(t *testing.T, dir, name, grid string) string {
	t.Helper()
	c, _ := filepath.Abs(testContent)
	s, _ := filepath.Abs(testStyle)
	if grid == "" {
		grid = `{"optimise.loss": ["gram", "meanvar"], "optimise.style_weight": [1, 5]}`
	}
	body := fmt.Sprintf(`{"name": %q, "base": {"version": 1, "kind": "optimise", "seed": 1,
	  "inputs": {"content": {"path": %q}, "styles": [{"path": %q}]}, "optimise": {"size": 32, "steps": 3}},
	  "grid": %s}`, name, c, s, grid)
	p := filepath.Join(dir, name+".json")
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

type sweepStatusJSON struct {
	Counts sweep.Counts     `json:"counts"`
	Runs   []sweep.RunState `json:"runs"`
	Params []string         `json:"params"`
}

func sweepStatusOf(t *testing.T, env []string, id string) sweepStatusJSON {
	t.Helper()
	r := runStylelab(t, env, "sweep", "status", id, "--json")
	if r.code != 0 {
		t.Fatalf("sweep status: exit %d: %s%s", r.code, r.stdout, r.stderr)
	}
	var s sweepStatusJSON
	if err := json.Unmarshal([]byte(r.stdout), &s); err != nil {
		t.Fatalf("%v: %s", err, r.stdout)
	}
	return s
}

// waitStatus polls sweep status until cond holds (at most 5 minutes).
func waitStatus(t *testing.T, env []string, id string, what string, cond func(sweepStatusJSON) bool) sweepStatusJSON {
	t.Helper()
	deadline := time.Now().Add(5 * time.Minute)
	for {
		s := sweepStatusOf(t, env, id)
		if cond(s) {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("sweep %s: still not %s after 5 minutes: %+v", id, what, s.Counts)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

func startSweep(t *testing.T, env []string, args ...string) string {
	t.Helper()
	r := runStylelab(t, env, append([]string{"sweep"}, args...)...)
	if r.code != 0 {
		t.Fatalf("sweep %v: exit %d: %s%s", args, r.code, r.stdout, r.stderr)
	}
	m := regexp.MustCompile(`^sweep (\S+): `).FindStringSubmatch(r.stdout)
	if m == nil {
		t.Fatalf("no sweep id in %q", r.stdout)
	}
	return m[1]
}

// sweepRuns returns the tracker runs of a sweep by index.
func sweepRuns(t *testing.T, db, id string) map[int][]tracker.RunInfo {
	t.Helper()
	st, err := tracker.Open(db)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	runs, err := st.SearchRuns(tracker.Query{Filter: "tags.`sweep.id` = '" + id + "'"})
	if err != nil {
		t.Fatal(err)
	}
	out := map[int][]tracker.RunInfo{}
	for _, r := range runs {
		i, err := strconv.Atoi(r.Tags[sweep.TagIndex])
		if err != nil {
			t.Fatalf("run %s has sweep.index %q", r.ID, r.Tags[sweep.TagIndex])
		}
		out[i] = append(out[i], r)
	}
	return out
}

// checkFinished asserts 4 FINISHED runs, each tagged with the sweep and its swept params, whose params are the
// grid point of its index.
func checkFinished(t *testing.T, env []string, db, id string) map[int][]tracker.RunInfo {
	t.Helper()
	s := sweepStatusOf(t, env, id)
	if s.Counts != (sweep.Counts{Total: 4, Finished: 4}) {
		t.Fatalf("final counts %+v, want 4 finished", s.Counts)
	}
	want := [][2]string{{"gram", "1"}, {"gram", "5"}, {"meanvar", "1"}, {"meanvar", "5"}}
	byIndex := sweepRuns(t, db, id)
	for i, st := range s.Runs {
		var fin *tracker.RunInfo
		for k := range byIndex[i] {
			if byIndex[i][k].ID == st.RunID {
				fin = &byIndex[i][k]
			}
		}
		if fin == nil || fin.Status != tracker.StatusFinished {
			t.Fatalf("index %d: state %+v, no FINISHED tracker run", i, st)
		}
		if fin.Params["loss"] != want[i][0] || fin.Params["style_weight"] != want[i][1] || fin.Params["size"] != "32" || fin.Params["steps"] != "3" {
			t.Fatalf("index %d: params loss=%s style_weight=%s size=%s steps=%s, want %v", i, fin.Params["loss"], fin.Params["style_weight"], fin.Params["size"], fin.Params["steps"], want[i])
		}
		if fin.Tags[sweep.TagParams] != "loss,style_weight" || fin.Tags[sweep.TagPaths] != "optimise.loss,optimise.style_weight" || fin.Tags["spec.key"] != st.Key {
			t.Fatalf("index %d: tags %v", i, fin.Tags)
		}
	}
	return byIndex
}

func TestSweepErrors(t *testing.T) {
	dir := t.TempDir()
	env := []string{"STYLELAB_DB=" + filepath.Join(dir, "t.db")}
	bad := filepath.Join(dir, "bad.json")
	os.WriteFile(bad, []byte(`{"name": "b", "base": {"version": 1, "kind": "optimise"}, "grid": {"optimise.los": ["gram"]}}`), 0o644)
	if r := runStylelab(t, env, "sweep", bad); r.code != 1 || !strings.Contains(r.stderr, `"optimise.los" is not a spec field`) {
		t.Fatalf("unknown path: exit %d, %s", r.code, r.stderr)
	}
	good := writeSweep(t, dir, "dry", "")
	r := runStylelab(t, env, "sweep", good, "--dry-run", "--executor", "slurm", "--parallel", "2")
	if r.code != 0 || strings.Count(r.stdout, `"kind": "optimise"`) != 4 || !strings.Contains(r.stdout, "#SBATCH --array=0-3%2") {
		t.Fatalf("dry run: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if _, err := os.Stat(filepath.Join(dir, "sweeps")); !os.IsNotExist(err) {
		t.Fatalf("--dry-run wrote the sweep folder (%v)", err)
	}
	// sbatch missing: a clear error, and no sweep folder left behind.
	r = runStylelab(t, append(env, "PATH="+dir), "sweep", good, "--executor", "slurm")
	if r.code != 1 || !strings.Contains(r.stderr, "sbatch not found on PATH") {
		t.Fatalf("no sbatch: exit %d, %s", r.code, r.stderr)
	}
	if ents, _ := os.ReadDir(filepath.Join(dir, "sweeps")); len(ents) != 0 {
		t.Fatalf("a failed submission left %d sweep folders", len(ents))
	}
	if _, err := runConfigFromFlags([]string{"--spec", "s.json", "--tag", "novalue"}); err == nil || !strings.Contains(err.Error(), "want KEY=VALUE") {
		t.Fatalf("--tag without =: %v", err)
	}
	if req, err := runConfigFromFlags([]string{"--spec", "s.json", "--tag", "a=b=c", "--tag", "x="}); err != nil || req.Tags["a"] != "b=c" || req.Tags["x"] != "" || len(req.Tags) != 2 {
		t.Fatalf("--tag: %v %v", req, err)
	}
	if r := runStylelab(t, env, "sweep", "status", "nosuch-00000000"); r.code != 1 || !strings.Contains(r.stderr, "no sweep") {
		t.Fatalf("unknown id: exit %d, %s", r.code, r.stderr)
	}
}

// The 2×2 sweep on the local executor with one worker: cancelled after its first run finished, the sweep shows
// the rest KILLED; resume reruns exactly those, and it ends with 4 FINISHED runs tagged with the sweep.
func TestSweepLocalCancelResume(t *testing.T) {
	if testing.Short() {
		t.Skip("runs four optimisations")
	}
	dir := t.TempDir()
	db := filepath.Join(dir, "t.db")
	env := []string{"STYLELAB_DB=" + db}
	id := startSweep(t, env, writeSweep(t, dir, "local", ""), "--workers", "1")
	waitStatus(t, env, id, "one finished", func(s sweepStatusJSON) bool { return s.Counts.Finished >= 1 })
	if r := runStylelab(t, env, "sweep", "cancel", id); r.code != 0 || !strings.Contains(r.stdout, "cancelled 1 local worker") {
		t.Fatalf("cancel: exit %d: %s%s", r.code, r.stdout, r.stderr)
	}
	s := waitStatus(t, env, id, "stopped", func(s sweepStatusJSON) bool { return s.Counts.Done() })
	f := s.Counts.Finished
	if f < 1 || f == 4 || s.Counts.Killed != 4-f || s.Counts.Failed != 0 {
		t.Fatalf("after cancel: %+v, want some finished and the rest killed", s.Counts)
	}
	finishedBefore := map[int]string{}
	for _, st := range s.Runs {
		if st.State == tracker.StatusFinished {
			finishedBefore[st.Index] = st.RunID
		}
	}
	r := runStylelab(t, env, "sweep", "resume", id, "--wait", "--workers", "2")
	if r.code != 0 || !strings.Contains(r.stdout, fmt.Sprintf("resumed %d of 4 runs", 4-f)) {
		t.Fatalf("resume: exit %d: %s%s", r.code, r.stdout, r.stderr)
	}
	byIndex := checkFinished(t, env, db, id)
	for i, runID := range finishedBefore {
		if len(byIndex[i]) != 1 || byIndex[i][0].ID != runID {
			t.Fatalf("index %d had finished before resume but now has %d runs", i, len(byIndex[i]))
		}
	}
}

// startSlurm starts the single-node cluster of scripts/local-cluster.sh in a temporary folder and returns the
// environment that reaches it. Skipped unless Slurm, munge and root are here; STYLELAB_REQUIRE_SLURM=1 (make
// test) makes a missing cluster a failure.
func startSlurm(t *testing.T) []string {
	t.Helper()
	fail := t.Skipf
	if os.Getenv("STYLELAB_REQUIRE_SLURM") != "" {
		fail = t.Fatalf
	}
	for _, b := range []string{"munged", "slurmctld", "slurmd", "sbatch", "squeue", "scancel"} {
		if _, err := exec.LookPath(b); err != nil {
			if _, err := os.Stat("/usr/sbin/" + b); err != nil {
				fail("Slurm not installed (%s missing): apt-get install slurm-wlm munge, or scripts/install-deps.sh", b)
			}
		}
	}
	if os.Geteuid() != 0 {
		fail("the single-node Slurm cluster needs root")
	}
	dir := t.TempDir()
	env := []string{"STYLELAB_CLUSTER_DIR=" + dir, "STYLELAB_CLUSTER_SERVICES=slurm"}
	up := exec.Command("../../scripts/local-cluster.sh", "up")
	up.Env = append(os.Environ(), env...)
	out, err := up.CombinedOutput()
	t.Cleanup(func() {
		down := exec.Command("../../scripts/local-cluster.sh", "down")
		down.Env = append(os.Environ(), env...)
		if o, err := down.CombinedOutput(); err != nil {
			t.Errorf("local-cluster.sh down: %v: %s", err, o)
		}
	})
	if err != nil {
		fail("local-cluster.sh up: %v: %s", err, out)
	}
	return append(env, "SLURM_CONF="+filepath.Join(dir, "slurm", "slurm.conf"))
}

// The 2×2 sweep as one Slurm job array on a real single-node cluster: task 3 is cancelled while pending, the
// other three finish tagged with their job and task ids; resume submits only task 3; a task that fails shows
// FAILED with its Slurm ids; sbatch refusing the job is a clear error.
func TestSweepSlurm(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a Slurm cluster and runs five optimisations")
	}
	env := startSlurm(t)
	dir := t.TempDir()
	db := filepath.Join(dir, "t.db")
	env = append(env, "STYLELAB_DB="+db)
	file := writeSweep(t, dir, "slurm", "")

	if r := runStylelab(t, env, "sweep", file, "--executor", "slurm", "--partition", "nosuch"); r.code != 1 || !strings.Contains(r.stderr, "sbatch refused") {
		t.Fatalf("bad partition: exit %d: %s", r.code, r.stderr)
	}
	id := startSweep(t, env, file, "--executor", "slurm", "--parallel", "1")
	if r := runStylelab(t, env, "sweep", "cancel", id, "--task", "3"); r.code != 0 {
		t.Fatalf("cancel: exit %d: %s%s", r.code, r.stdout, r.stderr)
	}
	s := waitStatus(t, env, id, "done", func(s sweepStatusJSON) bool { return s.Counts.Done() })
	if s.Counts != (sweep.Counts{Total: 4, Finished: 3, Killed: 1}) || s.Runs[3].State != tracker.StatusKilled {
		t.Fatalf("after cancelling task 3: %+v %+v", s.Counts, s.Runs)
	}
	job1 := s.Runs[0].SlurmJob
	r := runStylelab(t, env, "sweep", "resume", id, "--wait")
	if r.code != 0 || !strings.Contains(r.stdout, "resumed 1 of 4 runs (3)") || !strings.Contains(r.stdout, "(1 tasks)") {
		t.Fatalf("resume: exit %d: %s%s", r.code, r.stdout, r.stderr)
	}
	byIndex := checkFinished(t, env, db, id)
	for i := 0; i < 4; i++ {
		if len(byIndex[i]) != 1 {
			t.Fatalf("index %d has %d runs, want 1", i, len(byIndex[i]))
		}
		tags := byIndex[i][0].Tags
		if tags[sweep.TagSlurmTask] != strconv.Itoa(i) || tags[sweep.TagSlurmJob] == "" || (tags[sweep.TagSlurmJob] == job1) == (i == 3) {
			t.Fatalf("index %d: slurm tags job %q task %q (first array job %s)", i, tags[sweep.TagSlurmJob], tags[sweep.TagSlurmTask], job1)
		}
	}

	// A task that fails (its loss is +Inf at step 0) ends FAILED with its Slurm ids; --wait exits 1. (An output
	// that cannot be written is refused before the run starts, so it leaves no run to carry the ids.)
	failing := writeSweep(t, dir, "failing", `{"optimise.style_weight": [1e39]}`)
	r = runStylelab(t, env, "sweep", failing, "--executor", "slurm", "--wait")
	if r.code != 1 || !strings.Contains(r.stderr, "1 failed") {
		t.Fatalf("failing sweep: exit %d: %s%s", r.code, r.stdout, r.stderr)
	}
	fid := regexp.MustCompile(`^sweep (\S+): `).FindStringSubmatch(r.stdout)[1]
	fr := sweepRuns(t, db, fid)[0]
	if len(fr) != 1 || fr[0].Status != tracker.StatusFailed || fr[0].Tags[sweep.TagSlurmTask] != "0" || fr[0].Tags[sweep.TagSlurmJob] == "" {
		t.Fatalf("failed task's run: %+v", fr)
	}
}
