//go:build unix

package vgg

import (
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// --weights and $STYLELAB_VGG_WEIGHTS naming something that is not a regular file are refused at once: a FIFO
// (which a plain read waits on for ever) and /dev/zero (which a plain read reads until memory runs out), with
// an error saying what the path is. (#21 item 11.)
func TestWeightsPathMustBeARegularFile(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "vgg19.safetensors")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ flag, env, want string }{
		{fifo, "", "named pipe"}, {"", fifo, "named pipe"}, {"/dev/zero", "", "character device"}, {"", "/dev/zero", "character device"},
	} {
		t.Setenv(EnvWeights, c.env)
		done := make(chan error, 1)
		go func() { _, err := FromEnvOrRandom(c.flag, 0); done <- err }()
		select {
		case err := <-done:
			if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "not a regular file") {
				t.Errorf("flag %q env %q: %v", c.flag, c.env, err)
			}
			if c.env != "" && (err == nil || !strings.Contains(err.Error(), "$"+EnvWeights)) {
				t.Errorf("the error does not name $%s: %v", EnvWeights, err)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("flag %q env %q: still reading after 5 s", c.flag, c.env)
		}
	}
}
