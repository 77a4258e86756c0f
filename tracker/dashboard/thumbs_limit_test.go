package dashboard

import (
	"bytes"
	"compress/zlib"
	"context"
	"encoding/binary"
	"hash/crc32"
	"image/color"
	"image/png"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stylelab/stylelab/tracker"
)

// pngHeader is a small PNG file (a few hundred bytes) whose header announces a w×h image of the given bit
// depth and colour type, with one short IDAT: what a hostile or broken artifact looks like to a decoder
// that trusts the header.
func pngHeader(t *testing.T, w, h uint32, depth, colorType byte) []byte {
	t.Helper()
	var b bytes.Buffer
	b.WriteString("\x89PNG\r\n\x1a\n")
	chunk := func(typ string, data []byte) {
		binary.Write(&b, binary.BigEndian, uint32(len(data)))
		crc := crc32.NewIEEE()
		crc.Write([]byte(typ))
		crc.Write(data)
		b.WriteString(typ)
		b.Write(data)
		binary.Write(&b, binary.BigEndian, crc.Sum32())
	}
	ihdr := make([]byte, 13)
	binary.BigEndian.PutUint32(ihdr[0:], w)
	binary.BigEndian.PutUint32(ihdr[4:], h)
	ihdr[8], ihdr[9] = depth, colorType
	chunk("IHDR", ihdr)
	var z bytes.Buffer
	zw := zlib.NewWriter(&z)
	zw.Write(make([]byte, 4096))
	zw.Close()
	chunk("IDAT", z.Bytes())
	chunk("IEND", nil)
	return b.Bytes()
}

// TestThumbnailPixelLimit: a small file announcing a 16000² 16-bit RGBA image (2 GB decoded) is refused
// from its header — 413 with a placeholder image and the reason — without allocating the image. It used to
// be decoded (2.1 GB and 15 s per request for a real one).
func TestThumbnailPixelLimit(t *testing.T) {
	big := pngHeader(t, 16000, 16000, 16, 6)
	if _, err := Thumbnail(big, ThumbSize); err == nil || !strings.Contains(err.Error(), "16000x16000") {
		t.Fatalf("Thumbnail of a 16000² header: %v", err)
	}
	path, _ := fillStore(t, []testRun{{name: "huge", files: map[string][]byte{"output.png": big}}})
	st, srv := openServer(t, path, Options{})
	arts, err := st.Artifacts(mustOnlyRun(t, st))
	if err != nil || len(arts) != 1 || arts[0].MediaType != "image/png" {
		t.Fatalf("artifacts %v, %v", arts, err)
	}
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	var wg sync.WaitGroup
	for range 3 { // concurrent requests, as three open runs tables make
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := http.Get(srv.URL + "/thumbs/" + arts[0].SHA256)
			if err != nil {
				t.Error(err)
				return
			}
			defer resp.Body.Close()
			if resp.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(resp.Header.Get("X-Stylelab-Error"), "16000x16000") {
				t.Errorf("status %d, reason %q", resp.StatusCode, resp.Header.Get("X-Stylelab-Error"))
			}
			if im, err := png.Decode(resp.Body); err != nil || im.Bounds().Dx() != ThumbSize {
				t.Errorf("placeholder body: %v", err)
			}
		}()
	}
	wg.Wait()
	runtime.ReadMemStats(&after)
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 64<<20 {
		t.Errorf("refusing three 16000² thumbnails allocated %d MiB", alloc>>20)
	}
	if resp, body := get(t, srv, "/"); resp.StatusCode != 200 || !strings.Contains(body, "/thumbs/"+arts[0].SHA256) {
		t.Errorf("runs page: %d", resp.StatusCode)
	}
	// Within the limit: still a thumbnail.
	small := tinyPNG(t, color.RGBA{200, 10, 10, 255})
	if out, err := Thumbnail(small, ThumbSize); err != nil || len(out) == 0 {
		t.Errorf("small image: %v", err)
	}
}

func mustOnlyRun(t *testing.T, st *tracker.Store) string {
	t.Helper()
	runs, err := st.Search("", "", 0)
	if err != nil || len(runs) != 1 {
		t.Fatalf("runs %v, %v", runs, err)
	}
	return runs[0].ID
}

// TestThumbWorkBounded: at most thumbSlots thumbnails are made at once however many requests come, and a
// request that ends while waiting gives up its turn.
func TestThumbWorkBounded(t *testing.T) {
	s := New(nil, Options{CachePoints: -1})
	var now, peak atomic.Int32
	var wg sync.WaitGroup
	for range 12 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := s.thumbWork(context.Background(), func() {
				n := now.Add(1)
				for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
				}
				time.Sleep(5 * time.Millisecond)
				now.Add(-1)
			})
			if err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if p := peak.Load(); p != thumbSlots {
		t.Errorf("peak concurrent thumbnail work %d, want %d", p, thumbSlots)
	}
	// Every slot busy: a request whose context ends is turned away without running.
	release := make(chan struct{})
	for range thumbSlots {
		go s.thumbWork(context.Background(), func() { <-release })
	}
	for len(s.thumbSem) < thumbSlots {
		time.Sleep(time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	ran := false
	if err := s.thumbWork(ctx, func() { ran = true }); err == nil || ran {
		t.Errorf("thumbWork with every slot busy and an ended request: %v, ran %v", err, ran)
	}
	close(release)
}

// TestLongSweepID: a 100,000-character sweep id is a 400 that says what is wrong, on the page and the API,
// without the filter's internal error (it was a 500 quoting "expression longer than 10000 bytes").
func TestLongSweepID(t *testing.T) {
	path, _ := fillStore(t, threeRuns())
	_, srv := openServer(t, path, Options{})
	long := strings.Repeat("s", 100_000)
	for _, p := range []string{"/sweeps/" + long, "/api/sweeps/" + long} {
		resp, body := get(t, srv, p)
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "sweep ids are at most") || strings.Contains(body, "expression longer") || len(body) > 2000 {
			t.Errorf("%.20s…: %d %.300s", p, resp.StatusCode, body)
		}
	}
	// Just under the limit: looked up, not found.
	if resp, _ := get(t, srv, "/api/sweeps/"+long[:MaxSweepIDLen]); resp.StatusCode != http.StatusNotFound {
		t.Errorf("a %d-byte unknown sweep id: %d, want 404", MaxSweepIDLen, resp.StatusCode)
	}
}
