package main

import (
	"encoding/json"
	"fmt"
	"io"

	"github.com/stylelab/stylelab/jobs/runner"
)

const dryRunUsage = "print the run's estimated peak memory (its graphs compiled with the real size and batch, nothing computed), the memory available and whether it fits; record nothing and write no output (exit 1 when it would not fit)"

// mb is bytes in MB (2^20) for the --dry-run report.
func mb(b int64) float64 { return float64(b) / (1 << 20) }

// printDryRun runs p dry (runner.Prepared.DryRun) and prints the estimate: the computations its first step
// compiles, the largest one's peak and input size, the process's predicted peak RSS, the memory available and
// its source, and whether it fits — as text, or as one JSON object with --json. A run that would not fit is an
// error (exit 1) with the refusal's message: the estimate, the limit and the largest size or batch that fits.
func printDryRun(p *runner.Prepared, asJSON bool, stdout io.Writer) error {
	rep, err := p.DryRun()
	if err != nil {
		return err
	}
	notFit := func() error {
		if rep.Fits {
			return nil
		}
		return fmt.Errorf("would not fit: %w", rep.Refusal)
	}
	if asJSON {
		comps := make([]map[string]any, len(rep.Computations))
		for i, c := range rep.Computations {
			comps[i] = map[string]any{"name": c.Name, "peak_bytes": c.Memory.PeakBytes, "input_bytes": c.Memory.InputBytes,
				"largest_bytes": c.Memory.Largest, "largest_op": c.Memory.LargestOp, "process_bytes": c.Memory.ProcessBytes,
				"image": c.Image, "fits": c.Refusal == nil}
		}
		o := map[string]any{"dry_run": true, "kind": rep.Kind, "describe": rep.Describe, "backend": rep.Backend,
			"computation": rep.Peak.Name, "peak_bytes": rep.Peak.Memory.PeakBytes, "input_bytes": rep.Peak.Memory.InputBytes,
			"image": rep.Peak.Image, "process_bytes": rep.ProcessBytes, "available_bytes": rep.Available,
			"available_source": rep.Source, "fits": rep.Fits, "computations": comps}
		if rep.Refusal != nil {
			o["error"] = rep.Refusal.Error()
		}
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		enc.SetEscapeHTML(false)
		if err := enc.Encode(o); err != nil {
			return err
		}
		if err := notFit(); err != nil {
			return reportedError{err}
		}
		return nil
	}
	fmt.Fprintf(stdout, "dry run of %s (%s) on the %s backend: nothing was computed, recorded or written\n", rep.Kind, rep.Describe, rep.Backend)
	for _, c := range rep.Computations {
		fmt.Fprintf(stdout, "  computation %q: peak %.0f MB beyond inputs of %.0f MB, input %v\n", c.Name, mb(c.Memory.PeakBytes), mb(c.Memory.InputBytes), c.Image)
	}
	fmt.Fprintf(stdout, "estimated peak: %.0f MB (computation %q, input [B H W C] = %v) beyond its inputs of %.0f MB\n",
		mb(rep.Peak.Memory.PeakBytes), rep.Peak.Name, rep.Peak.Image, mb(rep.Peak.Memory.InputBytes))
	if rep.ProcessBytes > 0 {
		fmt.Fprintf(stdout, "predicted peak RSS of the process: %.0f MB\n", mb(rep.ProcessBytes))
	}
	if rep.Available < 0 {
		fmt.Fprintln(stdout, "available: unknown (neither /proc/meminfo nor a cgroup limit could be read)")
	} else {
		fmt.Fprintf(stdout, "available: %.0f MB (%s)\n", mb(rep.Available), rep.Source)
	}
	if rep.Fits {
		fmt.Fprintln(stdout, "fits: yes")
		return nil
	}
	fmt.Fprintln(stdout, "fits: no")
	return notFit()
}
