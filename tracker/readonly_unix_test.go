//go:build unix

package tracker

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// worldReadableDir is a new folder others may enter (t.TempDir's parent is private to its owner).
func worldReadableDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "stylelab-ro-")
	if err != nil {
		t.Fatal(err)
	}
	os.Chmod(dir, 0o755)
	t.Cleanup(func() {
		filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				os.Chmod(p, 0o755)
			}
			return nil
		})
		os.RemoveAll(dir)
	})
	return dir
}

// makeReadOnly removes every write permission under dir.
func makeReadOnly(t *testing.T, dir string) {
	t.Helper()
	var dirs []string
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			dirs = append(dirs, p)
		} else {
			os.Chmod(p, 0o444)
		}
		return nil
	})
	for i := len(dirs) - 1; i >= 0; i-- {
		os.Chmod(dirs[i], 0o555)
	}
}

// asUnprivileged runs the command as the user nobody when this process is root (root ignores permissions,
// so a read-only folder is only read-only to another user); otherwise as it is. It skips the test when root
// cannot change user.
func asUnprivileged(t *testing.T, cmd *exec.Cmd) {
	t.Helper()
	if os.Geteuid() != 0 {
		return
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
}

// TestReadOnlyFolder records runs, makes their folder (database, artifacts) read-only and reads everything
// back from a process that cannot write there (the user nobody when the tests run as root): a clean
// database and one copied with its -wal and -shm while a writer had it open.
func TestReadOnlyFolder(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	base := worldReadableDir(t)
	bin := filepath.Join(base, "tracker.test")
	if b, err := os.ReadFile(exe); err != nil || os.WriteFile(bin, b, 0o755) != nil {
		t.Fatal("copying the test binary:", err)
	}
	record := func(dir string, open bool) (*Store, string) {
		db := filepath.Join(dir, "stylelab.db")
		s, err := Open(db)
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 3; i++ {
			r, err := s.StartRun("ro", fmt.Sprintf("r%d", i), WithoutProvenance())
			if err != nil {
				t.Fatal(err)
			}
			for step := int64(0); step < 100; step++ {
				r.LogMetric("loss", step, float64(step))
			}
			r.LogArtifact("out.txt", "", []byte(fmt.Sprintf("output %d", i)))
			r.End(nil)
		}
		if !open {
			s.Close()
			return nil, db
		}
		return s, db
	}
	// A clean database (no -wal, no -shm).
	clean := filepath.Join(base, "clean")
	_, cleanDB := record(clean, false)
	// A copy taken while a writer held the database open: -wal and -shm come along.
	live := filepath.Join(base, "live")
	s, liveDB := record(live, true)
	snap := filepath.Join(base, "snapshot")
	if err := os.CopyFS(snap, os.DirFS(live)); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if _, err := os.Stat(filepath.Join(snap, "stylelab.db-wal")); err != nil {
		t.Fatalf("the snapshot has no -wal: %v", err)
	}
	_ = liveDB
	for _, db := range []string{cleanDB, filepath.Join(snap, "stylelab.db")} {
		makeReadOnly(t, filepath.Dir(db))
		cmd := exec.Command(bin, "-test.run=^$")
		cmd.Env = append(os.Environ(), helperEnv+"=readonly", "HELPER_DB="+db)
		asUnprivileged(t, cmd)
		out, err := cmd.CombinedOutput()
		var pe *os.PathError
		if errors.As(err, &pe) || (err != nil && strings.Contains(err.Error(), "operation not permitted")) {
			t.Skipf("cannot run a process as another user: %v", err)
		}
		if err != nil || !strings.Contains(string(out), "runs=3 points=300") {
			t.Errorf("reading %s from a read-only folder (euid %d, child as %s): %v\n%s", db, os.Geteuid(),
				map[bool]string{true: "nobody", false: "this user"}[os.Geteuid() == 0], err, out)
		}
	}
}
