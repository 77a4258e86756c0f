package runner

import (
	"context"
	"errors"
	"fmt"

	"github.com/stylelab/stylelab/backends/backend"
	"github.com/stylelab/stylelab/backends/cpubackend"
)

// DryRunReport is what a run would need, from DryRun.
type DryRunReport struct {
	Kind     string
	Describe string // the job's short description ("cin, gram, 256 px")
	Backend  string
	// Computations are the graphs the run's first step compiles, in compile order, each with its estimate and
	// the memory check's verdict.
	Computations []cpubackend.Compiled
	// Peak is the computation with the largest estimated peak (the one that decides whether the run fits).
	Peak cpubackend.Compiled
	// ProcessBytes is the largest predicted peak resident memory of the process (MemoryEstimate.ProcessBytes).
	ProcessBytes int64
	// Available is the memory the check counts as available when Peak compiled, and Source where it comes
	// from; Available is -1 when none can be read (then every run is allowed).
	Available int64
	Source    string
	// Fits is false when some computation would be refused; Refusal is then the first refusal (its message has
	// the estimate, the limit and the largest size or batch that fits).
	Fits    bool
	Refusal *cpubackend.MemoryError
}

// DryRun drives the prepared job through its first step with the CPU backend in dry-run mode
// (cpubackend.BeginDryRun): every graph the step needs is built and compiled with the run's real shapes and its
// memory estimated, but nothing is computed (executions return zeros), nothing is recorded and no file is
// written. The job is stopped at its first step boundary. It is an error when the backend is not stylelab's CPU
// backend (the others make no estimate) or when the job compiled nothing.
func (p *Prepared) DryRun() (*DryRunReport, error) {
	if _, info, err := backend.New(); err != nil {
		return nil, err
	} else if info.Name != cpubackend.Name {
		return nil, fmt.Errorf("--dry-run estimates memory with stylelab's CPU backend, and this process uses %s: run it with GOMLX_BACKEND=cpu", info.Name)
	}
	d, err := cpubackend.BeginDryRun()
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	x := &Exec{Spec: p.Spec, Weights: p.Weights, steps: p.Job.Steps(), dry: true,
		Options: Options{Context: ctx, OnProgress: func(Progress) { cancel() }}}
	runErr := safely(func() error { // a panic is an error here, so End always runs
		_, e := p.Job.Execute(x, &Outcome{Spec: p.Spec})
		return e
	})
	compiled := d.End()
	rep := &DryRunReport{Kind: p.Spec.Kind, Describe: p.Job.Describe(), Backend: cpubackend.Name, Computations: compiled, Fits: true, Available: -1}
	var interrupted *Interrupted
	if len(compiled) == 0 {
		if runErr != nil && !errors.As(runErr, &interrupted) {
			return nil, fmt.Errorf("dry run: %w", runErr)
		}
		return nil, errors.New("dry run: the run compiled no computation, so there is nothing to estimate")
	}
	for i, c := range compiled {
		if i == 0 || c.Memory.PeakBytes > rep.Peak.Memory.PeakBytes {
			rep.Peak = c
		}
		rep.ProcessBytes = max(rep.ProcessBytes, c.Memory.ProcessBytes)
		if c.Refusal != nil && rep.Refusal == nil {
			rep.Fits, rep.Refusal = false, c.Refusal
		}
	}
	rep.Available, rep.Source = rep.Peak.Available, rep.Peak.Source
	if rep.Refusal != nil {
		rep.Available, rep.Source = rep.Refusal.Available, rep.Refusal.Source
	}
	return rep, nil
}
