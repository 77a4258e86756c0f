package train

import (
	"math/rand/v2"
	"path/filepath"
	"testing"

	"github.com/stylelab/stylelab/experiments/imageio"
)

// gradient is a w×h image whose pixels all differ (so crops from different places differ).
func gradient(w, h int) *imageio.Image {
	im := imageio.New(w, h)
	for i := range im.Pix {
		im.Pix[i] = float32(i%997) / 997
	}
	return im
}

// A content photo of extreme shape (1×2000, 2000×1: a 1×39000 PNG cost 1.5 GB) is centre-cropped to MaxAspect
// before it is resized: every pool image is at most ⌈1.25·size⌉ × MaxAspect·⌈1.25·size⌉, so its memory is
// bounded by the crop size, not by the file's aspect ratio. Ordinary photos are untouched by the crop. (#21
// item 8.)
func TestPoolBoundsExtremeAspectRatios(t *testing.T) {
	dir := t.TempDir()
	var paths []string
	for i, d := range [][2]int{{1, 2000}, {2000, 1}, {40, 30}, {30, 200}} {
		p := filepath.Join(dir, string(rune('a'+i))+".png")
		if err := imageio.SavePNG(p, gradient(d[0], d[1])); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
	}
	const size = 16
	p, err := newPool(paths, size)
	if err != nil {
		t.Fatal(err)
	}
	short := (size*5 + 3) / 4
	want := [][2]int{{short, MaxAspect * short}, {MaxAspect * short, short}, {27, short}, {short, MaxAspect * short}}
	for i, d := range p.dims {
		if d != want[i] {
			t.Errorf("%s: prepared %d×%d, want %d×%d", paths[i], d[0], d[1], want[i][0], want[i][1])
		}
		if int64(d[0])*int64(d[1]) > int64(MaxAspect*short*short) {
			t.Errorf("%s: %d×%d is more than MaxAspect·short² pixels", paths[i], d[0], d[1])
		}
	}
	// The 30×200 photo is cropped to its central 30×120 rows, then resized: the same as doing that by hand.
	src, _ := imageio.Load(paths[3], 0)
	mid, _ := imageio.Crop(src, 0, 40, 30, 120)
	ref, _ := fitShorter(mid, short)
	got, err := p.get(3)
	if err != nil {
		t.Fatal(err)
	}
	if !slicesEqualBits(got.Pix, ref.Pix) {
		t.Error("the 30×200 photo is not its centre 30×120 resized")
	}
}

// A pool keeps at most PoolBudget bytes of prepared images, and the crops it draws are bit-identical to those of
// an unbounded pool (dropped images are prepared again from their files). (#21 item 8.)
func TestPoolBudget(t *testing.T) {
	files, err := ContentFiles(filepath.Join(repo, "images/content"))
	if err != nil {
		t.Fatal(err)
	}
	files = files[:min(4, len(files))]
	const size = 32
	full, err := newPool(files, size)
	if err != nil {
		t.Fatal(err)
	}
	one := int64(full.dims[0][0]) * int64(full.dims[0][1]) * 12
	defer func(b int64) { PoolBudget = b }(PoolBudget)
	PoolBudget = one + one/2 // one or two images
	small, err := newPool(files, size)
	if err != nil {
		t.Fatal(err)
	}
	r1, r2 := rand.New(rand.NewPCG(1, 2)), rand.New(rand.NewPCG(1, 2))
	for n := range 40 {
		a, err := full.sample(r1)
		if err != nil {
			t.Fatal(err)
		}
		b, err := small.sample(r2)
		if err != nil {
			t.Fatal(err)
		}
		if !slicesEqualBits(a.Pix, b.Pix) {
			t.Fatalf("draw %d differs between the bounded and the unbounded pool", n)
		}
		if small.bytes > PoolBudget && small.lru.Len() > 1 {
			t.Fatalf("draw %d: the pool holds %d bytes in %d images, budget %d", n, small.bytes, small.lru.Len(), PoolBudget)
		}
	}
	if small.prepared <= len(files) {
		t.Errorf("the bounded pool prepared %d images for %d files: it did not drop any", small.prepared, len(files))
	}
	if full.lru.Len() != len(files) {
		t.Errorf("the unbounded pool holds %d images (%d bytes)", full.lru.Len(), full.bytes)
	}
}
