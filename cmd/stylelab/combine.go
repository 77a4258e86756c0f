package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/stylelab/stylelab/experiments/gatys"
	"github.com/stylelab/stylelab/experiments/imageio"
	"github.com/stylelab/stylelab/experiments/losses"
	"github.com/stylelab/stylelab/experiments/vgg"
)

func init() {
	register(&command{name: "combine-scales", summary: "build a style image: a fine style's texture on a coarse style image (Gatys et al. 2017 scale control)", run: runCombineScales})
}

// runCombineScales wires gatys.CombineScales: the fine style's low-layer statistics (gatys.CombineLayers)
// transferred onto the coarse style image, written as a PNG to use as --style.
func runCombineScales(args []string) error {
	d := gatys.DefaultConfig()
	fs := newFlags("combine-scales")
	coarse := fs.String("coarse", "", "the coarse-scale style image (its large structures are kept), required")
	fine := fs.String("fine", "", "the fine-scale style image (its texture is transferred), required")
	out := fs.String("out", "", "output PNG, required (its folder is created)")
	size := fs.Int("size", d.Size, fmt.Sprintf("longer side of the output in pixels (%d..%d)", imageio.MinSize, imageio.MaxSize))
	steps := fs.Int("steps", d.Steps, "optimisation steps")
	loss := fs.String("loss", d.Loss, "style loss: "+strings.Join(losses.Names, "|"))
	weights := fs.String("weights", "", "VGG-19 weights, a torchvision safetensors export (default $"+vgg.EnvWeights+", else seeded random weights)")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: stylelab combine-scales --coarse S1 --fine S2 --out S.png [flags]\n\nBuilds a new style image from the coarse style S1 with the fine style S2's texture: an optimisation from S1 whose\nstyle loss (on %s only) is against S2 and whose content loss keeps S1. Use the result as --style. Flags:\n", strings.Join(gatys.CombineLayers, ", "))
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *coarse == "" || *fine == "" || *out == "" {
		return usagef("--coarse, --fine and --out are required (e.g. stylelab combine-scales --coarse images/style/munch_scream.jpg --fine images/style/vangogh_starry_night.jpg --out out/combined.png)")
	}
	if !strings.EqualFold(filepath.Ext(*out), ".png") {
		return usagef("--out must name a .png file (got %q)", *out)
	}
	cfg := d
	cfg.Size, cfg.Steps, cfg.Loss = *size, *steps, *loss
	if _, err := cfg.Resolve(1); err != nil {
		return usageError{err.Error()}
	}
	c, err := imageio.Load(*coarse, cfg.Size)
	if err != nil {
		return fmt.Errorf("--coarse: %w", err)
	}
	f, err := imageio.Load(*fine, cfg.Size)
	if err != nil {
		return fmt.Errorf("--fine: %w", err)
	}
	wf := *weights
	if wf == "" {
		wf = os.Getenv(vgg.EnvWeights)
	}
	w := vgg.Random(0)
	if wf != "" {
		if w, err = vgg.LoadSafetensors(wf); err != nil {
			return err
		}
	}
	prog := newRunProgress(cfg.Steps, os.Stdout, os.Stderr)
	res, err := gatys.CombineScales(cfg, c, f, w, prog.gatysStep)
	prog.finish()
	if err != nil {
		return err
	}
	if dir := filepath.Dir(*out); dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
	}
	if err := imageio.SavePNG(*out, res.Image); err != nil {
		return err
	}
	fmt.Printf("wrote %s (%d×%d, %d steps, style loss on %s %.4g → %.4g)\n", *out, res.Image.W, res.Image.H, res.Steps,
		strings.Join(gatys.CombineLayers, ","), res.First.Style, res.Last.Style)
	return nil
}
