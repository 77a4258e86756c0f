package tracker

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"time"
)

// Run lifecycle after a run ends: soft delete and restore, garbage collection of deleted runs and
// unreferenced blobs, and the whole-store check. (Stale RUNNING runs are reaped by ReapStale, store.go.)

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
