package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// stylelabBin is the stylelab binary built once for the tests that exec it (TestMain).
var stylelabBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "stylelab-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	stylelabBin = filepath.Join(dir, "stylelab")
	// Runs record into a temporary tracker, never into the repository's runs/ folder.
	os.Setenv("STYLELAB_DB", filepath.Join(dir, "runs", "stylelab.db"))
	build := exec.Command("go", "build", "-o", stylelabBin, ".")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building stylelab for the tests:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// stylelabResult is the outcome of one exec of the binary.
type stylelabResult struct {
	stdout, stderr string
	code           int
}

// runStylelab execs the binary with args (and extra environment entries) and returns its outputs and exit code.
func runStylelab(t *testing.T, env []string, args ...string) stylelabResult {
	t.Helper()
	cmd := exec.Command(stylelabBin, args...)
	cmd.Env = append(os.Environ(), env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return stylelabResult{out.String(), errb.String(), code}
}

const (
	testContent = "../../images/content/chelsea.jpg"
	testStyle   = "../../images/style/vangogh_starry_night.jpg"
	testStyle2  = "../../images/style/munch_scream.jpg"
)

func TestRunConfigFromFlags(t *testing.T) {
	req, err := runConfigFromFlags([]string{"--content", "c.jpg", "--style", "a.jpg, b.png", "--style-weights", "0.25,0.75",
		"--loss", "meanvar", "--size", "64", "--steps", "7", "--optimizer", "lbfgs", "--seed", "9", "--out", "x/y.png",
		"--pool", "max", "--init", "noise", "--content-weight", "2", "--tv-weight", "0", "--json"})
	if err != nil {
		t.Fatal(err)
	}
	c := req.Config
	if req.Content != "c.jpg" || len(req.Styles) != 2 || req.Styles[1] != "b.png" || req.Out != "x/y.png" || !req.JSON {
		t.Fatalf("request %+v", req)
	}
	if c.Loss != "meanvar" || c.Size != 64 || c.Steps != 7 || c.Optimizer != "lbfgs" || c.Seed != 9 || c.Pool != "max" ||
		c.Init != "noise" || *c.ContentWeight != 2 || *c.TVWeight != 0 || c.LearningRate != 0 ||
		len(c.StyleBlend) != 2 || c.StyleBlend[1] != 0.75 {
		t.Fatalf("config %+v", c)
	}
	if *c.StyleWeight != 1 || c.LossOptions.Seed != 9 {
		t.Fatalf("style weight %g and loss seed %d must be resolved (meanvar's default weight is 1)", *c.StyleWeight, c.LossOptions.Seed)
	}
	// An explicit style weight, 0 included, is taken as given; unset, it is the loss's default.
	base := []string{"--content", "c.jpg", "--style", "a.jpg", "--out", "o.png", "--loss", "mmd-gauss"}
	for _, tc := range []struct {
		args []string
		want float64
	}{{nil, 1}, {[]string{"--style-weight", "0"}, 0}, {[]string{"--style-weight", "2.5"}, 2.5}} {
		req, err := runConfigFromFlags(append(append([]string{}, base...), tc.args...))
		if err != nil {
			t.Fatal(err)
		}
		if got := *req.Config.StyleWeight; got != tc.want {
			t.Errorf("%v: style weight %g, want %g", tc.args, got, tc.want)
		}
	}
	// L-BFGS does not use a learning rate: asking for one is a usage error, not silently ignored.
	_, err = runConfigFromFlags(append(append([]string{}, base...), "--optimizer", "lbfgs", "--lr", "0.5"))
	if !errors.As(err, new(usageError)) || !strings.Contains(err.Error(), "drop --lr") {
		t.Errorf("--lr with L-BFGS: %v, want a usage error", err)
	}
}

// TestRunBadInputs checks that each bad input gives its error, a non-zero exit and no output file.
func TestRunBadInputs(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty.jpg")
	os.WriteFile(empty, nil, 0o644)
	text := filepath.Join(dir, "notes.png")
	os.WriteFile(text, []byte("not an image"), 0o644)
	out := filepath.Join(dir, "sub", "out.png")
	base := func(extra ...string) []string {
		return append([]string{"run", "--content", testContent, "--style", testStyle, "--size", "32", "--steps", "2", "--out", out}, extra...)
	}
	for _, tc := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"missing content file", []string{"run", "--content", filepath.Join(dir, "nope.jpg"), "--style", testStyle, "--size", "32", "--out", out}, 1, "not found"},
		{"missing style file", []string{"run", "--content", testContent, "--style", testStyle + "," + filepath.Join(dir, "nope.png"), "--size", "32", "--out", out}, 1, "nope.png"},
		{"empty file", []string{"run", "--content", empty, "--style", testStyle, "--size", "32", "--out", out}, 1, "empty (0 bytes)"},
		{"text file", []string{"run", "--content", testContent, "--style", text, "--size", "32", "--out", out}, 1, "only PNG and JPEG"},
		{"unknown loss", base("--loss", "gramm"), 2, `unknown style loss "gramm"`},
		{"size 0", base("--size", "0"), 2, "--size must be between 16 and 4096 (got 0)"},
		{"weights count", base("--style-weights", "1,2"), 2, "--style-weights has 2 values for 1 style images"},
		{"bad optimizer", base("--optimizer", "sgd"), 2, "adam or lbfgs"},
		{"bad init", base("--init", "zeros"), 2, "content, noise, style"},
		{"bad pool", base("--pool", "median"), 2, `unknown pooling "median"`},
		{"no steps", base("--steps", "0"), 2, "--steps must be at least 1"},
		{"no out", []string{"run", "--content", testContent, "--style", testStyle}, 2, "--out required"},
		{"not png", []string{"run", "--content", testContent, "--style", testStyle, "--out", filepath.Join(dir, "x.jpg")}, 2, "--out must name a .png"},
		{"unknown flag", base("--colour", "red"), 2, "flag provided but not defined"},
		{"missing weights", base("--weights", filepath.Join(dir, "vgg.safetensors")), 1, "vgg.safetensors"},
	} {
		r := runStylelab(t, nil, tc.args...)
		if r.code != tc.code || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("%s: exit %d, stderr %q; want exit %d and %q", tc.name, r.code, r.stderr, tc.code, tc.want)
		}
		if _, err := os.Stat(out); !os.IsNotExist(err) {
			t.Fatalf("%s: %s was written", tc.name, out)
		}
	}
}

// TestRunTinyIsDeterministic runs 32 px, 3 steps twice with the same seed: --json parses, the image is written
// (in a new folder) and both runs give the same bytes.
func TestRunTinyIsDeterministic(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: end-to-end optimisation")
	}
	dir := t.TempDir()
	var outputs [][]byte
	for i := 0; i < 2; i++ {
		out := filepath.Join(dir, fmt.Sprintf("run%d", i), "out.png")
		r := runStylelab(t, nil, "run", "--content", testContent, "--style", testStyle, "--size", "32", "--steps", "3",
			"--seed", "5", "--init", "noise", "--out", out, "--json")
		if r.code != 0 {
			t.Fatalf("exit %d: %s", r.code, r.stderr)
		}
		var o struct {
			Output  string `json:"output"`
			Backend struct{ Name, Reason string }
			Steps   int
			Seed    uint64
			Loss    struct{ First, Last float64 }
			Weights struct{ Source, SHA256 string }
			Sps     float64 `json:"seconds_per_step"`
		}
		if err := json.Unmarshal([]byte(r.stdout), &o); err != nil {
			t.Fatalf("--json output does not parse: %v\n%s", err, r.stdout)
		}
		if o.Output != out || o.Steps != 3 || o.Seed != 5 || o.Backend.Name == "" || o.Backend.Reason == "" ||
			!(o.Loss.Last < o.Loss.First) || o.Weights.Source != "random(seed=0)" || len(o.Weights.SHA256) != 64 || !(o.Sps > 0) {
			t.Fatalf("unexpected --json output: %+v\n%s", o, r.stdout)
		}
		// Not a terminal: progress lines on stderr, first and last step included.
		if !strings.Contains(r.stderr, "step 0/3") || !strings.Contains(r.stderr, "step 3/3") {
			t.Errorf("stderr lacks progress lines: %q", r.stderr)
		}
		b, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		outputs = append(outputs, b)
	}
	if !bytes.Equal(outputs[0], outputs[1]) {
		t.Fatal("two runs with the same seed wrote different PNG bytes")
	}
}

// TestRunNaNStopSavesImage: a style weight beyond float32's range makes the loss +Inf at step 0; the run must
// exit 1 naming the step and the term, and still save the (initial) image it has.
func TestRunNaNStopSavesImage(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: end-to-end optimisation")
	}
	out := filepath.Join(t.TempDir(), "nan", "out.png")
	r := runStylelab(t, nil, "run", "--content", testContent, "--style", testStyle, "--size", "32", "--steps", "2",
		"--style-weight", "1e39", "--out", out, "--json")
	if r.code != 1 || !strings.Contains(r.stderr, "step 0: the total loss became +Inf") || !strings.Contains(r.stderr, "saved to "+out) {
		t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
	}
	var o struct{ Output, Error string }
	if err := json.Unmarshal([]byte(r.stdout), &o); err != nil || o.Output != out || !strings.Contains(o.Error, "+Inf") {
		t.Fatalf("--json output %q (%v)", r.stdout, err)
	}
	if _, err := os.Stat(out); err != nil {
		t.Fatalf("the image was not saved: %v", err)
	}
}

// TestRunRecordsSpecAndRerunReproduces: a tiny run is recorded; its saved spec runs again through --spec to the
// same bytes; `stylelab rerun` says identical (exit 0) and `runs diff` of the two runs shows no spec difference.
func TestRunRecordsSpecAndRerunReproduces(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: end-to-end optimisation")
	}
	dir := t.TempDir()
	db := filepath.Join(dir, "runs.db")
	specFile := filepath.Join(dir, "spec.json")
	out1 := filepath.Join(dir, "a.png")
	r := runStylelab(t, nil, "run", "--content", testContent, "--style", testStyle, "--size", "24", "--steps", "2",
		"--seed", "3", "--out", out1, "--db", db, "--save-spec", specFile, "--experiment", "cli-test", "--json")
	if r.code != 0 {
		t.Fatalf("run: exit %d: %s", r.code, r.stderr)
	}
	var o struct {
		RunID        string `json:"run_id"`
		DB           string `json:"db"`
		OutputSHA256 string `json:"output_sha256"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &o); err != nil || len(o.RunID) != 36 || o.DB == "" {
		t.Fatalf("--json lacks the run id: %v\n%s", err, r.stdout)
	}
	sum := sha256.Sum256(mustReadFile(t, out1))
	if hex.EncodeToString(sum[:]) != o.OutputSHA256 {
		t.Fatal("the output file differs from the recorded artifact")
	}

	// --spec with a conflicting flag is a usage error; as written it reproduces the bytes.
	if r := runStylelab(t, nil, "run", "--spec", specFile, "--loss", "meanvar"); r.code != 2 || !strings.Contains(r.stderr, "drop --loss") {
		t.Fatalf("--spec with --loss: exit %d, %s", r.code, r.stderr)
	}
	out2 := filepath.Join(dir, "b.png")
	if r := runStylelab(t, nil, "run", "--spec", specFile, "--out", out2, "--db", db); r.code != 0 {
		t.Fatalf("run --spec: exit %d: %s", r.code, r.stderr)
	}
	if !bytes.Equal(mustReadFile(t, out1), mustReadFile(t, out2)) {
		t.Fatal("run --spec of the saved spec wrote different bytes")
	}

	// A rerun never overwrites the file the original run wrote (the user's copy, maybe edited since): it
	// writes a file only where --out says.
	sentinel := []byte("the user's own file, not to be overwritten by a rerun")
	if err := os.WriteFile(out1, sentinel, 0o644); err != nil {
		t.Fatal(err)
	}
	out3 := filepath.Join(dir, "rerun.png")
	r = runStylelab(t, nil, "rerun", o.RunID[:8], "--db", db, "--json", "--out", out3)
	if r.code != 0 {
		t.Fatalf("rerun: exit %d: %s", r.code, r.stderr)
	}
	var v struct{ Original, Rerun, Verdict string }
	if err := json.Unmarshal([]byte(r.stdout), &v); err != nil || v.Verdict != "identical" || v.Original != o.RunID {
		t.Fatalf("rerun verdict: %v\n%s", err, r.stdout)
	}
	if !bytes.Equal(mustReadFile(t, out1), sentinel) {
		t.Fatal("rerun overwrote the original run's output file")
	}
	if !bytes.Equal(mustReadFile(t, out3), mustReadFile(t, out2)) {
		t.Fatal("rerun --out wrote other bytes than the original run")
	}
	r = runStylelab(t, nil, "runs", "diff", o.RunID, v.Rerun, "--db", db, "--json")
	var d struct {
		Spec    []any
		Metrics []struct{ Key string }
	}
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &d) != nil || len(d.Spec) != 0 || len(d.Metrics) == 0 {
		t.Fatalf("runs diff: exit %d, %s %s", r.code, r.stdout, r.stderr)
	}
	if r := runStylelab(t, nil, "rerun", "--db", db); r.code != 2 {
		t.Fatalf("rerun without an id: exit %d", r.code)
	}
}

func mustReadFile(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
