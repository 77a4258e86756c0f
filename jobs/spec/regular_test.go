//go:build unix

package spec

import (
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Hashing the inputs of a spec whose model, resume or weights path is a FIFO or /dev/zero fails at once, naming
// the role and what the path is (a plain read waits on a FIFO for ever and reads /dev/zero without end); a spec
// file that is a FIFO is refused the same way. (#21 item 11.)
func TestInputsMustBeRegularFiles(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "model.safetensors")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{fifo, "/dev/zero"} {
		for _, role := range []string{"model", "resume", "weights"} {
			s := &Spec{Kind: KindStylize}
			in := &Input{Path: p}
			switch role {
			case "model":
				s.Inputs.Model = in
			case "resume":
				s.Inputs.Resume = in
			case "weights":
				s.Weights.File = in
			}
			done := make(chan error, 1)
			go func() { _, err := s.HashInputs(false); done <- err }()
			select {
			case err := <-done:
				if err == nil || !strings.Contains(err.Error(), role+" "+p) || !strings.Contains(err.Error(), "not a regular file") {
					t.Errorf("%s %s: %v", role, p, err)
				}
			case <-time.After(5 * time.Second):
				t.Fatalf("%s %s: still hashing after 5 s", role, p)
			}
		}
	}
	done := make(chan error, 1)
	go func() { _, err := Load(fifo); done <- err }()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "named pipe") {
			t.Errorf("spec file FIFO: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Load still waiting on a FIFO after 5 s")
	}
}
