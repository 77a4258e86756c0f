package tracker

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// putBlob stores content in the artifact store without recording a reference (a stray blob).
func (s *Store) putBlob(src io.Reader) (string, int64, error) {
	b, err := s.stageBlob(src)
	if err != nil {
		return "", 0, err
	}
	defer os.Remove(b.tmp)
	return b.sum, b.size, s.install(b)
}

// tamper rewrites a blob in place with other bytes of the same size, as a stray editor or bit rot would.
func tamper(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o444); err != nil {
		t.Fatal(err)
	}
	os.Chmod(path, 0o444)
}

func TestModifiedBlobIsDetectedAndRepaired(t *testing.T) {
	eachBackend(t, testModifiedBlobIsDetectedAndRepaired)
}

func testModifiedBlobIsDetectedAndRepaired(t *testing.T, be backend) {
	newStore := be.newStore
	s := newStore(t)
	r := startRun(t, s, "e", "victim")
	data := []byte(strings.Repeat("spec bytes ", 1000))
	a, err := r.LogArtifact("spec.json", "", data)
	if err != nil {
		t.Fatal(err)
	}
	path, _ := s.ArtifactPath(a.SHA256)
	bad := bytes.ToUpper(data) // same size
	tamper(t, path, bad)

	if _, err := s.ReadArtifact(a.SHA256); !errors.Is(err, ErrDamaged) {
		t.Errorf("ReadArtifact of a modified blob: %v, want ErrDamaged", err)
	}
	if f, err := s.OpenArtifact(a.SHA256); !errors.Is(err, ErrDamaged) {
		if f != nil {
			f.Close()
		}
		t.Errorf("OpenArtifact of a modified blob: %v, want ErrDamaged", err)
	}
	rep, err := s.Check()
	if err != nil || rep.OK() || len(rep.Artifacts) != 1 || rep.Artifacts[0].Name != "spec.json" || !strings.HasPrefix(rep.Artifacts[0].Problem, "damaged") {
		t.Errorf("Check with a modified blob: %+v, %v", rep, err)
	}

	// Logging the correct bytes again (same size as the damaged file) repairs the blob.
	r2 := startRun(t, s, "e", "again")
	if _, err := r2.LogArtifact("spec.json", "", data); err != nil {
		t.Fatal(err)
	}
	got, err := s.ReadArtifact(a.SHA256)
	if err != nil || !bytes.Equal(got, data) {
		t.Errorf("after logging the correct bytes again: %v (bytes equal: %v)", err, bytes.Equal(got, data))
	}
	f, err := s.OpenArtifact(a.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	streamed, _ := io.ReadAll(f)
	f.Close()
	if !bytes.Equal(streamed, data) {
		t.Error("OpenArtifact after the repair does not give the bytes from the start")
	}
	if rep, err := s.Check(); err != nil || !rep.OK() || rep.Blobs != 1 {
		t.Errorf("Check after the repair: %+v, %v", rep, err)
	}
	r.End(nil)
	r2.End(nil)
}

func TestDeleteRunsAllOrNone(t *testing.T) { eachBackend(t, testDeleteRunsAllOrNone) }

func testDeleteRunsAllOrNone(t *testing.T, be backend) {
	newStore := be.newStore
	s := newStore(t)
	a, b := startRun(t, s, "e", "a"), startRun(t, s, "e", "b")
	a.End(nil)
	b.End(nil)
	if _, err := s.DeleteRuns([]string{a.ID(), "ffffffff", b.ID()}, false); !errors.Is(err, ErrNotFound) {
		t.Errorf("DeleteRuns with an unknown id: %v", err)
	}
	if runs, _ := s.Search("", "", 0); len(runs) != 2 {
		t.Errorf("DeleteRuns with one bad id deleted %d runs", 2-len(runs))
	}
	if _, err := s.Restore(a.ID()); !errors.Is(err, ErrNotDeleted) {
		t.Errorf("Restore of a live run: %v, want ErrNotDeleted", err)
	}
	if ids, err := s.DeleteRuns([]string{a.ID(), b.ID()[:8]}, false); err != nil || len(ids) != 2 || ids[1] != b.ID() {
		t.Errorf("DeleteRuns: %v %v", ids, err)
	}
	if _, err := s.Restore(a.ID()); err != nil {
		t.Errorf("Restore of a deleted run: %v", err)
	}
}

// TestGCBesideLiveWriters runs GC with no grace in a loop while writers (each with its own Store, as separate
// processes have) record runs whose artifacts include content shared between runs and content that a deleted,
// purged run left unreferenced a moment before. No writer may fail and no FINISHED run may point at a
// missing or wrong blob.
func TestGCBesideLiveWriters(t *testing.T) { eachBackend(t, testGCBesideLiveWriters) }

func testGCBesideLiveWriters(t *testing.T, be backend) {
	path := be.newLocation(t)
	boot, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer boot.Close()
	const writers = 3
	dur := 3 * time.Second
	if testing.Short() {
		dur = time.Second
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var failures atomic.Int64
	var errMu sync.Mutex
	var errs []string
	fail := func(format string, args ...any) {
		failures.Add(1)
		errMu.Lock()
		if len(errs) < 10 {
			errs = append(errs, fmt.Sprintf(format, args...))
		}
		errMu.Unlock()
	}
	big := bytes.Repeat([]byte("0123456789abcdef"), 1<<15) // 512 KiB: a write that takes a while
	var runsDone atomic.Int64
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			s, err := Open(path)
			if err != nil {
				fail("open: %v", err)
				return
			}
			defer s.Close()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				r, err := s.StartRun("gc", fmt.Sprintf("w%d-%d", w, i), WithoutProvenance())
				if err != nil {
					fail("start: %v", err)
					return
				}
				var rerr error
				for k, data := range [][]byte{
					[]byte("shared by every run"),
					[]byte(fmt.Sprintf("orphan %d", i/2)), // logged by a run that is then deleted, and again
					append([]byte(fmt.Sprintf("own %d %d", w, i)), big...),
				} {
					if _, err := r.LogArtifact(fmt.Sprintf("a%d", k), "", data); err != nil {
						rerr = err
						break
					}
				}
				if rerr != nil {
					fail("writer %d run %d: %v", w, i, rerr)
				}
				r.End(&rerr)
				runsDone.Add(1)
				if i%2 == 0 { // delete it: its "orphan" blob becomes unreferenced, and the next run logs it again
					if _, err := s.Delete(r.ID(), false); err != nil {
						fail("delete: %v", err)
					}
				}
			}
		}(w)
	}
	wg.Add(1)
	gcs := 0
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			if _, err := boot.GC(0); err != nil {
				fail("gc: %v", err)
			}
			gcs++
		}
	}()
	time.Sleep(dur)
	close(stop)
	wg.Wait()
	for _, e := range errs {
		t.Error(e)
	}
	runs, err := boot.SearchRuns(Query{Filter: "status = 'FINISHED'"})
	if err != nil {
		t.Fatal(err)
	}
	if len(runs) == 0 || gcs < 3 {
		t.Fatalf("%d finished runs, %d GCs: too few to test anything", len(runs), gcs)
	}
	bad := 0
	for _, ri := range runs {
		arts, err := boot.Artifacts(ri.ID)
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range arts {
			p, err := boot.ArtifactPath(a.SHA256)
			if err != nil {
				bad++
				t.Errorf("FINISHED run %s artifact %s: %v", ri.Name, a.Name, err)
				continue
			}
			b, err := os.ReadFile(p)
			sum := sha256.Sum256(b)
			if err != nil || hex.EncodeToString(sum[:]) != a.SHA256 {
				bad++
				t.Errorf("FINISHED run %s artifact %s: blob unreadable or wrong (%v)", ri.Name, a.Name, err)
			}
		}
	}
	t.Logf("%d runs written, %d finished and live, %d GCs, %d bad artifacts", runsDone.Load(), len(runs), gcs, bad)
}
