package tracker

import (
	"bytes"
	"errors"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// fillForCopy records runs with every kind of row: params, tags, finite and non-finite metrics, a shared
// and a private artifact, a failed and a deleted run.
func fillForCopy(t *testing.T, s *Store) {
	t.Helper()
	for i, name := range []string{"a", "b", "c"} {
		r := startRun(t, s, "exp-"+name[:1], name)
		r.LogParams(map[string]string{"loss": "gram", "i": name})
		r.SetTags(map[string]string{"note": "ü " + name})
		for step := int64(0); step < 700; step++ {
			v := float64(step) * 0.5
			switch step % 97 {
			case 1:
				v = math.NaN()
			case 2:
				v = math.Inf(1)
			case 3:
				v = math.Inf(-1)
			}
			r.LogMetric("loss", step, v)
			r.LogMetric("style", step*2, -v)
		}
		if _, err := r.LogArtifact("shared.txt", "", []byte("same bytes")); err != nil {
			t.Fatal(err)
		}
		if _, err := r.LogArtifact("own.bin", "", bytes.Repeat([]byte{byte(i)}, 1000+i)); err != nil {
			t.Fatal(err)
		}
		var err error
		if i == 1 {
			err = errors.New("diverged")
		}
		r.End(&err)
	}
	runs, _ := s.Search("name = 'c'", "", 0)
	if _, err := s.Delete(runs[0].ID, false); err != nil {
		t.Fatal(err)
	}
}

// TestCopySQLiteToPostgresAndBack copies a SQLite store into PostgreSQL and that into a new SQLite file:
// every table's row count and digest match at each step, reads give the same answers, blobs come along.
func TestCopySQLiteToPostgresAndBack(t *testing.T) {
	requirePostgres(t)
	lite := sqliteBackend.newStore(t)
	fillForCopy(t, lite)
	pg := postgresBackend.newStore(t)

	rep, err := Copy(lite, pg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Blobs != 4 {
		t.Errorf("copied %d blobs, want 4 (one shared, three private)", rep.Blobs)
	}
	a, err := lite.Digest()
	if err != nil {
		t.Fatal(err)
	}
	b, err := pg.Digest()
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(a, b) || !reflect.DeepEqual(a, rep.Tables) {
		t.Fatalf("digests differ:\nsqlite   %v\npostgres %v\nreport   %v", a, b, rep.Tables)
	}
	if a[4].Table != "metrics" || a[4].Rows != 3*1400 {
		t.Errorf("metrics digest %+v, want 4200 rows", a[4])
	}
	// Same answers through the API.
	for _, q := range []struct{ filter, order string }{{"", ""}, {"metrics.loss > 10", "metrics.style DESC"}, {"params.i LIKE 'a%'", ""}} {
		x, err1 := lite.SearchRuns(Query{Filter: q.filter, OrderBy: q.order, Deleted: IncludeDeleted})
		y, err2 := pg.SearchRuns(Query{Filter: q.filter, OrderBy: q.order, Deleted: IncludeDeleted})
		if err1 != nil || err2 != nil || len(x) != len(y) {
			t.Fatalf("search %q: %d %v / %d %v", q.filter, len(x), err1, len(y), err2)
		}
		for i := range x {
			if x[i].ID != y[i].ID || !reflect.DeepEqual(x[i].Params, y[i].Params) || x[i].Status != y[i].Status {
				t.Errorf("search %q row %d: %+v vs %+v", q.filter, i, x[i], y[i])
			}
			hx, _ := lite.History(x[i].ID, "loss")
			hy, _ := pg.History(x[i].ID, "loss")
			if len(hx) != 700 || samePoints(hx, hy) != "" {
				t.Errorf("history of %s differs: %s", x[i].ID, samePoints(hx, hy))
			}
		}
	}
	arts, err := pg.Artifacts(b[1].Table) // not a run id: ErrNotFound
	if err == nil {
		t.Errorf("Artifacts of a non-run: %v", arts)
	}
	runs, _ := pg.Search("name = 'b'", "", 0)
	list, err := pg.Artifacts(runs[0].ID)
	if err != nil || len(list) != 2 {
		t.Fatalf("artifacts in postgres: %v %v", list, err)
	}
	for _, art := range list {
		data, err := pg.ReadArtifact(art.SHA256)
		if err != nil || int64(len(data)) != art.Size {
			t.Errorf("artifact %s: %d bytes, %v", art.Name, len(data), err)
		}
	}
	// New runs in the copy get fresh internal keys past the copied ones.
	r := startRun(t, pg, "exp-a", "after")
	r.LogMetric("loss", 0, 1)
	if err := r.End(nil); err != nil {
		t.Fatal(err)
	}

	// Into a non-empty database: refused, nothing written.
	before, _ := pg.Digest()
	if _, err := Copy(lite, pg, nil); err == nil {
		t.Error("copy into a non-empty database was accepted")
	}
	if after, _ := pg.Digest(); !reflect.DeepEqual(before, after) {
		t.Error("a refused copy changed the destination")
	}

	// And back into a new SQLite file.
	back := sqliteBackend.newStore(t)
	if _, err := Copy(pg, back, nil); err != nil {
		t.Fatal(err)
	}
	c, _ := back.Digest()
	if !reflect.DeepEqual(before, c) {
		t.Errorf("postgres → sqlite digests differ:\n%v\n%v", before, c)
	}
}

// TestCopyDamagedBlobWritesNothing: a source blob whose bytes no longer match its name stops the copy
// before any row is written.
func TestCopyDamagedBlobWritesNothing(t *testing.T) {
	eachBackend(t, func(t *testing.T, be backend) {
		src := sqliteBackend.newStore(t)
		r := startRun(t, src, "e", "x")
		art, err := r.LogArtifact("a.txt", "", []byte("original"))
		if err != nil {
			t.Fatal(err)
		}
		r.End(nil)
		p := filepath.Join(src.ArtifactDir(), art.SHA256[:2], art.SHA256)
		os.Chmod(p, 0o644)
		if err := os.WriteFile(p, []byte("tampered"), 0o644); err != nil {
			t.Fatal(err)
		}
		dst := be.newStore(t)
		if _, err := Copy(src, dst, nil); !errors.Is(err, ErrDamaged) {
			t.Fatalf("copy with a damaged blob: %v, want ErrDamaged", err)
		}
		d, _ := dst.Digest()
		for _, td := range d {
			if td.Rows != 0 {
				t.Errorf("table %s has %d rows after a failed copy", td.Table, td.Rows)
			}
		}
	})
}
