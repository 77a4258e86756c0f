package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stylelab/stylelab/experiments/imageio"
)

func TestRunControlFlags(t *testing.T) {
	req, err := runConfigFromFlags([]string{"--content", "c.jpg", "--style", "s.jpg", "--out", "o.png",
		"--mask", "m.png", "--region-style", "#FF0000=a.jpg", "--region-style", "00ff00=b.jpg", "--mask-mode", "inside",
		"--color", "histogram", "--histogram", "sym", "--style-scale", "0.5", "--scales", "64,128", "--scale-steps", "30,10",
		"--style-layers", "relu1_1,relu2_1", "--content-layers", "relu3_1"})
	if err != nil {
		t.Fatal(err)
	}
	c := req.Config
	if req.Mask != "m.png" || !slices.Equal(req.RegionStyles, []string{"a.jpg", "b.jpg"}) ||
		!slices.Equal(c.RegionColours, []string{"#ff0000", "#00ff00"}) || c.MaskMode != "inside" || c.Color != "histogram" ||
		c.Histogram != "sym" || c.StyleScale != 0.5 || !slices.Equal(c.Scales, []int{64, 128}) || c.Size != 128 ||
		!slices.Equal(c.ScaleSteps, []int{30, 10}) || c.Steps != 40 || !slices.Equal(c.StyleLayers, []string{"relu1_1", "relu2_1"}) ||
		!slices.Equal(c.ContentLayers, []string{"relu3_1"}) {
		t.Errorf("parsed %+v (mask %q, region styles %v)", c, req.Mask, req.RegionStyles)
	}
	// Defaults leave the controls out.
	req, err = runConfigFromFlags([]string{"--content", "c.jpg", "--style", "s.jpg", "--out", "o.png"})
	if err != nil {
		t.Fatal(err)
	}
	if c := req.Config; c.Color != "" || c.MaskMode != "" || c.StyleScale != 0 || c.Scales != nil || c.Histogram != "" {
		t.Errorf("default controls %+v", c)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--region-style", "#ff0000=a.jpg"}, "--region-style needs --mask"},
		{[]string{"--mask", "m.png", "--region-style", "red=a.jpg"}, "#rrggbb"},
		{[]string{"--mask", "m.png", "--region-style", "#ff0000"}, "'#rrggbb=STYLE.png'"},
		{[]string{"--mask-mode", "inside"}, "--mask-mode applies to --mask"},
		{[]string{"--mask", "m.png", "--mask-mode", "outside"}, "--mask-mode: unknown mask mode"},
		{[]string{"--color", "sepia"}, "--color: unknown colour control"},
		{[]string{"--histogram", "sym"}, "--histogram: histogram variant"},
		{[]string{"--scales", "64,128", "--size", "256"}, "must end at the output size (--size)"},
		{[]string{"--scales", "64,x"}, "--scales: \"x\" is not a whole number"},
		{[]string{"--style-scale", "-2"}, "--style-scale"},
		{[]string{"--style-layers", "relu9_9"}, "unknown VGG-19 layer"},
	} {
		_, err := runConfigFromFlags(append([]string{"--content", "c.jpg", "--style", "s.jpg", "--out", "o.png"}, tc.args...))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: error %v, want it to say %q", tc.args, err, tc.want)
		}
	}
}

// End to end: a mask with a region style runs; an absent colour and a mask of another aspect ratio fail (exit 1)
// with messages naming the problem; combine-scales writes its image.
func TestRunMaskEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the binary")
	}
	dir := t.TempDir()
	mask := imageio.New(90, 60) // chelsea's aspect; left half red, right half blue
	for p := 0; p < 90*60; p++ {
		if p%90 < 45 {
			mask.Pix[3*p] = 1
		} else {
			mask.Pix[3*p+2] = 1
		}
	}
	mp := filepath.Join(dir, "mask.png")
	if err := imageio.SavePNG(mp, mask); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "o.png")
	base := []string{"run", "--content", testContent, "--style", testStyle, "--size", "32", "--steps", "2", "--out", out, "--no-track", "--mask", mp}
	r := runStylelab(t, nil, append(base, "--region-style", "#ff0000="+testStyle2)...)
	if r.code != 0 {
		t.Fatalf("masked run failed (%d): %s", r.code, r.stderr)
	}
	if _, err := os.Stat(out); err != nil {
		t.Fatal(err)
	}
	r = runStylelab(t, nil, append(base, "--region-style", "#00ff00="+testStyle2)...)
	if r.code != 1 || !strings.Contains(r.stderr, "#00ff00 is not in the mask") {
		t.Errorf("absent colour: exit %d, %s", r.code, r.stderr)
	}
	square := filepath.Join(dir, "square.png")
	imageio.SavePNG(square, imageio.New(40, 40))
	r = runStylelab(t, nil, "run", "--content", testContent, "--style", testStyle, "--size", "32", "--steps", "2", "--out", out, "--no-track", "--mask", square)
	if r.code != 1 || !strings.Contains(r.stderr, "aspect") {
		t.Errorf("another aspect ratio: exit %d, %s", r.code, r.stderr)
	}
	comb := filepath.Join(dir, "comb.png")
	r = runStylelab(t, nil, "combine-scales", "--coarse", testStyle2, "--fine", testStyle, "--out", comb, "--size", "32", "--steps", "2")
	if r.code != 0 {
		t.Fatalf("combine-scales: %d %s", r.code, r.stderr)
	}
	im, err := imageio.Load(comb, 0)
	if err != nil || max(im.W, im.H) != 32 {
		t.Errorf("combine-scales output: %v", err)
	}
}
