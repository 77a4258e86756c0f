package gatys

import (
	"reflect"
	"testing"

	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:staticcheck // GoMLX code reads best with the graph ops unqualified.
	"github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/stylelab/stylelab/backends/backend"
	"github.com/stylelab/stylelab/experiments/imageio"
)

// sampledConfig is a style-only mmd-gauss optimisation of a 16 px image on relu1_1 (M = 256 positions) that
// always uses the sampled estimator with K = 16 positions per step.
func sampledConfig(steps int) Config {
	c := DefaultConfig()
	c.Size, c.Steps, c.Init, c.Seed = 16, steps, "noise", 3
	c.Loss = "mmd-gauss"
	c.LossOptions.GaussExactMax, c.LossOptions.GaussSamples = 1, 16
	c.StyleLayers, c.ContentLayers = []string{"relu1_1"}, []string{"relu1_1"}
	c.ContentWeight, c.TVWeight = new(0.0), new(0.0)
	return c
}

// With the sampled mmd-gauss estimator the positions are drawn again at every step, so over a handful of Adam
// steps every pixel of the image receives gradient from the style loss. (With positions fixed once, 16 of 256
// positions and their 3×3 neighbourhoods — at most 144 pixels — would ever move.)
func TestSampledStyleLossReachesEveryPixel(t *testing.T) {
	skipShort(t)
	content, style := load(t, chelsea, 16), load(t, starry, 16)
	cfg := sampledConfig(24)
	var first *imageio.Image
	res, err := Run(cfg, content, []*imageio.Image{style}, weights(), nil)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := cfg.Resolve(1)
	first, err = initialImage(c, content, []*imageio.Image{style})
	if err != nil {
		t.Fatal(err)
	}
	still := 0
	for p := 0; p < first.W*first.H; p++ {
		moved := false
		for ch := 0; ch < 3; ch++ {
			if res.Image.Pix[p*3+ch] != first.Pix[p*3+ch] {
				moved = true
			}
		}
		if !moved {
			still++
		}
	}
	if still > 0 {
		t.Fatalf("%d of %d pixels never received gradient in %d steps", still, first.W*first.H, cfg.Steps)
	}
}

// The mechanism, position by position: the positions are inputs of one compiled executable, fed new values every
// step; over a handful of steps every position of the layer receives gradient from the sampled loss, where one
// step reaches only some of them.
func TestSampledPositionsChangeEveryStepWithoutRecompiling(t *testing.T) {
	for _, loss := range []string{"mmd-gauss", "mmd-poly"} {
		t.Run(loss, func(t *testing.T) { testPositionsReached(t, loss) })
	}
}

// testPositionsReached runs the check of TestSampledPositionsChangeEveryStepWithoutRecompiling for one loss
// (mmd-poly with degree 3, which samples; degree 2 has an exact closed form).
func testPositionsReached(t *testing.T, loss string) {
	content, style := load(t, chelsea, 16), load(t, starry, 16)
	c := sampledConfig(1)
	c.Loss, c.LossOptions.PolyDegree = loss, 3
	c.LossOptions.GaussSamples = 128 // of 176 positions: one step reaches about half of them
	cfg, err := c.Resolve(1)
	if err != nil {
		t.Fatal(err)
	}
	b, _, err := backend.New()
	if err != nil {
		t.Fatal(err)
	}
	p, err := newProblem(b, cfg, weights(), content, []*imageio.Image{style}, nil)
	if err != nil {
		t.Fatal(err)
	}
	fs, err := features(b, p.ctx, weights(), cfg.Pool, content, []string{"relu1_1"})
	if err != nil {
		t.Fatal(err)
	}
	grad, err := context.NewExec(b, p.ctx, func(ctx *context.Context, F *Node) *Node {
		loss := p.styleTerm(0, 0, F, p.styleT[0][0].ValueGraph(F.Graph()), nil)
		return Gradient(loss, F)[0]
	})
	if err != nil {
		t.Fatal(err)
	}
	defer grad.Finalize()
	dims := fs[0].Shape().Dimensions
	m, n := dims[1]*dims[2], dims[3]
	reached := make([]bool, m)
	var graph0 *Graph
	const steps = 10
	for step := 1; step <= steps; step++ {
		if err := p.resample(step); err != nil {
			t.Fatal(err)
		}
		outs, g, err := grad.ExecWithGraph(fs[0])
		if err != nil {
			t.Fatal(err)
		}
		if graph0 == nil {
			graph0 = g
		} else if g != graph0 {
			t.Fatalf("step %d compiled a new graph: new positions must be inputs of the same executable", step)
		}
		if !p.sampling() {
			t.Fatal("the loss does not sample: the test's configuration is wrong")
		}
		gv, err := flat32(outs[0])
		if err != nil {
			t.Fatal(err)
		}
		now := 0
		for pos := 0; pos < m; pos++ {
			for c := 0; c < n; c++ {
				if gv[pos*n+c] != 0 {
					if !reached[pos] {
						now++
					}
					reached[pos] = true
					break
				}
			}
		}
		count := 0
		for _, r := range reached {
			if r {
				count++
			}
		}
		t.Logf("step %d: %d new positions, %d of %d reached", step, now, count, m)
		if step == 1 && count == m {
			t.Fatal("one step reached every position: the test cannot tell sampling from the exact loss")
		}
		if step == steps && count != m {
			t.Fatalf("after %d steps %d of %d positions never received gradient", steps, m-count, m)
		}
	}
}

// L-BFGS with a sampled loss re-evaluates each iteration's starting point under the new positions (one more
// evaluation per step), and sampled runs are reproducible bit for bit.
func TestSampledRunsAreDeterministic(t *testing.T) {
	skipShort(t)
	content, style := load(t, chelsea, 16), load(t, starry, 16)
	for _, opt := range Optimizers {
		cfg := sampledConfig(3)
		cfg.Optimizer = opt
		var evals []int
		a, err := Run(cfg, content, []*imageio.Image{style}, weights(), func(r StepReport) error {
			evals = append(evals, r.Evals)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		b, err := Run(cfg, content, []*imageio.Image{style}, weights(), nil)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(a.Image.Pix, b.Image.Pix) {
			t.Fatalf("%s: two runs with the same seed differ", opt)
		}
		for i, e := range evals[1:] {
			if opt == "lbfgs" && e < 2 || opt == "adam" && e != 1 {
				t.Fatalf("%s step %d: %d evaluations", opt, i+1, e)
			}
		}
	}
}
