package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/stylelab/stylelab/jobs/sweep"
	"github.com/stylelab/stylelab/tracker"
)

func init() {
	register(&command{name: "sweep", summary: "expand a parameter sweep into specs and run them locally or as a Slurm job array; status, resume, cancel", run: runSweep})
}

const sweepUsage = `usage: stylelab sweep SWEEP.json [--executor local|slurm] [--wait] [--dry-run] [flags]
       stylelab sweep status ID [--json]
       stylelab sweep resume ID [--wait]
       stylelab sweep cancel ID [--task N]
       stylelab sweep list

A sweep file is a base spec plus a grid and/or seeded random choices over dotted spec paths (docs/spec.md):
  {"name": "losses", "base": {…a spec…}, "grid": {"optimise.loss": ["gram", "meanvar"], "optimise.style_weight": [1, 5]}}
Every run is an ordinary 'stylelab run --spec' recorded in the tracker with the tags sweep.id and sweep.index
(and slurm.job_id, slurm.task_id under Slurm). The sweep returns once its runs are submitted; --wait follows them.`

// sweepCommon are the flags every sweep sub-command shares.
type sweepCommon struct {
	db, dir *string
}

func sweepFlags(name string) (*flag.FlagSet, *sweepCommon) {
	fs := newFlags("sweep " + name)
	c := &sweepCommon{
		db:  fs.String("db", tracker.DefaultPath(), "tracker database the runs are recorded in (default $STYLELAB_DB, else ./runs/stylelab.db); on a cluster, one every node reaches"),
		dir: fs.String("dir", "", "folder of sweep records and specs (default $STYLELAB_SWEEPS, else sweeps/ beside the database); on a cluster, a shared filesystem"),
	}
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), sweepUsage+"\n\nflags:")
		fs.PrintDefaults()
	}
	return fs, c
}

// dbArg is the database as the tasks must be told it: an absolute path, or a URL as given.
func (c *sweepCommon) dbArg() (string, error) {
	if strings.Contains(*c.db, "://") {
		return *c.db, nil
	}
	return filepath.Abs(*c.db)
}

func (c *sweepCommon) root() (string, error) {
	if *c.dir != "" {
		return filepath.Abs(*c.dir)
	}
	if d := os.Getenv("STYLELAB_SWEEPS"); d != "" {
		return filepath.Abs(d)
	}
	if strings.Contains(*c.db, "://") {
		return filepath.Abs(filepath.Join("runs", "sweeps"))
	}
	db, err := filepath.Abs(*c.db)
	if err != nil {
		return "", err
	}
	return filepath.Join(filepath.Dir(db), "sweeps"), nil
}

func runSweep(args []string) error {
	if len(args) > 0 {
		switch args[0] {
		case "status":
			return sweepStatus(args[1:], os.Stdout)
		case "resume":
			return sweepResume(args[1:], os.Stdout, os.Stderr)
		case "cancel":
			return sweepCancel(args[1:], os.Stdout)
		case "list":
			return sweepList(args[1:], os.Stdout)
		case "work":
			return sweepWork(args[1:])
		}
	}
	return sweepStart(args, os.Stdout, os.Stderr)
}

// executorFlags are the flags that choose and shape an executor.
type executorFlags struct {
	executor, partition, binary *string
	workers, parallel           *int
	wait                        *bool
}

func addExecutorFlags(fs *flag.FlagSet, withExecutor bool) *executorFlags {
	e := &executorFlags{
		workers:   fs.Int("workers", runtime.NumCPU(), "local executor: concurrent run processes"),
		parallel:  fs.Int("parallel", 0, "slurm executor: at most this many array tasks at once (--array=0-K%P; 0: no limit)"),
		partition: fs.String("partition", "", "slurm executor: partition (default: the cluster's default)"),
		wait:      fs.Bool("wait", false, "block until every run has ended, showing progress; exit 1 if any failed or was killed"),
	}
	if withExecutor {
		e.executor = fs.String("executor", sweep.ExecutorLocal, "where the runs execute: local (worker processes here) | slurm (one sbatch job array)")
		e.binary = fs.String("binary", "", "the stylelab executable the tasks run (default: this one; under Slurm it must be reachable from every node)")
	}
	return e
}

// check refuses executor flags out of range, and values that cannot go into an sbatch script (usage errors).
func (e *executorFlags) check() error {
	if *e.workers < 1 || *e.parallel < 0 {
		return usagef("--workers must be at least 1 and --parallel at least 0 (got %d, %d)", *e.workers, *e.parallel)
	}
	if err := (sweep.SlurmOptions{Partition: *e.partition}).Check(); err != nil {
		return usagef("%v", err)
	}
	return nil
}

func sweepStart(args []string, stdout, stderr io.Writer) error {
	fs, c := sweepFlags("")
	e := addExecutorFlags(fs, true)
	dry := fs.Bool("dry-run", false, "print the expanded specs (and, for slurm, the sbatch script) and submit nothing")
	asJSON := fs.Bool("json", false, "print the sweep id and its runs as JSON")
	pos, err := runsParseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("sweep takes one sweep file (got %d arguments): stylelab sweep SWEEP.json [flags]", len(pos))
	}
	if *e.executor != sweep.ExecutorLocal && *e.executor != sweep.ExecutorSlurm {
		return usagef("--executor must be local or slurm (got %q)", *e.executor)
	}
	if err := e.check(); err != nil {
		return err
	}
	def, err := sweep.Load(pos[0])
	if err != nil {
		return err
	}
	points, err := def.Expand(sweep.AbsDir(pos[0]))
	if err != nil {
		return err
	}
	db, err := c.dbArg()
	if err != nil {
		return err
	}
	root, err := c.root()
	if err != nil {
		return err
	}
	bin := *e.binary
	if bin == "" {
		if bin, err = os.Executable(); err != nil {
			return fmt.Errorf("finding this executable: %w (pass --binary)", err)
		}
	}
	plan := sweep.Create
	if *dry {
		plan = sweep.Plan
	}
	rec, err := plan(root, def, points, db, bin, *e.executor)
	if err != nil {
		return err
	}
	all := make([]int, len(rec.Runs))
	for i := range all {
		all[i] = i
	}
	if *dry {
		for _, p := range points {
			fmt.Fprintf(stdout, "# run %d: %s (spec key %s)\n", p.Index, p.Describe(), rec.Runs[p.Index].Key)
			stdout.Write(p.Spec.JSON())
		}
		if *e.executor == sweep.ExecutorSlurm {
			fmt.Fprintf(stdout, "# sbatch script (the sweep folder would be %s)\n", rec.Dir())
			script, err := rec.SlurmScript(all, sweep.SlurmOptions{Parallel: *e.parallel, Partition: *e.partition})
			if err != nil {
				return err
			}
			fmt.Fprint(stdout, script)
		} else {
			fmt.Fprintf(stdout, "# local executor: %d runs, %d at a time, each: %s %s\n", len(all), *e.workers, bin, strings.Join(rec.TaskArgs(0), " "))
		}
		return nil
	}
	var subOut strings.Builder
	if err := submit(rec, root, all, e, &subOut); err != nil {
		os.RemoveAll(rec.Dir()) // nothing was submitted: leave no half-made sweep behind
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rec); err != nil {
			return err
		}
	} else {
		fmt.Fprintf(stdout, "sweep %s: %d runs over %s submitted (%s); stylelab sweep status %s\n", rec.ID, len(all),
			strings.Join(rec.Paths, ", "), *e.executor, rec.ID)
		fmt.Fprint(stdout, subOut.String())
	}
	if *e.wait {
		return waitSweep(rec, db, stderr)
	}
	return nil
}

// submit hands indices of rec to its executor.
func submit(rec *sweep.Record, root string, indices []int, e *executorFlags, stdout io.Writer) error {
	switch rec.Executor {
	case sweep.ExecutorSlurm:
		id, err := rec.SubmitSlurm(indices, sweep.SlurmOptions{Parallel: *e.parallel, Partition: *e.partition})
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "submitted Slurm job array %s (%d tasks)\n", id, len(indices))
		return nil
	default:
		return rec.StartLocal(root, indices, *e.workers)
	}
}

// sweepState reads the current counts: stale RUNNING runs are marked KILLED first (ReapStale).
func sweepState(rec *sweep.Record, st *tracker.Store) (sweep.Counts, []sweep.RunState, error) {
	if !st.ReadOnly() {
		if _, err := st.ReapStale(); err != nil {
			return sweep.Counts{}, nil, err
		}
	}
	active, err := rec.ActiveNow()
	if err != nil {
		return sweep.Counts{}, nil, err
	}
	return rec.Status(st, active)
}

// waitSweep polls the tracker until no run is queued or running, printing the counts when they change.
func waitSweep(rec *sweep.Record, db string, stderr io.Writer) error {
	st, err := tracker.Open(db)
	if err != nil {
		return err
	}
	defer st.Close()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	last := ""
	for {
		c, states, err := sweepState(rec, st)
		if err != nil {
			return err
		}
		if s := c.String(); s != last {
			fmt.Fprintf(stderr, "%s sweep %s: %s\n", time.Now().Format("15:04:05"), rec.ID, s)
			last = s
		}
		if c.Done() {
			if c.Failed+c.Killed > 0 {
				var bad []string
				for _, s := range states {
					if s.State != tracker.StatusFinished {
						bad = append(bad, fmt.Sprintf("run %d %s %s", s.Index, s.State, s.Error))
					}
				}
				return fmt.Errorf("sweep %s: %d failed, %d killed (%s); stylelab sweep resume %s reruns them", rec.ID, c.Failed, c.Killed, strings.Join(bad, "; "), rec.ID)
			}
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("stopped waiting (the sweep goes on; stylelab sweep status %s)", rec.ID)
		case <-time.After(time.Second):
		}
	}
}

func openSweep(c *sweepCommon, pos []string, cmd string) (*sweep.Record, error) {
	if len(pos) != 1 {
		return nil, usagef("sweep %s takes one sweep id (got %d arguments)", cmd, len(pos))
	}
	root, err := c.root()
	if err != nil {
		return nil, err
	}
	return sweep.Open(root, pos[0])
}

func sweepStatus(args []string, stdout io.Writer) error {
	fs, c := sweepFlags("status")
	asJSON := fs.Bool("json", false, "print the counts and every run's state as one JSON object")
	pos, err := runsParseArgs(fs, args)
	if err != nil {
		return err
	}
	rec, err := openSweep(c, pos, "status")
	if err != nil {
		return err
	}
	st, err := tracker.Open(rec.DB)
	if err != nil {
		return err
	}
	defer st.Close()
	counts, states, err := sweepState(rec, st)
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(map[string]any{"id": rec.ID, "name": rec.Name, "executor": rec.Executor, "params": rec.Params,
			"paths": rec.Paths, "counts": counts, "runs": states})
	}
	fmt.Fprintf(stdout, "sweep %s (%s, %s executor): %s\n", rec.ID, rec.Name, rec.Executor, counts)
	for _, s := range states {
		line := fmt.Sprintf("  %3d  %-8s  %s", s.Index, s.State, describeValues(rec.Runs[s.Index].Values))
		if s.RunID != "" {
			line += "  run " + s.RunID[:8]
		}
		if s.SlurmJob != "" {
			line += "  slurm " + s.SlurmJob + "_" + strconv.Itoa(s.Index)
		}
		if s.Error != "" {
			line += "  (" + s.Error + ")"
		}
		fmt.Fprintln(stdout, line)
	}
	return nil
}

func describeValues(v map[string]any) string {
	return sweep.Point{Values: v}.Describe()
}

func sweepResume(args []string, stdout, stderr io.Writer) error {
	fs, c := sweepFlags("resume")
	e := addExecutorFlags(fs, false)
	pos, err := runsParseArgs(fs, args)
	if err != nil {
		return err
	}
	if err := e.check(); err != nil {
		return err
	}
	rec, err := openSweep(c, pos, "resume")
	if err != nil {
		return err
	}
	st, err := tracker.Open(rec.DB)
	if err != nil {
		return err
	}
	counts, states, err := sweepState(rec, st)
	st.Close()
	if err != nil {
		return err
	}
	if counts.Queued+counts.Running > 0 {
		return fmt.Errorf("sweep %s still has %d queued and %d running runs: wait for them (stylelab sweep status %s) or cancel them first", rec.ID, counts.Queued, counts.Running, rec.ID)
	}
	todo := sweep.Unfinished(states)
	if len(todo) == 0 {
		fmt.Fprintf(stdout, "sweep %s: all %d runs FINISHED, nothing to resume\n", rec.ID, counts.Total)
		return nil
	}
	root, err := c.root()
	if err != nil {
		return err
	}
	if err := submit(rec, root, todo, e, stdout); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "sweep %s: resumed %d of %d runs (%s)\n", rec.ID, len(todo), counts.Total, sweep.ArraySpec(todo, 0))
	if *e.wait {
		return waitSweep(rec, rec.DB, stderr)
	}
	return nil
}

func sweepCancel(args []string, stdout io.Writer) error {
	fs, c := sweepFlags("cancel")
	task := fs.Int("task", -1, "cancel only this run index (Slurm: scancel JOB_INDEX); default: the whole sweep")
	pos, err := runsParseArgs(fs, args)
	if err != nil {
		return err
	}
	taskSet := false
	fs.Visit(func(f *flag.Flag) { taskSet = taskSet || f.Name == "task" })
	rec, err := openSweep(c, pos, "cancel")
	if err != nil {
		return err
	}
	if taskSet && (*task < 0 || *task >= len(rec.Runs)) {
		return usagef("--task %d: the sweep has runs 0..%d (leave --task out to cancel the whole sweep)", *task, len(rec.Runs)-1)
	}
	var n int
	if rec.Executor == sweep.ExecutorSlurm {
		n, err = rec.CancelSlurm(*task)
	} else {
		if *task >= 0 {
			return usagef("--task works with the slurm executor only; a local sweep is cancelled whole")
		}
		var notes []string
		n, notes, err = rec.CancelLocal()
		for _, m := range notes {
			fmt.Fprintf(stdout, "sweep %s: %s\n", rec.ID, m)
		}
	}
	if err != nil {
		if n > 0 {
			fmt.Fprintf(stdout, "sweep %s: cancelled %d local worker(s)\n", rec.ID, n)
		}
		return err
	}
	fmt.Fprintf(stdout, "sweep %s: cancelled %d %s (stylelab sweep resume %s reruns what did not finish)\n", rec.ID, n,
		map[bool]string{true: "Slurm job(s)/task(s)", false: "local worker(s)"}[rec.Executor == sweep.ExecutorSlurm], rec.ID)
	return nil
}

func sweepList(args []string, stdout io.Writer) error {
	fs, c := sweepFlags("list")
	pos, err := runsParseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("sweep list takes no arguments")
	}
	root, err := c.root()
	if err != nil {
		return err
	}
	recs, err := sweep.List(root)
	if err != nil {
		return err
	}
	for _, r := range recs {
		fmt.Fprintf(stdout, "%s  %s  %-5s  %3d runs  %s\n", r.ID, r.Created.Format(time.RFC3339), r.Executor, len(r.Runs), strings.Join(r.Paths, ","))
	}
	return nil
}

// sweepWork is the detached local supervisor StartLocal starts: it runs the given indices with --workers
// processes; SIGTERM (sweep cancel) stops them (their runs end KILLED).
func sweepWork(args []string) error {
	fs, c := sweepFlags("work")
	workers := fs.Int("workers", runtime.NumCPU(), "concurrent run processes")
	pos, err := runsParseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) < 2 {
		return usagef("sweep work ID INDEX… (internal: started by sweep --executor local)")
	}
	rec, err := openSweep(c, pos[:1], "work")
	if err != nil {
		return err
	}
	var idx []int
	for _, s := range pos[1:] {
		i, err := strconv.Atoi(s)
		if err != nil || i < 0 || i >= len(rec.Runs) {
			return usagef("sweep work: %q is not a run index of %s", s, rec.ID)
		}
		idx = append(idx, i)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err = rec.RunLocal(ctx, idx, *workers, os.Stderr)
	if errors.Is(err, context.Canceled) {
		return fmt.Errorf("cancelled")
	}
	return err
}
