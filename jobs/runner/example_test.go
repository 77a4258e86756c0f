package runner_test

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/stylelab/stylelab/experiments/gatys"
	"github.com/stylelab/stylelab/experiments/vgg"
	"github.com/stylelab/stylelab/jobs/runner"
	"github.com/stylelab/stylelab/jobs/spec"
	"github.com/stylelab/stylelab/tracker"
)

// Run a spec: a tiny Gatys optimisation recorded in a tracker store, its output written, then rerun from the
// store and compared.
func ExampleRun() {
	dir, _ := os.MkdirTemp("", "stylelab-example-")
	defer os.RemoveAll(dir)
	st, err := tracker.Open(filepath.Join(dir, "runs.db"))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer st.Close()

	cfg := gatys.DefaultConfig()
	cfg.Size, cfg.Steps, cfg.Seed = 32, 2, 1
	cfg.StyleLayers, cfg.ContentLayers = []string{"relu1_1", "relu2_1"}, []string{"relu2_1"}
	sp := spec.NewOptimise("examples", "tiny", "../../images/content/chelsea.jpg",
		[]string{"../../images/style/vangogh_starry_night.jpg"}, cfg)
	sp.Output = filepath.Join(dir, "out.png")

	out, err := runner.Run(sp, runner.Options{Store: st})
	if err != nil {
		fmt.Println(err)
		return
	}
	info, _ := st.GetRun(out.RunID)
	fmt.Println(info.Status, info.Params["kind"], info.Params["loss"], info.Params["steps"])
	fmt.Println("output written:", out.OutputWritten, out.Image.W, "px wide")

	v, err := runner.Rerun(st, out.RunID, runner.RerunOptions{})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("rerun:", v.Verdict)
	// Output:
	// FINISHED optimise gram 2
	// output written: true 32 px wide
	// rerun: identical
}

// countKind is a minimal run kind: it counts to its section's value, one step each, logging metric "n".
type countKind struct{}

type countJob struct{ to int }

func (countKind) Prepare(sp *spec.Spec, _ *vgg.Weights, _ runner.InputPolicy) (runner.Job, error) {
	return countJob{to: int(sp.Seed)}, nil
}
func (j countJob) Name() string     { return "count" }
func (j countJob) Describe() string { return fmt.Sprintf("counting to %d", j.to) }
func (j countJob) Params() (map[string]string, error) {
	return map[string]string{"to": fmt.Sprint(j.to)}, nil
}
func (j countJob) Steps() int { return j.to }
func (j countJob) Execute(x *runner.Exec, _ *runner.Outcome) (runner.Result, error) {
	for i := 1; i <= j.to; i++ {
		x.Step(runner.Progress{Step: i, Metrics: map[string]float64{"n": float64(i)}})
		if err := x.Stop(i); err != nil { // SIGINT/SIGTERM (Options.StopOnSignal) end the run here, KILLED
			return runner.Result{}, err
		}
	}
	return runner.Result{}, nil
}

// Register both sides of a kind from an init function, as every kind does (a second registration of a name
// panics): the spec side (how its section resolves, what of it enters the key) and its execution.
func init() {
	spec.RegisterKind(spec.KindSpec{Name: "count",
		Resolve: func(s *spec.Spec) error {
			if s.Seed == 0 {
				return fmt.Errorf(`spec: kind count needs "seed" ≥ 1 (what to count to)`)
			}
			return nil
		},
		Section: func(s *spec.Spec) any { return s.Seed }})
	runner.Register("count", countKind{})
}

// Adding a run kind: countKind, registered above from init (spec.RegisterKind and runner.Register), runs
// through the shell like every other kind — params, spec.json, a metric per step, status — and can be rerun
// and compared.
func ExampleRegister() {
	dir, _ := os.MkdirTemp("", "stylelab-example-")
	defer os.RemoveAll(dir)
	st, _ := tracker.Open(filepath.Join(dir, "runs.db"))
	defer st.Close()
	out, err := runner.Run(&spec.Spec{Version: spec.Version, Kind: "count", Experiment: "examples", Seed: 3},
		runner.Options{Store: st, OnProgress: func(p runner.Progress) { fmt.Printf("step %d/%d\n", p.Step, p.Steps) }})
	if err != nil {
		fmt.Println(err)
		return
	}
	info, _ := st.GetRun(out.RunID)
	fmt.Println(info.Name, info.Status, info.Params["to"], info.Params["kind"])
	v, _ := runner.Rerun(st, out.RunID, runner.RerunOptions{})
	fmt.Println("rerun:", v.Verdict, v.Points, "points")
	// Output:
	// step 1/3
	// step 2/3
	// step 3/3
	// count FINISHED 3 count
	// rerun: identical 3 points
}
