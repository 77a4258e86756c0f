//go:build unix

package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stylelab/stylelab/tracker"
)

// TestReadCommandsOnReadOnlyFolder records runs, removes every write permission from their folder and runs
// the read commands and `stylelab serve` on it as a user that cannot write there (nobody, when the tests
// run as root: root ignores permissions).
func TestReadCommandsOnReadOnlyFolder(t *testing.T) {
	base, err := os.MkdirTemp("", "stylelab-ro-cli-")
	if err != nil {
		t.Fatal(err)
	}
	os.Chmod(base, 0o755)
	t.Cleanup(func() {
		filepath.WalkDir(base, func(p string, d fs.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				os.Chmod(p, 0o755)
			}
			return nil
		})
		os.RemoveAll(base)
	})
	bin := filepath.Join(base, "stylelab")
	if b, err := os.ReadFile(stylelabBin); err != nil || os.WriteFile(bin, b, 0o755) != nil {
		t.Fatal("copying the binary:", err)
	}
	db := filepath.Join(base, "archive", "stylelab.db")
	s, err := tracker.Open(db)
	if err != nil {
		t.Fatal(err)
	}
	r, _ := s.StartRun("ro", "archived", tracker.WithoutProvenance())
	for i := int64(0); i < 50; i++ {
		r.LogMetric("loss", i, float64(i))
	}
	r.LogArtifact("out.txt", "", []byte("output"))
	r.End(nil)
	id := r.ID()
	s.Close()
	filepath.WalkDir(filepath.Join(base, "archive"), func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			os.Chmod(p, 0o444)
		}
		return nil
	})
	var dirs []string
	filepath.WalkDir(filepath.Join(base, "archive"), func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			dirs = append(dirs, p)
		}
		return nil
	})
	for i := len(dirs) - 1; i >= 0; i-- {
		os.Chmod(dirs[i], 0o555)
	}
	command := func(args ...string) *exec.Cmd {
		cmd := exec.Command(bin, args...)
		cmd.Env = append(os.Environ(), "STYLELAB_DB="+db)
		if os.Geteuid() == 0 {
			cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
		}
		return cmd
	}
	for _, args := range [][]string{{"runs", "ls"}, {"runs", "show", id}, {"runs", "export", id}, {"runs", "check"}} {
		out, err := command(args...).CombinedOutput()
		var pe *os.PathError
		if errors.As(err, &pe) || (err != nil && strings.Contains(err.Error(), "operation not permitted")) {
			t.Skipf("cannot run a process as another user: %v", err)
		}
		if err != nil || !strings.Contains(string(out), map[string]string{"ls": "archived", "show": "archived", "export": ",loss,49,", "check": "ok"}[args[1]]) {
			t.Errorf("stylelab %s on a read-only folder: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	cmd := command("serve", "--addr", "127.0.0.1:0")
	stdout, _ := cmd.StdoutPipe()
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cmd.Process.Signal(os.Interrupt)
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
		}
	}()
	line, err := bufio.NewReader(stdout).ReadString('\n')
	url := regexp.MustCompile(`http://[0-9.:]+/`).FindString(line)
	if url == "" {
		cmd.Wait()
		t.Fatalf("serve on a read-only folder printed %q, %v; stderr %s", line, err, stderr.String())
	}
	go io.Copy(io.Discard, stdout)
	resp, err := http.Get(fmt.Sprintf("%sapi/runs/%s/metrics/loss", url, id))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), `"count": 50`) {
		t.Errorf("serve on a read-only folder: GET metrics %d %.300s", resp.StatusCode, body)
	}
}
