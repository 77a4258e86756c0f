package studies

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/stylelab/stylelab/experiments/imageio"
	"github.com/stylelab/stylelab/experiments/losses"
	"github.com/stylelab/stylelab/experiments/study"
	"github.com/stylelab/stylelab/experiments/train"
	"github.com/stylelab/stylelab/jobs/runner"
	"github.com/stylelab/stylelab/jobs/spec"
	"github.com/stylelab/stylelab/tracker"
)

// Feed-forward arms (issue #17): under each loss, S single-style nets (train kind "single", one per style) and
// one CIN net over the same S styles are trained on a content folder; every net then stylises HELD-OUT content
// images (their SHA-256 must not be any training image's) in every style, and the judge scores each output
// against its held-out content and its style. The CIN net also walks a PathSteps-point path between styles 0
// and 1 (mix (1−t, t), t = 0 … 1); along it the judge's style distance to style 0 should not decrease:
// MonotoneFraction over (held-out content × judge style loss) paths. This is the minimal path — a Go API run
// in-process; a study file arm "kind" and sweep expansion of it are not built (see docs/spec.md "Studies").

// Arms of a feed-forward comparison.
const (
	ArmSingle = "single" // one net per style
	ArmCIN    = "cin"    // one conditional-instance-norm net over every style
)

// FeedForwardDesign describes a feed-forward comparison.
type FeedForwardDesign struct {
	Losses       []string // style losses (losses.Names) the nets are trained under
	Styles       []string // style image paths (S ≥ 2)
	TrainContent string   // folder of training photos
	HeldOut      []string // content images never seen in training
	Preset       string   // train preset ("tiny" in tests)
	Steps        int      // training steps per net
	Size         int      // side of the stylised held-out images
	PathSteps    int      // points along the interpolation path (5 in #17)
	Dir          string   // where checkpoints and outputs go
	Seed         uint64
	Experiment   string
	// Progress, when set, is called after every run the design starts (training or stylize), with the run's
	// kind and output path.
	Progress func(kind, output string)
}

// FeedForwardScore is the judge's scores of one output, with the training cost of the net that made it.
type FeedForwardScore struct {
	Loss, Arm string
	Style     int
	Content   string
	RunID     string // the stylize run ("" without a store)
	Scores    map[string]float64
}

// FeedForwardResult is what RunFeedForward measured.
type FeedForwardResult struct {
	Scores []FeedForwardScore
	// Smoothness per loss: fraction of the CIN net's interpolation paths whose judge style distance to style 0
	// does not decrease (relative tolerance SmoothnessTolerance), with the counts.
	Smoothness map[string]Smoothness
	// Paths per loss: for each held-out content and judge style loss (losses.Names order), the judge's style
	// distance to style 0 at each of the PathSteps points.
	Paths     map[string][][]float64
	TrainRuns []string
	trainCost map[string]map[string]float64 // by checkpoint: the training run's cost/… (from its tags)
}

// Smoothness is the result of MonotoneFraction over one CIN net's paths.
type Smoothness struct {
	Fraction float64 `json:"fraction"`
	Monotone int     `json:"monotone"`
	Paths    int     `json:"paths"`
}

// SmoothnessTolerance is the relative tolerance of the monotonicity check (float32 judge distances).
const SmoothnessTolerance = 1e-6

func fileSHA(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:]), nil
}

// checkHeldOut refuses a held-out content image whose bytes are one of the training folder's images.
func checkHeldOut(folder string, held []string) error {
	ents, err := os.ReadDir(folder)
	if err != nil {
		return fmt.Errorf("feed-forward study: training content folder: %w", err)
	}
	seen := map[string]string{}
	for _, e := range ents {
		if e.IsDir() {
			continue
		}
		h, err := fileSHA(filepath.Join(folder, e.Name()))
		if err != nil {
			return err
		}
		seen[h] = e.Name()
	}
	for _, p := range held {
		h, err := fileSHA(p)
		if err != nil {
			return fmt.Errorf("feed-forward study: held-out content: %w", err)
		}
		if n, ok := seen[h]; ok {
			return fmt.Errorf("feed-forward study: held-out content %s is the training image %s (same SHA-256): held-out images must never be seen in training; pick another image", p, n)
		}
	}
	return nil
}

// RunFeedForward trains the design's nets, stylises the held-out contents and judges them (see above).
func RunFeedForward(d FeedForwardDesign, jcfg study.JudgeConfig, st *tracker.Store) (*FeedForwardResult, error) {
	switch {
	case len(d.Styles) < 2:
		return nil, errors.New("feed-forward study: styles: need at least 2 (a CIN net over one style is a single net)")
	case len(d.HeldOut) == 0:
		return nil, errors.New("feed-forward study: held_out: no held-out content image: add one not in the training folder")
	case len(d.Losses) == 0:
		return nil, errors.New("feed-forward study: losses: none given")
	case d.PathSteps < 2:
		return nil, fmt.Errorf("feed-forward study: path_steps %d: need at least 2 (5 in the issue)", d.PathSteps)
	}
	for _, l := range d.Losses {
		if !slices.Contains(losses.Names, l) {
			return nil, fmt.Errorf("feed-forward study: loss %q: not one of %v", l, losses.Names)
		}
	}
	if err := checkHeldOut(d.TrainContent, d.HeldOut); err != nil {
		return nil, err
	}
	judge, err := study.NewJudge(jcfg)
	if err != nil {
		return nil, err
	}
	defer judge.Close()
	res := &FeedForwardResult{Smoothness: map[string]Smoothness{}, Paths: map[string][][]float64{}, trainCost: map[string]map[string]float64{}}
	run := func(sp *spec.Spec) (*runner.Outcome, error) {
		out, err := runner.Run(sp, runner.Options{Store: st})
		if err != nil {
			return nil, fmt.Errorf("%s run %s: %w", sp.Kind, sp.Output, err)
		}
		if d.Progress != nil {
			d.Progress(sp.Kind, sp.Output)
		}
		return out, nil
	}
	trainNet := func(loss, kind string, styles []string, name string) (model, weightsSHA string, err error) {
		cfg, err := train.Preset(d.Preset, kind)
		if err != nil {
			return "", "", err
		}
		cfg.Steps, cfg.Loss = d.Steps, loss
		sp := &spec.Spec{Version: spec.Version, Kind: spec.KindTrain, Experiment: d.Experiment, Seed: d.Seed, Train: &cfg,
			Output: filepath.Join(d.Dir, name+".safetensors"), Inputs: spec.Inputs{ContentDir: &spec.Folder{Path: d.TrainContent}}}
		for _, s := range styles {
			sp.Inputs.Styles = append(sp.Inputs.Styles, spec.Input{Path: s})
		}
		out, err := run(sp)
		if err != nil {
			return "", "", err
		}
		res.TrainRuns = append(res.TrainRuns, out.RunID)
		if st != nil {
			ri, err := st.GetRun(out.RunID)
			if err != nil {
				return "", "", err
			}
			c := map[string]float64{}
			if v, err := strconv.ParseFloat(ri.Tags["seconds_per_step"], 64); err == nil {
				c[MetricSecondsPerStep] = v
			}
			if v, err := strconv.ParseFloat(ri.Tags[PeakRSSTag], 64); err == nil {
				c[MetricPeakRSS] = v / 1e6
			}
			res.trainCost[sp.Output] = c
		}
		return sp.Output, out.Spec.Weights.SHA256, nil
	}
	stylize := func(model string, mix []float64, content, name string) (*imageio.Image, string, error) {
		sp := &spec.Spec{Version: spec.Version, Kind: spec.KindStylize, Experiment: d.Experiment, Seed: d.Seed,
			Output: filepath.Join(d.Dir, name+".png"), Inputs: spec.Inputs{Content: spec.Input{Path: content}, Model: &spec.Input{Path: model}},
			Stylize: &spec.StylizeParams{Size: d.Size, Mix: mix}}
		out, err := run(sp)
		if err != nil {
			return nil, "", err
		}
		return out.Image, out.RunID, nil
	}
	load := func(p string) (*imageio.Image, error) { return imageio.Load(p, d.Size) }
	styleImgs := make([]*imageio.Image, len(d.Styles))
	for i, s := range d.Styles {
		if styleImgs[i], err = load(s); err != nil {
			return nil, err
		}
	}
	for _, loss := range d.Losses {
		// The single-style nets, one per style, each stylising every held-out content.
		for si, s := range d.Styles {
			model, wsha, err := trainNet(loss, train.KindSingle, []string{s}, fmt.Sprintf("%s-single-%d", loss, si))
			if err != nil {
				return nil, err
			}
			for ci, c := range d.HeldOut {
				if err := res.judgeOne(st, judge, load, stylize, model, wsha, []float64{1}, styleImgs[si], c,
					FeedForwardScore{Loss: loss, Arm: ArmSingle, Style: si, Content: c}, fmt.Sprintf("%s-single-%d-c%d", loss, si, ci)); err != nil {
					return nil, err
				}
			}
		}
		// The CIN net over every style, in each style (one-hot mix), then along the path between styles 0 and 1.
		model, wsha, err := trainNet(loss, train.KindCIN, d.Styles, loss+"-cin")
		if err != nil {
			return nil, err
		}
		var paths [][]float64
		pathMetrics := []string{}
		for _, n := range losses.Names {
			pathMetrics = append(pathMetrics, study.StyleMetric(n))
		}
		for ci, c := range d.HeldOut {
			for si := range d.Styles {
				mix := make([]float64, len(d.Styles))
				mix[si] = 1
				if err := res.judgeOne(st, judge, load, stylize, model, wsha, mix, styleImgs[si], c,
					FeedForwardScore{Loss: loss, Arm: ArmCIN, Style: si, Content: c}, fmt.Sprintf("%s-cin-%d-c%d", loss, si, ci)); err != nil {
					return nil, err
				}
			}
			cimg, err := load(c)
			if err != nil {
				return nil, err
			}
			byMetric := make([][]float64, len(pathMetrics))
			for k := 0; k < d.PathSteps; k++ {
				t := float64(k) / float64(d.PathSteps-1)
				mix := make([]float64, len(d.Styles))
				mix[0], mix[1] = 1-t, t
				img, _, err := stylize(model, mix, c, fmt.Sprintf("%s-cin-path-c%d-%d", loss, ci, k))
				if err != nil {
					return nil, err
				}
				sc, err := judge.Score(img, cimg, styleImgs[0], wsha)
				if err != nil {
					return nil, err
				}
				for mi, m := range pathMetrics {
					byMetric[mi] = append(byMetric[mi], sc[m])
				}
			}
			paths = append(paths, byMetric...)
		}
		frac, n, err := study.MonotoneFraction(paths, +1, SmoothnessTolerance)
		if err != nil {
			return nil, fmt.Errorf("loss %s: interpolation smoothness: %w", loss, err)
		}
		res.Paths[loss] = paths
		res.Smoothness[loss] = Smoothness{Fraction: frac, Monotone: n, Paths: len(paths)}
	}
	return res, nil
}

func (res *FeedForwardResult) judgeOne(st *tracker.Store, judge *study.Judge, load func(string) (*imageio.Image, error),
	stylize func(string, []float64, string, string) (*imageio.Image, string, error),
	model, wsha string, mix []float64, style *imageio.Image, content string, row FeedForwardScore, name string) error {
	img, id, err := stylize(model, mix, content, name)
	if err != nil {
		return err
	}
	cimg, err := load(content)
	if err != nil {
		return err
	}
	if row.Scores, err = judge.Score(img, cimg, style, wsha); err != nil {
		return err
	}
	row.RunID = id
	// The net's training cost (cost/seconds_per_step, cost/peak_rss_mb when the training run recorded them), as a
	// study's described metrics.
	for k, v := range res.trainCost[model] {
		row.Scores[k] = v
	}
	if st != nil && id != "" {
		// The scores on the stylize run itself, like a study's evaluation does (filterable as judge/…).
		m := map[string]float64{}
		for k, v := range row.Scores {
			if strings.HasPrefix(k, study.MetricPrefix) {
				m[k] = v
			}
		}
		if err := st.Annotate(id, 1, m, map[string]string{"study.feedforward.arm": row.Arm, "study.feedforward.loss": row.Loss}); err != nil {
			return fmt.Errorf("recording the judge scores on run %s: %w", id, err)
		}
	}
	res.Scores = append(res.Scores, row)
	return nil
}
