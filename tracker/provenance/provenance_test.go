package provenance

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
)

func TestHashFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "in.txt")
	if err := os.WriteFile(p, []byte("abc"), 0o644); err != nil {
		t.Fatal(err)
	}
	sum, n, err := HashFile(p)
	if err != nil {
		t.Fatal(err)
	}
	// FIPS 180-2 test vector for "abc".
	if sum != "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" || n != 3 {
		t.Errorf("HashFile = %s, %d", sum, n)
	}
	if _, _, err := HashFile(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Error("HashFile of a missing file succeeded")
	}
	var r Record
	if err := r.AddFile("", p); err != nil {
		t.Fatal(err)
	}
	if len(r.Inputs) != 1 || r.Inputs[0].Role != "in.txt" || !filepath.IsAbs(r.Inputs[0].Path) || r.Inputs[0].SHA256 != sum {
		t.Errorf("AddFile recorded %+v", r.Inputs)
	}
}

func git(t *testing.T, dir string, args ...string) {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.com",
		"GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.com", "GIT_CONFIG_GLOBAL=/dev/null")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("git %v: %v\n%s", args, err, out)
	}
}

func TestCollectGit(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git not installed")
	}
	dir := t.TempDir()
	git(t, dir, "init", "-q", "-b", "main")
	if err := os.WriteFile(filepath.Join(dir, "a.go"), []byte("package a\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	git(t, dir, "add", "a.go")
	git(t, dir, "commit", "-q", "-m", "first")

	clean := Collect(Options{Dir: dir})
	if clean.Git == nil {
		t.Fatalf("no git info: %s", clean.GitAbsent)
	}
	if !regexp.MustCompile(`^[0-9a-f]{40}$`).MatchString(clean.Git.Commit) || clean.Git.Dirty || clean.Git.Diff != "" || clean.Git.Branch != "main" {
		t.Errorf("clean tree recorded as %+v", clean.Git)
	}

	if err := os.WriteFile(filepath.Join(dir, "a.go"), []byte("package a\n\nvar X = 42\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	dirty := Collect(Options{Dir: dir})
	if dirty.Git == nil || !dirty.Git.Dirty || !strings.Contains(dirty.Git.Diff, "+var X = 42") || dirty.Git.Commit != clean.Git.Commit {
		t.Fatalf("dirty tree recorded as %+v", dirty.Git)
	}
	tags := dirty.Tags()
	if tags["provenance.git.dirty"] != "true" || tags["provenance.git.commit"] != clean.Git.Commit || len(tags["provenance.git.diff_sha256"]) != 64 {
		t.Errorf("tags: %v", tags)
	}

	cut := Collect(Options{Dir: dir, MaxDiff: 10})
	if len(cut.Git.Diff) != 10 || !cut.Git.DiffTruncated {
		t.Errorf("MaxDiff not applied: %d bytes, truncated=%v", len(cut.Git.Diff), cut.Git.DiffTruncated)
	}
}

func TestCollectWithoutGit(t *testing.T) {
	outside := Collect(Options{Dir: t.TempDir()})
	if outside.Git != nil || outside.GitAbsent == "" {
		t.Errorf("outside a repository: Git=%+v absent=%q", outside.Git, outside.GitAbsent)
	}
	t.Setenv("PATH", t.TempDir()) // no git binary to be found
	r := Collect(Options{})
	if r.Git != nil || r.GitAbsent != "git not installed" {
		t.Errorf("without git: Git=%+v absent=%q", r.Git, r.GitAbsent)
	}
	if r.Tags()["provenance.git"] != "absent: git not installed" {
		t.Errorf("tag provenance.git = %q", r.Tags()["provenance.git"])
	}
	// The machine facts are there regardless.
	if r.GoVersion == "" || r.OS != runtime.GOOS || r.Cores != runtime.NumCPU() || len(r.CommandLine) == 0 || r.Time.IsZero() {
		t.Errorf("machine facts missing: %+v", r)
	}
}

func TestTagsAndJSON(t *testing.T) {
	r := Collect(Options{NoGit: true})
	r.SetSeed(7)
	r.Backend, r.Device, r.Notebook = "go", "CPU", "explore.ipynb"
	r.WeightsSource, r.WeightsSHA256 = "random(seed=7)", strings.Repeat("ab", 32)
	if err := r.SetConfig(map[string]any{"steps": 10, "loss": "gram"}); err != nil {
		t.Fatal(err)
	}
	r.Inputs = []Input{{Role: "content", Path: "/x/c.png", SHA256: "00", Size: 5}}
	tags := r.Tags()
	want := map[string]string{
		"provenance.seed": "7", "provenance.backend": "go", "provenance.device": "CPU",
		"provenance.notebook": "explore.ipynb", "provenance.weights.source": "random(seed=7)",
		"provenance.input.content.sha256": "00", "provenance.input.content.path": "/x/c.png",
		"provenance.input.content.size": "5", "provenance.config": `{"loss":"gram","steps":10}`,
		"provenance.git": "absent: not collected (NoGit)",
	}
	for k, v := range want {
		if tags[k] != v {
			t.Errorf("tag %s = %q, want %q", k, tags[k], v)
		}
	}
	var back Record
	if err := json.Unmarshal(r.JSON(), &back); err != nil {
		t.Fatal(err)
	}
	var cfg bytes.Buffer
	if err := json.Compact(&cfg, back.Config); err != nil {
		t.Fatal(err)
	}
	if back.Seed == nil || *back.Seed != 7 || cfg.String() != `{"loss":"gram","steps":10}` || back.Inputs[0] != r.Inputs[0] {
		t.Errorf("JSON round trip lost data: %+v", back)
	}
}

func TestShellJoin(t *testing.T) {
	got := ShellJoin([]string{"stylelab", "run", "--style", "a b.jpg", "it's", ""})
	want := `stylelab run --style 'a b.jpg' 'it'\''s' ''`
	if got != want {
		t.Errorf("ShellJoin = %s, want %s", got, want)
	}
	if sh, err := exec.LookPath("sh"); err == nil {
		out, err := exec.Command(sh, "-c", "printf '%s|' "+got).Output()
		if err != nil || string(out) != "stylelab|run|--style|a b.jpg|it's||" {
			t.Errorf("shell splits %s into %q (%v)", got, out, err)
		}
	}
}
