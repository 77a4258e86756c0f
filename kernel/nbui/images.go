package nbui

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"html/template"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"strings"

	"golang.org/x/image/font"
	"golang.org/x/image/font/basicfont"
	"golang.org/x/image/math/fixed"

	"github.com/stylelab/stylelab/experiments/imageio"
)

// MinDisplay is the smallest displayed side of an image, in CSS pixels: smaller images (a 48 px CI run) are
// scaled up by an integer factor with nearest-neighbour sampling so their pixels stay visible.
var MinDisplay = 160

// Images shows images side by side in a captioned grid, one output holding both an HTML grid (what a notebook
// shows) and a PNG montage of the same grid with the captions drawn in (what a saved notebook keeps as
// image/png). captions[i] labels images[i]; nil captions number them. Outside a notebook it prints one line per
// image (caption and size).
func Images(captions []string, images ...*imageio.Image) error {
	if captions == nil {
		for i := range images {
			captions = append(captions, fmt.Sprint(i+1))
		}
	}
	if len(captions) != len(images) {
		return fmt.Errorf("nbui.Images: %d captions for %d images; give one caption per image", len(captions), len(images))
	}
	if !InNotebook {
		var b strings.Builder
		for i, im := range images {
			fmt.Fprintf(&b, "image %q %dx%d\n", captions[i], im.W, im.H)
		}
		show("", b.String(), nil)
		return nil
	}
	html, err := ImagesHTML(captions, images)
	if err != nil {
		return err
	}
	m, err := Montage(captions, images)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, m); err != nil {
		return err
	}
	show(html, "", buf.Bytes())
	return nil
}

// scale is the integer factor that brings the longer side of a w×h image to at least MinDisplay.
func scale(w, h int) int {
	s := 1
	for max(w, h)*s < MinDisplay {
		s++
	}
	return s
}

// ImagesHTML is the grid: one <figure> per image, the PNG inlined as a data URI, the caption escaped.
func ImagesHTML(captions []string, images []*imageio.Image) (string, error) {
	if len(captions) != len(images) {
		return "", fmt.Errorf("nbui.ImagesHTML: %d captions for %d images", len(captions), len(images))
	}
	figs := make([]figure, len(images))
	for i, im := range images {
		var buf bytes.Buffer
		if err := imageio.EncodePNG(&buf, im); err != nil {
			return "", fmt.Errorf("image %q: %w", captions[i], err)
		}
		s := scale(im.W, im.H)
		figs[i] = figure{
			Src:     template.URL("data:image/png;base64," + base64.StdEncoding.EncodeToString(buf.Bytes())),
			Caption: captions[i], W: im.W * s, H: im.H * s, Pixel: s > 1,
		}
	}
	return mustExec(imagesTpl, figs), nil
}

// Montage draws the images on a white canvas in rows of at most 5, each scaled up like ImagesHTML and centred in
// a tile as large as the largest one, with its caption (7×13 bitmap font, cut to the tile's width with "…")
// under it.
func Montage(captions []string, images []*imageio.Image) (*image.NRGBA, error) {
	if len(images) == 0 || len(captions) != len(images) {
		return nil, fmt.Errorf("nbui.Montage: %d captions for %d images (need at least one image)", len(captions), len(images))
	}
	const gap, capH, perRow = 8, 18, 5
	tiles := make([]*image.NRGBA, len(images))
	tw, th := 0, 0
	for i, im := range images {
		n, err := im.ToNRGBA()
		if err != nil {
			return nil, fmt.Errorf("image %q: %w", captions[i], err)
		}
		tiles[i] = upscale(n, scale(im.W, im.H))
		tw = max(tw, tiles[i].Bounds().Dx())
		th = max(th, tiles[i].Bounds().Dy())
	}
	cols := min(perRow, len(images))
	rows := (len(images) + cols - 1) / cols
	W := cols*tw + (cols+1)*gap
	H := rows*(th+capH) + (rows+1)*gap
	out := image.NewNRGBA(image.Rect(0, 0, W, H))
	draw.Draw(out, out.Bounds(), image.NewUniform(color.White), image.Point{}, draw.Src)
	face := basicfont.Face7x13
	d := &font.Drawer{Dst: out, Src: image.NewUniform(color.Black), Face: face}
	for i, t := range tiles {
		r, c := i/cols, i%cols
		x0 := gap + c*(tw+gap)
		y0 := gap + r*(th+capH+gap)
		b := t.Bounds()
		at := image.Pt(x0+(tw-b.Dx())/2, y0+(th-b.Dy())/2)
		draw.Draw(out, image.Rectangle{Min: at, Max: at.Add(b.Size())}, t, b.Min, draw.Src)
		text := fitText(captions[i], tw/face.Advance)
		d.Dot = fixed.P(x0+(tw-len([]rune(text))*face.Advance)/2, y0+th+13)
		d.DrawString(text)
	}
	return out, nil
}

// fitText cuts s to at most n runes, ending with "~" when cut (the 7×13 bitmap font has no ellipsis).
func fitText(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	if n <= 1 {
		return string(r[:max(n, 0)])
	}
	return string(r[:n-1]) + "~"
}

func upscale(src *image.NRGBA, s int) *image.NRGBA {
	if s == 1 {
		return src
	}
	b := src.Bounds()
	dst := image.NewNRGBA(image.Rect(0, 0, b.Dx()*s, b.Dy()*s))
	for y := 0; y < b.Dy()*s; y++ {
		for x := 0; x < b.Dx()*s; x++ {
			dst.SetNRGBA(x, y, src.NRGBAAt(b.Min.X+x/s, b.Min.Y+y/s))
		}
	}
	return dst
}
