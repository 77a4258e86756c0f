// Package torchtest finds Debian's python3-torch for tests that write PyTorch files, or compute PyTorch's own
// outputs, at test time.
//
// Skipping rule: a test that needs torch skips, saying why, when no python3 with torch is found — unless
// STYLELAB_REQUIRE_TORCH=1 (make test sets it; scripts/install-deps.sh installs python3-torch), which makes a
// missing torch a failure. The interpreter is $STYLELAB_PYTHON if set, else /usr/bin/python3 (Debian's, which
// has python3-torch; a pyenv or venv python3 earlier on PATH usually has not), else python3 on PATH.
package torchtest

import (
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
)

// EnvRequire is the variable that turns a missing torch into a failure.
const EnvRequire = "STYLELAB_REQUIRE_TORCH"

var (
	once   sync.Once
	found  string
	reason string
)

func find() {
	var cands []string
	if p := os.Getenv("STYLELAB_PYTHON"); p != "" {
		cands = append(cands, p)
	}
	cands = append(cands, "/usr/bin/python3")
	if p, err := exec.LookPath("python3"); err == nil {
		cands = append(cands, p)
	}
	var tried []string
	for _, c := range cands {
		out, err := exec.Command(c, "-c", "import torch, numpy; print(torch.__version__)").CombinedOutput()
		if err == nil {
			found = c
			return
		}
		tried = append(tried, c+": "+strings.TrimSpace(lastLine(string(out))))
	}
	reason = "no python3 with torch and numpy (" + strings.Join(tried, "; ") + "): apt-get install -y python3-torch"
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		return s[i+1:]
	}
	return s
}

// Python returns the path of a python3 that imports torch, or skips t (fails it with STYLELAB_REQUIRE_TORCH=1).
func Python(t testing.TB) string {
	t.Helper()
	once.Do(find)
	if found == "" {
		if os.Getenv(EnvRequire) != "" {
			t.Fatalf("%s is set but %s", EnvRequire, reason)
		}
		t.Skipf("PyTorch test skipped: %s; set %s=1 to make this a failure", reason, EnvRequire)
	}
	return found
}

// Run runs a Python script with the torch interpreter and returns its stdout; a failure fails t with the output.
func Run(t testing.TB, script string, args ...string) string {
	t.Helper()
	py := Python(t)
	cmd := exec.Command(py, append([]string{script}, args...)...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %s %s: %v\n%s", py, script, strings.Join(args, " "), err, stderr.String())
	}
	return string(out)
}
