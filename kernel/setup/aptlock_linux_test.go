package setup

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestHelperHoldLock is not a test: run by holdLock in a child process, it takes an fcntl write lock on
// $STYLELAB_TEST_HOLD_LOCK, as apt does, says "locked" and keeps it for $STYLELAB_TEST_HOLD_FOR.
func TestHelperHoldLock(t *testing.T) {
	path := os.Getenv("STYLELAB_TEST_HOLD_LOCK")
	if path == "" {
		t.Skip("helper process only")
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	lk := syscall.Flock_t{Type: syscall.F_WRLCK}
	if err := syscall.FcntlFlock(f.Fd(), syscall.F_SETLKW, &lk); err != nil {
		t.Fatal(err)
	}
	os.Stdout.WriteString("locked\n")
	d, _ := time.ParseDuration(os.Getenv("STYLELAB_TEST_HOLD_FOR"))
	time.Sleep(d)
	os.Exit(0)
}

// holdLock makes another process hold an fcntl write lock on path for d; it returns once the lock is held.
func holdLock(t *testing.T, path string, d time.Duration) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperHoldLock$")
	cmd.Env = append(os.Environ(), "STYLELAB_TEST_HOLD_LOCK="+path, "STYLELAB_TEST_HOLD_FOR="+d.String())
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || line != "locked\n" {
		t.Fatalf("lock holder: %q, %v", line, err)
	}
	return cmd
}

func TestWaitForLocks(t *testing.T) {
	lock := filepath.Join(t.TempDir(), "lock-frontend")
	os.WriteFile(lock, nil, 0o640)
	if err := WaitForLocks([]string{lock, filepath.Join(t.TempDir(), "absent")}, time.Second, 10*time.Millisecond, nil); err != nil {
		t.Fatalf("free lock: %v", err)
	}
	// Held, then released: the wait ends when the holder does.
	holdLock(t, lock, time.Second)
	var log strings.Builder
	start := time.Now()
	if err := WaitForLocks([]string{lock}, 20*time.Second, 20*time.Millisecond, &log); err != nil {
		t.Fatal(err)
	}
	if waited := time.Since(start); waited < 500*time.Millisecond {
		t.Errorf("returned after %v while the lock was held for 1 s", waited)
	}
	if !strings.Contains(log.String(), "holds "+lock) {
		t.Errorf("log %q does not say what it waits for", log.String())
	}
	// Held past the timeout: an error naming the lock and what to do.
	holdLock(t, lock, time.Minute)
	err := WaitForLocks([]string{lock}, 300*time.Millisecond, 20*time.Millisecond, nil)
	if err == nil || !strings.Contains(err.Error(), lock) || !strings.Contains(err.Error(), "STYLELAB_APT_LOCK_WAIT") {
		t.Errorf("held past the timeout: %v", err)
	}
}

// TestAptInstallWaitsForLock runs aptInstall with a fake apt-get while another process holds the lock: apt-get
// runs only after the lock is released, and is told to wait for dpkg's lock itself.
func TestAptInstallWaitsForLock(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("aptInstall goes through sudo when not root")
	}
	dir := t.TempDir()
	argsFile := filepath.Join(dir, "args")
	os.WriteFile(filepath.Join(dir, "apt-get"), []byte("#!/bin/sh\necho \"$@\" >> "+argsFile+"\n"), 0o755)
	t.Setenv("PATH", dir+string(os.PathListSeparator)+os.Getenv("PATH"))
	t.Setenv("STYLELAB_APT_LOCK_WAIT", "30s")
	lock := filepath.Join(dir, "lock-frontend")
	os.WriteFile(lock, nil, 0o640)
	old := AptLockFiles
	AptLockFiles = []string{lock}
	defer func() { AptLockFiles = old }()
	holdLock(t, lock, time.Second)
	start := time.Now()
	if err := aptInstall([]string{"some-package"}, nil); err != nil {
		t.Fatal(err)
	}
	if waited := time.Since(start); waited < 500*time.Millisecond {
		t.Errorf("apt-get ran after %v, while another process held the lock for 1 s", waited)
	}
	b, _ := os.ReadFile(argsFile)
	if lines := strings.Split(strings.TrimSpace(string(b)), "\n"); len(lines) != 2 || !strings.Contains(lines[1], "-o DPkg::Lock::Timeout=30 install") {
		t.Errorf("apt-get calls: %q", b)
	}
}
