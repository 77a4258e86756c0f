// Package imageio reads PNG and JPEG files into RGB float32 images in [0,1] (HWC layout), resizes them, writes
// PNG, and converts to and from GoMLX tensors of shape [1,H,W,3].
//
// Decisions:
//   - Resampling uses golang.org/x/image/draw's CatmullRom kernel. Its Scale widens the kernel when shrinking, so
//     downscaling is anti-aliased (no moiré from photographs or brush strokes), and Catmull-Rom keeps edges
//     sharper than BiLinear, which matters for style images whose texture is the signal. It is the slowest
//     kernel, but images are resized once per run.
//   - Alpha is composited over white: out = c·α + (1−α) with c the straight colour, i.e. premultiplied colour
//     plus (1−α). Transparent areas of a PNG are usually shown on a white page, and white is what a viewer
//     would show; dropping alpha instead would expose whatever colour the file keeps under transparent pixels.
//   - 8-bit values v map to v/255 and back by round(x·255), so an 8-bit image survives Load → SavePNG unchanged.
//   - The pixel count is checked with image.DecodeConfig, from the header, before anything is decoded, so a
//     file that claims to be huge is rejected without allocating its pixels.
//   - EXIF orientation in JPEG files is applied (exif.go): the image comes out upright, as viewers show it, with
//     width and height swapped for the rotated orientations; the pixel limit and resizing see the upright image.
package imageio

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/color"
	_ "image/jpeg" // registers the JPEG decoder
	"image/png"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"

	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/stylelab/stylelab/experiments/safefile"
	"golang.org/x/image/draw"
)

// Image is an RGB image, row-major, channels last: the value of channel c at column x, row y is
// Pix[(y·W + x)·3 + c], normally in [0,1].
type Image struct {
	W, H int
	Pix  []float32
}

// MaxPixels is the largest W·H Load accepts (64 megapixels). Raise it to load bigger files; each pixel costs
// 12 bytes as float32 RGB plus the decoder's own buffer.
var MaxPixels int64 = 64_000_000

// Sizes accepted by Load for the longer side (0 keeps the file's size).
const (
	MinSize = 16
	MaxSize = 4096
)

// New returns a black w×h image.
func New(w, h int) *Image { return &Image{W: w, H: h, Pix: make([]float32, w*h*3)} }

// Clone returns a deep copy of im.
func (im *Image) Clone() *Image {
	return &Image{W: im.W, H: im.H, Pix: append([]float32(nil), im.Pix...)}
}

// At returns the RGB values at column x, row y.
func (im *Image) At(x, y int) (r, g, b float32) {
	i := (y*im.W + x) * 3
	return im.Pix[i], im.Pix[i+1], im.Pix[i+2]
}

// CheckSize returns an error unless size is 0 (keep) or in [MinSize, MaxSize].
func CheckSize(size int) error {
	if size != 0 && (size < MinSize || size > MaxSize) {
		return fmt.Errorf("size must be between %d and %d pixels, or 0 to keep the image's own size (got %d)", MinSize, MaxSize, size)
	}
	return nil
}

// Load reads a PNG or JPEG file and, when size > 0, resizes it so that its longer side is size pixels, keeping
// the aspect ratio (shorter side = round(short·size/long), at least 1). An image whose longer side already is
// size (or size = 0) is not resampled at all. Every error names the file and how to fix the problem.
func Load(path string, size int) (*Image, error) {
	if err := CheckSize(size); err != nil {
		return nil, fmt.Errorf("image %q: %w", path, err)
	}
	f, st, err := safefile.Open(path)
	if err != nil {
		switch {
		case errors.Is(err, fs.ErrNotExist):
			return nil, fmt.Errorf("image %q not found: check the path (the working directory is %s)", path, wd())
		case errors.Is(err, fs.ErrPermission):
			return nil, fmt.Errorf("image %q cannot be read: permission denied; check the file's permissions", path)
		case errors.Is(err, safefile.ErrNotRegular):
			if fi, serr := os.Stat(path); serr == nil && fi.IsDir() {
				return nil, fmt.Errorf("image %q is a folder, not a file: give the path of a PNG or JPEG file", path)
			}
			return nil, fmt.Errorf("image %w", err)
		}
		return nil, fmt.Errorf("image %q cannot be opened: %v", path, err)
	}
	defer f.Close()
	if st.Size() == 0 {
		return nil, fmt.Errorf("image %q is empty (0 bytes): re-export or copy the image again", path)
	}
	return decode(path, f, size)
}

// DecodeBytes is Load for an image already in memory; name is used in error messages.
func DecodeBytes(name string, data []byte, size int) (*Image, error) {
	if err := CheckSize(size); err != nil {
		return nil, fmt.Errorf("image %q: %w", name, err)
	}
	if len(data) == 0 {
		return nil, fmt.Errorf("image %q is empty (0 bytes): re-export or copy the image again", name)
	}
	return decode(name, bytes.NewReader(data), size)
}

func wd() string {
	d, err := os.Getwd()
	if err != nil {
		return "unknown"
	}
	return d
}

// decode reads the header, checks the pixel count, then decodes, converts and resizes.
func decode(name string, r io.ReadSeeker, size int) (*Image, error) {
	cfg, format, err := image.DecodeConfig(bufio.NewReader(r))
	if err != nil {
		if errors.Is(err, image.ErrFormat) {
			return nil, fmt.Errorf("image %q is not a PNG or JPEG file (only PNG and JPEG are supported): convert it to PNG or JPEG", name)
		}
		return nil, fmt.Errorf("image %q is corrupt or truncated (%v): re-export it as PNG or JPEG", name, err)
	}
	if cfg.Width <= 0 || cfg.Height <= 0 {
		return nil, fmt.Errorf("image %q has no pixels (%d×%d): re-export it", name, cfg.Width, cfg.Height)
	}
	if n := int64(cfg.Width) * int64(cfg.Height); n > MaxPixels {
		return nil, fmt.Errorf("image %q is %d×%d = %.1f megapixels, above the limit of %.0f megapixels: downscale it first (or raise imageio.MaxPixels)",
			name, cfg.Width, cfg.Height, float64(n)/1e6, float64(MaxPixels)/1e6)
	}
	if _, err := r.Seek(0, io.SeekStart); err != nil {
		return nil, fmt.Errorf("image %q cannot be re-read: %v", name, err)
	}
	img, _, err := image.Decode(bufio.NewReader(r))
	if err != nil {
		return nil, fmt.Errorf("image %q is a corrupt or truncated %s (%v): re-export it as PNG or JPEG", name, upper(format), err)
	}
	if format == "jpeg" {
		if _, err := r.Seek(0, io.SeekStart); err != nil {
			return nil, fmt.Errorf("image %q cannot be re-read: %v", name, err)
		}
		img = orient(img, jpegOrientation(r))
	}
	w, h := img.Bounds().Dx(), img.Bounds().Dy()
	if size == 0 || max(w, h) == size {
		return FromImage(img), nil
	}
	nw, nh := fitLonger(w, h, size)
	dst := image.NewRGBA(image.Rect(0, 0, nw, nh))
	// Scale into 8-bit premultiplied RGBA: x/image/draw has fast paths for it from every decoder's output type
	// (YCbCr, Gray, NRGBA, RGBA); the input has 8-bit precision anyway.
	draw.CatmullRom.Scale(dst, dst.Bounds(), img, img.Bounds(), draw.Src, nil)
	return FromImage(dst), nil
}

func upper(format string) string {
	switch format {
	case "png":
		return "PNG"
	case "jpeg":
		return "JPEG"
	}
	return format
}

// fitLonger returns the size with longer side `size` and the aspect ratio of w×h.
func fitLonger(w, h, size int) (int, int) {
	if w >= h {
		return size, max(1, int(math.Round(float64(h)*float64(size)/float64(w))))
	}
	return max(1, int(math.Round(float64(w)*float64(size)/float64(h)))), size
}

// FromImage converts any image.Image to RGB float32, compositing alpha over white:
// out = (c_premultiplied + (65535 − α)) / 65535 on the 16-bit values Go's colour model gives.
func FromImage(img image.Image) *Image {
	b := img.Bounds()
	out := New(b.Dx(), b.Dy())
	const m = 65535.0
	i := 0
	rgba64, fast := img.(image.RGBA64Image)
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			var r, g, bl, a uint32
			if fast {
				c := rgba64.RGBA64At(x, y)
				r, g, bl, a = uint32(c.R), uint32(c.G), uint32(c.B), uint32(c.A)
			} else {
				r, g, bl, a = img.At(x, y).RGBA()
			}
			white := m - float64(a)
			out.Pix[i] = float32((float64(r) + white) / m)
			out.Pix[i+1] = float32((float64(g) + white) / m)
			out.Pix[i+2] = float32((float64(bl) + white) / m)
			i += 3
		}
	}
	return out
}

// to8 maps a value in [0,1] to 8 bits: round(clamp(v,0,1)·255).
func to8(v float32) uint8 {
	f := float64(v)
	if f <= 0 {
		return 0
	}
	if f >= 1 {
		return 255
	}
	return uint8(math.Round(f * 255))
}

// checkFinite returns an error naming the first NaN or ±Inf pixel.
func (im *Image) checkFinite() error {
	for i, v := range im.Pix {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			p := i / 3
			return fmt.Errorf("pixel (x=%d, y=%d) channel %d is %v: the image is not finite and cannot be saved", p%im.W, p/im.W, i%3, v)
		}
	}
	return nil
}

func (im *Image) validate() error {
	if im == nil {
		return errors.New("nil image")
	}
	if im.W <= 0 || im.H <= 0 || len(im.Pix) != im.W*im.H*3 {
		return fmt.Errorf("malformed image: %d×%d with %d values (want W·H·3 = %d)", im.W, im.H, len(im.Pix), max(im.W*im.H*3, 0))
	}
	return nil
}

// ToNRGBA converts to an 8-bit opaque image, values clamped to [0,1] and rounded: round(clamp(v)·255).
func (im *Image) ToNRGBA() (*image.NRGBA, error) {
	if err := im.validate(); err != nil {
		return nil, err
	}
	if err := im.checkFinite(); err != nil {
		return nil, err
	}
	out := image.NewNRGBA(image.Rect(0, 0, im.W, im.H))
	for p := 0; p < im.W*im.H; p++ {
		out.Pix[p*4] = to8(im.Pix[p*3])
		out.Pix[p*4+1] = to8(im.Pix[p*3+1])
		out.Pix[p*4+2] = to8(im.Pix[p*3+2])
		out.Pix[p*4+3] = 255
	}
	return out, nil
}

// EncodePNG writes im as an 8-bit RGB PNG (values clamped to [0,1], rounded to the nearest of 256 levels).
// It refuses images holding NaN or ±Inf.
func EncodePNG(w io.Writer, im *Image) error {
	n, err := im.ToNRGBA()
	if err != nil {
		return err
	}
	return png.Encode(w, n)
}

// SavePNG writes im to path as PNG, creating the parent folder. It writes a temporary file in the same folder
// and renames it, so a failed save never leaves a half-written file under path.
func SavePNG(path string, im *Image) error {
	var buf bytes.Buffer
	if err := EncodePNG(&buf, im); err != nil {
		return fmt.Errorf("saving %q: %w", path, err)
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("saving %q: cannot create folder %s: %v", path, dir, err)
	}
	tmp, err := os.CreateTemp(dir, ".tmp-*.png")
	if err != nil {
		return fmt.Errorf("saving %q: %v; check the folder is writable", path, err)
	}
	_, werr := tmp.Write(buf.Bytes())
	cerr := tmp.Close()
	if werr == nil {
		werr = cerr
	}
	if werr == nil {
		werr = os.Rename(tmp.Name(), path)
	}
	if werr != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("saving %q: %v", path, werr)
	}
	return nil
}

// Tensor returns im as a float32 tensor of shape [1,H,W,3] (a copy).
func (im *Image) Tensor() *tensors.Tensor {
	return tensors.FromFlatDataAndDimensions(im.Pix, 1, im.H, im.W, 3)
}

// FromTensor converts a float32 tensor of shape [1,H,W,3] or [H,W,3] to an Image (a copy; values as they are).
func FromTensor(t *tensors.Tensor) (*Image, error) {
	if t == nil {
		return nil, errors.New("FromTensor: nil tensor")
	}
	s := t.Shape()
	dims := s.Dimensions
	if len(dims) == 4 && dims[0] == 1 {
		dims = dims[1:]
	}
	if s.DType != dtypes.Float32 || len(dims) != 3 || dims[2] != 3 {
		return nil, fmt.Errorf("FromTensor: want a float32 tensor of shape [1,H,W,3] or [H,W,3], got %s", s)
	}
	im := New(dims[1], dims[0])
	err := tensors.ConstFlatData(t, func(flat []float32) { copy(im.Pix, flat) })
	if err != nil {
		return nil, fmt.Errorf("FromTensor: %w", err)
	}
	return im, nil
}

// Resize returns im resampled to w×h with the Catmull-Rom kernel (anti-aliased when shrinking). Values are
// clamped to [0,1] and pass through 16 bits per channel. Resizing to the same size returns a copy, unresampled.
func Resize(im *Image, w, h int) (*Image, error) {
	if err := im.validate(); err != nil {
		return nil, fmt.Errorf("Resize: %w", err)
	}
	if w <= 0 || h <= 0 || int64(w)*int64(h) > MaxPixels {
		return nil, fmt.Errorf("Resize: target %d×%d must be positive and at most %d pixels", w, h, MaxPixels)
	}
	if w == im.W && h == im.H {
		return im.Clone(), nil
	}
	src := image.NewRGBA64(image.Rect(0, 0, im.W, im.H))
	for p := 0; p < im.W*im.H; p++ {
		src.SetRGBA64(p%im.W, p/im.W, color.RGBA64{R: to16(im.Pix[p*3]), G: to16(im.Pix[p*3+1]), B: to16(im.Pix[p*3+2]), A: 0xffff})
	}
	dst := image.NewRGBA64(image.Rect(0, 0, w, h))
	draw.CatmullRom.Scale(dst, dst.Bounds(), src, src.Bounds(), draw.Src, nil)
	return FromImage(dst), nil
}

// ResizeLonger resizes im so that its longer side is size, keeping the aspect ratio (see Load).
func ResizeLonger(im *Image, size int) (*Image, error) {
	if err := im.validate(); err != nil {
		return nil, fmt.Errorf("ResizeLonger: %w", err)
	}
	w, h := fitLonger(im.W, im.H, size)
	return Resize(im, w, h)
}

// to16 maps [0,1] to 16 bits: round(clamp(v,0,1)·65535); NaN maps to 0.
func to16(v float32) uint16 {
	f := float64(v)
	if !(f > 0) {
		return 0
	}
	if f >= 1 {
		return 0xffff
	}
	return uint16(math.Round(f * 65535))
}

// Crop returns the w×h region of im whose top-left pixel is (x, y), copied. The region must lie inside im.
func Crop(im *Image, x, y, w, h int) (*Image, error) {
	if err := im.validate(); err != nil {
		return nil, fmt.Errorf("Crop: %w", err)
	}
	if w <= 0 || h <= 0 || x < 0 || y < 0 || x+w > im.W || y+h > im.H {
		return nil, fmt.Errorf("Crop: region %d×%d at (%d,%d) is not inside the %d×%d image", w, h, x, y, im.W, im.H)
	}
	out := New(w, h)
	for r := 0; r < h; r++ {
		copy(out.Pix[r*w*3:(r+1)*w*3], im.Pix[((y+r)*im.W+x)*3:((y+r)*im.W+x+w)*3])
	}
	return out, nil
}

// ResizeCover returns im scaled to w×h keeping its aspect ratio, as CSS's object-fit: cover does: scaled by
// s = max(w/W, h/H) to round(W·s)×round(H·s) (at least w×h) with Resize — not resampled when that is its own
// size — then centre-cropped to w×h (the left/top margin is floor(excess/2)).
func ResizeCover(im *Image, w, h int) (*Image, error) {
	if err := im.validate(); err != nil {
		return nil, fmt.Errorf("ResizeCover: %w", err)
	}
	if w <= 0 || h <= 0 {
		return nil, fmt.Errorf("ResizeCover: target %d×%d must be positive", w, h)
	}
	s := max(float64(w)/float64(im.W), float64(h)/float64(im.H))
	sw, sh := max(w, int(math.Round(float64(im.W)*s))), max(h, int(math.Round(float64(im.H)*s)))
	scaled := im
	if sw != im.W || sh != im.H {
		var err error
		if scaled, err = Resize(im, sw, sh); err != nil {
			return nil, fmt.Errorf("ResizeCover: %w", err)
		}
	}
	return Crop(scaled, (sw-w)/2, (sh-h)/2, w, h)
}
