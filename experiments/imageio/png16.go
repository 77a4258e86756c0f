package imageio

import (
	"image"
	"image/png"
	"io"
	"math"
)

// EncodePNG16 writes im as a 16-bit RGB PNG: each value clamped to [0,1] and rounded to the nearest of 65536
// levels, v16 = round(65535·v) (for prints, where 8 bits band in smooth gradients). It refuses images holding
// NaN or ±Inf.
func EncodePNG16(w io.Writer, im *Image) error {
	if err := im.validate(); err != nil {
		return err
	}
	if err := im.checkFinite(); err != nil {
		return err
	}
	out := image.NewNRGBA64(image.Rect(0, 0, im.W, im.H))
	for p := 0; p < im.W*im.H; p++ {
		for c := range 3 {
			v := float64(im.Pix[p*3+c])
			u := uint16(math.Round(65535 * min(1, max(0, v))))
			out.Pix[p*8+2*c], out.Pix[p*8+2*c+1] = byte(u>>8), byte(u)
		}
		out.Pix[p*8+6], out.Pix[p*8+7] = 0xff, 0xff
	}
	return png.Encode(w, out)
}
