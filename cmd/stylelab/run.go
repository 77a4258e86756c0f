package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"github.com/stylelab/stylelab/experiments/backend"
	"github.com/stylelab/stylelab/experiments/gatys"
	"github.com/stylelab/stylelab/experiments/imageio"
	"github.com/stylelab/stylelab/experiments/losses"
	"github.com/stylelab/stylelab/experiments/vgg"
)

func init() {
	register(&command{name: "run", summary: "stylise a content image with one or more style images (Gatys optimisation)", run: runRun})
}

// runRequest is everything `stylelab run` was asked to do, after flag parsing and validation.
type runRequest struct {
	Config  gatys.Config
	Content string   // content image path
	Styles  []string // style image paths
	Out     string   // output PNG path
	Weights string   // --weights: a VGG-19 safetensors file; "" means $STYLELAB_VGG_WEIGHTS, else random
	// WeightsSeed seeds the random VGG-19 when no weights file is given. It is fixed (0), not the run's seed, so
	// runs with different seeds share one loss network and stay comparable.
	WeightsSeed uint64
	JSON        bool
}

// runConfigFromFlags parses `stylelab run` flags into a request with a resolved, validated gatys.Config. Every
// problem is a usage error (exit 2) naming the flag; files are not opened here.
func runConfigFromFlags(args []string) (*runRequest, error) {
	d := gatys.DefaultConfig()
	fs := newFlags("run")
	content := fs.String("content", "", "content image (PNG or JPEG), required")
	style := fs.String("style", "", "style image(s), comma-separated, required")
	styleWeights := fs.String("style-weights", "", "blend weights of the style images, comma-separated, one per image (default equal, 1/K each)")
	loss := fs.String("loss", d.Loss, "style loss: "+strings.Join(losses.Names, "|"))
	size := fs.Int("size", d.Size, fmt.Sprintf("longer side of the output in pixels (%d..%d)", imageio.MinSize, imageio.MaxSize))
	steps := fs.Int("steps", d.Steps, "optimisation steps (Adam updates or L-BFGS iterations)")
	optimizer := fs.String("optimizer", d.Optimizer, "optimiser: adam|lbfgs")
	seed := fs.Uint64("seed", d.Seed, "seed of the noise init and of sampled loss positions")
	out := fs.String("out", "", "output PNG file, required (its folder is created)")
	weights := fs.String("weights", "", "VGG-19 weights, a torchvision safetensors export (default $"+vgg.EnvWeights+", else seeded random weights)")
	pool := fs.String("pool", string(d.Pool), "loss network pooling: avg|max")
	init := fs.String("init", d.Init, "initial image: content|noise|style")
	contentWeight := fs.Float64("content-weight", d.ContentWeight, "weight of the content loss")
	styleWeight := fs.Float64("style-weight", 0, "weight of the style loss (0: the loss's default, see gatys.DefaultStyleWeight)")
	tvWeight := fs.Float64("tv-weight", d.TVWeight, "weight of the total-variation loss")
	lr := fs.Float64("lr", d.LearningRate, "Adam learning rate (pixels are in [0,1])")
	asJSON := fs.Bool("json", false, "print one JSON object with the outcome on stdout")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: stylelab run --content C --style S[,S2...] --out OUT.png [flags]\n\nOptimises the pixels of an image so that its VGG-19 features match the content image's and its feature\nstatistics match the style image(s)'. Flags:")
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, usagef("run takes no arguments, only flags (got %q)", fs.Args())
	}
	var missing []string
	for _, f := range []struct{ name, v string }{{"--content", *content}, {"--style", *style}, {"--out", *out}} {
		if strings.TrimSpace(f.v) == "" {
			missing = append(missing, f.name)
		}
	}
	if len(missing) > 0 {
		return nil, usagef("%s required (e.g. stylelab run --content images/content/chelsea.jpg --style images/style/vangogh_starry_night.jpg --out out/x.png)", strings.Join(missing, ", "))
	}
	req := &runRequest{Content: *content, Out: *out, Weights: *weights, JSON: *asJSON}
	for _, s := range strings.Split(*style, ",") {
		if s = strings.TrimSpace(s); s == "" {
			return nil, usagef("--style has an empty entry in %q: give comma-separated image paths", *style)
		}
		req.Styles = append(req.Styles, s)
	}
	if !strings.EqualFold(filepath.Ext(*out), ".png") {
		return nil, usagef("--out must name a .png file (got %q)", *out)
	}
	if *size < imageio.MinSize || *size > imageio.MaxSize {
		return nil, usagef("--size must be between %d and %d (got %d)", imageio.MinSize, imageio.MaxSize, *size)
	}
	p, err := vgg.ParsePool(*pool)
	if err != nil {
		return nil, usagef("--pool: %v", err)
	}
	c := d
	c.Size, c.Steps, c.Optimizer, c.Seed, c.Loss, c.Pool, c.Init = *size, *steps, *optimizer, *seed, *loss, p, *init
	c.ContentWeight, c.StyleWeight, c.TVWeight, c.LearningRate = *contentWeight, *styleWeight, *tvWeight, *lr
	if *styleWeights != "" {
		parts := strings.Split(*styleWeights, ",")
		if len(parts) != len(req.Styles) {
			return nil, usagef("--style-weights has %d values for %d style images: give one weight per --style image", len(parts), len(req.Styles))
		}
		for _, s := range parts {
			v, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
			if err != nil {
				return nil, usagef("--style-weights: %q is not a number", s)
			}
			c.StyleBlend = append(c.StyleBlend, v)
		}
	}
	// Flag names for Config.Validate's messages.
	c, err = c.Resolve(len(req.Styles))
	if err != nil {
		msg := err.Error()
		for _, r := range [][2]string{{"steps ", "--steps "}, {"unknown optimizer", "--optimizer: unknown optimizer"},
			{"unknown init", "--init: unknown init"}, {"unknown style loss", "--loss: unknown style loss"},
			{"learning rate", "--lr: learning rate"}, {"style blend", "--style-weights: style blend"}} {
			msg = strings.Replace(msg, r[0], r[1], 1)
		}
		return nil, usageError{msg}
	}
	req.Config = c
	return req, nil
}

// runOutput is what `stylelab run --json` prints.
type runOutput struct {
	Output  string       `json:"output"`
	Backend backend.Info `json:"backend"`
	Steps   int          `json:"steps"`
	Seed    uint64       `json:"seed"`
	Loss    struct {
		First float64 `json:"first"`
		Last  float64 `json:"last"`
	} `json:"loss"`
	First          gatys.StepReport `json:"first"`
	Last           gatys.StepReport `json:"last"`
	SecondsPerStep float64          `json:"seconds_per_step"`
	Seconds        float64          `json:"seconds"`
	Weights        struct {
		Source string `json:"source"`
		SHA256 string `json:"sha256"`
	} `json:"weights"`
	Content      string       `json:"content"`
	Styles       []string     `json:"styles"`
	Config       gatys.Config `json:"config"`
	StoppedEarly string       `json:"stopped_early,omitempty"`
	Error        string       `json:"error,omitempty"`
}

func runRun(args []string) error {
	req, err := runConfigFromFlags(args)
	if err != nil {
		return err
	}
	return executeRun(req, os.Stdout, os.Stderr)
}

// loadRunInputs loads the content and style images at the run's size and the loss network's weights; every
// input is checked before any computation starts.
func loadRunInputs(req *runRequest) (*imageio.Image, []*imageio.Image, *vgg.Weights, error) {
	content, err := imageio.Load(req.Content, req.Config.Size)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("--content: %w", err)
	}
	var styles []*imageio.Image
	for _, s := range req.Styles {
		im, err := imageio.Load(s, req.Config.Size)
		if err != nil {
			return nil, nil, nil, fmt.Errorf("--style: %w", err)
		}
		styles = append(styles, im)
	}
	w, err := vgg.FromEnvOrRandom(req.Weights, req.WeightsSeed)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("--weights: %w", err)
	}
	return content, styles, w, nil
}

// executeRun performs the request: loads inputs, optimises with progress, saves the PNG and reports.
func executeRun(req *runRequest, stdout, stderr io.Writer) error {
	start := time.Now()
	content, styles, w, err := loadRunInputs(req)
	if err != nil {
		return err
	}
	prog := newRunProgress(req.Config.Steps, stdout, stderr)
	res, runErr := gatys.Run(req.Config, content, styles, w, prog.step)
	prog.finish()
	if res == nil {
		return runErr
	}
	var nanErr *gatys.NaNError
	saved := false
	if runErr == nil || errors.As(runErr, &nanErr) {
		// On a NaN stop the Result holds the last good image: save it so the work is not lost.
		if err := imageio.SavePNG(req.Out, res.Image); err != nil {
			return errors.Join(runErr, err)
		}
		saved = true
	}
	if req.JSON {
		o := runOutput{Backend: res.Backend, Steps: res.Steps, Seed: req.Config.Seed, First: res.First, Last: res.Last,
			SecondsPerStep: res.SecondsPerStep, Seconds: time.Since(start).Seconds(), Content: req.Content,
			Styles: req.Styles, Config: res.Config, StoppedEarly: res.StoppedEarly}
		if saved {
			o.Output = req.Out
		}
		o.Loss.First, o.Loss.Last = res.First.Total, res.Last.Total
		o.Weights.Source, o.Weights.SHA256 = res.WeightsSource, res.WeightsSHA256
		if runErr != nil {
			o.Error = runErr.Error()
		}
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		enc.SetEscapeHTML(false)
		if err := enc.Encode(o); err != nil {
			return err
		}
	} else if saved {
		fmt.Fprintf(stdout, "wrote %s (%d×%d, %d steps, loss %.4g → %.4g, %.2fs/step on %s)\n", req.Out, res.Image.W, res.Image.H,
			res.Steps, res.First.Total, res.Last.Total, res.SecondsPerStep, res.Backend.Name)
		if res.StoppedEarly != "" {
			fmt.Fprintln(stdout, res.StoppedEarly)
		}
	}
	if runErr != nil && saved {
		return fmt.Errorf("%w; the last good image was saved to %s", runErr, req.Out)
	}
	return runErr
}

// runProgress shows progress: a bar when both stdout and stderr are terminals, otherwise one line on stderr
// at step 0, about every 10% of the steps, and at the end.
type runProgress struct {
	steps   int
	bar     *progressbar.ProgressBar
	stderr  io.Writer
	lastDec int
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

func newRunProgress(steps int, stdout, stderr io.Writer) *runProgress {
	p := &runProgress{steps: steps, stderr: stderr, lastDec: -1}
	if isTerminal(stdout) && isTerminal(stderr) {
		p.bar = progressbar.NewOptions(steps, progressbar.OptionSetWriter(stderr), progressbar.OptionShowCount(),
			progressbar.OptionSetPredictTime(true), progressbar.OptionSetElapsedTime(true),
			progressbar.OptionSetDescription("loss"), progressbar.OptionShowDescriptionAtLineEnd(),
			progressbar.OptionClearOnFinish())
	}
	return p
}

func (p *runProgress) step(r gatys.StepReport) error {
	if p.bar != nil {
		p.bar.Describe(fmt.Sprintf("loss %.4g", r.Total))
		if r.Step > 0 {
			return p.bar.Set(r.Step)
		}
		return nil
	}
	dec := r.Step * 10 / max(p.steps, 1)
	if r.Step == 0 || r.Step == p.steps || dec > p.lastDec {
		p.lastDec = dec
		fmt.Fprintf(p.stderr, "step %d/%d  total %.5g  content %.4g  style %.4g  tv %.4g  (%.2fs this step, %s elapsed)\n",
			r.Step, p.steps, r.Total, r.Content, r.Style, r.TV, r.StepTime.Seconds(), r.Elapsed.Round(time.Second))
	}
	return nil
}

func (p *runProgress) finish() {
	if p.bar != nil {
		p.bar.Finish()
	}
}
