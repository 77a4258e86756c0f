package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"github.com/stylelab/stylelab/backends/backend"
	"github.com/stylelab/stylelab/experiments/gatys"
	"github.com/stylelab/stylelab/experiments/guides"
	"github.com/stylelab/stylelab/experiments/imageio"
	"github.com/stylelab/stylelab/experiments/losses"
	"github.com/stylelab/stylelab/experiments/vgg"
	"github.com/stylelab/stylelab/jobs/runner"
	"github.com/stylelab/stylelab/jobs/spec"
	"github.com/stylelab/stylelab/tracker"
)

func init() {
	register(&command{name: "run", summary: "stylise a content image with one or more style images (Gatys optimisation)", run: runRun})
}

// runRequest is everything `stylelab run` was asked to do, after flag parsing and validation.
type runRequest struct {
	Config  gatys.Config
	Content string   // content image path
	Styles  []string // style image paths
	// Mask and RegionStyles are spatial control's inputs (--mask, --region-style): the mask image path, and the
	// style image paths paired by index with Config.RegionColours.
	Mask         string
	RegionStyles []string
	Out          string // output PNG path
	Weights      string // --weights: a VGG safetensors or .pth file; "" means $STYLELAB_VGG_WEIGHTS, else random
	Net, Layout  string // --net, --layout (spec.Weights)
	// WeightsSeed seeds the random VGG-19 when no weights file is given. It is fixed (0), not the run's seed, so
	// runs with different seeds share one loss network and stay comparable.
	WeightsSeed uint64
	JSON        bool

	// Recording and specs.
	SpecFile   string            // --spec: run this spec file instead of building one from the flags
	SaveSpec   string            // --save-spec: write the resolved spec (with input hashes) here before running
	DB         string            // tracker database
	NoTrack    bool              // --no-track: do not record the run
	Experiment string            // tracker experiment
	Name       string            // run name
	Tags       map[string]string // --tag KEY=VALUE: extra tags on the tracker run (sweeps tag their runs)
	DryRun     bool              // --dry-run: print the memory estimate, run and record nothing
}

// specFlags are the flags that may accompany --spec (the others would contradict the spec file).
var specFlags = map[string]bool{"tag": true, "spec": true, "save-spec": true, "db": true, "no-track": true, "experiment": true, "name": true, "json": true, "out": true, "dry-run": true}

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
	weights := fs.String("weights", "", "VGG weights of the loss network: .safetensors or a PyTorch .pth (torchvision, Caffe-converted or pytorch-AdaIN layout; default $"+vgg.EnvWeights+", else seeded random weights)")
	lossNet, lossLayout := lossNetFlags(fs)
	pool := fs.String("pool", string(d.Pool), "loss network pooling: avg|max")
	init := fs.String("init", d.Init, "initial image: content|noise|style")
	contentWeight := fs.Float64("content-weight", *d.ContentWeight, "weight of the content loss")
	styleWeight := fs.Float64("style-weight", 0, "weight of the style loss (default: the loss's own, see gatys.DefaultStyleWeight; 0 means 0: content-only reconstruction)")
	tvWeight := fs.Float64("tv-weight", *d.TVWeight, "weight of the total-variation loss")
	lr := fs.Float64("lr", d.LearningRate, "Adam learning rate (pixels are in [0,1])")
	asJSON := fs.Bool("json", false, "print one JSON object with the outcome on stdout")
	specFile := fs.String("spec", "", "run this experiment spec (JSON, see docs/spec.md) instead of building one from the flags")
	saveSpec := fs.String("save-spec", "", "write the resolved spec, with its input hashes, to this file before running")
	db := fs.String("db", tracker.DefaultPath(), "tracker database the run is recorded in (default $STYLELAB_DB, else ./runs/stylelab.db)")
	noTrack := fs.Bool("no-track", false, "do not record the run in the tracker")
	dryRun := fs.Bool("dry-run", false, dryRunUsage)
	experiment := fs.String("experiment", "cli", "tracker experiment the run belongs to")
	name := fs.String("name", "", "run name (default: the style loss)")
	// Perceptual controls (Gatys et al. 2017; see gatys.RunGuided).
	styleLayers := fs.String("style-layers", strings.Join(d.StyleLayers, ","), "VGG-19 layers of the style loss, comma-separated (low layers: fine texture; deeper: larger structures)")
	contentLayers := fs.String("content-layers", strings.Join(d.ContentLayers, ","), "VGG-19 layers of the content loss, comma-separated")
	mask := fs.String("mask", "", "spatial control: a PNG whose flat colours are regions of the content (its aspect ratio, any size)")
	var regionStyles stringList
	fs.Var(&regionStyles, "region-style", "'#rrggbb=S.png': give the mask's region of that colour its own style image (repeatable; other regions use --style)")
	maskMode := fs.String("mask-mode", "resize", "how region masks follow the network: resize (area share at each layer) | inside (only positions whose receptive field lies inside the region)")
	colorMode := fs.String("color", "none", "colour control: none | luminance (transfer on luminance, keep the content's colours) | histogram (match the style's colours to the content's first)")
	histogram := fs.String("histogram", "", "histogram matching variant with --color histogram: cholesky (default) | sym")
	styleScale := fs.Float64("style-scale", 1, "style image size relative to the content's (0.5: larger strokes, 2: finer)")
	scales := fs.String("scales", "", "coarse to fine: comma-separated longer sides, e.g. 128,256 (the last is the output size; each stage starts from the previous result)")
	scaleSteps := fs.String("scale-steps", "", "steps of each --scales stage, comma-separated (default: --steps split evenly)")
	png16 := fs.Bool("png16", false, "write the output as a 16-bit PNG (for prints: no 8-bit banding)")
	tile := fs.String("tile", "auto", "print sizes: evaluate the loss in tiles of N px with halos (exact: same result as untiled) | auto (tile only a scale that does not fit in memory) | off")
	tags := tagFlag{}
	fs.Var(tags, "tag", "extra tag on the tracker run, KEY=VALUE (repeatable)")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: stylelab run --content C --style S[,S2...] --out OUT.png [flags]\n       stylelab run --spec SPEC.json [--out OUT.png] [--db FILE] [--json]\n\nOptimises the pixels of an image so that its VGG-19 features match the content image's and its feature\nstatistics match the style image(s)'. The run, its spec, losses and output are recorded in the tracker. Flags:")
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, usagef("run takes no arguments, only flags (got %q)", fs.Args())
	}
	rec := runRequest{SpecFile: *specFile, SaveSpec: *saveSpec, DB: *db, NoTrack: *noTrack, Experiment: *experiment,
		Name: *name, JSON: *asJSON, Out: *out, Tags: tags, DryRun: *dryRun}
	if *specFile != "" {
		var conflicting []string
		fs.Visit(func(f *flag.Flag) {
			if !specFlags[f.Name] {
				conflicting = append(conflicting, "--"+f.Name)
			}
		})
		if len(conflicting) > 0 {
			return nil, usagef("--spec runs the spec file as written: drop %s (edit the spec instead)", strings.Join(conflicting, ", "))
		}
		if *out != "" && !strings.EqualFold(filepath.Ext(*out), ".png") {
			return nil, usagef("--out must name a .png file (got %q)", *out)
		}
		return &rec, nil
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
	req := &rec
	req.Content, req.Weights, req.Net, req.Layout = *content, *weights, *lossNet, *lossLayout
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
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	c := d
	if err := applyControlFlags(&c, req, given, *styleLayers, *contentLayers, *mask, regionStyles, *maskMode, *colorMode, *histogram, *styleScale, *scales, *scaleSteps); err != nil {
		return nil, err
	}
	if len(c.Scales) > 0 && !given["size"] {
		*size = c.Scales[len(c.Scales)-1]
	}
	c.Size, c.Steps, c.Optimizer, c.Seed, c.Loss, c.Pool, c.Init = *size, *steps, *optimizer, *seed, *loss, p, *init
	c.ContentWeight, c.TVWeight, c.LearningRate = contentWeight, tvWeight, *lr
	c.Tile, c.PNG16 = *tile, *png16
	if given["style-weight"] { // unset: the loss's default weight; given, even 0: that weight
		c.StyleWeight = styleWeight
	}
	if given["lr"] && c.Optimizer == "lbfgs" {
		return nil, usagef("--lr is Adam's learning rate; L-BFGS does not use it: drop --lr, or use --optimizer adam")
	}
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
			{"learning rate", "--lr: learning rate"}, {"style blend", "--style-weights: style blend"},
			{"unknown colour control", "--color: unknown colour control"}, {"histogram variant", "--histogram: histogram variant"},
			{"unknown mask mode", "--mask-mode: unknown mask mode"}, {"style scale", "--style-scale: style scale"},
			{"scales [", "--scales ["}, {"scale steps", "--scale-steps"}, {"must end at the output size", "must end at the output size (--size)"}} {
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
	RunID        string       `json:"run_id,omitempty"` // the tracker run ("" with --no-track)
	DB           string       `json:"db,omitempty"`
	OutputSHA256 string       `json:"output_sha256,omitempty"`
}

func runRun(args []string) error {
	req, err := runConfigFromFlags(args)
	if err != nil {
		return err
	}
	return executeRun(req, os.Stdout, os.Stderr)
}

// buildSpec returns the experiment spec of the request: the --spec file, or one built from the flags.
func (req *runRequest) buildSpec() (*spec.Spec, error) {
	if req.SpecFile != "" {
		sp, err := spec.Load(req.SpecFile)
		if err != nil {
			return nil, err
		}
		if req.Out != "" {
			sp.Output = req.Out
		}
		return sp, nil
	}
	sp := spec.NewOptimise(req.Experiment, req.Name, req.Content, req.Styles, req.Config)
	sp.Output = req.Out
	if req.Mask != "" {
		sp.Inputs.Mask = &spec.Input{Path: req.Mask}
		for _, p := range req.RegionStyles {
			sp.Inputs.RegionStyles = append(sp.Inputs.RegionStyles, spec.Input{Path: p})
		}
	}
	sp.Weights.RandomSeed = req.WeightsSeed
	wf := req.Weights
	if wf == "" {
		wf = os.Getenv(vgg.EnvWeights)
	}
	if wf != "" {
		sp.Weights.File = &spec.Input{Path: wf}
	}
	if err := setLossNet(sp, req.Net, req.Layout); err != nil {
		return nil, err
	}
	return sp, nil
}

// executeRun performs the request through the run shell (executeSpec): a spec of any kind from --spec, or the
// optimisation the flags describe.
func executeRun(req *runRequest, stdout, stderr io.Writer) error {
	sp, err := req.buildSpec()
	if err != nil {
		return err
	}
	return executeSpec(sp, runSettings{DB: req.DB, NoTrack: req.NoTrack, JSON: req.JSON, Tags: req.Tags, SaveSpec: req.SaveSpec, DryRun: req.DryRun}, stdout, stderr)
}

func init() {
	kindReports[spec.KindOptimise] = kindReport{
		JSON: func(sp *spec.Spec, out *runner.Outcome, st *tracker.Store, runErr string, elapsed time.Duration) any {
			res := out.Result
			if res == nil {
				return nil
			}
			o := runOutput{Backend: res.Backend, Steps: res.Steps, Seed: sp.Seed, First: res.First, Last: res.Last,
				SecondsPerStep: res.SecondsPerStep, Seconds: elapsed.Seconds(), Content: sp.Inputs.Content.Path,
				Config: res.Config, StoppedEarly: res.StoppedEarly, RunID: out.RunID, OutputSHA256: out.OutputSHA256, Error: runErr}
			for _, in := range sp.Inputs.Styles {
				o.Styles = append(o.Styles, in.Path)
			}
			if st != nil {
				o.DB = st.Path()
			}
			if out.OutputWritten {
				o.Output = sp.Output
			}
			o.Loss.First, o.Loss.Last = res.First.Total, res.Last.Total
			o.Weights.Source, o.Weights.SHA256 = res.WeightsSource, res.WeightsSHA256
			return o
		},
		Summary: func(out *runner.Outcome) string {
			res := out.Result
			if res == nil || res.Image == nil {
				return ""
			}
			return fmt.Sprintf("%d×%d, %d steps, loss %.4g → %.4g, %.2fs/step on %s", res.Image.W, res.Image.H,
				res.Steps, res.First.Total, res.Last.Total, res.SecondsPerStep, res.Backend.Name)
		},
		Notes: func(out *runner.Outcome) []string {
			if out.Result != nil && out.Result.StoppedEarly != "" {
				return []string{out.Result.StoppedEarly}
			}
			return nil
		},
		Kept: "the last good image",
	}
}

// runProgress shows progress: a bar when both stdout and stderr are terminals, otherwise one line on stderr
// at step 0, about every 10% of the steps, and at the end.
type runProgress struct {
	steps   int
	bar     *progressbar.ProgressBar
	stderr  io.Writer
	lastDec int
	// lastTile is when the last tile progress line was written (tileprogress.go).
	lastTile time.Time
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

func newRunProgress(steps int, stdout, stderr io.Writer) *runProgress {
	p := &runProgress{steps: steps, stderr: stderr, lastDec: -1}
	if steps > 0 && isTerminal(stdout) && isTerminal(stderr) {
		p.bar = progressbar.NewOptions(steps, progressbar.OptionSetWriter(stderr), progressbar.OptionShowCount(),
			progressbar.OptionSetPredictTime(true), progressbar.OptionSetElapsedTime(true),
			progressbar.OptionSetDescription("loss"), progressbar.OptionShowDescriptionAtLineEnd(),
			progressbar.OptionClearOnFinish())
	}
	return p
}

// step shows one completed step of any kind (its total, content, style and tv metrics).
func (p *runProgress) step(r runner.Progress) error {
	m := r.Metrics
	if p.bar != nil {
		p.bar.Describe(fmt.Sprintf("loss %.4g", m["total"]))
		if r.Step > 0 {
			return p.bar.Set(r.Step)
		}
		return nil
	}
	dec := r.Step * 10 / max(p.steps, 1)
	if r.Step == 0 || r.Step == p.steps || dec > p.lastDec {
		p.lastDec = dec
		fmt.Fprintf(p.stderr, "step %d/%d  total %.5g  content %.4g  style %.4g  tv %.4g  (%.2fs this step, %s elapsed)\n",
			r.Step, p.steps, m["total"], m["content"], m["style"], m["tv"], r.StepTime.Seconds(), r.Elapsed.Round(time.Second))
	}
	return nil
}

// gatysStep shows a step of an optimisation that is not a recorded run (stylelab combine).
func (p *runProgress) gatysStep(r gatys.StepReport) error {
	return p.step(runner.Progress{Step: r.Step, Steps: p.steps, StepTime: r.StepTime, Elapsed: r.Elapsed,
		Metrics: map[string]float64{"total": r.Total, "content": r.Content, "style": r.Style, "tv": r.TV}})
}

func (p *runProgress) finish() {
	if p.bar != nil {
		p.bar.Finish()
	}
}

// stringList is a repeatable string flag.
type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, " ") }
func (l *stringList) Set(v string) error { *l = append(*l, v); return nil }

// applyControlFlags puts the layer and perceptual-control flags into c and req (files are not opened here).
func applyControlFlags(c *gatys.Config, req *runRequest, given map[string]bool, styleLayers, contentLayers, mask string,
	regionStyles []string, maskMode, colorMode, histogram string, styleScale float64, scales, scaleSteps string) error {
	list := func(flagName, v string) ([]string, error) {
		var out []string
		for _, p := range strings.Split(v, ",") {
			if p = strings.TrimSpace(p); p == "" {
				return nil, usagef("--%s has an empty entry in %q: give comma-separated values", flagName, v)
			}
			out = append(out, p)
		}
		return out, nil
	}
	ints := func(flagName, v string) ([]int, error) {
		parts, err := list(flagName, v)
		if err != nil {
			return nil, err
		}
		var out []int
		for _, p := range parts {
			n, err := strconv.Atoi(p)
			if err != nil {
				return nil, usagef("--%s: %q is not a whole number", flagName, p)
			}
			out = append(out, n)
		}
		return out, nil
	}
	var err error
	if c.StyleLayers, err = list("style-layers", styleLayers); err != nil {
		return err
	}
	if c.ContentLayers, err = list("content-layers", contentLayers); err != nil {
		return err
	}
	if len(regionStyles) > 0 && mask == "" {
		return usagef("--region-style needs --mask: the mask's colours name the regions")
	}
	req.Mask = strings.TrimSpace(mask)
	for _, rs := range regionStyles {
		col, path, ok := strings.Cut(rs, "=")
		if !ok || strings.TrimSpace(path) == "" {
			return usagef("--region-style %q must be '#rrggbb=STYLE.png' (a mask colour, =, a style image)", rs)
		}
		n, err := guides.ParseColour(col)
		if err != nil {
			return usagef("--region-style: %v", err)
		}
		c.RegionColours = append(c.RegionColours, n)
		req.RegionStyles = append(req.RegionStyles, strings.TrimSpace(path))
	}
	if given["mask-mode"] && mask == "" {
		return usagef("--mask-mode applies to --mask: give a mask, or drop --mask-mode")
	}
	if mask != "" {
		c.MaskMode = maskMode
	}
	c.Color, c.Histogram, c.StyleScale = colorMode, histogram, styleScale
	if scales != "" {
		if c.Scales, err = ints("scales", scales); err != nil {
			return err
		}
	}
	if scaleSteps != "" {
		if c.ScaleSteps, err = ints("scale-steps", scaleSteps); err != nil {
			return err
		}
	}
	return nil
}

// tagFlag collects repeated --tag KEY=VALUE flags.
type tagFlag map[string]string

func (t tagFlag) String() string { return "" }

func (t tagFlag) Set(v string) error {
	k, val, ok := strings.Cut(v, "=")
	if !ok || strings.TrimSpace(k) == "" {
		return fmt.Errorf("want KEY=VALUE (e.g. --tag team=vision), got %q", v)
	}
	t[strings.TrimSpace(k)] = val
	return nil
}
