//go:build unix

package pth

import (
	"errors"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stylelab/stylelab/experiments/safefile"
)

// A path that is not a regular file is refused at once, naming what it is: a FIFO would block os.Open until a
// writer came (forever), and a device is not a file torch.save wrote.
func TestOpenRefusesNonRegularFiles(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "weights.pth")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	for _, p := range []string{fifo, "/dev/zero"} {
		done := make(chan error, 1)
		go func() {
			f, err := Open(p)
			if f != nil {
				f.Close()
			}
			done <- err
		}()
		select {
		case err := <-done:
			if !errors.Is(err, safefile.ErrNotRegular) {
				t.Errorf("Open(%s) = %v, want an error wrapping safefile.ErrNotRegular", p, err)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("Open(%s) still blocked after 10 s", p)
		}
		if _, err := Sniff(p); !errors.Is(err, safefile.ErrNotRegular) {
			t.Errorf("Sniff(%s) = %v, want an error wrapping safefile.ErrNotRegular", p, err)
		}
	}
}
