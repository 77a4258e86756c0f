package main

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stylelab/stylelab/kernel/setup"
)

func TestKernelUsageErrors(t *testing.T) {
	for _, args := range [][]string{nil, {"bogus"}, {"doctor", "extra"}, {"install", "--no-such-flag"}} {
		err := runKernel(args)
		var ue usageError
		if !errors.As(err, &ue) {
			t.Errorf("stylelab kernel %v: got %v, want a usage error (exit 2)", args, err)
		}
	}
	if err := runKernel([]string{"doctor", "--repo", t.TempDir()}); err == nil || errors.As(err, new(usageError)) {
		t.Errorf("doctor outside a clone: got %v, want a failure", err)
	}
}

// TestKernelInstallThenDoctor runs `stylelab kernel install --no-apt` into a temporary Jupyter data dir twice and then
// `stylelab kernel doctor`; it needs what make deps installs.
func TestKernelInstallThenDoctor(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: needs Jupyter and the tools (make deps)")
	}
	c, err := setup.Detect("")
	if err != nil {
		t.Fatal(err)
	}
	if m, _ := setup.MissingPackages(setup.KernelPackages); len(m) > 0 {
		t.Fatalf("Debian packages missing: %v; make deps installs them", m)
	}
	if _, err := os.Stat(c.ToolPath("gonb")); err != nil {
		t.Fatalf("%v; make deps installs GoNB", err)
	}
	data := t.TempDir()
	t.Setenv("JUPYTER_DATA_DIR", data)
	t.Setenv("JUPYTER_PATH", data)
	db := filepath.Join(t.TempDir(), "x.db")
	for i := 0; i < 2; i++ {
		if err := runKernel([]string{"install", "--no-apt", "--db", db}); err != nil {
			t.Fatalf("install %d: %v", i, err)
		}
	}
	if err := runKernel([]string{"doctor"}); err != nil {
		t.Fatalf("doctor after install: %v", err)
	}
	b, err := os.ReadFile(filepath.Join(data, "kernels", "stylelab", "kernel.json"))
	if err != nil || !strings.Contains(string(b), db) {
		t.Fatalf("kernel.json does not name the --db path %s: %v\n%s", db, err, b)
	}
}
