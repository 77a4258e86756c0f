package studies

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/stylelab/stylelab/experiments/study"
	"github.com/stylelab/stylelab/jobs/runner"
	"github.com/stylelab/stylelab/tracker"
	"github.com/stylelab/stylelab/tracker/dashboard"
)

// FeedForwardSmoothnessArtifact is the smoothness per CIN arm, on a feed-forward study's evaluation run.
const FeedForwardSmoothnessArtifact = "study/smoothness.json"

// report builds the dashboard's study report of a feed-forward study: design, grid (the first seed's outputs),
// means with CIs, comparisons, cross-loss matrix, findings, and the smoothness of each CIN arm as a note.
func (r *FeedForwardStudy) report(f *File, jcfg study.JudgeConfig, o study.AnalysisOptions, st *tracker.Store) *dashboard.StudyReport {
	ff, an := f.FeedForward, r.Analysis
	rep := &dashboard.StudyReport{Version: dashboard.StudyReportVersion, ID: r.ID, Name: f.Name, Description: f.Description,
		Evaluated: time.Now().UTC(), Seeds: f.Seeds, Metrics: an.Metrics, Findings: an.Findings, GridSeed: f.Seeds[0]}
	rep.Runs.Planned, rep.Runs.Judged = r.Plan.JudgedRuns, r.Plan.JudgedRuns
	for _, a := range r.Plan.Arms {
		loss, kind, _ := strings.Cut(a, "/")
		set := fmt.Sprintf("train.loss=%q, train.kind=%q", loss, kind)
		rep.Arms = append(rep.Arms, dashboard.StudyArm{Name: a, Set: set})
	}
	first := map[[2]string]string{} // (arm, unit) → the first seed's stylize run
	for _, ob := range r.Observations {
		if ob.Seed == f.Seeds[0] {
			first[[2]string{ob.Arm, ob.Unit}] = ob.Run
		}
	}
	for _, u := range r.Plan.Units {
		rep.Units = append(rep.Units, dashboard.StudyUnit{ID: u.ID, Content: u.Content, Style: u.Style})
		row := dashboard.StudyGridRow{Unit: u.ID}
		for _, a := range r.Plan.Arms {
			c := dashboard.StudyGridCell{Arm: a, RunID: first[[2]string{a, u.ID}]}
			if st != nil && c.RunID != "" {
				if ri, err := st.GetRun(c.RunID); err == nil {
					c.Image = ri.Tags[runner.OutputHashTag]
				}
			}
			row.Cells = append(row.Cells, c)
		}
		rep.Grid = append(rep.Grid, row)
	}
	for _, kv := range [][2]string{
		{"kind", "feed-forward: per loss, one single-style net per style vs one CIN net over every style"},
		{"preset", ff.Preset}, {"steps", fmt.Sprint(ff.Steps)}, {"size", fmt.Sprint(ff.Size)},
		{"content_dir", r.Plan.ContentDir}, {"held_out", strings.Join(r.Plan.HeldOut, ", ")},
	} {
		rep.Settings = append(rep.Settings, dashboard.StudySetting{Group: "feedforward", Key: kv[0], Value: kv[1]})
	}
	rep.Settings = append(rep.Settings,
		dashboard.StudySetting{Group: "judge", Key: "weights", Value: jcfg.Weights.Source + " (sha256 " + jcfg.Weights.SHA256[:12] + "…)"},
		dashboard.StudySetting{Group: "judge", Key: "sliced Wasserstein", Value: fmt.Sprintf("%d projections, seed %d", jcfg.Projections, jcfg.ProjectionSeed)})
	boot := "none"
	if o.Resamples > 0 {
		boot = fmt.Sprintf("%d resamples of units, seed %d (percentile method)", o.Resamples, o.Seed)
	}
	rep.Settings = append(rep.Settings, dashboard.StudySetting{Group: "statistics", Key: "bootstrap", Value: boot},
		dashboard.StudySetting{Group: "statistics", Key: "level", Value: fmt.Sprintf("%g%%", 100*an.Options.Level)},
		dashboard.StudySetting{Group: "statistics", Key: "correction", Value: fmt.Sprintf("Holm over %d comparisons, α = %g", len(an.Comparisons), an.Options.Alpha)})
	fillAnalysis(rep, an)
	ps := ff.PathSteps
	if ps == 0 {
		ps = 5
	}
	for _, a := range r.Plan.Arms {
		if sm, ok := r.Smoothness[a]; ok {
			rep.Notes = append(rep.Notes, fmt.Sprintf("Interpolation smoothness of %s: %d of %d paths monotone (%.2f): the judge's style distance to style 0 along %d mixes from style 0 to style 1, per held-out content, judge style loss and seed.",
				a, sm.Monotone, sm.Paths, sm.Fraction, ps))
		}
	}
	rep.Notes = append(rep.Notes, "Cost is the training run's seconds per step and peak RSS of the net that made each output (in one process, peak RSS accumulates run after run).",
		"Units are held-out content × style: the nets never saw these contents in training.")
	return rep
}

// record writes the feed-forward study's evaluation run (tags study.id, study.role = evaluation), whose
// artifacts are what `stylelab study report ID` and the dashboard's /studies/ID render.
func (r *FeedForwardStudy) record(f *File, jcfg study.JudgeConfig, o study.AnalysisOptions, st *tracker.Store) (err error) {
	run, err := st.StartRun(r.ID, "evaluation of feed-forward study "+f.Name)
	if err != nil {
		return err
	}
	defer func() {
		if e := run.End(&err); err == nil {
			err = e
		}
	}()
	r.EvaluationRun = run.ID()
	if err = run.LogParams(map[string]string{"kind": "study-evaluation", "study": r.ID, "study.form": "feedforward",
		"judge.weights": jcfg.Weights.Source, "judge.weights_sha256": jcfg.Weights.SHA256}); err != nil {
		return err
	}
	if err = run.SetTags(map[string]string{TagID: r.ID, TagRole: RoleEvaluation}); err != nil {
		return err
	}
	for _, a := range []struct {
		name string
		v    any
	}{{ObservationsArtifact, r.Observations}, {AnalysisArtifact, r.Analysis}, {FeedForwardSmoothnessArtifact, r.Smoothness},
		{dashboard.StudyReportArtifact, r.report(f, jcfg, o, st)}} {
		b, e := json.MarshalIndent(a.v, "", " ")
		if e != nil {
			return fmt.Errorf("encoding %s: %w", a.name, e)
		}
		if _, err = run.LogArtifact(a.name, "application/json", b); err != nil {
			return err
		}
	}
	return nil
}
