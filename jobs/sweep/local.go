package sweep

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"
)

// RunLocal runs the given indices of the sweep with `workers` concurrent `stylelab run --spec` processes of
// r.Binary, each writing its output to logs/local-NNNN.out. It returns when all have ended or ctx is done (then
// the running children get SIGTERM, which `stylelab run` records as KILLED). The error counts failed tasks.
func (r *Record) RunLocal(ctx context.Context, indices []int, workers int, log io.Writer) error {
	if workers < 1 {
		workers = 1
	}
	jobs := make(chan int)
	var mu sync.Mutex
	failed := 0
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				if err := r.runOne(ctx, i); err != nil {
					mu.Lock()
					failed++
					fmt.Fprintf(log, "%s run %d: %v\n", time.Now().UTC().Format(time.RFC3339), i, err)
					mu.Unlock()
				}
			}
		}()
	}
	for _, i := range indices {
		select {
		case jobs <- i:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
	}
	close(jobs)
	wg.Wait()
	if failed > 0 {
		return fmt.Errorf("%d of %d runs failed (logs in %s)", failed, len(indices), filepath.Join(r.dir, "logs"))
	}
	return ctx.Err()
}

func (r *Record) runOne(ctx context.Context, i int) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	f, err := os.Create(filepath.Join(r.dir, "logs", fmt.Sprintf("local-%04d.out", i)))
	if err != nil {
		return err
	}
	defer f.Close()
	cmd := exec.Command(r.Binary, r.TaskArgs(i)...)
	cmd.Stdout, cmd.Stderr = f, f
	// Each run gets exactly one SIGTERM on cancel, the supervisor's below: `stylelab run` stops at the next step
	// boundary on the first and restores the default action, so a second one (were the run in the supervisor's
	// process group, a signal to the group would be one) would kill it outright, imageless. Its own process
	// group keeps group signals away from it; Pdeathsig sends it that one SIGTERM should the supervisor die
	// first. Pdeathsig follows the thread that started the child, so the thread stays locked until it ends.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if err := cmd.Start(); err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err = <-done:
	case <-ctx.Done():
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case err = <-done:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			err = <-done
		}
	}
	return err
}

// StartLocal starts a detached supervisor (`stylelab sweep work --dir ROOT ID i…` in its own session, so it
// outlives the command that started it), records it as a submission and returns.
func (r *Record) StartLocal(root string, indices []int, workers int) error {
	args := []string{"sweep", "work", "--dir", root, "--workers", fmt.Sprint(workers), r.ID}
	for _, i := range indices {
		args = append(args, fmt.Sprint(i))
	}
	logf, err := os.OpenFile(filepath.Join(r.dir, "logs", "local-supervisor.out"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer logf.Close()
	cmd := exec.Command(r.Binary, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	sub := Submission{Executor: ExecutorLocal, Time: time.Now().UTC(), Indices: indices}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting the local sweep worker %s: %w", r.Binary, err)
	}
	sub.PID = cmd.Process.Pid
	sub.recordIdentity() // not yet waited for, so the pid cannot have been reused
	go cmd.Wait()        // reap it if this process lives long enough (tests); otherwise init does
	r.Submissions = append(r.Submissions, sub)
	return r.Save()
}

// CancelLocal sends one SIGTERM to each of the sweep's live local supervisors, which pass one SIGTERM on to
// each of their runs (so every running run ends KILLED with its last image, as after a single SIGTERM) and start
// no more. Only a supervisor whose identity (Submission.Check) is confirmed is signalled, through a pidfd where
// the kernel has them (os.FindProcess), so that the pid cannot be reused between the check and the signal. It
// returns how many were signalled, notes on recorded supervisors found ended (for the user), and an error naming
// every supervisor it could not confirm and how to proceed; those it leaves alone.
func (r *Record) CancelLocal() (n int, notes []string, err error) {
	var refused []string
	for _, s := range r.Submissions {
		if s.Executor != ExecutorLocal {
			continue
		}
		p, ferr := os.FindProcess(s.PID) // opens a pidfd on Linux: the process now at the pid, from now on
		if ferr != nil {
			continue
		}
		switch live, why := s.Check(); live {
		case WorkerAlive:
			if err := p.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
				p.Release()
				return n, notes, fmt.Errorf("stopping local sweep worker %d: %w", s.PID, err)
			}
			n++
		case WorkerElsewhere:
			refused = append(refused, fmt.Sprintf("%s: run `stylelab sweep cancel %s` on %s", why, r.ID, s.Host))
		case WorkerUnconfirmed:
			refused = append(refused, fmt.Sprintf("%s: check it with `ps -o pid,lstart,args -p %d`, and if that shows `stylelab sweep work … %s`, stop it with `kill -TERM %d` (that one process, not its group)", why, s.PID, r.ID, s.PID))
		case WorkerReplaced:
			notes = append(notes, why)
		}
		p.Release()
	}
	if len(refused) > 0 {
		return n, notes, fmt.Errorf("sweep %s: left %d local worker(s) alone: %s", r.ID, len(refused), strings.Join(refused, "; "))
	}
	return n, notes, nil
}
