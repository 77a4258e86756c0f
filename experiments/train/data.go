package train

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/stylelab/stylelab/experiments/imageio"
)

// ImageExts are the file extensions ContentFiles lists (case-insensitive).
var ImageExts = []string{".jpg", ".jpeg", ".png"}

// ContentFiles lists the images of a content folder (not recursive), sorted by name. A folder without images is
// an error that says so.
func ContentFiles(dir string) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("train: content folder: %w (give --content-dir a folder of JPEG/PNG photos, e.g. images/content)", err)
	}
	var out []string
	for _, e := range ents {
		ext := strings.ToLower(filepath.Ext(e.Name()))
		if e.Type().IsRegular() && (ext == ".jpg" || ext == ".jpeg" || ext == ".png") {
			out = append(out, filepath.Join(dir, e.Name()))
		}
	}
	sort.Strings(out)
	if len(out) == 0 {
		return nil, fmt.Errorf("train: content folder %s has no images (.jpg, .jpeg, .png): add photos or name another folder", dir)
	}
	return out, nil
}

// fitShorter resizes im so that its shorter side is side (a copy when it already is).
func fitShorter(im *imageio.Image, side int) (*imageio.Image, error) {
	w, h := im.W, im.H
	if w <= h {
		h = max(side, (h*side+w/2)/w)
		w = side
	} else {
		w = max(side, (w*side+h/2)/h)
		h = side
	}
	return imageio.Resize(im, w, h)
}

// CenterSquare crops the central square of im and resizes it to side×side.
func CenterSquare(im *imageio.Image, side int) (*imageio.Image, error) {
	s := min(im.W, im.H)
	c := crop(im, (im.W-s)/2, (im.H-s)/2, s, false)
	return imageio.Resize(c, side, side)
}

// crop returns the s×s window of im at (x, y), mirrored left–right when flip.
func crop(im *imageio.Image, x, y, s int, flip bool) *imageio.Image {
	out := imageio.New(s, s)
	for i := range s {
		for j := range s {
			sj := j
			if flip {
				sj = s - 1 - j
			}
			copy(out.Pix[(i*s+j)*3:(i*s+j)*3+3], im.Pix[((y+i)*im.W+x+sj)*3:((y+i)*im.W+x+sj)*3+3])
		}
	}
	return out
}

// pool is a set of images prepared for random crops of side size: each resized so that its shorter side is
// ⌈1.25·size⌉ (a crop then covers most of the picture, at a scale that varies with its position).
type pool struct {
	size   int
	images []*imageio.Image
}

func newPool(paths []string, size int) (*pool, error) {
	p := &pool{size: size}
	for _, path := range paths {
		im, err := imageio.Load(path, 0)
		if err != nil {
			return nil, fmt.Errorf("train: %w", err)
		}
		if im, err = fitShorter(im, (size*5+3)/4); err != nil {
			return nil, fmt.Errorf("train: %s: %w", path, err)
		}
		p.images = append(p.images, im)
	}
	return p, nil
}

// sample draws one crop: a random image, a random position, a random left–right flip.
func (p *pool) sample(rng *rand.Rand) *imageio.Image {
	im := p.images[rng.IntN(len(p.images))]
	x, y := rng.IntN(im.W-p.size+1), rng.IntN(im.H-p.size+1)
	return crop(im, x, y, p.size, rng.IntN(2) == 1)
}

// stepRNG is the generator of step t's random choices: PCG(seed, t ⊕ "TRAINSTP").
func stepRNG(seed uint64, step int) *rand.Rand {
	return rand.New(rand.NewPCG(seed, uint64(step)^0x545241494e535450))
}

// styleChoice returns the style of each of b examples among s: every style ⌊b/s⌋ times, the rest drawn at random
// without repetition, in a random order.
func styleChoice(rng *rand.Rand, b, s int) []int {
	out := make([]int, 0, b)
	for range b / s {
		for k := range s {
			out = append(out, k)
		}
	}
	out = append(out, rng.Perm(s)[:b-len(out)]...)
	rng.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	return out
}

// batchPix concatenates images of one size into [B·H·W·3] values.
func batchPix(ims []*imageio.Image) []float32 {
	out := make([]float32, 0, len(ims)*len(ims[0].Pix))
	for _, im := range ims {
		out = append(out, im.Pix...)
	}
	return out
}

// Grid lays images out in rows (each row may have a different length) on a white background with pad pixels
// between cells; every cell is as large as the largest image.
func Grid(rows [][]*imageio.Image, pad int) *imageio.Image {
	cw, ch, cols := 0, 0, 0
	for _, r := range rows {
		cols = max(cols, len(r))
		for _, im := range r {
			cw, ch = max(cw, im.W), max(ch, im.H)
		}
	}
	W, H := cols*cw+(cols+1)*pad, len(rows)*ch+(len(rows)+1)*pad
	out := imageio.New(W, H)
	for i := range out.Pix {
		out.Pix[i] = 1
	}
	for r, row := range rows {
		for c, im := range row {
			x0, y0 := pad+c*(cw+pad), pad+r*(ch+pad)
			for y := range im.H {
				copy(out.Pix[((y0+y)*W+x0)*3:((y0+y)*W+x0+im.W)*3], im.Pix[y*im.W*3:(y+1)*im.W*3])
			}
		}
	}
	return out
}
