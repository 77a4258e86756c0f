package main

import (
	"encoding/binary"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stylelab/stylelab/tracker"
	"github.com/stylelab/stylelab/tracker/dashboard"
)

// damagedFixture records one finished run with 6000 points of "loss" (enough for dozens of leaf pages),
// closes the store (which checkpoints the WAL into the file) and returns the path and the run id.
func damagedFixture(t *testing.T) (string, string) {
	t.Helper()
	db := filepath.Join(t.TempDir(), "runs", "stylelab.db")
	s, err := tracker.Open(db)
	if err != nil {
		t.Fatal(err)
	}
	r, err := s.StartRun("damage", "victim", tracker.WithoutProvenance())
	if err != nil {
		t.Fatal(err)
	}
	for i := int64(0); i < 6000; i++ {
		if err := r.LogMetric("loss", i, 1/float64(i+1)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := r.LogArtifact("out.png", "", []byte("png bytes")); err != nil {
		t.Fatal(err)
	}
	if err := r.End(nil); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(db + "-wal"); err == nil {
		t.Fatalf("%s-wal still exists after Close: the pages to damage may not be in the file", db)
	}
	return db, r.ID()
}

// varint reads an SQLite varint at b[i:] and returns it and its length.
func varint(b []byte, i int) (uint64, int) {
	var v uint64
	for n := 0; n < 9; n++ {
		c := b[i+n]
		if n == 8 {
			return v<<8 | uint64(c), 9
		}
		v = v<<7 | uint64(c&0x7f)
		if c < 0x80 {
			return v, n + 1
		}
	}
	return v, 9
}

// metricLeafPages returns the offsets of the leaf pages of the metrics table (a WITHOUT ROWID table: index
// b-tree leaves, page type 10, whose records have 6 columns) holding more than 20 cells.
func metricLeafPages(t *testing.T, b []byte) []int {
	t.Helper()
	pageSize := int(binary.BigEndian.Uint16(b[16:18]))
	var out []int
	for off := pageSize; off+pageSize <= len(b); off += pageSize {
		pg := b[off : off+pageSize]
		if pg[0] != 10 {
			continue
		}
		n := int(binary.BigEndian.Uint16(pg[3:5]))
		if n <= 20 {
			continue
		}
		cell := int(binary.BigEndian.Uint16(pg[8:10]))
		_, k := varint(pg, cell) // payload size
		hdr, h := varint(pg, cell+k)
		cols := 0
		for p := cell + k + h; p < cell+k+int(hdr); cols++ {
			_, m := varint(pg, p)
			p += m
		}
		if cols == 6 {
			out = append(out, off)
		}
	}
	if len(out) < 4 {
		t.Fatalf("found %d metric leaf pages, want several", len(out))
	}
	return out
}

// damage rewrites the database file in one of two ways: "truncated" halves the cell count of a leaf page of
// the metrics table (the page still parses: SQLite reads fewer rows without an error), "zeroed" overwrites
// three pages in the middle of that table with zeros (SQLite reports SQLITE_CORRUPT when it reaches them).
func damage(t *testing.T, db, how string) {
	t.Helper()
	b, err := os.ReadFile(db)
	if err != nil {
		t.Fatal(err)
	}
	leaves := metricLeafPages(t, b)
	mid := leaves[len(leaves)/2]
	pageSize := int(binary.BigEndian.Uint16(b[16:18]))
	switch how {
	case "truncated":
		n := binary.BigEndian.Uint16(b[mid+3 : mid+5])
		binary.BigEndian.PutUint16(b[mid+3:mid+5], n/2)
	case "zeroed":
		clear(b[mid : mid+3*pageSize])
	}
	if err := os.WriteFile(db, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestDamagedDatabaseNeverGivesPartialData(t *testing.T) {
	for _, how := range []string{"truncated", "zeroed"} {
		t.Run(how, func(t *testing.T) {
			db, id := damagedFixture(t)
			damage(t, db, how)
			for try := 0; try < 2; try++ { // every time, not only the first
				for _, args := range [][]string{
					{"export", id, "--db", db},
					{"export", id, "--db", db, "--format", "json"},
					{"show", id, "--db", db},
					{"show", id, "--db", db, "--json"},
				} {
					out, err := runsCmd(t, args...)
					if err == nil || !strings.Contains(err.Error(), "damaged") {
						t.Errorf("runs %s: error %v, want the database to be reported damaged", strings.Join(args, " "), err)
					}
					if strings.Contains(out, "loss") {
						t.Errorf("runs %s wrote data from a damaged database:\n%.300s", strings.Join(args, " "), out)
					}
				}
			}
			st, err := tracker.OpenReadOnly(db)
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			h := dashboard.New(st, dashboard.Options{})
			for try := 0; try < 2; try++ {
				for _, q := range []string{"", "?max=50"} {
					rec := httptest.NewRecorder()
					h.ServeHTTP(rec, httptest.NewRequest("GET", "/api/runs/"+id+"/metrics/loss"+q, nil))
					if rec.Code != http.StatusInternalServerError || !strings.Contains(rec.Body.String(), "damaged") {
						t.Errorf("GET metrics%s (try %d): %d %.300s, want 500 saying damaged", q, try, rec.Code, rec.Body.String())
					}
				}
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, httptest.NewRequest("GET", "/runs/"+id, nil))
				if rec.Code != http.StatusInternalServerError || !strings.Contains(rec.Body.String(), "damaged") {
					t.Errorf("GET /runs/ID (try %d): %d %.300s, want 500 saying damaged", try, rec.Code, rec.Body.String())
				}
			}
			out, err := runsCmd(t, "check", "--db", db)
			if err == nil || !strings.Contains(err.Error(), "damaged") {
				t.Errorf("runs check: %v\n%s, want it to find the damage", err, out)
			}
		})
	}
}

func TestRunsCheck(t *testing.T) {
	db, id := damagedFixture(t)
	out, err := runsCmd(t, "check", "--db", db)
	if err != nil || !strings.Contains(out, "ok") {
		t.Fatalf("runs check on a sound database: %v\n%s", err, out)
	}
	// A blob whose bytes no longer match its name is found.
	s, err := tracker.OpenReadOnly(db)
	if err != nil {
		t.Fatal(err)
	}
	a, err := s.FindArtifact(id, "out.png")
	s.Close()
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(filepath.Dir(db), "artifacts", a.SHA256[:2], a.SHA256)
	os.Chmod(p, 0o644)
	if err := os.WriteFile(p, []byte("PNG bytes"), 0o444); err != nil {
		t.Fatal(err)
	}
	out, err = runsCmd(t, "check", "--db", db)
	if err == nil || !strings.Contains(out, a.SHA256[:12]) || !strings.Contains(out, "out.png") {
		t.Errorf("runs check with a modified blob: %v\n%s", err, out)
	}
	os.Remove(p)
	out, err = runsCmd(t, "check", "--db", db, "--json")
	if err == nil || !strings.Contains(out, `"missing"`) {
		t.Errorf("runs check with a missing blob: %v\n%s", err, out)
	}
}
