package study

import (
	"fmt"
	"slices"
	"strings"

	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:staticcheck // GoMLX code reads best with the graph ops unqualified.
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/stylelab/stylelab/backends/backend"
	"github.com/stylelab/stylelab/experiments/gatys"
	"github.com/stylelab/stylelab/experiments/imageio"
	"github.com/stylelab/stylelab/experiments/losses"
	"github.com/stylelab/stylelab/experiments/vgg"
)

// Judge metric names, recorded as run metrics (at the run's last step) and used by the analysis. Each style
// loss L of losses.Names gives MetricStyle+L (its mean over the judge's style layers) and MetricStyle+L+"/"+layer.
const (
	MetricPrefix       = "judge/"
	MetricContent      = "judge/content"     // losses.Content at the content layers (mean), judge network
	MetricStyle        = "judge/style/"      // + loss name [+ "/" + layer]
	MetricSSIM         = "judge/ssim"        // LuminanceSSIM against the content image (higher is better)
	MetricColourSW     = "judge/colour_sw"   // SlicedWasserstein of the CIE Lab pixels, output vs style
	MetricFeatureSW    = "judge/feature_sw"  // SlicedWasserstein of the judge's features (mean over style layers)
	MetricFeatureSWL   = "judge/feature_sw/" // + layer
	DefaultProjections = 64
)

// HigherIsBetter reports whether a larger value of the judge metric is better (SSIM); every other judge metric
// is a distance or a loss, better when smaller.
func HigherIsBetter(metric string) bool { return metric == MetricSSIM }

// JudgeConfig configures a judge panel.
type JudgeConfig struct {
	// Weights is the judge's loss network. It must differ (by SHA-256) from every optimising network it judges.
	Weights *vgg.Weights
	// Pool is the judge network's pooling ("" = avg).
	Pool vgg.Pool
	// ContentLayers and StyleLayers default to gatys.DefaultContentLayers and gatys.DefaultStyleLayers.
	ContentLayers, StyleLayers []string
	// LossOptions configure the judge's style losses (mmd-poly's degree and c, mmd-gauss's samples and seed);
	// zero fields take losses.DefaultOptions' values, so mmd-poly is the Gram-equivalent (xᵀy)².
	LossOptions losses.Options
	// Projections is the number P of directions of both sliced Wasserstein distances (0 = DefaultProjections),
	// drawn by Directions with ProjectionSeed.
	Projections    int
	ProjectionSeed uint64
}

// WithDefaults returns c with its unset fields at their defaults.
func (c JudgeConfig) WithDefaults() JudgeConfig {
	if c.Pool == "" {
		c.Pool = vgg.PoolAvg
	}
	if len(c.ContentLayers) == 0 {
		c.ContentLayers = slices.Clone(gatys.DefaultContentLayers)
	}
	if len(c.StyleLayers) == 0 {
		c.StyleLayers = slices.Clone(gatys.DefaultStyleLayers)
	}
	c.LossOptions = c.LossOptions.WithDefaults()
	if c.Projections == 0 {
		c.Projections = DefaultProjections
	}
	return c
}

// Judge scores images by a fixed panel of measures that took no part in their optimisation (see Score). Not safe
// for concurrent use; Close frees its compiled graphs.
type Judge struct {
	cfg    JudgeConfig
	exec   *context.Exec
	labDir []float64         // colour directions (3-D)
	featD  map[int][]float64 // feature directions by channel count
}

// NewJudge checks cfg and builds the judge (graphs are compiled at the first Score of each image size).
func NewJudge(cfg JudgeConfig) (*Judge, error) {
	cfg = cfg.WithDefaults()
	if cfg.Weights == nil {
		return nil, fmt.Errorf("study: the judge needs loss-network weights (a seeded random VGG-19 other than the optimising one, or a file)")
	}
	if err := cfg.Weights.Validate(); err != nil {
		return nil, fmt.Errorf("study: judge weights: %w", err)
	}
	if _, err := vgg.ParsePool(string(cfg.Pool)); err != nil {
		return nil, fmt.Errorf("study: judge pool: %w", err)
	}
	if err := vgg.ValidateLayers(cfg.ContentLayers); err != nil {
		return nil, fmt.Errorf("study: judge content layers: %w", err)
	}
	if err := vgg.ValidateLayers(cfg.StyleLayers); err != nil {
		return nil, fmt.Errorf("study: judge style layers: %w", err)
	}
	if cfg.Projections < 1 {
		return nil, fmt.Errorf("study: the judge's sliced Wasserstein needs at least 1 projection (got %d); the default is %d", cfg.Projections, DefaultProjections)
	}
	styleLosses := make([]losses.StyleLoss, len(losses.Names))
	for i, n := range losses.Names {
		l, err := losses.Style(n, cfg.LossOptions)
		if err != nil {
			return nil, fmt.Errorf("study: judge loss %s: %w", n, err)
		}
		styleLosses[i] = l
	}
	b, _, err := backend.New()
	if err != nil {
		return nil, fmt.Errorf("study: %w", err)
	}
	j := &Judge{cfg: cfg, labDir: Directions(3, cfg.Projections, cfg.ProjectionSeed), featD: map[int][]float64{}}
	cl, sl := cfg.ContentLayers, cfg.StyleLayers
	all := append(slices.Clone(cl), sl...)
	j.exec, err = context.NewExec(b, context.New(), func(ctx *context.Context, x, c, s *Node) []*Node {
		fx := vgg.Features(ctx, cfg.Weights, cfg.Pool, x, all)
		fc := vgg.Features(ctx, cfg.Weights, cfg.Pool, c, cl)
		fs := vgg.Features(ctx, cfg.Weights, cfg.Pool, s, sl)
		var scores []*Node
		for _, l := range cl {
			scores = append(scores, Reshape(losses.Content(fx[l], fc[l]), 1))
		}
		for _, loss := range styleLosses {
			for _, l := range sl {
				scores = append(scores, Reshape(loss(fx[l], fs[l]), 1))
			}
		}
		out := []*Node{Concatenate(scores, 0)}
		for _, l := range sl {
			out = append(out, fx[l], fs[l])
		}
		return out
	})
	if err != nil {
		return nil, fmt.Errorf("study: building the judge: %w", err)
	}
	return j, nil
}

// Config is the judge's configuration with its defaults filled in.
func (j *Judge) Config() JudgeConfig { return j.cfg }

// Close frees the judge's compiled graphs.
func (j *Judge) Close() {
	if j.exec != nil {
		j.exec.Finalize()
		j.exec = nil
	}
}

// CheckIndependent refuses a judge network that is the optimising network: judging an image with the weights
// it was optimised against is circular (the optimum of its own objective).
func CheckIndependent(judgeSHA, optimisingSHA string) error {
	if judgeSHA != "" && judgeSHA == optimisingSHA {
		return fmt.Errorf("study: the judge network has the same weights (SHA-256 %.12s…) as the optimising network: "+
			"choose another judge (a different random seed, or other weights)", judgeSHA)
	}
	return nil
}

// Score judges img, optimised against content and style by a network whose weights have SHA-256 optimisedWith
// (refused when it is the judge's, CheckIndependent). content is resized to img's size when they differ (the
// content loss and SSIM compare position by position); style keeps its size (the distribution measures do not
// need equal sizes). The scores, keyed by the Metric* names:
//
//   - MetricContent: mean over ContentLayers of losses.Content(F_l(img), F_l(content)) on the judge network;
//   - MetricStyle+L+"/"+layer for every loss L of losses.Names and style layer, and MetricStyle+L their mean;
//   - MetricSSIM: LuminanceSSIM(img, content);
//   - MetricColourSW: SlicedWasserstein of the pixels of img and style in CIE Lab (Lab), P directions;
//   - MetricFeatureSWL+layer: SlicedWasserstein of the judge's feature vectors at each position (N-dimensional,
//     P directions of Directions(N, P, ProjectionSeed)), and MetricFeatureSW their mean over the style layers.
func (j *Judge) Score(img, content, style *imageio.Image, optimisedWith string) (map[string]float64, error) {
	if img == nil || content == nil || style == nil {
		return nil, fmt.Errorf("study: the judge needs the image, its content image and its style image")
	}
	if j.exec == nil {
		return nil, fmt.Errorf("study: the judge was closed")
	}
	if err := CheckIndependent(j.cfg.Weights.SHA256, optimisedWith); err != nil {
		return nil, err
	}
	if content.W != img.W || content.H != img.H {
		var err error
		if content, err = imageio.Resize(content, img.W, img.H); err != nil {
			return nil, fmt.Errorf("study: resizing the content image: %w", err)
		}
	}
	outs, err := j.exec.Exec(img.Tensor(), content.Tensor(), style.Tensor())
	if err != nil {
		return nil, fmt.Errorf("study: judging: %w", err)
	}
	defer func() {
		for _, t := range outs {
			t.FinalizeAll()
		}
	}()
	v, err := flat(outs[0])
	if err != nil {
		return nil, err
	}
	cl, sl := j.cfg.ContentLayers, j.cfg.StyleLayers
	sc := map[string]float64{}
	i := 0
	contentMean := 0.0
	for range cl {
		contentMean += v[i] / float64(len(cl))
		i++
	}
	sc[MetricContent] = contentMean
	for _, n := range losses.Names {
		mean := 0.0
		for _, l := range sl {
			sc[MetricStyle+n+"/"+l] = v[i]
			mean += v[i] / float64(len(sl))
			i++
		}
		sc[MetricStyle+n] = mean
	}
	swMean := 0.0
	for k, l := range sl {
		fx, err := flat(outs[1+2*k])
		if err != nil {
			return nil, err
		}
		fs, err := flat(outs[2+2*k])
		if err != nil {
			return nil, err
		}
		dim := outs[1+2*k].Shape().Dimensions[3]
		dirs, ok := j.featD[dim]
		if !ok {
			dirs = Directions(dim, j.cfg.Projections, j.cfg.ProjectionSeed)
			j.featD[dim] = dirs
		}
		d, err := SlicedWasserstein(fx, fs, dim, dirs)
		if err != nil {
			return nil, fmt.Errorf("study: feature distance at %s: %w", l, err)
		}
		sc[MetricFeatureSWL+l] = d
		swMean += d / float64(len(sl))
	}
	sc[MetricFeatureSW] = swMean
	if sc[MetricSSIM], err = LuminanceSSIM(img, content); err != nil {
		return nil, err
	}
	if sc[MetricColourSW], err = SlicedWasserstein(Lab(img), Lab(style), 3, j.labDir); err != nil {
		return nil, err
	}
	return sc, nil
}

// StyleMetric is the judge metric of style loss name (its mean over the judge's style layers).
func StyleMetric(name string) string { return MetricStyle + name }

// IsLayerMetric reports whether a judge metric is a per-layer detail (…/relu3_1) rather than a summary.
func IsLayerMetric(metric string) bool {
	i := strings.LastIndexByte(metric, '/')
	return i >= 0 && vgg.LayerIndex(metric[i+1:]) >= 0
}

// flat copies a float32 tensor's values into float64s (an NHWC feature map becomes M·N row-major points).
func flat(t *tensors.Tensor) ([]float64, error) {
	var out []float64
	err := tensors.ConstFlatData(t, func(f []float32) {
		out = make([]float64, len(f))
		for i, x := range f {
			out[i] = float64(x)
		}
	})
	if err != nil {
		return nil, fmt.Errorf("study: reading the judge's output: %w", err)
	}
	return out, nil
}
