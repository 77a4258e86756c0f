package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"github.com/stylelab/stylelab/experiments/pretrained"
	"github.com/stylelab/stylelab/experiments/vgg"
	"github.com/stylelab/stylelab/jobs/spec"
)

func init() {
	register(&command{name: "weights", summary: "inspect or convert the weights users have (.pth, .safetensors): VGG, TransformerNet, AdaIN", run: func(a []string) error { return runWeights(a, os.Stdout) }})
}

const weightsUsage = `usage: stylelab weights inspect FILE [--net vgg19|vgg16] [--layout torchvision|caffe|adain] [--tensors] [--json]
       stylelab weights convert FILE OUT.safetensors (or --out OUT.safetensors) [--net …] [--layout …] [--json]

inspect says what FILE is (format, network, layout and input convention, dtypes, parameter count, SHA-256) and what
it can be used for. convert writes it as the safetensors stylelab reads (VGG weights keep their net and layout in
the metadata; TransformerNets and AdaIN decoders become stylelab model checkpoints). PyTorch files are read with a
safe loader: a pickle naming anything but a state dict's classes is refused.`

func runWeights(args []string, out io.Writer) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" {
		fmt.Fprintln(os.Stderr, weightsUsage)
		if len(args) == 0 {
			return usagef("name a sub-command: inspect or convert")
		}
		return flag.ErrHelp
	}
	sub := args[0]
	if sub != "inspect" && sub != "convert" {
		return usagef("unknown sub-command %q: use stylelab weights inspect FILE or stylelab weights convert FILE OUT.safetensors", sub)
	}
	fs := newFlags("weights " + sub)
	net := fs.String("net", "", "VGG net: vgg19 or vgg16 (default: from the file's keys)")
	layout := fs.String("layout", "", "VGG layout: torchvision, caffe or adain (default: detected; see README, bring your own weights)")
	asJSON := fs.Bool("json", false, "print the report as one JSON object")
	tensorsFlag := fs.Bool("tensors", false, "list every tensor (name, dtype, shape)")
	outFlag := fs.String("out", "", "output safetensors file (convert)")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), weightsUsage+"\n\nFlags:")
		fs.PrintDefaults()
	}
	pos, err := runsParseArgs(fs, args[1:])
	if err != nil {
		return err
	}
	var o vgg.LoadOptions
	if *net != "" {
		n, err := vgg.ParseNet(*net)
		if err != nil {
			return usagef("%v", err)
		}
		o.Net, o.Why = n, "asked for (--net)"
	}
	if *layout != "" {
		l, err := vgg.ParseLayout(*layout)
		if err != nil {
			return usagef("%v", err)
		}
		o.Layout, o.Why = l, "asked for (--layout)"
	}
	var rep *pretrained.Report
	switch sub {
	case "inspect":
		if len(pos) != 1 {
			return usagef("weights inspect takes one FILE (got %d arguments)", len(pos))
		}
		if rep, err = pretrained.Inspect(pos[0], o); err != nil {
			return err
		}
	case "convert":
		dst := *outFlag
		switch {
		case len(pos) == 2 && dst == "":
			dst = pos[1]
		case len(pos) == 1 && dst != "":
		default:
			return usagef("weights convert takes FILE and OUT.safetensors (or --out OUT.safetensors)")
		}
		if rep, err = pretrained.Convert(pos[0], dst, o); err != nil {
			return err
		}
		if !*asJSON {
			defer fmt.Fprintf(out, "\nwrote       %s\n", dst)
		}
	}
	if *asJSON {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	printReport(out, rep, *tensorsFlag)
	return nil
}

func printReport(w io.Writer, r *pretrained.Report, all bool) {
	formats := map[string]string{"pth-zip": "PyTorch torch.save zip archive (PyTorch ≥ 1.6)",
		"pth-legacy": "PyTorch torch.save legacy format (before 1.6)", "safetensors": "safetensors"}
	row := func(k, v string) { fmt.Fprintf(w, "%-11s %s\n", k, v) }
	row("file", r.Path)
	row("format", formats[r.Format])
	row("size", fmt.Sprintf("%d bytes", r.Size))
	row("sha256", r.SHA256)
	row("what", r.What)
	if r.Layout != "" {
		row("layout", r.Layout+" ("+r.LayoutReason+")")
		row("input", r.Convention)
		row("values", "sha256 "+r.ValuesSHA256+" (what runs record as the weights' hash)")
	}
	if r.Architecture != nil {
		b, _ := json.Marshal(r.Architecture)
		row("arch", string(b))
	}
	var dts []string
	for k, v := range r.DTypes {
		dts = append(dts, fmt.Sprintf("%s %d", k, v))
	}
	sort.Strings(dts)
	row("tensors", fmt.Sprintf("%d (%s), %d parameters", len(r.Tensors), strings.Join(dts, ", "), r.Params))
	for _, n := range r.Notes {
		row("note", n)
	}
	for _, u := range r.UsableFor {
		row("use", u)
	}
	if all {
		for _, t := range r.Tensors {
			fmt.Fprintf(w, "  %-40s %-9s %v\n", t.Name, t.DType, t.Shape)
		}
	}
}

// lossNetFlags registers --net and --layout, the loss network's topology and a weights file's layout, on a command
// that takes --weights.
func lossNetFlags(fs *flag.FlagSet) (net, layout *string) {
	net = fs.String("net", "", "loss network: vgg19 or vgg16 (default: what the --weights file holds; vgg19 for random weights)")
	layout = fs.String("layout", "", "layout of the --weights file: torchvision, caffe or adain (default: detected; see stylelab weights inspect)")
	return net, layout
}

// setLossNet checks --net and --layout and puts them in the spec's weights.
func setLossNet(sp *spec.Spec, net, layout string) error {
	if _, err := vgg.ParseNet(net); err != nil {
		return usagef("%v", err)
	}
	if _, err := vgg.ParseLayout(layout); err != nil {
		return usagef("--layout: %v", err)
	}
	if layout != "" && sp.Weights.File == nil {
		return usagef("--layout %s describes a weights file: give --weights FILE (random weights have no layout)", layout)
	}
	sp.Weights.Net, sp.Weights.Layout = strings.ToLower(strings.TrimSpace(net)), strings.ToLower(strings.TrimSpace(layout))
	return nil
}

// loadLossNet is vgg.FromEnvOrRandomNet with a forced layout: the file (or $STYLELAB_VGG_WEIGHTS) read as net and
// layout ("" detects them), else the random net with seed 0.
func loadLossNet(file string, net vgg.Net, layout vgg.Layout) (*vgg.Weights, error) {
	if layout == "" {
		return vgg.FromEnvOrRandomNet(file, net, 0)
	}
	if strings.TrimSpace(file) == "" {
		file = os.Getenv(vgg.EnvWeights)
	}
	if strings.TrimSpace(file) == "" {
		return nil, usagef("--layout %s describes a weights file: give --weights FILE (random weights have no layout)", layout)
	}
	return vgg.Load(file, vgg.LoadOptions{Net: net, Layout: layout, Why: "asked for (--net/--layout)"})
}
