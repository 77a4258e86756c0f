package safefile

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Paths that are not regular files are refused at once, with what they are: a FIFO (which a plain open would
// wait on for ever), /dev/zero (which a plain read would read without end), a folder. A symlink to a regular
// file is followed. ReadFile and Copy give the file's bytes.
func TestOnlyRegularFiles(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "model.safetensors")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	reg := filepath.Join(dir, "real.bin")
	if err := os.WriteFile(reg, []byte("twelve bytes"), 0o644); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link.bin")
	if err := os.Symlink(reg, link); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]string{fifo: "named pipe", "/dev/zero": "character device", dir: "folder"} {
		done := make(chan error, 2)
		go func() { _, err := ReadFile(path); done <- err }()
		go func() { _, err := Copy(io.Discard, path); done <- err }()
		for range 2 {
			select {
			case err := <-done:
				if !errors.Is(err, ErrNotRegular) || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "give the path of a file") {
					t.Errorf("%s: %v (want %q and ErrNotRegular)", path, err, want)
				}
			case <-time.After(10 * time.Second):
				t.Fatalf("%s: still reading after 10 s", path)
			}
		}
	}
	for _, p := range []string{reg, link} {
		b, err := ReadFile(p)
		if err != nil || string(b) != "twelve bytes" {
			t.Errorf("%s: %q, %v", p, b, err)
		}
		var buf bytes.Buffer
		if n, err := Copy(&buf, p); err != nil || n != 12 || buf.String() != "twelve bytes" {
			t.Errorf("Copy %s: %d %q %v", p, n, buf.String(), err)
		}
	}
	if _, err := ReadFile(filepath.Join(dir, "missing")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
}

// readAll reads exactly the size the file had: more bytes after it (a file that grew) or fewer (one that
// shrank) are errors, never a longer or truncated read.
func TestSizeChanges(t *testing.T) {
	if b, err := readAll("f", strings.NewReader("abcdef"), 6); err != nil || string(b) != "abcdef" {
		t.Fatalf("exact: %q %v", b, err)
	}
	if _, err := readAll("f", strings.NewReader("abcdefg"), 6); err == nil || !strings.Contains(err.Error(), "grew") {
		t.Errorf("grown: %v", err)
	}
	if _, err := readAll("f", strings.NewReader("abc"), 6); err == nil || !strings.Contains(err.Error(), "shrank") {
		t.Errorf("shrunk: %v", err)
	}
}

// WriteFile makes mode-0644 files whatever the temporary file's mode, replaces the old file whole, and a failed
// write leaves the old file and no temporary file.
func TestWriteFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "sub", "ck.safetensors")
	if err := WriteFile(p, []byte("one")); err != nil {
		t.Fatal(err)
	}
	if err := WriteFile(p, []byte("two")); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(p)
	if b, _ := os.ReadFile(p); err != nil || string(b) != "two" || st.Mode().Perm() != Mode {
		t.Fatalf("%q %v %v", b, st.Mode(), err)
	}
	boom := errors.New("boom")
	if err := WriteAtomic(p, func(w io.Writer) error { w.Write([]byte("partial")); return boom }); !errors.Is(err, boom) {
		t.Fatalf("failed write: %v", err)
	}
	if b, _ := os.ReadFile(p); string(b) != "two" {
		t.Errorf("a failed write changed the file: %q", b)
	}
	if ents, _ := os.ReadDir(filepath.Dir(p)); len(ents) != 1 {
		t.Errorf("files left: %v", ents)
	}
	if err := WriteFile(dir, []byte("x")); err == nil || !strings.Contains(err.Error(), "is a folder") {
		t.Errorf("writing over a folder: %v", err)
	}
}

// helperEnv makes the test binary a writer that is killed mid-write (TestHelperKilledWriter).
const helperEnv = "SAFEFILE_KILLED_WRITER"

func TestHelperKilledWriter(t *testing.T) {
	p := os.Getenv(helperEnv)
	if p == "" {
		t.Skip("helper process")
	}
	WriteAtomic(p, func(w io.Writer) error {
		w.Write([]byte("partial checkpoint"))
		time.Sleep(time.Hour) // killed here
		return nil
	})
}

func temps(t *testing.T, dir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, ".ck.safetensors.*.tmp"))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// A writer SIGKILLed mid-write leaves its hidden temporary file; the next write to the same path removes it.
// A live writer's temporary file (locked, even when old) is left alone, and so are files that only look alike.
func TestStaleTempsRemoved(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "ck.safetensors")
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperKilledWriter$")
	cmd.Env = append(os.Environ(), helperEnv+"="+p)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for len(temps(t, dir)) == 0 {
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatal("the helper made no temporary file")
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond) // it has written and is sleeping
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	dead := temps(t, dir)
	if len(dead) != 1 {
		t.Fatalf("temporary files after the kill: %v", dead)
	}
	old := time.Now().Add(-2 * StaleAge)
	os.Chtimes(dead[0], old, old)
	// A user's look-alike file (not 16 hex digits) and a live writer in this process.
	lookAlike := filepath.Join(dir, ".ck.safetensors.mine.tmp")
	os.WriteFile(lookAlike, []byte("mine"), 0o644)
	os.Chtimes(lookAlike, old, old)
	started, release, done := make(chan struct{}), make(chan struct{}), make(chan error)
	go func() {
		done <- WriteAtomic(p, func(w io.Writer) error {
			close(started)
			<-release
			_, err := w.Write([]byte("live writer"))
			return err
		})
	}()
	<-started
	var live string
	for _, f := range temps(t, dir) {
		if f != dead[0] && f != lookAlike {
			live = f
		}
	}
	os.Chtimes(live, old, old) // old, but locked
	if err := WriteFile(p, []byte("next write")); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dead[0]); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the killed writer's temporary file is still there: %v", err)
	}
	for _, f := range []string{live, lookAlike} {
		if _, err := os.Stat(f); err != nil {
			t.Errorf("%s was removed: %v", f, err)
		}
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatalf("the live writer failed: %v", err)
	}
	if b, _ := os.ReadFile(p); string(b) != "live writer" {
		t.Errorf("final contents %q", b)
	}
}
