package setup

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func repoRoot(t *testing.T) string {
	t.Helper()
	r, err := FindRoot(".")
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestFindRoot(t *testing.T) {
	tmp := t.TempDir()
	deep := filepath.Join(tmp, "a", "b")
	if err := os.MkdirAll(deep, 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := FindRoot(deep); err == nil || !strings.Contains(err.Error(), "--repo") {
		t.Fatalf("outside a clone: got %v, want an error naming --repo", err)
	}
	// A go.mod of another module does not count; ours does.
	os.WriteFile(filepath.Join(tmp, "a", "go.mod"), []byte("module example.com/other\n"), 0o644)
	os.WriteFile(filepath.Join(tmp, "go.mod"), []byte("// c\nmodule "+ModulePath+"\n\ngo 1.26\n"), 0o644)
	got, err := FindRoot(deep)
	if err != nil || got != tmp {
		t.Fatalf("FindRoot = %q, %v; want %q", got, err, tmp)
	}
	if r := repoRoot(t); mustAbs(t, ".") != filepath.Join(r, "kernel", "setup") {
		t.Fatalf("repository root %q does not hold this package", r)
	}
}

func mustAbs(t *testing.T, p string) string {
	a, err := filepath.Abs(p)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestPinnedVersions(t *testing.T) {
	v, err := PinnedVersions(repoRoot(t))
	if err != nil {
		t.Fatal(err)
	}
	if v["github.com/janpfeifer/gonb"] != "v0.11.1" {
		t.Errorf("gonb pinned at %q, want v0.11.1 (the only version the proxy serves here)", v["github.com/janpfeifer/gonb"])
	}
	if !strings.HasPrefix(v["golang.org/x/tools"], "v0.") {
		t.Errorf("golang.org/x/tools pinned at %q", v["golang.org/x/tools"])
	}
	tmp := t.TempDir()
	os.MkdirAll(filepath.Join(tmp, "tools"), 0o755)
	os.WriteFile(filepath.Join(tmp, "tools", "go.mod"), []byte("module x\nrequire github.com/janpfeifer/gonb v0.11.1\n"), 0o644)
	if _, err := PinnedVersions(tmp); err == nil || !strings.Contains(err.Error(), "golang.org/x/tools") {
		t.Errorf("a tools/go.mod without x/tools: got %v, want an error naming it", err)
	}
}

func TestInstalledVersion(t *testing.T) {
	notGo := filepath.Join(t.TempDir(), "gonb")
	os.WriteFile(notGo, []byte("#!/bin/sh\n"), 0o755)
	if _, err := InstalledVersion(notGo, "github.com/janpfeifer/gonb"); err == nil {
		t.Error("a shell script was accepted as a Go binary")
	}
	if _, err := InstalledVersion(filepath.Join(t.TempDir(), "absent"), "x"); err == nil {
		t.Error("a missing file had a version")
	}
	// The test binary is a Go binary of this module, not of GoNB.
	self, _ := os.Executable()
	if _, err := InstalledVersion(self, "github.com/janpfeifer/gonb"); err == nil {
		t.Error("the test binary claims to be built from GoNB")
	}
	c, err := Detect(repoRoot(t))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(c.ToolPath("gonb")); err != nil {
		t.Skipf("gonb is not installed in %s (make deps installs it)", c.BinDir)
	}
	v, err := InstalledVersion(c.ToolPath("gonb"), "github.com/janpfeifer/gonb")
	if err != nil || v != "v0.11.1" {
		t.Errorf("installed gonb version = %q, %v", v, err)
	}
}

func testConfig(t *testing.T) Config {
	tmp := t.TempDir()
	return Config{Root: "/repo", DataDir: filepath.Join(tmp, "jupyter"), BinDir: "/gopath/bin", GoDir: "/usr/local/go/bin", DB: "/repo/runs/stylelab.db"}
}

func TestKernelSpec(t *testing.T) {
	c := testConfig(t)
	s := KernelSpec(c, "/usr/bin:/usr/local/go/bin:/bin::/usr/bin")
	if got, want := s.Env["PATH"], "/gopath/bin:/usr/local/go/bin:/usr/bin:/bin"; got != want {
		t.Errorf("PATH = %q, want %q (tools, go, then the rest without duplicates or empties)", got, want)
	}
	if s.Argv[0] != "/gopath/bin/gonb" || s.Argv[1] != "--kernel" || s.Argv[2] != "{connection_file}" {
		t.Errorf("argv = %v", s.Argv)
	}
	if s.DisplayName != "Go (stylelab)" || s.Env["STYLELAB_ROOT"] != "/repo" || s.Env["STYLELAB_DB"] != "/repo/runs/stylelab.db" || s.Env["GOMLX_NO_AUTO_INSTALL"] != "1" {
		t.Errorf("spec = %+v", s)
	}
	if _, set := s.Env["GOMLX_BACKEND"]; set {
		t.Error("the kernelspec must leave the backend choice to backends/backend")
	}
}

func TestWriteKernelSpecIdempotent(t *testing.T) {
	c := testConfig(t)
	for i, want := range []bool{true, false} {
		wrote, err := WriteKernelSpec(c, "/bin")
		if err != nil || wrote != want {
			t.Fatalf("write %d: wrote=%v err=%v, want wrote=%v", i, wrote, err, want)
		}
	}
	got, err := ReadKernelSpec(c)
	if err != nil {
		t.Fatal(err)
	}
	if got.Env["STYLELAB_DB"] != c.DB || got.Argv[0] != c.ToolPath("gonb") {
		t.Errorf("round trip: %+v", got)
	}
	c.DB = "/elsewhere.db"
	if wrote, err := WriteKernelSpec(c, "/bin"); err != nil || !wrote {
		t.Errorf("a changed database was not rewritten: %v %v", wrote, err)
	}
}

func find(cs []Check, prefix string) Check {
	for _, c := range cs {
		if strings.HasPrefix(c.Name, prefix) {
			return c
		}
	}
	return Check{Name: "not found: " + prefix}
}

func TestDoctorNamesFixes(t *testing.T) {
	c, err := Detect(repoRoot(t))
	if err != nil {
		t.Fatal(err)
	}
	c.DataDir = t.TempDir()
	c.BinDir = t.TempDir() // no tools there
	t.Setenv("JUPYTER_DATA_DIR", c.DataDir)
	t.Setenv("JUPYTER_PATH", c.DataDir)
	cs := Doctor(c)
	for _, name := range []string{"gonb", "goimports", "kernelspec"} {
		ch := find(cs, name)
		if ch.OK || !strings.Contains(ch.Fix, "stylelab kernel install") {
			t.Errorf("%s: %+v, want a failure whose fix is stylelab kernel install", name, ch)
		}
	}
	if ch := find(cs, "go.mod requires GoNB"); !ch.OK {
		t.Errorf("the repository's go.mod: %+v", ch)
	}
	// A kernelspec written for another clone is reported with what is wrong.
	other := c
	other.Root = "/another/clone"
	if _, err := WriteKernelSpec(other, ""); err != nil {
		t.Fatal(err)
	}
	ch := find(Doctor(c), "kernelspec")
	if ch.OK || !strings.Contains(ch.Detail, "/another/clone") {
		t.Errorf("stale kernelspec: %+v", ch)
	}
	var buf bytes.Buffer
	if n := PrintChecks(&buf, cs); n == 0 || !strings.Contains(buf.String(), "fix: stylelab kernel install") {
		t.Errorf("PrintChecks counted %d failures:\n%s", n, buf.String())
	}
}

// TestInstallIdempotent installs the kernelspec into a temporary Jupyter data dir twice, without apt; it needs the
// Debian packages and tools already present (make deps).
func TestInstallIdempotent(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: runs jupyter and dpkg-query several times")
	}
	c, err := Detect(repoRoot(t))
	if err != nil {
		t.Fatal(err)
	}
	if m, err := MissingPackages(KernelPackages); err != nil || len(m) > 0 {
		t.Fatalf("Debian packages missing (%v %v): make deps installs them", m, err)
	}
	for _, tl := range Tools {
		if _, err := os.Stat(c.ToolPath(tl.Name)); err != nil {
			t.Fatalf("%s missing: make deps installs it", c.ToolPath(tl.Name))
		}
	}
	c.DataDir = t.TempDir()
	t.Setenv("JUPYTER_DATA_DIR", c.DataDir)
	t.Setenv("JUPYTER_PATH", c.DataDir)
	var log bytes.Buffer
	if err := Install(c, Options{NoApt: true, Log: &log}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(log.String(), "write     kernelspec") {
		t.Errorf("first install did not say it wrote the kernelspec:\n%s", log.String())
	}
	log.Reset()
	if err := Install(c, Options{NoApt: true, Log: &log}); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(log.String(), "install ") || strings.Contains(log.String(), "write ") {
		t.Errorf("second install did something:\n%s", log.String())
	}
	for _, ch := range Doctor(c) {
		if !ch.OK {
			t.Errorf("after install, doctor: %+v", ch)
		}
	}
}
