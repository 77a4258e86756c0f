package sweep

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
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
	go cmd.Wait() // reap it if this process lives long enough (tests); otherwise init does
	r.Submissions = append(r.Submissions, sub)
	return r.Save()
}

// localAlive reports whether the supervisor process pid is still running (not a zombie).
func localAlive(pid int) bool {
	if pid <= 0 || syscall.Kill(pid, 0) != nil {
		return false
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true // no /proc: kill(0) said it exists
	}
	// Field 3 after "(comm)" is the state; Z is a zombie.
	for j := len(b) - 1; j > 0; j-- {
		if b[j] == ')' {
			return !(j+2 < len(b) && b[j+2] == 'Z')
		}
	}
	return true
}

// CancelLocal sends SIGTERM to the process groups of the sweep's live local supervisors (and so their runs).
func (r *Record) CancelLocal() (int, error) {
	n := 0
	for _, s := range r.Submissions {
		if s.Executor == ExecutorLocal && localAlive(s.PID) {
			if err := syscall.Kill(-s.PID, syscall.SIGTERM); err != nil {
				return n, fmt.Errorf("stopping local sweep worker %d: %w", s.PID, err)
			}
			n++
		}
	}
	return n, nil
}
