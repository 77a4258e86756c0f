package train

import (
	"container/list"
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

// MaxAspect bounds the shape of a pool image: one whose longer side is more than MaxAspect times its shorter side
// (a 1×39000 strip, a wide panorama) is centre-cropped along its longer side to ⌊MaxAspect·shorter⌋ before it is
// resized, so a pool image is at most ⌈1.25·size⌉ × 4·⌈1.25·size⌉ pixels whatever the file's shape (crops only
// ever see the middle of such an image).
const MaxAspect = 4

// PoolBudget bounds the bytes of resized images a pool keeps in memory (12 bytes a pixel). Images past it are
// dropped, least recently used first, and prepared again from their file when drawn (the same pixels, so the
// crops are those of an unbounded pool); at least the image in use is kept. 1 GiB holds ≈ 10,000 photos at
// the cpu preset's 64 px crops, ≈ 1,200 at the gpu preset's 256 px.
var PoolBudget int64 = 1 << 30

// pool is a set of images prepared for random crops of side size: each cropped to MaxAspect, then resized so that
// its shorter side is ⌈1.25·size⌉ (a crop then covers most of the picture, at a scale that varies with its
// position). It keeps at most PoolBudget bytes of them (see PoolBudget).
type pool struct {
	size, short int
	paths       []string
	dims        [][2]int              // prepared W, H of each image
	cache       map[int]*list.Element // values are *pooled, most recently used at the front
	lru         list.List
	bytes       int64
	budget      int64
	prepared    int // images prepared so far (for tests)
}

type pooled struct {
	i  int
	im *imageio.Image
}

// newPool prepares every image once (so an unreadable one is reported before training starts) and keeps what
// fits in PoolBudget.
func newPool(paths []string, size int) (*pool, error) {
	p := &pool{size: size, short: (size*5 + 3) / 4, paths: paths, cache: map[int]*list.Element{}, budget: PoolBudget}
	for i := range paths {
		im, err := p.prepare(i)
		if err != nil {
			return nil, err
		}
		p.dims = append(p.dims, [2]int{im.W, im.H})
		p.put(i, im)
	}
	return p, nil
}

// prepare loads image i, crops it to MaxAspect and resizes its shorter side to p.short.
func (p *pool) prepare(i int) (*imageio.Image, error) {
	path := p.paths[i]
	im, err := imageio.Load(path, 0)
	if err != nil {
		return nil, fmt.Errorf("train: %w", err)
	}
	if im, err = cropAspect(im, MaxAspect); err != nil {
		return nil, fmt.Errorf("train: %s: %w", path, err)
	}
	if im, err = fitShorter(im, p.short); err != nil {
		return nil, fmt.Errorf("train: %s: %w", path, err)
	}
	p.prepared++
	if i < len(p.dims) && (im.W != p.dims[i][0] || im.H != p.dims[i][1]) {
		return nil, fmt.Errorf("train: %s changed during training (now %d×%d after preparing, was %d×%d): restore it, or start again", path, im.W, im.H, p.dims[i][0], p.dims[i][1])
	}
	return im, nil
}

// cropAspect centre-crops im along its longer side to at most maxAspect times its shorter side (unchanged when
// it already fits).
func cropAspect(im *imageio.Image, maxAspect int) (*imageio.Image, error) {
	switch {
	case im.W > maxAspect*im.H:
		w := maxAspect * im.H
		return imageio.Crop(im, (im.W-w)/2, 0, w, im.H)
	case im.H > maxAspect*im.W:
		h := maxAspect * im.W
		return imageio.Crop(im, 0, (im.H-h)/2, im.W, h)
	}
	return im, nil
}

// put keeps image i as the most recently used, dropping the least recently used ones past the budget.
func (p *pool) put(i int, im *imageio.Image) {
	p.cache[i] = p.lru.PushFront(&pooled{i, im})
	p.bytes += int64(len(im.Pix)) * 4
	for p.bytes > p.budget && p.lru.Len() > 1 {
		e := p.lru.Back()
		old := p.lru.Remove(e).(*pooled)
		delete(p.cache, old.i)
		p.bytes -= int64(len(old.im.Pix)) * 4
	}
}

// get returns prepared image i, preparing it again when it was dropped.
func (p *pool) get(i int) (*imageio.Image, error) {
	if e, ok := p.cache[i]; ok {
		p.lru.MoveToFront(e)
		return e.Value.(*pooled).im, nil
	}
	im, err := p.prepare(i)
	if err != nil {
		return nil, err
	}
	p.put(i, im)
	return im, nil
}

// sample draws one crop: a random image, a random position, a random left–right flip.
func (p *pool) sample(rng *rand.Rand) (*imageio.Image, error) {
	return p.sampleFrom(rng, rng.IntN(len(p.paths)))
}

// sampleFrom draws a random crop of image k of the pool (adain style crops: the example's own style).
func (p *pool) sampleFrom(rng interface{ IntN(int) int }, k int) (*imageio.Image, error) {
	im, err := p.get(k)
	if err != nil {
		return nil, err
	}
	x, y := rng.IntN(im.W-p.size+1), rng.IntN(im.H-p.size+1)
	return crop(im, x, y, p.size, rng.IntN(2) == 1), nil
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
