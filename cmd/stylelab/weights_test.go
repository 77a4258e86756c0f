package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stylelab/stylelab/experiments/pth/torchtest"
	"github.com/stylelab/stylelab/experiments/vgg"
)

const (
	pthFixtures   = "../../experiments/pth/testdata"
	modelFixtures = "../../experiments/train/testdata/torch"
)

// TestWeightsInspectConvertStylize (committed fixtures, no torch needed): inspect names pytorch/examples'
// TransformerNet; convert writes a stylelab checkpoint; stylize with the .pth and with the converted file write the
// same bytes, and the .pth run reruns identically.
func TestWeightsInspectConvertStylize(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "runs.db")
	tn := filepath.Join(modelFixtures, "tn_tiny.pth")
	r := runStylelab(t, nil, "weights", "inspect", tn, "--json")
	if r.code != 0 {
		t.Fatalf("inspect: exit %d\n%s", r.code, r.stderr)
	}
	var rep struct {
		Format, Kind, What, SHA256 string
		Params                     int64
		UsableFor                  []string `json:"usable_for"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Format != "pth-zip" || rep.Kind != "transformer" || !strings.Contains(rep.What, "TransformerNet") ||
		len(rep.SHA256) != 64 || rep.Params == 0 || len(rep.UsableFor) == 0 || !strings.Contains(rep.UsableFor[0], "stylize --model") {
		t.Errorf("inspect report %+v", rep)
	}
	conv := filepath.Join(dir, "tn.safetensors")
	if r := runStylelab(t, nil, "weights", "convert", tn, conv); r.code != 0 || !strings.Contains(r.stdout, "wrote") {
		t.Fatalf("convert: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	content := "../../images/content/chelsea.jpg"
	a, b := filepath.Join(dir, "a.png"), filepath.Join(dir, "b.png")
	var id string
	for _, c := range []struct{ model, out string }{{tn, a}, {conv, b}} {
		r := runStylelab(t, nil, "stylize", "--model", c.model, "--content", content, "--size", "32", "--out", c.out, "--db", db, "--json")
		if r.code != 0 {
			t.Fatalf("stylize --model %s: exit %d\n%s", c.model, r.code, r.stderr)
		}
		if id == "" {
			var res struct {
				RunID string `json:"run_id"`
			}
			json.Unmarshal([]byte(r.stdout), &res)
			id = res.RunID
		}
	}
	if !bytes.Equal(mustReadFile(t, a), mustReadFile(t, b)) {
		t.Error("stylize with the .pth and with its conversion differ")
	}
	if id == "" {
		t.Fatal("no run id from stylize --json")
	}
	if rr := runStylelab(t, nil, "rerun", id[:8], "--db", db); rr.code != 0 || !strings.Contains(rr.stdout, "identical") {
		t.Errorf("rerun of the .pth stylize run: exit %d\n%s\n%s", rr.code, rr.stdout, rr.stderr)
	}
}

// TestWeightsBadFiles: each bad input is a clear error, exit 1, and convert writes nothing.
func TestWeightsBadFiles(t *testing.T) {
	dir := t.TempDir()
	data, err := os.ReadFile(filepath.Join(modelFixtures, "tn_tiny.pth"))
	if err != nil {
		t.Fatal(err)
	}
	trunc := filepath.Join(dir, "trunc.pth")
	os.WriteFile(trunc, data[:len(data)/2], 0o644)
	for _, c := range []struct {
		file string
		says []string
	}{
		{filepath.Join(pthFixtures, "evil_zip.pth"), []string{"posix.system", "refused"}},
		{filepath.Join(pthFixtures, "evil_legacy.pth"), []string{"posix.system"}},
		{filepath.Join(pthFixtures, "torchscript.pt"), []string{"TorchScript", "torch.jit.load"}},
		{trunc, []string{"truncated", "copy it again"}},
		{filepath.Join(modelFixtures, "tn_missing.pth"), []string{`"in3.bias"`}},
		{filepath.Join(modelFixtures, "tn_extra.pth"), []string{"extra.weight"}},
		{filepath.Join(modelFixtures, "tn_shape.pth"), []string{"deconv3.conv2d.weight", "does not match"}},
		{filepath.Join(pthFixtures, "state_zip.pth"), []string{"neither a VGG"}},
	} {
		out := filepath.Join(dir, "out.safetensors")
		for _, args := range [][]string{{"inspect", c.file}, {"convert", c.file, out}} {
			r := runStylelab(t, nil, append([]string{"weights"}, args...)...)
			if r.code != 1 {
				t.Errorf("weights %v: exit %d, want 1\n%s", args, r.code, r.stderr)
			}
			for _, s := range c.says {
				if !strings.Contains(r.stderr, s) {
					t.Errorf("weights %v: stderr %q does not say %q", args, r.stderr, s)
				}
			}
			if _, err := os.Stat(out); err == nil {
				t.Errorf("weights %v left %s", args, out)
				os.Remove(out)
			}
		}
	}
	// A malicious pickle as a stylize model or as loss-network weights: refused the same way, no output image.
	png := filepath.Join(dir, "x.png")
	for _, args := range [][]string{
		{"stylize", "--model", filepath.Join(pthFixtures, "evil_zip.pth"), "--content", "../../images/content/chelsea.jpg", "--out", png, "--no-track"},
		{"measure", "--image", "../../images/content/chelsea.jpg", "--content", "../../images/content/chelsea.jpg",
			"--style", "../../images/content/chelsea.jpg", "--size", "32", "--weights", filepath.Join(pthFixtures, "evil_legacy.pth")},
		{"stylize", "--model", filepath.Join(modelFixtures, "tn_tiny.pth"), "--content", "../../images/content/chelsea.jpg",
			"--weights", filepath.Join(modelFixtures, "tn_tiny.pth"), "--out", png, "--no-track"},
	} {
		r := runStylelab(t, nil, args...)
		if r.code != 1 {
			t.Errorf("%v: exit %d, want 1\n%s", args, r.code, r.stderr)
		}
		if !strings.Contains(r.stderr, "posix.system") && !strings.Contains(r.stderr, "features.0.weight") {
			t.Errorf("%v: %s", args, r.stderr)
		}
		if _, err := os.Stat(png); err == nil {
			t.Errorf("%v wrote %s", args, png)
		}
	}
	if r := runStylelab(t, nil, "weights", "inspect"); r.code != 2 {
		t.Errorf("inspect without a file: exit %d, want 2", r.code)
	}
	if r := runStylelab(t, nil, "run", "--content", "a.png", "--style", "b.png", "--out", png, "--net", "vgg11"); r.code != 2 ||
		!strings.Contains(r.stderr, "vgg16") {
		t.Errorf("--net vgg11: exit %d %s", r.code, r.stderr)
	}
}

// TestWeightsVGGLayouts (torch): inspect reports net, layout and convention of each VGG file users have; convert
// keeps them (the converted file loads with the same values hash); a VGG-16 file with --net vgg19 is refused; and
// `stylelab run --net vgg16 --weights vgg16.pth` runs and records the net and layout.
func TestWeightsVGGLayouts(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: writes VGG files with torch")
	}
	dir := t.TempDir()
	torchtest.Run(t, "../../experiments/vgg/testdata/torch_vgg.py", dir)
	for _, c := range []struct{ file, net, layout string }{
		{"vgg19-tv.pth", "vgg19", "torchvision"},
		{"vgg16-tv.pth", "vgg16", "torchvision"},
		{"vgg19-d01eb7cb.pth", "vgg19", "caffe"},
		{"vgg_normalised.pth", "vgg19", "adain"},
	} {
		src := filepath.Join(dir, c.file)
		r := runStylelab(t, nil, "weights", "inspect", src, "--json")
		if r.code != 0 {
			t.Fatalf("inspect %s: exit %d\n%s", c.file, r.code, r.stderr)
		}
		var rep struct {
			Net, Layout string
			Convention  string `json:"input_convention"`
		}
		json.Unmarshal([]byte(r.stdout), &rep)
		if rep.Net != c.net || rep.Layout != c.layout || rep.Convention == "" {
			t.Errorf("%s: inspect says %s %s (%q), want %s %s", c.file, rep.Net, rep.Layout, rep.Convention, c.net, c.layout)
		}
		out := filepath.Join(dir, c.file+".safetensors")
		if r := runStylelab(t, nil, "weights", "convert", src, "--out", out); r.code != 0 {
			t.Fatalf("convert %s: exit %d\n%s", c.file, r.code, r.stderr)
		}
		a, err := vgg.Load(src, vgg.LoadOptions{})
		if err != nil {
			t.Fatal(err)
		}
		b, err := vgg.Load(out, vgg.LoadOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if a.SHA256 != b.SHA256 || a.Net != b.Net || a.Layout != b.Layout {
			t.Errorf("%s: converted file is %s %s %.12s, the .pth %s %s %.12s", c.file, b.Net, b.Layout, b.SHA256, a.Net, a.Layout, a.SHA256)
		}
	}
	if r := runStylelab(t, nil, "weights", "inspect", filepath.Join(dir, "vgg16-tv.pth"), "--net", "vgg19"); r.code != 1 ||
		!strings.Contains(r.stderr, "--net vgg16") {
		t.Errorf("vgg16 file as vgg19: exit %d %s", r.code, r.stderr)
	}
	db := filepath.Join(dir, "runs.db")
	png := filepath.Join(dir, "o.png")
	r := runStylelab(t, nil, "run", "--content", "../../images/content/chelsea.jpg", "--style", "../../images/style/hokusai_great_wave.jpg",
		"--size", "32", "--steps", "2", "--net", "vgg16", "--weights", filepath.Join(dir, "vgg16-tv.pth"), "--out", png, "--db", db, "--json")
	if r.code != 0 {
		t.Fatalf("run --net vgg16: exit %d\n%s", r.code, r.stderr)
	}
	var res struct {
		RunID string `json:"run_id"`
	}
	json.Unmarshal([]byte(r.stdout), &res)
	show := runStylelab(t, nil, "runs", "show", res.RunID[:8], "--db", db)
	for _, want := range []string{"weights.net", "vgg16", "weights.layout", "torchvision"} {
		if !strings.Contains(show.stdout, want) {
			t.Errorf("runs show lacks %q", want)
		}
	}
}
