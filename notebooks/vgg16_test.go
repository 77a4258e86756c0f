package notebooks

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stylelab/stylelab/kernel/setup"
	"github.com/stylelab/stylelab/tracker"
)

// TestNotebook01VGG16 executes notebook 01 on VGG-16 ($STYLELAB_VGG_NET=vgg16, as `--net vgg16` on the CLI) at a
// tiny size (32 px, 2 steps): it runs without error, shows its images, charts and the gram = mmd-poly identity,
// and every run it records used VGG-16 (the spec's weights.net and the provenance tag provenance.weights.net).
func TestNotebook01VGG16(t *testing.T) {
	env, dir := nbEnv(t)
	env = append(env, "STYLELAB_VGG_NET=vgg16", "STYLELAB_NB_SIZE=32", "STYLELAB_NB_STEPS=2", "STYLELAB_VGG_WEIGHTS=")
	work := filepath.Join(dir, "notebooks")
	if err := os.MkdirAll(work, 0o755); err != nil {
		t.Fatal(err)
	}
	nb := losses01()
	src, err := os.ReadFile(nb.File)
	if err != nil {
		t.Fatal(err)
	}
	in := filepath.Join(work, nb.File)
	if err := os.WriteFile(in, src, 0o644); err != nil {
		t.Fatal(err)
	}
	out := "executed-" + nb.File
	cmd := exec.Command("jupyter", "nbconvert", "--to", "notebook", "--execute",
		"--ExecutePreprocessor.timeout=900", "--ExecutePreprocessor.kernel_name="+setup.KernelName, "--output", out, in)
	cmd.Dir, cmd.Env = work, env
	start := time.Now()
	log, err := cmd.CombinedOutput()
	t.Logf("%s on VGG-16 executed in %.1f s", nb.File, time.Since(start).Seconds())
	if err != nil {
		t.Fatalf("jupyter nbconvert --execute %s: %v\n%s", nb.File, err, tail(string(log), 6000))
	}
	b, err := os.ReadFile(filepath.Join(work, out))
	if err != nil {
		t.Fatal(err)
	}
	checkOutputs(t, nb.File, b)

	st, err := tracker.OpenReadOnly(filepath.Join(dir, "runs", "stylelab.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	runs, err := st.Search("", "", 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(runs) < 5 {
		t.Fatalf("%d runs recorded, want the 5 losses", len(runs))
	}
	for _, r := range runs {
		if r.Tags["provenance.weights.net"] != "vgg16" {
			t.Errorf("run %s (%s) has provenance.weights.net %q, want vgg16", r.ID, r.Name, r.Tags["provenance.weights.net"])
		}
		if !strings.Contains(r.Tags["provenance.weights.source"], "vgg16") {
			t.Errorf("run %s has provenance.weights.source %q", r.ID, r.Tags["provenance.weights.source"])
		}
	}
}
