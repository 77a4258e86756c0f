package tracker

import (
	"bytes"
	"crypto/sha256"
	"database/sql"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strings"
)

// copyTable is one table as Copy moves it: its columns, each 'i' (integer), 'f' (real) or 't' (text),
// any of them possibly NULL.
type copyTable struct {
	name  string
	cols  []string
	kinds string
}

// copyTables lists every table of schema version 3 in an order that satisfies the foreign keys.
var copyTables = []copyTable{
	{"experiments", []string{"id", "name", "created_ms"}, "iti"},
	{"runs", []string{"rid", "id", "experiment_id", "name", "status", "start_ms", "end_ms", "error", "heartbeat_ms", "stale_after_ms", "deleted_ms"}, "itittiitiii"},
	{"params", []string{"run", "key", "value"}, "itt"},
	{"tags", []string{"run", "key", "value"}, "itt"},
	{"metrics", []string{"run", "key", "step", "value", "nonfinite", "wall_ms"}, "itifii"},
	{"latest_metrics", []string{"run", "key", "step", "value", "nonfinite", "wall_ms"}, "itifii"},
	{"artifacts", []string{"run", "name", "media_type", "sha256", "size", "created_ms"}, "itttii"},
}

// TableDigest is a table's row count and content digest: SHA-256 over the sorted SHA-256 digests of its
// rows, each row encoded column by column (NULL, integer, float64 bits or length-prefixed text), so it
// depends on the rows and their values only, not on their order or on the store's dialect.
type TableDigest struct {
	Table  string `json:"table"`
	Rows   int64  `json:"rows"`
	SHA256 string `json:"sha256"`
}

// CopyReport is what Copy did: each table's digest in the source, which the destination matched after
// the copy, and the artifact blobs copied.
type CopyReport struct {
	Tables    []TableDigest `json:"tables"`
	Blobs     int           `json:"blobs"`
	BlobBytes int64         `json:"blob_bytes"`
}

// Copy copies every row of src into dst, which must be empty (no experiments): experiments, runs (with
// their ids and internal keys), params, tags, metrics, latest values and artifact records, plus every
// artifact blob (verified against its SHA-256 on the way) when the two stores' artifact folders differ.
// The rows are written in one transaction, so a failure leaves dst as empty as it was. Afterwards each
// table's row count and digest are computed again from dst and compared with src's; any difference is an
// error. Copy does not change src; no run should be writing to it meanwhile (a RUNNING run is copied as it
// is, and its later points are not). progress, if not nil, gets a line per table.
func Copy(src, dst *Store, progress io.Writer) (CopyReport, error) {
	var rep CopyReport
	if progress == nil {
		progress = io.Discard
	}
	if dst.readOnly {
		return rep, fmt.Errorf("destination %s was opened %w", dst.path, ErrReadOnly)
	}
	var n int
	if err := dst.db.QueryRow(`SELECT COUNT(*) FROM experiments`).Scan(&n); err != nil {
		return rep, describe(err, dst.path)
	}
	if n > 0 {
		return rep, fmt.Errorf("destination %s already holds %d experiments: copy into an empty database (nothing was written)", dst.path, n)
	}
	// Blobs first, staged (and verified) outside the transaction; installed inside it.
	var staged []*stagedBlob
	defer func() {
		for _, b := range staged {
			os.Remove(b.tmp)
		}
	}()
	if src.artifacts != dst.artifacts {
		sums, err := src.distinctBlobs()
		if err != nil {
			return rep, err
		}
		for _, sum := range sums {
			b, err := copyBlob(src, dst, sum)
			if err != nil {
				return rep, err
			}
			staged = append(staged, b)
			rep.Blobs++
			rep.BlobBytes += b.size
		}
		if len(sums) > 0 {
			fmt.Fprintf(progress, "artifacts: %d blobs (%d bytes) staged\n", rep.Blobs, rep.BlobBytes)
		}
	}
	err := dst.write(func(tx *txn) error {
		if err := tx.lockArtifacts(false); err != nil {
			return err
		}
		for _, b := range staged {
			if err := dst.install(b); err != nil {
				return err
			}
		}
		for _, t := range copyTables {
			d, err := copyRows(src, tx, t)
			if err != nil {
				return fmt.Errorf("copying table %s: %w", t.name, err)
			}
			rep.Tables = append(rep.Tables, d)
			fmt.Fprintf(progress, "%s: %d rows\n", t.name, d.Rows)
		}
		return dst.db.d.afterCopy(tx)
	})
	if err != nil {
		return rep, fmt.Errorf("copy from %s to %s (nothing was written): %w", src.path, dst.path, err)
	}
	for _, want := range rep.Tables {
		got, err := tableDigest(dst.db, tableByName(want.Table))
		if err != nil {
			return rep, fmt.Errorf("verifying the copy in %s: %w", dst.path, err)
		}
		if got != want {
			return rep, dst.damaged("after copying, table %s holds %d rows with digest %s, but the source %s has %d rows with digest %s",
				want.Table, got.Rows, got.SHA256, src.path, want.Rows, want.SHA256)
		}
	}
	fmt.Fprintf(progress, "verified: every table's row count and digest match\n")
	return rep, nil
}

func tableByName(name string) copyTable {
	for _, t := range copyTables {
		if t.name == name {
			return t
		}
	}
	panic("no table " + name)
}

func (s *Store) distinctBlobs() ([]string, error) {
	rows, err := s.db.Query(`SELECT DISTINCT sha256 FROM artifacts`)
	if err != nil {
		return nil, describe(err, s.path)
	}
	defer rows.Close()
	var sums []string
	for rows.Next() {
		var sum string
		if err := rows.Scan(&sum); err != nil {
			return nil, s.readErr(err)
		}
		sums = append(sums, sum)
	}
	slices.Sort(sums)
	return sums, s.readErr(rows.Err())
}

// copyBlob stages src's blob sum in dst's artifact folder, checking that its bytes still hash to sum.
func copyBlob(src, dst *Store, sum string) (*stagedBlob, error) {
	p, err := src.ArtifactPath(sum)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := dst.stageBlob(f)
	if err != nil {
		return nil, err
	}
	if b.sum != sum {
		os.Remove(b.tmp)
		return nil, fmt.Errorf("artifact blob %s in %s is %w: its bytes hash to %s; repair it (stylelab runs check) before copying", p, src.path, ErrDamaged, b.sum)
	}
	return b, nil
}

// copyRows reads every row of table t from src and inserts it through tx, returning src's digest.
func copyRows(src *Store, tx *txn, t copyTable) (TableDigest, error) {
	rows, err := src.db.Query(`SELECT ` + strings.Join(t.cols, ", ") + ` FROM ` + t.name)
	if err != nil {
		return TableDigest{}, describe(err, src.path)
	}
	defer rows.Close()
	const chunk = 500
	place := "(" + strings.TrimSuffix(strings.Repeat("?, ", len(t.cols)), ", ") + ")"
	insert := func(n int) string {
		return `INSERT INTO ` + t.name + ` (` + strings.Join(t.cols, ", ") + `) VALUES ` +
			strings.TrimSuffix(strings.Repeat(place+", ", n), ", ")
	}
	var args []any
	var digests [][]byte
	flush := func(n int) error {
		if n == 0 {
			return nil
		}
		_, err := tx.Exec(insert(n), args...)
		args = args[:0]
		return err
	}
	pending := 0
	for rows.Next() {
		vals, err := scanRow(rows, t.kinds)
		if err != nil {
			return TableDigest{}, src.readErr(err)
		}
		digests = append(digests, rowDigest(vals))
		args = append(args, vals...)
		if pending++; pending == chunk {
			if err := flush(pending); err != nil {
				return TableDigest{}, err
			}
			pending = 0
		}
	}
	if err := rows.Err(); err != nil {
		return TableDigest{}, src.readErr(err)
	}
	if err := flush(pending); err != nil {
		return TableDigest{}, err
	}
	return TableDigest{Table: t.name, Rows: int64(len(digests)), SHA256: combine(digests)}, nil
}

type queryConn interface {
	Query(q string, args ...any) (*sql.Rows, error)
}

// tableDigest is the row count and digest of table t as the store holds it.
func tableDigest(db queryConn, t copyTable) (TableDigest, error) {
	rows, err := db.Query(`SELECT ` + strings.Join(t.cols, ", ") + ` FROM ` + t.name)
	if err != nil {
		return TableDigest{}, err
	}
	defer rows.Close()
	var digests [][]byte
	for rows.Next() {
		vals, err := scanRow(rows, t.kinds)
		if err != nil {
			return TableDigest{}, err
		}
		digests = append(digests, rowDigest(vals))
	}
	if err := rows.Err(); err != nil {
		return TableDigest{}, err
	}
	return TableDigest{Table: t.name, Rows: int64(len(digests)), SHA256: combine(digests)}, nil
}

// scanRow reads one row as int64, float64, string or nil values, by kinds.
func scanRow(rows *sql.Rows, kinds string) ([]any, error) {
	ptrs := make([]any, len(kinds))
	for i, k := range kinds {
		switch k {
		case 'i':
			ptrs[i] = new(sql.NullInt64)
		case 'f':
			ptrs[i] = new(sql.NullFloat64)
		default:
			ptrs[i] = new(sql.NullString)
		}
	}
	if err := rows.Scan(ptrs...); err != nil {
		return nil, err
	}
	vals := make([]any, len(kinds))
	for i, p := range ptrs {
		switch v := p.(type) {
		case *sql.NullInt64:
			if v.Valid {
				vals[i] = v.Int64
			}
		case *sql.NullFloat64:
			if v.Valid {
				vals[i] = v.Float64
			}
		case *sql.NullString:
			if v.Valid {
				vals[i] = v.String
			}
		}
	}
	return vals, nil
}

// rowDigest is SHA-256 of the row's canonical encoding: per column a tag byte (0 NULL, 1 integer, 2 float,
// 3 text) and the value (8 bytes big-endian; IEEE-754 bits; 8-byte length then bytes).
func rowDigest(vals []any) []byte {
	var b bytes.Buffer
	var n [8]byte
	for _, v := range vals {
		switch v := v.(type) {
		case nil:
			b.WriteByte(0)
		case int64:
			b.WriteByte(1)
			binary.BigEndian.PutUint64(n[:], uint64(v))
			b.Write(n[:])
		case float64:
			b.WriteByte(2)
			binary.BigEndian.PutUint64(n[:], math.Float64bits(v))
			b.Write(n[:])
		case string:
			b.WriteByte(3)
			binary.BigEndian.PutUint64(n[:], uint64(len(v)))
			b.Write(n[:])
			b.WriteString(v)
		}
	}
	d := sha256.Sum256(b.Bytes())
	return d[:]
}

// combine is SHA-256 over the sorted row digests.
func combine(digests [][]byte) string {
	slices.SortFunc(digests, bytes.Compare)
	h := sha256.New()
	for _, d := range digests {
		h.Write(d)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// Digest returns every table's row count and digest (see TableDigest), for comparing two stores.
func (s *Store) Digest() ([]TableDigest, error) {
	var out []TableDigest
	for _, t := range copyTables {
		d, err := tableDigest(s.db, t)
		if err != nil {
			return nil, describe(err, s.path)
		}
		out = append(out, d)
	}
	return out, nil
}
