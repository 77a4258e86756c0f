package runner

import (
	"strings"
	"testing"

	"github.com/stylelab/stylelab/experiments/gatys"
	"github.com/stylelab/stylelab/jobs/spec"
)

// An image too small for the deepest loss layer is refused when the run is prepared (before any run row), naming
// the layer and its minimum; shallower layers make the same size fine. Before, vgg.Features panicked mid-run.
func TestImagesTooSmallForTheLayers(t *testing.T) {
	content, style := "../../images/content/chelsea.jpg", "../../images/style/vangogh_starry_night.jpg"
	mk := func(size int, layers []string, scales []int) *spec.Spec {
		cfg := gatys.DefaultConfig()
		cfg.Size, cfg.Steps, cfg.Scales = size, 2, scales
		if layers != nil {
			cfg.StyleLayers, cfg.ContentLayers = layers, layers[len(layers)-1:]
		}
		return spec.NewOptimise("t", "small", content, []string{style}, cfg)
	}
	for _, tc := range []struct {
		sp   *spec.Spec
		want string // "" : accepted
	}{
		{mk(16, nil, nil), "too small for layer relu5_1, which needs at least 16×16"},
		{mk(16, []string{"relu1_1", "relu3_1"}, nil), ""},
		{mk(64, nil, []int{16, 64}), "at size 16, too small for layer relu5_1"},
		{mk(64, nil, nil), ""},
	} {
		_, err := Prepare(tc.sp, false, nil)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("size %d layers %v scales %v: %v", tc.sp.Optimise.Size, tc.sp.Optimise.StyleLayers, tc.sp.Optimise.Scales, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("size %d scales %v: error %v, want %q", tc.sp.Optimise.Size, tc.sp.Optimise.Scales, err, tc.want)
		}
	}
}
