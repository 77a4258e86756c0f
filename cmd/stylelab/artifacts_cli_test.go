package main

import (
	"bytes"
	"image"
	"image/color"
	"image/png"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stylelab/stylelab/tracker"
	"github.com/stylelab/stylelab/tracker/dashboard"
)

// blobFile is where the store keeps the blob of a run's artifact.
func blobFile(t *testing.T, db, runID, name string) (string, tracker.Artifact) {
	t.Helper()
	s, err := tracker.OpenReadOnly(db)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	a, err := s.FindArtifact(runID, name)
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Join(filepath.Dir(db), "artifacts", a.SHA256[:2], a.SHA256), a
}

// overwrite replaces a blob's bytes in place with others of the same size.
func overwrite(t *testing.T, path string, flip func([]byte)) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	flip(b)
	os.Chmod(path, 0o644)
	if err := os.WriteFile(path, b, 0o444); err != nil {
		t.Fatal(err)
	}
}

func TestModifiedBlobIsNeverUsed(t *testing.T) {
	db := filepath.Join(t.TempDir(), "runs", "stylelab.db")
	s, err := tracker.Open(db)
	if err != nil {
		t.Fatal(err)
	}
	r, err := s.StartRun("e", "tampered", tracker.WithoutProvenance())
	if err != nil {
		t.Fatal(err)
	}
	r.LogArtifact("spec.json", "application/json", []byte(`{"version": 1, "kind": "gatys"}`))
	r.LogArtifact("out.png", "image/png", pngOf(t, color.RGBA{200, 10, 10, 255}))
	r.End(nil)
	id := r.ID()
	s.Close()
	specPath, _ := blobFile(t, db, id, "spec.json")
	overwrite(t, specPath, func(b []byte) { copy(b[len(b)-8:], "\"xxxxx\"}") })
	pngPath, png := blobFile(t, db, id, "out.png")
	overwrite(t, pngPath, func(b []byte) { b[len(b)-20] ^= 0xff })

	// rerun refuses the tampered spec.
	res := runStylelab(t, []string{"STYLELAB_DB=" + db}, "rerun", id)
	if res.code != 1 || !strings.Contains(res.stderr, "damaged") || !strings.Contains(res.stderr, "SHA-256") {
		t.Errorf("rerun of a tampered spec: exit %d, stderr %s", res.code, res.stderr)
	}
	// runs show says which artifacts are damaged.
	out := mustRuns(t, "show", id, "--db", db)
	if strings.Count(out, "DAMAGED") != 2 {
		t.Errorf("runs show does not flag both damaged artifacts:\n%s", out)
	}
	if out := mustRuns(t, "show", id, "--db", db, "--json"); strings.Count(out, `"state": "damaged"`) != 2 {
		t.Errorf("runs show --json:\n%s", out)
	}
	// The dashboard never serves it under its hash as an immutable response.
	st, err := tracker.OpenReadOnly(db)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	rec := httptest.NewRecorder()
	dashboard.New(st, dashboard.Options{}).ServeHTTP(rec, httptest.NewRequest("GET", "/artifacts/"+png.SHA256, nil))
	if rec.Code == http.StatusOK || rec.Header().Get("ETag") != "" || strings.Contains(rec.Header().Get("Cache-Control"), "immutable") ||
		!strings.Contains(rec.Body.String(), "damaged") {
		t.Errorf("GET a modified blob: %d, ETag %q, Cache-Control %q: %.200s", rec.Code, rec.Header().Get("ETag"), rec.Header().Get("Cache-Control"), rec.Body.String())
	}
}

func TestRunsCompareOutShowsPlaceholders(t *testing.T) {
	db := filepath.Join(t.TempDir(), "runs", "stylelab.db")
	s, err := tracker.Open(db)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for i, c := range []color.RGBA{{255, 0, 0, 255}, {0, 255, 0, 255}, {0, 0, 255, 255}} {
		r, _ := s.StartRun("e", "run"+string(rune('a'+i)), tracker.WithoutProvenance())
		r.LogMetric("total", 0, float64(i))
		if _, err := r.LogArtifact("out.png", "image/png", pngOf(t, c)); err != nil {
			t.Fatal(err)
		}
		r.End(nil)
		ids = append(ids, r.ID())
	}
	s.Close()
	missing, _ := blobFile(t, db, ids[1], "out.png")
	os.Remove(missing)
	damaged, _ := blobFile(t, db, ids[2], "out.png")
	overwrite(t, damaged, func(b []byte) { b[len(b)-20] ^= 0xff })
	report := filepath.Join(t.TempDir(), "compare.html")
	if _, err := runsCmd(t, "compare", ids[0], ids[1], ids[2], "--db", db, "--out", report); err != nil {
		t.Fatalf("runs compare with a missing and a damaged image: %v", err)
	}
	b, _ := os.ReadFile(report)
	html := string(b)
	if strings.Count(html, "data:image/png;base64,") != 1 || !strings.Contains(html, "is missing from the artifact store") ||
		!strings.Contains(html, "is damaged") {
		t.Errorf("report: %d inlined images, placeholders missing=%v damaged=%v", strings.Count(html, "data:image/png;base64,"),
			strings.Contains(html, "is missing from the artifact store"), strings.Contains(html, "is damaged"))
	}
}

func TestRunsRmAllOrNoneAndRestore(t *testing.T) {
	db, gram, mmd := runsFixture(t)
	if _, err := runsCmd(t, "rm", gram, "deadbeef", mmd, "--db", db); err == nil {
		t.Fatal("runs rm with an unknown id succeeded")
	}
	if out := mustRuns(t, "ls", "--db", db); !strings.Contains(out, gram[:8]) || !strings.Contains(out, mmd[:8]) {
		t.Errorf("runs rm with one bad id deleted the others:\n%s", out)
	}
	out := mustRuns(t, "restore", gram, "--db", db)
	if !strings.Contains(out, "was not deleted") || strings.Contains(out, "restored") {
		t.Errorf("runs restore of a live run: %q", out)
	}
	mustRuns(t, "rm", gram, "--db", db)
	if out := mustRuns(t, "restore", gram, "--db", db); !strings.Contains(out, "restored "+gram) {
		t.Errorf("runs restore of a deleted run: %q", out)
	}
}

// pngOf is a 16×12 PNG filled with c.
func pngOf(t *testing.T, c color.RGBA) []byte {
	t.Helper()
	im := image.NewRGBA(image.Rect(0, 0, 16, 12))
	for i := 0; i < len(im.Pix); i += 4 {
		im.Pix[i], im.Pix[i+1], im.Pix[i+2], im.Pix[i+3] = c.R, c.G, c.B, c.A
	}
	var b bytes.Buffer
	if err := png.Encode(&b, im); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}
