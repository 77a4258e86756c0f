package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/stylelab/stylelab/tracker"
)

func init() {
	runsSubcommands["migrate"] = &runsSubcommand{
		summary: "copy every run from one database to another, empty one (e.g. SQLite to PostgreSQL), verified",
		run:     runsMigrate,
	}
}

// runsMigrate implements `stylelab runs migrate --from SRC --to DST [--json]`: tracker.Copy from SRC (opened
// read-only, never changed) into DST (a new or empty database, SQLite path or postgres:// URL), then the
// per-table row counts and digests of both, which Copy has checked equal. Progress goes to stderr.
func runsMigrate(args []string, stdout io.Writer) error {
	fs := newFlags("runs migrate")
	from := fs.String("from", "", "source database: SQLite file or postgres:// URL (read, never changed)")
	to := fs.String("to", "", "destination database: a new or empty SQLite file or postgres:// URL")
	asJSON := fs.Bool("json", false, "print the report (tables, row counts, digests) as JSON")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: stylelab runs migrate --from SRC --to DST [--json]\n\nCopies every experiment, run, param, tag, metric point and artifact record from SRC into DST, which\nmust be empty, in one transaction (all or nothing), copies the artifact blobs when the two artifact\nfolders differ (set STYLELAB_ARTIFACTS for a PostgreSQL destination), and checks that each table's row\ncount and content digest in DST match SRC. No run should be writing to SRC meanwhile.\n\nExample: stylelab runs migrate --from runs/stylelab.db --to postgres://stylelab@db:5432/stylelab\n\nflags:")
		fs.PrintDefaults()
	}
	pos, err := runsParseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("runs migrate takes no arguments (got %q): use --from and --to", pos)
	}
	if *from == "" || *to == "" {
		return usagef("runs migrate needs --from SRC and --to DST (SQLite files or postgres:// URLs)")
	}
	if *from == *to {
		return usagef("--from and --to are the same database (%s)", tracker.RedactURL(*to))
	}
	if !tracker.IsPostgresURL(*from) {
		if _, err := os.Stat(*from); errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("no database at %s (%w): pass an existing --from", *from, tracker.ErrNotFound)
		}
	}
	src, err := tracker.OpenReadOnly(*from)
	if err != nil {
		return err
	}
	defer src.Close()
	dst, err := tracker.Open(*to)
	if err != nil {
		return err
	}
	defer dst.Close()
	rep, err := tracker.Copy(src, dst, os.Stderr)
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(struct {
			From string `json:"from"`
			To   string `json:"to"`
			tracker.CopyReport
		}{src.Path(), dst.Path(), rep})
	}
	fmt.Fprintf(stdout, "copied %s to %s\n", src.Path(), dst.Path())
	for _, t := range rep.Tables {
		fmt.Fprintf(stdout, "  %-15s %9d rows  sha256 %s  (same in both)\n", t.Table, t.Rows, t.SHA256[:16])
	}
	if rep.Blobs > 0 {
		fmt.Fprintf(stdout, "  artifact blobs  %9d       %d bytes, verified\n", rep.Blobs, rep.BlobBytes)
	}
	return nil
}
