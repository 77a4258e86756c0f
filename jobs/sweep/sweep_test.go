package sweep

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stylelab/stylelab/tracker"
)

const base = `{"version": 1, "kind": "optimise", "seed": 1,
  "inputs": {"content": {"path": "c.png"}, "styles": [{"path": "s.png"}]},
  "optimise": {"size": 32, "steps": 3}}`

func parse(t *testing.T, s string) *Definition {
	t.Helper()
	d, err := Parse(strings.NewReader(s))
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestExpandGrid(t *testing.T) {
	d := parse(t, `{"name": "Loss study", "base": `+base+`,
	  "grid": {"optimise.style_weight": [1, 5], "optimise.loss": ["gram", "meanvar"]}}`)
	pts, err := d.Expand("/data")
	if err != nil {
		t.Fatal(err)
	}
	// Sorted keys (loss, style_weight), the last varying fastest.
	want := [][2]any{{"gram", 1.0}, {"gram", 5.0}, {"meanvar", 1.0}, {"meanvar", 5.0}}
	if len(pts) != 4 || d.Count().Int64() != 4 {
		t.Fatalf("%d points (Count %d), want 4", len(pts), d.Count())
	}
	for i, p := range pts {
		c := p.Spec.Optimise
		if p.Index != i || c.Loss != want[i][0] || c.StyleWeight == nil || *c.StyleWeight != want[i][1] || c.Size != 32 || c.Steps != 3 {
			t.Fatalf("point %d: index %d loss %q weight %v size %d steps %d, want %v", i, p.Index, c.Loss, c.StyleWeight, c.Size, c.Steps, want[i])
		}
		if p.Spec.Experiment != "Loss study" || p.Spec.Name != "Loss study/"+string(rune('0'+i)) || p.Spec.BaseDir != "/data" {
			t.Fatalf("point %d: experiment %q name %q base_dir %q", i, p.Spec.Experiment, p.Spec.Name, p.Spec.BaseDir)
		}
	}
	// Deterministic: a second expansion gives the same specs byte for byte.
	again, _ := d.Expand("/data")
	for i := range pts {
		if string(pts[i].Spec.JSON()) != string(again[i].Spec.JSON()) {
			t.Fatalf("point %d differs between expansions", i)
		}
	}
	if got := d.Paths(); !slices.Equal(got, []string{"optimise.loss", "optimise.style_weight"}) {
		t.Fatalf("paths %v", got)
	}
	if ParamKey("train.steps") != "steps" || ParamKey("stylize.mix") != "mix" || ParamKey("optimise.loss_options.poly_degree") != "loss_options.poly_degree" {
		t.Errorf("section paths: train.steps → %q, stylize.mix → %q", ParamKey("train.steps"), ParamKey("stylize.mix"))
	}
	if ParamKey("optimise.style_weight") != "style_weight" || ParamKey("inputs.styles.0.path") != "style" || ParamKey("seed") != "seed" {
		t.Fatal("ParamKey")
	}
}

func TestExpandRandom(t *testing.T) {
	mk := func(seed int) []Point {
		d := parse(t, `{"name": "r", "base": `+base+`, "grid": {"optimise.loss": ["gram", "meanvar"]},
		  "random": {"seed": `+string(rune('0'+seed))+`, "count": 6, "choices": {"seed": [1, 2, 3, 4, 5, 6, 7], "optimise.learning_rate": [0.01, 0.02, 0.05]}}}`)
		p, err := d.Expand("")
		if err != nil {
			t.Fatal(err)
		}
		if len(p) != 12 {
			t.Fatalf("%d points, want 2×6", len(p))
		}
		return p
	}
	a, b, c := mk(3), mk(3), mk(4)
	sig := func(ps []Point) string {
		var s []string
		for _, p := range ps {
			v, _ := json.Marshal(p.Values)
			s = append(s, string(v))
			if lr := p.Spec.Optimise.LearningRate; lr != 0.01 && lr != 0.02 && lr != 0.05 {
				t.Fatalf("learning rate %v is not one of the choices", lr)
			}
			if p.Spec.Seed < 1 || p.Spec.Seed > 7 || p.Spec.Optimise.Seed != p.Spec.Seed {
				t.Fatalf("seed %d / %d", p.Spec.Seed, p.Spec.Optimise.Seed)
			}
		}
		return strings.Join(s, "\n")
	}
	if sig(a) != sig(b) {
		t.Fatal("same random seed, different draws")
	}
	if sig(a) == sig(c) {
		t.Fatal("random seeds 3 and 4 drew the same 6 choices")
	}
	// Each grid point gets the same draws.
	for j := 0; j < 6; j++ {
		if a[j].Spec.Seed != a[6+j].Spec.Seed || a[j].Spec.Optimise.Loss != "gram" || a[6+j].Spec.Optimise.Loss != "meanvar" {
			t.Fatalf("draw %d differs between grid points", j)
		}
	}
}

func TestPathErrors(t *testing.T) {
	for _, tc := range []struct{ sweep, want string }{
		{`{"name": "x", "base": ` + base + `, "grid": {"optimise.los": ["gram"]}}`, `"optimise.los" is not a spec field`},
		{`{"name": "x", "base": ` + base + `, "grid": {"optimize.loss": ["gram"]}}`, `"optimize.loss" is not a spec field`},
		{`{"name": "x", "base": ` + base + `, "random": {"count": 2, "choices": {"inputs.styles.first.path": ["a"]}}}`, `use a number`},
		{`{"name": "x", "base": ` + base + `, "grid": {"seed.x": [1]}}`, `seed is a value`},
		{`{"name": "x", "base": ` + base + `}`, `nothing to sweep`},
		{`{"name": "", "base": ` + base + `, "grid": {"seed": [1]}}`, `"name" is empty`},
		{`{"name": "x", "base": ` + base + `, "grid": {"seed": []}}`, `no values`},
		{`{"name": "x", "base": ` + base + `, "gird": {"seed": [1]}}`, `unknown field "gird"`},
	} {
		_, err := Parse(strings.NewReader(tc.sweep))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want it to contain %q", tc.sweep, err, tc.want)
		}
	}
	// Paths into lists and maps that exist are accepted and set.
	d := parse(t, `{"name": "x", "base": `+base+`, "grid": {"inputs.styles.0.path": ["a.png", "b.png"], "optimise.layer_weights.relu1_1": [0.5]}}`)
	pts, err := d.Expand("")
	if err != nil {
		t.Fatal(err)
	}
	if pts[1].Spec.Inputs.Styles[0].Path != "b.png" || pts[0].Spec.Optimise.LayerWeights["relu1_1"] != 0.5 {
		t.Fatalf("list/map paths not set: %+v %v", pts[1].Spec.Inputs.Styles, pts[0].Spec.Optimise.LayerWeights)
	}
	// A list index beyond the base spec's list, and a value the spec refuses, name the run.
	for _, tc := range []struct{ grid, want string }{
		{`{"inputs.styles.3.path": ["a.png"]}`, "no element 3"},
		{`{"optimise.loss": ["gram", "nosuch"]}`, "run 1 (optimise.loss=nosuch)"},
	} {
		d := parse(t, `{"name": "x", "base": `+base+`, "grid": `+tc.grid+`}`)
		if _, err := d.Expand(""); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want %q", tc.grid, err, tc.want)
		}
	}
}

func TestArraySpec(t *testing.T) {
	for _, tc := range []struct {
		ix   []int
		par  int
		want string
	}{{[]int{0, 1, 2, 3}, 2, "0-3%2"}, {[]int{3}, 0, "3"}, {[]int{9, 0, 1, 5, 7, 8}, 0, "0-1,5,7-9"}} {
		if got := ArraySpec(tc.ix, tc.par); got != tc.want {
			t.Errorf("ArraySpec(%v, %d) = %q, want %q", tc.ix, tc.par, got, tc.want)
		}
	}
}

// The sbatch script, run by bash as Slurm would run task 2 (with /bin/echo standing in for stylelab), passes
// exactly TaskArgs(2) and the Slurm tags, whatever characters the paths hold.
func TestSlurmScriptRuns(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "it's a dir")
	r := &Record{ID: "x-1", Name: "x", DB: "/db with space/s.db", Binary: "/bin/echo", Params: []string{"loss"}, Paths: []string{"optimise.loss"},
		Runs: make([]Entry, 4), dir: dir}
	for i := range r.Runs {
		r.Runs[i] = Entry{Index: i, Spec: filepath.Join("specs", "000"+string(rune('0'+i))+".json")}
	}
	script, err := r.SlurmScript([]int{0, 1, 2, 3}, SlurmOptions{Parallel: 2, Partition: "gpu"})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"#SBATCH --array=0-3%2\n", "#SBATCH --partition=gpu\n", "#SBATCH --job-name=stylelab-x-1\n"} {
		if !strings.Contains(script, want) {
			t.Fatalf("script lacks %q:\n%s", want, script)
		}
	}
	path := filepath.Join(t.TempDir(), "s.sh")
	os.WriteFile(path, []byte(script), 0o755)
	cmd := exec.Command("bash", path)
	cmd.Env = append(os.Environ(), "SLURM_ARRAY_TASK_ID=2", "SLURM_ARRAY_JOB_ID=77")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	want := strings.Join(append(r.TaskArgs(2), "--tag", "slurm.job_id=77", "--tag", "slurm.task_id=2"), " ")
	if strings.TrimSpace(string(out)) != want {
		t.Fatalf("task 2 ran\n%s\nwant\n%s", out, want)
	}
}

// Each run's own tags (Entry.Tags, a study's arm and unit) reach its task, under the local executor (TaskArgs)
// and in the sbatch script, quoted whatever they hold; a run without tags gets none of another's.
func TestEntryTagsReachTheTask(t *testing.T) {
	dir := t.TempDir()
	r := &Record{ID: "s-1", Name: "s", DB: "/db/s.db", Binary: "/bin/echo", dir: dir, Runs: []Entry{
		{Index: 0, Spec: "specs/0000.json", Tags: map[string]string{"study.unit": "a×b 'q'", "study.arm": "gram"}},
		{Index: 1, Spec: "specs/0001.json"},
	}}
	args := r.TaskArgs(0)
	want := append(r.sweepArgs(0), "--tag", "study.arm=gram", "--tag", "study.unit=a×b 'q'")
	if strings.Join(args, "|") != strings.Join(want, "|") {
		t.Fatalf("TaskArgs(0) = %q", args)
	}
	path := filepath.Join(dir, "s.sh")
	script, err := r.SlurmScript([]int{0, 1}, SlurmOptions{})
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(path, []byte(script), 0o755)
	for i, extra := range [][]string{{"--tag", "study.arm=gram", "--tag", "study.unit=a×b 'q'"}, nil} {
		cmd := exec.Command("bash", path)
		cmd.Env = append(os.Environ(), fmt.Sprintf("SLURM_ARRAY_TASK_ID=%d", i), "SLURM_ARRAY_JOB_ID=5")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%v: %s", err, out)
		}
		w := append(append(r.sweepArgs(i), "--tag", "slurm.job_id=5", "--tag", fmt.Sprintf("slurm.task_id=%d", i)), extra...)
		if strings.TrimSpace(string(out)) != strings.Join(w, " ") {
			t.Errorf("task %d ran\n%s\nwant\n%s", i, out, strings.Join(w, " "))
		}
	}
}

// Status against a real tracker: FINISHED wins, a run from before the latest submission is history, a run with
// no tracker run is QUEUED while the executor holds it and KILLED after.
func TestStatus(t *testing.T) {
	st, err := tracker.Open(filepath.Join(t.TempDir(), "t.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	r := &Record{ID: "s-1", Runs: []Entry{{Index: 0, Key: "k0"}, {Index: 1, Key: "k1"}, {Index: 2, Key: "k2"}, {Index: 3, Key: "k3"}, {Index: 4, Key: "k4"}}}
	start := func(i int, key string, end error, finish bool) {
		run, err := st.StartRun("e", "n", tracker.WithoutProvenance())
		if err != nil {
			t.Fatal(err)
		}
		if err := run.SetTags(map[string]string{TagID: r.ID, TagIndex: string(rune('0' + i)), "spec.key": key}); err != nil {
			t.Fatal(err)
		}
		if finish {
			if err := run.End(&end); err != nil {
				t.Fatal(err)
			}
		}
	}
	other, _ := st.StartRun("e", "other", tracker.WithoutProvenance()) // another sweep's run
	other.SetTags(map[string]string{TagID: "s-2", TagIndex: "0"})
	start(0, "k0", nil, true)           // FINISHED
	start(1, "k1", os.ErrInvalid, true) // FAILED, before the resubmission below
	r.Submissions = []Submission{{Executor: ExecutorSlurm, JobID: "5", Time: time.Now().Add(-time.Hour), Indices: []int{0, 1, 2, 3, 4}},
		{Executor: ExecutorSlurm, JobID: "6", Time: time.Now().Add(5 * time.Second), Indices: []int{1, 3}}}
	start(2, "k2", nil, false) // RUNNING
	start(3, "k3", os.ErrInvalid, true)
	held := map[int]bool{1: true}
	c, states, err := r.Status(st, func(s Submission, i int) string {
		if s.JobID == "6" && held[i] {
			return StateQueued
		}
		if s.JobID == "5" && i == 4 {
			return tracker.StatusRunning // started under Slurm, no tracker run yet
		}
		return ""
	})
	if err != nil {
		t.Fatal(err)
	}
	// 3's FAILED run started before submission 6 (5 s in the future), so it is history too; 3 is not held: KILLED.
	// 4 has no run but its Slurm task runs: RUNNING.
	got := []string{}
	for _, s := range states {
		got = append(got, s.State)
	}
	want := []string{"FINISHED", StateQueued, "RUNNING", "KILLED", "RUNNING"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("states %v, want %v", got, want)
	}
	if c != (Counts{Total: 5, Queued: 1, Running: 2, Finished: 1, Killed: 1}) || c.Done() {
		t.Fatalf("counts %+v", c)
	}
	if u := Unfinished(states); !slices.Equal(u, []int{1, 2, 3, 4}) {
		t.Fatalf("unfinished %v", u)
	}
	if states[1].SlurmJob != "6" || states[4].SlurmJob != "5" {
		t.Fatalf("slurm jobs %q %q", states[1].SlurmJob, states[4].SlurmJob)
	}
	// Without the resubmission, 1 and 3 read FAILED.
	r.Submissions = r.Submissions[:1]
	c, _, _ = r.Status(st, func(Submission, int) string { return "" })
	if c.Failed != 2 || c.Finished != 1 || c.Running != 1 || c.Killed != 1 {
		t.Fatalf("counts %+v", c)
	}
}

// A task that ran (its log was written after the submission) but never opened a tracker run reads FAILED with
// the log's last line; one without a log, or with a log from an older attempt, reads KILLED.
func TestStatusTaskFailedBeforeRun(t *testing.T) {
	st, err := tracker.Open(filepath.Join(t.TempDir(), "t.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "logs"), 0o755)
	sub := Submission{Executor: ExecutorSlurm, JobID: "12", Time: time.Now(), Indices: []int{0, 1, 2}}
	r := &Record{ID: "f-1", Runs: []Entry{{Index: 0}, {Index: 1}, {Index: 2}}, Submissions: []Submission{sub}, dir: dir}
	os.WriteFile(r.TaskLog(sub, 0), []byte("step\nstylelab run: content image: open /data/c.png: no such file or directory\n"), 0o644)
	old := r.TaskLog(sub, 2)
	os.WriteFile(old, []byte("from an earlier attempt\n"), 0o644)
	os.Chtimes(old, time.Now().Add(-time.Hour), time.Now().Add(-time.Hour))
	c, states, err := r.Status(st, func(Submission, int) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	if c.Failed != 1 || c.Killed != 2 || states[0].State != "FAILED" || !strings.Contains(states[0].Error, "no such file") ||
		!strings.Contains(states[0].Error, "slurm-12_0.out") || states[0].SlurmJob != "12" {
		t.Fatalf("counts %+v, run 0 %+v", c, states[0])
	}
}

// startSleeper starts `sleep 60` in its own process group (as a supervisor is) and returns it with a channel
// closed when it has ended.
func startSleeper(t *testing.T) (*exec.Cmd, chan struct{}) {
	t.Helper()
	cmd := exec.Command("sleep", "60")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(func() { cmd.Process.Kill(); <-done })
	return cmd, done
}

func alive(done chan struct{}) bool {
	select {
	case <-done:
		return false
	case <-time.After(300 * time.Millisecond):
		return true
	}
}

// A local supervisor is signalled only when its recorded identity (host, boot id, start time) is that of the
// process now at its pid (issue 21, item 2): a record whose pid now belongs to an unrelated process (a sleep
// started at another time), one from another host, and one without identity leave that process alone, and
// status counts the first as ended; the matching record gets it SIGTERM.
func TestCancelLocalChecksIdentity(t *testing.T) {
	sleeper, done := startSleeper(t)
	pid := sleeper.Process.Pid
	_, start, err := procStat(pid)
	if err != nil {
		t.Fatal(err)
	}
	host, boot := hostname(), bootID()
	if host == "" || boot == "" {
		t.Fatalf("host %q, boot id %q: this test needs both", host, boot)
	}
	rec := func(s Submission) *Record {
		s.Executor, s.PID, s.Indices = ExecutorLocal, pid, []int{0}
		return &Record{ID: "id-1", Runs: []Entry{{Index: 0}}, Submissions: []Submission{s}}
	}
	for _, tc := range []struct {
		name     string
		sub      Submission
		live     Liveness
		queued   bool
		wantErr  string // "" = no error
		wantNote string
	}{
		{"pid reused", Submission{Host: host, BootID: boot, StartTicks: start - 1}, WorkerReplaced, false, "", "is now another process"},
		{"earlier boot", Submission{Host: host, BootID: "00000000-0000-0000-0000-000000000000", StartTicks: start}, WorkerReplaced, false, "", "earlier boot"},
		{"other host", Submission{Host: host + "-elsewhere", BootID: boot, StartTicks: start}, WorkerElsewhere, true, "sweep cancel id-1` on " + host + "-elsewhere", ""},
		{"no identity", Submission{}, WorkerUnconfirmed, true, "kill -TERM " + strconv.Itoa(pid), ""},
	} {
		r := rec(tc.sub)
		if live, why := r.Submissions[0].Check(); live != tc.live {
			t.Errorf("%s: Check = %v (%s), want %v", tc.name, live, why, tc.live)
		}
		n, notes, err := r.CancelLocal()
		if n != 0 || (tc.wantErr == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.wantErr)) ||
			(tc.wantNote != "" && (len(notes) != 1 || !strings.Contains(notes[0], tc.wantNote))) {
			t.Errorf("%s: CancelLocal = %d, %q, %v; want 0 signalled, error containing %q, note containing %q", tc.name, n, notes, err, tc.wantErr, tc.wantNote)
		}
		if !alive(done) {
			t.Fatalf("%s: the unrelated process was signalled", tc.name)
		}
		active, err := r.ActiveNow()
		if err != nil {
			t.Fatal(err)
		}
		if got := active(r.Submissions[0], 0) == StateQueued; got != tc.queued {
			t.Errorf("%s: status counts the worker as holding its runs: %v, want %v", tc.name, got, tc.queued)
		}
	}
	// The record of this very process: signalled.
	r := rec(Submission{Host: host, BootID: boot, StartTicks: start})
	if live, why := r.Submissions[0].Check(); live != WorkerAlive {
		t.Fatalf("matching identity: %v (%s)", live, why)
	}
	if n, notes, err := r.CancelLocal(); n != 1 || err != nil || len(notes) != 0 {
		t.Fatalf("matching identity: CancelLocal = %d, %q, %v", n, notes, err)
	}
	if alive(done) {
		t.Fatal("the recorded process was not signalled")
	}
	if ws := sleeper.ProcessState.Sys().(syscall.WaitStatus); !ws.Signaled() || ws.Signal() != syscall.SIGTERM {
		t.Fatalf("sleep ended %v, want by SIGTERM", sleeper.ProcessState)
	}
	if live, _ := r.Submissions[0].Check(); live != WorkerEnded {
		t.Fatalf("after it ended: %v", live)
	}
}

// procStat reads field 22 even when the command name holds spaces and parentheses.
func TestProcStatOddName(t *testing.T) {
	dir := t.TempDir()
	old := procDir
	procDir = dir
	defer func() { procDir = old }()
	os.MkdirAll(filepath.Join(dir, "42"), 0o755)
	fields := "S 1 42 42 0 -1 4194560 100 0 0 0 0 0 0 0 20 0 1 0 987654 1000 10"
	os.WriteFile(filepath.Join(dir, "42", "stat"), []byte("42 (a) b (c) "+fields+"\n"), 0o644)
	state, start, err := procStat(42)
	if err != nil || state != "S" || start != 987654 {
		t.Fatalf("procStat = %q, %d, %v; want S, 987654", state, start, err)
	}
}

// The run cap holds whatever the product (issue 21, item 7): 4 × random.count 2^62 is 2^64 runs, which an int64
// product wrapped to 0 (and then expanded until memory ran out); a 1000³ grid is refused with its true count.
func TestRunCapExactCount(t *testing.T) {
	d := parse(t, `{"name": "x", "base": `+base+`, "grid": {"seed": [1, 2, 3, 4]}, "random": {"seed": 1, "count": 4611686018427387904, "choices": {"optimise.loss": ["gram"]}}}`)
	if got := fmt.Sprint(d.Count()); got != "18446744073709551616" {
		t.Fatalf("Count = %s, want 2^64 = 18446744073709551616", got) // checked before Expand, which would exhaust memory
	}
	if _, err := d.Expand(""); err == nil || !strings.Contains(err.Error(), "18446744073709551616 runs (4 × random.count 4611686018427387904) is more than 10000") {
		t.Fatalf("2^64 runs: %v", err)
	}
	vals := make([]string, 1000)
	for i := range vals {
		vals[i] = strconv.Itoa(i)
	}
	l := "[" + strings.Join(vals, ",") + "]"
	d = parse(t, `{"name": "x", "base": `+base+`, "grid": {"seed": `+l+`, "optimise.steps": `+l+`, "optimise.size": `+l+`}}`)
	if got := fmt.Sprint(d.Count()); got != "1000000000" {
		t.Fatalf("Count = %s, want 10^9", got)
	}
	if _, err := d.Expand(""); err == nil || !strings.Contains(err.Error(), "1000000000 runs (1000 × 1000 × 1000)") {
		t.Fatalf("10^9 runs: %v", err)
	}
	// Exactly the cap is allowed (the refusal is for more).
	d = parse(t, `{"name": "x", "base": `+base+`, "grid": {"seed": [1, 2]}, "random": {"seed": 1, "count": 5000, "choices": {"optimise.loss": ["gram", "meanvar"]}}}`)
	if n := d.Count(); n.Int64() != MaxRuns {
		t.Fatalf("Count = %s", n)
	}
	d.Random.Count = 5001
	if _, err := d.Expand(""); err == nil || !strings.Contains(err.Error(), "10002 runs (2 × random.count 5001) is more than 10000") {
		t.Fatalf("10002 runs: %v", err)
	}
}

// A key given twice in a sweep file, in its grid or its base spec, is refused, named, with the file's name
// (issue 21, item 14).
func TestSweepDuplicateKeysRefused(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct{ doc, key string }{
		{`{"name": "x", "base": ` + base + `, "grid": {"optimise.loss": ["gram"], "seed": [1], "optimise.loss": ["meanvar"]}}`, "grid.optimise.loss"},
		{`{"name": "x", "base": {"version": 1, "kind": "optimise", "optimise": {"steps": 100, "steps": 3}}, "grid": {"seed": [1]}}`, "base.optimise.steps"},
		{`{"name": "x", "name": "y", "base": ` + base + `, "grid": {"seed": [1]}}`, "name"},
	} {
		p := filepath.Join(dir, "s.json")
		os.WriteFile(p, []byte(tc.doc), 0o644)
		_, err := Load(p)
		if err == nil || !strings.Contains(err.Error(), `key "`+tc.key+`" appears twice`) || !strings.Contains(err.Error(), p) {
			t.Errorf("%s: %v, want the duplicate %q and the file named", tc.doc, err, tc.key)
		}
	}
}

// Values written into lines of the sbatch script are refused when they hold a control character (issue 21,
// item 17: a newline in --partition added a directive), and a partition with white space is refused.
func TestSlurmScriptRefusesLineBreaks(t *testing.T) {
	good := func() *Record {
		return &Record{ID: "x-1", Name: "x", DB: "/db", Binary: "/bin/echo", Runs: []Entry{{Index: 0, Spec: "specs/0000.json"}}, dir: t.TempDir()}
	}
	for _, tc := range []struct {
		name string
		edit func(*Record, *SlurmOptions)
		want string
	}{
		{"partition newline", func(_ *Record, o *SlurmOptions) { o.Partition = "main\n#SBATCH --uid=0" }, `--partition "main\n#SBATCH --uid=0" holds the control character U+000A`},
		{"partition CR", func(_ *Record, o *SlurmOptions) { o.Partition = "main\r" }, "U+000D"},
		{"partition space", func(_ *Record, o *SlurmOptions) { o.Partition = "main --uid=0" }, "white space"},
		{"extra option", func(_ *Record, o *SlurmOptions) { o.Extra = []string{"--mem=1G\n--uid=0"} }, "sbatch option"},
		{"name", func(r *Record, _ *SlurmOptions) { r.Name = "x\n#SBATCH --uid=0" }, "sweep name"},
		{"folder", func(r *Record, _ *SlurmOptions) { r.dir += "/a\nb" }, "sweep folder"},
	} {
		r, o := good(), SlurmOptions{}
		tc.edit(r, &o)
		if s, err := r.SlurmScript([]int{0}, o); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q; script:\n%s", tc.name, err, tc.want, s)
		}
		if _, err := r.SubmitSlurm([]int{0}, o); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: SubmitSlurm: %v", tc.name, err)
		}
	}
	if _, err := good().SlurmScript([]int{0}, SlurmOptions{Partition: "gpu,cpu", Extra: []string{"--mem=1G"}}); err != nil {
		t.Fatal(err)
	}
}

// fakeSbatch puts an sbatch on PATH that notes each call in the returned file and answers job id 123.
func fakeSbatch(t *testing.T) string {
	t.Helper()
	bin := t.TempDir()
	calls := filepath.Join(bin, "calls")
	if err := os.WriteFile(filepath.Join(bin, "sbatch"), []byte("#!/bin/sh\necho \"$@\" >> '"+calls+"'\necho 123\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	return calls
}

// Without a Slurm configuration (SLURM_CONF naming a missing file or a folder, or unset with no slurm.conf in
// the standard places) the submission is refused before sbatch runs, naming what to set ("Slurm without a
// configuration", issue 21); with one, sbatch is run.
func TestSubmitSlurmNeedsConfig(t *testing.T) {
	calls := fakeSbatch(t)
	dir := t.TempDir()
	oldPaths := slurmConfPaths
	defer func() { slurmConfPaths = oldPaths }()
	slurmConfPaths = []string{filepath.Join(dir, "etc-slurm.conf"), filepath.Join(dir, "run-slurm.conf")}
	rec := func() *Record {
		d := t.TempDir()
		return &Record{ID: "x-1", Name: "x", DB: "/db", Binary: "/bin/echo", Runs: []Entry{{Index: 0, Spec: "specs/0000.json"}}, dir: d}
	}
	for _, conf := range []string{filepath.Join(dir, "missing.conf"), dir, ""} {
		t.Setenv("SLURM_CONF", conf)
		if conf == "" {
			os.Unsetenv("SLURM_CONF")
		}
		_, err := rec().SubmitSlurm([]int{0}, SlurmOptions{})
		if err == nil || !strings.Contains(err.Error(), "SLURM_CONF") || !strings.Contains(err.Error(), "scripts/local-cluster.sh up") ||
			!strings.Contains(err.Error(), slurmConfPaths[0]) {
			t.Errorf("SLURM_CONF=%q: %v", conf, err)
		}
		if _, err := os.Stat(calls); err == nil {
			t.Fatalf("SLURM_CONF=%q: sbatch was run without a configuration", conf)
		}
	}
	// A configuration in the standard place (no SLURM_CONF), then one named by SLURM_CONF: sbatch runs.
	os.WriteFile(slurmConfPaths[1], []byte("ClusterName=x\n"), 0o644)
	if id, err := rec().SubmitSlurm([]int{0}, SlurmOptions{}); err != nil || id != "123" {
		t.Fatalf("with %s: %q, %v", slurmConfPaths[1], id, err)
	}
	t.Setenv("SLURM_CONF", slurmConfPaths[1])
	if id, err := rec().SubmitSlurm([]int{0}, SlurmOptions{}); err != nil || id != "123" {
		t.Fatalf("with SLURM_CONF: %q, %v", id, err)
	}
	if b, _ := os.ReadFile(calls); strings.Count(string(b), "--parsable") != 2 {
		t.Fatalf("sbatch calls: %q", b)
	}
}
