package dashboard

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/color"
	_ "image/gif" // decoders for the image artifacts a thumbnail is made from
	_ "image/jpeg"
	"image/png"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/image/draw"
	_ "golang.org/x/image/webp"

	"github.com/stylelab/stylelab/tracker"
)

// ThumbSize is the longest side, in pixels, of the thumbnails the runs table shows (/thumbs/{sha256}).
const ThumbSize = 96

// maxThumbCacheBytes bounds the in-memory cache of encoded thumbnails (a 96 px PNG is a few KiB: ~2,000 of them).
const maxThumbCacheBytes = 8 << 20

// thumbCache holds encoded thumbnails by artifact SHA-256, evicting the oldest first past maxBytes.
type thumbCache struct {
	mu       sync.Mutex
	byHash   map[string][]byte
	order    []string
	bytes    int
	maxBytes int
}

func (c *thumbCache) get(sha string) ([]byte, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	b, ok := c.byHash[sha]
	return b, ok
}

func (c *thumbCache) put(sha string, b []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.byHash == nil {
		c.byHash = map[string][]byte{}
	}
	if _, ok := c.byHash[sha]; ok || len(b) > c.maxBytes {
		return
	}
	for c.bytes+len(b) > c.maxBytes && len(c.order) > 0 {
		old := c.order[0]
		c.order = c.order[1:]
		c.bytes -= len(c.byHash[old])
		delete(c.byHash, old)
	}
	c.byHash[sha] = b
	c.order = append(c.order, sha)
	c.bytes += len(b)
}

// Limits of thumbnail work. Decoding allocates the whole image before scaling it, so a small file with a
// big header (a 2 MB 16000² 16-bit PNG decodes into 2 GB) is refused from its header, as imageio refuses
// inputs: image.DecodeConfig gives W×H and the colour model, and the decoded size is estimated as
// W·H·bytesPerPixel(model) — 8 for 16-bit RGBA, 4 for 8-bit RGBA, CMYK and YCbCr with alpha, 3 for YCbCr
// (4:4:4 at most), 2 for 16-bit grey, 1 for 8-bit grey and paletted, 8 for any other model. At most thumbSlots thumbnails
// are made at once (further requests wait their turn), so thumbnail work holds at most
// thumbSlots × (MaxThumbDecodeBytes + MaxThumbSourceBytes) of memory whatever the number of requests.
const (
	MaxThumbDecodeBytes = 128 << 20 // a 4096² 8-bit RGBA output (64 MiB) or a 24 MP JPEG (72 MB) fit
	MaxThumbSourceBytes = 64 << 20  // the image file itself, read whole to check its SHA-256
	thumbSlots          = 2
)

// ErrThumbTooLarge: the image would take more memory to decode than a thumbnail may.
var ErrThumbTooLarge = errors.New("image too large for a thumbnail")

// decodedBytes estimates the memory image.Decode takes for an image of this configuration.
func decodedBytes(c image.Config) int64 {
	bpp := int64(8)
	switch c.ColorModel {
	case color.RGBA64Model, color.NRGBA64Model:
		bpp = 8
	case color.RGBAModel, color.NRGBAModel, color.CMYKModel, color.NYCbCrAModel:
		bpp = 4
	case color.YCbCrModel:
		bpp = 3
	case color.Gray16Model, color.Alpha16Model:
		bpp = 2
	case color.GrayModel, color.AlphaModel:
		bpp = 1
	default:
		if _, ok := c.ColorModel.(color.Palette); ok {
			bpp = 1
		}
	}
	return int64(c.Width) * int64(c.Height) * bpp
}

// Thumbnail decodes an image (PNG, JPEG, GIF, WebP) and returns it as a PNG whose longest side is at most
// size pixels, scaled with the bilinear kernel (widened when shrinking, so every source pixel counts) (aspect ratio kept: w' = round(w·size/max(w,h)), at least 1 px).
// An image already that small is re-encoded at its own size. An image whose decoding would take more than
// MaxThumbDecodeBytes (see decodedBytes) is refused from its header with an error wrapping
// ErrThumbTooLarge, before anything is decoded.
func Thumbnail(data []byte, size int) ([]byte, error) {
	cfg, format, err := image.DecodeConfig(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("decoding the image: %w", err)
	}
	if n := decodedBytes(cfg); cfg.Width <= 0 || cfg.Height <= 0 || n > MaxThumbDecodeBytes {
		return nil, fmt.Errorf("%w: a %dx%d %s would take %d MiB to decode, above the %d MiB a thumbnail may use (open the artifact itself)",
			ErrThumbTooLarge, cfg.Width, cfg.Height, format, n>>20, MaxThumbDecodeBytes>>20)
	}
	src, _, err := image.Decode(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("decoding the image: %w", err)
	}
	b := src.Bounds()
	w, h := b.Dx(), b.Dy()
	if long := max(w, h); long > size {
		w = max(1, (w*size+long/2)/long)
		h = max(1, (h*size+long/2)/long)
	}
	dst := image.NewRGBA(image.Rect(0, 0, w, h))
	draw.BiLinear.Scale(dst, dst.Bounds(), src, b, draw.Src, nil)
	var out bytes.Buffer
	if err := (&png.Encoder{CompressionLevel: png.BestSpeed}).Encode(&out, dst); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

// thumbWork runs fn holding one of the thumbSlots work slots, waiting for one while ctx allows; it
// returns ctx's error if the request ends first.
func (s *Server) thumbWork(ctx context.Context, fn func()) error {
	select {
	case s.thumbSem <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-s.thumbSem }()
	fn()
	return nil
}

// placeholderThumb is the image sent, with an error status, for an image too large for a thumbnail: a
// ThumbSize grey square crossed out, so that the runs table shows a mark instead of a broken image.
var placeholderThumb = func() []byte {
	im := image.NewRGBA(image.Rect(0, 0, ThumbSize, ThumbSize))
	for y := 0; y < ThumbSize; y++ {
		for x := 0; x < ThumbSize; x++ {
			c := color.RGBA{0xe4, 0xe4, 0xe4, 0xff}
			if d := x - y; d >= -1 && d <= 1 || x+y >= ThumbSize-2 && x+y <= ThumbSize {
				c = color.RGBA{0x99, 0x99, 0x99, 0xff}
			}
			im.SetRGBA(x, y, c)
		}
	}
	var b bytes.Buffer
	png.Encode(&b, im)
	return b.Bytes()
}()

// GET /thumbs/{sha256}: a ThumbSize PNG of an image artifact, made from bytes checked against the hash
// (500 "damaged" otherwise), cached in memory and sent as immutable (ETag = hash + size). An image too
// large to decode for a thumbnail (Thumbnail's limit), or a file over MaxThumbSourceBytes, gets 413 with
// placeholderThumb as the body and the reason in the X-Stylelab-Error header.
func (s *Server) thumb(w http.ResponseWriter, r *http.Request) {
	sha := r.PathValue("sha")
	if !isSHA256(sha) {
		httpError(w, r, http.StatusBadRequest, "thumbnails are addressed by the image's SHA-256: 64 lowercase hex digits (got %q)", sha)
		return
	}
	data, ok := s.thumbs.get(sha)
	if !ok {
		path, err := s.st.ArtifactPath(sha)
		if err != nil {
			code := lookupStatus(err)
			if code == http.StatusInternalServerError {
				code = http.StatusNotFound
			}
			httpError(w, r, code, "no artifact %s: %v", sha, err)
			return
		}
		if !s.insideStore(path) {
			httpError(w, r, http.StatusForbidden, "artifact %s resolves outside the artifact store", sha)
			return
		}
		if st, err := os.Stat(path); err == nil && st.Size() > MaxThumbSourceBytes {
			tooLarge(w, r, fmt.Sprintf("artifact %s is a %d MiB file, above the %d MiB a thumbnail is made from (open /artifacts/%s instead)",
				sha, st.Size()>>20, MaxThumbSourceBytes>>20, sha))
			return
		}
		var raw []byte
		var werr error
		if err = s.thumbWork(r.Context(), func() {
			if raw, werr = readVerified(s.st, sha); werr == nil {
				data, werr = Thumbnail(raw, ThumbSize)
			}
		}); err == nil {
			err = werr
		}
		switch {
		case errors.Is(err, tracker.ErrDamaged):
			httpError(w, r, http.StatusInternalServerError, "artifact %s is damaged: %v", sha, err)
			return
		case errors.Is(err, ErrThumbTooLarge):
			tooLarge(w, r, fmt.Sprintf("artifact %s: %v instead", sha, err))
			return
		case r.Context().Err() != nil:
			httpError(w, r, http.StatusServiceUnavailable, "the request ended while waiting for thumbnail work: %v", err)
			return
		case err != nil && raw == nil:
			httpError(w, r, http.StatusNotFound, "artifact %s is recorded but its file cannot be read: %v", sha, err)
			return
		case err != nil:
			httpError(w, r, http.StatusUnsupportedMediaType, "artifact %s has no thumbnail: %v (open /artifacts/%s instead)", sha, err, sha)
			return
		}
		s.thumbs.put(sha, data)
	}
	h := w.Header()
	h.Set("Content-Type", "image/png")
	h.Set("ETag", `"`+sha+"-t"+strconv.Itoa(ThumbSize)+`"`)
	h.Set("Cache-Control", "public, max-age=31536000, immutable")
	http.ServeContent(w, r, "", startTime, bytes.NewReader(data))
}

// tooLarge answers 413 with placeholderThumb (browsers show an image body whatever the status) and the
// reason in the X-Stylelab-Error header.
func tooLarge(w http.ResponseWriter, r *http.Request, reason string) {
	h := w.Header()
	h.Set("Content-Type", "image/png")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Stylelab-Error", strings.Map(func(c rune) rune {
		if c < 0x20 || c > 0x7e {
			return ' '
		}
		return c
	}, reason))
	h.Set("Content-Length", strconv.Itoa(len(placeholderThumb)))
	w.WriteHeader(http.StatusRequestEntityTooLarge)
	if r.Method != http.MethodHead {
		w.Write(placeholderThumb)
	}
}

// imageRank orders a run's images as the run page shows them: content, then style(s), then output, then
// the rest, each group by name. The stored inputs (inputs/content.png, inputs/style-0.jpg …) count as
// content and style.
func imageRank(name string) int {
	n := strings.TrimPrefix(strings.ToLower(name), "inputs/") // the runner's stored inputs: inputs/content.png
	switch {
	case strings.HasPrefix(n, "content"):
		return 0
	case strings.HasPrefix(n, "style"):
		return 1
	case strings.HasPrefix(n, "output"):
		return 2
	}
	return 3
}

func sortImages(arts []tracker.Artifact) {
	sort.SliceStable(arts, func(i, j int) bool {
		ri, rj := imageRank(arts[i].Name), imageRank(arts[j].Name)
		if ri != rj {
			return ri < rj
		}
		return arts[i].Name < arts[j].Name
	})
}

// outputImage picks the image a run's thumbnail shows: "output.png" (the runner's output) if present,
// else the first image named output*, else the last image by name (nil when the run has none).
func outputImage(arts []tracker.Artifact) *tracker.Artifact {
	var firstOutput, last *tracker.Artifact
	for i := range arts {
		a := &arts[i]
		if !isImage(a.MediaType) {
			continue
		}
		if a.Name == "output.png" {
			return a
		}
		if firstOutput == nil && imageRank(a.Name) == 2 {
			firstOutput = a
		}
		last = a
	}
	if firstOutput != nil {
		return firstOutput
	}
	return last
}
