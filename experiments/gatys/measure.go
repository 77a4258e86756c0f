package gatys

import (
	"fmt"

	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:staticcheck // GoMLX code reads best with the graph ops unqualified.
	"github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/stylelab/stylelab/backends/backend"
	"github.com/stylelab/stylelab/experiments/imageio"
	"github.com/stylelab/stylelab/experiments/losses"
	"github.com/stylelab/stylelab/experiments/vgg"
)

// Scores are an image's losses against a content and a style image, unweighted.
//
// JSON: {"content": {"relu4_2": v, "total": v}, "style": {"gram": {"relu1_1": v, …, "relu5_1": v, "total": v},
// "mmd-poly": {…}, "mmd-linear": {…}, "mmd-gauss": {…}, "meanvar": {…}}}.
type Scores struct {
	// Content maps each content layer, and "total" (their mean), to losses.Content(F_l(img), F_l(content)).
	Content map[string]float64 `json:"content"`
	// Style maps each style loss name to each style layer's loss L(F_l(img), F_l(style)) and "total" (their mean).
	Style map[string]map[string]float64 `json:"style"`
}

// Measure scores img without optimising: the content loss at DefaultContentLayers (relu4_2) against content, and
// every style loss of losses.Names at each of DefaultStyleLayers (relu1_1 … relu5_1) against style, with totals
// as means over the layers. content is resized to img's size when they differ (the content loss compares
// feature maps position by position); style keeps its size (every style loss compares distributions).
func Measure(img, content, style *imageio.Image, w *vgg.Weights, pool vgg.Pool, o losses.Options) (*Scores, error) {
	if img == nil || content == nil || style == nil {
		return nil, fmt.Errorf("gatys.Measure: the image, the content and the style image are all needed")
	}
	if err := w.Validate(); err != nil {
		return nil, fmt.Errorf("gatys.Measure: %w", err)
	}
	if _, err := vgg.ParsePool(string(pool)); err != nil {
		return nil, fmt.Errorf("gatys.Measure: %w", err)
	}
	styleLosses := make([]losses.StyleLoss, len(losses.Names))
	for i, n := range losses.Names {
		l, err := losses.Style(n, o)
		if err != nil {
			return nil, fmt.Errorf("gatys.Measure: %w", err)
		}
		styleLosses[i] = l
	}
	if content.W != img.W || content.H != img.H {
		var err error
		if content, err = imageio.Resize(content, img.W, img.H); err != nil {
			return nil, fmt.Errorf("gatys.Measure: resizing the content image: %w", err)
		}
	}
	b, _, err := backend.New()
	if err != nil {
		return nil, fmt.Errorf("gatys.Measure: %w", err)
	}
	cl, sl := DefaultContentLayers, DefaultStyleLayers
	all := append(append([]string{}, cl...), sl...)
	ctx := context.New()
	e, err := context.NewExec(b, ctx, func(ctx *context.Context, x, c, s *Node) *Node {
		fx := vgg.Features(ctx, w, pool, x, all)
		fc := vgg.Features(ctx, w, pool, c, cl)
		fs := vgg.Features(ctx, w, pool, s, sl)
		var out []*Node
		for _, l := range cl {
			out = append(out, losses.Content(fx[l], fc[l]))
		}
		for _, loss := range styleLosses {
			for _, l := range sl {
				out = append(out, loss(fx[l], fs[l]))
			}
		}
		for i := range out {
			out[i] = Reshape(out[i], 1)
		}
		return Concatenate(out, 0)
	})
	if err != nil {
		return nil, fmt.Errorf("gatys.Measure: %w", err)
	}
	defer e.Finalize()
	outs, err := e.Exec(img.Tensor(), content.Tensor(), style.Tensor())
	if err != nil {
		return nil, fmt.Errorf("gatys.Measure: %w", err)
	}
	v, err := flat32(outs[0])
	if err != nil {
		return nil, fmt.Errorf("gatys.Measure: %w", err)
	}
	sc := &Scores{Content: map[string]float64{}, Style: map[string]map[string]float64{}}
	i := 0
	mean := 0.0
	for _, l := range cl {
		sc.Content[l] = float64(v[i])
		mean += float64(v[i]) / float64(len(cl))
		i++
	}
	sc.Content["total"] = mean
	for _, n := range losses.Names {
		m := map[string]float64{}
		mean := 0.0
		for _, l := range sl {
			m[l] = float64(v[i])
			mean += float64(v[i]) / float64(len(sl))
			i++
		}
		m["total"] = mean
		sc.Style[n] = m
	}
	return sc, nil
}
