package gatys

import (
	"testing"

	"github.com/stylelab/stylelab/experiments/imageio"
)

// stripes returns a w×h image whose column x has the value (x mod period)/period in every channel, and row y
// adds y/(1000·h) to the red channel (so rows are told apart too).
func stripes(w, h, period int) *imageio.Image {
	im := imageio.New(w, h)
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			v := float32(x%period) / float32(period)
			i := (y*w + x) * 3
			im.Pix[i], im.Pix[i+1], im.Pix[i+2] = v+float32(y)/float32(1000*h), v, v
		}
	}
	return im
}

// --init style keeps the style image's aspect ratio: it is scaled to cover the content's size, then centre-cropped
// (not stretched to the content's shape).
func TestInitStyleCoversAndCentreCrops(t *testing.T) {
	content := imageio.New(32, 32)
	cfg := DefaultConfig()
	cfg.Init = "style"
	// A 64×32 style image covers 32×32 at scale 1: the init is exactly its middle 32 columns.
	style := stripes(64, 32, 8)
	got, err := initialImage(cfg, content, []*imageio.Image{style})
	if err != nil {
		t.Fatal(err)
	}
	if got.W != 32 || got.H != 32 {
		t.Fatalf("init is %d×%d, want the content's 32×32", got.W, got.H)
	}
	for y := 0; y < 32; y++ {
		for x := 0; x < 32; x++ {
			r, g, b := got.At(x, y)
			wr, wg, wb := style.At(x+16, y)
			if r != wr || g != wg || b != wb {
				t.Fatalf("pixel (%d,%d) = %v,%v,%v, want the style's (%d,%d) = %v,%v,%v", x, y, r, g, b, x+16, y, wr, wg, wb)
			}
		}
	}
	// A 20×40 style image onto a 30×20 content: scale max(30/20, 20/40) = 1.5 gives 30×60, cropped to rows 20..39.
	style = stripes(20, 40, 5)
	content = imageio.New(30, 20)
	got, err = initialImage(cfg, content, []*imageio.Image{style})
	if err != nil {
		t.Fatal(err)
	}
	scaled, err := imageio.Resize(style, 30, 60)
	if err != nil {
		t.Fatal(err)
	}
	for y := 0; y < 20; y++ {
		for x := 0; x < 30; x++ {
			r, _, _ := got.At(x, y)
			wr, _, _ := scaled.At(x, y+20)
			if r != wr {
				t.Fatalf("pixel (%d,%d) = %v, want the scaled style's (%d,%d) = %v", x, y, r, x, y+20, wr)
			}
		}
	}
}
