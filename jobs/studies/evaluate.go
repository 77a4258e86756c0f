package studies

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/stylelab/stylelab/experiments/imageio"
	"github.com/stylelab/stylelab/experiments/losses"
	"github.com/stylelab/stylelab/experiments/study"
	"github.com/stylelab/stylelab/experiments/vgg"
	"github.com/stylelab/stylelab/jobs/runner"
	"github.com/stylelab/stylelab/jobs/spec"
	"github.com/stylelab/stylelab/jobs/sweep"
	"github.com/stylelab/stylelab/tracker"
	"github.com/stylelab/stylelab/tracker/dashboard"
)

// Artifacts of an evaluation run (besides dashboard.StudyReportArtifact) and the prefixes of the metrics that
// are not judge scores.
const (
	ObservationsArtifact = "study/observations.json" // the tidy rows analysed ([]study.Observation)
	SettingsArtifact     = "study/settings.json"     // the judge and statistics used (Settings)
	AnalysisArtifact     = "study/analysis.json"     // study.Analysis
	OwnPrefix            = "own/"                    // the run's own objective at its last step (optimising network)
	CostPrefix           = "cost/"                   // seconds_per_step
	MetricSecondsPerStep = CostPrefix + "seconds_per_step"
	// MetricPeakRSS is the run's peak resident memory in MB, from its tag PeakRSSTag (bytes), which the run
	// shell records on every run (runs recorded before it have none: the cost then shows seconds per step only).
	MetricPeakRSS = CostPrefix + "peak_rss_mb"
	PeakRSSTag    = runner.PeakRSSTag
)

// OwnMetrics are the run metrics kept as the optimising network's own scores (own/<name>).
var OwnMetrics = []string{"style", "content", "style_rel"}

// SummaryMetrics are the judge metrics compared between arms (the family Holm corrects over): content, every
// style loss, SSIM, and the colour and feature distances; the per-layer scores are exported, not compared.
func SummaryMetrics() []string {
	m := []string{study.MetricContent}
	for _, n := range losses.Names {
		m = append(m, study.StyleMetric(n))
	}
	return append(m, study.MetricSSIM, study.MetricColourSW, study.MetricFeatureSW)
}

// Settings are the judge and statistics an evaluation used (artifact SettingsArtifact): a rerun evaluates with
// the same.
type Settings struct {
	Judge      Judge      `json:"judge"`
	Statistics Statistics `json:"statistics"`
}

// EvaluateOptions control Evaluate.
type EvaluateOptions struct {
	Store *tracker.Store
	// Judge and Statistics, when set, replace the study file's (a new evaluation of the same runs).
	Judge      *Judge
	Statistics *Statistics
	// Progress is called after each judged run (done of total).
	Progress func(done, total int)
}

// Evaluation is what Evaluate recorded.
type Evaluation struct {
	RunID        string // the evaluation's tracker run
	Observations []study.Observation
	Analysis     *study.Analysis
	Report       *dashboard.StudyReport
}

// JudgeConfig resolves a study judge into experiments/study's configuration, loading its weights (a file is
// found from the working directory, then baseDir).
func (j Judge) JudgeConfig(baseDir string) (study.JudgeConfig, error) {
	cfg := study.JudgeConfig{Pool: j.Pool, Projections: j.Projections, ProjectionSeed: j.ProjectionSeed}
	if j.LossOptions != nil {
		cfg.LossOptions = *j.LossOptions
	}
	w := spec.Weights{RandomSeed: DefaultJudgeSeed}
	if j.Weights != nil {
		w = *j.Weights
	}
	// The spec's loader: a file (.pth or safetensors, its layout detected or named) or seeded random weights, of
	// the net named (weights.net: vgg19 or vgg16), as for any run's loss network.
	jw, err := (&spec.Spec{BaseDir: baseDir, Weights: w}).LoadWeights()
	if err != nil {
		return cfg, fmt.Errorf("judge.weights: %w", err)
	}
	cfg.Weights = jw
	return cfg.WithDefaults(), nil
}

// judgeKey hashes what decides an evaluation's numbers besides the runs: the judge (with its weights' hash)
// and the statistics.
func judgeKey(cfg study.JudgeConfig, o study.AnalysisOptions) string {
	b, _ := json.Marshal(struct {
		Weights                 string
		Pool                    vgg.Pool
		Content, Style          []string
		Loss                    losses.Options
		Projections             int
		ProjectionSeed          uint64
		Resamples               int
		Level, Alpha, Identical float64
		Seed                    uint64
	}{cfg.Weights.SHA256, cfg.Pool, cfg.ContentLayers, cfg.StyleLayers, cfg.LossOptions, cfg.Projections, cfg.ProjectionSeed,
		o.Resamples, o.Level, o.Alpha, o.Identical, o.Seed})
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// Evaluate judges every finished run of the study, analyses the scores and records the evaluation as a tracker
// run of its own (see the package doc). Runs that did not finish are listed in the report as missing; an
// evaluation with no finished run is an error. The judge must not be any run's optimising network (by the
// SHA-256 of the weights the run recorded), and every run's content and style files must still have the
// SHA-256 its spec recorded (otherwise the judge would compare the output with other images).
func Evaluate(rec *Record, sw *sweep.Record, o EvaluateOptions) (ev *Evaluation, err error) {
	st := o.Store
	if st == nil {
		return nil, errors.New("studies: Evaluate needs the tracker the runs were recorded in")
	}
	f := rec.StudyFile()
	judgeSpec := f.Judge
	if o.Judge != nil {
		judgeSpec = *o.Judge
	}
	stats := f.Statistics
	if o.Statistics != nil {
		stats = *o.Statistics
	}
	tmp := *f
	tmp.Judge, tmp.Statistics = judgeSpec, stats
	if err := tmp.Check(); err != nil {
		return nil, err
	}
	jcfg, err := judgeSpec.JudgeConfig(rec.BaseDir)
	if err != nil {
		return nil, err
	}
	aopts := stats.Options()
	for _, a := range f.Arms {
		aopts.Arms = append(aopts.Arms, a.Name)
	}
	aopts.Metrics = SummaryMetrics()
	for _, m := range OwnMetrics {
		aopts.Describe = append(aopts.Describe, OwnPrefix+m)
	}
	aopts.Describe = append(aopts.Describe, MetricSecondsPerStep, MetricPeakRSS)

	if !st.ReadOnly() {
		if _, err := st.ReapStale(); err != nil {
			return nil, err
		}
	}
	_, states, err := sw.Status(st, nil)
	if err != nil {
		return nil, err
	}
	type judged struct {
		planned Planned
		run     *tracker.RunInfo
		output  string // SHA-256 of output.png
		scores  map[string]float64
	}
	var done []judged
	var missing []string
	for i, s := range states {
		p := rec.Runs[i]
		if s.State != tracker.StatusFinished {
			msg := fmt.Sprintf("run %d (%s × %s, seed %d): %s", i, p.Arm, p.Unit, p.Seed, s.State)
			if s.Error != "" {
				msg += " " + s.Error
			}
			missing = append(missing, msg)
			continue
		}
		ri, err := st.GetRun(s.RunID)
		if err != nil {
			return nil, err
		}
		done = append(done, judged{planned: p, run: ri, output: ri.Tags[runner.OutputHashTag]})
	}
	if len(done) == 0 {
		return nil, fmt.Errorf("study %s: no run has finished yet (%d planned): stylelab study status %s, then evaluate", rec.ID, len(rec.Runs), rec.ID)
	}

	judge, err := study.NewJudge(jcfg)
	if err != nil {
		return nil, err
	}
	defer judge.Close()
	pj := &panel{judge: judge, cfg: jcfg, st: st, images: map[string]*imageio.Image{}}
	unitImages := map[string][2]*imageio.Image{}
	for k := range done {
		d := &done[k]
		var content, style *imageio.Image
		if d.scores, content, style, err = pj.score(d.run, d.planned); err != nil {
			return nil, err
		}
		if _, ok := unitImages[d.planned.Unit]; !ok {
			unitImages[d.planned.Unit] = [2]*imageio.Image{content, style}
		}
		if o.Progress != nil {
			o.Progress(k+1, len(done))
		}
	}

	var obs []study.Observation
	for _, d := range done {
		for _, k := range slices.Sorted(maps.Keys(d.scores)) {
			obs = append(obs, study.Observation{Run: d.run.ID, Arm: d.planned.Arm, Unit: d.planned.Unit, Seed: d.planned.Seed, Metric: k, Value: d.scores[k]})
		}
	}
	an, err := study.Analyse(obs, aopts)
	if err != nil {
		return nil, err
	}
	an.Findings = append(an.Findings, identityCheck(rec, sw, an)...)
	if f := crossLossFinding(rec, sw, an); f != "" {
		an.Findings = append(an.Findings, f)
	}

	// The evaluation's own run: params, judge scores by run index, artifacts.
	exp := f.Name
	if len(done) > 0 {
		if sp, err := runner.LoadSpec(st, done[0].run.ID); err == nil && sp.Experiment != "" {
			exp = sp.Experiment
		}
	}
	run, err := st.StartRun(exp, "evaluation of study "+f.Name)
	if err != nil {
		return nil, err
	}
	defer func() {
		if e := run.End(&err); err == nil {
			err = e
		}
	}()
	ev = &Evaluation{RunID: run.ID(), Observations: obs, Analysis: an}
	key := judgeKey(jcfg, aopts)
	params := map[string]string{
		"kind": "study-evaluation", "study": rec.ID,
		"judge.weights": jcfg.Weights.Source, "judge.weights_sha256": jcfg.Weights.SHA256, "judge.pool": string(jcfg.Pool),
		"judge.projections": fmt.Sprint(jcfg.Projections), "judge.projection_seed": fmt.Sprint(jcfg.ProjectionSeed),
		"judge.content_layers": strings.Join(jcfg.ContentLayers, ","), "judge.style_layers": strings.Join(jcfg.StyleLayers, ","),
		"statistics.bootstrap": fmt.Sprint(max(aopts.Resamples, 0)), "statistics.level": fmt.Sprint(an.Options.Level),
		"statistics.seed": fmt.Sprint(aopts.Seed), "statistics.alpha": fmt.Sprint(an.Options.Alpha), "statistics.identical": fmt.Sprint(an.Options.Identical),
	}
	lo, _ := json.Marshal(jcfg.LossOptions)
	params["judge.loss_options"] = string(lo)
	if err = run.LogParams(params); err != nil {
		return ev, err
	}
	if err = run.SetTags(map[string]string{TagID: rec.ID, TagRole: RoleEvaluation, TagJudgeKey: key}); err != nil {
		return ev, err
	}
	for _, d := range done {
		m := map[string]float64{}
		for k, v := range d.scores {
			if strings.HasPrefix(k, study.MetricPrefix) {
				m[k] = v
			}
		}
		if err = run.LogMetrics(int64(d.planned.Index), m); err != nil {
			return ev, err
		}
	}
	// The judge scores also go on each judged run itself (judge/… metrics), so the dashboard, `runs ls --filter`
	// and order-by use them like any metric. Each evaluation writes at its own step (its ordinal among the
	// study's evaluations), so a second evaluation with another judge adds points and does not overwrite the
	// first; the latest evaluation's value is the one filters see, and tags say which evaluation and judge wrote it.
	ordinal, err := evaluationOrdinal(st, rec.ID)
	if err != nil {
		return ev, err
	}
	for _, d := range done {
		m := map[string]float64{}
		for k, v := range d.scores {
			if strings.HasPrefix(k, study.MetricPrefix) {
				m[k] = v
			}
		}
		if err = st.Annotate(d.run.ID, ordinal, m, map[string]string{TagEvaluation: run.ID(), TagJudgeKey: key}); err != nil {
			return ev, fmt.Errorf("recording the judge scores on run %s: %w", d.run.ID, err)
		}
	}
	unitArt := map[string][2]string{}
	for i, u := range rec.Units {
		ims, ok := unitImages[u.ID]
		if !ok {
			continue
		}
		var shas [2]string
		for j, role := range []string{"content", "style"} {
			var buf bytes.Buffer
			if err = imageio.EncodePNG(&buf, ims[j]); err != nil {
				return ev, err
			}
			a, e := run.LogArtifact(fmt.Sprintf("study/units/%03d-%s.png", i, role), "image/png", buf.Bytes())
			if e != nil {
				return ev, e
			}
			shas[j] = a.SHA256
		}
		unitArt[u.ID] = shas
	}
	rep := buildReport(rec, an, jcfg, aopts, key, unitArt, missing)
	rep.Evaluated = time.Now().UTC()
	var first, last time.Time
	for _, d := range done {
		if first.IsZero() || d.run.Start.Before(first) {
			first = d.run.Start
		}
		if d.run.End.After(last) {
			last = d.run.End
		}
	}
	if !first.IsZero() && last.After(first) {
		rep.Runs.WallTime = last.Sub(first).Seconds()
	}
	rep.Runs.Judged = len(done)
	for _, d := range done {
		for gi := range rep.Grid {
			row := &rep.Grid[gi]
			if row.Unit != d.planned.Unit || d.planned.Seed != rep.GridSeed {
				continue
			}
			for ci := range row.Cells {
				if row.Cells[ci].Arm == d.planned.Arm {
					row.Cells[ci].RunID, row.Cells[ci].Image = d.run.ID, d.output
				}
			}
		}
	}
	ev.Report = rep
	for _, a := range []struct {
		name string
		v    any
	}{{ObservationsArtifact, obs}, {AnalysisArtifact, an}, {SettingsArtifact, Settings{Judge: judgeSpec, Statistics: stats}}, {dashboard.StudyReportArtifact, rep}} {
		b, e := json.MarshalIndent(a.v, "", " ")
		if e != nil {
			return ev, fmt.Errorf("encoding %s: %w", a.name, e)
		}
		if _, err = run.LogArtifact(a.name, "application/json", b); err != nil {
			return ev, err
		}
	}
	return ev, nil
}

// buildReport turns the analysis into the report data the dashboard renders.
func buildReport(rec *Record, an *study.Analysis, jcfg study.JudgeConfig, o study.AnalysisOptions, key string,
	unitArt map[string][2]string, missing []string) *dashboard.StudyReport {
	f := rec.StudyFile()
	rep := &dashboard.StudyReport{Version: dashboard.StudyReportVersion, ID: rec.ID, Name: f.Name, Description: f.Description,
		Seeds: f.Seeds, Metrics: an.Metrics, Findings: an.Findings, GridSeed: f.Seeds[0]}
	rep.Runs.Planned = len(rec.Runs)
	rep.Runs.Missing = missing
	for _, a := range f.Arms {
		var parts []string
		for _, k := range slices.Sorted(maps.Keys(a.Set)) {
			b, _ := json.Marshal(a.Set[k])
			parts = append(parts, k+"="+string(b))
		}
		rep.Arms = append(rep.Arms, dashboard.StudyArm{Name: a.Name, Set: strings.Join(parts, ", ")})
	}
	for _, u := range rec.Units {
		su := dashboard.StudyUnit{ID: u.ID, Content: u.Content, Style: u.Style}
		if s, ok := unitArt[u.ID]; ok {
			su.ContentImage, su.StyleImage = s[0], s[1]
		}
		rep.Units = append(rep.Units, su)
		row := dashboard.StudyGridRow{Unit: u.ID}
		for _, a := range f.Arms {
			row.Cells = append(row.Cells, dashboard.StudyGridCell{Arm: a.Name})
		}
		rep.Grid = append(rep.Grid, row)
	}
	// Settings: the base spec's fields that every run shares, then the judge and the statistics.
	var base map[string]any
	if json.Unmarshal(f.Base, &base) == nil {
		flat := map[string]string{}
		flatten("", base, flat)
		for _, k := range slices.Sorted(maps.Keys(flat)) {
			rep.Settings = append(rep.Settings, dashboard.StudySetting{Group: "base", Key: k, Value: flat[k]})
		}
	}
	lo, _ := json.Marshal(jcfg.LossOptions)
	for _, kv := range [][2]string{
		{"weights", jcfg.Weights.Source + " (sha256 " + jcfg.Weights.SHA256[:12] + "…)"}, {"pool", string(jcfg.Pool)},
		{"content_layers", strings.Join(jcfg.ContentLayers, ",")}, {"style_layers", strings.Join(jcfg.StyleLayers, ",")},
		{"loss_options", string(lo)},
		{"sliced Wasserstein", fmt.Sprintf("%d projections, seed %d (colour: CIE Lab pixels; features: judge VGG at the style layers)", jcfg.Projections, jcfg.ProjectionSeed)},
		{"ssim", "luminance Y, Gaussian 11×11 σ = 1.5, K1 0.01, K2 0.03, L = 1, population covariance"},
	} {
		rep.Settings = append(rep.Settings, dashboard.StudySetting{Group: "judge", Key: kv[0], Value: kv[1]})
	}
	boot := "none"
	if o.Resamples > 0 {
		boot = fmt.Sprintf("%d resamples of units, seed %d (percentile method)", o.Resamples, o.Seed)
	}
	for _, kv := range [][2]string{
		{"bootstrap", boot}, {"level", fmt.Sprintf("%g%%", 100*an.Options.Level)},
		{"test", "Wilcoxon signed-rank, two-sided, zero_method wilcox, exact for n ≤ 50 without ties or zeros"},
		{"correction", fmt.Sprintf("Holm over %d comparisons, α = %g", len(an.Comparisons), an.Options.Alpha)},
		{"identical", fmt.Sprintf("relative |Δ| < %g on every judge", an.Options.Identical)},
		{"evaluation key", key[:16]},
	} {
		rep.Settings = append(rep.Settings, dashboard.StudySetting{Group: "statistics", Key: kv[0], Value: kv[1]})
	}
	fillAnalysis(rep, an)
	note := "Cost is seconds per optimisation step as each run recorded it (on a shared machine, timings are noisy)"
	if !slices.Contains(rep.Cost, MetricPeakRSS) {
		note += "; peak memory is not shown: the runs did not record it (tag " + PeakRSSTag + ")"
	}
	rep.Notes = append(rep.Notes, note+".")
	var fixed []string // arms whose seeds changed no judge score
	for _, a := range an.Arms {
		all := true
		for _, m := range an.Metrics {
			if s := an.Summary(a, m); s == nil || s.SeedSD == nil || *s.SeedSD != 0 {
				all = false
			}
		}
		if all {
			fixed = append(fixed, a)
		}
	}
	if len(fixed) > 0 {
		rep.Notes = append(rep.Notes, fmt.Sprintf("Seeds changed nothing for %s (seed SD 0 on every judge): the seed only draws a noise init and "+
			"sampled loss positions, so with init \"content\" and exact losses every seed gives the same image; use init \"noise\" to measure seed variance.", strings.Join(fixed, ", ")))
	}
	if len(f.Seeds) < 2 {
		rep.Notes = append(rep.Notes, "One seed per unit: seed variance is not estimated.")
	}
	return rep
}

// fillAnalysis writes the analysis into the report: means (own and cost metrics listed apart), comparisons and
// the cross-loss matrix (arm means of every judge style loss).
func fillAnalysis(rep *dashboard.StudyReport, an *study.Analysis) {
	for _, s := range an.Summaries {
		m := dashboard.StudyMean{Arm: s.Arm, Metric: s.Metric, Mean: s.CI.Estimate, Lo: s.CI.Lo, Hi: s.CI.Hi,
			SeedSD: s.SeedSD, MeanRank: s.MeanRank, Units: s.Units}
		rep.Means = append(rep.Means, m)
		switch {
		case strings.HasPrefix(s.Metric, OwnPrefix) && !slices.Contains(rep.Own, s.Metric):
			rep.Own = append(rep.Own, s.Metric)
		case strings.HasPrefix(s.Metric, CostPrefix) && !slices.Contains(rep.Cost, s.Metric):
			rep.Cost = append(rep.Cost, s.Metric)
		}
	}
	for _, c := range an.Comparisons {
		scale := 0.0
		if c.Relative > 0 {
			scale = math.Abs(c.Diff.Estimate) / c.Relative
		}
		rep.Comparisons = append(rep.Comparisons, dashboard.StudyComparison{A: c.A, B: c.B, Metric: c.Metric, Units: c.Units,
			Diff: c.Diff.Estimate, Lo: c.Diff.Lo, Hi: c.Diff.Hi, Scale: scale, Relative: c.Relative,
			W: c.Wilcoxon.Statistic, P: c.Wilcoxon.P, Exact: c.Wilcoxon.Exact, PHolm: c.PHolm, Better: c.Better})
	}
	cl := dashboard.StudyMatrix{}
	for _, a := range an.Arms {
		cl.Rows = append(cl.Rows, a)
	}
	for _, n := range losses.Names {
		cl.Columns = append(cl.Columns, study.StyleMetric(n))
	}
	for _, a := range cl.Rows {
		row := make([]float64, len(cl.Columns))
		for j, m := range cl.Columns {
			if s := an.Summary(a, m); s != nil {
				row[j] = s.CI.Estimate
			}
		}
		cl.Values = append(cl.Values, row)
	}
	rep.CrossLoss = cl
}

// flatten writes nested JSON objects as dotted keys with JSON-encoded leaves.
func flatten(prefix string, v any, out map[string]string) {
	if m, ok := v.(map[string]any); ok {
		for k, e := range m {
			key := k
			if prefix != "" {
				key = prefix + "." + k
			}
			flatten(key, e, out)
		}
		return
	}
	b, _ := json.Marshal(v)
	out[prefix] = string(b)
}

// evaluationOrdinal is the number of evaluation runs of study id recorded so far, the one being written
// included: the step at which this evaluation's judge scores are written on the judged runs.
func evaluationOrdinal(st *tracker.Store, id string) (int64, error) {
	q := fmt.Sprintf("tags.`%s` = '%s' AND tags.`%s` = '%s'", TagID, strings.ReplaceAll(id, "'", "''"), TagRole, RoleEvaluation)
	rs, err := st.Search(q, "", 0)
	if err != nil {
		return 0, err
	}
	return int64(len(rs)), nil
}

// LatestEvaluation reads the latest finished evaluation of study id: its run and its observations.
func LatestEvaluation(st *tracker.Store, id string) (*tracker.RunInfo, []study.Observation, error) {
	_, ri, err := dashboard.ReadStudy(st, id)
	if err != nil {
		return nil, nil, err
	}
	a, err := st.FindArtifact(ri.ID, ObservationsArtifact)
	if err != nil {
		return nil, nil, fmt.Errorf("evaluation run %s has no %s: %w", ri.ID, ObservationsArtifact, err)
	}
	b, err := st.ReadArtifact(a.SHA256)
	if err != nil {
		return nil, nil, err
	}
	var obs []study.Observation
	if err := json.Unmarshal(b, &obs); err != nil {
		return nil, nil, fmt.Errorf("evaluation run %s: %s is %w: %v", ri.ID, ObservationsArtifact, tracker.ErrDamaged, err)
	}
	return ri, obs, nil
}

// panel judges recorded runs with one judge, caching the content and style images.
type panel struct {
	judge  *study.Judge
	cfg    study.JudgeConfig
	st     *tracker.Store
	images map[string]*imageio.Image
}

func (pj *panel) load(sp *spec.Spec, path string, size int) (*imageio.Image, error) {
	full := sp.FilePath(path)
	k := fmt.Sprintf("%s@%d", full, size)
	if im, ok := pj.images[k]; ok {
		return im, nil
	}
	im, err := imageio.Load(full, size)
	if err != nil {
		return nil, err
	}
	pj.images[k] = im
	return im, nil
}

// score judges one finished run: its output against the content and style its spec names (whose files must
// still have the recorded SHA-256), on a judge that is not its optimising network; plus its own scores at the
// last step (own/…) and its seconds per step (cost/…).
func (pj *panel) score(run *tracker.RunInfo, p Planned) (scores map[string]float64, content, style *imageio.Image, err error) {
	sp, err := runner.LoadSpec(pj.st, run.ID)
	if err != nil {
		return nil, nil, nil, err
	}
	if err := sp.Resolve(); err != nil {
		return nil, nil, nil, fmt.Errorf("run %s: its recorded spec: %w", run.ID, err)
	}
	if _, err := sp.HashInputs(false); err != nil {
		return nil, nil, nil, fmt.Errorf("run %s (%s × %s): %w: the judge would compare its output with other images; restore the files, or run the study again", run.ID, p.Arm, p.Unit, err)
	}
	if err := study.CheckIndependent(pj.cfg.Weights.SHA256, sp.Weights.SHA256); err != nil {
		return nil, nil, nil, fmt.Errorf("run %s (arm %s): %w", run.ID, p.Arm, err)
	}
	out, err := runner.Output(pj.st, run.ID)
	if err != nil {
		return nil, nil, nil, err
	}
	size := sp.Optimise.Size
	if content, err = pj.load(sp, sp.Inputs.Content.Path, size); err != nil {
		return nil, nil, nil, fmt.Errorf("run %s: content image: %w", run.ID, err)
	}
	if style, err = pj.load(sp, sp.Inputs.Styles[0].Path, size); err != nil {
		return nil, nil, nil, fmt.Errorf("run %s: style image: %w", run.ID, err)
	}
	if scores, err = pj.judge.Score(out, content, style, sp.Weights.SHA256); err != nil {
		return nil, nil, nil, fmt.Errorf("judging run %s: %w", run.ID, err)
	}
	for _, m := range OwnMetrics {
		if v, ok := run.Latest[m]; ok {
			scores[OwnPrefix+m] = v
		}
	}
	if v, err := strconv.ParseFloat(run.Tags["seconds_per_step"], 64); err == nil {
		scores[MetricSecondsPerStep] = v
	}
	if v, err := strconv.ParseFloat(run.Tags[PeakRSSTag], 64); err == nil {
		scores[MetricPeakRSS] = v / 1e6
	}
	return scores, content, style, nil
}

// gramEquivalent reports whether run i's spec optimises the Gram loss or its MMD form with the kernel (xᵀy)²
// (mmd-poly, degree 2, c = 0): the two are the same loss (Li et al. 2017).
func gramEquivalent(sw *sweep.Record, i int) (loss string, ok bool) {
	sp, err := spec.Load(sw.SpecPath(i))
	if err != nil || sp.Optimise == nil {
		return "", false
	}
	o := sp.Optimise.LossOptions.WithDefaults()
	switch {
	case sp.Optimise.Loss == "gram":
		return "gram", true
	case sp.Optimise.Loss == "mmd-poly" && o.PolyDegree == 2 && o.PolyC == 0:
		return "mmd-poly", true
	}
	return "", false
}

// identityCheck is the study's built-in check (Li et al. 2017): an arm optimising the Gram loss and one
// optimising mmd-poly with (xᵀy)², otherwise alike, must not differ on any judge. It says so when they do not
// (the finding for that pair already says "do not differ"), and warns when they do.
func identityCheck(rec *Record, sw *sweep.Record, an *study.Analysis) []string {
	first := map[string]int{}
	for _, p := range rec.Runs {
		if _, ok := first[p.Arm]; !ok {
			first[p.Arm] = p.Index
		}
	}
	var out []string
	for i, a := range an.Arms {
		for _, b := range an.Arms[i+1:] {
			la, okA := gramEquivalent(sw, first[a])
			lb, okB := gramEquivalent(sw, first[b])
			if !okA || !okB || la == lb || !sameExceptLoss(sw, first[a], first[b]) {
				continue
			}
			worst, metric := 0.0, ""
			for _, m := range an.Metrics {
				if c := an.Comparison(a, b, m); c != nil && c.Relative > worst {
					worst, metric = c.Relative, m
				}
			}
			if worst < an.Options.Identical {
				out = append(out, fmt.Sprintf("Built-in check passed: %s and %s are the same loss (Gram = MMD² with the kernel (xᵀy)², Li et al. 2017, \"Demystifying Neural Style Transfer\") and the study finds them identical on every judge (largest relative |Δ| %.2g).", a, b, worst))
			} else {
				out = append(out, fmt.Sprintf("Built-in check FAILED: %s and %s are the same loss (Li et al. 2017), yet they differ on %s by a relative %.2g ≥ %g: something in the runs or the judge is wrong; look at their specs (stylelab runs diff).", a, b, metric, worst, an.Options.Identical))
			}
		}
	}
	return out
}

// sameExceptLoss reports whether runs i and j (of one unit and seed: the first of their arms) have the same
// optimisation apart from the loss and its options.
func sameExceptLoss(sw *sweep.Record, i, j int) bool {
	a, errA := spec.Load(sw.SpecPath(i))
	b, errB := spec.Load(sw.SpecPath(j))
	if errA != nil || errB != nil || a.Optimise == nil || b.Optimise == nil {
		return false
	}
	ca, cb := *a.Optimise, *b.Optimise
	cb.Loss, cb.LossOptions = ca.Loss, ca.LossOptions
	ja, _ := json.Marshal(ca)
	jb, _ := json.Marshal(cb)
	return string(ja) == string(jb)
}

// crossLossFinding reads the diagonal of the cross-loss matrix: for each judge style loss that some arms
// optimised (gram and mmd-poly with (xᵀy)² count as one loss), whether one of them has the best mean under it.
// "" when fewer than two judge losses were optimised by some arm.
func crossLossFinding(rec *Record, sw *sweep.Record, an *study.Analysis) string {
	family := func(loss string) string {
		if loss == "mmd-poly" {
			return "gram" // only called for the Gram-equivalent mmd-poly, or for the judge's own (default (xᵀy)²)
		}
		return loss
	}
	armsOf := map[string][]string{} // loss family → arms optimising it
	for _, a := range an.Arms {
		for _, p := range rec.Runs {
			if p.Arm != a {
				continue
			}
			if sp, err := spec.Load(sw.SpecPath(p.Index)); err == nil && sp.Optimise != nil {
				loss := sp.Optimise.Loss
				if l, ok := gramEquivalent(sw, p.Index); ok {
					loss = family(l)
				} else if loss == "mmd-poly" {
					loss = "mmd-poly (other kernel)"
				}
				armsOf[loss] = append(armsOf[loss], a)
			}
			break
		}
	}
	var own, other []string
	for _, loss := range losses.Names {
		arms := armsOf[family(loss)]
		if len(arms) == 0 {
			continue
		}
		m := study.StyleMetric(loss)
		best, bestV := "", math.Inf(1)
		for _, a := range an.Arms {
			if s := an.Summary(a, m); s != nil && s.CI.Estimate < bestV {
				best, bestV = a, s.CI.Estimate
			}
		}
		if slices.Contains(arms, best) {
			own = append(own, loss)
		} else {
			other = append(other, fmt.Sprintf("%s (best: %s)", loss, best))
		}
	}
	if len(own)+len(other) < 2 {
		return ""
	}
	s := fmt.Sprintf("Cross-loss matrix: under %d of the %d judge style losses some arm optimised, an arm optimising that loss has the best mean (%s)",
		len(own), len(own)+len(other), strings.Join(own, ", "))
	if len(other) > 0 {
		s += "; not under " + strings.Join(other, ", ")
	}
	if len(other) == 0 {
		s += ": each loss is best at its own statistic, measured on a network it was not optimised against"
	}
	return s + "."
}
