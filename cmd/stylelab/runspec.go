package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/stylelab/stylelab/jobs/runner"
	"github.com/stylelab/stylelab/jobs/spec"
	"github.com/stylelab/stylelab/tracker"
)

// runSettings are what every run command (run, train, stylize, interpolate, adain, and run --spec of any kind)
// asks of the run shell besides the spec.
type runSettings struct {
	DB       string            // tracker database (--db)
	NoTrack  bool              // --no-track
	JSON     bool              // --json: one JSON object with the outcome on stdout
	Tags     map[string]string // --tag KEY=VALUE
	SaveSpec string            // --save-spec FILE: the resolved spec, written before the run starts
	DryRun   bool              // --dry-run: print the memory estimate (dryrun.go) instead of running
	// StoreInputs: --store-inputs, a training run's content folder copied into the store (runner.Options).
	StoreInputs bool
}

// kindReport is how the CLI reports a run of one kind. Each command file registers its kinds' reports
// (kindReports[spec.KindX] = …, from init); a kind without one gets the generic report, so `run --spec` runs
// every registered kind.
type kindReport struct {
	// JSON is the object --json prints (nil: nothing to report, the run's error is returned alone). runErr is
	// the run's error ("" for none), to be put in the object.
	JSON func(sp *spec.Spec, out *runner.Outcome, st *tracker.Store, runErr string, elapsed time.Duration) any
	// Summary is the text after "wrote OUT" ("32×32, 3 steps, loss …"); "" for none.
	Summary func(out *runner.Outcome) string
	// Kept names what a failed run still wrote to its output ("the last good image"); "" says "the last
	// output".
	Kept string
	// Notes are extra lines after the report (an optimisation that stopped early says why).
	Notes func(out *runner.Outcome) []string
}

var kindReports = map[string]kindReport{}

// reportJSON is the --json object every kind's report starts from: run_id, the output file (under outputKey)
// when it was written, output_sha256 when an output image was recorded, and the run's error.
func reportJSON(sp *spec.Spec, out *runner.Outcome, runErr, outputKey string) map[string]any {
	o := map[string]any{"run_id": out.RunID}
	if out.OutputWritten {
		o[outputKey] = sp.Output
	}
	if out.OutputSHA256 != "" {
		o["output_sha256"] = out.OutputSHA256
	}
	if runErr != "" {
		o["error"] = runErr
	}
	return o
}

// genericReport reports a run of a kind that registered no report of its own.
var genericReport = kindReport{
	JSON: func(sp *spec.Spec, out *runner.Outcome, _ *tracker.Store, runErr string, _ time.Duration) any {
		o := reportJSON(sp, out, runErr, "output")
		o["kind"] = sp.Kind
		return o
	},
}

// openRunStore opens the tracker of a run command, unless --no-track.
func openRunStore(db string, noTrack bool) (*tracker.Store, error) {
	if noTrack {
		return nil, nil
	}
	st, err := tracker.Open(db)
	if err != nil {
		return nil, fmt.Errorf("%w (or pass --no-track to run without recording)", err)
	}
	return st, nil
}

// executeSpec runs sp through the run shell — the one path of every run command: Prepare (inputs checked and
// hashed, nothing recorded yet), --save-spec, the tracker (unless --no-track), a progress display on stderr,
// SIGINT/SIGTERM stopping the run at a step boundary (exit 130/143), the output file — then reports the
// outcome: "wrote OUT (…)" only when the output file was written, the recorded run, or the --json object.
func executeSpec(sp *spec.Spec, rs runSettings, stdout, stderr io.Writer) error {
	start := time.Now()
	p, err := runner.Prepare(sp, false, nil)
	if err != nil {
		return err
	}
	if rs.SaveSpec != "" {
		if err := os.WriteFile(rs.SaveSpec, sp.JSON(), 0o644); err != nil {
			return fmt.Errorf("--save-spec: %w", err)
		}
	}
	if rs.DryRun {
		return printDryRun(p, rs.JSON, stdout)
	}
	st, err := openRunStore(rs.DB, rs.NoTrack)
	if err != nil {
		return err
	}
	if st != nil {
		defer st.Close()
	}
	prog := newRunProgress(p.Steps(), stdout, stderr)
	out, runErr := p.Run(runner.Options{Store: st, Tags: rs.Tags, StopOnSignal: true, StoreInputs: rs.StoreInputs, OnProgress: func(r runner.Progress) { _ = prog.step(r) }, OnTile: prog.tile})
	prog.finish()
	if out == nil {
		return runErr
	}
	rep, ok := kindReports[sp.Kind]
	if !ok {
		rep = genericReport
	}
	errText := ""
	if runErr != nil {
		errText = runErr.Error()
	}
	if runErr != nil && out.OutputWritten {
		kept := rep.Kept
		if kept == "" {
			kept = "the last output"
		}
		runErr = fmt.Errorf("%w; %s was saved to %s", runErr, kept, sp.Output)
	}
	if rs.JSON {
		o := rep.JSON(sp, out, st, errText, time.Since(start))
		if o == nil {
			return runErr
		}
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		enc.SetEscapeHTML(false)
		if err := enc.Encode(o); err != nil {
			return err
		}
		if runErr != nil {
			return reportedError{runErr} // the JSON object above carries the error: main adds no second one
		}
		return nil
	}
	if out.OutputWritten {
		summary := ""
		if rep.Summary != nil {
			summary = rep.Summary(out)
		}
		if summary != "" {
			summary = " (" + summary + ")"
		}
		fmt.Fprintf(stdout, "wrote %s%s\n", sp.Output, summary)
	}
	if out.RunID != "" {
		fmt.Fprintf(stdout, "recorded run %s in %s (stylelab runs show %s; stylelab rerun %s)\n", out.RunID, st.Path(), out.RunID[:8], out.RunID[:8])
	}
	if rep.Notes != nil {
		for _, n := range rep.Notes(out) {
			fmt.Fprintln(stdout, n)
		}
	}
	return runErr
}
