package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/stylelab/stylelab/jobs/runner"
	"github.com/stylelab/stylelab/tracker"
)

func init() {
	runsSubcommands["diff"] = &runsSubcommand{
		summary: "differences of two runs: spec, provenance and final metrics",
		run:     runsDiff,
	}
}

// runsDiff implements `stylelab runs diff A B [--json] [--db FILE]`.
func runsDiff(args []string, out io.Writer) error {
	fs, db := runsFlagSet("diff", "diff A B [--json] [--db FILE]")
	asJSON := fs.Bool("json", false, "print the differences as one JSON object")
	ids, err := runsParseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(ids) != 2 {
		return usagef("runs diff needs exactly two run ids (see stylelab runs ls), got %d", len(ids))
	}
	st, err := runsOpenRead(*db)
	if err != nil {
		return err
	}
	defer st.Close()
	d, err := runner.Diff(st, ids[0], ids[1])
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		return enc.Encode(d)
	}
	fmt.Fprintf(out, "A %s\nB %s\n", d.A, d.B)
	section := func(title string, cs []runner.Change) {
		fmt.Fprintf(out, "\n%s (%d differ)\n", title, len(cs))
		tw := tabwriter.NewWriter(out, 2, 4, 2, ' ', 0)
		for _, c := range cs {
			fmt.Fprintf(tw, "  %s\t%s\t%s\n", c.Key, oneLine(c.A), oneLine(c.B))
		}
		tw.Flush()
	}
	section("spec", d.Spec)
	section("provenance", d.Provenance)
	fmt.Fprintf(out, "\nfinal metrics\n")
	tw := tabwriter.NewWriter(out, 2, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "  metric\tA\tB\tB−A\n")
	for _, m := range d.Metrics {
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", m.Key, tracker.FormatValue(float64(m.A)), tracker.FormatValue(float64(m.B)), tracker.FormatValue(float64(m.Delta)))
	}
	return tw.Flush()
}

// oneLine shortens multi-line values (module lists, diffs) for the table: the first line and a line count.
func oneLine(s string) string {
	if s == "" {
		return "(none)"
	}
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return fmt.Sprintf("%s … (%d lines)", s[:i], strings.Count(s, "\n")+1)
	}
	if len(s) > 80 {
		return s[:77] + "…"
	}
	return s
}
