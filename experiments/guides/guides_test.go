package guides

import (
	"math"
	"strings"
	"testing"

	"github.com/stylelab/stylelab/experiments/imageio"
)

// halves returns a w×h mask, left half red, right half blue.
func halves(w, h int) *imageio.Image {
	m := imageio.New(w, h)
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			p := (y*w + x) * 3
			if x < w/2 {
				m.Pix[p] = 1
			} else {
				m.Pix[p+2] = 1
			}
		}
	}
	return m
}

func TestRegionsResizeAndWeights(t *testing.T) {
	// A mask of another size with the same aspect ratio is resized (nearest) to the run's size.
	rs, err := Regions(halves(20, 10), 64, 32)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(Colours(rs), ","); got != "#0000ff,#ff0000" {
		t.Fatalf("colours %s", got)
	}
	for _, r := range rs {
		if r.W != 64 || r.H != 32 || math.Abs(r.Weight-0.5) > 1e-12 {
			t.Errorf("%s: %d×%d weight %g, want 64×32 and 0.5", r.Colour, r.W, r.H, r.Weight)
		}
	}
	if !rs[1].In[0] || rs[1].In[40] || !rs[0].In[40] {
		t.Error("red must be the left half, blue the right")
	}
	if err := CheckAspect(20, 10, 640, 320); err != nil {
		t.Errorf("same aspect rejected: %v", err)
	}
	if err := CheckAspect(20, 10, 640, 640); err == nil || !strings.Contains(err.Error(), "aspect") {
		t.Errorf("another aspect ratio accepted (err %v)", err)
	}
	if err := CheckAspect(101, 100, 100, 100); err != nil {
		t.Errorf("1%% off rejected: %v", err)
	}
	if _, err := ParseColour("#12345"); err == nil {
		t.Error("bad colour accepted")
	}
	if c, _ := ParseColour("FF0000"); c != "#ff0000" {
		t.Errorf("ParseColour(FF0000) = %s", c)
	}
}

func TestAtLayer(t *testing.T) {
	rs, _ := Regions(halves(32, 32), 32, 32)
	red := rs[1]
	// resize: the guide is the region's share of each cell; the mean is kept (32 is divisible by 16).
	for _, l := range []string{"relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"} {
		g, err := red.AtLayer(l, "resize")
		if err != nil {
			t.Fatal(err)
		}
		if math.Abs(g.Sum()/float64(g.W*g.H)-0.5) > 1e-6 {
			t.Errorf("%s: mean guide %g, want 0.5", l, g.Sum()/float64(g.W*g.H))
		}
	}
	// inside: relu1_1 follows one 3×3 conv: the column next to the border (x = 15) is dropped.
	g, _ := red.AtLayer("relu1_1", "inside")
	if g.T[14] != 1 || g.T[15] != 0 || g.T[0] != 1 {
		t.Errorf("inside relu1_1 row 0: %v", g.T[:17])
	}
	// relu2_1: conv1_1, conv1_2 erode 2 px (x ≤ 13 kept), pool (x' ≤ 6), conv2_1 erodes one more (x' ≤ 5).
	g, _ = red.AtLayer("relu2_1", "inside")
	if g.W != 16 || g.T[5] != 1 || g.T[6] != 0 {
		t.Errorf("inside relu2_1 row 0: %v", g.T[:16])
	}
	// A region covering the whole image stays whole in both modes (the image border is not a region border).
	full, _ := Regions(imageio.New(32, 32), 32, 32)
	for _, mode := range Modes {
		g, _ := full[0].AtLayer("relu5_1", mode)
		if g.Sum() != float64(g.W*g.H) {
			t.Errorf("%s: full region's relu5_1 guide sums to %g of %d", mode, g.Sum(), g.W*g.H)
		}
	}
	// A small region vanishes at deep layers in inside mode.
	g, _ = red.AtLayer("relu5_1", "inside")
	if g.Sum() != 0 {
		t.Errorf("a 16-px-wide region should be empty at relu5_1 inside, sum %g", g.Sum())
	}
	if _, err := red.AtLayer("relu1_1", "bogus"); err == nil {
		t.Error("unknown mode accepted")
	}
}
