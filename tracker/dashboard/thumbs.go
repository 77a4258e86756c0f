package dashboard

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	_ "image/gif" // decoders for the image artifacts a thumbnail is made from
	_ "image/jpeg"
	"image/png"
	"net/http"
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

// Thumbnail decodes an image (PNG, JPEG, GIF, WebP) and returns it as a PNG whose longest side is at most
// size pixels, scaled with the bilinear kernel (widened when shrinking, so every source pixel counts) (aspect ratio kept: w' = round(w·size/max(w,h)), at least 1 px).
// An image already that small is re-encoded at its own size.
func Thumbnail(data []byte, size int) ([]byte, error) {
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

// GET /thumbs/{sha256}: a ThumbSize PNG of an image artifact, made from bytes checked against the hash
// (500 "damaged" otherwise), cached in memory and sent as immutable (ETag = hash + size).
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
		raw, err := readVerified(s.st, sha)
		switch {
		case errors.Is(err, tracker.ErrDamaged):
			httpError(w, r, http.StatusInternalServerError, "artifact %s is damaged: %v", sha, err)
			return
		case err != nil:
			httpError(w, r, http.StatusNotFound, "artifact %s is recorded but its file cannot be read: %v", sha, err)
			return
		}
		if data, err = Thumbnail(raw, ThumbSize); err != nil {
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

// imageRank orders a run's images as the run page shows them: content, then style(s), then output, then
// the rest, each group by name.
func imageRank(name string) int {
	n := strings.ToLower(name)
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
