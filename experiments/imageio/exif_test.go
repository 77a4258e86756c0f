package imageio

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"testing"
)

// quadrantJPEG encodes a 32×16 JPEG whose quadrants are red (top left), green (top right), blue (bottom left)
// and white (bottom right), with an EXIF APP1 segment holding orientation (none when orientation is 0), written in
// big-endian ("MM") or little-endian ("II") TIFF byte order.
func quadrantJPEG(t *testing.T, orientation uint16, order binary.ByteOrder) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, 32, 16))
	for y := 0; y < 16; y++ {
		for x := 0; x < 32; x++ {
			c := [4]color.RGBA{{255, 0, 0, 255}, {0, 255, 0, 255}, {0, 0, 255, 255}, {255, 255, 255, 255}}[(y/8)*2+x/16]
			img.Set(x, y, c)
		}
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 95}); err != nil {
		t.Fatal(err)
	}
	b := buf.Bytes()
	if orientation == 0 {
		return b
	}
	// TIFF: header, IFD0 with one entry (0x0112 Orientation, SHORT, count 1), no next IFD.
	tiff := make([]byte, 8+2+12+4)
	if order == binary.BigEndian {
		copy(tiff, "MM")
	} else {
		copy(tiff, "II")
	}
	order.PutUint16(tiff[2:], 42)
	order.PutUint32(tiff[4:], 8)
	order.PutUint16(tiff[8:], 1)
	order.PutUint16(tiff[10:], 0x0112)
	order.PutUint16(tiff[12:], 3)
	order.PutUint32(tiff[14:], 1)
	order.PutUint16(tiff[18:], orientation)
	payload := append([]byte("Exif\x00\x00"), tiff...)
	seg := []byte{0xFF, 0xE1, 0, 0}
	binary.BigEndian.PutUint16(seg[2:], uint16(len(payload)+2))
	seg = append(seg, payload...)
	// After SOI (FFD8), before the encoder's own segments.
	return append(append(append([]byte{}, b[:2]...), seg...), b[2:]...)
}

// JPEG EXIF orientation is applied: each of the 8 orientations shows the quadrants where the EXIF specification
// puts them (tag 6: "the 0th row is the visual right-hand side, the 0th column the visual top", i.e. rotate 90°
// clockwise to display; and so on).
func TestJPEGOrientationApplied(t *testing.T) {
	const r, g, b, w = "red", "green", "blue", "white"
	// The displayed quadrants (top left, top right, bottom left, bottom right) for each orientation.
	want := map[uint16][4]string{
		1: {r, g, b, w}, 2: {g, r, w, b}, 3: {w, b, g, r}, 4: {b, w, r, g},
		5: {r, b, g, w}, 6: {b, r, w, g}, 7: {w, g, b, r}, 8: {g, w, r, b},
	}
	name := func(im *Image, x, y int) string {
		cr, cg, cb := im.At(x, y)
		switch {
		case cr > 0.8 && cg > 0.8 && cb > 0.8:
			return w
		case cr > 0.8 && cg < 0.2 && cb < 0.2:
			return r
		case cg > 0.8 && cr < 0.2 && cb < 0.2:
			return g
		case cb > 0.8 && cr < 0.2 && cg < 0.2:
			return b
		}
		return fmt.Sprintf("(%.2f,%.2f,%.2f)", cr, cg, cb)
	}
	for o := uint16(1); o <= 8; o++ {
		for _, order := range []binary.ByteOrder{binary.BigEndian, binary.LittleEndian} {
			data := quadrantJPEG(t, o, order)
			for _, size := range []int{0, 24} {
				im, err := DecodeBytes("q.jpg", data, size)
				if err != nil {
					t.Fatal(err)
				}
				long, short := 32, 16
				if size != 0 {
					long, short = 24, 12
				}
				ww, wh := long, short
				if o >= 5 {
					ww, wh = short, long
				}
				if im.W != ww || im.H != wh {
					t.Fatalf("orientation %d (%v), size %d: %d×%d, want %d×%d", o, order, size, im.W, im.H, ww, wh)
				}
				got := [4]string{name(im, 2, 2), name(im, im.W-3, 2), name(im, 2, im.H-3), name(im, im.W-3, im.H-3)}
				if got != want[o] {
					t.Errorf("orientation %d (%v), size %d: quadrants %v, want %v", o, order, size, got, want[o])
				}
			}
		}
	}
	// No EXIF, and an out-of-range orientation: stored as is.
	for _, data := range [][]byte{quadrantJPEG(t, 0, nil), quadrantJPEG(t, 9, binary.BigEndian)} {
		im, err := DecodeBytes("q.jpg", data, 0)
		if err != nil {
			t.Fatal(err)
		}
		if im.W != 32 || name(im, 2, 2) != r || name(im, im.W-3, im.H-3) != w {
			t.Fatalf("without a valid orientation the image must be as stored")
		}
	}
}
