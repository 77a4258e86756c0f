package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/stylelab/stylelab/experiments/gatys"
	"github.com/stylelab/stylelab/experiments/imageio"
	"github.com/stylelab/stylelab/experiments/losses"
	"github.com/stylelab/stylelab/experiments/vgg"
)

func init() {
	register(&command{name: "measure", summary: "score an image's content loss and every style loss, layer by layer", run: runMeasure})
}

// measureRequest is what `stylelab measure` was asked to do.
type measureRequest struct {
	Image, Content, Style string
	Weights               string
	Net                   vgg.Net
	Layout                vgg.Layout
	Pool                  vgg.Pool
	Size                  int
	JSON                  bool
}

func measureFromFlags(args []string) (*measureRequest, error) {
	fs := newFlags("measure")
	image := fs.String("image", "", "the image to score (PNG or JPEG), required")
	content := fs.String("content", "", "content image, required")
	style := fs.String("style", "", "style image, required")
	weights := fs.String("weights", "", "VGG weights of the loss network: .safetensors or a PyTorch .pth (torchvision, Caffe-converted or pytorch-AdaIN layout; default $"+vgg.EnvWeights+", else seeded random weights)")
	lossNet, lossLayout := lossNetFlags(fs)
	pool := fs.String("pool", string(vgg.PoolAvg), "loss network pooling: avg|max")
	size := fs.Int("size", 0, fmt.Sprintf("resize all three images to this longer side (%d..%d); 0 keeps --image's size and resizes the others to its longer side", imageio.MinSize, imageio.MaxSize))
	asJSON := fs.Bool("json", false, "print the scores as one JSON object")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: stylelab measure --image X --content C --style S [--weights FILE] [--pool avg|max] [--size N] [--json]\n\nScores X without optimising: the content loss at relu4_2 against C, and each style loss ("+strings.Join(losses.Names, ", ")+")\nat relu1_1..relu5_1 against S, with totals (means over the layers). Flags:")
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, usagef("measure takes no arguments, only flags (got %q)", fs.Args())
	}
	var missing []string
	for _, f := range []struct{ name, v string }{{"--image", *image}, {"--content", *content}, {"--style", *style}} {
		if strings.TrimSpace(f.v) == "" {
			missing = append(missing, f.name)
		}
	}
	if len(missing) > 0 {
		return nil, usagef("%s required", strings.Join(missing, ", "))
	}
	if err := imageio.CheckSize(*size); err != nil {
		return nil, usagef("--%v", err)
	}
	p, err := vgg.ParsePool(*pool)
	if err != nil {
		return nil, usagef("--pool: %v", err)
	}
	net, err := vgg.ParseNet(*lossNet)
	if err != nil {
		return nil, usagef("%v", err)
	}
	if *lossNet == "" {
		net = ""
	}
	layout, err := vgg.ParseLayout(*lossLayout)
	if err != nil {
		return nil, usagef("--layout: %v", err)
	}
	return &measureRequest{Image: *image, Content: *content, Style: *style, Weights: *weights, Net: net, Layout: layout, Pool: p, Size: *size, JSON: *asJSON}, nil
}

func runMeasure(args []string) error {
	req, err := measureFromFlags(args)
	if err != nil {
		return err
	}
	img, err := imageio.Load(req.Image, req.Size)
	if err != nil {
		return fmt.Errorf("--image: %w", err)
	}
	size := req.Size
	if size == 0 {
		size = max(img.W, img.H)
		size = min(max(size, imageio.MinSize), imageio.MaxSize)
	}
	content, err := imageio.Load(req.Content, size)
	if err != nil {
		return fmt.Errorf("--content: %w", err)
	}
	style, err := imageio.Load(req.Style, size)
	if err != nil {
		return fmt.Errorf("--style: %w", err)
	}
	w, err := loadLossNet(req.Weights, req.Net, req.Layout)
	if err != nil {
		return fmt.Errorf("--weights: %w", err)
	}
	sc, err := gatys.Measure(img, content, style, w, req.Pool, losses.DefaultOptions())
	if err != nil {
		return err
	}
	if req.JSON {
		out := struct {
			*gatys.Scores
			Image   string `json:"image"`
			Content string `json:"content_image"`
			Style   string `json:"style_image"`
			Weights struct {
				Source string `json:"source"`
				SHA256 string `json:"sha256"`
			} `json:"weights"`
			Pool vgg.Pool `json:"pool"`
		}{Scores: sc, Image: req.Image, Content: req.Content, Style: req.Style, Pool: req.Pool}
		out.Weights.Source, out.Weights.SHA256 = w.Source, w.SHA256
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		enc.SetEscapeHTML(false)
		return enc.Encode(out)
	}
	printScores(os.Stdout, sc, w)
	return nil
}

// printScores writes the scores as a table: one row per style loss, one column per layer and the total.
func printScores(out io.Writer, sc *gatys.Scores, w *vgg.Weights) {
	fmt.Fprintf(out, "loss network: %s (sha256 %.12s…)\n", w.Source, w.SHA256)
	fmt.Fprintf(out, "content  %-10s relu4_2 %.5g\n", "", sc.Content["relu4_2"])
	cols := append(append([]string{}, gatys.DefaultStyleLayers...), "total")
	fmt.Fprintf(out, "%-8s %-10s", "", "")
	for _, c := range cols {
		fmt.Fprintf(out, " %11s", c)
	}
	fmt.Fprintln(out)
	for _, n := range losses.Names {
		fmt.Fprintf(out, "%-8s %-10s", "style", n)
		for _, c := range cols {
			fmt.Fprintf(out, " %11.5g", sc.Style[n][c])
		}
		fmt.Fprintln(out)
	}
}
