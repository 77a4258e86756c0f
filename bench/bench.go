// Package bench measures stylelab's compute speed: seconds per Gatys step with Adam and with L-BFGS, the
// forward pass of the loss network, feed-forward training steps and inference (train-step, inference,
// inference-paper; see feedforward.go), peak memory, and what computed them (backend, matmul engine, CPU).
// `stylelab bench` prints its rows; bench/peer/peer.py produces the same rows with PyTorch, so the two can be
// compared on one machine in one run (`make bench-peer`).
//
// Every row times Setup.Steps steps after a compiling step and Setup.Warmup more untimed steps, and reports the
// median wall time per step (Seconds), the mean process CPU time per step (CPUSeconds) and every sample.
// Works are registered by name (Register), so rows of other kinds (e.g. feed-forward training steps and
// inference) can be added by the package that provides them without changing the command.
//
// Inputs are synthetic and deterministic (Images): the speed does not depend on what the pictures show, and the
// peer can rebuild the same pixels from the same formula (see Images). The loss network is vgg.Random(0) unless
// Setup.Weights says otherwise; the problem is gatys.DefaultConfig() at the row's size (content init, Gram loss,
// content relu4_2, style relu1_1…relu5_1, average pooling).
package bench

import (
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/stylelab/stylelab/backends/backend"
	"github.com/stylelab/stylelab/experiments/gatys"
	"github.com/stylelab/stylelab/experiments/imageio"
	"github.com/stylelab/stylelab/experiments/vgg"
)

// Row is one measurement. Seconds is the median wall time of one unit of Work (a Gatys step, a forward pass).
type Row struct {
	Work    string  `json:"work"`    // e.g. "gatys-adam", "gatys-lbfgs", "forward"
	Size    int     `json:"size"`    // images are Size×Size
	Seconds float64 `json:"seconds"` // median wall seconds per step
	// Samples are the wall seconds of each timed step, in order.
	Samples []float64 `json:"samples"`
	// CPUSeconds is the mean process CPU time (user+system, all threads) per timed step.
	CPUSeconds float64 `json:"cpu_seconds"`
	// EvalsPerStep is the mean number of loss-and-gradient evaluations per timed step (L-BFGS's line search
	// may evaluate more than once); SecondsPerEval is total timed wall time / total evaluations. 0 when not
	// applicable.
	EvalsPerStep   float64 `json:"evals_per_step,omitempty"`
	SecondsPerEval float64 `json:"seconds_per_eval,omitempty"`
	// MsPerImage is the inference rows' (inference, inference-paper) time per image in milliseconds,
	// 1000·Seconds (one timed step is one image); 0 (absent) for the other rows.
	MsPerImage float64 `json:"ms_per_image,omitempty"`
	// PeakRSSBytes is the peak resident set size (getrusage ru_maxrss) and PeakRSSScope what it covers:
	// ScopeChild (the row ran alone in a child process: the peak of that row, setup and compilation included)
	// or ScopeProcess (the peak of the whole process so far, earlier rows included).
	PeakRSSBytes int64  `json:"peak_rss_bytes"`
	PeakRSSScope string `json:"peak_rss_scope"`
	// Backend is the GoMLX backend name and config ("go (go:ops_sequential)", "xla (...)"), or the peer's
	// "pytorch-<version>".
	Backend string `json:"backend"`
	// MatmulEngine says what computes the matrix products, CoreType the BLAS core type when there is one.
	MatmulEngine string `json:"matmul_engine"`
	CoreType     string `json:"core_type,omitempty"`
	// MatmulLibrary is the shared library that computes them, if any.
	MatmulLibrary string `json:"matmul_library,omitempty"`
	CPU           string `json:"cpu"`     // CPU model name
	Threads       int    `json:"threads"` // logical CPUs available to the process
	// Loss is the total loss of the last timed step's image, for a sanity check across implementations with
	// the same weights (with different weights it only shows the computation ran).
	Loss float64 `json:"loss,omitempty"`
}

// Peak-RSS scopes.
const (
	ScopeChild   = "row (child process)"
	ScopeProcess = "process so far"
)

// Setup says what to measure.
type Setup struct {
	Size   int // image side in pixels
	Steps  int // timed steps (≥ 1)
	Warmup int // untimed steps after the first, compiling one (≥ 0)
	// Weights of the loss network; nil means vgg.Random(0).
	Weights *vgg.Weights
	// Progress, if not nil, receives one line per step.
	Progress io.Writer
}

func (s Setup) weights() *vgg.Weights {
	if s.Weights != nil {
		return s.Weights
	}
	return vgg.Random(0)
}

func (s Setup) progressf(format string, args ...any) {
	if s.Progress != nil {
		fmt.Fprintf(s.Progress, format+"\n", args...)
	}
}

// Limits on Setup's fields (checked by Validate).
const (
	MinSize  = 32   // VGG-19 to relu5_1 pools four times; 32 keeps relu5_1 at 2×2
	MaxSize  = 2048 // beyond that a step takes minutes even on a fast backend
	MaxSteps = 1000
)

// Validate checks s; errors name the field, the limits and the value.
func (s Setup) Validate() error {
	var errs []error
	if s.Size < MinSize || s.Size > MaxSize {
		errs = append(errs, fmt.Errorf("size must be between %d and %d (got %d)", MinSize, MaxSize, s.Size))
	}
	if s.Steps < 1 || s.Steps > MaxSteps {
		errs = append(errs, fmt.Errorf("steps must be between 1 and %d (got %d)", MaxSteps, s.Steps))
	}
	if s.Warmup < 0 || s.Warmup > MaxSteps {
		errs = append(errs, fmt.Errorf("warmup must be between 0 and %d (got %d)", MaxSteps, s.Warmup))
	}
	return errors.Join(errs...)
}

// Work is one kind of row. Run measures it in the calling process and fills at least Work, Size, Seconds,
// Samples and CPUSeconds; Measure fills in the rest (backend, engine, CPU, peak RSS of the process).
type Work struct {
	Name string
	Doc  string // one line: what one unit of this work is
	Run  func(s Setup) (Row, error)
	// Extra works are measured only when named (stylelab bench --work); DefaultWorkNames leaves them out.
	Extra bool
}

var (
	worksMu sync.Mutex
	works   []Work
)

// Register adds a kind of row (its name must be new). This is the hook for rows measured by other packages,
// e.g. feed-forward training steps ("train-step") and inference ("inference"): register them in an init
// function of a package the command imports.
func Register(w Work) {
	worksMu.Lock()
	defer worksMu.Unlock()
	for _, have := range works {
		if have.Name == w.Name {
			panic("bench: work " + w.Name + " registered twice")
		}
	}
	works = append(works, w)
}

// Works returns the registered kinds of row, in registration order.
func Works() []Work {
	worksMu.Lock()
	defer worksMu.Unlock()
	return slices.Clone(works)
}

// WorkNames returns the names of Works.
func WorkNames() []string {
	var names []string
	for _, w := range Works() {
		names = append(names, w.Name)
	}
	return names
}

// DefaultWorkNames returns the names of the Works that are not Extra: what `stylelab bench` measures unless
// --work says otherwise (the Gatys rows, which the PyTorch peer also produces).
func DefaultWorkNames() []string {
	var names []string
	for _, w := range Works() {
		if !w.Extra {
			names = append(names, w.Name)
		}
	}
	return names
}

// Lookup returns the work called name, or an error listing the valid names.
func Lookup(name string) (Work, error) {
	for _, w := range Works() {
		if w.Name == name {
			return w, nil
		}
	}
	return Work{}, fmt.Errorf("unknown work %q: use %s", name, strings.Join(WorkNames(), ", "))
}

func init() {
	Register(Work{Name: "gatys-adam", Doc: "one Adam step of Gatys optimisation (forward, losses, backward, update)", Run: runAdam})
	Register(Work{Name: "gatys-lbfgs", Doc: "one L-BFGS iteration of Gatys optimisation (its line search may evaluate the loss and gradient more than once)", Run: runLBFGS})
	Register(Work{Name: "forward", Doc: "the loss network's forward pass alone: VGG-19 features relu1_1…relu5_1 and relu4_2 of one image", Run: runForward})
	Register(Work{Name: "train-step", Doc: "one Adam training step of the cpu preset's 2-style CIN network on Size×Size crops, batch 2 (feed-forward)", Run: runTrainStep, Extra: true})
	Register(Work{Name: "train-step-paper", Doc: "one Adam training step of the papers' CIN network (transformer.Paper, VGG to relu4_1, gpu preset) on Size×Size crops, batch 4, 2 styles", Run: runTrainStepPaper, Extra: true})
	Register(Work{Name: "inference", Doc: "one Size×Size image through the cpu preset's 2-style CIN network (also reported as ms_per_image)", Run: runInferenceCPU, Extra: true})
	Register(Work{Name: "inference-paper", Doc: "one Size×Size image through the paper's network, transformer.Paper(2) (also ms_per_image)", Run: runInferencePaper, Extra: true})
}

// Measure runs the work in this process, validates the row (every time positive and finite) and completes it
// with the backend, engine, CPU and the process's peak RSS so far.
func Measure(w Work, s Setup) (Row, error) {
	if err := s.Validate(); err != nil {
		return Row{}, err
	}
	row, err := w.Run(s)
	if err != nil {
		return row, fmt.Errorf("bench %s at %d px: %w", w.Name, s.Size, err)
	}
	row.Work, row.Size = w.Name, s.Size
	fillMachine(&row)
	row.PeakRSSBytes, row.PeakRSSScope = selfMaxRSS(), ScopeProcess
	if err := row.Check(); err != nil {
		return row, fmt.Errorf("bench %s at %d px: %w", w.Name, s.Size, err)
	}
	return row, nil
}

// Check reports a row whose times are not positive and finite, or that lacks its identification.
func (r Row) Check() error {
	bad := func(v float64) bool { return !(v > 0) || math.IsInf(v, 0) }
	switch {
	case r.Work == "" || r.Backend == "":
		return fmt.Errorf("row without work or backend: %+v", r)
	case r.Size <= 0:
		return fmt.Errorf("row %s: size %d", r.Work, r.Size)
	case bad(r.Seconds):
		return fmt.Errorf("row %s: seconds per step %v is not a positive finite number", r.Work, r.Seconds)
	case len(r.Samples) == 0:
		return fmt.Errorf("row %s: no timed samples", r.Work)
	case r.EvalsPerStep != 0 && (bad(r.EvalsPerStep) || bad(r.SecondsPerEval)):
		return fmt.Errorf("row %s: evaluations per step %v, seconds per evaluation %v", r.Work, r.EvalsPerStep, r.SecondsPerEval)
	case r.MsPerImage != 0 && bad(r.MsPerImage):
		return fmt.Errorf("row %s: ms per image %v is not a positive finite number", r.Work, r.MsPerImage)
	}
	for _, v := range r.Samples {
		if bad(v) {
			return fmt.Errorf("row %s: sample %v is not a positive finite number", r.Work, v)
		}
	}
	return nil
}

// Images returns the synthetic content and style images of a size×size row, RGB in [0,1]:
//
//	content[y,x,c] = 0.5 + 0.4·sin(2π·(x/W·(c+1) + y/H)) · cos(2π·y/H·(3−c)/2)
//	style[y,x,c]   = 0.5 + 0.45·sin(2π·(8·(x+y)/W + c/3)) · sin(2π·3·x/W)
//
// with x, y the pixel column and row (0-based), c = 0, 1, 2 for R, G, B. The peer computes the same formula.
func Images(size int) (content, style *imageio.Image) {
	content, style = imageio.New(size, size), imageio.New(size, size)
	w, h := float64(size), float64(size)
	for y := range size {
		for x := range size {
			for c := range 3 {
				fx, fy, fc := float64(x), float64(y), float64(c)
				i := (y*size+x)*3 + c
				content.Pix[i] = float32(0.5 + 0.4*math.Sin(2*math.Pi*(fx/w*(fc+1)+fy/h))*math.Cos(2*math.Pi*fy/h*(3-fc)/2))
				style.Pix[i] = float32(0.5 + 0.45*math.Sin(2*math.Pi*(8*(fx+fy)/w+fc/3))*math.Sin(2*math.Pi*3*fx/w))
			}
		}
	}
	return content, style
}

// Config returns the Gatys configuration of a row: gatys.DefaultConfig() at the given size, optimizer and steps.
func Config(size int, optimizer string, steps int) gatys.Config {
	cfg := gatys.DefaultConfig()
	cfg.Size, cfg.Optimizer, cfg.Steps = size, optimizer, steps
	return cfg
}

// stepTimer records wall and CPU time per reported step.
type stepTimer struct {
	reports []gatys.StepReport
	cpu     []float64 // process CPU seconds when each report arrived
}

func (t *stepTimer) onStep(s Setup, what string) func(gatys.StepReport) error {
	return func(r gatys.StepReport) error {
		t.reports = append(t.reports, r)
		t.cpu = append(t.cpu, cpuSeconds())
		s.progressf("bench %s %dpx: step %d %.3fs (evals %d, loss %.6g)", what, s.Size, r.Step, r.StepTime.Seconds(), r.Evals, r.Total)
		return nil
	}
}

// timed fills the row from the reports with from ≤ Step ≤ to.
func (t *stepTimer) timed(row *Row, from, to int) error {
	var cpu, evals, wall float64
	for i, r := range t.reports {
		if r.Step < from || r.Step > to {
			continue
		}
		row.Samples = append(row.Samples, r.StepTime.Seconds())
		wall += r.StepTime.Seconds()
		evals += float64(r.Evals)
		if i > 0 {
			cpu += t.cpu[i] - t.cpu[i-1]
		}
		row.Loss = r.Total
	}
	n := len(row.Samples)
	if n == 0 {
		return fmt.Errorf("no step between %d and %d was reported (%d reports)", from, to, len(t.reports))
	}
	row.Seconds = median(row.Samples)
	row.CPUSeconds = cpu / float64(n)
	if evals > 0 {
		row.EvalsPerStep = evals / float64(n)
		row.SecondsPerEval = wall / evals
	}
	return nil
}

// runAdam: gatys.Run with Adam. Its reports: step 0 is the first execution (compilation included), steps
// 1…Steps−1 are one update each, the last report is a forward-only evaluation (another compiled graph). The
// timed steps are 1+Warmup … Steps−1, so the run has Steps = Warmup + s.Steps + 1.
func runAdam(s Setup) (Row, error) {
	content, style := Images(s.Size)
	cfg := Config(s.Size, "adam", s.Warmup+s.Steps+1)
	var t stepTimer
	if _, err := gatys.Run(cfg, content, []*imageio.Image{style}, s.weights(), t.onStep(s, "gatys-adam")); err != nil {
		return Row{}, err
	}
	var row Row
	err := t.timed(&row, 1+s.Warmup, cfg.Steps-1)
	row.EvalsPerStep, row.SecondsPerEval = 0, 0 // one evaluation per step by construction
	return row, err
}

// runLBFGS: gatys.Run with L-BFGS. Step 0 is the first loss-and-gradient evaluation (compilation included);
// steps 1…Steps are iterations. Timed: 1+Warmup … Steps, so Steps = Warmup + s.Steps.
func runLBFGS(s Setup) (Row, error) {
	content, style := Images(s.Size)
	cfg := Config(s.Size, "lbfgs", s.Warmup+s.Steps)
	var t stepTimer
	res, err := gatys.Run(cfg, content, []*imageio.Image{style}, s.weights(), t.onStep(s, "gatys-lbfgs"))
	if err != nil {
		return Row{}, err
	}
	if res.StoppedEarly != "" {
		return Row{}, fmt.Errorf("L-BFGS stopped before the timed steps: %s", res.StoppedEarly)
	}
	var row Row
	return row, t.timed(&row, 1+s.Warmup, cfg.Steps)
}

// runForward times the loss network's forward pass on the content image: the VGG-19 features of the layers a
// Gatys step uses (the union of the default content and style layers), 1 + Warmup untimed executions first.
func runForward(s Setup) (Row, error) {
	b, _, err := backend.New()
	if err != nil {
		return Row{}, err
	}
	content, _ := Images(s.Size)
	layers := append(slices.Clone(gatys.DefaultContentLayers), gatys.DefaultStyleLayers...)
	w := s.weights()
	ctx := context.New()
	e, err := context.NewExec(b, ctx, func(ctx *context.Context, x *graph.Node) []*graph.Node {
		f := vgg.Features(ctx, w, vgg.PoolAvg, x, layers)
		out := make([]*graph.Node, len(layers))
		for i, l := range layers {
			out[i] = f[l]
		}
		return out
	})
	if err != nil {
		return Row{}, err
	}
	defer e.Finalize()
	in := content.Tensor()
	defer in.FinalizeAll()
	var row Row
	var cpu float64
	for i := range 1 + s.Warmup + s.Steps {
		c0, t0 := cpuSeconds(), time.Now()
		outs, err := e.Exec(in)
		if err != nil {
			return Row{}, err
		}
		dt := time.Since(t0).Seconds()
		// Read one value back so that the whole computation is known to be done.
		if err := tensors.ConstFlatData(outs[len(outs)-1], func(f []float32) { row.Loss = float64(len(f)) }); err != nil {
			return Row{}, err
		}
		for _, o := range outs {
			o.FinalizeAll()
		}
		s.progressf("bench forward %dpx: pass %d %.3fs", s.Size, i, dt)
		if i >= 1+s.Warmup {
			row.Samples = append(row.Samples, dt)
			cpu += cpuSeconds() - c0
		}
	}
	row.Loss = 0
	row.Seconds = median(row.Samples)
	row.CPUSeconds = cpu / float64(len(row.Samples))
	return row, nil
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	sort.Float64s(s)
	n := len(s)
	if n == 0 {
		return math.NaN()
	}
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// cpuSeconds returns the user+system CPU time of this process so far.
func cpuSeconds() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

// selfMaxRSS returns this process's peak RSS in bytes (Linux reports ru_maxrss in KiB).
func selfMaxRSS() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Maxrss * 1024
}

// fillMachine sets the backend, matmul engine, CPU and thread count of a row.
func fillMachine(r *Row) {
	info := backendInfo()
	r.Backend = info.Name + " (" + info.Config + ")"
	r.MatmulEngine, r.CoreType = matmulEngine(info)
	r.CPU = CPUModel()
	if info.Matmul != nil {
		r.MatmulLibrary = info.Matmul.Library
		if info.Matmul.CPU != "" {
			r.CPU = info.Matmul.CPU
		}
	}
	r.Threads = runtimeCPUs()
}

// CPUModel returns the "model name" line of /proc/cpuinfo, or "unknown".
func CPUModel() string {
	data, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "unknown"
	}
	for _, line := range strings.Split(string(data), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown"
}
