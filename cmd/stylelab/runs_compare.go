package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/stylelab/stylelab/tracker"
	"github.com/stylelab/stylelab/tracker/charts"
	"github.com/stylelab/stylelab/tracker/dashboard"
)

func init() {
	runsSubcommands["compare"] = &runsSubcommand{
		summary: "write a self-contained HTML report comparing runs (curves, param diff, images)",
		run:     runsCompareTo,
	}
}

// runsCompareTo implements `stylelab runs compare ID ID… [--out compare.html] [--db FILE]`: the dashboard's
// compare page as one HTML file with ECharts, the chart data and the images inlined, which opens offline.
// It prints where it wrote the report on stdout (or the report itself with --out -).
func runsCompareTo(args []string, stdout io.Writer) error {
	fs, db := runsFlagSet("compare", "compare ID ID... [--out compare.html] [--db FILE]")
	out := fs.String("out", "compare.html", "report file to write ('-' for standard output)")
	maxPoints := fs.Int("max-points", charts.DefaultMaxPoints, "points per curve at most (longer curves are downsampled; 0 keeps all)")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: stylelab runs compare ID ID... [--out compare.html] [--db FILE]\n\nWrites one self-contained HTML file comparing the runs (ids or unique prefixes): overlaid curves per\nmetric, the parameters with differences highlighted, output images side by side. It opens offline.\nFlags (anywhere among the ids):")
		fs.PrintDefaults()
	}
	ids, err := runsParseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(ids) < 2 {
		return usagef("runs compare needs at least two run ids (see stylelab runs ls), got %d", len(ids))
	}
	if *maxPoints < 0 {
		return usagef("--max-points must be 0 (keep all) or positive (got %d)", *maxPoints)
	}
	if *out == "" {
		return usagef("--out must name a file, or '-' for standard output")
	}
	st, err := tracker.OpenReadOnly(*db)
	if err != nil {
		return err
	}
	defer st.Close()
	o := dashboard.Options{Source: st.Path(), MaxPoints: *maxPoints}
	if *maxPoints == 0 {
		o.MaxPoints = -1 // charts: no downsampling
	}
	var b bytes.Buffer
	if err := dashboard.WriteCompareReport(&b, st, ids, o); err != nil {
		return err
	}
	if *out == "-" {
		_, err := stdout.Write(b.Bytes())
		return err
	}
	if err := writeFileAtomic(*out, b.Bytes()); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %s (%d runs, %.1f MB): open it in a browser, no server needed\n", *out, len(ids), float64(b.Len())/1e6)
	return nil
}

// writeFileAtomic writes data to a temporary file beside path and renames it into place, so that an
// interrupted write never leaves a truncated report.
func writeFileAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, ".compare-*.html")
	if err != nil {
		return fmt.Errorf("cannot write the report in %s: %w", dir, err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}
