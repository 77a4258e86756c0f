package sweep

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/stylelab/stylelab/tracker"
)

// SlurmOptions shape the job array.
type SlurmOptions struct {
	Parallel  int    // at most this many tasks at once (%P); 0: no limit
	Partition string // "" = the cluster's default
	CPUs      int    // --cpus-per-task (default 1)
	Extra     []string
}

// ArraySpec writes indices as Slurm's --array list, runs of consecutive indices as ranges ("0-3,7,9-10"), and
// "%P" when parallel > 0.
func ArraySpec(indices []int, parallel int) string {
	ix := slices.Clone(indices)
	slices.Sort(ix)
	var parts []string
	for k := 0; k < len(ix); {
		j := k
		for j+1 < len(ix) && ix[j+1] == ix[j]+1 {
			j++
		}
		if j == k {
			parts = append(parts, strconv.Itoa(ix[k]))
		} else {
			parts = append(parts, fmt.Sprintf("%d-%d", ix[k], ix[j]))
		}
		k = j + 1
	}
	s := strings.Join(parts, ",")
	if parallel > 0 {
		s += fmt.Sprintf("%%%d", parallel)
	}
	return s
}

// shellQuote quotes s for bash in single quotes.
func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// SlurmScript is the sbatch script running the indices as one job array: task $SLURM_ARRAY_TASK_ID runs
// specs/NNNN.json with TaskArgs and the tags slurm.job_id=$SLURM_ARRAY_JOB_ID, slurm.task_id=$SLURM_ARRAY_TASK_ID.
func (r *Record) SlurmScript(indices []int, o SlurmOptions) string {
	cpus := o.CPUs
	if cpus < 1 {
		cpus = 1
	}
	var b strings.Builder
	fmt.Fprintf(&b, "#!/bin/bash\n")
	fmt.Fprintf(&b, "#SBATCH --job-name=stylelab-%s\n", r.ID)
	fmt.Fprintf(&b, "#SBATCH --array=%s\n", ArraySpec(indices, o.Parallel))
	fmt.Fprintf(&b, "#SBATCH --output=%s\n", filepath.Join(r.dir, "logs", "slurm-%A_%a.out"))
	fmt.Fprintf(&b, "#SBATCH --cpus-per-task=%d\n", cpus)
	if o.Partition != "" {
		fmt.Fprintf(&b, "#SBATCH --partition=%s\n", o.Partition)
	}
	for _, e := range o.Extra {
		fmt.Fprintf(&b, "#SBATCH %s\n", e)
	}
	fmt.Fprintf(&b, "# stylelab sweep %s (%s): %d runs, specs in %s\n", r.ID, r.Name, len(indices), filepath.Join(r.dir, "specs"))
	b.WriteString("set -eu\n")
	b.WriteString("i=\"$SLURM_ARRAY_TASK_ID\"\n")
	// Runs with their own tags (Entry.Tags) get them as the script's positional parameters.
	withTags := false
	for _, i := range indices {
		if len(r.Runs[i].Tags) > 0 {
			withTags = true
		}
	}
	if withTags {
		b.WriteString("case \"$i\" in\n")
		for _, i := range indices {
			var q []string
			for _, a := range r.entryTagArgs(i) {
				q = append(q, shellQuote(a))
			}
			fmt.Fprintf(&b, "%d) set -- %s ;;\n", i, strings.Join(q, " "))
		}
		b.WriteString("*) set -- ;;\nesac\n")
	}
	// TaskArgs with the index replaced by the array task id.
	args := r.sweepArgs(0)
	var q []string
	for _, a := range args {
		switch {
		case a == r.SpecPath(0):
			q = append(q, shellQuote(filepath.Join(r.dir, "specs"))+`/"$(printf %04d "$i")".json`)
		case a == TagIndex+"=0":
			q = append(q, TagIndex+`="$i"`)
		default:
			q = append(q, shellQuote(a))
		}
	}
	q = append(q, "--tag", TagSlurmJob+`="$SLURM_ARRAY_JOB_ID"`, "--tag", TagSlurmTask+`="$SLURM_ARRAY_TASK_ID"`)
	if withTags {
		q = append(q, `"$@"`)
	}
	fmt.Fprintf(&b, "exec %s %s\n", shellQuote(r.Binary), strings.Join(q, " "))
	return b.String()
}

// ErrNoSbatch is returned when sbatch is not on PATH.
var ErrNoSbatch = errors.New("sbatch not found on PATH: install Slurm's client commands (Debian: apt-get install slurm-client) on this machine, or use --executor local")

// SubmitSlurm writes the script to the sweep folder, submits it with `sbatch --parsable`, records the
// submission and returns the array job id. A refusal returns sbatch's own message.
func (r *Record) SubmitSlurm(indices []int, o SlurmOptions) (string, error) {
	sbatch, err := exec.LookPath("sbatch")
	if err != nil {
		return "", ErrNoSbatch
	}
	n := len(r.Submissions)
	name := fmt.Sprintf("submit-%d.sbatch", n)
	path := filepath.Join(r.dir, name)
	if err := os.WriteFile(path, []byte(r.SlurmScript(indices, o)), 0o755); err != nil {
		return "", err
	}
	var out, errb bytes.Buffer
	cmd := exec.Command(sbatch, "--parsable", path)
	cmd.Stdout, cmd.Stderr = &out, &errb
	cmd.Dir = r.dir
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(errb.String())
		if msg == "" {
			msg = err.Error()
		}
		return "", fmt.Errorf("sbatch refused the sweep's job array: %s (script: %s; check the partition and limits with sinfo)", msg, path)
	}
	id, _, _ := strings.Cut(strings.TrimSpace(out.String()), ";")
	if _, err := strconv.ParseUint(id, 10, 64); err != nil {
		return "", fmt.Errorf("sbatch answered %q, not a job id (script: %s)", strings.TrimSpace(out.String()), path)
	}
	r.Submissions = append(r.Submissions, Submission{Executor: ExecutorSlurm, Time: time.Now().UTC(), Indices: indices, JobID: id, Script: name})
	return id, r.Save()
}

// SlurmQueue returns the array tasks of the given job ids still in squeue, as "jobid_task" → state
// (PENDING, RUNNING, …). Without squeue it returns an error.
func SlurmQueue(jobIDs []string) (map[string]string, error) {
	out := map[string]string{}
	if len(jobIDs) == 0 {
		return out, nil
	}
	squeue, err := exec.LookPath("squeue")
	if err != nil {
		return nil, errors.New("squeue not found on PATH: install Slurm's client commands (Debian: apt-get install slurm-client)")
	}
	var so, se bytes.Buffer
	cmd := exec.Command(squeue, "-h", "-r", "-j", strings.Join(jobIDs, ","), "-o", "%i %T")
	cmd.Stdout, cmd.Stderr = &so, &se
	if err := cmd.Run(); err != nil {
		// squeue fails for job ids it has forgotten: ask one by one so that the others are still seen.
		if len(jobIDs) > 1 {
			for _, j := range jobIDs {
				m, err := SlurmQueue([]string{j})
				if err != nil {
					return nil, err
				}
				for k, v := range m {
					out[k] = v
				}
			}
			return out, nil
		}
		if strings.Contains(se.String(), "Invalid job id") {
			return out, nil
		}
		return nil, fmt.Errorf("squeue failed: %s (is this machine a Slurm client? check SLURM_CONF and that slurmctld answers: sinfo)", strings.TrimSpace(se.String()))
	}
	for _, line := range strings.Split(so.String(), "\n") {
		f := strings.Fields(line)
		if len(f) == 2 {
			out[f[0]] = f[1]
		}
	}
	return out, nil
}

// ActiveNow returns the Active function for the sweep's submissions as they stand now (one squeue call).
func (r *Record) ActiveNow() (Active, error) {
	var jobs []string
	for _, s := range r.Submissions {
		if s.Executor == ExecutorSlurm {
			jobs = append(jobs, s.JobID)
		}
	}
	q, err := SlurmQueue(jobs)
	if err != nil {
		return nil, err
	}
	return func(s Submission, i int) string {
		if s.Executor == ExecutorLocal {
			if localAlive(s.PID) {
				return StateQueued
			}
			return ""
		}
		switch st, ok := q[fmt.Sprintf("%s_%d", s.JobID, i)]; {
		case !ok:
			return ""
		case st == "RUNNING" || st == "COMPLETING":
			return tracker.StatusRunning
		default:
			return StateQueued
		}
	}, nil
}

// CancelSlurm runs scancel on the sweep's array jobs (all tasks), or, with index ≥ 0, on that one task.
func (r *Record) CancelSlurm(index int) (int, error) {
	scancel, err := exec.LookPath("scancel")
	if err != nil {
		return 0, errors.New("scancel not found on PATH: install Slurm's client commands (Debian: apt-get install slurm-client)")
	}
	var ids []string
	for _, s := range r.Submissions {
		if s.Executor != ExecutorSlurm {
			continue
		}
		if index < 0 {
			ids = append(ids, s.JobID)
		} else if slices.Contains(s.Indices, index) {
			ids = append(ids, fmt.Sprintf("%s_%d", s.JobID, index))
		}
	}
	if len(ids) == 0 {
		return 0, nil
	}
	out, err := exec.Command(scancel, ids...).CombinedOutput()
	if err != nil {
		return 0, fmt.Errorf("scancel %s: %s", strings.Join(ids, " "), strings.TrimSpace(string(out)))
	}
	return len(ids), nil
}
