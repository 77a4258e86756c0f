package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

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

// TestKernelNotebookServes builds stylelab, runs `stylelab kernel notebook` on a free loopback port with a
// kernelspec installed into a temporary Jupyter data dir, and asks the server for its kernels: what
// `make notebook` does.
func TestKernelNotebookServes(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: starts a Jupyter server")
	}
	if _, err := exec.LookPath("jupyter-notebook"); err != nil {
		t.Fatal("jupyter-notebook is not installed: make deps installs it (Debian package jupyter-notebook)")
	}
	data := t.TempDir()
	t.Setenv("JUPYTER_DATA_DIR", data)
	t.Setenv("JUPYTER_PATH", data)
	t.Setenv("JUPYTER_RUNTIME_DIR", filepath.Join(data, "runtime"))
	t.Setenv("JUPYTER_CONFIG_DIR", filepath.Join(data, "config"))
	if err := runKernel([]string{"install", "--no-apt", "--db", filepath.Join(data, "x.db")}); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "stylelab")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	cmd := exec.Command(bin, "kernel", "notebook", "--port", strconv.Itoa(port), "--", "--NotebookApp.token=test-token")
	var log bytes.Buffer
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cmd.Process.Signal(os.Interrupt)
		cmd.Process.Kill()
		cmd.Wait()
	}()
	url := fmt.Sprintf("http://127.0.0.1:%d/api/kernelspecs?token=test-token", port)
	var body struct {
		Default     string                    `json:"default"`
		Kernelspecs map[string]map[string]any `json:"kernelspecs"`
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get(url)
		if err == nil {
			err = json.NewDecoder(resp.Body).Decode(&body)
			resp.Body.Close()
			if err == nil {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no Jupyter server on port %d after 60 s (%v):\n%s", port, err, log.String())
		}
		time.Sleep(300 * time.Millisecond)
	}
	if body.Default != "stylelab" {
		t.Errorf("default kernel %q, want stylelab", body.Default)
	}
	if _, ok := body.Kernelspecs["stylelab"]; !ok {
		t.Errorf("the server does not offer the stylelab kernel: %v", body.Kernelspecs)
	}
	if !strings.Contains(log.String(), "--ip=127.0.0.1") {
		t.Errorf("the server was not bound to 127.0.0.1:\n%s", log.String())
	}
}
