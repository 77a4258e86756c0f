package setup

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Check is the verdict on one piece of the notebook set-up.
type Check struct {
	Name   string // what was checked
	OK     bool
	Detail string // what was found
	Fix    string // the command or action that fixes it (when !OK)
}

// Doctor checks each piece Install provides, plus what the notebooks need from the repository, and names the fix
// for each one that is missing. It changes nothing.
func Doctor(c Config) []Check {
	const fix = "stylelab kernel install (or: make deps)"
	var cs []Check
	add := func(name string, ok bool, detail, fix string) {
		cs = append(cs, Check{Name: name, OK: ok, Detail: detail, Fix: fix})
	}

	missing, err := MissingPackages(KernelPackages)
	switch {
	case err != nil:
		add("Debian packages", false, err.Error(), "install Jupyter notebook, nbconvert and nbclient")
	case len(missing) > 0:
		add("Debian packages", false, "missing: "+strings.Join(missing, " "), fix+"; or apt-get install "+strings.Join(missing, " "))
	default:
		add("Debian packages", true, strings.Join(KernelPackages, " "), "")
	}
	if p, err := exec.LookPath("jupyter"); err != nil {
		add("jupyter command", false, "not on PATH", fix)
	} else {
		add("jupyter command", true, p, "")
	}

	pinned, perr := PinnedVersions(c.Root)
	for _, t := range Tools {
		name := t.Name + " " + pinnedOr(pinned, t.Module)
		p := c.ToolPath(t.Name)
		v, err := InstalledVersion(p, t.Module)
		switch {
		case perr != nil:
			add(name, false, perr.Error(), "restore tools/go.mod")
		case err != nil:
			add(name, false, fmt.Sprintf("%s: %v", p, err), fix)
		case v != pinned[t.Module]:
			add(name, false, fmt.Sprintf("%s is %s, pinned %s", p, v, pinned[t.Module]), fix)
		default:
			add(name, true, p, "")
		}
	}

	kj := filepath.Join(c.KernelDir(), "kernel.json")
	spec, err := ReadKernelSpec(c)
	if err != nil {
		add("kernelspec "+KernelName, false, err.Error(), fix)
	} else {
		var probs []string
		if len(spec.Argv) == 0 || spec.Argv[0] != c.ToolPath("gonb") {
			probs = append(probs, fmt.Sprintf("argv %v does not start with %s", spec.Argv, c.ToolPath("gonb")))
		}
		if spec.Env["STYLELAB_ROOT"] != c.Root {
			probs = append(probs, fmt.Sprintf("STYLELAB_ROOT=%q, this repository is %s", spec.Env["STYLELAB_ROOT"], c.Root))
		}
		if spec.Env["STYLELAB_DB"] == "" {
			probs = append(probs, "STYLELAB_DB is not set")
		}
		path := filepath.SplitList(spec.Env["PATH"])
		for _, d := range []string{c.GoDir, c.BinDir} {
			if !contains(path, d) {
				probs = append(probs, "PATH lacks "+d)
			}
		}
		if len(probs) > 0 {
			add("kernelspec "+KernelName, false, kj+": "+strings.Join(probs, "; "), fix)
		} else {
			add("kernelspec "+KernelName, true, fmt.Sprintf("%s (STYLELAB_DB=%s)", kj, spec.Env["STYLELAB_DB"]), "")
		}
	}
	if dir, err := JupyterSees(); err != nil {
		add("Jupyter finds the kernel", false, err.Error(), fix)
	} else if filepath.Clean(dir) != filepath.Clean(c.KernelDir()) {
		add("Jupyter finds the kernel", false, fmt.Sprintf("Jupyter uses %s, not %s (another kernelspec named %q comes first on JUPYTER_PATH)", dir, c.KernelDir(), KernelName), "remove the other one: jupyter kernelspec remove "+KernelName+", then "+fix)
	} else {
		add("Jupyter finds the kernel", true, dir, "")
	}

	if gomod, err := os.ReadFile(filepath.Join(c.Root, "go.mod")); err != nil {
		add("go.mod requires GoNB", false, err.Error(), "run from a clone of the repository")
	} else if want := "github.com/janpfeifer/gonb " + pinnedOr(pinned, Tools[0].Module); !strings.Contains(string(gomod), want) {
		add("go.mod requires GoNB", false, "go.mod lacks "+want+" (cells import gonbui through this module)", "go get "+strings.Replace(want, " ", "@", 1))
	} else {
		add("go.mod requires GoNB", true, want, "")
	}
	return cs
}

// JupyterSees returns the folder of the kernelspec that Jupyter itself resolves for KernelName
// (`jupyter kernelspec list --json`).
func JupyterSees() (string, error) {
	out, err := exec.Command("jupyter", "kernelspec", "list", "--json").Output()
	if err != nil {
		return "", fmt.Errorf("jupyter kernelspec list: %v", err)
	}
	var l struct {
		Kernelspecs map[string]struct {
			ResourceDir string `json:"resource_dir"`
		} `json:"kernelspecs"`
	}
	if err := json.Unmarshal(out, &l); err != nil {
		return "", fmt.Errorf("jupyter kernelspec list --json: %v", err)
	}
	k, ok := l.Kernelspecs[KernelName]
	if !ok {
		return "", fmt.Errorf("Jupyter lists no kernel named %q", KernelName)
	}
	return k.ResourceDir, nil
}

// PrintChecks writes one line per check ("ok" or "MISSING", then the fix) and returns the number that failed.
func PrintChecks(w io.Writer, cs []Check) int {
	bad := 0
	for _, c := range cs {
		if c.OK {
			fmt.Fprintf(w, "ok       %-26s %s\n", c.Name, c.Detail)
			continue
		}
		bad++
		fmt.Fprintf(w, "MISSING  %-26s %s\n         fix: %s\n", c.Name, c.Detail, c.Fix)
	}
	return bad
}

func pinnedOr(p map[string]string, m string) string {
	if v := p[m]; v != "" {
		return v
	}
	return "(unpinned)"
}

func contains(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}
