package runner

import (
	"path/filepath"
	"testing"

	"github.com/stylelab/stylelab/experiments/gatys"
)

// Every step's number of loss evaluations is logged ("evals", and the running total "evals_total"), so Adam and
// L-BFGS runs compare on cost: Adam evaluates once per step, L-BFGS once per line-search trial.
func TestMetricsRecordEvaluations(t *testing.T) {
	if testing.Short() {
		t.Skip("optimisation runs: skipped with -short")
	}
	st := openStore(t)
	for _, opt := range []string{"adam", "lbfgs"} {
		sp := tinySpec(t, t.TempDir())
		sp.Optimise.Optimizer = opt
		var reports []gatys.StepReport
		out, err := Run(sp, Options{Store: st, OnStep: func(r gatys.StepReport) { reports = append(reports, r) }})
		if err != nil {
			t.Fatal(err)
		}
		per, err := st.History(out.RunID, "evals")
		if err != nil {
			t.Fatal(err)
		}
		total, err := st.History(out.RunID, "evals_total")
		if err != nil {
			t.Fatal(err)
		}
		if len(per) != len(reports) || len(total) != len(reports) {
			t.Fatalf("%s: %d evals points, %d evals_total points for %d steps", opt, len(per), len(total), len(reports))
		}
		sum := 0.0
		for i, r := range reports {
			sum += float64(r.Evals)
			if per[i].Step != int64(r.Step) || per[i].Value != float64(r.Evals) || total[i].Value != sum {
				t.Fatalf("%s step %d: evals %v, total %v; want %d, %g", opt, r.Step, per[i], total[i], r.Evals, sum)
			}
			if opt == "adam" && r.Evals != 1 || r.Evals < 1 {
				t.Fatalf("%s step %d: %d evaluations", opt, r.Step, r.Evals)
			}
		}
		info, err := st.GetRun(out.RunID)
		if err != nil {
			t.Fatal(err)
		}
		_, hasLR := info.Params["learning_rate"]
		if opt == "lbfgs" && hasLR {
			t.Fatalf("an L-BFGS run records the learning rate it does not use: %v", info.Params)
		}
	}
}

// Style weight 0 is content-only reconstruction: the style images have no effect at all, so runs with different
// style images give the same bytes, and from noise the content loss falls.
func TestStyleWeightZeroIsContentOnly(t *testing.T) {
	if testing.Short() {
		t.Skip("optimisation runs: skipped with -short")
	}
	dir := t.TempDir()
	var outs [][]byte
	for i, style := range []string{"style/vangogh_starry_night.jpg", "style/munch_scream.jpg"} {
		sp := tinySpec(t, dir)
		sp.Inputs.Styles[0].Path = filepath.Join("..", "..", "images", style)
		sp.Optimise.Init = "noise"
		sp.Optimise.StyleWeight = new(0.0)
		out, err := Run(sp, Options{})
		if err != nil {
			t.Fatal(err)
		}
		res := out.Result
		if *res.Config.StyleWeight != 0 {
			t.Fatalf("style weight resolved to %g, want 0", *res.Config.StyleWeight)
		}
		if res.Last.Style == 0 {
			t.Fatal("the style loss is still measured (reported), only not optimised: want it non-zero")
		}
		if want := *res.Config.ContentWeight*res.Last.Content + *res.Config.TVWeight*res.Last.TV; res.Last.Total != float64(float32(want)) && abs(res.Last.Total-want) > 1e-6*want {
			t.Fatalf("run %d: total %g, want content + TV only (%g)", i, res.Last.Total, want)
		}
		if !(res.Last.Content < res.First.Content) {
			t.Fatalf("run %d: content loss %g → %g did not fall", i, res.First.Content, res.Last.Content)
		}
		outs = append(outs, out.OutputPNG)
	}
	if string(outs[0]) != string(outs[1]) {
		t.Fatal("with style weight 0 the output depends on the style image")
	}
}

func abs(x float64) float64 {
	if x < 0 {
		return -x
	}
	return x
}
