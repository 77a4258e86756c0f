package study

import (
	"math"
	"strings"
	"testing"

	"github.com/stylelab/stylelab/experiments/gatys"
	"github.com/stylelab/stylelab/experiments/imageio"
	"github.com/stylelab/stylelab/experiments/losses"
	"github.com/stylelab/stylelab/experiments/vgg"
)

const (
	chelsea = "../../images/content/chelsea.jpg"
	starry  = "../../images/style/vangogh_starry_night.jpg"
)

func load(t testing.TB, path string, size int) *imageio.Image {
	t.Helper()
	im, err := imageio.Load(path, size)
	if err != nil {
		t.Fatal(err)
	}
	return im
}

func relDiff(a, b float64) float64 {
	if a == b {
		return 0
	}
	return math.Abs(a-b) / math.Max(math.Abs(a), math.Abs(b))
}

func TestJudge(t *testing.T) {
	optimising := vgg.Random(0)
	jw := vgg.Random(1)
	j, err := NewJudge(JudgeConfig{Weights: jw, ProjectionSeed: 3})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	content, style := load(t, chelsea, 32), load(t, starry, 32)
	// A blend of the two stands in for a stylised output.
	img := &imageio.Image{W: content.W, H: content.H, Pix: make([]float32, len(content.Pix))}
	sc32, err := imageio.ResizeCover(style, content.W, content.H)
	if err != nil {
		t.Fatal(err)
	}
	for i := range img.Pix {
		img.Pix[i] = 0.6*content.Pix[i] + 0.4*sc32.Pix[i]
	}

	if _, err := j.Score(img, content, style, jw.SHA256); err == nil || !strings.Contains(err.Error(), "same weights") {
		t.Fatalf("judging with the optimising network's weights: %v, want a refusal", err)
	}
	s, err := j.Score(img, content, style, optimising.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	want := 1 + len(losses.Names)*(1+len(gatys.DefaultStyleLayers)) + 2 + 1 + len(gatys.DefaultStyleLayers) // content, style, ssim + colour, feature mean + layers
	if len(s) != want {
		t.Errorf("%d scores, want %d: %v", len(s), want, s)
	}
	// The same image scored again gives the same numbers.
	again, _ := j.Score(img, content, style, optimising.SHA256)
	for k, v := range s {
		if again[k] != v {
			t.Errorf("%s: %v then %v", k, v, again[k])
		}
	}
	// Demystifying NST: gram equals mmd-poly with (xᵀy)² on the judge too, layer by layer.
	for _, l := range gatys.DefaultStyleLayers {
		g, p := s[MetricStyle+"gram/"+l], s[MetricStyle+"mmd-poly/"+l]
		if !(g > 0) || relDiff(g, p) > 1e-3 {
			t.Errorf("%s: gram %v, mmd-poly %v, want equal and positive", l, g, p)
		}
	}
	// The judge's losses are gatys.Measure's on the judge network.
	m, err := gatys.Measure(img, content, style, jw, vgg.PoolAvg, losses.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range losses.Names {
		if relDiff(m.Style[n]["total"], s[StyleMetric(n)]) > 1e-5 {
			t.Errorf("%s: judge %v, Measure %v", n, s[StyleMetric(n)], m.Style[n]["total"])
		}
	}
	if relDiff(m.Content["total"], s[MetricContent]) > 1e-5 {
		t.Errorf("content: judge %v, Measure %v", s[MetricContent], m.Content["total"])
	}
	// A judge on other weights gives other numbers (the judge is not the optimising network in disguise).
	m0, _ := gatys.Measure(img, content, style, optimising, vgg.PoolAvg, losses.DefaultOptions())
	if relDiff(m0.Style["gram"]["total"], s[StyleMetric("gram")]) < 1e-3 {
		t.Errorf("judge gram %v equals the optimising network's %v", s[StyleMetric("gram")], m0.Style["gram"]["total"])
	}
	if !(s[MetricSSIM] > 0 && s[MetricSSIM] < 1) || !(s[MetricColourSW] > 0) || !(s[MetricFeatureSW] > 0) {
		t.Errorf("ssim %v colour_sw %v feature_sw %v", s[MetricSSIM], s[MetricColourSW], s[MetricFeatureSW])
	}

	// The style image judged against itself: every distance to the style is 0; the content image against
	// itself: SSIM 1 and content loss 0.
	self, err := j.Score(style, content, style, optimising.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{MetricColourSW, MetricFeatureSW, StyleMetric("gram"), StyleMetric("meanvar"), StyleMetric("mmd-linear")} {
		if math.Abs(self[k]) > 1e-6 {
			t.Errorf("style vs itself: %s = %v, want 0", k, self[k])
		}
	}
	c, err := j.Score(content, content, style, optimising.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(c[MetricSSIM]-1) > 1e-12 || c[MetricContent] != 0 {
		t.Errorf("content vs itself: ssim %v content %v", c[MetricSSIM], c[MetricContent])
	}
	// The output is closer to the content than the style image is, and closer to the style than the content is.
	if !(s[MetricSSIM] > self[MetricSSIM]) || !(s[MetricColourSW] < c[MetricColourSW]) {
		t.Errorf("ssim: blend %v style %v; colour_sw: blend %v content %v", s[MetricSSIM], self[MetricSSIM], s[MetricColourSW], c[MetricColourSW])
	}
}

func TestJudgeConfigErrors(t *testing.T) {
	if _, err := NewJudge(JudgeConfig{}); err == nil || !strings.Contains(err.Error(), "weights") {
		t.Errorf("no weights: %v", err)
	}
	if _, err := NewJudge(JudgeConfig{Weights: vgg.Random(1), StyleLayers: []string{"relu9_9"}}); err == nil || !strings.Contains(err.Error(), "relu9_9") {
		t.Errorf("bad layer: %v", err)
	}
	if _, err := NewJudge(JudgeConfig{Weights: vgg.Random(1), Projections: -1}); err == nil || !strings.Contains(err.Error(), "projection") {
		t.Errorf("bad projections: %v", err)
	}
	if !IsLayerMetric("judge/style/gram/relu3_1") || IsLayerMetric("judge/style/gram") || IsLayerMetric("judge/ssim") {
		t.Error("IsLayerMetric")
	}
}
