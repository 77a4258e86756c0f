package main

import (
	"encoding/csv"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/stylelab/stylelab/tracker"
	"github.com/stylelab/stylelab/tracker/filter"
	"github.com/stylelab/stylelab/tracker/format"
	"github.com/stylelab/stylelab/tracker/provenance"
)

// runsSubcommand is one `stylelab runs NAME ...` command. It writes its normal output to out; errors are
// returned (usage errors made with usagef exit 2).
type runsSubcommand struct {
	summary string
	run     func(args []string, out io.Writer) error
}

// runsSubcommands holds the `stylelab runs` commands. Other files register more from their init
// (runs_compare.go adds "compare"); a package-level map is initialised before any init runs.
var runsSubcommands = map[string]*runsSubcommand{}

func init() {
	register(&command{name: "runs", summary: "list, show, export, delete and garbage-collect recorded runs",
		run: func(args []string) error { return runsMain(args, os.Stdout) }})
	runsSubcommands["ls"] = &runsSubcommand{"list runs (--filter EXPR, --order, --limit, --deleted, --json)", runsLs}
	runsSubcommands["show"] = &runsSubcommand{"show one run: params, tags, provenance, metrics, artifacts", runsShow}
	runsSubcommands["export"] = &runsSubcommand{"write every metric point of runs as CSV or JSON", runsExport}
	runsSubcommands["rm"] = &runsSubcommand{"delete runs (hidden from ls; purged by gc)", runsRm}
	runsSubcommands["restore"] = &runsSubcommand{"undo rm for runs not yet purged", runsRestore}
	runsSubcommands["gc"] = &runsSubcommand{"purge deleted runs and the artifact files no run uses", runsGC}
	runsSubcommands["check"] = &runsSubcommand{"check the database (integrity_check) and every artifact's SHA-256", runsCheck}
}

func runsUsage(w io.Writer) {
	fmt.Fprintln(w, "usage: stylelab runs COMMAND [flags] [args]\n\ncommands:")
	names := make([]string, 0, len(runsSubcommands))
	for n := range runsSubcommands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-8s %s\n", n, runsSubcommands[n].summary)
	}
	fmt.Fprintln(w, "\nEvery command takes --db FILE or --db postgres://user@host:port/db (default $STYLELAB_DB, else ./runs/stylelab.db).\nRun 'stylelab runs COMMAND -h' for its flags.")
}

// runsMain dispatches `stylelab runs ARGS`.
func runsMain(args []string, out io.Writer) error {
	if len(args) == 0 {
		runsUsage(os.Stderr)
		return usagef("runs needs a command: %s", strings.Join(runsNames(), ", "))
	}
	if args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		runsUsage(out)
		return nil
	}
	sc, ok := runsSubcommands[args[0]]
	if !ok {
		return usagef("unknown runs command %q: use one of %s", args[0], strings.Join(runsNames(), ", "))
	}
	return sc.run(args[1:], out)
}

func runsNames() []string {
	names := make([]string, 0, len(runsSubcommands))
	for n := range runsSubcommands {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// runsFlagSet makes the flag set of `stylelab runs NAME` with the common --db flag.
func runsFlagSet(name, usage string) (*flag.FlagSet, *string) {
	fs := newFlags("runs " + name)
	db := fs.String("db", tracker.DefaultPath(), "tracker database (default $STYLELAB_DB, else ./runs/stylelab.db)")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: stylelab runs %s\n\nflags:\n", usage)
		fs.PrintDefaults()
	}
	return fs, db
}

// runsParseArgs parses flags that may come before, between or after the positional arguments
// (`runs show ID --json`), which the flag package alone does not allow; "--" ends the flags.
func runsParseArgs(fs *flag.FlagSet, args []string) ([]string, error) {
	acceptJSON(fs)
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, usageError{err.Error()}
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		if consumed := len(args) - len(rest); consumed > 0 && args[consumed-1] == "--" {
			return append(pos, rest...), nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// runsOpenRead opens the database for reading: read-write when possible (so stale runs get marked
// KILLED), read-only when the file is not writable. A missing database is tracker.ErrNotFound.
func runsOpenRead(db string) (*tracker.Store, error) {
	if _, err := os.Stat(db); errors.Is(err, os.ErrNotExist) && !tracker.IsPostgresURL(db) {
		return nil, fmt.Errorf("no database at %s (%w): record a run first (stylelab run ...), or pass --db / set STYLELAB_DB", db, tracker.ErrNotFound)
	}
	s, err := tracker.Open(db)
	if errors.Is(err, tracker.ErrReadOnly) {
		return tracker.OpenReadOnly(db)
	}
	return s, err
}

// runsOpenWrite opens an existing database for writing.
func runsOpenWrite(db string) (*tracker.Store, error) {
	if _, err := os.Stat(db); errors.Is(err, os.ErrNotExist) && !tracker.IsPostgresURL(db) {
		return nil, fmt.Errorf("no database at %s (%w): pass --db or set STYLELAB_DB", db, tracker.ErrNotFound)
	}
	return tracker.Open(db)
}

func runsLs(args []string, out io.Writer) error {
	fs, db := runsFlagSet("ls", "ls [--filter EXPR] [--order SPEC] [--limit N] [--deleted] [--json] [--db FILE]")
	filterExpr := fs.String("filter", "", "only runs matching EXPR, e.g. \"params.loss = 'gram' and metrics.style_loss < 0.1 and status = 'FINISHED'\"")
	order := fs.String("order", "", "order, e.g. 'metrics.style_loss ASC, start_time DESC' (default: newest first)")
	limit := fs.Int("limit", 100, "show at most N runs (0 = all)")
	deleted := fs.Bool("deleted", false, "include deleted runs (marked in the STATUS column)")
	asJSON := fs.Bool("json", false, "print a JSON array of runs instead of a table")
	pos, err := runsParseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("runs ls takes no arguments (got %q): filter with --filter", pos)
	}
	if *limit < 0 {
		return usagef("--limit must be 0 (all) or positive (got %d)", *limit)
	}
	s, err := runsOpenRead(*db)
	if errors.Is(err, tracker.ErrNotFound) {
		if *asJSON {
			fmt.Fprintln(out, "[]")
		} else {
			fmt.Fprintf(out, "no runs recorded yet (no database at %s)\n", *db)
		}
		return nil
	}
	if err != nil {
		return err
	}
	defer s.Close()
	q := tracker.Query{Filter: *filterExpr, OrderBy: *order, Limit: *limit}
	if *deleted {
		q.Deleted = tracker.IncludeDeleted
	}
	runs, err := s.SearchRuns(q)
	var fe *filter.Error
	if errors.As(err, &fe) {
		return usagef("%v", err)
	}
	if err != nil {
		return err
	}
	if *asJSON {
		if runs == nil {
			runs = []tracker.RunInfo{}
		}
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		return enc.Encode(runs)
	}
	if len(runs) == 0 {
		fmt.Fprintln(out, "no runs match")
		return nil
	}
	printRunsTable(out, runs)
	if *limit > 0 && len(runs) == *limit {
		fmt.Fprintf(out, "(first %d runs; --limit 0 shows all)\n", *limit)
	}
	return nil
}

// printRunsTable writes the ls table: the params shown are those whose values differ between the listed
// runs (at most 4), the metrics those whose name contains "loss" (else any, at most 3).
func printRunsTable(out io.Writer, runs []tracker.RunInfo) {
	varying := varyingParams(runs, 4)
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tEXPERIMENT\tNAME\tSTATUS\tSTART\tDURATION\tPARAMS\tLATEST")
	for _, r := range runs {
		status := r.Status
		if r.Deleted {
			status += " (deleted)"
		}
		var ps []string
		for _, k := range varying {
			if v, ok := r.Params[k]; ok {
				ps = append(ps, k+"="+v)
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.ID[:8], cut(r.Experiment, 24), cut(r.Name, 32), status,
			r.Start.Format("2006-01-02 15:04:05"), fmtDuration(r.Duration()), cut(strings.Join(ps, " "), 60), cut(latestLosses(r.Latest, 3), 60))
	}
	tw.Flush()
}

// varyingParams returns the names (sorted, at most n) of the params that tell the runs apart (all of a single
// run's).
func varyingParams(runs []tracker.RunInfo, n int) []string {
	keys := tracker.DifferingParams(runs)
	return keys[:min(n, len(keys))]
}

func latestLosses(latest map[string]float64, n int) string {
	var keys []string
	// The loss terms stylelab's runs log come first, in this order; other runs' "*loss*" metrics next.
	for _, k := range []string{"total", "style", "content"} {
		if _, ok := latest[k]; ok {
			keys = append(keys, k)
		}
	}
	if len(keys) > 0 {
		return formatLatest(latest, keys, n)
	}
	for k := range latest {
		if strings.Contains(strings.ToLower(k), "loss") {
			keys = append(keys, k)
		}
	}
	if len(keys) == 0 {
		for k := range latest {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	return formatLatest(latest, keys, n)
}

// formatLatest writes the first n keys as key=value.
func formatLatest(latest map[string]float64, keys []string, n int) string {
	if len(keys) > n {
		keys = keys[:n]
	}
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + fmtValue(latest[k])
	}
	return strings.Join(parts, " ")
}

// fmtValue and fmtDuration are the one formatter every surface uses (package tracker/format).
func fmtValue(v float64) string { return format.Value(v) }

func fmtDuration(d time.Duration) string { return format.Duration(d) }

// cut shortens s to at most n runes, marking the cut with "…", and keeps only its first line.
func cut(s string, n int) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i] + "…"
	}
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

// runsShowJSON is the --json output of runs show.
type runsShowJSON struct {
	Run       *tracker.RunInfo        `json:"run"`
	Metrics   []tracker.MetricSummary `json:"metrics"`
	Artifacts []runsArtifactJSON      `json:"artifacts"`
}

type runsArtifactJSON struct {
	tracker.Artifact
	Path  string `json:"path"`  // "" when the blob is missing
	State string `json:"state"` // "ok", "missing" or "damaged" (its bytes no longer match its SHA-256)
}

func runsShow(args []string, out io.Writer) error {
	fs, db := runsFlagSet("show", "show ID [--json] [--db FILE]   (ID may be a unique prefix)")
	asJSON := fs.Bool("json", false, "print JSON instead of text")
	pos, err := runsParseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("runs show takes one run id (see stylelab runs ls), got %d arguments", len(pos))
	}
	s, err := runsOpenRead(*db)
	if err != nil {
		return err
	}
	defer s.Close()
	info, err := s.GetRun(pos[0])
	if err != nil {
		return err
	}
	sums, err := s.MetricSummaries(info.ID)
	if err != nil {
		return err
	}
	arts, err := s.Artifacts(info.ID)
	if err != nil {
		return err
	}
	ajs := make([]runsArtifactJSON, len(arts))
	for i, a := range arts {
		ajs[i].Artifact = a
		ajs[i].Path, _ = s.ArtifactPath(a.SHA256) // "" when the blob is missing
		switch err := s.VerifyArtifact(a.SHA256); {
		case err == nil:
			ajs[i].State = "ok"
		case errors.Is(err, tracker.ErrNotFound):
			ajs[i].State = "missing"
		case errors.Is(err, tracker.ErrDamaged):
			ajs[i].State = "damaged"
		default:
			return err
		}
	}
	if *asJSON {
		if sums == nil {
			sums = []tracker.MetricSummary{}
		}
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		return enc.Encode(runsShowJSON{Run: info, Metrics: sums, Artifacts: ajs})
	}

	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "run\t%s\n", info.ID)
	fmt.Fprintf(tw, "name\t%s\n", info.Name)
	fmt.Fprintf(tw, "experiment\t%s\n", info.Experiment)
	status := info.Status
	if info.Deleted {
		status += " (deleted: 'stylelab runs restore' undoes it until 'runs gc')"
	}
	fmt.Fprintf(tw, "status\t%s\n", status)
	if info.Error != "" {
		fmt.Fprintf(tw, "error\t%s\n", cut(info.Error, 200))
	}
	fmt.Fprintf(tw, "start\t%s\n", info.Start.Format(time.RFC3339))
	if !info.End.IsZero() {
		fmt.Fprintf(tw, "end\t%s\n", info.End.Format(time.RFC3339))
	}
	fmt.Fprintf(tw, "duration\t%s\n", fmtDuration(info.Duration()))
	if info.Status == tracker.StatusRunning {
		fmt.Fprintf(tw, "heartbeat\t%s (%s ago)\n", info.Heartbeat.Format(time.RFC3339), fmtDuration(time.Since(info.Heartbeat)))
	}
	tw.Flush()

	section := func(title string, m map[string]string, keep func(string) bool, trim string) {
		var keys []string
		for k := range m {
			if keep(k) {
				keys = append(keys, k)
			}
		}
		if len(keys) == 0 {
			return
		}
		sort.Strings(keys)
		fmt.Fprintf(out, "\n%s:\n", title)
		tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
		for _, k := range keys {
			v := m[k]
			if n := strings.Count(v, "\n"); n > 0 {
				v = cut(v, 100) + fmt.Sprintf(" (%d lines)", n+1)
			} else {
				v = cut(v, 120)
			}
			fmt.Fprintf(tw, "  %s\t%s\n", strings.TrimPrefix(k, trim), v)
		}
		tw.Flush()
	}
	isProv := func(k string) bool { return strings.HasPrefix(k, provenance.Prefix) }
	section("params", info.Params, func(string) bool { return true }, "")
	section("tags", info.Tags, func(k string) bool { return !isProv(k) }, "")
	section("provenance", info.Tags, isProv, provenance.Prefix)

	if len(sums) > 0 {
		fmt.Fprintln(out, "\nmetrics:")
		tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "  KEY\tPOINTS\tSTEPS\tLAST\tMIN\tMAX\tNON-FINITE")
		for _, m := range sums {
			fmt.Fprintf(tw, "  %s\t%d\t%d..%d\t%s\t%s\t%s\t%d\n", m.Key, m.Count, m.FirstStep, m.LastStep,
				fmtValue(m.Last), fmtValue(m.Min), fmtValue(m.Max), m.NonFinite)
		}
		tw.Flush()
	}
	if len(ajs) > 0 {
		fmt.Fprintln(out, "\nartifacts:")
		tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "  NAME\tTYPE\tSIZE\tSHA256\tPATH")
		for _, a := range ajs {
			p := a.Path
			switch a.State {
			case "missing":
				p = "(missing)"
			case "damaged":
				p = "(DAMAGED: its bytes no longer match its SHA-256; see 'stylelab runs check') " + p
			}
			fmt.Fprintf(tw, "  %s\t%s\t%d\t%s\t%s\n", a.Name, a.MediaType, a.Size, a.SHA256[:min(12, len(a.SHA256))], p)
		}
		tw.Flush()
	}
	return nil
}

func runsExport(args []string, out io.Writer) error {
	fs, db := runsFlagSet("export", "export ID... [--format csv|json] [--out FILE] [--db FILE]")
	format := fs.String("format", "csv", "csv (run_id,key,step,value,time) or json (an array of objects with those fields)")
	outPath := fs.String("out", "", "write to FILE instead of standard output")
	pos, err := runsParseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) == 0 {
		return usagef("runs export needs at least one run id (see stylelab runs ls)")
	}
	if *format != "csv" && *format != "json" {
		return usagef("--format must be csv or json (got %q)", *format)
	}
	s, err := runsOpenRead(*db)
	if err != nil {
		return err
	}
	defer s.Close()
	// Resolve every id before writing anything.
	ids := make([]string, len(pos))
	for i, p := range pos {
		info, err := s.GetRun(p)
		if err != nil {
			return err
		}
		ids[i] = info.ID
	}
	if *outPath == "" {
		return writeExport(out, s, ids, *format)
	}
	// A file is written beside --out and renamed into place only when every point was read: a failed
	// export leaves no partial file.
	f, err := os.CreateTemp(filepath.Dir(*outPath), ".export-*")
	if err != nil {
		return fmt.Errorf("--out: %w", err)
	}
	defer os.Remove(f.Name())
	err = writeExport(f, s, ids, *format)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(f.Name(), 0o644)
	}
	if err == nil {
		err = os.Rename(f.Name(), *outPath)
	}
	return err
}

// writeExport streams every metric point of the runs: values as the shortest decimal that reads back
// exactly, non-finite ones as NaN, Infinity, -Infinity; times in RFC 3339 UTC.
func writeExport(w io.Writer, s *tracker.Store, ids []string, format string) error {
	if format == "csv" {
		cw := csv.NewWriter(w)
		if err := cw.Write([]string{"run_id", "key", "step", "value", "time"}); err != nil {
			return err
		}
		for _, id := range ids {
			err := s.EachPoint(id, func(key string, p tracker.Point) error {
				return cw.Write([]string{id, key, strconv.FormatInt(p.Step, 10), tracker.FormatValue(p.Value),
					p.Time.UTC().Format(time.RFC3339Nano)})
			})
			if err != nil {
				return err
			}
		}
		cw.Flush()
		return cw.Error()
	}
	type row struct {
		RunID string        `json:"run_id"`
		Key   string        `json:"key"`
		Step  int64         `json:"step"`
		Value tracker.Value `json:"value"`
		Time  time.Time     `json:"time"`
	}
	if _, err := io.WriteString(w, "["); err != nil {
		return err
	}
	first := true
	for _, id := range ids {
		err := s.EachPoint(id, func(key string, p tracker.Point) error {
			b, err := json.Marshal(row{id, key, p.Step, tracker.Value(p.Value), p.Time.UTC()})
			if err != nil {
				return err
			}
			sep := ",\n"
			if first {
				sep, first = "\n", false
			}
			_, err = io.WriteString(w, sep+string(b))
			return err
		})
		if err != nil {
			return err
		}
	}
	_, err := io.WriteString(w, "\n]\n")
	return err
}

func runsRm(args []string, out io.Writer) error {
	fs, db := runsFlagSet("rm", "rm ID... [--force] [--db FILE]")
	force := fs.Bool("force", false, "also delete runs still RUNNING")
	pos, err := runsParseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) == 0 {
		return usagef("runs rm needs at least one run id (see stylelab runs ls)")
	}
	s, err := runsOpenWrite(*db)
	if err != nil {
		return err
	}
	defer s.Close()
	// Every id is checked before any run is deleted (all or none).
	ids, err := s.DeleteRuns(pos, *force)
	if err != nil {
		return err
	}
	for _, id := range ids {
		fmt.Fprintf(out, "deleted %s (hidden from ls; 'stylelab runs restore %s' undoes it, 'stylelab runs gc' purges it)\n", id, id[:8])
	}
	return nil
}

func runsRestore(args []string, out io.Writer) error {
	fs, db := runsFlagSet("restore", "restore ID... [--db FILE]")
	pos, err := runsParseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) == 0 {
		return usagef("runs restore needs at least one run id (see stylelab runs ls --deleted)")
	}
	s, err := runsOpenWrite(*db)
	if err != nil {
		return err
	}
	defer s.Close()
	for _, p := range pos { // every id first: an unknown one restores nothing
		if _, err := s.GetRun(p); err != nil {
			return err
		}
	}
	for _, p := range pos {
		id, err := s.Restore(p)
		switch {
		case errors.Is(err, tracker.ErrNotDeleted):
			fmt.Fprintf(out, "%s was not deleted: nothing to restore\n", id)
		case err != nil:
			return err
		default:
			fmt.Fprintf(out, "restored %s\n", id)
		}
	}
	return nil
}

func runsGC(args []string, out io.Writer) error {
	fs, db := runsFlagSet("gc", "gc [--grace DURATION] [--json] [--db FILE]")
	grace := fs.Duration("grace", time.Hour, "keep unreferenced artifact files younger than this (safe at 0 beside live writers; temporary files are kept at least 1h)")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	pos, err := runsParseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("runs gc takes no arguments (got %q)", pos)
	}
	if *grace < 0 {
		return usagef("--grace must not be negative (got %v)", *grace)
	}
	s, err := runsOpenWrite(*db)
	if err != nil {
		return err
	}
	defer s.Close()
	rep, err := s.GC(*grace)
	if err != nil {
		return err
	}
	if *asJSON {
		if rep.Runs == nil {
			rep.Runs = []string{}
		}
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	fmt.Fprintf(out, "purged %d deleted run(s)\n", len(rep.Runs))
	for _, id := range rep.Runs {
		fmt.Fprintf(out, "  %s\n", id)
	}
	fmt.Fprintf(out, "removed %d unreferenced artifact file(s), %d bytes, and %d abandoned temporary file(s)\n",
		rep.Blobs, rep.BlobBytes, rep.TempFiles)
	return nil
}

func runsCheck(args []string, out io.Writer) error {
	fs, db := runsFlagSet("check", "check [--json] [--db FILE]")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	pos, err := runsParseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("runs check takes no arguments (got %q): it checks the whole database", pos)
	}
	s, err := runsOpenRead(*db)
	if err != nil {
		return err
	}
	defer s.Close()
	rep, err := s.Check()
	if err != nil {
		return err
	}
	var problem error
	switch {
	case len(rep.Database) > 0:
		problem = fmt.Errorf("database %s is %w (%d integrity_check finding(s)): copy it aside and restore it from a backup", s.Path(), tracker.ErrDamaged, len(rep.Database))
	case len(rep.Artifacts) > 0:
		problem = fmt.Errorf("%d artifact(s) missing or %w: log the correct bytes again to repair a blob, or restore the files from a backup", len(rep.Artifacts), tracker.ErrDamaged)
	}
	if *asJSON {
		if rep.Database == nil {
			rep.Database = []string{}
		}
		if rep.Artifacts == nil {
			rep.Artifacts = []tracker.ArtifactProblem{}
		}
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		if err := enc.Encode(struct {
			OK bool `json:"ok"`
			tracker.CheckReport
		}{rep.OK(), rep}); err != nil {
			return err
		}
		if problem != nil {
			return reportedError{problem}
		}
		return nil
	}
	if len(rep.Database) == 0 {
		fmt.Fprintf(out, "database  ok (PRAGMA integrity_check) %s\n", s.Path())
	} else {
		fmt.Fprintf(out, "database  DAMAGED %s:\n", s.Path())
		for _, m := range rep.Database {
			fmt.Fprintf(out, "  %s\n", cut(m, 200))
		}
	}
	if len(rep.Artifacts) == 0 {
		fmt.Fprintf(out, "artifacts ok (%d blobs match their SHA-256)\n", rep.Blobs)
	} else {
		fmt.Fprintf(out, "artifacts %d of %d blobs checked have problems:\n", len(rep.Artifacts), rep.Blobs)
		tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "  RUN\tNAME\tSHA256\tPROBLEM")
		for _, p := range rep.Artifacts {
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", p.Run[:8], p.Name, p.SHA256[:12], p.Problem)
		}
		tw.Flush()
	}
	return problem
}
