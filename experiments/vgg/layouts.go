package vgg

import (
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
)

// Layout says how a file's VGG weights are named and what input they expect.
//
//	layout       keys                                   input the first convolution sees (x: RGB in [0,1])
//	torchvision  features.N.weight/bias (N as torchvision)  (x − (0.485, 0.456, 0.406)) / (0.229, 0.224, 0.225), RGB
//	caffe        features.N.weight/bias, like torchvision   255·x in BGR order − (103.939, 116.779, 123.68) (BGR means)
//	adain        N.weight/bias of pytorch-AdaIN's Sequential 1×1 conv 3→3 of the file (0.weight, 0.bias) applied to x;
//	             (0 = the 1×1 conv, then 2, 5, 9, 12, 16, …)    every 3×3 conv reflect-padded instead of zero-padded
//
// torchvision is vgg19-dcbb9e9d.pth / vgg16-397923af.pth; caffe is the Caffe VGG converted to PyTorch that
// neural-style-pt downloads (vgg19-d01eb7cb.pth, vgg16-00b39a1b.pth); adain is naoto0804/pytorch-AdaIN's
// vgg_normalised.pth (VGG-19 only). A file exported from model.features alone ("N.weight", no "features.") is
// read as torchvision/caffe.
type Layout string

const (
	Torchvision Layout = "torchvision"
	Caffe       Layout = "caffe"
	AdaINLayout Layout = "adain"
)

// ParseLayout turns "torchvision", "caffe", "adain" or "" (detect) into a Layout.
func ParseLayout(s string) (Layout, error) {
	switch l := Layout(strings.ToLower(strings.TrimSpace(s))); l {
	case "", Torchvision, Caffe, AdaINLayout:
		return l, nil
	}
	return "", fmt.Errorf("unknown weights layout %q: use torchvision, caffe or adain (or leave it out to detect it)", s)
}

// Convention describes the layout's input convention in words (for inspect, provenance and docs).
func (l Layout) Convention() string {
	switch l {
	case Caffe:
		return "BGR, 0–255, minus the Caffe means (103.939, 116.779, 123.68), no std; zero padding"
	case AdaINLayout:
		return "RGB in [0,1] through the file's 1×1 conv (0.weight, 0.bias); reflect padding"
	}
	return "RGB in [0,1], minus mean (0.485, 0.456, 0.406), divided by std (0.229, 0.224, 0.225); zero padding"
}

// CaffeMeanBGR is the Caffe VGG's per-channel mean, in BGR order, on the 0–255 scale.
var CaffeMeanBGR = [3]float64{103.939, 116.779, 123.68}

// Affine maps each pixel's RGB values x ∈ [0,1]³ to the first convolution's input: y_j = Σ_i x_i·M[i][j] + B[j].
type Affine struct {
	M [3][3]float64
	B [3]float64
}

// CaffeInput is the Caffe convention as an Affine: y_j = 255·x_{2−j} − CaffeMeanBGR[j] (y in BGR order).
func CaffeInput() *Affine {
	a := &Affine{}
	for j := range 3 {
		a.M[2-j][j] = 255
		a.B[j] = -CaffeMeanBGR[j]
	}
	return a
}

// adainIndex are the Sequential indices of VGG-19's 3×3 convolutions in pytorch-AdaIN's vgg_normalised (index 0 is
// the 1×1 conv; every conv follows a ReflectionPad2d and pools sit at 7, 14, 27, 40).
var adainIndex = []int{2, 5, 9, 12, 16, 19, 22, 25, 29, 32, 35, 38, 42, 45, 48, 51}

// knownFiles are the file names (torch hub style: name-<first 8 hex of the SHA-256>) users have, with their net and
// layout. A file whose SHA-256 starts with the hex part is that file for sure; one only named so is taken as it.
var knownFiles = []struct {
	name   string
	net    Net
	layout Layout
	what   string
}{
	{"vgg19-dcbb9e9d", VGG19, Torchvision, "torchvision's VGG-19"},
	{"vgg16-397923af", VGG16, Torchvision, "torchvision's VGG-16"},
	{"vgg19-d01eb7cb", VGG19, Caffe, "neural-style-pt's Caffe VGG-19"},
	{"vgg16-00b39a1b", VGG16, Caffe, "neural-style-pt's Caffe VGG-16"},
	{"vgg_normalised", VGG19, AdaINLayout, "pytorch-AdaIN's normalised VGG-19"},
}

// TensorSource is a file's named tensors (a safetensors file or a PyTorch state dict).
type TensorSource interface {
	Names() []string
	Shape(name string) ([]int, bool)
	// Float32 returns the values in row-major order as float32 (other float dtypes converted).
	Float32(name string) ([]float32, error)
}

// LoadOptions choose what a file is read as; the zero value detects both.
type LoadOptions struct {
	Net    Net    // "" detects from the keys
	Layout Layout // "" detects: file metadata, then the keys (AdaIN), then the file name, else torchvision
	// Why names the source of an explicit Net/Layout in messages ("asked for (--net)", "written in the file's
	// metadata"); LayoutWhy, when set, that of Layout alone.
	Why, LayoutWhy string
}

// Detected says what FromTensors found.
type Detected struct {
	Net          Net
	Layout       Layout
	LayoutReason string // how the layout was decided
	Prefix       string // "features." or "" (torchvision/caffe), "" (adain)
}

var seqKey = regexp.MustCompile(`^(features\.)?(\d+)\.(weight|bias)$`)

// Detect decides a file's net and layout from its tensor names (and file name and SHA-256 for the caffe/torchvision
// question, which the keys cannot answer: the Caffe conversion uses torchvision's names).
func Detect(src TensorSource, fileName, fileSHA string, o LoadOptions) (Detected, error) {
	var d Detected
	why := o.Why
	if why == "" {
		why = "asked for"
	}
	_, adain := src.Shape("0.weight")
	if s, ok := src.Shape("0.weight"); ok && !slices.Equal(s, []int{3, 3, 1, 1}) {
		adain = false
	}
	_, converted := src.Shape("input.weight") // a stylelab conversion of an adain file
	switch {
	case adain || converted:
		d.Net, d.Layout, d.LayoutReason = VGG19, AdaINLayout, "keys: 0.weight is a 1×1 conv 3→3 before the VGG-19 convolutions (pytorch-AdaIN's vgg_normalised)"
		if converted {
			d.Prefix, d.LayoutReason = "features.", "keys: input.weight (a stylelab conversion of pytorch-AdaIN's vgg_normalised)"
		}
		if o.Net == VGG16 {
			return d, fmt.Errorf("the file is pytorch-AdaIN's normalised VGG-19, but --net vgg16 was %s: use --net vgg19", why)
		}
		if o.Layout != "" && o.Layout != AdaINLayout {
			return d, fmt.Errorf("the file is pytorch-AdaIN's normalised VGG-19 (0.weight is its 1×1 input conv), but layout %s was %s: leave the layout out or use adain", o.Layout, why)
		}
		return d, nil
	}
	if _, ok := src.Shape("features.0.weight"); ok {
		d.Prefix = "features."
	} else if _, ok := src.Shape("0.weight"); !ok {
		return d, fmt.Errorf("it has no features.0.weight (nor 0.weight), so it is not a VGG state dict%s", sample(src))
	}
	_, has34 := src.Shape(d.Prefix + "34.weight")
	_, has17 := src.Shape(d.Prefix + "17.weight")
	_, has28 := src.Shape(d.Prefix + "28.weight")
	detected := Net("")
	switch {
	case has34:
		detected = VGG19
	case has17 && has28:
		detected = VGG16
	}
	switch {
	case o.Net != "" && detected != "" && o.Net != detected:
		return d, fmt.Errorf("the file is %s (it %s %s34.weight), but --net %s was %s: use --net %s", detected.Title(),
			map[bool]string{true: "has", false: "has no"}[has34], d.Prefix, o.Net, why, detected)
	case o.Net != "":
		d.Net = o.Net
	case detected != "":
		d.Net = detected
	default:
		return d, fmt.Errorf("its convolutions match neither VGG-19 (%s34.weight) nor VGG-16 (%s17.weight and %s28.weight)%s",
			d.Prefix, d.Prefix, d.Prefix, sample(src))
	}
	base := strings.ToLower(filepath.Base(fileName))
	lwhy := why
	if o.LayoutWhy != "" {
		lwhy = o.LayoutWhy
	}
	switch {
	case o.Layout == AdaINLayout:
		return d, fmt.Errorf("layout adain was %s, but the file has no 1×1 input conv (0.weight [3,3,1,1]): it is a %s in torchvision's key layout; use torchvision or caffe", lwhy, d.Net.Title())
	case o.Layout != "":
		d.Layout, d.LayoutReason = o.Layout, lwhy
		return d, nil
	}
	for _, k := range knownFiles {
		hex := strings.TrimPrefix(k.name, string(k.net)+"-")
		if k.layout != AdaINLayout && fileSHA != "" && strings.HasPrefix(fileSHA, hex) && k.net == d.Net {
			d.Layout, d.LayoutReason = k.layout, "the file's SHA-256 starts with "+hex+": "+k.what
			return d, nil
		}
	}
	for _, k := range knownFiles {
		if k.layout != AdaINLayout && strings.HasPrefix(base, k.name) && k.net == d.Net {
			d.Layout, d.LayoutReason = k.layout, "file name "+k.name+": "+k.what+" (its SHA-256 differs from the original's; pass --layout to override)"
			return d, nil
		}
	}
	d.Layout, d.LayoutReason = Torchvision, "assumed: the keys are torchvision's, which the Caffe conversion shares; pass --layout caffe for neural-style-pt's vgg19-d01eb7cb.pth"
	return d, nil
}

// indices lists the Sequential indices of the net's convolutions in a layout, for messages.
func (n Net) indices(l Layout, prefix string) string {
	var out []string
	for i, c := range n.Convs() {
		if l == AdaINLayout && prefix == "" {
			out = append(out, fmt.Sprint(adainIndex[i]))
		} else {
			out = append(out, fmt.Sprint(c.TorchIndex))
		}
	}
	return strings.Join(out, ",")
}

// sample lists a few of the file's tensor names, for messages.
func sample(src TensorSource) string {
	names := src.Names()
	if len(names) == 0 {
		return " (the file has no tensors)"
	}
	sort.Strings(names)
	n := len(names)
	if len(names) > 6 {
		names = append(names[:6:6], "…")
	}
	return fmt.Sprintf(" (the file has %d tensors: %s)", n, strings.Join(names, ", "))
}

// FromTensors builds VGG weights from a file's tensors: Detect, then every convolution's weight [out,in,3,3] and
// bias [out] (transposed to HWIO), and for adain the 1×1 input conv. Every tensor must be there with its shape, and
// no tensor may be left over except classifier.* (the classifier, which feature extraction does not use): a missing
// or extra key or a wrong shape is an error naming it. source is recorded in Weights.Source.
func FromTensors(src TensorSource, source, fileName, fileSHA string, o LoadOptions) (*Weights, error) {
	d, err := Detect(src, fileName, fileSHA, o)
	if err != nil {
		return nil, err
	}
	convs := d.Net.Convs()
	w := &Weights{Source: source, Net: d.Net, Layout: d.Layout, LayoutReason: d.LayoutReason, FileSHA256: fileSHA}
	used := map[string]bool{}
	read := func(name string, want []int, what string) ([]float32, error) {
		shape, ok := src.Shape(name)
		if !ok {
			hint := ""
			if _, v16 := src.Shape(d.Prefix + "17.weight"); v16 && d.Net == VGG19 && d.Layout != AdaINLayout {
				hint = " (it looks like VGG-16, which has a different layout: use --net vgg16)"
			}
			return nil, fmt.Errorf("it has no tensor %q (%s)%s: the file must be a state dict of %s %s `features`, "+
				"with tensors features.N.weight and features.N.bias for N = %s%s", name, what, hint, d.Layout,
				d.Net.Title(), d.Net.indices(d.Layout, d.Prefix), sample(src))
		}
		if !slices.Equal(shape, want) {
			return nil, fmt.Errorf("tensor %q (%s) has shape %v, want %v for %s's %s (torchvision OIHW layout): the file is another network",
				name, what, shape, want, d.Net.Title(), what)
		}
		used[name] = true
		return src.Float32(name)
	}
	for i, c := range convs {
		key := fmt.Sprintf("%s%d.", d.Prefix, c.TorchIndex)
		if d.Layout == AdaINLayout && d.Prefix == "" {
			key = fmt.Sprintf("%d.", adainIndex[i])
		}
		k, err := read(key+"weight", []int{c.Out, c.In, 3, 3}, c.Name)
		if err != nil {
			return nil, err
		}
		b, err := read(key+"bias", []int{c.Out}, c.Name+" bias")
		if err != nil {
			return nil, err
		}
		w.Kernels = append(w.Kernels, oihwToHWIO(k, c.In, c.Out))
		w.Biases = append(w.Biases, b)
	}
	switch d.Layout {
	case Caffe:
		w.Input = CaffeInput()
	case AdaINLayout:
		name := "0."
		if d.Prefix != "" {
			name = "input."
		}
		k, err := read(name+"weight", []int{3, 3, 1, 1}, "1×1 input conv")
		if err != nil {
			return nil, err
		}
		b, err := read(name+"bias", []int{3}, "1×1 input conv bias")
		if err != nil {
			return nil, err
		}
		w.Input = &Affine{}
		for j := range 3 {
			for i := range 3 {
				w.Input.M[i][j] = float64(k[j*3+i]) // weight[out=j][in=i]
			}
			w.Input.B[j] = float64(b[j])
		}
	}
	var extra []string
	for _, n := range src.Names() {
		if used[n] || strings.HasPrefix(n, "classifier.") {
			continue
		}
		extra = append(extra, n)
	}
	if len(extra) > 0 {
		sort.Strings(extra)
		if len(extra) > 6 {
			extra = append(extra[:6:6], "…")
		}
		return nil, fmt.Errorf("it has tensors that %s in the %s layout does not have: %s; the file is another "+
			"network, or was edited", d.Net.Title(), d.Layout, strings.Join(extra, ", "))
	}
	w.SHA256 = w.hash()
	return w, nil
}
