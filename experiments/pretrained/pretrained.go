// Package pretrained says what a weights file a user brings is, and converts it to safetensors: PyTorch .pth state
// dicts (package pth's safe loader) and safetensors files of
//
//   - VGG loss networks: VGG-19 or VGG-16 in the torchvision, Caffe-converted or pytorch-AdaIN layouts
//     (package vgg: Load, Layout), usable with --weights (and --encoder for adain);
//   - pytorch/examples fast_neural_style TransformerNets and pytorch-AdaIN decoders (package train:
//     ImportTorch), usable with stylelab stylize / adain --model;
//   - stylelab's own model checkpoints.
//
// Inspect reads the whole file (every tensor's values, so a damaged storage is found) and reports format, kind,
// layout, dtypes, parameter count, SHA-256 and the commands it fits. Convert writes what stylelab reads: VGG
// weights in torchvision key layout with the net and layout in the metadata (vgg.WriteSafetensors), models as
// stylelab checkpoints (train.EncodeImported), atomically: a failure leaves no output file.
package pretrained

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/nlpodyssey/safetensors"
	"github.com/stylelab/stylelab/experiments/pth"
	"github.com/stylelab/stylelab/experiments/train"
	"github.com/stylelab/stylelab/experiments/vgg"
)

// Kinds of file.
const (
	KindVGG         = "vgg"
	KindTransformer = "transformer"
	KindAdaIN       = "adain-decoder"
	KindStylelab    = "stylelab-model"
)

// Tensor is one tensor as the file holds it.
type Tensor struct {
	Name  string `json:"name"`
	DType string `json:"dtype"`
	Shape []int  `json:"shape"`
}

// Report is what Inspect found.
type Report struct {
	Path   string `json:"path"`
	Size   int64  `json:"size_bytes"`
	SHA256 string `json:"sha256"`
	// Format is "pth-zip", "pth-legacy" or "safetensors".
	Format string `json:"format"`
	// Kind is KindVGG, KindTransformer, KindAdaIN or KindStylelab.
	Kind string `json:"kind"`
	// What names the network in words ("VGG-19, caffe layout", "pytorch/examples fast_neural_style TransformerNet").
	What string `json:"what"`
	// Net, Layout, LayoutReason and Convention are set for VGG weights.
	Net          string `json:"net,omitempty"`
	Layout       string `json:"layout,omitempty"`
	LayoutReason string `json:"layout_reason,omitempty"`
	Convention   string `json:"input_convention,omitempty"`
	// ValuesSHA256 is the SHA-256 stylelab records for the weights (vgg.Weights.SHA256), VGG only.
	ValuesSHA256 string `json:"values_sha256,omitempty"`
	// Architecture is the imported model's architecture (JSON of train.Architecture).
	Architecture *train.Architecture `json:"architecture,omitempty"`
	Params       int64               `json:"params"`
	DTypes       map[string]int      `json:"dtypes"`
	Tensors      []Tensor            `json:"tensors"`
	// Skipped are non-tensor entries of the state dict.
	Skipped []string `json:"skipped,omitempty"`
	// UsableFor lists the commands the file fits.
	UsableFor []string `json:"usable_for"`
	// Notes say what loading it does (dtype conversions, ignored keys).
	Notes []string `json:"notes,omitempty"`
}

// Inspect reads and identifies the file at path; o may force the VGG net and layout (--net, --layout). A file that
// cannot be read safely (malicious pickle, TorchScript, truncated), or that is no network stylelab runs, is an
// error saying so.
func Inspect(path string, o vgg.LoadOptions) (*Report, error) {
	r, _, err := inspect(path, o)
	return r, err
}

// loaded is what inspect loaded, for Convert.
type loaded struct {
	vgg   *vgg.Weights
	model *train.Checkpoint
}

func inspect(path string, o vgg.LoadOptions) (*Report, *loaded, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, nil, err
	}
	st, err := os.Stat(abs)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil, fmt.Errorf("%s does not exist: give a .pth or .safetensors file", abs)
		}
		return nil, nil, err
	}
	if st.IsDir() {
		return nil, nil, fmt.Errorf("%s is a folder: give a .pth or .safetensors file", abs)
	}
	format, err := pth.Sniff(abs)
	if err != nil {
		return nil, nil, err
	}
	r := &Report{Path: abs, Size: st.Size(), DTypes: map[string]int{}}
	if format != "" {
		return inspectPth(r, format, o)
	}
	return inspectSafetensors(r, o)
}

func inspectPth(r *Report, format string, o vgg.LoadOptions) (*Report, *loaded, error) {
	r.Format = "pth-" + format
	f, err := pth.Open(r.Path)
	if err != nil {
		return nil, nil, err
	}
	r.SHA256, r.Skipped = f.SHA256, f.Skipped
	for _, t := range f.Tensors {
		r.Tensors = append(r.Tensors, Tensor{t.Name, string(t.DType), t.Shape})
		r.DTypes[string(t.DType)]++
		if t.DType.IsFloat() {
			r.Params += t.Numel()
		}
		if _, err := t.Float32(); err != nil { // every storage is read once: damage is found here, not later
			f.Close()
			return nil, nil, err
		}
	}
	what := train.WhatIs(f)
	f.Close()
	ld := &loaded{}
	switch {
	case strings.Contains(what, train.TorchTransformerNet), strings.Contains(what, train.TorchAdaINDecoder):
		if o.Net != "" || o.Layout != "" {
			return nil, nil, fmt.Errorf("%s is %s, not VGG weights: --net and --layout apply to VGG files", r.Path, strings.Split(what, ":")[0])
		}
		ck, err := train.ImportTorch(r.Path)
		if err != nil {
			return nil, nil, err
		}
		ld.model = ck
		describeModel(r, ck)
	case strings.HasPrefix(what, "VGG"):
		w, err := vgg.Load(r.Path, o)
		if err != nil {
			return nil, nil, err
		}
		ld.vgg = w
		describeVGG(r, w)
	default:
		return nil, nil, fmt.Errorf("%s is a PyTorch state dict, but %s", r.Path, what)
	}
	return r, ld, nil
}

func inspectSafetensors(r *Report, o vgg.LoadOptions) (*Report, *loaded, error) {
	r.Format = "safetensors"
	data, err := os.ReadFile(r.Path)
	if err != nil {
		return nil, nil, err
	}
	st, err := safetensors.Deserialize(data)
	if err != nil {
		return nil, nil, fmt.Errorf("%s is neither a PyTorch .pth (torch.save) nor a readable safetensors file (%v): "+
			"it is truncated, corrupt or another format", r.Path, err)
	}
	for _, nt := range st.Tensors() {
		shape := make([]int, len(nt.TensorView.Shape()))
		n := int64(1)
		for i, d := range nt.TensorView.Shape() {
			shape[i] = int(d)
			n *= int64(d)
		}
		dt := strings.ToLower(nt.TensorView.DType().String())
		r.Tensors = append(r.Tensors, Tensor{nt.Name, dt, shape})
		r.DTypes[dt]++
		r.Params += n
	}
	sort.Slice(r.Tensors, func(i, j int) bool { return r.Tensors[i].Name < r.Tensors[j].Name })
	ld := &loaded{}
	if ck, err := train.DecodeCheckpoint(r.Path, data); err == nil {
		ld.model = ck
		r.SHA256 = sha(data)
		describeModel(r, ck)
		if ck.Header.Imported == "" {
			r.Kind, r.What = KindStylelab, fmt.Sprintf("stylelab %s model checkpoint (step %d)", ck.Header.Kind, ck.Header.Step)
		}
		return r, ld, nil
	} else if !errors.Is(err, train.ErrNotCheckpoint) {
		return nil, nil, err
	}
	w, err := vgg.Load(r.Path, o)
	if err != nil {
		return nil, nil, err
	}
	ld.vgg = w
	r.SHA256 = w.FileSHA256
	describeVGG(r, w)
	return r, ld, nil
}

func describeVGG(r *Report, w *vgg.Weights) {
	net := w.Net
	if net == "" {
		net = vgg.VGG19
	}
	layout := w.Layout
	if layout == "" {
		layout = vgg.Torchvision
	}
	r.Kind, r.Net, r.Layout, r.LayoutReason = KindVGG, string(net), string(layout), w.LayoutReason
	r.What = fmt.Sprintf("%s loss network, %s layout", net.Title(), layout)
	r.Convention = layout.Convention()
	r.ValuesSHA256 = w.SHA256
	r.Notes = append(r.Notes, w.Notes...)
	if n := countPrefix(r.Tensors, "classifier."); n > 0 {
		r.Notes = append(r.Notes, fmt.Sprintf("%d classifier tensors are not used (feature extraction stops at the convolutions)", n))
	}
	r.UsableFor = []string{
		fmt.Sprintf("loss network: --weights %s --net %s (stylelab run, measure, train, study)", r.Path, net),
	}
	if net == vgg.VGG19 {
		r.UsableFor = append(r.UsableFor, fmt.Sprintf("AdaIN encoder: stylelab adain --encoder %s (and train --kind adain --weights)", r.Path))
	}
}

func describeModel(r *Report, ck *train.Checkpoint) {
	h := ck.Header
	r.Architecture = &h.Architecture
	if h.Imported != "" {
		r.Notes = append(r.Notes, "imported: "+h.Imported)
	}
	switch {
	case h.Architecture.AdaIN != nil:
		r.Kind = KindAdaIN
		r.What = fmt.Sprintf("%s (to %s, width %g)", train.TorchAdaINDecoder, h.Architecture.AdaIN.EncoderLayer, h.Architecture.AdaIN.Width)
		r.UsableFor = []string{fmt.Sprintf("stylelab adain --model %s --encoder vgg_normalised.pth --content C --style S --out OUT.png", r.Path)}
	default:
		a := h.Architecture.Transformer
		r.Kind = KindTransformer
		r.What = fmt.Sprintf("%s (width %g, %d residual blocks, %d style)", train.TorchTransformerNet, a.Width, a.ResBlocks, a.Styles)
		if !a.TorchExamples() {
			r.What = fmt.Sprintf("stylelab transformer (width %g, %d residual blocks, %d styles)", a.Width, a.ResBlocks, a.Styles)
		}
		r.UsableFor = []string{fmt.Sprintf("stylelab stylize --model %s --content C --out OUT.png", r.Path)}
		if h.Imported != "" {
			r.UsableFor = append(r.UsableFor, "fine-tuning: not supported (train --resume needs a stylelab training checkpoint with its loss network and Adam state)")
		}
	}
	if n := countSuffix(r.Tensors, ".running_mean") + countSuffix(r.Tensors, ".running_var"); n > 0 {
		r.Notes = append(r.Notes, fmt.Sprintf("%d InstanceNorm running-statistics tensors are ignored (old PyTorch saved them; pytorch/examples' stylize deletes them)", n))
	}
}

func countPrefix(ts []Tensor, p string) int {
	n := 0
	for _, t := range ts {
		if strings.HasPrefix(t.Name, p) {
			n++
		}
	}
	return n
}

func countSuffix(ts []Tensor, s string) int {
	n := 0
	for _, t := range ts {
		if strings.HasSuffix(t.Name, s) {
			n++
		}
	}
	return n
}

// Convert inspects src and writes what stylelab reads to out (a safetensors file): VGG weights in torchvision key
// layout with their net and layout in the metadata, models as stylelab checkpoints. out must differ from src; it is
// written atomically (nothing is left at out on failure). The report is src's.
func Convert(src, out string, o vgg.LoadOptions) (*Report, error) {
	if strings.TrimSpace(out) == "" {
		return nil, errors.New("no output file: give OUT.safetensors")
	}
	as, _ := filepath.Abs(src)
	ao, _ := filepath.Abs(out)
	if as == ao {
		return nil, fmt.Errorf("the output %s is the input: give another file name", out)
	}
	r, ld, err := inspect(src, o)
	if err != nil {
		return nil, err
	}
	switch {
	case ld.vgg != nil:
		err = vgg.WriteSafetensors(out, ld.vgg)
	case ld.model != nil:
		var data []byte
		if data, err = train.EncodeImported(ld.model); err == nil {
			err = train.WriteFile(out, data)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("writing %s: %w", out, err)
	}
	return r, nil
}

func sha(data []byte) string {
	h := sha256.Sum256(data)
	return hex.EncodeToString(h[:])
}
