package imageio

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/gomlx/gomlx/pkg/core/tensors"
)

// randomNRGBA returns an opaque w×h image with seeded random 8-bit values.
func randomNRGBA(w, h int, seed uint64) *image.NRGBA {
	r := rand.New(rand.NewPCG(seed, 1))
	m := image.NewNRGBA(image.Rect(0, 0, w, h))
	for i := range m.Pix {
		if i%4 == 3 {
			m.Pix[i] = 255
		} else {
			m.Pix[i] = uint8(r.IntN(256))
		}
	}
	return m
}

func writePNG(t *testing.T, dir, name string, m image.Image) string {
	t.Helper()
	var buf bytes.Buffer
	if err := png.Encode(&buf, m); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestPNGRoundTripIsExactFor8BitValues(t *testing.T) {
	src := randomNRGBA(37, 23, 7)
	p := writePNG(t, t.TempDir(), "a.png", src)
	im, err := Load(p, 0)
	if err != nil {
		t.Fatal(err)
	}
	if im.W != 37 || im.H != 23 {
		t.Fatalf("size %d×%d", im.W, im.H)
	}
	for i := 0; i < 37*23; i++ {
		for c := 0; c < 3; c++ {
			want := float32(float64(src.Pix[i*4+c]) / 255)
			if got := im.Pix[i*3+c]; got != want {
				t.Fatalf("pixel %d channel %d = %v, want %v", i, c, got, want)
			}
		}
	}
	out := filepath.Join(t.TempDir(), "sub", "dir", "b.png")
	if err := SavePNG(out, im); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	back, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	for y := 0; y < 23; y++ {
		for x := 0; x < 37; x++ {
			if got, want := color.NRGBAModel.Convert(back.At(x, y)), src.NRGBAAt(x, y); got != want {
				t.Fatalf("pixel (%d,%d) = %v after Load → SavePNG, want %v", x, y, got, want)
			}
		}
	}
	// No stray temporary files next to the output.
	entries, _ := os.ReadDir(filepath.Dir(out))
	if len(entries) != 1 {
		t.Fatalf("folder holds %d entries, want only the PNG", len(entries))
	}
}

func TestNoResampleWhenAlreadyThatSize(t *testing.T) {
	src := randomNRGBA(40, 25, 3)
	p := writePNG(t, t.TempDir(), "a.png", src)
	keep, err := Load(p, 0)
	if err != nil {
		t.Fatal(err)
	}
	same, err := Load(p, 40)
	if err != nil {
		t.Fatal(err)
	}
	if same.W != 40 || same.H != 25 {
		t.Fatalf("size %d×%d", same.W, same.H)
	}
	for i := range keep.Pix {
		if keep.Pix[i] != same.Pix[i] {
			t.Fatalf("value %d differs: %v vs %v (resampled although already the requested size)", i, keep.Pix[i], same.Pix[i])
		}
	}
}

func TestResizeKeepsAspectRatio(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct{ w, h, size, ww, wh int }{
		{60, 30, 20, 20, 10},
		{30, 90, 30, 10, 30},
		{100, 33, 16, 16, 5},  // 5.28 → 5
		{17, 1000, 64, 1, 64}, // shorter side at least 1
		{20, 30, 60, 40, 60},  // upscaling
	} {
		p := writePNG(t, dir, "a.png", randomNRGBA(tc.w, tc.h, 1))
		im, err := Load(p, tc.size)
		if err != nil {
			t.Fatal(err)
		}
		if im.W != tc.ww || im.H != tc.wh || len(im.Pix) != tc.ww*tc.wh*3 {
			t.Errorf("%d×%d at %d: got %d×%d, want %d×%d", tc.w, tc.h, tc.size, im.W, im.H, tc.ww, tc.wh)
		}
	}
}

func TestResizeIsAntiAliasedAndPreservesConstants(t *testing.T) {
	// A 1-pixel checkerboard shrunk 4× must become nearly uniform grey (an unfiltered sampler would give pure
	// black or white); a constant image must stay exactly constant.
	board := New(64, 64)
	for y := 0; y < 64; y++ {
		for x := 0; x < 64; x++ {
			v := float32((x + y) % 2)
			i := (y*64 + x) * 3
			board.Pix[i], board.Pix[i+1], board.Pix[i+2] = v, v, v
		}
	}
	small, err := Resize(board, 16, 16)
	if err != nil {
		t.Fatal(err)
	}
	// Interior only: x/image/draw treats outside the source as absent, and the border pixels see fewer samples.
	for y := 2; y < 14; y++ {
		for x := 2; x < 14; x++ {
			if r, _, _ := small.At(x, y); math.Abs(float64(r)-0.5) > 0.02 {
				t.Fatalf("pixel (%d,%d) = %v, want ≈0.5", x, y, r)
			}
		}
	}
	grey := New(30, 20)
	for i := range grey.Pix {
		grey.Pix[i] = 0.25
	}
	up, err := ResizeLonger(grey, 45)
	if err != nil {
		t.Fatal(err)
	}
	if up.W != 45 || up.H != 30 {
		t.Fatalf("size %d×%d", up.W, up.H)
	}
	for i, v := range up.Pix {
		if math.Abs(float64(v)-0.25) > 1.0/65535 {
			t.Fatalf("value %d = %v, want 0.25", i, v)
		}
	}
}

func TestAlphaIsCompositedOnWhite(t *testing.T) {
	m := image.NewNRGBA(image.Rect(0, 0, 3, 1))
	m.SetNRGBA(0, 0, color.NRGBA{255, 0, 0, 0})   // invisible red → white
	m.SetNRGBA(1, 0, color.NRGBA{255, 0, 0, 255}) // opaque red
	m.SetNRGBA(2, 0, color.NRGBA{0, 0, 0, 51})    // 20% black → 0.8 grey
	im, err := Load(writePNG(t, t.TempDir(), "a.png", m), 0)
	if err != nil {
		t.Fatal(err)
	}
	want := []float32{1, 1, 1, 1, 0, 0, 0.8, 0.8, 0.8}
	for i := range want {
		if math.Abs(float64(im.Pix[i]-want[i])) > 1e-6 {
			t.Fatalf("values %v, want %v", im.Pix, want)
		}
	}
}

func TestJPEGLoads(t *testing.T) {
	var buf bytes.Buffer
	src := image.NewRGBA(image.Rect(0, 0, 48, 32))
	for i := range src.Pix {
		src.Pix[i] = 200
	}
	if err := jpeg.Encode(&buf, src, &jpeg.Options{Quality: 95}); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "a.jpg")
	os.WriteFile(p, buf.Bytes(), 0o644)
	im, err := Load(p, 24)
	if err != nil {
		t.Fatal(err)
	}
	if im.W != 24 || im.H != 16 {
		t.Fatalf("size %d×%d", im.W, im.H)
	}
	if r, g, b := im.At(12, 8); math.Abs(float64(r)-200.0/255) > 0.02 || math.Abs(float64(g-b)) > 0.02 {
		t.Fatalf("centre pixel %v %v %v, want ≈0.784 grey", r, g, b)
	}
	// The shipped images decode too.
	if _, err := Load("../../images/style/munch_scream.jpg", 32); err != nil {
		t.Fatal(err)
	}
}

func TestTensorRoundTrip(t *testing.T) {
	im, _ := Load(writePNG(t, t.TempDir(), "a.png", randomNRGBA(5, 4, 9)), 0)
	tt := im.Tensor()
	if got := tt.Shape().Dimensions; len(got) != 4 || got[0] != 1 || got[1] != 4 || got[2] != 5 || got[3] != 3 {
		t.Fatalf("shape %v, want [1 4 5 3]", got)
	}
	back, err := FromTensor(tt)
	if err != nil {
		t.Fatal(err)
	}
	if back.W != 5 || back.H != 4 {
		t.Fatalf("size %d×%d", back.W, back.H)
	}
	for i := range im.Pix {
		if im.Pix[i] != back.Pix[i] {
			t.Fatal("values differ after Tensor → FromTensor")
		}
	}
	if _, err := FromTensor(tensors.FromFlatDataAndDimensions(make([]float32, 8), 2, 2, 2)); err == nil {
		t.Fatal("a [2,2,2] tensor must be refused")
	}
	if _, err := FromTensor(tensors.FromFlatDataAndDimensions(make([]float64, 12), 1, 2, 2, 3)); err == nil {
		t.Fatal("a float64 tensor must be refused")
	}
}

func TestEncodeRefusesNonFinite(t *testing.T) {
	im := New(2, 2)
	im.Pix[7] = float32(math.NaN())
	err := EncodePNG(&bytes.Buffer{}, im)
	if err == nil || !strings.Contains(err.Error(), "x=0, y=1") {
		t.Fatalf("got %v, want an error naming pixel (x=0, y=1)", err)
	}
	p := filepath.Join(t.TempDir(), "nan.png")
	if err := SavePNG(p, im); err == nil {
		t.Fatal("SavePNG must refuse a NaN image")
	}
	if _, err := os.Stat(p); !os.IsNotExist(err) {
		t.Fatal("a refused image must not leave a file")
	}
}

// pngHeader returns a PNG signature and IHDR chunk claiming w×h 8-bit RGB, and nothing else.
func pngHeader(w, h uint32) []byte {
	var b bytes.Buffer
	b.WriteString("\x89PNG\r\n\x1a\n")
	data := make([]byte, 13)
	binary.BigEndian.PutUint32(data[0:], w)
	binary.BigEndian.PutUint32(data[4:], h)
	data[8], data[9] = 8, 2 // bit depth 8, colour type RGB
	binary.Write(&b, binary.BigEndian, uint32(len(data)))
	chunk := append([]byte("IHDR"), data...)
	b.Write(chunk)
	binary.Write(&b, binary.BigEndian, crc32.ChecksumIEEE(chunk))
	return b.Bytes()
}

func TestBadInputs(t *testing.T) {
	dir := t.TempDir()
	good := writePNG(t, dir, "good.png", randomNRGBA(20, 20, 1))
	data, _ := os.ReadFile(good)
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	for _, tc := range []struct {
		name, path string
		size       int
		want       []string
	}{
		{"missing", filepath.Join(dir, "nope.png"), 0, []string{"nope.png", "not found", "check the path"}},
		{"folder", dir, 0, []string{"is a folder"}},
		{"empty", write("empty.png", nil), 0, []string{"empty.png", "empty (0 bytes)"}},
		{"truncated", write("trunc.png", data[:len(data)/2]), 0, []string{"trunc.png", "corrupt or truncated PNG", "re-export"}},
		{"text", write("notes.png", []byte("hello, this is not an image\n")), 0, []string{"notes.png", "only PNG and JPEG are supported"}},
		{"size too small", good, 5, []string{"good.png", "between 16 and 4096", "got 5"}},
		{"size too big", good, 5000, []string{"between 16 and 4096", "got 5000"}},
		{"size negative", good, -1, []string{"got -1"}},
	} {
		im, err := Load(tc.path, tc.size)
		if err == nil {
			t.Errorf("%s: no error, got a %d×%d image", tc.name, im.W, im.H)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %q does not contain %q", tc.name, err, w)
			}
		}
	}
}

func TestHugeHeaderRejectedWithoutAllocating(t *testing.T) {
	p := filepath.Join(t.TempDir(), "huge.png")
	if err := os.WriteFile(p, pngHeader(100000, 100000), 0o644); err != nil {
		t.Fatal(err)
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	_, err := Load(p, 0)
	runtime.ReadMemStats(&after)
	if err == nil || !strings.Contains(err.Error(), "100000×100000") || !strings.Contains(err.Error(), "megapixels") {
		t.Fatalf("got %v, want the pixel-limit error", err)
	}
	if d := after.TotalAlloc - before.TotalAlloc; d > 1<<20 {
		t.Fatalf("allocated %d bytes while rejecting the header", d)
	}
	// The limit is overridable: a 30×30 image passes at 1000 pixels and fails at 800.
	small := writePNG(t, t.TempDir(), "s.png", randomNRGBA(30, 30, 2))
	defer func(old int64) { MaxPixels = old }(MaxPixels)
	MaxPixels = 1000
	if _, err := Load(small, 0); err != nil {
		t.Fatal(err)
	}
	MaxPixels = 800
	if _, err := Load(small, 0); err == nil {
		t.Fatal("a 900-pixel image must be refused at MaxPixels=800")
	}
}
