package study

import (
	"math"

	"github.com/stylelab/stylelab/experiments/imageio"
)

// whiteD65 is the CIE XYZ of the D65 white point, 2° observer (skimage's illuminants["D65"]["2"]).
var whiteD65 = [3]float64{0.95047, 1, 1.08883}

// xyzFromRGB is the linear sRGB → XYZ matrix skimage.color uses.
var xyzFromRGB = [3][3]float64{
	{0.412453, 0.357580, 0.180423},
	{0.212671, 0.715160, 0.072169},
	{0.019334, 0.119193, 0.950227},
}

// Lab converts an RGB image in [0,1] (sRGB) to CIE L*a*b* (D65, 2°), row-major W·H·3 values (L in [0,100]):
//
//	c_lin = ((c + 0.055)/1.055)^2.4 if c > 0.04045 else c/12.92
//	(X, Y, Z) = M·(r, g, b)_lin,  f(t) = t^⅓ if t > 0.008856 else 7.787t + 16/116
//	L = 116 f(Y/Yn) − 16,  a = 500 (f(X/Xn) − f(Y/Yn)),  b = 200 (f(Y/Yn) − f(Z/Zn))
//
// as skimage.color.rgb2lab computes it.
func Lab(im *imageio.Image) []float64 {
	out := make([]float64, len(im.Pix))
	for p := 0; p < len(im.Pix)/3; p++ {
		var lin [3]float64
		for c := range 3 {
			v := float64(im.Pix[3*p+c])
			if v > 0.04045 {
				lin[c] = math.Pow((v+0.055)/1.055, 2.4)
			} else {
				lin[c] = v / 12.92
			}
		}
		var f [3]float64
		for r := range 3 {
			t := (xyzFromRGB[r][0]*lin[0] + xyzFromRGB[r][1]*lin[1] + xyzFromRGB[r][2]*lin[2]) / whiteD65[r]
			if t > 0.008856 {
				f[r] = math.Cbrt(t)
			} else {
				f[r] = 7.787*t + 16.0/116
			}
		}
		out[3*p] = 116*f[1] - 16
		out[3*p+1] = 500 * (f[0] - f[1])
		out[3*p+2] = 200 * (f[1] - f[2])
	}
	return out
}
