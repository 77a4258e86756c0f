package dashboard

import (
	"image/color"
	"strings"
	"testing"
)

// A training run's page has a chart of the style loss of each style (the loss terms chart), and its sample
// grids in step order (the timeline's frames); a Gatys run has no timeline.
func TestTrainingRunPage(t *testing.T) {
	path, ids := fillStore(t, []testRun{
		{name: "cin-gram", params: map[string]string{"kind": "train"}, steps: 5,
			metrics: map[string]func(int) float64{"total": decay(1), "style/starry": decay(2), "style/wave": decay(3)},
			images: map[string]color.RGBA{"samples/step-000010.png": {255, 0, 0, 255}, "samples/step-000002.png": {0, 255, 0, 255},
				"samples/step-000004.png": {0, 0, 255, 255}}},
		{name: "gram", params: map[string]string{"kind": "optimise"}, steps: 3,
			metrics: map[string]func(int) float64{"style/relu1_1": decay(1), "style/relu2_1": decay(2)}},
	})
	_, srv := openServer(t, path, Options{})
	_, body := get(t, srv, "/runs/"+ids[0])
	terms := chartData(t, body)["run-loss-terms"]
	if len(terms) != 2 || !strings.Contains(body, "Loss terms per layer and per style") {
		t.Errorf("training run page: per-style chart with %d curves, want 2 (starry, wave)", len(terms))
	}
	i2, i4, i10 := strings.Index(body, "step-000002.png"), strings.Index(body, "step-000004.png"), strings.Index(body, "step-000010.png")
	if i2 < 0 || !(i2 < i4 && i4 < i10) {
		t.Errorf("sample grids not in step order: positions %d, %d, %d", i2, i4, i10)
	}
	_, body = get(t, srv, "/runs/"+ids[1])
	if strings.Contains(body, "timeline-data") || strings.Contains(body, "Training timeline") {
		t.Error("an optimisation run without samples got a training timeline")
	}
}
