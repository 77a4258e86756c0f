package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/stylelab/stylelab/bench"
	"github.com/stylelab/stylelab/experiments/vgg"
)

func init() {
	register(&command{name: "bench", summary: "measure seconds per Gatys step (Adam, L-BFGS), forward time, feed-forward train step and inference, peak memory", run: runBench})
}

const benchUsage = `usage: stylelab bench [--json] [--sizes 64,128,256] [--steps N] [--warmup N] [--work LIST] [--in-process]
       stylelab bench --export-check DIR [--sizes N]

Measures, per size and work, the median wall seconds of one step after a compiling step and --warmup more,
on the process backend (see 'stylelab doctor'). Each row runs in a child process of this command, so its peak
RSS is that row's alone; --in-process runs rows in this process instead (peak RSS is then the process's so far).
Progress goes to stderr; the table (or with --json a JSON array of rows) to stdout.
--work defaults to the Gatys rows (gatys-adam, gatys-lbfgs, forward: what the PyTorch peer also measures); the
feed-forward rows (train-step, inference, inference-paper; marked "extra" below) run when named, e.g.
--work train-step,inference,inference-paper. Inference rows also print MS/IMAGE (JSON ms_per_image); their
S/STEP is seconds per image.
--export-check DIR writes the loss network, inputs and stylelab's loss values of a short run, for
bench/peer/peer.py --check.

works:
`

func runBench(args []string) error {
	fs := newFlags("bench")
	asJSON := fs.Bool("json", false, "print a JSON array of rows instead of a table")
	sizesFlag := fs.String("sizes", "64,128,256", "comma-separated image sizes in pixels (square images)")
	steps := fs.Int("steps", 3, "timed steps per row (the median is reported)")
	warmup := fs.Int("warmup", 1, "untimed steps after the first (compiling) one")
	workFlag := fs.String("work", strings.Join(bench.DefaultWorkNames(), ","), "comma-separated works to measure (see works below)")
	inProcess := fs.Bool("in-process", false, "run every row in this process (peak RSS is then the process's peak so far)")
	weights := fs.String("weights", "", "VGG-19 weights (safetensors, torchvision layout); default $"+vgg.EnvWeights+", else seeded random")
	exportDir := fs.String("export-check", "", "write the peer's --check inputs and stylelab's losses into this folder and exit")
	row := fs.String("row", "", "internal: measure one WORK:SIZE row in this process and print it as JSON")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), benchUsage)
		for _, w := range bench.Works() {
			extra := ""
			if w.Extra {
				extra = " (extra: only when named in --work)"
			}
			fmt.Fprintf(fs.Output(), "  %-15s %s%s\n", w.Name, w.Doc, extra)
		}
		fmt.Fprintln(fs.Output(), "\nflags:")
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("unexpected arguments %q: bench takes only flags (see stylelab bench -h)", fs.Args())
	}
	sizes, err := parseSizes(*sizesFlag)
	if err != nil {
		return err
	}
	works, err := parseWorks(*workFlag)
	if err != nil {
		return err
	}
	for _, s := range sizes {
		if err := (bench.Setup{Size: s, Steps: *steps, Warmup: *warmup}).Validate(); err != nil {
			return usagef("%v", err)
		}
	}
	w, err := vgg.FromEnvOrRandom(*weights, 0)
	if err != nil {
		return err
	}

	if *exportDir != "" {
		if len(sizes) != 1 {
			return usagef("--export-check takes one size (--sizes N), got %v", sizes)
		}
		c, err := bench.ExportCheck(*exportDir, sizes[0], w)
		if err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "wrote %s: weights.safetensors, inputs.safetensors, expected.json (%d px, step 0 total %.6g)\n",
			*exportDir, c.Size, c.Steps[0].Total)
		return nil
	}

	if *row != "" { // child mode
		name, sizeText, ok := strings.Cut(*row, ":")
		size, err := strconv.Atoi(sizeText)
		if !ok || err != nil {
			return usagef("--row must be WORK:SIZE, got %q", *row)
		}
		work, err := bench.Lookup(name)
		if err != nil {
			return usagef("%v", err)
		}
		r, err := bench.Measure(work, bench.Setup{Size: size, Steps: *steps, Warmup: *warmup, Weights: w, Progress: os.Stderr})
		if err != nil {
			return err
		}
		return json.NewEncoder(os.Stdout).Encode(r)
	}

	exe, err := os.Executable()
	if err != nil && !*inProcess {
		return fmt.Errorf("cannot find this program to run rows in child processes (%v): use --in-process", err)
	}
	var rows []bench.Row
	for _, size := range sizes {
		for _, work := range works {
			fmt.Fprintf(os.Stderr, "bench: %s at %d px (%d timed steps after %d warm-up)…\n", work.Name, size, *steps, *warmup)
			var r bench.Row
			if *inProcess {
				r, err = bench.Measure(work, bench.Setup{Size: size, Steps: *steps, Warmup: *warmup, Weights: w, Progress: os.Stderr})
			} else {
				childArgs := []string{"bench", "--row", fmt.Sprintf("%s:%d", work.Name, size),
					"--steps", strconv.Itoa(*steps), "--warmup", strconv.Itoa(*warmup)}
				if *weights != "" {
					childArgs = append(childArgs, "--weights", *weights)
				}
				r, err = bench.RunChild(exe, childArgs, os.Environ(), os.Stderr)
			}
			if err != nil {
				return err
			}
			fmt.Fprintf(os.Stderr, "bench: %s at %d px: %.4g s/step\n", work.Name, size, r.Seconds)
			rows = append(rows, r)
		}
	}
	if *asJSON {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rows)
	}
	printBenchTable(os.Stdout, rows)
	return nil
}

func parseSizes(s string) ([]int, error) {
	var sizes []int
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		n, err := strconv.Atoi(f)
		if err != nil {
			return nil, usagef("--sizes must be comma-separated integers like 64,128,256 (got %q)", s)
		}
		if n < bench.MinSize || n > bench.MaxSize {
			return nil, usagef("--sizes: each size must be between %d and %d (got %d)", bench.MinSize, bench.MaxSize, n)
		}
		sizes = append(sizes, n)
	}
	if len(sizes) == 0 {
		return nil, usagef("--sizes is empty: give at least one size, e.g. --sizes 128")
	}
	return sizes, nil
}

func parseWorks(s string) ([]bench.Work, error) {
	var works []bench.Work
	for _, name := range strings.Split(s, ",") {
		name = strings.TrimSpace(name)
		if name == "" {
			continue
		}
		w, err := bench.Lookup(name)
		if err != nil {
			return nil, usagef("--work: %v", err)
		}
		works = append(works, w)
	}
	if len(works) == 0 {
		return nil, usagef("--work is empty: use one or more of %s", strings.Join(bench.WorkNames(), ","))
	}
	return works, nil
}

func printBenchTable(out io.Writer, rows []bench.Row) {
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "WORK\tSIZE\tS/STEP\tMS/IMAGE\tCPU-S/STEP\tEVALS/STEP\tPEAK RSS\tBACKEND\tMATMUL")
	for _, r := range rows {
		evals := "-"
		if r.EvalsPerStep > 0 {
			evals = fmt.Sprintf("%.2f", r.EvalsPerStep)
		}
		ms := "-"
		if r.MsPerImage > 0 {
			ms = fmt.Sprintf("%.4g", r.MsPerImage)
		}
		engine := r.MatmulEngine
		if r.CoreType != "" {
			engine += " " + r.CoreType
		}
		fmt.Fprintf(tw, "%s\t%d\t%.4g\t%s\t%.4g\t%s\t%.0f MB\t%s\t%s\n", r.Work, r.Size, r.Seconds, ms, r.CPUSeconds, evals,
			float64(r.PeakRSSBytes)/1e6, r.Backend, engine)
	}
	tw.Flush()
	if len(rows) > 0 {
		fmt.Fprintf(out, "CPU: %s, %d threads; peak RSS: %s\n", rows[0].CPU, rows[0].Threads, rows[0].PeakRSSScope)
	}
}
