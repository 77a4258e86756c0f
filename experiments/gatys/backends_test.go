package gatys

import (
	"math"
	"testing"
	"time"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/backends/simplego"
	"github.com/stylelab/stylelab/backends/cpubackend"
	"github.com/stylelab/stylelab/experiments/imageio"
)

// TestCPUBackendMatchesSimplego runs the same Adam and L-BFGS Gatys steps (32², seeded random VGG-19) on
// stylelab's CPU backend and on GoMLX's simplego and compares every step's loss terms (relative 1e-4) and the final
// pixels (mean |Δ| ≤ 1e-4, max |Δ| ≤ 2e-3: an Adam step moves a pixel by about ±lr whatever the gradient's size,
// so a gradient component near 0 whose float32 rounding differs between the engines may move differently).
func TestCPUBackendMatchesSimplego(t *testing.T) {
	skipShort(t)
	cpu, err := cpubackend.New("")
	if err != nil {
		t.Fatal(err)
	}
	ref, err := simplego.New("ops_sequential")
	if err != nil {
		t.Fatal(err)
	}
	content, style := load(t, chelsea, 32), load(t, starry, 32)
	for _, opt := range []string{"adam", "lbfgs"} {
		t.Run(opt, func(t *testing.T) {
			cfg, err := smallConfig(opt, 3).Resolve(1)
			if err != nil {
				t.Fatal(err)
			}
			run := func(b backends.Backend) (*Result, []StepReport) {
				c, s, err := resizeInputs(cfg.Size, content, []*imageio.Image{style})
				if err != nil {
					t.Fatal(err)
				}
				init, err := initialImage(cfg, c, s)
				if err != nil {
					t.Fatal(err)
				}
				p, err := newProblem(b, cfg, weights(), c, s, nil)
				if err != nil {
					t.Fatal(err)
				}
				var reps []StepReport
				res := &Result{Config: cfg}
				r := &runner{p: p, cfg: cfg, res: res, start: time.Now(), onStep: func(s StepReport) error { reps = append(reps, s); return nil }}
				if opt == "adam" {
					err = r.adam(init)
				} else {
					err = r.lbfgs(init)
				}
				if err != nil {
					t.Fatalf("%s: %v", b.Name(), err)
				}
				return res, reps
			}
			got, gotReps := run(cpu)
			want, wantReps := run(ref)
			if len(gotReps) != len(wantReps) || len(wantReps) < 3 {
				t.Fatalf("%d step reports on cpu, %d on simplego", len(gotReps), len(wantReps))
			}
			for i := range wantReps {
				g, w := gotReps[i], wantReps[i]
				for _, term := range []struct {
					name string
					g, w float64
				}{{"total", g.Total, w.Total}, {"content", g.Content, w.Content}, {"style", g.Style, w.Style}, {"tv", g.TV, w.TV}} {
					if d := math.Abs(term.g - term.w); !(d <= 1e-4*math.Abs(term.w)) {
						t.Errorf("step %d %s: cpu %v, simplego %v (relative %.2g)", g.Step, term.name, term.g, term.w, d/math.Abs(term.w))
					}
				}
			}
			sum, worst := 0.0, 0.0
			for i := range want.Image.Pix {
				d := math.Abs(float64(got.Image.Pix[i] - want.Image.Pix[i]))
				sum += d
				worst = max(worst, d)
			}
			mean := sum / float64(len(want.Image.Pix))
			t.Logf("%s: last total cpu %v simplego %v; pixels mean |Δ| %.2g, max |Δ| %.2g", opt, got.Last.Total, want.Last.Total, mean, worst)
			if mean > 1e-4 || worst > 2e-3 {
				t.Errorf("%s: final pixels differ: mean |Δ| %.3g (≤ 1e-4), max |Δ| %.3g (≤ 2e-3)", opt, mean, worst)
			}
		})
	}
}
