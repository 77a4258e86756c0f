package runner

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/stylelab/stylelab/experiments/imageio"
	"github.com/stylelab/stylelab/jobs/spec"
)

// A spec with every control (mask with a region style, colour histogram, style scale, coarse to fine) round
// trips through JSON, is recorded with its mask hashed, and reruns identically.
func TestControlsSpecRoundTripAndRerun(t *testing.T) {
	if testing.Short() {
		t.Skip("optimisation runs: skipped with -short")
	}
	dir := t.TempDir()
	sp := tinySpec(t, dir)
	// A mask of the content's aspect (chelsea is 451×300): left third red, the rest blue.
	mask := imageio.New(90, 60)
	for y := 0; y < 60; y++ {
		for x := 0; x < 90; x++ {
			if x < 30 {
				mask.Pix[3*(y*90+x)] = 1
			} else {
				mask.Pix[3*(y*90+x)+2] = 1
			}
		}
	}
	maskPath := filepath.Join(dir, "mask.png")
	if err := imageio.SavePNG(maskPath, mask); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(filepath.Join("..", "..", "images", "style", "munch_scream.jpg"))
	scream := filepath.Join(dir, "scream.jpg")
	if err := os.WriteFile(scream, b, 0o644); err != nil {
		t.Fatal(err)
	}
	sp.Inputs.Mask = &spec.Input{Path: maskPath}
	sp.Inputs.RegionStyles = []spec.Input{{Path: scream}}
	o := sp.Optimise
	o.RegionColours = []string{"#FF0000"}
	o.MaskMode, o.Color, o.Histogram, o.StyleScale = "resize", "histogram", "sym", 1.5
	o.Scales, o.Steps = []int{16, 32}, 4

	st := openStore(t)
	out, err := Run(sp, Options{Store: st})
	if err != nil {
		t.Fatal(err)
	}
	if out.Result.Image.W != 32 || out.Result.Steps != 4 {
		t.Fatalf("output %d px wide after %d steps, want 32 and 4", out.Result.Image.W, out.Result.Steps)
	}
	info, err := st.GetRun(out.RunID)
	if err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]string{"color": "histogram", "histogram": "sym", "mask_mode": "resize", "style_scale": "1.5",
		"scales": "16,32", "scale_steps": "2,2", "region_colours": "#ff0000", "mask": maskPath, "region_style.#ff0000": scream} {
		if info.Params[k] != want {
			t.Errorf("param %s = %q, want %q", k, info.Params[k], want)
		}
	}
	if info.Tags["provenance.input.mask.sha256"] != sp.Inputs.Mask.SHA256 || sp.Inputs.Mask.SHA256 == "" {
		t.Errorf("mask hash: tag %q, spec %q", info.Tags["provenance.input.mask.sha256"], sp.Inputs.Mask.SHA256)
	}
	// The recorded spec round-trips.
	rec, err := LoadSpec(st, out.RunID)
	if err != nil {
		t.Fatal(err)
	}
	again, err := spec.Parse(bytes.NewReader(rec.JSON()))
	if err != nil {
		t.Fatal(err)
	}
	if err := again.Resolve(); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(again.Optimise, sp.Optimise) || !bytes.Equal(again.JSON(), sp.JSON()) || again.Key() != sp.Key() {
		t.Errorf("spec did not round-trip:\n%s\nvs\n%s", again.JSON(), sp.JSON())
	}
	v, err := Rerun(st, out.RunID, RerunOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if v.Verdict != Identical {
		t.Fatalf("rerun verdict %s: %s", v.Verdict, v.Summary())
	}
	// The mask is an input like the others: changing it is caught.
	mask.Pix[0] = 0
	if err := imageio.SavePNG(maskPath, mask); err != nil {
		t.Fatal(err)
	}
	if _, err := Rerun(st, out.RunID, RerunOptions{}); err == nil {
		t.Error("a changed mask was not reported")
	}
}
