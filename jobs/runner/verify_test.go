package runner

import (
	"bytes"
	"errors"
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"testing"

	"github.com/stylelab/stylelab/tracker"
)

// TestModifiedBlobsAreRefused: a rerun verdict, the output image and the recorded spec are never taken from a
// blob whose bytes no longer match the SHA-256 they are recorded under.
func TestModifiedBlobsAreRefused(t *testing.T) {
	db := filepath.Join(t.TempDir(), "runs", "stylelab.db")
	s, err := tracker.Open(db)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	im := image.NewRGBA(image.Rect(0, 0, 8, 8))
	for i := range im.Pix {
		im.Pix[i] = 200
	}
	im.Set(1, 1, color.RGBA{1, 2, 3, 255})
	var pngBytes bytes.Buffer
	png.Encode(&pngBytes, im)
	var ids []string
	var out tracker.Artifact
	for _, name := range []string{"original", "rerun"} {
		r, err := s.StartRun("verify", name, tracker.WithoutProvenance())
		if err != nil {
			t.Fatal(err)
		}
		r.LogMetric("total", 0, 1.5)
		r.LogArtifact(SpecArtifact, "application/json", []byte(`{"version": 1}`))
		if out, err = r.LogArtifact(OutputArtifact, "image/png", pngBytes.Bytes()); err != nil {
			t.Fatal(err)
		}
		r.End(nil)
		ids = append(ids, r.ID())
	}
	if v, err := Compare(s, ids[0], ids[1], 0); err != nil || v.Verdict != Identical {
		t.Fatalf("sound blobs: %+v, %v", v, err)
	}
	p, _ := s.ArtifactPath(out.SHA256)
	b, _ := os.ReadFile(p)
	b[len(b)-16] ^= 0x55
	os.Chmod(p, 0o644)
	os.WriteFile(p, b, 0o444)
	spec, _ := s.FindArtifact(ids[0], SpecArtifact)
	sp, _ := s.ArtifactPath(spec.SHA256)
	os.Chmod(sp, 0o644)
	os.WriteFile(sp, []byte(`{"version": 2}`), 0o444)

	if v, err := Compare(s, ids[0], ids[1], 0); !errors.Is(err, tracker.ErrDamaged) {
		t.Errorf("Compare with a modified output blob: %+v, %v; want ErrDamaged", v, err)
	}
	if _, err := Output(s, ids[0]); !errors.Is(err, tracker.ErrDamaged) {
		t.Errorf("Output from a modified blob: %v, want ErrDamaged", err)
	}
	if _, err := LoadSpec(s, ids[0]); !errors.Is(err, tracker.ErrDamaged) {
		t.Errorf("LoadSpec from a modified blob: %v, want ErrDamaged", err)
	}
}
