package train

import (
	"errors"
	"fmt"

	"github.com/stylelab/stylelab/experiments/imageio"
)

// MaxInterpolatePixels bounds the output of Model.Interpolate (its W·H): 32 megapixels, about 0.4 GB as float32
// RGB plus 0.13 GB for the PNG encoder. A 64-step strip of 1024 px tiles (67 Mpx) or a 64×64 grid of 128 px tiles
// (69 Mpx) is over it; a 16-step strip at 1024 px (17 Mpx) or a 32×32 grid at 128 px (17.4 Mpx) is under.
var MaxInterpolatePixels int64 = 32_000_000

// InterpolatePad is the gap between the tiles of an interpolation (as Grid's pad).
const InterpolatePad = 2

// InterpolateMixes returns the style mixes of an interpolation over an s-style model, by row and column. With two
// styles a, b it is one row of steps mixes, column c weighting a by 1−u and b by u, u = c/(steps−1). With four
// styles a, b, c, d it is a steps×steps grid, bilinear: cell (r, c) weights a by (1−u)(1−v), b by u(1−v), c by
// (1−u)v and d by uv, v = r/(steps−1) (a top-left, b top-right, c bottom-left, d bottom-right). A style index
// out of range, another number of styles, or steps < 2 is an error.
func InterpolateMixes(styles []int, steps, s int) ([][][]float64, error) {
	if len(styles) != 2 && len(styles) != 4 {
		return nil, fmt.Errorf("interpolate: name 2 styles (a strip) or 4 (a grid), got %d", len(styles))
	}
	if steps < 2 {
		return nil, fmt.Errorf("interpolate: steps must be at least 2 (got %d)", steps)
	}
	for _, k := range styles {
		if k < 0 || k >= s {
			return nil, fmt.Errorf("style %d is out of range: the model has %d styles, numbered 0 to %d", k, s, s-1)
		}
	}
	rows := 1
	if len(styles) == 4 {
		rows = steps
	}
	out := make([][][]float64, rows)
	for r := range rows {
		for c := range steps {
			u := float64(c) / float64(steps-1)
			mix := make([]float64, s)
			if len(styles) == 2 {
				mix[styles[0]] += 1 - u
				mix[styles[1]] += u
			} else {
				v := float64(r) / float64(rows-1)
				mix[styles[0]] += (1 - u) * (1 - v)
				mix[styles[1]] += u * (1 - v)
				mix[styles[2]] += (1 - u) * v
				mix[styles[3]] += u * v
			}
			out[r] = append(out[r], mix)
		}
	}
	return out, nil
}

// fittedSize is the size fitMultiple(im, m) gives an image of w×h.
func fittedSize(w, h, m int) (int, int) {
	lo := ((16 + m - 1) / m) * m
	return max(lo, w/m*m), max(lo, h/m*m)
}

// Interpolate stylises content with every mix of InterpolateMixes(styles, steps, m.Styles()) and lays the tiles
// out as Grid(rows, InterpolatePad) does. Each tile is stylised alone and copied straight into the output, so the
// memory used is the output plus one tile's network, whatever steps is; an output over MaxInterpolatePixels is
// refused before anything is computed, with the sizes that fit. It returns the image and the number of tiles.
func (m *Model) Interpolate(content *imageio.Image, styles []int, steps int) (*imageio.Image, int, error) {
	if m.Header.Kind == KindAdaIN {
		return nil, 0, errors.New("this is an AdaIN model: interpolate needs a cin model")
	}
	mixes, err := InterpolateMixes(styles, steps, m.Styles())
	if err != nil {
		return nil, 0, err
	}
	tw, th := fittedSize(content.W, content.H, 4)
	rows, cols := len(mixes), len(mixes[0])
	W, H := int64(cols*tw+(cols+1)*InterpolatePad), int64(rows*th+(rows+1)*InterpolatePad)
	if W*H > MaxInterpolatePixels {
		return nil, 0, fmt.Errorf("interpolate: the %s of %d×%d tiles of %d×%d px would be %d×%d = %.1f megapixels, over the %.0f-megapixel limit: use fewer steps or a smaller --size",
			map[bool]string{true: "grid", false: "strip"}[rows > 1], cols, rows, tw, th, W, H, float64(W*H)/1e6, float64(MaxInterpolatePixels)/1e6)
	}
	out := imageio.New(int(W), int(H))
	for i := range out.Pix {
		out.Pix[i] = 1
	}
	for r, row := range mixes {
		for c, mix := range row {
			tile, err := m.Stylize([]*imageio.Image{content}, [][]float64{mix})
			if err != nil {
				return nil, 0, err
			}
			paste(out, tile[0], InterpolatePad+c*(tw+InterpolatePad), InterpolatePad+r*(th+InterpolatePad))
		}
	}
	return out, rows * cols, nil
}

// paste copies im into out with its top-left pixel at (x0, y0).
func paste(out, im *imageio.Image, x0, y0 int) {
	for y := range im.H {
		copy(out.Pix[((y0+y)*out.W+x0)*3:((y0+y)*out.W+x0+im.W)*3], im.Pix[y*im.W*3:(y+1)*im.W*3])
	}
}
