package main

import (
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/stylelab/stylelab/experiments/train"
	"github.com/stylelab/stylelab/jobs/runner"
	"github.com/stylelab/stylelab/jobs/spec"
	"github.com/stylelab/stylelab/tracker"
)

func init() {
	register(&command{name: "train", summary: "train a feed-forward network (single style, CIN multi-style, or AdaIN) on a folder of photos", run: func(a []string) error { return runTrain(a, os.Stdout, os.Stderr) }})
	register(&command{name: "stylize", summary: "stylise an image with a trained network: one style (--style K) or a mix (--mix w0,w1,…)", run: func(a []string) error { return runStylize("stylize", a, os.Stdout, os.Stderr) }})
	register(&command{name: "interpolate", summary: "a strip (2 styles) or grid (4 styles) of style mixes of a trained CIN network", run: func(a []string) error { return runStylize("interpolate", a, os.Stdout, os.Stderr) }})
	register(&command{name: "adain", summary: "stylise an image with any style image(s) through a trained AdaIN decoder", run: func(a []string) error { return runStylize("adain", a, os.Stdout, os.Stderr) }})
}

// commonFF are the flags every feed-forward command shares.
type commonFF struct {
	db, experiment, name, weights, out string
	net, layout                        *string
	seed                               uint64
	noTrack, asJSON, dryRun            bool
	storeInputs                        bool // train only: --store-inputs
}

func (c *commonFF) register(fs *flag.FlagSet, experiment string) {
	fs.StringVar(&c.db, "db", tracker.DefaultPath(), "tracker database (default $STYLELAB_DB, else ./runs/stylelab.db)")
	fs.StringVar(&c.experiment, "experiment", experiment, "experiment the run is recorded under")
	fs.StringVar(&c.name, "name", "", "run name (default: derived from the kind)")
	fs.StringVar(&c.weights, "weights", "", "VGG weights of the loss network/encoder: .safetensors or a PyTorch .pth (torchvision, Caffe or pytorch-AdaIN layout; default $STYLELAB_VGG_WEIGHTS, else seeded random)")
	c.net, c.layout = lossNetFlags(fs)
	fs.Uint64Var(&c.seed, "seed", 0, "seed of the initial weights, crops, flips and style choices")
	fs.BoolVar(&c.noTrack, "no-track", false, "do not record the run in the tracker")
	fs.BoolVar(&c.asJSON, "json", false, "print the result as one JSON object")
	fs.BoolVar(&c.dryRun, "dry-run", false, dryRunUsage)
}

func (c *commonFF) weightsInput(sp *spec.Spec) error {
	w := c.weights
	if w == "" {
		w = os.Getenv("STYLELAB_VGG_WEIGHTS")
	}
	if w != "" {
		sp.Weights.File = &spec.Input{Path: w}
	}
	return setLossNet(sp, *c.net, *c.layout)
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func parseFloats(flagName, s string) ([]float64, error) {
	var out []float64
	for _, p := range splitList(s) {
		v, err := strconv.ParseFloat(p, 64)
		if err != nil {
			return nil, usagef("--%s: %q is not a number", flagName, p)
		}
		if math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
			return nil, usagef("--%s: weight %q must be finite and ≥ 0", flagName, p)
		}
		out = append(out, v)
	}
	return out, nil
}

// settings are the run shell's settings of the command's flags.
func (c *commonFF) settings() runSettings {
	return runSettings{DB: c.db, NoTrack: c.noTrack, JSON: c.asJSON, DryRun: c.dryRun, StoreInputs: c.storeInputs}
}

func runTrain(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("train")
	var c commonFF
	c.register(fs, "train")
	kind := fs.String("kind", "cin", "network: single (one style), cin (several styles, conditional instance norm) or adain (any style)")
	styles := fs.String("styles", "", "style images, comma-separated (required)")
	contentDir := fs.String("content-dir", "images/content", "folder of content photos (JPEG/PNG)")
	fs.BoolVar(&c.storeInputs, "store-inputs", false, "also copy the content folder's photos into the tracker (content-addressed), so that the run can be rerun where the folder is gone (its file list and hashes are recorded anyway)")
	preset := fs.String("preset", "cpu", "starting configuration: cpu (a small net in minutes), gpu (the papers' sizes) or tiny (tests)")
	size := fs.Int("size", 0, "side of the square training crops (default: the preset's)")
	steps := fs.Int("steps", 0, "training steps (default: the preset's)")
	batch := fs.Int("batch", 0, "examples per step (default: the preset's)")
	loss := fs.String("loss", "", "style loss: gram|mmd-poly|mmd-linear|mmd-gauss|meanvar (default gram; meanvar for adain)")
	lr := fs.Float64("lr", 0, "Adam learning rate (default: the preset's)")
	styleWeight := fs.Float64("style-weight", 0, "style weight (default: per loss, as for stylelab run)")
	styleWeights := fs.String("style-weights", "", "per-style multipliers of the style weight, comma-separated (default 1 each)")
	contentWeights := fs.String("content-weights", "", "per-style multipliers of the content weight (default 1 each)")
	width := fs.Float64("width", 0, "width multiplier of the network's channels (1 = the paper's)")
	resBlocks := fs.Int("res-blocks", 0, "residual blocks of the transformer (5 in the paper; 0 for none; default: the preset's)")
	ckptAct := fs.Bool("checkpoint-activations", false, "recompute the transformer's residual-block activations in the backward pass instead of keeping them: less memory, a little more time per step (single, cin)")
	sampleEvery := fs.Int("sample-every", -1, "log a sample grid every K steps (default: the preset's)")
	ckptEvery := fs.Int("checkpoint-every", -1, "save a checkpoint every K steps (default: the preset's)")
	resume := fs.String("resume", "", "continue training from this checkpoint (same network, styles and loss; Adam state included)")
	fs.StringVar(&c.out, "out", "", "where to write the checkpoint (required; periodic checkpoints overwrite it, the final one last)")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: stylelab train --kind single|cin|adain --styles S1[,S2…] --content-dir DIR --out CKPT [flags]\n\nTrains a network that stylises in one pass, records the run (per-style losses, sample grids, checkpoints)\nin the tracker, and writes the final checkpoint to --out. Flags:")
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("unexpected arguments %q", fs.Args())
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if *styles == "" {
		return usagef("--styles is required (e.g. --styles images/style/vangogh_starry_night.jpg,images/style/hokusai_great_wave.jpg)")
	}
	if c.out == "" {
		return usagef("--out is required: the checkpoint file to write (e.g. --out models/cin.safetensors)")
	}
	cfg, err := train.Preset(*preset, *kind)
	if err != nil {
		return usagef("%v", err)
	}
	if *loss != "" {
		cfg.Loss, cfg.StyleWeight = *loss, 0
	}
	for name, apply := range map[string]func(){
		"size": func() { cfg.Size = *size }, "steps": func() { cfg.Steps = *steps }, "batch": func() { cfg.Batch = *batch },
		"lr": func() { cfg.LearningRate = *lr }, "style-weight": func() { cfg.StyleWeight = *styleWeight },
		"width": func() { cfg.Width = *width }, "res-blocks": func() { cfg.ResBlocks = resBlocksFlag(*resBlocks) },
		"sample-every": func() { cfg.SampleEvery = *sampleEvery }, "checkpoint-every": func() { cfg.CheckpointEvery = *ckptEvery },
		"checkpoint-activations": func() { cfg.CheckpointActivations = *ckptAct },
	} {
		if set[name] {
			apply()
		}
	}
	if set["size"] && !set["style-size"] {
		cfg.StyleSize = max(cfg.StyleSize, *size)
	}
	if set["size"] {
		cfg.SampleSize = max(cfg.SampleSize, *size)
	}
	if cfg.StyleWeights, err = parseFloats("style-weights", *styleWeights); err != nil {
		return err
	}
	if cfg.ContentWeights, err = parseFloats("content-weights", *contentWeights); err != nil {
		return err
	}
	sp := &spec.Spec{Version: spec.Version, Kind: spec.KindTrain, Experiment: c.experiment, Name: c.name, Seed: c.seed,
		Output: c.out, Train: &cfg, Inputs: spec.Inputs{ContentDir: &spec.Folder{Path: *contentDir}}}
	sp.BaseDir, _ = os.Getwd()
	for _, s := range splitList(*styles) {
		sp.Inputs.Styles = append(sp.Inputs.Styles, spec.Input{Path: s})
	}
	if *resume != "" {
		sp.Inputs.Resume = &spec.Input{Path: *resume}
	}
	if err := c.weightsInput(sp); err != nil {
		return err
	}
	return executeSpec(sp, c.settings(), stdout, stderr)
}

func init() {
	kindReports[spec.KindTrain] = kindReport{
		JSON: func(sp *spec.Spec, out *runner.Outcome, _ *tracker.Store, runErr string, elapsed time.Duration) any {
			res := out.Train
			if res == nil {
				return nil
			}
			o := reportJSON(sp, out, runErr, "checkpoint")
			for k, v := range map[string]any{"kind": sp.Train.Kind, "loss": sp.Train.Loss, "steps": res.Last.Step,
				"seconds": elapsed.Seconds(), "seconds_per_step": res.SecondsPerStep, "loss_first": res.First.Total,
				"loss_last": res.Last.Total, "backend": res.Backend.Name} {
				o[k] = v
			}
			return o
		},
		Summary: func(out *runner.Outcome) string {
			res, sp := out.Train, out.Spec
			if res == nil {
				return ""
			}
			return fmt.Sprintf("%s, %d steps, loss %.4g → %.4g, %.2fs/step on %s", sp.Train.Kind,
				res.Last.Step, res.First.Total, res.Last.Total, res.SecondsPerStep, res.Backend.Name)
		},
		Kept: "the checkpoint of the last completed step",
	}
	inference := kindReport{
		JSON: func(sp *spec.Spec, out *runner.Outcome, _ *tracker.Store, runErr string, _ time.Duration) any {
			o := reportJSON(sp, out, runErr, "output")
			o["ms_per_image"] = out.MsPerImage
			return o
		},
		Summary: func(out *runner.Outcome) string { return fmt.Sprintf("%.0f ms/image", out.MsPerImage) },
	}
	for _, k := range []string{spec.KindStylize, spec.KindInterpolate, spec.KindAdaIN} {
		kindReports[k] = inference
	}
}

// runStylize implements stylize, interpolate and adain.
func runStylize(cmd string, args []string, stdout, stderr io.Writer) error {
	fs := newFlags(cmd)
	var c commonFF
	c.register(fs, cmd)
	model := fs.String("model", "", "checkpoint written by stylelab train, or a PyTorch .pth: pytorch/examples' TransformerNet (stylize), pytorch-AdaIN's decoder (adain) (required)")
	content := fs.String("content", "", "content image (required)")
	size := fs.Int("size", 256, "longer side of the output in pixels (0 keeps the content's size)")
	fs.StringVar(&c.out, "out", "", "output PNG (required)")
	var style *int
	var mix, styles, styleWeights, encoder *string
	var steps *int
	var alpha *float64
	usage := ""
	switch cmd {
	case "stylize":
		style = fs.Int("style", -1, "index of the style (0-based, as listed by the checkpoint)")
		mix = fs.String("mix", "", "weights over all styles, comma-separated (instead of --style)")
		usage = "stylelab stylize --model CKPT --content C --style K | --mix w0,w1,… --out OUT.png"
	case "interpolate":
		styles = fs.String("styles", "", "style indices: a,b (a strip) or a,b,c,d (a grid, mixed bilinearly)")
		steps = fs.Int("steps", 5, "images along each side")
		usage = "stylelab interpolate --model CKPT --content C --styles a,b[,c,d] --steps N --out OUT.png"
	case "adain":
		encoder = fs.String("encoder", "", "the encoder's VGG-19 weights (same as --weights), e.g. pytorch-AdaIN's vgg_normalised.pth for its decoder.pth")
		styles = fs.String("style", "", "style image(s), comma-separated (any images)")
		styleWeights = fs.String("style-weights", "", "weights of the style images (default equal)")
		alpha = fs.Float64("alpha", 1, "style strength in [0,1] (0 = the content reconstructed)")
		usage = "stylelab adain --model CKPT --content C --style S[,S2 --style-weights …] [--alpha A] --out OUT.png"
	}
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: %s [flags]\n\nRuns a trained network on an image; the run is recorded in the tracker. Flags:\n", usage)
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("unexpected arguments %q", fs.Args())
	}
	if *model == "" || *content == "" || c.out == "" {
		return usagef("--model, --content and --out are required (usage: %s)", usage)
	}
	if encoder != nil && *encoder != "" {
		if c.weights != "" && c.weights != *encoder {
			return usagef("--encoder and --weights name the same file (the AdaIN encoder): give one")
		}
		c.weights = *encoder
	}
	sp := &spec.Spec{Version: spec.Version, Kind: cmd, Experiment: c.experiment, Name: c.name, Seed: c.seed, Output: c.out,
		Inputs: spec.Inputs{Content: spec.Input{Path: *content}, Model: &spec.Input{Path: *model}}}
	sp.BaseDir, _ = os.Getwd()
	if err := c.weightsInput(sp); err != nil {
		return err
	}
	switch cmd {
	case "stylize":
		switch {
		case *mix != "" && *style >= 0:
			return usagef("give --style or --mix, not both")
		case *mix != "":
			ws, err := parseFloats("mix", *mix)
			if err != nil {
				return err
			}
			sp.Stylize = &spec.StylizeParams{Size: *size, Mix: ws}
		default:
			ck, err := train.LoadCheckpoint(*model)
			if err != nil {
				return err
			}
			if *style < 0 && len(ck.Header.Styles) == 1 {
				*style = 0 // a single-style model (e.g. pytorch/examples' candy.pth)
			}
			if *style < 0 {
				return usagef("give --style K (0 to %d) or --mix", len(ck.Header.Styles)-1)
			}
			m, err := train.OneHotMix(*style, len(ck.Header.Styles))
			if err != nil {
				return usagef("%v", err)
			}
			sp.Stylize = &spec.StylizeParams{Size: *size, Mix: m}
		}
	case "interpolate":
		var idx []int
		for _, s := range splitList(*styles) {
			k, err := strconv.Atoi(s)
			if err != nil {
				return usagef("--styles: %q is not a style index", s)
			}
			idx = append(idx, k)
		}
		sp.Interpolate = &spec.InterpolateParams{Size: *size, Styles: idx, Steps: *steps}
	case "adain":
		for _, s := range splitList(*styles) {
			sp.Inputs.Styles = append(sp.Inputs.Styles, spec.Input{Path: s})
		}
		var ws []float64
		if *styleWeights != "" {
			var err error
			if ws, err = parseFloats("style-weights", *styleWeights); err != nil {
				return err
			}
		}
		a := *alpha
		sp.AdaIN = &spec.AdaINParams{Size: *size, StyleWeights: ws, Alpha: &a}
	}
	if err := checkStyleFlags(sp); err != nil {
		return err
	}
	return executeSpec(sp, c.settings(), stdout, stderr)
}

// checkStyleFlags refuses, as usage errors (exit 2), style indices, mixes and style weights that do not fit the
// model's styles. A model that cannot be read is left to the run, which names the problem.
func checkStyleFlags(sp *spec.Spec) error {
	if sp.Kind == spec.KindAdaIN && (sp.AdaIN == nil || len(sp.AdaIN.StyleWeights) == 0) {
		return nil
	}
	if sp.Kind == spec.KindAdaIN {
		if err := train.CheckMix(sp.AdaIN.StyleWeights, len(sp.Inputs.Styles)); err != nil {
			return usagef("--style-weights: %v", err)
		}
		return nil
	}
	ck, err := train.LoadCheckpoint(sp.Inputs.Model.Path)
	if err != nil {
		return nil
	}
	switch {
	case sp.Kind == spec.KindStylize && ck.Header.Kind != train.KindAdaIN:
		if err := train.CheckMix(sp.Stylize.Mix, len(ck.Header.Styles)); err != nil {
			return usagef("%v", err)
		}
	case sp.Kind == spec.KindInterpolate && ck.Header.Kind != train.KindAdaIN:
		if _, err := train.InterpolateMixes(sp.Interpolate.Styles, sp.Interpolate.Steps, len(ck.Header.Styles)); err != nil {
			return usagef("%v", err)
		}
	}
	return nil
}

// resBlocksFlag maps --res-blocks N to train.Config.ResBlocks, where 0 means "the preset's": an explicit
// --res-blocks 0 asks for a network without residual blocks, which the config spells train.NoResBlocks.
func resBlocksFlag(n int) int {
	if n == 0 {
		return train.NoResBlocks
	}
	return n
}
