package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/stylelab/stylelab/experiments/safefile"
	"github.com/stylelab/stylelab/jobs/studies"
	"github.com/stylelab/stylelab/jobs/sweep"
	"github.com/stylelab/stylelab/tracker"
)

// studyFeedForward runs a "feedforward" study file in this process (jobs/studies.RunFeedForwardFile): no sweep,
// so no Slurm, resume, cancel, study status/evaluate/report for it. It prints the design and run count
// (--dry-run), else progress on stderr and the analysis tables (means with CIs per arm, paired comparisons'
// findings, interpolation smoothness per CIN arm) or, with --json, the same as JSON. The analysis is also
// written to <sweeps folder>/<id>/feedforward.json, and the report to an evaluation run (stylelab study report ID).
func studyFeedForward(f *studies.File, path string, c *sweepCommon, executor string, dry, asJSON bool, maxRuns int, stdout, stderr io.Writer) error {
	if executor != sweep.ExecutorLocal {
		return usagef("study %s is a feed-forward study: it runs in this process only; --executor %s, resume and cancel are not supported for the \"feedforward\" form (drop --executor, or split it into optimise studies for Slurm)", f.Name, executor)
	}
	baseDir := sweep.AbsDir(path)
	plan, err := f.PlanFeedForward(baseDir)
	if err != nil {
		return err
	}
	if plan.Runs > maxRuns {
		return fmt.Errorf("study %s: %d runs is more than %d: shrink the design, or raise the bound (--max-runs)", f.Name, plan.Runs, maxRuns)
	}
	id := f.Name + "-" + time.Now().UTC().Format("20060102-150405.000")
	id = strings.ReplaceAll(id, ".", "-")
	if dry {
		if asJSON {
			return writeJSON(stdout, map[string]any{"name": f.Name, "kind": "feedforward", "dry_run": true, "plan": plan})
		}
		printFFPlan(stdout, f, plan)
		return nil
	}
	root, err := c.root()
	if err != nil {
		return err
	}
	dir := filepath.Join(root, id)
	if err := os.MkdirAll(root, 0o755); err != nil {
		return err
	}
	if err := os.Mkdir(dir, 0o755); err != nil {
		return fmt.Errorf("study folder: %w (another study started in the same millisecond: run again)", err)
	}
	st, err := tracker.Open(*c.db)
	if err != nil {
		return err
	}
	defer st.Close()
	done := 0
	res, err := f.RunFeedForwardFile(baseDir, dir, id, st, func(kind, output string) {
		done++
		fmt.Fprintf(stderr, "%s study %s: run %d/%d done (%s %s)\n", time.Now().Format("15:04:05"), id, done, plan.Runs, kind, filepath.Base(output))
	})
	if err != nil {
		return err
	}
	b, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return err
	}
	if err := safefile.WriteFile(filepath.Join(dir, "feedforward.json"), append(b, '\n')); err != nil {
		return err
	}
	if asJSON {
		return writeJSON(stdout, map[string]any{"id": id, "name": f.Name, "kind": "feedforward", "runs": done, "folder": dir,
			"experiment": id, "arms": plan.Arms, "units": len(plan.Units), "seeds": f.Seeds,
			"summaries": res.Analysis.Summaries, "comparisons": res.Analysis.Comparisons, "findings": res.Analysis.Findings,
			"smoothness": res.Smoothness, "evaluation": res.EvaluationRun})
	}
	fmt.Fprintf(stdout, "study %s: %d runs recorded (experiment %s), analysis in %s\n", id, done, id, filepath.Join(dir, "feedforward.json"))
	printFFTables(stdout, res)
	return nil
}

func printFFPlan(w io.Writer, f *studies.File, p *studies.FeedForwardPlan) {
	ff := f.FeedForward
	fmt.Fprintf(w, "feed-forward study %s (in-process; no Slurm or resume for this form)\n", f.Name)
	fmt.Fprintf(w, "arms (%d): %s\n", len(p.Arms), strings.Join(p.Arms, ", "))
	fmt.Fprintf(w, "training: preset %s, %d steps, content %s\n", ff.Preset, ff.Steps, p.ContentDir)
	fmt.Fprintf(w, "units (%d held-out content × style):\n", len(p.Units))
	for _, u := range p.Units {
		fmt.Fprintf(w, "  %s\n", u.ID)
	}
	fmt.Fprintf(w, "seeds: %v\n", p.Seeds)
	jw := f.JudgeWeights()
	judge := fmt.Sprintf("random_seed %d", jw.RandomSeed)
	if jw.File != nil {
		judge = "weights file " + jw.File.Path
	}
	fmt.Fprintf(w, "judge: VGG-19 %s (checked against each net's loss network)\n", judge)
	fmt.Fprintf(w, "%d runs: %d trainings + %d judged stylize + %d interpolation-path stylize (nothing started)\n", p.Runs, p.TrainRuns, p.JudgedRuns, p.PathRuns)
}

// printFFTables prints the means with CIs per arm and metric, the findings and the smoothness.
func printFFTables(w io.Writer, r *studies.FeedForwardStudy) {
	a := r.Analysis
	fmt.Fprintf(w, "%-22s", "metric")
	for _, arm := range a.Arms {
		fmt.Fprintf(w, " %-30s", arm)
	}
	fmt.Fprintln(w)
	for _, m := range append(a.Metrics, a.Options.Describe...) {
		fmt.Fprintf(w, "%-22s", m)
		for _, arm := range a.Arms {
			s := a.Summary(arm, m)
			switch {
			case s == nil:
				fmt.Fprintf(w, " %-30s", "—")
			case s.CI.Resamples > 0:
				fmt.Fprintf(w, " %-30s", fmt.Sprintf("%.4g [%.4g, %.4g]", s.CI.Estimate, s.CI.Lo, s.CI.Hi))
			default:
				fmt.Fprintf(w, " %-30s", fmt.Sprintf("%.4g", s.CI.Estimate))
			}
		}
		fmt.Fprintln(w)
	}
	for _, f := range a.Findings {
		fmt.Fprintf(w, "  %s\n", f)
	}
	for _, arm := range a.Arms {
		if sm, ok := r.Smoothness[arm]; ok {
			fmt.Fprintf(w, "smoothness %s: %d of %d interpolation paths monotone (%.2f)\n", arm, sm.Monotone, sm.Paths, sm.Fraction)
		}
	}
	fmt.Fprintf(w, "report: stylelab study report %s --out report.html (or the dashboard's /studies/%s); study status/evaluate/export/rerun do not cover feed-forward studies\n", r.ID, r.ID)
}
