package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"

	"github.com/stylelab/stylelab/jobs/runner"
	"github.com/stylelab/stylelab/tracker"
)

func init() {
	register(&command{name: "rerun", summary: "re-execute a recorded run from its spec and say whether it reproduced", run: runRerun})
}

// errNotReproduced makes `stylelab rerun` exit 1 after it has printed a "different" verdict.
type errNotReproduced struct{ summary string }

func (e errNotReproduced) Error() string { return "not reproduced: " + e.summary }

func runRerun(args []string) (retErr error) {
	fs := newFlags("rerun")
	db := fs.String("db", tracker.DefaultPath(), "tracker database (default $STYLELAB_DB, else ./runs/stylelab.db)")
	allow := fs.Bool("allow-changed-inputs", false, "run even if an input file's bytes changed since the run (the verdict will then show the difference)")
	tol := fs.Float64("tolerance", runner.DefaultTolerance, "largest relative metric difference reported as 'within tolerance' (GPU reruns)")
	asJSON := fs.Bool("json", false, "print the verdict as one JSON object")
	outPath := fs.String("out", "", "also write the rerun's output (image, or a training run's final checkpoint) to this file; by default only the tracker keeps it, and the original run's file is never overwritten")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: stylelab rerun RUN [flags]\n\nRe-executes a recorded run (id or unique prefix) from its stored spec as a new run tagged rerun.of=RUN,\nthen compares every metric at every step and the output image. Exit status 0 for 'identical' or\n'within tolerance', 1 for 'different' or a failure. Flags:")
		fs.PrintDefaults()
	}
	ids, err := runsParseArgs(fs, args) // flags may follow the id
	if err != nil {
		return err
	}
	if len(ids) != 1 {
		return usagef("rerun takes exactly one run id (see stylelab runs ls), got %d", len(ids))
	}
	if *tol <= 0 {
		return usagef("--tolerance must be positive (got %g)", *tol)
	}
	st, err := tracker.Open(*db)
	if err != nil {
		return err
	}
	defer st.Close()
	warned := 0          // input warnings already printed on stderr (the verdict lists them first)
	var bar *runProgress // made at the first step, when the rerun's step count is known
	// SIGINT/SIGTERM stop the rerun at the next step boundary, as in `stylelab run` and `stylelab train`: the new
	// run is KILLED with its last image (or, for training, the checkpoint of its last step), the partial verdict
	// is printed, exit 130/143.
	v, err := runner.Rerun(st, ids[0], runner.RerunOptions{
		Options: runner.Options{
			StopOnSignal:       true,
			AllowChangedInputs: *allow,
			Warn:               func(w string) { fmt.Fprintln(os.Stderr, "warning:", w); warned++ },
			OnProgress: func(r runner.Progress) {
				if bar == nil {
					bar = newRunProgress(r.Steps, os.Stdout, os.Stderr)
				}
				_ = bar.step(r)
			},
		},
		Tolerance: *tol,
		Output:    *outPath,
	})
	if bar != nil {
		bar.finish()
	}
	var interrupted *runner.Interrupted
	if errors.As(err, &interrupted) && v != nil {
		defer func() { // the partial verdict is printed below; the exit status is the signal's
			if *asJSON {
				retErr = reportedError{err}
			} else {
				retErr = err
			}
		}()
	} else if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(v); err != nil {
			return err
		}
	} else {
		fmt.Printf("original %s\nrerun    %s\n", v.Original, v.Rerun)
		for _, w := range v.Warnings[min(warned, len(v.Warnings)):] {
			fmt.Println("warning:", w)
		}
		if v.RunError != "" {
			fmt.Println("the rerun failed:", v.RunError)
		}
		fmt.Println(v.Summary())
	}
	if !v.OK() {
		if *asJSON {
			return reportedError{errNotReproduced{v.Summary()}} // the verdict on stdout says why
		}
		return errNotReproduced{v.Summary()}
	}
	return nil
}
