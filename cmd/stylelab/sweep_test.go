package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
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
	conf := filepath.Join(dir, "slurm", "slurm.conf")
	if r := localClusterEnv(t, dir, "slurm"); r.code != 0 || r.stdout != "export SLURM_CONF="+conf+"\n" {
		t.Fatalf("local-cluster.sh env of the running cluster: exit %d, %q, %s", r.code, r.stdout, r.stderr)
	}
	return append(env, "SLURM_CONF="+conf)
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

	// A task that fails (its output cannot be written) ends FAILED with its Slurm ids; --wait exits 1.
	failing := writeSweep(t, dir, "failing", `{"output": ["/proc/stylelab-cannot-write/out.png"]}`)
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

// A cancelled local sweep stops every running run as one SIGTERM does: each ends KILLED "interrupted by
// SIGTERM" with its last image as output.png (issue 21, item 3: each run got SIGTERM twice, from the group signal
// and from the supervisor, and the second, arriving after the handler was reset, killed runs outright).
func TestSweepLocalCancelEveryRunKilledWithImage(t *testing.T) {
	if testing.Short() {
		t.Skip("runs four optimisations")
	}
	dir := t.TempDir()
	db := filepath.Join(dir, "t.db")
	env := []string{"STYLELAB_DB=" + db}
	c, _ := filepath.Abs(testContent)
	s, _ := filepath.Abs(testStyle)
	// relu1_1 only: short steps, so the boundary after the signal comes quickly; many steps, so none finishes.
	body := fmt.Sprintf(`{"name": "cancel", "base": {"version": 2, "kind": "optimise",
	  "inputs": {"content": {"path": %q}, "styles": [{"path": %q}]},
	  "optimise": {"size": 32, "steps": 100000, "content_layers": ["relu1_1"], "style_layers": ["relu1_1"]}},
	  "grid": {"seed": [1, 2, 3, 4]}}`, c, s)
	file := filepath.Join(dir, "cancel.json")
	if err := os.WriteFile(file, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	id := startSweep(t, env, file, "--workers", "4")
	st, err := tracker.Open(db)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	// Wait until all four runs are RUNNING and each has logged a few steps (so each has a last image).
	deadline := time.Now().Add(3 * time.Minute)
	for {
		runs := sweepRuns(t, db, id)
		ready := 0
		for i := 0; i < 4; i++ {
			if len(runs[i]) == 1 && runs[i][0].Status == tracker.StatusRunning {
				if h, err := st.History(runs[i][0].ID, "total"); err == nil && len(h) >= 3 {
					ready++
				}
			}
		}
		if ready == 4 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the four runs did not all start within 3 minutes: %v", runs)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if r := runStylelab(t, env, "sweep", "cancel", id); r.code != 0 || !strings.Contains(r.stdout, "cancelled 1 local worker") {
		t.Fatalf("cancel: exit %d: %s%s", r.code, r.stdout, r.stderr)
	}
	// A run killed outright stays RUNNING until its heartbeat is stale (30 s), then reads KILLED without image.
	s2 := waitStatus(t, env, id, "stopped", func(s sweepStatusJSON) bool { return s.Counts.Done() })
	if s2.Counts != (sweep.Counts{Total: 4, Killed: 4}) {
		t.Fatalf("after cancel: %+v, want 4 killed", s2.Counts)
	}
	runs := sweepRuns(t, db, id)
	for i := 0; i < 4; i++ {
		if len(runs[i]) != 1 {
			t.Fatalf("index %d has %d runs", i, len(runs[i]))
		}
		r := runs[i][0]
		if r.Status != tracker.StatusKilled || !strings.Contains(r.Error, "interrupted by SIGTERM") {
			t.Errorf("index %d: %s %q, want KILLED interrupted by SIGTERM", i, r.Status, r.Error)
			continue
		}
		a, err := st.FindArtifact(r.ID, "output.png")
		if err != nil {
			t.Errorf("index %d: no output.png: %v", i, err)
			continue
		}
		b, err := st.ReadArtifact(a.SHA256)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := png.Decode(bytes.NewReader(b)); err != nil {
			t.Errorf("index %d: output.png is not a PNG: %v", i, err)
		}
	}
}

// writeLocalRecord writes the record of a one-run local sweep whose supervisor submission is sub (as JSON), and
// returns the environment that finds it and its id.
func writeLocalRecord(t *testing.T, sub string) ([]string, string) {
	t.Helper()
	dir := t.TempDir()
	id := "cancel-00000001"
	os.MkdirAll(filepath.Join(dir, "sweeps", id, "logs"), 0o755)
	rec := fmt.Sprintf(`{"id": %q, "name": "cancel", "created": %q, "db": %q, "executor": "local",
	  "runs": [{"index": 0, "key": "k", "spec": "specs/0000.json"}], "submissions": [%s]}`,
		id, time.Now().UTC().Add(-time.Minute).Format(time.RFC3339), filepath.Join(dir, "t.db"), sub)
	if err := os.WriteFile(filepath.Join(dir, "sweeps", id, "sweep.json"), []byte(rec), 0o644); err != nil {
		t.Fatal(err)
	}
	return []string{"STYLELAB_DB=" + filepath.Join(dir, "t.db")}, id
}

// `sweep cancel` never signals a process that merely has the recorded pid (issue 21, item 2): here the pid is a
// live, unrelated sleep (its own process group, so a group signal would reach it) that started at another time,
// or the record says another host, or it is an old record without identity. The sleep survives each; status
// counts the reused pid's run as never started, and the other two as queued with the reason.
func TestSweepCancelLeavesUnrelatedProcess(t *testing.T) {
	sleeper := exec.Command("sleep", "60")
	sleeper.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := sleeper.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { sleeper.Wait(); close(done) }()
	defer func() { sleeper.Process.Kill(); <-done }()
	pid := sleeper.Process.Pid
	host, _ := os.Hostname()
	boot, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil {
		t.Skipf("no boot id here: %v", err)
	}
	sub := func(extra string) string {
		return fmt.Sprintf(`{"executor": "local", "time": %q, "indices": [0], "pid": %d%s}`, time.Now().UTC().Add(-time.Minute).Format(time.RFC3339), pid, extra)
	}
	for _, tc := range []struct {
		name, sub    string
		code         int
		want, state  string
		statusReason string
	}{
		// Start tick 1: no process on this machine started then, so the sleep is not the recorded worker.
		{"pid reused", sub(fmt.Sprintf(`, "host": %q, "boot_id": %q, "start_ticks": 1`, host, strings.TrimSpace(string(boot)))), 0, "is now another process", "KILLED", "never started"},
		{"other host", sub(fmt.Sprintf(`, "host": "elsewhere", "boot_id": %q, "start_ticks": 1`, strings.TrimSpace(string(boot)))), 1, `runs on host "elsewhere"`, "QUEUED", "unchecked"},
		{"no identity", sub(""), 1, "recorded without its identity", "QUEUED", "unchecked"},
	} {
		env, id := writeLocalRecord(t, tc.sub)
		r := runStylelab(t, env, "sweep", "cancel", id)
		if r.code != tc.code || !strings.Contains(r.stdout+r.stderr, tc.want) {
			t.Errorf("%s: cancel exit %d, want %d with %q: %s%s", tc.name, r.code, tc.code, tc.want, r.stdout, r.stderr)
		}
		select {
		case <-done:
			t.Fatalf("%s: sweep cancel signalled the unrelated process %d", tc.name, pid)
		case <-time.After(300 * time.Millisecond):
		}
		s := sweepStatusOf(t, env, id)
		if len(s.Runs) != 1 || s.Runs[0].State != tc.state || !strings.Contains(s.Runs[0].Error, tc.statusReason) {
			t.Errorf("%s: status %+v, want %s (%s)", tc.name, s.Runs, tc.state, tc.statusReason)
		}
	}
}

// `sweep cancel --task N` refuses an index outside the sweep, negative ones included (issue 21, item 14: --task -5
// cancelled the whole sweep), with the usage code, and cancels nothing.
func TestSweepCancelTaskRange(t *testing.T) {
	sleeper := exec.Command("sleep", "60")
	if err := sleeper.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { sleeper.Process.Kill(); sleeper.Wait() }()
	boot, _ := os.ReadFile("/proc/sys/kernel/random/boot_id")
	host, _ := os.Hostname()
	var start string
	if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", sleeper.Process.Pid)); err == nil {
		f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
		start = f[19]
	}
	// A live worker with its true identity: a cancel that went through would signal it.
	env, id := writeLocalRecord(t, fmt.Sprintf(`{"executor": "local", "indices": [0], "pid": %d, "host": %q, "boot_id": %q, "start_ticks": %s}`,
		sleeper.Process.Pid, host, strings.TrimSpace(string(boot)), start))
	for _, task := range []string{"-5", "-1", "1", "99999999999"} {
		r := runStylelab(t, env, "sweep", "cancel", id, "--task", task)
		if r.code != 2 || !strings.Contains(r.stderr, "the sweep has runs 0..0") && !strings.Contains(r.stderr, "invalid value") {
			t.Errorf("--task %s: exit %d: %s%s", task, r.code, r.stdout, r.stderr)
		}
	}
	time.Sleep(100 * time.Millisecond)
	var ws syscall.WaitStatus
	if pid, _ := syscall.Wait4(sleeper.Process.Pid, &ws, syscall.WNOHANG, nil); pid != 0 {
		t.Fatalf("a refused cancel ended the worker: %v", ws)
	}
}

// A sweep file with a key given twice is refused, naming the key and the file.
func TestSweepDuplicateKeyCLI(t *testing.T) {
	dir := t.TempDir()
	c, _ := filepath.Abs(testContent)
	st, _ := filepath.Abs(testStyle)
	p := filepath.Join(dir, "dup.json")
	os.WriteFile(p, []byte(fmt.Sprintf(`{"name": "d", "base": {"version": 2, "kind": "optimise",
	  "inputs": {"content": {"path": %q}, "styles": [{"path": %q}]}, "optimise": {"size": 32, "steps": 3}},
	  "grid": {"seed": [1], "seed": [2]}}`, c, st)), 0o644)
	r := runStylelab(t, []string{"STYLELAB_DB=" + filepath.Join(dir, "t.db")}, "sweep", p, "--dry-run")
	if r.code != 1 || !strings.Contains(r.stderr, `key "grid.seed" appears twice`) || !strings.Contains(r.stderr, p) {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
}

// --partition with a newline is a usage error, not a line of its own in the sbatch script (issue 21, item 17).
func TestSweepPartitionNewline(t *testing.T) {
	dir := t.TempDir()
	env := []string{"STYLELAB_DB=" + filepath.Join(dir, "t.db")}
	file := writeSweep(t, dir, "p", "")
	r := runStylelab(t, env, "sweep", file, "--dry-run", "--executor", "slurm", "--partition", "main\n#SBATCH --uid=0")
	if r.code != 2 || !strings.Contains(r.stderr, "control character U+000A") || strings.Contains(r.stdout, "#SBATCH --uid") {
		t.Fatalf("exit %d: %s%s", r.code, r.stdout, r.stderr)
	}
}

// `sweep --executor slurm` with Slurm's client but no configuration (SLURM_CONF naming a missing file, or a
// folder) refuses before sbatch runs, naming what to set, and leaves no sweep folder ("Slurm without a
// configuration", issue 21: sbatch went to DNS, or retried a missing SLURM_CONF for 60 s).
func TestSweepSlurmWithoutConfig(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "bin")
	os.MkdirAll(bin, 0o755)
	calls := filepath.Join(dir, "sbatch-calls")
	os.WriteFile(filepath.Join(bin, "sbatch"), []byte("#!/bin/sh\necho \"$@\" >> '"+calls+"'\necho 123\n"), 0o755)
	file := writeSweep(t, dir, "noconf", "")
	for _, conf := range []string{filepath.Join(dir, "missing", "slurm.conf"), dir} {
		env := []string{"STYLELAB_DB=" + filepath.Join(dir, "t.db"), "PATH=" + bin + ":" + os.Getenv("PATH"), "SLURM_CONF=" + conf}
		r := runStylelab(t, env, "sweep", file, "--executor", "slurm")
		if r.code != 1 || !strings.Contains(r.stderr, "SLURM_CONF="+conf+" is not a readable Slurm configuration") ||
			!strings.Contains(r.stderr, "/etc/slurm/slurm.conf") || !strings.Contains(r.stderr, "scripts/local-cluster.sh up") {
			t.Errorf("SLURM_CONF=%s: exit %d: %s%s", conf, r.code, r.stdout, r.stderr)
		}
		if _, err := os.Stat(calls); err == nil {
			t.Fatalf("SLURM_CONF=%s: sbatch was run", conf)
		}
		if ents, _ := os.ReadDir(filepath.Join(dir, "sweeps")); len(ents) != 0 {
			t.Fatalf("a refused submission left %d sweep folders", len(ents))
		}
	}
}

// localClusterEnv runs `scripts/local-cluster.sh env` with the given cluster folder and services.
func localClusterEnv(t *testing.T, dir, services string) stylelabResult {
	t.Helper()
	cmd := exec.Command("../../scripts/local-cluster.sh", "env")
	cmd.Env = append(os.Environ(), "STYLELAB_CLUSTER_DIR="+dir, "STYLELAB_CLUSTER_SERVICES="+services)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var ee *exec.ExitError
	code := 0
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return stylelabResult{out.String(), errb.String(), code}
}

// `scripts/local-cluster.sh env` while the cluster is down (never started, or its daemons gone) says so and how
// to start it, exits 1, and prints no environment (issue 21: it printed nothing, or a SLURM_CONF whose
// daemons were gone, and exited 0).
func TestLocalClusterEnvWhenDown(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "never-started")
	for _, services := range []string{"slurm", "postgres", "postgres slurm"} {
		r := localClusterEnv(t, missing, services)
		if r.code != 1 || r.stdout != "" || !strings.Contains(r.stderr, "is down") ||
			!strings.Contains(r.stderr, "STYLELAB_CLUSTER_DIR='"+missing+"' STYLELAB_CLUSTER_SERVICES='"+services+"' scripts/local-cluster.sh up") {
			t.Errorf("services %q: exit %d, stdout %q, stderr %q", services, r.code, r.stdout, r.stderr)
		}
		for _, s := range strings.Fields(services) {
			if !strings.Contains(r.stderr, s+" is down") {
				t.Errorf("services %q: %s not said to be down: %s", services, s, r.stderr)
			}
		}
	}
	// A Slurm folder left behind whose daemons are gone (the pid of a process that has exited).
	stale := t.TempDir()
	os.MkdirAll(filepath.Join(stale, "slurm"), 0o755)
	os.WriteFile(filepath.Join(stale, "slurm", "slurm.conf"), []byte("ClusterName=stylelab\n"), 0o644)
	gone := exec.Command("true")
	if err := gone.Run(); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"slurmctld", "slurmd"} {
		os.WriteFile(filepath.Join(stale, "slurm", d+".pid"), []byte(strconv.Itoa(gone.Process.Pid)+"\n"), 0o644)
	}
	if r := localClusterEnv(t, stale, "slurm"); r.code != 1 || r.stdout != "" || !strings.Contains(r.stderr, "slurmctld is not running") {
		t.Errorf("stale slurm folder: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
}
