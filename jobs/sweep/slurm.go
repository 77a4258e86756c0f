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
	"unicode"
	"unicode/utf8"

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

// lineSafe refuses a value written into a line of the sbatch script (a #SBATCH directive or a comment) that holds
// a control character: a newline (or a carriage return, which sbatch also ends lines at) would end the line there
// and make the rest a line of its own, e.g. another directive.
func lineSafe(what, v, fix string) error {
	if i := strings.IndexFunc(v, unicode.IsControl); i >= 0 {
		r, _ := utf8.DecodeRuneInString(v[i:])
		return fmt.Errorf("%s %q holds the control character %U, which would add a line to the sbatch script: %s", what, v, r, fix)
	}
	return nil
}

// Check refuses options that cannot be written into an sbatch script safely: control characters anywhere, and
// white space in the partition (which names one partition, as sinfo shows it; a space would start another option).
func (o SlurmOptions) Check() error {
	if err := lineSafe("--partition", o.Partition, "give the partition's name as sinfo shows it"); err != nil {
		return err
	}
	if strings.ContainsFunc(o.Partition, unicode.IsSpace) {
		return fmt.Errorf("--partition %q holds white space: give one partition's name as sinfo shows it (several: a comma list without spaces)", o.Partition)
	}
	for _, e := range o.Extra {
		if err := lineSafe("sbatch option", e, "give each option on its own, without line breaks"); err != nil {
			return err
		}
	}
	return nil
}

// SlurmScript is the sbatch script running the indices as one job array: task $SLURM_ARRAY_TASK_ID runs
// specs/NNNN.json with TaskArgs and the tags slurm.job_id=$SLURM_ARRAY_JOB_ID, slurm.task_id=$SLURM_ARRAY_TASK_ID.
// It refuses (SlurmOptions.Check) values that would add lines to the script: control characters in the options,
// the sweep's id and name, or its folder.
func (r *Record) SlurmScript(indices []int, o SlurmOptions) (string, error) {
	if err := o.Check(); err != nil {
		return "", err
	}
	for _, v := range [][3]string{{"sweep id", r.ID, "sweep ids come from `stylelab sweep list`"},
		{"sweep name", r.Name, "rename the sweep in its file"},
		{"sweep folder", r.dir, "choose another with --dir"}} {
		if err := lineSafe(v[0], v[1], v[2]); err != nil {
			return "", err
		}
	}
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
	return b.String(), nil
}

// ErrNoSbatch is returned when sbatch is not on PATH.
var ErrNoSbatch = errors.New("sbatch not found on PATH: install Slurm's client commands (Debian: apt-get install slurm-client) on this machine, or use --executor local")

// slurmConfPaths are where Slurm's commands read slurm.conf when SLURM_CONF is not set: the path built into
// Debian's Slurm, then the copy slurmd keeps on a node of a "configless" cluster. (A variable for tests.)
var slurmConfPaths = []string{"/etc/slurm/slurm.conf", "/run/slurm/conf/slurm.conf"}

// SlurmConfig returns the slurm.conf Slurm's commands will read: $SLURM_CONF when set, else the first of
// /etc/slurm/slurm.conf and /run/slurm/conf/slurm.conf that exists. Without one, sbatch goes looking for the
// controller in DNS (SRV records) before it fails, and a SLURM_CONF naming a missing file is retried for 60 s;
// so the sweep commands refuse first, saying what to set.
func SlurmConfig() (string, error) {
	const how = "point SLURM_CONF at the cluster's slurm.conf, install it as %s, or start a cluster on this machine with scripts/local-cluster.sh up and export the SLURM_CONF it prints"
	readable := func(p string) error {
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		if fi, err := f.Stat(); err != nil {
			return err
		} else if !fi.Mode().IsRegular() {
			return fmt.Errorf("%s is not a regular file", p)
		}
		return nil
	}
	if c := os.Getenv("SLURM_CONF"); c != "" {
		if err := readable(c); err != nil {
			return "", fmt.Errorf("SLURM_CONF=%s is not a readable Slurm configuration (%v): "+how, c, err, slurmConfPaths[0])
		}
		return c, nil
	}
	for _, p := range slurmConfPaths {
		if readable(p) == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("no Slurm configuration here: SLURM_CONF is not set and neither %s exists (Slurm's commands would look for a controller in DNS): "+how,
		strings.Join(slurmConfPaths, " nor "), slurmConfPaths[0])
}

// SubmitSlurm writes the script to the sweep folder, submits it with `sbatch --parsable`, records the
// submission and returns the array job id. A refusal returns sbatch's own message.
func (r *Record) SubmitSlurm(indices []int, o SlurmOptions) (string, error) {
	script, err := r.SlurmScript(indices, o)
	if err != nil {
		return "", err
	}
	sbatch, err := exec.LookPath("sbatch")
	if err != nil {
		return "", ErrNoSbatch
	}
	if _, err := SlurmConfig(); err != nil {
		return "", err
	}
	n := len(r.Submissions)
	name := fmt.Sprintf("submit-%d.sbatch", n)
	path := filepath.Join(r.dir, name)
	if err := os.WriteFile(path, []byte(script), 0o755); err != nil {
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
	if _, err := SlurmConfig(); err != nil {
		return nil, err
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
			// Alive here, or possibly alive (on another host, or recorded without its identity): still held.
			// Status gives the reason for the latter two (localNote).
			if live, _ := s.Check(); live == WorkerAlive || live == WorkerElsewhere || live == WorkerUnconfirmed {
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
	if _, err := SlurmConfig(); err != nil {
		return 0, err
	}
	out, err := exec.Command(scancel, ids...).CombinedOutput()
	if err != nil {
		return 0, fmt.Errorf("scancel %s: %s", strings.Join(ids, " "), strings.TrimSpace(string(out)))
	}
	return len(ids), nil
}
