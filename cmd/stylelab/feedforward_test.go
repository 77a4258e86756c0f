package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// One tiny CIN training run through the CLI, then everything built on it: its rerun is identical; --mix of the
// one-hot vector for style 1 writes the same bytes as --style 1; interpolate and the bad inputs of the issue
// (each a clear error, a non-zero exit, nothing written).
func TestTrainStylizeRerunAndBadInputs(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: trains and reruns a network")
	}
	dir := t.TempDir()
	db := filepath.Join(dir, "runs.db")
	ckpt := filepath.Join(dir, "cin.safetensors")
	styles := "../../images/style/vangogh_starry_night.jpg,../../images/style/hokusai_great_wave.jpg"
	r := runStylelab(t, nil, "train", "--preset", "tiny", "--kind", "cin", "--styles", styles, "--content-dir",
		"../../images/content", "--steps", "3", "--seed", "5", "--out", ckpt, "--db", db, "--json")
	if r.code != 0 {
		t.Fatalf("train: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	var res struct {
		RunID      string  `json:"run_id"`
		Checkpoint string  `json:"checkpoint"`
		First      float64 `json:"loss_first"`
		Last       float64 `json:"loss_last"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &res); err != nil || res.RunID == "" || res.Checkpoint != ckpt || res.First == 0 {
		t.Fatalf("train --json: %v %q", err, r.stdout)
	}
	if !strings.Contains(r.stderr, "step 3/3") {
		t.Errorf("no progress on stderr: %q", r.stderr)
	}
	// Rerun of the training run: identical (every metric point, sample grids, checkpoints).
	rr := runStylelab(t, nil, "rerun", res.RunID[:8], "--db", db)
	if rr.code != 0 || !strings.Contains(rr.stdout, "identical") {
		t.Fatalf("rerun: exit %d\n%s\n%s", rr.code, rr.stdout, rr.stderr)
	}
	show := runStylelab(t, nil, "runs", "show", res.RunID[:8], "--db", db)
	for _, want := range []string{"style/vangogh_starry_night", "style/hokusai_great_wave", "samples/step-000002.png", "model.safetensors"} {
		if !strings.Contains(show.stdout, want) {
			t.Errorf("runs show lacks %q:\n%s", want, show.stdout)
		}
	}
	content := "../../images/content/chelsea.jpg"
	a, b := filepath.Join(dir, "style1.png"), filepath.Join(dir, "mix.png")
	for _, args := range [][]string{{"--style", "1", "--out", a}, {"--mix", "0,1", "--out", b}} {
		r := runStylelab(t, nil, append([]string{"stylize", "--model", ckpt, "--content", content, "--size", "32", "--db", db}, args...)...)
		if r.code != 0 {
			t.Fatalf("stylize %v: exit %d\n%s", args, r.code, r.stderr)
		}
	}
	if !bytes.Equal(mustReadFile(t, a), mustReadFile(t, b)) {
		t.Error("--mix 0,1 differs from --style 1")
	}
	c := filepath.Join(dir, "style0.png")
	runStylelab(t, nil, "stylize", "--model", ckpt, "--content", content, "--size", "32", "--style", "0", "--out", c, "--no-track")
	if bytes.Equal(mustReadFile(t, a), mustReadFile(t, c)) {
		t.Error("styles 0 and 1 give the same image")
	}
	strip := filepath.Join(dir, "strip.png")
	if r := runStylelab(t, nil, "interpolate", "--model", ckpt, "--content", content, "--size", "32", "--styles", "0,1",
		"--steps", "3", "--out", strip, "--db", db); r.code != 0 {
		t.Fatalf("interpolate: exit %d\n%s", r.code, r.stderr)
	}

	// Bad inputs: exit non-zero, say what is wrong, write nothing.
	corrupt := filepath.Join(dir, "corrupt.safetensors")
	os.WriteFile(corrupt, []byte("garbage"), 0o644)
	emptyDir := t.TempDir()
	bad := filepath.Join(dir, "bad.png")
	badCkpt := filepath.Join(dir, "bad.safetensors")
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"stylize", "--model", filepath.Join(dir, "none.safetensors"), "--content", content, "--mix", "1,0", "--out", bad}, "no such file"},
		{[]string{"stylize", "--model", corrupt, "--content", content, "--mix", "1,0", "--out", bad}, "corrupt"},
		{[]string{"adain", "--model", ckpt, "--content", content, "--style", "../../images/style/munch_scream.jpg", "--out", bad}, "not an AdaIN one"},
		{[]string{"stylize", "--model", ckpt, "--content", content, "--style", "2", "--out", bad}, "out of range"},
		{[]string{"stylize", "--model", ckpt, "--content", content, "--mix", "1,0,0", "--out", bad}, "3 weights, but the model has 2"},
		{[]string{"stylize", "--model", ckpt, "--content", content, "--mix", "1,-1", "--out", bad}, "≥ 0"},
		{[]string{"stylize", "--model", ckpt, "--content", content, "--mix", "NaN,1", "--out", bad}, "finite"},
		{[]string{"interpolate", "--model", ckpt, "--content", content, "--styles", "0,5", "--out", bad}, "out of range"},
		{[]string{"train", "--preset", "tiny", "--styles", styles, "--content-dir", emptyDir, "--out", badCkpt}, "has no images"},
		{[]string{"train", "--preset", "tiny", "--styles", styles, "--content-dir", "../../images/content", "--width", "0.25",
			"--steps", "4", "--resume", ckpt, "--out", badCkpt}, "architecture"},
	}
	usage := map[string]bool{"out of range": true, "3 weights, but the model has 2": true, "≥ 0": true, "finite": true}
	before := runStylelab(t, nil, "runs", "ls", "--db", db, "--json").stdout
	for _, tc := range cases {
		r := runStylelab(t, nil, append(tc.args, "--db", db)...)
		// A style index, mix or weight that does not fit the model is a usage error (exit 2); the rest exit 1.
		code := 1
		if usage[tc.want] {
			code = 2
		}
		if r.code != code || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("%v: exit %d, stderr %q, want exit %d and an error containing %q", tc.args, r.code, r.stderr, code, tc.want)
		}
		for _, p := range []string{bad, badCkpt} {
			if _, err := os.Stat(p); err == nil {
				t.Errorf("%v wrote %s", tc.args, p)
				os.Remove(p)
			}
		}
	}
	if after := runStylelab(t, nil, "runs", "ls", "--db", db, "--json").stdout; after != before {
		t.Errorf("bad inputs recorded runs:\nbefore %s\nafter %s", before, after)
	}
}
