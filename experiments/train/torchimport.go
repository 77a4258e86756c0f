package train

import (
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/stylelab/stylelab/experiments/adain"
	"github.com/stylelab/stylelab/experiments/pth"
	"github.com/stylelab/stylelab/experiments/transformer"
	"github.com/stylelab/stylelab/experiments/vgg"
)

// Torch model kinds ImportTorch recognises (Checkpoint.Header.Imported starts with one).
const (
	TorchTransformerNet = "pytorch/examples fast_neural_style TransformerNet"
	TorchAdaINDecoder   = "pytorch-AdaIN decoder"
)

// ImportTorch reads a PyTorch .pth state dict of a network stylelab can run as a Checkpoint with no training
// state (package pth's safe loader):
//
//   - pytorch/examples fast_neural_style's TransformerNet (candy.pth, mosaic.pth, …; keys conv1.conv2d.weight,
//     in1.weight, res1.conv1.conv2d.weight, …, deconv3.conv2d.weight): a single-style transformer.Arch of flavour
//     transformer.FlavourTorchExamples, channels and residual blocks read from the shapes (32/64/128 and 5 in the
//     real models). Legacy inN.running_mean/running_var keys are ignored, as its stylize deletes them.
//   - pytorch-AdaIN's decoder.pth (an nn.Sequential: convs at 1, 5, 8, 11, 14, 18, 21, 25, 28): an adain.Arch
//     of flavour adain.FlavourPyTorchAdaIN to relu4_1, its width from the shapes. Its encoder is not in the file:
//     NewModel takes it (pytorch-AdaIN's vgg_normalised.pth), max-pooled.
//
// Kernels are transposed from OIHW to HWIO. A missing or extra key or a shape that does not fit the architecture is
// an error naming it; a file of another network says what it looks like.
func ImportTorch(path string) (*Checkpoint, error) {
	f, err := pth.Open(path)
	if err != nil {
		return nil, fmt.Errorf("model %w", err)
	}
	defer f.Close()
	var c *Checkpoint
	switch {
	case f.Get("conv1.conv2d.weight") != nil:
		c, err = importTransformerNet(f)
	case f.Get("1.weight") != nil && f.Get("28.weight") != nil:
		c, err = importAdaINDecoder(f)
	default:
		return nil, fmt.Errorf("model %s is a PyTorch state dict of no network stylelab runs: %s", f.Path, WhatIs(f))
	}
	if err != nil {
		return nil, fmt.Errorf("model %s: %w", f.Path, err)
	}
	c.Path = f.Path
	if err := c.checkShapes(); err != nil {
		return nil, fmt.Errorf("model %s: %w", f.Path, err)
	}
	return c, nil
}

// WhatIs names what a state dict looks like from its keys, and what it can be used for.
func WhatIs(f *pth.File) string {
	switch {
	case f.Get("conv1.conv2d.weight") != nil:
		return "a " + TorchTransformerNet + ": use it with stylelab stylize --model"
	case f.Get("1.weight") != nil && f.Get("28.weight") != nil && f.Get("0.weight") == nil:
		return "a " + TorchAdaINDecoder + ": use it with stylelab adain --model FILE --encoder vgg_normalised.pth"
	case f.Get("features.0.weight") != nil || (f.Get("0.weight") != nil && f.Get("2.weight") != nil):
		return "VGG loss-network weights: use them with --weights (stylelab weights inspect says which net and layout)"
	}
	names := f.Names()
	sort.Strings(names)
	if len(names) > 6 {
		names = append(names[:6:6], "…")
	}
	return fmt.Sprintf("its %d tensors (%s) match neither a VGG, a fast_neural_style TransformerNet nor a pytorch-AdaIN decoder",
		len(f.Tensors), strings.Join(names, ", "))
}

// torchReader reads tensors by name, checking shapes, and remembers which names were used.
type torchReader struct {
	f    *pth.File
	used map[string]bool
	net  string
}

func (r *torchReader) get(name string, want ...int) ([]float32, error) {
	t := r.f.Get(name)
	if t == nil {
		return nil, fmt.Errorf("it has no tensor %q, which %s needs (a missing key: the file is another network, or was edited)", name, r.net)
	}
	if !slices.Equal(t.Shape, want) {
		return nil, fmt.Errorf("tensor %q has shape %v, but %s needs %v here: the architecture does not match", name, t.Shape, r.net, want)
	}
	if !t.DType.IsFloat() {
		return nil, fmt.Errorf("tensor %q has dtype %s, not a float type", name, t.DType)
	}
	r.used[name] = true
	return t.Float32()
}

// shape returns a tensor's shape, or nil.
func (r *torchReader) shape(name string) []int {
	if t := r.f.Get(name); t != nil {
		return t.Shape
	}
	return nil
}

// extra returns an error naming the tensors not used, except those ignore matches.
func (r *torchReader) extra(ignore *regexp.Regexp) error {
	var out []string
	for _, n := range r.f.Names() {
		if !r.used[n] && (ignore == nil || !ignore.MatchString(n)) {
			out = append(out, n)
		}
	}
	if len(out) == 0 {
		return nil
	}
	if len(out) > 6 {
		out = append(out[:6:6], "…")
	}
	return fmt.Errorf("it has tensors %s does not have: %s (extra keys: the file is another network, or was edited)", r.net, strings.Join(out, ", "))
}

// notes says which tensors were converted from another float type.
func (r *torchReader) notes() []string {
	count := map[pth.DType]int{}
	for _, t := range r.f.Tensors {
		if r.used[t.Name] && t.DType != pth.Float32 {
			count[t.DType]++
		}
	}
	var out []string
	for _, dt := range []pth.DType{pth.Float16, pth.BFloat16, pth.Float64} {
		if count[dt] > 0 {
			out = append(out, fmt.Sprintf("%d %s tensors converted to float32", count[dt], dt))
		}
	}
	return out
}

func hwio(k []float32, o, i, kh, kw int) *tensors.Tensor {
	dst := make([]float32, len(k))
	for oo := range o {
		for ii := range i {
			for y := range kh {
				for x := range kw {
					dst[((y*kw+x)*i+ii)*o+oo] = k[((oo*i+ii)*kh+y)*kw+x]
				}
			}
		}
	}
	return tensors.FromFlatDataAndDimensions(dst, kh, kw, i, o)
}

var resKey = regexp.MustCompile(`^res(\d+)\.`)

func importTransformerNet(f *pth.File) (*Checkpoint, error) {
	r := &torchReader{f: f, used: map[string]bool{}, net: "pytorch/examples' TransformerNet"}
	s1, s2, s3 := r.shape("conv1.conv2d.weight"), r.shape("conv2.conv2d.weight"), r.shape("conv3.conv2d.weight")
	if len(s1) != 4 || len(s2) != 4 || len(s3) != 4 {
		return nil, fmt.Errorf("conv1, conv2 and conv3 must be 4-d conv weights (have %v, %v, %v)", s1, s2, s3)
	}
	blocks := 0
	for _, n := range f.Names() {
		if m := resKey.FindStringSubmatch(n); m != nil {
			k, _ := strconv.Atoi(m[1])
			blocks = max(blocks, k)
		}
	}
	a := transformer.Arch{Styles: 1, Width: float64(s1[0]) / 32, ResBlocks: blocks, Flavour: transformer.FlavourTorchExamples}
	if err := a.Validate(); err != nil {
		return nil, err
	}
	if c1, c2, c3 := a.Channels(); c1 != s1[0] || c2 != s2[0] || c3 != s3[0] {
		return nil, fmt.Errorf("its channels are %d, %d, %d, but a TransformerNet has 32, 64, 128 (or a common multiple: %d, %d, %d for width %g): the architecture does not match",
			s1[0], s2[0], s3[0], c1, c2, c3, a.Width)
	}
	// stylelab layer → (conv key, norm key).
	keys := map[string][2]string{"c1": {"conv1", "in1"}, "c2": {"conv2", "in2"}, "c3": {"conv3", "in3"},
		"u1": {"deconv1", "in4"}, "u2": {"deconv2", "in5"}, "out": {"deconv3", ""}}
	for i := 1; i <= blocks; i++ {
		keys[fmt.Sprintf("r%da", i)] = [2]string{fmt.Sprintf("res%d.conv1", i), fmt.Sprintf("res%d.in1", i)}
		keys[fmt.Sprintf("r%db", i)] = [2]string{fmt.Sprintf("res%d.conv2", i), fmt.Sprintf("res%d.in2", i)}
	}
	c := &Checkpoint{Tensors: map[string]*tensors.Tensor{}}
	for _, l := range a.Layers() {
		k := keys[l.Name]
		p := "/" + transformer.Scope + "/" + l.Name + "/"
		w, err := r.get(k[0]+".conv2d.weight", l.Out, l.In, l.K, l.K)
		if err != nil {
			return nil, err
		}
		b, err := r.get(k[0]+".conv2d.bias", l.Out)
		if err != nil {
			return nil, err
		}
		c.Tensors[p+"kernel"] = hwio(w, l.Out, l.In, l.K, l.K)
		c.Tensors[p+"bias"] = tensors.FromFlatDataAndDimensions(b, l.Out)
		if !a.Normed(l) {
			continue
		}
		g, err := r.get(k[1]+".weight", l.Out)
		if err != nil {
			return nil, fmt.Errorf("%w (InstanceNorm2d(affine=True))", err)
		}
		bt, err := r.get(k[1]+".bias", l.Out)
		if err != nil {
			return nil, err
		}
		c.Tensors[p+"gamma"] = tensors.FromFlatDataAndDimensions(g, 1, l.Out)
		c.Tensors[p+"beta"] = tensors.FromFlatDataAndDimensions(bt, 1, l.Out)
	}
	if err := r.extra(regexp.MustCompile(`(^|\.)in\d+\.(running_mean|running_var|num_batches_tracked)$`)); err != nil {
		return nil, err
	}
	name := strings.TrimSuffix(filepath.Base(f.Path), filepath.Ext(f.Path))
	c.Header = Header{Format: Format, Version: FormatVersion, Kind: KindSingle,
		Architecture: Architecture{Transformer: &a}, Styles: []StyleRef{{Name: name}},
		Imported: imported(TorchTransformerNet, f, r.notes())}
	return c, nil
}

// adainDecoderIndex are the Sequential indices of pytorch-AdaIN's decoder convolutions, in order.
var adainDecoderIndex = []int{1, 5, 8, 11, 14, 18, 21, 25, 28}

func importAdaINDecoder(f *pth.File) (*Checkpoint, error) {
	r := &torchReader{f: f, used: map[string]bool{}, net: "pytorch-AdaIN's decoder"}
	s1 := r.shape("1.weight")
	if len(s1) != 4 {
		return nil, fmt.Errorf("1.weight must be a 4-d conv weight (has shape %v)", s1)
	}
	a := adain.Arch{EncoderLayer: "relu4_1", Width: float64(s1[0]) / 256, Flavour: adain.FlavourPyTorchAdaIN}
	if err := a.Validate(); err != nil {
		return nil, err
	}
	ls := a.Layers()
	if len(ls) != len(adainDecoderIndex) {
		return nil, fmt.Errorf("internal: %d decoder layers", len(ls))
	}
	c := &Checkpoint{Tensors: map[string]*tensors.Tensor{}}
	for i, l := range ls {
		w, err := r.get(fmt.Sprintf("%d.weight", adainDecoderIndex[i]), l.Out, l.In, 3, 3)
		if err != nil {
			return nil, err
		}
		b, err := r.get(fmt.Sprintf("%d.bias", adainDecoderIndex[i]), l.Out)
		if err != nil {
			return nil, err
		}
		p := "/" + adain.Scope + "/" + l.Name + "/"
		c.Tensors[p+"kernel"] = hwio(w, l.Out, l.In, 3, 3)
		c.Tensors[p+"bias"] = tensors.FromFlatDataAndDimensions(b, l.Out)
	}
	if err := r.extra(nil); err != nil {
		return nil, err
	}
	c.Header = Header{Format: Format, Version: FormatVersion, Kind: KindAdaIN, Architecture: Architecture{AdaIN: &a},
		LossNet: LossNet{Pool: vgg.PoolMax}, Imported: imported(TorchAdaINDecoder, f, r.notes())}
	return c, nil
}

// EncodeImported returns the checkpoint bytes (Encode, no optimiser state) of an imported network, so that it can
// be kept as a stylelab model file (stylelab weights convert).
func EncodeImported(c *Checkpoint) ([]byte, error) {
	ctx := context.New()
	ctx.SetLoader(c)
	h := c.Header
	var err error
	if h.Architecture.AdaIN != nil {
		err = adain.Init(ctx, *h.Architecture.AdaIN, 0)
	} else {
		err = transformer.Init(ctx, *h.Architecture.Transformer, 0)
	}
	if err != nil {
		return nil, err
	}
	return Encode(ctx, &h, false)
}

func imported(kind string, f *pth.File, notes []string) string {
	s := fmt.Sprintf("%s from %s (%s torch.save, SHA-256 %s)", kind, filepath.Base(f.Path), f.Format, f.SHA256)
	if len(notes) > 0 {
		s += "; " + strings.Join(notes, "; ")
	}
	return s
}

// checkShapes checks an imported checkpoint as DecodeCheckpoint checks a file: a consistent header, and exactly
// the tensors of its architecture (Header.Expected), each with its dtype and shape.
func (c *Checkpoint) checkShapes() error {
	if err := c.Header.Validate(); err != nil {
		return err
	}
	want := c.Header.Expected()
	for name, t := range c.Tensors {
		w, ok := want[name]
		if !ok {
			return fmt.Errorf("unexpected tensor %s for a %s network of this architecture", name, c.Header.Kind)
		}
		if t.DType() != w.DType || !slices.Equal(t.Shape().Dimensions, w.Dims) {
			return fmt.Errorf("tensor %s is %s, the architecture needs %s%v", name, t.Shape(), w.DType, w.Dims)
		}
	}
	return c.checkComplete(want)
}
