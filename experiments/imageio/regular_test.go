//go:build unix

package imageio

import (
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// An image path that is a FIFO or a device is refused at once (a plain open waits on a FIFO for ever); a
// folder keeps its own message. (#21 item 11: every file stylelab loads goes through safefile.)
func TestLoadRefusesFIFOsAndDevices(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "photo.png")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	for p, want := range map[string]string{fifo: "named pipe", "/dev/zero": "character device", dir: "is a folder"} {
		done := make(chan error, 1)
		go func() { _, err := Load(p, 0); done <- err }()
		select {
		case err := <-done:
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("%s: %v (want %q)", p, err, want)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("%s: Load still waiting after 5 s", p)
		}
	}
}
