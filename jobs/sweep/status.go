package sweep

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/stylelab/stylelab/tracker"
)

// States of a sweep's run in Status, besides the tracker's RUNNING, FINISHED, FAILED and KILLED.
const (
	StateQueued = "QUEUED" // handed to the executor, not started yet
)

// Counts of a sweep's runs by state. Total = Queued + Running + Finished + Failed + Killed.
type Counts struct {
	Total    int `json:"total"`
	Queued   int `json:"queued"`
	Running  int `json:"running"`
	Finished int `json:"finished"`
	Failed   int `json:"failed"`
	Killed   int `json:"killed"`
}

// Done reports whether no run is queued or running.
func (c Counts) Done() bool { return c.Queued == 0 && c.Running == 0 }

func (c Counts) String() string {
	return fmt.Sprintf("%d/%d finished, %d running, %d queued, %d failed, %d killed", c.Finished, c.Total, c.Running, c.Queued, c.Failed, c.Killed)
}

// RunState is the state of one expanded run.
type RunState struct {
	Index     int    `json:"index"`
	State     string `json:"state"`            // QUEUED RUNNING FINISHED FAILED KILLED
	RunID     string `json:"run_id,omitempty"` // the tracker run deciding the state
	SlurmJob  string `json:"slurm_job_id,omitempty"`
	SlurmTask string `json:"slurm_task_id,omitempty"`
	Error     string `json:"error,omitempty"`
	Key       string `json:"key"`
}

// Active says whether the executor still holds run i of submission s: "" when not, StateQueued when it waits
// (a pending Slurm task, a live local supervisor), tracker.StatusRunning when it has started but has not yet
// opened its tracker run (a running Slurm task).
type Active func(s Submission, index int) string

// Status works out the state of every run from the tracker. A run's state is FINISHED if any run tagged with
// its index finished; otherwise that of its latest run started at or after the latest submission holding it.
// Without such a run it is QUEUED while the executor still holds it (active), else KILLED (cancelled or lost
// before it started). Call tracker's ReapStale first so that runs whose process died read KILLED.
func (r *Record) Status(st Searcher, active Active) (Counts, []RunState, error) {
	runs, err := r.TrackerRuns(st)
	if err != nil {
		return Counts{}, nil, err
	}
	byIndex := map[int][]tracker.RunInfo{}
	for _, ri := range runs {
		i, err := strconv.Atoi(ri.Tags[TagIndex])
		if err != nil || i < 0 || i >= len(r.Runs) {
			continue
		}
		byIndex[i] = append(byIndex[i], ri)
	}
	var c Counts
	states := make([]RunState, len(r.Runs))
	for i, e := range r.Runs {
		s := RunState{Index: i, Key: e.Key}
		var sub *Submission
		for j := len(r.Submissions) - 1; j >= 0; j-- {
			if slices.Contains(r.Submissions[j].Indices, i) {
				sub = &r.Submissions[j]
				break
			}
		}
		var pick *tracker.RunInfo
		for k := range byIndex[i] {
			ri := &byIndex[i][k]
			if ri.Status == tracker.StatusFinished && ri.Tags["spec.key"] == e.Key {
				pick = ri
				break
			}
			// Runs from before the latest submission are history (they have been resubmitted); allow clock skew.
			if sub == nil || !ri.Start.Before(sub.Time.Add(-2*time.Second)) {
				pick = ri
			}
		}
		switch {
		case pick != nil:
			s.State, s.RunID, s.Error = pick.Status, pick.ID, pick.Error
			s.SlurmJob, s.SlurmTask = pick.Tags[TagSlurmJob], pick.Tags[TagSlurmTask]
		case sub != nil && active != nil && active(*sub, i) != "":
			s.State, s.SlurmJob = active(*sub, i), sub.JobID
			if sub.Executor == ExecutorLocal {
				if live, why := sub.Check(); live == WorkerElsewhere || live == WorkerUnconfirmed {
					s.Error = "counted as queued, unchecked: " + why
				}
			}
		default:
			s.State, s.SlurmJob = tracker.StatusKilled, ""
			s.Error = "never started: cancelled or lost before it ran"
			if sub != nil {
				s.SlurmJob = sub.JobID
				if msg, path := r.taskFailure(*sub, i); path != "" && !strings.Contains(msg, "CANCELLED") { // slurmstepd's line for scancel
					s.State, s.Error = tracker.StatusFailed, fmt.Sprintf("failed before it recorded a run: %s (log %s)", msg, path)
				}
			}
		}
		switch s.State {
		case StateQueued:
			c.Queued++
		case tracker.StatusRunning:
			c.Running++
		case tracker.StatusFinished:
			c.Finished++
		case tracker.StatusFailed:
			c.Failed++
		default:
			c.Killed++
		}
		states[i] = s
	}
	c.Total = len(r.Runs)
	return c, states, nil
}

// TaskLog is the output file of run i's task in submission s (logs/slurm-JOB_I.out or logs/local-NNNN.out).
func (r *Record) TaskLog(s Submission, i int) string {
	if s.Executor == ExecutorSlurm {
		return filepath.Join(r.dir, "logs", fmt.Sprintf("slurm-%s_%d.out", s.JobID, i))
	}
	return filepath.Join(r.dir, "logs", fmt.Sprintf("local-%04d.out", i))
}

// taskFailure finds a task that ran for submission s (its log was written since) but never opened a tracker run
// (bad input on the node, the binary missing there): the log's last line and its path, or "" when none.
func (r *Record) taskFailure(s Submission, i int) (string, string) {
	path := r.TaskLog(s, i)
	fi, err := os.Stat(path)
	if err != nil || fi.Size() == 0 || fi.ModTime().Before(s.Time.Add(-2*time.Second)) {
		return "", ""
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error(), path
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	return strings.TrimSpace(lines[len(lines)-1]), path
}

// Unfinished returns the indices whose state is not FINISHED (what resume runs again).
func Unfinished(states []RunState) []int {
	var out []int
	for _, s := range states {
		if s.State != tracker.StatusFinished {
			out = append(out, s.Index)
		}
	}
	return out
}
