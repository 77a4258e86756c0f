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
func (s *Store) artifactDir() string { return filepath.Join(s.dir, "artifacts") }

var shaRE = regexp.MustCompile(`^[0-9a-f]{64}$`)

func (s *Store) blobPath(sum string) string {
	return filepath.Join(s.artifactDir(), sum[:2], sum)
}

// ArtifactPath returns the path of the blob with this SHA-256 (64 lowercase hex digits). Anything else is
// refused, so the result is always inside the artifact store; a missing blob is ErrNotFound.
func (s *Store) ArtifactPath(sum string) (string, error) {
	if !shaRE.MatchString(sum) {
		return "", fmt.Errorf("artifact id %q is not a SHA-256 (64 lowercase hex digits)", sum)
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

// ReadArtifact returns the bytes of the blob with this SHA-256.
func (s *Store) ReadArtifact(sum string) ([]byte, error) {
	p, err := s.ArtifactPath(sum)
	if err != nil {
		return nil, err
	}
	return os.ReadFile(p)
}

// putBlob stores the content read from src in the artifact store and returns its SHA-256 and size. The
// bytes go to a temporary file that is fsynced and then renamed into place, so a crash never leaves a
// partial blob under a content name. Content already present is not written again; its modification time
// is refreshed so that a concurrent GC (which spares recent files) keeps it.
func (s *Store) putBlob(src io.Reader) (string, int64, error) {
	tmpDir := filepath.Join(s.artifactDir(), "tmp")
	if err := os.MkdirAll(tmpDir, 0o755); err != nil {
		return "", 0, fmt.Errorf("artifact store %s: %w", s.artifactDir(), err)
	}
	tmp, err := os.CreateTemp(tmpDir, "blob-*")
	if err != nil {
		return "", 0, fmt.Errorf("artifact store: %w", err)
	}
	defer os.Remove(tmp.Name()) // no-op after the rename
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(tmp, h), src)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", 0, fmt.Errorf("writing artifact: %w", err)
	}
	sum := hex.EncodeToString(h.Sum(nil))
	final := s.blobPath(sum)
	if st, err := os.Stat(final); err == nil && st.Size() == n {
		now := time.Now()
		_ = os.Chtimes(final, now, now)
		return sum, n, nil
	}
	if err := os.MkdirAll(filepath.Dir(final), 0o755); err != nil {
		return "", 0, fmt.Errorf("artifact store: %w", err)
	}
	if err := os.Chmod(tmp.Name(), 0o444); err != nil {
		return "", 0, fmt.Errorf("artifact store: %w", err)
	}
	if err := os.Rename(tmp.Name(), final); err != nil {
		return "", 0, fmt.Errorf("artifact store: %w", err)
	}
	if d, err := os.Open(filepath.Dir(final)); err == nil {
		_ = d.Sync() // make the rename durable
		d.Close()
	}
	return sum, n, nil
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
	return r.logArtifact(name, mediaType, func() (string, int64, error) { return r.s.putBlob(bytes.NewReader(data)) })
}

// LogArtifactFile stores the file at path (streamed, not loaded whole) as the run's artifact called name;
// an empty name means the file's base name.
func (r *Run) LogArtifactFile(name, mediaType, path string) (Artifact, error) {
	if name == "" {
		name = filepath.Base(path)
	}
	return r.logArtifact(name, mediaType, func() (string, int64, error) {
		f, err := os.Open(path)
		if err != nil {
			return "", 0, err
		}
		defer f.Close()
		return r.s.putBlob(f)
	})
}

func (r *Run) logArtifact(name, mediaType string, put func() (string, int64, error)) (Artifact, error) {
	if err := checkKey("artifact name", name); err != nil {
		return Artifact{}, err
	}
	if err := r.checkOpen(); err != nil {
		return Artifact{}, err
	}
	if r.s.readOnly {
		return Artifact{}, fmt.Errorf("store %s was opened %w", r.s.path, ErrReadOnly)
	}
	sum, size, err := put()
	if err != nil {
		return Artifact{}, fmt.Errorf("artifact %q of run %s: %w", name, r.id, err)
	}
	a := Artifact{Name: name, MediaType: mediaTypeFor(name, mediaType), SHA256: sum, Size: size}
	err = r.s.write(func(tx *sql.Tx) error {
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
			return nil, err
		}
		out = append(out, a)
	}
	return out, rows.Err()
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
	info, err := s.GetRun(idOrPrefix)
	if err != nil {
		return "", err
	}
	if info.Status == StatusRunning && !force {
		return "", fmt.Errorf("run %s is still RUNNING: end it first, or force the deletion", info.ID)
	}
	err = s.write(func(tx *sql.Tx) error {
		_, err := tx.Exec(`UPDATE runs SET deleted_ms = COALESCE(deleted_ms, ?) WHERE id = ?`, nowMs(), info.ID)
		return err
	})
	return info.ID, err
}

// Restore undoes Delete for a run not yet purged by GC.
func (s *Store) Restore(idOrPrefix string) (string, error) {
	info, err := s.GetRun(idOrPrefix)
	if err != nil {
		return "", err
	}
	err = s.write(func(tx *sql.Tx) error {
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

// GC purges soft-deleted runs (with their params, tags, metrics and artifact records) and then removes
// every artifact file that no remaining run references. Files modified less than grace ago are kept, so a
// writer that has stored a blob but not yet recorded it is never robbed of it (1 h is a safe grace).
func (s *Store) GC(grace time.Duration) (GCReport, error) {
	var rep GCReport
	err := s.write(func(tx *sql.Tx) error {
		rep.Runs = nil
		rows, err := tx.Query(`SELECT id FROM runs WHERE deleted_ms IS NOT NULL ORDER BY id`)
		if err != nil {
			return err
		}
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return err
			}
			rep.Runs = append(rep.Runs, id)
		}
		rows.Close()
		_, err = tx.Exec(`DELETE FROM runs WHERE deleted_ms IS NOT NULL`)
		return err
	})
	if err != nil {
		return rep, fmt.Errorf("gc: %w", err)
	}
	// Experiments left without runs are kept: they are one row each and keep their creation time.
	referenced := map[string]bool{}
	rows, err := s.db.Query(`SELECT DISTINCT sha256 FROM artifacts`)
	if err != nil {
		return rep, fmt.Errorf("gc: %w", describe(err, s.path))
	}
	for rows.Next() {
		var sum string
		if err := rows.Scan(&sum); err != nil {
			rows.Close()
			return rep, err
		}
		referenced[sum] = true
	}
	rows.Close()
	cutoff := time.Now().Add(-grace)
	root := s.artifactDir()
	entries, err := os.ReadDir(root)
	if errors.Is(err, fs.ErrNotExist) {
		return rep, nil
	}
	if err != nil {
		return rep, fmt.Errorf("gc: %w", err)
	}
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
			if err != nil || !info.Mode().IsRegular() || !info.ModTime().Before(cutoff) {
				continue
			}
			p := filepath.Join(subDir, f.Name())
			switch {
			case sub.Name() == "tmp":
				if os.Remove(p) == nil {
					rep.TempFiles++
				}
			case shaRE.MatchString(f.Name()) && f.Name()[:2] == sub.Name() && !referenced[f.Name()]:
				if os.Remove(p) == nil {
					rep.Blobs++
					rep.BlobBytes += info.Size()
				}
			}
		}
	}
	return rep, nil
}
