// Package guides turns a mask image into the spatial guides of Gatys et al. (CVPR 2017): one region per distinct
// mask colour, and for each region a guide over the positions of every VGG-19 layer. Host-side: images in,
// float planes out; the guided style losses that use them are in package losses (StyleGuidedAt).
//
// A region's guide at the image is its indicator (1 inside, 0 outside). It follows the loss network to a layer:
//
//   - "resize" (plain resize): each 2×2 pooling averages the guide (the layer's grid is the image's downsampled
//     by 2^pools, odd sizes floored as VGG's pooling does), so a position's guide is the fraction of its 2^p×2^p
//     cell inside the region; convolutions leave it unchanged.
//   - "inside" (eroded): each 3×3 convolution erodes the guide (a position stays 1 only if its 3×3 neighbourhood
//     is 1; positions outside the image count as inside, since the image border is not a region border) and each
//     pooling takes the minimum of its 2×2 cell; a position is 1 exactly when its whole receptive field lies inside
//     the region, so no style bleeds across region borders. Deep layers of small regions may be empty.
//
// The losses normalise the guide to mean square 1 (a = t²/Σt²); Weight is the region's share of the image, used as
// the paper's region weight w_r.
package guides

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/stylelab/stylelab/experiments/imageio"
	"github.com/stylelab/stylelab/experiments/vgg"
)

// Modes lists the ways a guide follows the network ("" means "resize").
var Modes = []string{"resize", "inside"}

// AspectTolerance is the largest relative difference between the mask's and the content's aspect ratios
// (W/H) that is accepted: 2%, enough for the rounding of either image's size down to 50 px.
const AspectTolerance = 0.02

// MaxRegions bounds the number of distinct mask colours: more means an antialiased or JPEG mask.
const MaxRegions = 32

// Region is one colour of the mask, at the run's size.
type Region struct {
	Colour string // "#rrggbb", lower case
	W, H   int
	In     []bool // row-major, W·H
	Weight float64
}

// ParseColour normalises "#rrggbb" (case-insensitive, "#" optional) to "#rrggbb" lower case.
func ParseColour(s string) (string, error) {
	t := strings.TrimPrefix(strings.TrimSpace(s), "#")
	if len(t) != 6 {
		return "", fmt.Errorf("colour %q must be #rrggbb (six hex digits, e.g. #ff0000)", s)
	}
	if _, err := strconv.ParseUint(t, 16, 32); err != nil {
		return "", fmt.Errorf("colour %q must be #rrggbb (six hex digits, e.g. #ff0000)", s)
	}
	return "#" + strings.ToLower(t), nil
}

// CheckAspect returns an error unless a mask of mw×mh fits a content image of cw×ch: aspect ratios within
// AspectTolerance.
func CheckAspect(mw, mh, cw, ch int) error {
	rm, rc := float64(mw)/float64(mh), float64(cw)/float64(ch)
	if math.Abs(rm-rc)/rc > AspectTolerance {
		return fmt.Errorf("the mask is %d×%d (aspect %.3f) but the content is %d×%d (aspect %.3f): they differ by more than %.0f%%; "+
			"draw the mask over the content image (any size with its aspect ratio)", mw, mh, rm, cw, ch, rc, AspectTolerance*100)
	}
	return nil
}

// Regions returns the regions of mask at w×h: the mask is resized by nearest neighbour (colours are labels, not
// blended), each distinct 8-bit colour is a region, sorted by colour. More than MaxRegions colours is an error.
func Regions(mask *imageio.Image, w, h int) ([]Region, error) {
	idx := map[string]int{}
	var out []Region
	for y := 0; y < h; y++ {
		sy := min(mask.H-1, (2*y+1)*mask.H/(2*h))
		for x := 0; x < w; x++ {
			sx := min(mask.W-1, (2*x+1)*mask.W/(2*w))
			r, g, b := mask.At(sx, sy)
			c := fmt.Sprintf("#%02x%02x%02x", to8(r), to8(g), to8(b))
			i, ok := idx[c]
			if !ok {
				if len(out) == MaxRegions {
					return nil, fmt.Errorf("the mask has more than %d colours (antialiased edges or JPEG noise?): save it as a PNG with flat colours", MaxRegions)
				}
				i = len(out)
				idx[c] = i
				out = append(out, Region{Colour: c, W: w, H: h, In: make([]bool, w*h)})
			}
			out[i].In[y*w+x] = true
		}
	}
	for i := range out {
		n := 0
		for _, v := range out[i].In {
			if v {
				n++
			}
		}
		out[i].Weight = float64(n) / float64(w*h)
	}
	slices.SortFunc(out, func(a, b Region) int { return strings.Compare(a.Colour, b.Colour) })
	return out, nil
}

func to8(v float32) int { return int(math.Round(float64(min(max(v, 0), 1)) * 255)) }

// Colours lists the regions' colours.
func Colours(rs []Region) []string {
	var c []string
	for _, r := range rs {
		c = append(c, r.Colour)
	}
	return c
}

// Guide is a region's guide at one layer: row-major W·H values in [0,1].
type Guide struct {
	W, H int
	T    []float32
}

// Sum returns Σ t, 0 for an empty region.
func (g Guide) Sum() float64 {
	s := 0.0
	for _, v := range g.T {
		s += float64(v)
	}
	return s
}

// AtLayer returns the region's guide at layer (a name of vgg.Layers) with mode "resize" (or "") or "inside".
func (r Region) AtLayer(layer, mode string) (Guide, error) {
	i := vgg.LayerIndex(layer)
	if i < 0 {
		return Guide{}, vgg.ValidateLayers([]string{layer})
	}
	if mode == "" {
		mode = "resize"
	}
	if !slices.Contains(Modes, mode) {
		return Guide{}, fmt.Errorf("unknown mask mode %q: use %s", mode, strings.Join(Modes, " or "))
	}
	g := Guide{W: r.W, H: r.H, T: make([]float32, len(r.In))}
	for k, v := range r.In {
		if v {
			g.T[k] = 1
		}
	}
	for _, l := range vgg.Layers[:i+1] {
		switch {
		case strings.HasPrefix(l, "conv") && mode == "inside":
			g = erode3(g)
		case strings.HasPrefix(l, "pool"):
			g = pool2(g, mode == "inside")
		}
	}
	return g, nil
}

// erode3 is the 3×3 minimum, positions outside the grid counting as 1.
func erode3(g Guide) Guide {
	out := Guide{W: g.W, H: g.H, T: make([]float32, len(g.T))}
	for y := 0; y < g.H; y++ {
		for x := 0; x < g.W; x++ {
			m := float32(1)
			for dy := -1; dy <= 1; dy++ {
				for dx := -1; dx <= 1; dx++ {
					if yy, xx := y+dy, x+dx; yy >= 0 && yy < g.H && xx >= 0 && xx < g.W {
						m = min(m, g.T[yy*g.W+xx])
					}
				}
			}
			out.T[y*g.W+x] = m
		}
	}
	return out
}

// pool2 is the 2×2, stride-2 average (or minimum) with floored sizes, as VGG's pooling.
func pool2(g Guide, minimum bool) Guide {
	out := Guide{W: g.W / 2, H: g.H / 2}
	out.T = make([]float32, out.W*out.H)
	for y := 0; y < out.H; y++ {
		for x := 0; x < out.W; x++ {
			a, b := g.T[2*y*g.W+2*x], g.T[2*y*g.W+2*x+1]
			c, d := g.T[(2*y+1)*g.W+2*x], g.T[(2*y+1)*g.W+2*x+1]
			if minimum {
				out.T[y*out.W+x] = min(a, b, c, d)
			} else {
				out.T[y*out.W+x] = (a + b + c + d) / 4
			}
		}
	}
	return out
}
