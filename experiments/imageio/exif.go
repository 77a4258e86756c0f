package imageio

import (
	"bufio"
	"encoding/binary"
	"image"
	"image/draw"
	"io"
)

// EXIF orientation (TIFF tag 0x0112) says how a JPEG's stored pixels must be turned to be seen upright; phones
// store the sensor's rows and set the tag instead of rotating. Values (EXIF 2.32, CIPA DC-008, §4.6.4 A):
//
//	1 as stored          2 mirrored left–right   3 rotated 180°              4 mirrored top–bottom
//	5 transposed (mirror left–right, then rotate 90° anticlockwise)          6 rotate 90° clockwise
//	7 transversed (mirror left–right, then rotate 90° clockwise)             8 rotate 90° anticlockwise
//
// The standard library's decoder ignores the tag; Load applies it. Reading it needs only the segments before the
// image data, so the parser below (stdlib only: no maintained Go EXIF library is small enough to be worth the
// dependency for one tag) walks the JPEG markers up to SOS, finds the APP1 "Exif" segment and reads IFD0.

// jpegOrientation returns the EXIF orientation of a JPEG stream (1 when absent, unreadable or outside 1..8).
// Malformed EXIF data is ignored, as image viewers do: the image itself is still valid.
func jpegOrientation(r io.Reader) int {
	br := bufio.NewReader(r)
	var soi [2]byte
	if _, err := io.ReadFull(br, soi[:]); err != nil || soi != [2]byte{0xFF, 0xD8} {
		return 1
	}
	for {
		b, err := br.ReadByte()
		if err != nil {
			return 1
		}
		if b != 0xFF {
			return 1 // not at a marker: stop rather than guess
		}
		m, err := br.ReadByte()
		for err == nil && m == 0xFF { // fill bytes
			m, err = br.ReadByte()
		}
		if err != nil {
			return 1
		}
		switch {
		case m == 0xD8 || m == 0x01 || (m >= 0xD0 && m <= 0xD7): // markers without a length
			continue
		case m == 0xDA || m == 0xD9: // start of scan, end of image: no EXIF before the data
			return 1
		}
		var l [2]byte
		if _, err := io.ReadFull(br, l[:]); err != nil {
			return 1
		}
		n := int(binary.BigEndian.Uint16(l[:])) - 2
		if n < 0 {
			return 1
		}
		if m != 0xE1 {
			if _, err := br.Discard(n); err != nil {
				return 1
			}
			continue
		}
		seg := make([]byte, n)
		if _, err := io.ReadFull(br, seg); err != nil {
			return 1
		}
		if len(seg) >= 6 && string(seg[:6]) == "Exif\x00\x00" {
			return tiffOrientation(seg[6:])
		}
	}
}

// tiffOrientation reads tag 0x0112 from IFD0 of a TIFF structure (the body of an EXIF segment).
func tiffOrientation(t []byte) int {
	if len(t) < 8 {
		return 1
	}
	var bo binary.ByteOrder
	switch string(t[:2]) {
	case "MM":
		bo = binary.BigEndian
	case "II":
		bo = binary.LittleEndian
	default:
		return 1
	}
	if bo.Uint16(t[2:]) != 42 {
		return 1
	}
	off := int64(bo.Uint32(t[4:]))
	if off+2 > int64(len(t)) {
		return 1
	}
	count := int64(bo.Uint16(t[off:]))
	for i := int64(0); i < count; i++ {
		e := off + 2 + 12*i
		if e+12 > int64(len(t)) {
			return 1
		}
		if bo.Uint16(t[e:]) != 0x0112 {
			continue
		}
		typ, n := bo.Uint16(t[e+2:]), bo.Uint32(t[e+4:])
		if typ != 3 || n != 1 { // SHORT, one value, stored in the first two bytes of the value field
			return 1
		}
		if v := int(bo.Uint16(t[e+8:])); v >= 1 && v <= 8 {
			return v
		}
		return 1
	}
	return 1
}

// orient returns img turned upright for EXIF orientation o (img itself for 1). Display pixel (x', y') of the
// result takes stored pixel (x, y) of the W×H image where
//
//	2: x' = W−1−x, y' = y      3: x' = W−1−x, y' = H−1−y      4: x' = x, y' = H−1−y
//	5: x' = y, y' = x          6: x' = H−1−y, y' = x          7: x' = H−1−y, y' = W−1−x      8: x' = y, y' = W−1−x
//
// (5–8 swap the width and height).
func orient(img image.Image, o int) image.Image {
	if o <= 1 || o > 8 {
		return img
	}
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	src := image.NewRGBA64(image.Rect(0, 0, w, h))
	draw.Draw(src, src.Bounds(), img, b.Min, draw.Src)
	dw, dh := w, h
	if o >= 5 {
		dw, dh = h, w
	}
	dst := image.NewRGBA64(image.Rect(0, 0, dw, dh))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			var dx, dy int
			switch o {
			case 2:
				dx, dy = w-1-x, y
			case 3:
				dx, dy = w-1-x, h-1-y
			case 4:
				dx, dy = x, h-1-y
			case 5:
				dx, dy = y, x
			case 6:
				dx, dy = h-1-y, x
			case 7:
				dx, dy = h-1-y, w-1-x
			case 8:
				dx, dy = y, w-1-x
			}
			dst.SetRGBA64(dx, dy, src.RGBA64At(x, y))
		}
	}
	return dst
}
