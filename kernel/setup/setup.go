// Package setup installs and checks the GoNB Jupyter kernel for this repository.
//
// The kernel is GoNB (pinned in tools/go.mod, installed with `go install tool` inside tools/) registered as a
// Jupyter kernelspec named "stylelab" ("Go (stylelab)") whose environment makes the notebooks in notebooks/ work:
// STYLELAB_ROOT (the repository, for the first cell's `go mod edit -replace`), STYLELAB_DB (the tracker database),
// GOMLX_NO_AUTO_INSTALL=1 (nothing downloads a PJRT plugin behind the user's back) and a PATH that holds go and the
// tools. The GoMLX backend is deliberately not set: backends/backend chooses it, and GOMLX_BACKEND set where
// Jupyter starts still reaches the cells.
//
// Jupyter itself comes from Debian packages (there is no PyPI here); Install runs one `apt-get install` for
// whatever is missing.
package setup

import (
	"bufio"
	"bytes"
	"debug/buildinfo"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

const (
	// KernelName is the kernelspec's folder name (what notebooks name in metadata.kernelspec.name).
	KernelName = "stylelab"
	// DisplayName is what Jupyter shows in its kernel menu.
	DisplayName = "Go (stylelab)"
	// ModulePath is this repository's Go module.
	ModulePath = "github.com/stylelab/stylelab"
)

// Tool is one Go program pinned in tools/go.mod.
type Tool struct {
	Name   string // binary name
	Pkg    string // main package path
	Module string // module that holds Pkg (its version is the pinned one)
}

// Tools are the programs the kernel needs: GoNB itself and goimports, which GoNB runs on every cell.
var Tools = []Tool{
	{Name: "gonb", Pkg: "github.com/janpfeifer/gonb", Module: "github.com/janpfeifer/gonb"},
	{Name: "goimports", Pkg: "golang.org/x/tools/cmd/goimports", Module: "golang.org/x/tools"},
}

// KernelPackages are the Debian packages the kernel and `make notebook` need.
var KernelPackages = []string{"jupyter-core", "jupyter-client", "jupyter-nbconvert", "jupyter-notebook", "python3-nbclient"}

// TestPackages are the extra Debian packages the repository's tests need: the kernel conformance test, Chromium for
// the dashboard's browser test, Debian's docker-compose to validate docker-compose.yml without a Docker engine, and
// OpenBLAS, which backends/gemm loads at run time (dlopen) for the CPU backend's matrix products; the
// PostgreSQL server, which the tracker's tests start in a temporary folder (tracker/pgtest); slurm-wlm and munge:
// the single-node Slurm cluster the sweep tests start (scripts/local-cluster.sh); python3-torch, with which the
// weights tests write .pth files and compute PyTorch's outputs (experiments/pth/torchtest); python3-scipy and
// python3-skimage: the reference values experiments/study's statistics and SSIM are tested against.
var TestPackages = []string{"python3-jupyter-kernel-test", "chromium", "chromium-driver", "docker-compose", "libopenblas0-pthread",
	"postgresql", "slurm-wlm", "munge", "python3-torch", "python3-scipy", "python3-skimage"}

// Config says where everything lives. Detect fills it; every path is absolute.
type Config struct {
	Root    string // repository root (holds go.mod of ModulePath, tools/, notebooks/)
	DataDir string // Jupyter data dir; the kernelspec goes to DataDir/kernels/KernelName
	BinDir  string // where `go install tool` puts gonb and goimports
	GoDir   string // folder holding the go command
	DB      string // tracker database the notebooks record to
}

// KernelDir is the kernelspec folder.
func (c Config) KernelDir() string { return filepath.Join(c.DataDir, "kernels", KernelName) }

// ToolPath is where the named tool is installed.
func (c Config) ToolPath(name string) string { return filepath.Join(c.BinDir, name) }

// FindRoot walks up from dir to the folder whose go.mod declares ModulePath.
func FindRoot(dir string) (string, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	for d := dir; ; d = filepath.Dir(d) {
		if b, err := os.ReadFile(filepath.Join(d, "go.mod")); err == nil && modulePath(b) == ModulePath {
			return d, nil
		}
		if filepath.Dir(d) == d {
			return "", fmt.Errorf("no stylelab repository (go.mod of %s) at or above %s: run this from a clone or pass --repo", ModulePath, dir)
		}
	}
}

func modulePath(gomod []byte) string {
	sc := bufio.NewScanner(bytes.NewReader(gomod))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) >= 2 && f[0] == "module" {
			return strings.Trim(f[1], `"`)
		}
	}
	return ""
}

// DefaultDataDir is $JUPYTER_DATA_DIR, else ~/.local/share/jupyter (where Jupyter looks for user kernelspecs).
func DefaultDataDir() (string, error) {
	if d := os.Getenv("JUPYTER_DATA_DIR"); d != "" {
		return filepath.Abs(d)
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("cannot find the Jupyter data dir: %v (set JUPYTER_DATA_DIR)", err)
	}
	return filepath.Join(home, ".local", "share", "jupyter"), nil
}

// Detect fills a Config for the repository at root ("" = find it from the working directory): the Jupyter data dir
// from DefaultDataDir, the tools dir from `go env GOBIN` or the first GOPATH entry + /bin, the go command's folder
// from PATH, and the database from STYLELAB_DB or root/runs/stylelab.db.
func Detect(root string) (Config, error) {
	var c Config
	var err error
	if root == "" {
		wd, err := os.Getwd()
		if err != nil {
			return c, err
		}
		if root, err = FindRoot(wd); err != nil {
			return c, err
		}
	}
	if c.Root, err = filepath.Abs(root); err != nil {
		return c, err
	}
	if c.DataDir, err = DefaultDataDir(); err != nil {
		return c, err
	}
	goCmd, err := exec.LookPath("go")
	if err != nil {
		return c, errors.New("the go command is not on PATH: install Go 1.26 (https://go.dev/doc/install) and add its bin folder to PATH")
	}
	if goCmd, err = filepath.EvalSymlinks(goCmd); err != nil {
		return c, err
	}
	c.GoDir = filepath.Dir(goCmd)
	out, err := exec.Command(goCmd, "env", "GOBIN", "GOPATH").Output()
	if err != nil {
		return c, fmt.Errorf("go env GOBIN GOPATH: %v", err)
	}
	lines := strings.Split(strings.TrimRight(string(out), "\n"), "\n")
	switch {
	case len(lines) >= 1 && lines[0] != "":
		c.BinDir = lines[0]
	case len(lines) >= 2 && lines[1] != "":
		c.BinDir = filepath.Join(filepath.SplitList(lines[1])[0], "bin")
	default:
		return c, errors.New("go env reports neither GOBIN nor GOPATH: set GOBIN to where Go tools are installed")
	}
	if db := os.Getenv("STYLELAB_DB"); db != "" {
		c.DB, err = filepath.Abs(db)
	} else {
		c.DB = filepath.Join(c.Root, "runs", "stylelab.db")
	}
	return c, err
}

// PinnedVersions reads the versions of Tools' modules from tools/go.mod (a plain scan of its require lines:
// "MODULE VERSION").
func PinnedVersions(root string) (map[string]string, error) {
	p := filepath.Join(root, "tools", "go.mod")
	b, err := os.ReadFile(p)
	if err != nil {
		return nil, fmt.Errorf("the pinned tools module is missing (%v): restore tools/go.mod from the repository", err)
	}
	want := map[string]bool{}
	for _, t := range Tools {
		want[t.Module] = true
	}
	v := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := strings.Fields(strings.TrimPrefix(strings.TrimSpace(sc.Text()), "require "))
		if len(f) >= 2 && want[f[0]] {
			v[f[0]] = f[1]
		}
	}
	for m := range want {
		if v[m] == "" {
			return nil, fmt.Errorf("%s does not require %s: restore tools/go.mod from the repository", p, m)
		}
	}
	return v, nil
}

// InstalledVersion returns the version of module recorded in the Go binary at path (its build info), or an error
// when the file is missing or is not a Go binary built with that module.
func InstalledVersion(path, module string) (string, error) {
	bi, err := buildinfo.ReadFile(path)
	if err != nil {
		return "", err
	}
	if bi.Main.Path == module {
		return bi.Main.Version, nil
	}
	for _, d := range bi.Deps {
		if d.Path == module {
			if d.Replace != nil {
				return d.Replace.Version, nil
			}
			return d.Version, nil
		}
	}
	return "", fmt.Errorf("%s was not built from %s", path, module)
}

// Spec is a Jupyter kernel.json (https://jupyter-client.readthedocs.io/en/latest/kernels.html#kernel-specs).
type Spec struct {
	Argv          []string          `json:"argv"`
	DisplayName   string            `json:"display_name"`
	Language      string            `json:"language"`
	InterruptMode string            `json:"interrupt_mode"`
	Env           map[string]string `json:"env"`
	Metadata      map[string]string `json:"metadata,omitempty"`
}

// KernelSpec is the kernelspec for c. PATH is BinDir, GoDir, then pathEnv (the installing shell's PATH) without
// duplicates: written out in full because older jupyter_client versions do not expand ${PATH} in kernel.json.
func KernelSpec(c Config, pathEnv string) Spec {
	seen := map[string]bool{}
	var dirs []string
	for _, d := range append([]string{c.BinDir, c.GoDir}, filepath.SplitList(pathEnv)...) {
		if d != "" && !seen[d] {
			seen[d] = true
			dirs = append(dirs, d)
		}
	}
	return Spec{
		Argv:          []string{c.ToolPath("gonb"), "--kernel", "{connection_file}"},
		DisplayName:   DisplayName,
		Language:      "go",
		InterruptMode: "message",
		Env: map[string]string{
			"PATH":                  strings.Join(dirs, string(os.PathListSeparator)),
			"STYLELAB_ROOT":         c.Root,
			"STYLELAB_DB":           c.DB,
			"GOMLX_NO_AUTO_INSTALL": "1",
		},
		Metadata: map[string]string{"installed_by": "stylelab kernel install"},
	}
}

// WriteKernelSpec writes KernelSpec(c, pathEnv) to c.KernelDir()/kernel.json unless an identical file is there.
// It reports whether it wrote.
func WriteKernelSpec(c Config, pathEnv string) (bool, error) {
	b, err := json.MarshalIndent(KernelSpec(c, pathEnv), "", "  ")
	if err != nil {
		return false, err
	}
	b = append(b, '\n')
	p := filepath.Join(c.KernelDir(), "kernel.json")
	if old, err := os.ReadFile(p); err == nil && bytes.Equal(old, b) {
		return false, nil
	}
	if err := os.MkdirAll(c.KernelDir(), 0o755); err != nil {
		return false, fmt.Errorf("cannot create the kernelspec folder: %v", err)
	}
	if err := os.WriteFile(p, b, 0o644); err != nil {
		return false, fmt.Errorf("cannot write the kernelspec: %v", err)
	}
	return true, nil
}

// ReadKernelSpec reads c.KernelDir()/kernel.json.
func ReadKernelSpec(c Config) (Spec, error) {
	var s Spec
	b, err := os.ReadFile(filepath.Join(c.KernelDir(), "kernel.json"))
	if err != nil {
		return s, err
	}
	if err := json.Unmarshal(b, &s); err != nil {
		return s, fmt.Errorf("%s/kernel.json is not valid JSON: %v", c.KernelDir(), err)
	}
	return s, nil
}

// MissingPackages returns those of pkgs that dpkg does not report as installed ("ii"). Without dpkg (not Debian)
// it returns an error naming the packages to install by other means.
func MissingPackages(pkgs []string) ([]string, error) {
	if _, err := exec.LookPath("dpkg-query"); err != nil {
		return nil, fmt.Errorf("dpkg-query not found: this is not a Debian-like system; install Jupyter (notebook, nbconvert, nbclient) another way, then run `stylelab kernel install --no-apt`")
	}
	var missing []string
	for _, p := range pkgs {
		out, _ := exec.Command("dpkg-query", "-W", "-f=${db:Status-Abbrev}", p).Output()
		if !strings.HasPrefix(string(out), "ii") {
			missing = append(missing, p)
		}
	}
	return missing, nil
}

// Options tune Install.
type Options struct {
	NoApt        bool      // never call apt-get (fail if Debian packages are missing)
	TestPackages bool      // also install TestPackages
	Log          io.Writer // one line per thing done or found (nil: discard)
}

// Install makes c complete and says what it did, one line per piece: the Debian packages (one apt-get call for all
// that are missing, through sudo when not root), the pinned tools (`go install tool` inside tools/ with
// GOBIN=c.BinDir, only when a binary is missing or of another version) and the kernelspec (written only when it
// differs). Running it twice does nothing the second time.
func Install(c Config, o Options) error {
	log := o.Log
	if log == nil {
		log = io.Discard
	}
	pkgs := append([]string(nil), KernelPackages...)
	if o.TestPackages {
		pkgs = append(pkgs, TestPackages...)
	}
	missing, err := MissingPackages(pkgs)
	if err != nil {
		return err
	}
	switch {
	case len(missing) == 0:
		fmt.Fprintf(log, "ok        Debian packages present: %s\n", strings.Join(pkgs, " "))
	case o.NoApt:
		return fmt.Errorf("Debian packages missing: %s (install them: apt-get install %s)", strings.Join(missing, " "), strings.Join(missing, " "))
	default:
		fmt.Fprintf(log, "install   Debian packages: %s\n", strings.Join(missing, " "))
		if err := aptInstall(missing, log); err != nil {
			return err
		}
	}

	pinned, err := PinnedVersions(c.Root)
	if err != nil {
		return err
	}
	var stale []string
	for _, t := range Tools {
		if v, err := InstalledVersion(c.ToolPath(t.Name), t.Module); err != nil || v != pinned[t.Module] {
			stale = append(stale, t.Name)
		}
	}
	if len(stale) == 0 {
		fmt.Fprintf(log, "ok        tools in %s: gonb %s, goimports %s\n", c.BinDir, pinned[Tools[0].Module], pinned[Tools[1].Module])
	} else {
		fmt.Fprintf(log, "install   %s into %s (go install tool in tools/)\n", strings.Join(stale, ", "), c.BinDir)
		cmd := exec.Command(filepath.Join(c.GoDir, "go"), "install", "tool")
		cmd.Dir = filepath.Join(c.Root, "tools")
		cmd.Env = append(os.Environ(), "GOBIN="+c.BinDir)
		cmd.Stdout, cmd.Stderr = log, log
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("go install tool (in tools/) failed: %v; check that the Go module proxy is reachable", err)
		}
		for _, t := range Tools {
			if v, err := InstalledVersion(c.ToolPath(t.Name), t.Module); err != nil || v != pinned[t.Module] {
				return fmt.Errorf("after go install, %s is %q, want %s (%v)", c.ToolPath(t.Name), v, pinned[t.Module], err)
			}
		}
	}

	wrote, err := WriteKernelSpec(c, os.Getenv("PATH"))
	if err != nil {
		return err
	}
	verb := "ok        kernelspec up to date"
	if wrote {
		verb = "write     kernelspec"
	}
	fmt.Fprintf(log, "%s %q (%s): %s, STYLELAB_DB=%s\n", verb, KernelName, DisplayName, filepath.Join(c.KernelDir(), "kernel.json"), c.DB)
	return nil
}

func aptInstall(pkgs []string, log io.Writer) error {
	if _, err := exec.LookPath("apt-get"); err != nil {
		return fmt.Errorf("apt-get not found; install these Debian packages yourself: %s", strings.Join(pkgs, " "))
	}
	var prefix []string
	if os.Geteuid() != 0 {
		if _, err := exec.LookPath("sudo"); err != nil {
			return fmt.Errorf("installing Debian packages needs root: run as root or install them: apt-get install %s", strings.Join(pkgs, " "))
		}
		prefix = []string{"sudo", "env", "DEBIAN_FRONTEND=noninteractive"}
	}
	wait, err := aptLockWait()
	if err != nil {
		return err
	}
	run := func(args ...string) error {
		// Another package manager (unattended upgrades on a fresh machine) may hold the dpkg lock: wait for
		// it, bounded, and let apt-get wait too for what cannot be seen from here.
		if err := WaitForLocks(AptLockFiles, wait, time.Second, log); err != nil {
			return err
		}
		args = append([]string{args[0], "-o", fmt.Sprintf("DPkg::Lock::Timeout=%d", int(wait.Seconds()))}, args[1:]...)
		all := append(append([]string(nil), prefix...), args...)
		cmd := exec.Command(all[0], all[1:]...)
		cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
		cmd.Stdout, cmd.Stderr = log, log
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("%s: %v", strings.Join(all, " "), err)
		}
		return nil
	}
	if err := run("apt-get", "update", "-qq"); err != nil {
		return err
	}
	return run(append([]string{"apt-get", "install", "-y", "-qq", "--no-install-recommends"}, pkgs...)...)
}
