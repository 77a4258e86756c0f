package tracker

import (
	"bytes"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"mime"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"time"
)

// Artifact is a file attached to a run. The bytes live once per distinct content in the artifact store,
// at ArtifactPath(SHA256).
type Artifact struct {
	Name      string `json:"name"`
	MediaType string `json:"media_type"`
	SHA256    string `json:"sha256"`
	Size      int64  `json:"size"`
}

// artifactDir is the root of the content-addressed store: <Dir>/artifacts/ab/abcdef... (first two hex
// digits as a folder), with temporary files in <Dir>/artifacts/tmp.
func (s *Store) artifactDir() string { return s.artifacts }

// artifactRoot is the artifact folder of a SQLite store whose database lies in dir: dir/artifacts, beside
// the file, so that the folder holds everything. (STYLELAB_ARTIFACTS is the artifact folder of PostgreSQL
// stores only: a SQLite file keeps its own, so that copying it between the two never mixes folders up.)
func artifactRoot(dir string) string { return filepath.Join(dir, "artifacts") }

// envArtifactRoot is $STYLELAB_ARTIFACTS made absolute, or "" when unset.
func envArtifactRoot() string {
	a := os.Getenv("STYLELAB_ARTIFACTS")
	if a == "" {
		return ""
	}
	if abs, err := filepath.Abs(a); err == nil {
		return abs
	}
	return a
}

// needArtifacts refuses artifact reads and writes on a store without an artifact folder (PostgreSQL
// without $STYLELAB_ARTIFACTS).
func (s *Store) needArtifacts() error {
	if s.artifacts == "" {
		return fmt.Errorf("no artifact folder for database %s: set STYLELAB_ARTIFACTS (or pass --artifacts) to a folder every machine writing or reading runs shares (e.g. export STYLELAB_ARTIFACTS=/shared/stylelab/artifacts)", s.path)
	}
	return nil
}

var shaRE = regexp.MustCompile(`^[0-9a-f]{64}$`)

func (s *Store) blobPath(sum string) string {
	return filepath.Join(s.artifactDir(), sum[:2], sum)
}

// ArtifactPath returns the path of the blob with this SHA-256 (64 lowercase hex digits). Anything else is
// refused, so the result is always inside the artifact store; a missing blob is ErrNotFound. The file is not
// verified: read blobs with ReadArtifact or OpenArtifact, which check that the bytes still match the name.
func (s *Store) ArtifactPath(sum string) (string, error) {
	if !shaRE.MatchString(sum) {
		return "", fmt.Errorf("artifact id %q is not a SHA-256 (64 lowercase hex digits)", sum)
	}
	if err := s.needArtifacts(); err != nil {
		return "", err
	}
	p := s.blobPath(sum)
	if _, err := os.Stat(p); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return "", fmt.Errorf("artifact %s is missing from %s (%w): was it garbage-collected with 'runs gc'?", sum, s.artifactDir(), ErrNotFound)
		}
		return "", err
	}
	return p, nil
}

// damagedBlob is the error for a blob whose bytes no longer hash to its name.
func (s *Store) damagedBlob(sum, got string) error {
	return fmt.Errorf("artifact %s is %w: its bytes no longer match its SHA-256, they hash to %s (the file %s was modified after it was stored): log the correct bytes again (the store repairs the blob) or restore the file from a backup; 'stylelab runs check' lists every such blob",
		sum, ErrDamaged, got, s.blobPath(sum))
}

// ReadArtifact returns the bytes of the blob with this SHA-256, after checking that they hash to it
// (ErrDamaged otherwise; ErrNotFound when the blob is missing).
func (s *Store) ReadArtifact(sum string) ([]byte, error) {
	p, err := s.ArtifactPath(sum)
	if err != nil {
		return nil, err
	}
	b, err := os.ReadFile(p)
	if err != nil {
		return nil, err
	}
	h := sha256.Sum256(b)
	if got := hex.EncodeToString(h[:]); got != sum {
		return nil, s.damagedBlob(sum, got)
	}
	return b, nil
}

// OpenArtifact opens the blob with this SHA-256 for reading, after streaming it through SHA-256 to check
// that its bytes still match the name (ErrDamaged otherwise, ErrNotFound when missing). The file is
// returned positioned at its start; the caller closes it. Use it for blobs too large to hold in memory.
func (s *Store) OpenArtifact(sum string) (*os.File, error) {
	p, err := s.ArtifactPath(sum)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	got, err := hashReader(f)
	if err == nil && got != sum {
		err = s.damagedBlob(sum, got)
	}
	if err == nil {
		_, err = f.Seek(0, io.SeekStart)
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// VerifyArtifact checks, streaming, that the blob with this SHA-256 exists and still hashes to it.
func (s *Store) VerifyArtifact(sum string) error {
	f, err := s.OpenArtifact(sum)
	if err != nil {
		return err
	}
	return f.Close()
}

func hashReader(r io.Reader) (string, error) {
	h := sha256.New()
	if _, err := io.Copy(h, r); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// stagedBlob is content written to a temporary file of the artifact store, hashed, not yet in place.
type stagedBlob struct {
	tmp  string
	sum  string
	size int64
	good os.FileInfo // the blob already in place under sum, verified before the write lock (nil: none, or bad)
}

// stageBlob writes src to a temporary file in the artifact store (fsynced, hashed) and checks whether a
// sound blob with the same content is already in place. Nothing is visible under a content name yet.
func (s *Store) stageBlob(src io.Reader) (*stagedBlob, error) {
	if err := s.needArtifacts(); err != nil {
		return nil, err
	}
	tmpDir := filepath.Join(s.artifactDir(), "tmp")
	if err := os.MkdirAll(tmpDir, 0o755); err != nil {
		return nil, fmt.Errorf("artifact store %s: %w", s.artifactDir(), err)
	}
	tmp, err := os.CreateTemp(tmpDir, "blob-*")
	if err != nil {
		return nil, fmt.Errorf("artifact store: %w", err)
	}
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(tmp, h), src)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(tmp.Name())
		return nil, fmt.Errorf("writing artifact: %w", err)
	}
	b := &stagedBlob{tmp: tmp.Name(), sum: hex.EncodeToString(h.Sum(nil)), size: n}
	final := s.blobPath(b.sum)
	if fi, err := os.Stat(final); err == nil && fi.Size() == n {
		if f, err := os.Open(final); err == nil {
			got, herr := hashReader(f)
			f.Close()
			if herr == nil && got == b.sum {
				b.good = fi
			}
		}
	}
	return b, nil
}

// install puts the staged content in place under its SHA-256. It runs inside the write transaction that
// records the reference, so that GC (which deletes unreferenced blobs inside a write transaction too)
// never runs between the two: a blob is never deleted between being put in place and being referenced.
// A blob already in place is kept when it is the one verified by stageBlob, and replaced by the staged
// bytes otherwise (missing, other size, or modified: logging the correct bytes repairs a damaged blob).
func (s *Store) install(b *stagedBlob) error {
	final := s.blobPath(b.sum)
	if fi, err := os.Stat(final); err == nil && b.good != nil && os.SameFile(fi, b.good) {
		now := time.Now()
		_ = os.Chtimes(final, now, now)
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(final), 0o755); err != nil {
		return fmt.Errorf("artifact store: %w", err)
	}
	if err := os.Chmod(b.tmp, 0o444); err != nil {
		return fmt.Errorf("artifact store: %w", err)
	}
	if err := os.Rename(b.tmp, final); err != nil {
		return fmt.Errorf("artifact store: %w", err)
	}
	if d, err := os.Open(filepath.Dir(final)); err == nil {
		_ = d.Sync() // make the rename durable
		d.Close()
	}
	return nil
}

func mediaTypeFor(name, given string) string {
	if given != "" {
		return given
	}
	if t := mime.TypeByExtension(filepath.Ext(name)); t != "" {
		return t
	}
	return "application/octet-stream"
}

// LogArtifact stores data as the run's artifact called name (an existing one of that name is replaced).
// An empty mediaType is guessed from the name's extension.
func (r *Run) LogArtifact(name, mediaType string, data []byte) (Artifact, error) {
	return r.logArtifact(name, mediaType, func() (io.Reader, func(), error) { return bytes.NewReader(data), func() {}, nil })
}

// LogArtifactFile stores the file at path (streamed, not loaded whole) as the run's artifact called name;
// an empty name means the file's base name.
func (r *Run) LogArtifactFile(name, mediaType, path string) (Artifact, error) {
	if name == "" {
		name = filepath.Base(path)
	}
	return r.logArtifact(name, mediaType, func() (io.Reader, func(), error) {
		f, err := os.Open(path)
		if err != nil {
			return nil, nil, err
		}
		return f, func() { f.Close() }, nil
	})
}

func (r *Run) logArtifact(name, mediaType string, open func() (io.Reader, func(), error)) (Artifact, error) {
	if err := checkKey("artifact name", name); err != nil {
		return Artifact{}, err
	}
	if err := r.checkOpen(); err != nil {
		return Artifact{}, err
	}
	if r.s.readOnly {
		return Artifact{}, fmt.Errorf("store %s was opened %w", r.s.path, ErrReadOnly)
	}
	src, done, err := open()
	if err != nil {
		return Artifact{}, fmt.Errorf("artifact %q of run %s: %w", name, r.id, err)
	}
	b, err := r.s.stageBlob(src)
	done()
	if err != nil {
		return Artifact{}, fmt.Errorf("artifact %q of run %s: %w", name, r.id, err)
	}
	defer os.Remove(b.tmp) // no-op once installed
	a := Artifact{Name: name, MediaType: mediaTypeFor(name, mediaType), SHA256: b.sum, Size: b.size}
	err = r.s.write(func(tx *txn) error {
		if err := tx.lockArtifacts(false); err != nil {
			return err
		}
		if err := r.s.install(b); err != nil {
			return err
		}
		_, err := tx.Exec(`INSERT INTO artifacts (run, name, media_type, sha256, size, created_ms) VALUES (?, ?, ?, ?, ?, ?)
			ON CONFLICT (run, name) DO UPDATE SET media_type = excluded.media_type, sha256 = excluded.sha256,
				size = excluded.size, created_ms = excluded.created_ms`, r.rid, a.Name, a.MediaType, a.SHA256, a.Size, nowMs())
		return err
	})
	if err != nil {
		return Artifact{}, fmt.Errorf("artifact %q of run %s: %w", name, r.id, err)
	}
	return a, nil
}

// Artifacts lists the run's artifacts by name.
func (s *Store) Artifacts(runID string) ([]Artifact, error) {
	rid, _, err := s.resolve(runID)
	if err != nil {
		return nil, err
	}
	rows, err := s.db.Query(`SELECT name, media_type, sha256, size FROM artifacts WHERE run = ? ORDER BY name`, rid)
	if err != nil {
		return nil, describe(err, s.path)
	}
	defer rows.Close()
	var out []Artifact
	for rows.Next() {
		var a Artifact
		if err := rows.Scan(&a.Name, &a.MediaType, &a.SHA256, &a.Size); err != nil {
			return nil, s.readErr(err)
		}
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, s.readErr(err)
	}
	return out, nil
}

// FindArtifact returns the run's artifact called name (ErrNotFound when there is none).
func (s *Store) FindArtifact(runID, name string) (Artifact, error) {
	rid, id, err := s.resolve(runID)
	if err != nil {
		return Artifact{}, err
	}
	a := Artifact{Name: name}
	err = s.db.QueryRow(`SELECT media_type, sha256, size FROM artifacts WHERE run = ? AND name = ?`, rid, name).
		Scan(&a.MediaType, &a.SHA256, &a.Size)
	if errors.Is(err, sql.ErrNoRows) {
		return Artifact{}, fmt.Errorf("run %s has no artifact %q (%w)", id, name, ErrNotFound)
	}
	if err != nil {
		return Artifact{}, describe(err, s.path)
	}
	return a, nil
}

// Delete soft-deletes a run (by id or unique prefix): it disappears from Search unless deleted runs are
// asked for, and GC purges it. A RUNNING run is refused unless force is set.
func (s *Store) Delete(idOrPrefix string, force bool) (string, error) {
	ids, err := s.DeleteRuns([]string{idOrPrefix}, force)
	if err != nil {
		return "", err
	}
	return ids[0], nil
}

// DeleteRuns soft-deletes several runs, all or none: every id is resolved and checked (a RUNNING run is
// refused unless force is set) before any is deleted, in one transaction. It returns the full ids.
func (s *Store) DeleteRuns(idsOrPrefixes []string, force bool) ([]string, error) {
	ids := make([]string, len(idsOrPrefixes))
	for i, p := range idsOrPrefixes {
		info, err := s.GetRun(p)
		if err != nil {
			return nil, err
		}
		if info.Status == StatusRunning && !force {
			return nil, fmt.Errorf("run %s is still RUNNING: end it first, or force the deletion (nothing was deleted)", info.ID)
		}
		ids[i] = info.ID
	}
	now := nowMs()
	err := s.write(func(tx *txn) error {
		for _, id := range ids {
			if _, err := tx.Exec(`UPDATE runs SET deleted_ms = COALESCE(deleted_ms, ?) WHERE id = ?`, now, id); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return ids, nil
}

// Restore undoes Delete for a run not yet purged by GC. A run that is not deleted is left as it is and the
// error wraps ErrNotDeleted.
func (s *Store) Restore(idOrPrefix string) (string, error) {
	info, err := s.GetRun(idOrPrefix)
	if err != nil {
		return "", err
	}
	if !info.Deleted {
		return info.ID, fmt.Errorf("run %s %w: nothing to restore", info.ID, ErrNotDeleted)
	}
	err = s.write(func(tx *txn) error {
		_, err := tx.Exec(`UPDATE runs SET deleted_ms = NULL WHERE id = ?`, info.ID)
		return err
	})
	return info.ID, err
}

// GCReport says what GC removed.
type GCReport struct {
	Runs      []string `json:"runs"`       // ids of the purged runs
	Blobs     int      `json:"blobs"`      // artifact files removed
	BlobBytes int64    `json:"blob_bytes"` // their total size
	TempFiles int      `json:"temp_files"` // abandoned temporary files removed
}

// TempGrace is the least age of a temporary file of the artifact store that GC removes, whatever its grace:
// a writer may still be writing it (a file being written is modified continually).
const TempGrace = time.Hour

// GC purges soft-deleted runs (with their params, tags, metrics and artifact records) and then removes
// every artifact file that no remaining run references and that was not modified within grace, and the
// temporary files untouched for max(grace, TempGrace).
//
// It is safe beside live writers whatever the grace, by design: a writer puts a blob in place and records
// the reference to it inside one write transaction (see install), and GC re-reads the references and
// deletes inside a write transaction too, so a blob is never deleted between being put in place and being
// referenced. Files are listed before the transaction, so the write lock is held only for the deletions.
func (s *Store) GC(grace time.Duration) (GCReport, error) {
	var rep GCReport
	err := s.write(func(tx *txn) error {
		rep.Runs = nil
		rows, err := tx.Query(`SELECT id FROM runs WHERE deleted_ms IS NOT NULL ORDER BY id`)
		if err != nil {
			return err
		}
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return s.readErr(err)
			}
			rep.Runs = append(rep.Runs, id)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return s.readErr(err)
		}
		_, err = tx.Exec(`DELETE FROM runs WHERE deleted_ms IS NOT NULL`)
		return err
	})
	if err != nil {
		return rep, fmt.Errorf("gc: %w", err)
	}
	// Experiments left without runs are kept: they are one row each and keep their creation time.
	now := time.Now()
	cutoff, tmpCutoff := now.Add(-grace), now.Add(-max(grace, TempGrace))
	root := s.artifactDir()
	if root == "" {
		return rep, nil // no artifact folder configured (PostgreSQL without STYLELAB_ARTIFACTS): no blobs to collect
	}
	entries, err := os.ReadDir(root)
	if errors.Is(err, fs.ErrNotExist) {
		return rep, nil
	}
	if err != nil {
		return rep, fmt.Errorf("gc: %w", err)
	}
	type candidate struct {
		path, sum string
		info      fs.FileInfo
	}
	var blobs []candidate
	sort.Slice(entries, func(i, j int) bool { return entries[i].Name() < entries[j].Name() })
	for _, sub := range entries {
		if !sub.IsDir() {
			continue
		}
		subDir := filepath.Join(root, sub.Name())
		files, err := os.ReadDir(subDir)
		if err != nil {
			return rep, fmt.Errorf("gc: %w", err)
		}
		for _, f := range files {
			info, err := f.Info()
			if err != nil || !info.Mode().IsRegular() {
				continue
			}
			p := filepath.Join(subDir, f.Name())
			switch {
			case sub.Name() == "tmp":
				if info.ModTime().Before(tmpCutoff) && os.Remove(p) == nil {
					rep.TempFiles++
				}
			case shaRE.MatchString(f.Name()) && f.Name()[:2] == sub.Name() && info.ModTime().Before(cutoff):
				blobs = append(blobs, candidate{p, f.Name(), info})
			}
		}
	}
	if len(blobs) == 0 {
		return rep, nil
	}
	err = s.write(func(tx *txn) error {
		if err := tx.lockArtifacts(true); err != nil {
			return err
		}
		referenced := map[string]bool{}
		rows, err := tx.Query(`SELECT DISTINCT sha256 FROM artifacts`)
		if err != nil {
			return err
		}
		for rows.Next() {
			var sum string
			if err := rows.Scan(&sum); err != nil {
				rows.Close()
				return s.readErr(err)
			}
			referenced[sum] = true
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			// Without every reference, no blob can be known to be unused.
			return s.readErr(err)
		}
		for _, c := range blobs {
			if referenced[c.sum] {
				continue
			}
			// Deleted only if it is still the file listed, unmodified since (not one a writer just put there).
			if fi, err := os.Stat(c.path); err != nil || !os.SameFile(fi, c.info) || !fi.ModTime().Equal(c.info.ModTime()) {
				continue
			}
			if os.Remove(c.path) == nil {
				rep.Blobs++
				rep.BlobBytes += c.info.Size()
			}
		}
		return nil
	})
	if err != nil {
		return rep, fmt.Errorf("gc: %w", err)
	}
	return rep, nil
}

// ArtifactProblem is an artifact whose blob is missing or damaged.
type ArtifactProblem struct {
	Run     string `json:"run"`
	Name    string `json:"name"`
	SHA256  string `json:"sha256"`
	Problem string `json:"problem"` // "missing" or "damaged: ..."
}

// CheckReport is what Check found.
type CheckReport struct {
	Database  []string          `json:"database"`  // PRAGMA integrity_check findings (empty: sound)
	Blobs     int               `json:"blobs"`     // distinct artifact blobs verified
	Artifacts []ArtifactProblem `json:"artifacts"` // artifacts whose blob is missing or damaged
}

// OK reports whether nothing was found.
func (r CheckReport) OK() bool { return len(r.Database) == 0 && len(r.Artifacts) == 0 }

// Check runs SQLite's PRAGMA integrity_check over the whole database (every page, every index against its
// table) and verifies every referenced artifact blob against its SHA-256 (streaming). It reads everything,
// so it takes time proportional to the store's size. The error is for a check that could not run; what it
// finds is in the report.
func (s *Store) Check() (CheckReport, error) {
	var rep CheckReport
	rows, err := s.db.Query(s.db.d.integrityCheck()) // PostgreSQL: none; the blobs are checked below
	if err != nil {
		rep.Database = append(rep.Database, describe(err, s.path).Error())
	} else {
		for rows.Next() {
			var msg string
			if err := rows.Scan(&msg); err != nil {
				rep.Database = append(rep.Database, err.Error())
				break
			}
			if msg != "ok" {
				rep.Database = append(rep.Database, msg)
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			rep.Database = append(rep.Database, describe(err, s.path).Error())
		}
	}
	arts, err := s.db.Query(`SELECT r.id, a.name, a.sha256 FROM artifacts a JOIN runs r ON r.rid = a.run ORDER BY a.sha256, r.id, a.name`)
	if err != nil {
		return rep, fmt.Errorf("listing artifacts: %w", describe(err, s.path))
	}
	defer arts.Close()
	verdict := map[string]string{}
	for arts.Next() {
		var p ArtifactProblem
		if err := arts.Scan(&p.Run, &p.Name, &p.SHA256); err != nil {
			return rep, fmt.Errorf("listing artifacts: %w", s.readErr(err))
		}
		v, seen := verdict[p.SHA256]
		if !seen {
			switch err := s.VerifyArtifact(p.SHA256); {
			case err == nil:
			case errors.Is(err, ErrNotFound):
				v = "missing"
			case errors.Is(err, ErrDamaged):
				v = "damaged: its bytes no longer match its SHA-256"
			default:
				v = err.Error()
			}
			verdict[p.SHA256] = v
			rep.Blobs++
		}
		if v != "" {
			p.Problem = v
			rep.Artifacts = append(rep.Artifacts, p)
		}
	}
	if err := arts.Err(); err != nil {
		return rep, fmt.Errorf("listing artifacts: %w", s.readErr(err))
	}
	return rep, nil
}
