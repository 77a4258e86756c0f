package setup

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestKernelConformance runs kernel/conformance/test_kernel.py (python3-jupyter-kernel-test) against the
// installed "stylelab" kernelspec: kernel info, stdout, stderr, display data (gonbui and nbui), errors, and the
// kernelspec's environment reaching cells. Without -short, anything missing is a failure naming the fix.
func TestKernelConformance(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: the conformance run starts the kernel and builds cells")
	}
	root := repoRoot(t)
	c, err := Detect(root)
	if err != nil {
		t.Fatal(err)
	}
	var missing []string
	for _, ch := range Doctor(c) {
		if !ch.OK {
			missing = append(missing, ch.Name+": "+ch.Detail+" (fix: "+ch.Fix+")")
		}
	}
	if len(missing) > 0 {
		t.Fatalf("the notebook kernel is not installed for this repository; `make deps` installs it:\n%s", strings.Join(missing, "\n"))
	}
	py := "/usr/bin/python3"
	if err := exec.Command(py, "-c", "import jupyter_kernel_test").Run(); err != nil {
		t.Fatalf("%s cannot import jupyter_kernel_test (%v): make deps installs python3-jupyter-kernel-test", py, err)
	}
	cmd := exec.Command(py, "-m", "unittest", "-v", "test_kernel")
	cmd.Dir = filepath.Join(root, "kernel", "conformance")
	cmd.Env = append(os.Environ(), "PYTHONDONTWRITEBYTECODE=1")
	out, err := cmd.CombinedOutput()
	// GoNB logs every cell at INFO level to stderr; keep the unittest lines.
	var keep []string
	for _, l := range strings.Split(string(out), "\n") {
		if l = klogLine.ReplaceAllString(l, ""); strings.TrimSpace(l) != "" {
			keep = append(keep, l)
		}
	}
	report := strings.Join(keep, "\n")
	if err != nil {
		t.Fatalf("kernel conformance failed: %v\n%s", err, report)
	}
	if !strings.Contains(report, "OK") {
		t.Fatalf("unittest did not report OK:\n%s", report)
	}
	t.Logf("\n%s", report)
}

// klogLine matches a GoNB log record ("I1125 21:27:03.760249   26119 jpyexec.go:182] ..."), also when it
// follows unittest's "test_x ... " on the same line.
var klogLine = regexp.MustCompile(`[IWEF]\d{4} \d\d:\d\d:\d\d\.\d+\s+\d+ [^\]]+\] .*$`)
