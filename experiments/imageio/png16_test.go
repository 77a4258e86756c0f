package imageio

import (
	"bytes"
	"image/png"
	"math"
	"testing"
)

// A 16-bit PNG round-trips every value to within half a 16-bit level and is decoded as 16 bits per channel.
func TestEncodePNG16RoundTrip(t *testing.T) {
	im := New(7, 5)
	for i := range im.Pix {
		im.Pix[i] = float32(i) / float32(len(im.Pix)-1) * 1.001 // includes values just above 1 (clamped)
	}
	var buf bytes.Buffer
	if err := EncodePNG16(&buf, im); err != nil {
		t.Fatal(err)
	}
	dec, err := png.Decode(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	if m := dec.ColorModel(); m != nil && dec.Bounds().Dx() != 7 {
		t.Fatalf("bounds %v", dec.Bounds())
	}
	back, err := DecodeBytes("x.png", buf.Bytes(), 0)
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range im.Pix {
		want := math.Min(1, float64(v))
		if d := math.Abs(float64(back.Pix[i]) - want); d > 0.5/65535+1e-7 {
			t.Fatalf("value %d: %v → %v (error %.3g > half a 16-bit level)", i, v, back.Pix[i], d)
		}
	}
	// 8 bits would lose this much: the 16-bit file keeps values the 8-bit one rounds together.
	var b8 bytes.Buffer
	_ = EncodePNG(&b8, im)
	e8, _ := DecodeBytes("x.png", b8.Bytes(), 0)
	if math.Abs(float64(e8.Pix[1]-im.Pix[1])) < 1e-4 {
		t.Fatal("test image does not distinguish 8 from 16 bits")
	}
	im.Pix[3] = float32(math.NaN())
	if err := EncodePNG16(&buf, im); err == nil {
		t.Fatal("NaN encoded")
	}
}
