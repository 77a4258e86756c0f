package studies

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strings"

	"github.com/stylelab/stylelab/experiments/imageio"
	"github.com/stylelab/stylelab/experiments/study"
	"github.com/stylelab/stylelab/jobs/runner"
	"github.com/stylelab/stylelab/jobs/sweep"
	"github.com/stylelab/stylelab/tracker"
	"github.com/stylelab/stylelab/tracker/dashboard"
)

// TagRerunOf is set, to the study's id, on the reruns Rerun makes.
const TagRerunOf = "study.rerun_of"

// RunRerun is one run of a study rerun.
type RunRerun struct {
	Index    int    `json:"index"`
	Arm      string `json:"arm"`
	Unit     string `json:"unit"`
	Seed     uint64 `json:"seed"`
	Original string `json:"original"`
	Rerun    string `json:"rerun"`
	Verdict  string `json:"verdict"` // runner's: identical | within tolerance | different
	Summary  string `json:"summary"`
	// JudgeEqual: every judge score of the rerun's output equals the evaluation's bit for bit.
	JudgeEqual bool    `json:"judge_equal"`
	MaxRelDiff float64 `json:"judge_max_rel_diff"`
}

// RerunReport says whether a study reproduced: every run (runner.Rerun's verdict) and every number of its
// evaluation (the judge scores of the reruns' outputs, and the statistics computed from them). Costs
// (seconds per step) are timings and are left out of the comparison.
type RerunReport struct {
	Study      string     `json:"study"`
	Evaluation string     `json:"evaluation"` // the evaluation run compared against
	Runs       []RunRerun `json:"runs"`
	// RunsReproduced counts identical or within-tolerance reruns; JudgeEqual the runs whose judge scores are
	// bit-identical; AnalysisEqual whether every statistic (means, intervals, tests, ranks) is.
	RunsReproduced int     `json:"runs_reproduced"`
	JudgeEqual     int     `json:"judge_equal"`
	MaxRelDiff     float64 `json:"judge_max_rel_diff"`
	AnalysisEqual  bool    `json:"analysis_equal"`
	OK             bool    `json:"ok"`
}

// Summary is the report in one sentence.
func (r *RerunReport) Summary() string {
	n := len(r.Runs)
	switch {
	case r.OK && r.JudgeEqual == n && r.AnalysisEqual:
		return fmt.Sprintf("every number reproduced: %d of %d runs reproduced, every judge score and statistic bit-identical", r.RunsReproduced, n)
	case r.OK:
		return fmt.Sprintf("reproduced within tolerance: %d of %d runs; judge scores equal for %d runs (max relative difference %.3g); statistics %s",
			r.RunsReproduced, n, r.JudgeEqual, r.MaxRelDiff, map[bool]string{true: "identical", false: "differ"}[r.AnalysisEqual])
	}
	return fmt.Sprintf("NOT reproduced: %d of %d runs reproduced; judge scores equal for %d runs (max relative difference %.3g); statistics %s",
		r.RunsReproduced, n, r.JudgeEqual, r.MaxRelDiff, map[bool]string{true: "identical", false: "differ"}[r.AnalysisEqual])
}

// Rerun reruns every run the study's latest evaluation judged (runner.Rerun: same spec, new runs tagged
// rerun.of and TagRerunOf) and its evaluation with the same judge and statistics, and compares: each run's
// verdict, each judge score, and every statistic. OK when every run reproduced (identical or within
// runner's tolerance) and the judge scores agree within that tolerance. progress, when set, is called after
// each run.
func Rerun(rec *Record, sw *sweep.Record, st *tracker.Store, progress func(done, total int)) (*RerunReport, error) {
	_, ri, err := dashboard.ReadStudy(st, rec.ID)
	if err != nil {
		return nil, err
	}
	var set Settings
	if err := readJSONArtifact(st, ri.ID, SettingsArtifact, &set); err != nil {
		return nil, err
	}
	var obs []study.Observation
	if err := readJSONArtifact(st, ri.ID, ObservationsArtifact, &obs); err != nil {
		return nil, err
	}
	jcfg, err := set.Judge.JudgeConfig(rec.BaseDir)
	if err != nil {
		return nil, err
	}
	judge, err := study.NewJudge(jcfg)
	if err != nil {
		return nil, err
	}
	defer judge.Close()
	pj := &panel{judge: judge, cfg: jcfg, st: st, images: map[string]*imageio.Image{}}

	byRun := map[string][]study.Observation{}
	var order []string
	for _, o := range obs {
		if _, ok := byRun[o.Run]; !ok {
			order = append(order, o.Run)
		}
		byRun[o.Run] = append(byRun[o.Run], o)
	}
	planned := map[string]Planned{}
	for _, p := range rec.Runs {
		planned[fmt.Sprintf("%s/%s/%d", p.Arm, p.Unit, p.Seed)] = p
	}
	rep := &RerunReport{Study: rec.ID, Evaluation: ri.ID, AnalysisEqual: true, OK: true}
	var original, again []study.Observation
	for k, id := range order {
		first := byRun[id][0]
		p, ok := planned[fmt.Sprintf("%s/%s/%d", first.Arm, first.Unit, first.Seed)]
		if !ok {
			return nil, fmt.Errorf("run %s of the evaluation (%s × %s, seed %d) is not in study %s", id, first.Arm, first.Unit, first.Seed, rec.ID)
		}
		v, err := runner.Rerun(st, id, runner.RerunOptions{Options: runner.Options{Tags: map[string]string{TagRerunOf: rec.ID}}})
		if err != nil {
			return nil, fmt.Errorf("rerunning run %d (%s): %w", p.Index, id, err)
		}
		rr := RunRerun{Index: p.Index, Arm: p.Arm, Unit: p.Unit, Seed: p.Seed, Original: id, Rerun: v.Rerun, Verdict: v.Verdict, Summary: v.Summary(), JudgeEqual: true}
		if v.OK() {
			rep.RunsReproduced++
		} else {
			rep.OK = false
		}
		nri, err := st.GetRun(v.Rerun)
		if err != nil {
			return nil, err
		}
		scores, _, _, err := pj.score(nri, p)
		if err != nil {
			return nil, err
		}
		for _, o := range byRun[id] {
			if strings.HasPrefix(o.Metric, CostPrefix) {
				continue // a timing: never expected to reproduce
			}
			nv, ok := scores[o.Metric]
			d := relDiff(o.Value, nv)
			if !ok {
				d = math.Inf(1)
			}
			if d != 0 {
				rr.JudgeEqual = false
			}
			rr.MaxRelDiff = math.Max(rr.MaxRelDiff, d)
			original = append(original, o)
			again = append(again, study.Observation{Run: v.Rerun, Arm: o.Arm, Unit: o.Unit, Seed: o.Seed, Metric: o.Metric, Value: nv})
		}
		if rr.JudgeEqual {
			rep.JudgeEqual++
		}
		rep.MaxRelDiff = math.Max(rep.MaxRelDiff, rr.MaxRelDiff)
		if rr.MaxRelDiff > runner.DefaultTolerance {
			rep.OK = false
		}
		rep.Runs = append(rep.Runs, rr)
		if progress != nil {
			progress(k+1, len(order))
		}
	}
	// The statistics of both sets of scores, with the evaluation's options (costs left out of both).
	aopts := set.Statistics.Options()
	for _, a := range rec.StudyFile().Arms {
		aopts.Arms = append(aopts.Arms, a.Name)
	}
	aopts.Metrics = SummaryMetrics()
	for _, m := range OwnMetrics {
		aopts.Describe = append(aopts.Describe, OwnPrefix+m)
	}
	a1, err := study.Analyse(original, aopts)
	if err != nil {
		return nil, err
	}
	a2, err := study.Analyse(again, aopts)
	if err != nil {
		return nil, err
	}
	j1, _ := json.Marshal(struct{ S, C any }{a1.Summaries, a1.Comparisons})
	j2, _ := json.Marshal(struct{ S, C any }{a2.Summaries, a2.Comparisons})
	rep.AnalysisEqual = bytes.Equal(j1, j2)
	return rep, nil
}

func relDiff(a, b float64) float64 {
	if a == b || (math.IsNaN(a) && math.IsNaN(b)) {
		return 0
	}
	return math.Abs(a-b) / math.Max(math.Abs(a), math.Abs(b))
}

func readJSONArtifact(st *tracker.Store, runID, name string, v any) error {
	a, err := st.FindArtifact(runID, name)
	if err != nil {
		return fmt.Errorf("evaluation run %s has no %s (made by an older stylelab? evaluate the study again): %w", runID, name, err)
	}
	b, err := st.ReadArtifact(a.SHA256)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("evaluation run %s: %s is %w: %v", runID, name, tracker.ErrDamaged, err)
	}
	return nil
}
