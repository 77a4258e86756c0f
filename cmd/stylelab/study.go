package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/stylelab/stylelab/experiments/safefile"
	"github.com/stylelab/stylelab/jobs/spec"
	"github.com/stylelab/stylelab/jobs/studies"
	"github.com/stylelab/stylelab/jobs/sweep"
	"github.com/stylelab/stylelab/tracker"
	"github.com/stylelab/stylelab/tracker/dashboard"
)

func init() {
	register(&command{name: "study", summary: "run a loss study (arms × content/style pairs × seeds), judge it independently, report the statistics", run: runStudy})
}

const studyUsage = `usage: stylelab study STUDY.json [--executor local|slurm] [--wait] [--dry-run] [--max-runs N] [--json] [flags]
       stylelab study status|resume|cancel ID           (the study's runs, as stylelab sweep does)
       stylelab study evaluate ID [--judge-seed N | --judge JUDGE.json] [--bootstrap N] [--json]
       stylelab study report ID [--out report.html]
       stylelab study export ID [--format csv|json] [--out FILE]
       stylelab study rerun ID [--json]                  (reruns every judged run and the evaluation: did every number reproduce?)
       stylelab study list

A study file compares arms (spec paths set over a base spec, e.g. the style loss) on units (content × style
pairs) and seeds; see studies/tiny.json and docs/spec.md. A "feedforward" study file (studies/feedforward-tiny.json:
single-style vs CIN nets per loss, judged on held-out contents) runs in this process only (no Slurm or resume). Every run is an ordinary 'stylelab run --spec' tagged
study.id, study.arm, study.unit and study.seed. 'study evaluate' judges every finished run with a network other
than the optimising one (every style loss, content loss, SSIM, colour and feature sliced Wasserstein), then
reports means with bootstrap intervals over units, paired differences, Wilcoxon tests with Holm's correction and
a sentence per pair of arms. --wait runs the study to the end and evaluates it.`

func runStudy(args []string) error {
	if len(args) > 0 {
		switch args[0] {
		case "status":
			return sweepStatus(args[1:], os.Stdout)
		case "resume":
			return sweepResume(args[1:], os.Stdout, os.Stderr)
		case "cancel":
			return sweepCancel(args[1:], os.Stdout)
		case "evaluate":
			return studyEvaluate(args[1:], os.Stdout, os.Stderr)
		case "report":
			return studyReport(args[1:], os.Stdout)
		case "export":
			return studyExport(args[1:], os.Stdout)
		case "list":
			return studyList(args[1:], os.Stdout)
		case "rerun":
			return studyRerun(args[1:], os.Stdout, os.Stderr)
		}
	}
	return studyStart(args, os.Stdout, os.Stderr)
}

func studyFlags(name string) (*flag.FlagSet, *sweepCommon) {
	fs, c := sweepFlags(name)
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), studyUsage+"\n\nflags:")
		fs.PrintDefaults()
	}
	return fs, c
}

func studyStart(args []string, stdout, stderr io.Writer) error {
	fs, c := studyFlags("")
	e := addExecutorFlags(fs, true)
	dry := fs.Bool("dry-run", false, "print the design and the run count, and start nothing")
	maxRuns := fs.Int("max-runs", studies.DefaultMaxRuns, "refuse a design of more runs than this")
	asJSON := fs.Bool("json", false, "print the study id and its design as JSON")
	pos, err := runsParseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("study takes one study file (got %d arguments): stylelab study STUDY.json [flags]", len(pos))
	}
	if *e.executor != sweep.ExecutorLocal && *e.executor != sweep.ExecutorSlurm {
		return usagef("--executor must be local or slurm (got %q)", *e.executor)
	}
	if *e.workers < 1 || *e.parallel < 0 || *maxRuns < 1 {
		return usagef("--workers and --max-runs must be at least 1 and --parallel at least 0 (got %d, %d, %d)", *e.workers, *maxRuns, *e.parallel)
	}
	f, err := studies.Load(pos[0])
	if err != nil {
		return err
	}
	if f.FeedForward != nil {
		return studyFeedForward(f, pos[0], c, *e.executor, *dry, *asJSON, *maxRuns, stdout, stderr)
	}
	d, err := f.Expand(sweep.AbsDir(pos[0]), *maxRuns)
	if err != nil {
		return err
	}
	db, err := c.dbArg()
	if err != nil {
		return err
	}
	root, err := c.root()
	if err != nil {
		return err
	}
	bin := *e.binary
	if bin == "" {
		if bin, err = os.Executable(); err != nil {
			return fmt.Errorf("finding this executable: %w (pass --binary)", err)
		}
	}
	rec, sw, err := studies.Create(root, d, db, bin, *e.executor, *dry)
	if err != nil {
		return err
	}
	summary := map[string]any{"id": rec.ID, "name": f.Name, "runs": len(d.Runs), "arms": len(f.Arms), "units": len(d.Units),
		"seeds": f.Seeds, "executor": *e.executor, "dry_run": *dry, "folder": rec.Dir()}
	if *dry {
		if *asJSON {
			summary["design"] = d.Runs
			return writeJSON(stdout, summary)
		}
		printDesign(stdout, d)
		fmt.Fprintf(stdout, "%d runs: %d arms × %d units × %d seeds (nothing started)\n", len(d.Runs), len(f.Arms), len(d.Units), len(f.Seeds))
		return nil
	}
	all := make([]int, len(d.Runs))
	for i := range all {
		all[i] = i
	}
	var subOut strings.Builder
	if err := submit(sw, root, all, e, &subOut); err != nil {
		os.RemoveAll(rec.Dir())
		return err
	}
	if *asJSON && !*e.wait {
		return writeJSON(stdout, summary)
	}
	if !*asJSON {
		fmt.Fprintf(stdout, "study %s: %d runs (%d arms × %d units × %d seeds) submitted (%s); stylelab study status %s, then stylelab study evaluate %s\n",
			rec.ID, len(d.Runs), len(f.Arms), len(d.Units), len(f.Seeds), *e.executor, rec.ID, rec.ID)
		fmt.Fprint(stdout, subOut.String())
	}
	if !*e.wait {
		return nil
	}
	runErr := waitSweep(sw, db, stderr)
	ev, err := evaluate(rec, sw, db, studies.EvaluateOptions{}, stderr)
	if err != nil {
		return errors.Join(runErr, err)
	}
	if *asJSON {
		summary["evaluation"] = ev.RunID
		summary["findings"] = ev.Analysis.Findings
		summary["missing"] = ev.Report.Runs.Missing
		if err := writeJSON(stdout, summary); err != nil {
			return err
		}
		if runErr != nil {
			return reportedError{runErr}
		}
		return nil
	}
	printFindings(stdout, rec.ID, ev)
	return runErr
}

func printDesign(w io.Writer, d *studies.Design) {
	f := d.File
	fmt.Fprintf(w, "study %s\n", f.Name)
	fmt.Fprintf(w, "arms (%d):\n", len(f.Arms))
	for _, a := range f.Arms {
		var parts []string
		for k, v := range a.Set {
			parts = append(parts, fmt.Sprintf("%s=%v", k, v))
		}
		sort.Strings(parts)
		fmt.Fprintf(w, "  %-12s %s\n", a.Name, strings.Join(parts, ", "))
	}
	fmt.Fprintf(w, "units (%d content × style pairs):\n", len(d.Units))
	for _, u := range d.Units {
		fmt.Fprintf(w, "  %-40s %s + %s\n", u.ID, u.Content, u.Style)
	}
	fmt.Fprintf(w, "seeds: %v\n", f.Seeds)
	jw := f.JudgeWeights()
	judge := fmt.Sprintf("random_seed %d", jw.RandomSeed)
	if jw.File != nil {
		judge = "weights file " + jw.File.Path
	}
	fmt.Fprintf(w, "judge: VGG-19 %s (never an optimising network)\n", judge)
	if len(d.Runs) > 0 {
		sp := d.Runs[0].Spec
		fmt.Fprintf(w, "base: %s, size %d, %d steps, %s\n", sp.Kind, sp.Optimise.Size, sp.Optimise.Steps, sp.Optimise.Optimizer)
	}
}

// evaluate opens the tracker the runs were recorded in and evaluates the study, with progress on stderr.
func evaluate(rec *studies.Record, sw *sweep.Record, db string, o studies.EvaluateOptions, stderr io.Writer) (*studies.Evaluation, error) {
	st, err := tracker.Open(db)
	if err != nil {
		return nil, err
	}
	defer st.Close()
	o.Store = st
	start := time.Now()
	o.Progress = func(done, total int) {
		if done == total || time.Since(start) > 2*time.Second {
			fmt.Fprintf(stderr, "%s study %s: judged %d/%d runs\n", time.Now().Format("15:04:05"), rec.ID, done, total)
			start = time.Now()
		}
	}
	return studies.Evaluate(rec, sw, o)
}

func printFindings(w io.Writer, id string, ev *studies.Evaluation) {
	fmt.Fprintf(w, "study %s: evaluation %s (%d of %d runs judged)\n", id, ev.RunID, ev.Report.Runs.Judged, ev.Report.Runs.Planned)
	for _, m := range ev.Report.Runs.Missing {
		fmt.Fprintf(w, "  not judged: %s\n", m)
	}
	for _, f := range ev.Analysis.Findings {
		fmt.Fprintf(w, "  %s\n", f)
	}
	fmt.Fprintf(w, "report: stylelab study report %s --out report.html (or the dashboard's /studies/%s); rows: stylelab study export %s --format csv\n", id, id, id)
}

func openStudy(c *sweepCommon, pos []string, cmd string) (*studies.Record, *sweep.Record, error) {
	if len(pos) != 1 {
		return nil, nil, usagef("study %s takes one study id (got %d arguments; stylelab study list shows them)", cmd, len(pos))
	}
	root, err := c.root()
	if err != nil {
		return nil, nil, err
	}
	return studies.Open(root, pos[0])
}

func studyEvaluate(args []string, stdout, stderr io.Writer) error {
	fs, c := studyFlags("evaluate")
	judgeSeed := fs.Int64("judge-seed", -1, "judge with the seeded random VGG-19 of this seed instead of the study file's judge")
	judgeFile := fs.String("judge", "", "a JSON file with the judge to use instead of the study file's (the study file's \"judge\" object)")
	boot := fs.Int("bootstrap", -1, "bootstrap resamples instead of the study file's (0: none)")
	asJSON := fs.Bool("json", false, "print the evaluation run, the findings and the comparisons as JSON")
	pos, err := runsParseArgs(fs, args)
	if err != nil {
		return err
	}
	if *judgeSeed >= 0 && *judgeFile != "" {
		return usagef("give --judge-seed or --judge, not both")
	}
	rec, sw, err := openStudy(c, pos, "evaluate")
	if err != nil {
		return err
	}
	var o studies.EvaluateOptions
	if *judgeFile != "" {
		b, err := safefile.ReadFile(*judgeFile)
		if err != nil {
			return fmt.Errorf("--judge: %w", err)
		}
		if err := spec.CheckDuplicateKeys(b); err != nil {
			return fmt.Errorf("--judge %s: %w", *judgeFile, err)
		}
		var j studies.Judge
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&j); err != nil {
			return fmt.Errorf("--judge %s: %w (give the study file's \"judge\" object)", *judgeFile, err)
		}
		o.Judge = &j
	}
	if *judgeSeed >= 0 {
		j := rec.StudyFile().Judge
		j.Weights = &spec.Weights{RandomSeed: uint64(*judgeSeed)}
		o.Judge = &j
	}
	if *boot >= 0 {
		s := rec.StudyFile().Statistics
		s.Bootstrap = boot
		o.Statistics = &s
	}
	db := sw.DB
	if flagGiven(fs, "db") {
		if db, err = c.dbArg(); err != nil {
			return err
		}
	}
	ev, err := evaluate(rec, sw, db, o, stderr)
	if err != nil {
		return err
	}
	if *asJSON {
		return writeJSON(stdout, map[string]any{"id": rec.ID, "evaluation": ev.RunID, "findings": ev.Analysis.Findings,
			"missing": ev.Report.Runs.Missing, "summaries": ev.Report.Means, "comparisons": ev.Report.Comparisons})
	}
	printFindings(stdout, rec.ID, ev)
	return nil
}

// studyStore opens the tracker of a study read-only: the study record's database unless --db is given.
func studyStore(fs *flag.FlagSet, c *sweepCommon, pos []string, cmd string) (*tracker.Store, string, error) {
	if len(pos) != 1 {
		return nil, "", usagef("study %s takes one study id (got %d arguments; stylelab study list shows them)", cmd, len(pos))
	}
	db := *c.db
	if !flagGiven(fs, "db") {
		if _, sw, err := openStudy(c, pos, cmd); err == nil {
			db = sw.DB
		}
	}
	st, err := tracker.OpenReadOnly(db)
	return st, pos[0], err
}

func studyReport(args []string, stdout io.Writer) error {
	fs, c := studyFlags("report")
	out := fs.String("out", "report.html", "the HTML file to write (self-contained: opens offline)")
	pos, err := runsParseArgs(fs, args)
	if err != nil {
		return err
	}
	st, id, err := studyStore(fs, c, pos, "report")
	if err != nil {
		return err
	}
	defer st.Close()
	var b bytes.Buffer
	if err := dashboard.WriteStudyReport(&b, st, id, dashboard.Options{Source: st.Path()}); err != nil {
		return err
	}
	if err := writeFileAtomic(*out, b.Bytes()); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "study %s: report written to %s (%d bytes)\n", id, *out, b.Len())
	return nil
}

func studyExport(args []string, stdout io.Writer) error {
	fs, c := studyFlags("export")
	format := fs.String("format", "csv", "csv or json: tidy rows run, arm, unit, seed, metric, value")
	out := fs.String("out", "", "write to this file instead of stdout")
	pos, err := runsParseArgs(fs, args)
	if err != nil {
		return err
	}
	if *format != "csv" && *format != "json" {
		return usagef("--format must be csv or json (got %q)", *format)
	}
	st, id, err := studyStore(fs, c, pos, "export")
	if err != nil {
		return err
	}
	defer st.Close()
	_, obs, err := studies.LatestEvaluation(st, id)
	if err != nil {
		return err
	}
	var b bytes.Buffer
	if err := studies.Export(&b, obs, *format); err != nil {
		return err
	}
	if *out == "" {
		_, err := stdout.Write(b.Bytes())
		return err
	}
	return writeFileAtomic(*out, b.Bytes())
}

func studyRerun(args []string, stdout, stderr io.Writer) error {
	fs, c := studyFlags("rerun")
	asJSON := fs.Bool("json", false, "print the rerun report (every run's verdict, the judge and statistics comparison) as JSON")
	pos, err := runsParseArgs(fs, args)
	if err != nil {
		return err
	}
	rec, sw, err := openStudy(c, pos, "rerun")
	if err != nil {
		return err
	}
	db := sw.DB
	if flagGiven(fs, "db") {
		if db, err = c.dbArg(); err != nil {
			return err
		}
	}
	st, err := tracker.Open(db)
	if err != nil {
		return err
	}
	defer st.Close()
	rep, err := studies.Rerun(rec, sw, st, func(done, total int) {
		fmt.Fprintf(stderr, "%s study %s: reran %d/%d runs\n", time.Now().Format("15:04:05"), rec.ID, done, total)
	})
	if err != nil {
		return err
	}
	if *asJSON {
		if err := writeJSON(stdout, rep); err != nil {
			return err
		}
	} else {
		for _, r := range rep.Runs {
			fmt.Fprintf(stdout, "  run %3d %-10s %-40s seed %d: %s; judge scores %s\n", r.Index, r.Arm, r.Unit, r.Seed, r.Summary,
				map[bool]string{true: "equal", false: fmt.Sprintf("differ (max relative %.3g)", r.MaxRelDiff)}[r.JudgeEqual])
		}
		fmt.Fprintf(stdout, "study %s: %s\n", rec.ID, rep.Summary())
	}
	if !rep.OK {
		err := fmt.Errorf("study %s did not reproduce: %s", rec.ID, rep.Summary())
		if *asJSON {
			return reportedError{err}
		}
		return err
	}
	return nil
}

func studyList(args []string, stdout io.Writer) error {
	fs, c := studyFlags("list")
	pos, err := runsParseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("study list takes no arguments")
	}
	root, err := c.root()
	if err != nil {
		return err
	}
	recs, err := studies.List(root)
	if err != nil {
		return err
	}
	for _, r := range recs {
		f := r.StudyFile()
		fmt.Fprintf(stdout, "%s  %s  %3d runs  %d arms × %d units × %d seeds\n", r.ID, r.Created.Format(time.RFC3339), len(r.Runs), len(f.Arms), len(r.Units), len(f.Seeds))
	}
	return nil
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// flagGiven reports whether the flag was set on the command line.
func flagGiven(fs *flag.FlagSet, name string) bool {
	given := false
	fs.Visit(func(f *flag.Flag) { given = given || f.Name == name })
	return given
}
