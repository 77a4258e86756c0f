package vgg

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"

	"github.com/nlpodyssey/safetensors"
	"github.com/stylelab/stylelab/experiments/pth"
	"github.com/stylelab/stylelab/experiments/safefile"
)

// EnvWeights is the environment variable FromEnvOrRandom reads when no path is given.
const EnvWeights = "STYLELAB_VGG_WEIGHTS"

// EnvNet is the environment variable naming the loss network (vgg19 | vgg16) where no --net is given: notebooks
// (kernel/lab) read it, as they read EnvWeights.
const EnvNet = "STYLELAB_VGG_NET"

// Weights are the parameters of the loss network's convolutions (Net's Convs, in order) and how its input is
// prepared (Layout, Input).
//
// Kernels[i] is HWIO [3,3,Convs[i].In,Convs[i].Out] flattened row-major (the layout used inside the graph;
// torchvision files are OIHW and are transposed on load and save). Biases[i] is [Convs[i].Out].
type Weights struct {
	// Source says where the weights come from: "random(seed=N)" or "file:/abs/path".
	Source string
	// SHA256 is the hex SHA-256 of the weight values in canonical order (see HashWeights): the same values
	// always give the same hash, whether generated or loaded. For layouts other than torchvision it covers the
	// layout and its input convention too (see Weights.hash).
	SHA256  string
	Kernels [][]float32
	Biases  [][]float32

	// Net is the topology ("" is VGG19).
	Net Net
	// Layout is the file's layout and input convention ("" is Torchvision); LayoutReason says how it was decided.
	Layout       Layout
	LayoutReason string
	// Input, when not nil, replaces torchvision's Normalize: the first convolution sees Input applied to the RGB
	// image (Caffe: BGR ×255 − means; AdaIN: the file's 1×1 conv). Layout AdaINLayout also reflect-pads every conv.
	Input *Affine
	// FileSHA256 is the hex SHA-256 of the file's bytes ("" for random weights).
	FileSHA256 string
	// Notes are things the loader did that a user should know (dtype conversions).
	Notes []string
}

func (w *Weights) net() Net {
	if w.Net == "" {
		return VGG19
	}
	return w.Net
}

func (w *Weights) layout() Layout {
	if w.Layout == "" {
		return Torchvision
	}
	return w.Layout
}

// Describe is one line naming the weights: net, layout, source, hashes.
func (w *Weights) Describe() string {
	s := fmt.Sprintf("%s %s weights %s (values SHA-256 %.12s", w.net().Title(), w.layout(), w.Source, w.SHA256)
	if w.FileSHA256 != "" {
		s += fmt.Sprintf(", file SHA-256 %.12s", w.FileSHA256)
	}
	return s + ")"
}

// Validate checks that w has a kernel and a bias of the right size for every convolution of its net.
func (w *Weights) Validate() error {
	if w == nil {
		return errors.New("vgg: weights are nil (use vgg.Random, vgg.Load or vgg.FromEnvOrRandom)")
	}
	convs := w.net().Convs()
	if len(w.Kernels) != len(convs) || len(w.Biases) != len(convs) {
		return fmt.Errorf("vgg: weights have %d kernels and %d biases, want %d of each for %s", len(w.Kernels), len(w.Biases), len(convs), w.net().Title())
	}
	for i, c := range convs {
		if len(w.Kernels[i]) != 9*c.In*c.Out || len(w.Biases[i]) != c.Out {
			return fmt.Errorf("vgg: %s has %d kernel and %d bias values, want %d and %d",
				c.Name, len(w.Kernels[i]), len(w.Biases[i]), 9*c.In*c.Out, c.Out)
		}
	}
	if w.layout() != Torchvision && w.Input == nil {
		return fmt.Errorf("vgg: %s weights have no input convention (Input)", w.layout())
	}
	return nil
}

// hash is SHA256 for w: HashWeights over the net's convolutions for the torchvision layout (VGG-19: the formula
// below; VGG-16: the same over its 13 convolutions); for the other layouts, the SHA-256 of the line
// "stylelab-vgg <layout>\n", then Input's M (row-major) and B as little-endian float32, then the same values.
func (w *Weights) hash() string {
	h := sha256.New()
	if w.layout() != Torchvision {
		h.Write([]byte("stylelab-vgg " + string(w.layout()) + "\n"))
		var v []float32
		for i := range 3 {
			for j := range 3 {
				v = append(v, float32(w.Input.M[i][j]))
			}
		}
		for j := range 3 {
			v = append(v, float32(w.Input.B[j]))
		}
		h.Write(appendFloats(nil, v))
	}
	hashConvs(h, w.net().Convs(), w.Kernels, w.Biases)
	return hex.EncodeToString(h.Sum(nil))
}

func hashConvs(h hash.Hash, convs []ConvSpec, kernels, biases [][]float32) {
	buf := make([]byte, 0, 4*(9*512*512+512))
	for i, c := range convs {
		buf = appendFloats(buf[:0], hwioToOIHW(kernels[i], c.In, c.Out))
		buf = appendFloats(buf, biases[i])
		h.Write(buf)
	}
}

// HashWeights returns the hex SHA-256 of the weights in canonical order: for each convolution in network
// order (conv1_1 … conv5_4), its kernel in torchvision's OIHW order, then its bias, every value as a
// little-endian IEEE-754 float32. It equals, in Python,
//
//	sd = torchvision.models.vgg19(...).state_dict()
//	h = hashlib.sha256()
//	for n in (0,2,5,7,10,12,14,16,19,21,23,25,28,30,32,34):
//	    for k in ("weight", "bias"):
//	        h.update(sd[f"features.{n}.{k}"].float().contiguous().numpy().astype("<f4").tobytes())
//	h.hexdigest()
func HashWeights(kernels, biases [][]float32) string {
	h := sha256.New()
	hashConvs(h, Convs, kernels, biases)
	return hex.EncodeToString(h.Sum(nil))
}

func appendFloats(buf []byte, v []float32) []byte {
	for _, f := range v {
		buf = binary.LittleEndian.AppendUint32(buf, math.Float32bits(f))
	}
	return buf
}

// hwioToOIHW transposes a 3×3 kernel from [3,3,in,out] to [out,in,3,3]. Both layouts are [9][in][out]
// versus [out][in][9]; looping c, o, t reads nine sequential streams and writes runs of nine values, which
// keeps the caches busy on 9 MB kernels (a naive loop is several times slower).
func hwioToOIHW(k []float32, in, out int) []float32 {
	dst := make([]float32, len(k))
	for c := range in {
		for o := range out {
			d := dst[(o*in+c)*9 : (o*in+c)*9+9]
			for t := range 9 {
				d[t] = k[(t*in+c)*out+o]
			}
		}
	}
	return dst
}

// oihwToHWIO transposes a 3×3 kernel from [out,in,3,3] to [3,3,in,out] (the inverse of hwioToOIHW).
func oihwToHWIO(k []float32, in, out int) []float32 {
	dst := make([]float32, len(k))
	for c := range in {
		for o := range out {
			src := k[(o*in+c)*9 : (o*in+c)*9+9]
			for t := range 9 {
				dst[(t*in+c)*out+o] = src[t]
			}
		}
	}
	return dst
}

// randomStream is the fixed PCG stream constant for Random ("STYLELAB" in ASCII), so that the seed alone
// determines the weights.
const randomStream = 0x5354594c454c4142

// Random returns seeded random VGG-19 weights: every kernel value is drawn from a normal distribution with
// He's standard deviation for ReLU networks,
//
//	kernel ~ N(0, 2 / fan_in),   fan_in = 3·3·In,   bias = 0,
//
// drawn in network order, each kernel in HWIO order, from math/rand/v2's PCG seeded with (seed,
// 0x5354594c454c4142). With zero bias a ReLU layer keeps the mean square of its input in expectation,
// so activations neither vanish nor explode through the 16 layers (the measured spread across
// relu1_1…relu5_4 is in the package tests). Same seed, same weights, same SHA256, on every machine.
func Random(seed uint64) *Weights { return RandomNet(VGG19, seed) }

// RandomNet is Random for the given net (VGG-16 draws its 13 kernels the same way, in its network order; the
// source is "random(seed=N)" for VGG-19, "random(vgg16, seed=N)" for VGG-16).
func RandomNet(net Net, seed uint64) *Weights {
	net, _ = ParseNet(string(net))
	rng := rand.New(rand.NewPCG(seed, randomStream))
	w := &Weights{Source: fmt.Sprintf("random(seed=%d)", seed), Net: net}
	if net == VGG16 {
		w.Source = fmt.Sprintf("random(vgg16, seed=%d)", seed)
	}
	for _, c := range net.Convs() {
		std := math.Sqrt(2 / float64(9*c.In))
		k := make([]float32, 9*c.In*c.Out)
		for i := range k {
			k[i] = float32(rng.NormFloat64() * std)
		}
		w.Kernels = append(w.Kernels, k)
		w.Biases = append(w.Biases, make([]float32, c.Out))
	}
	w.SHA256 = w.hash()
	return w
}

// torchName returns the torchvision tensor name of a convolution's weight or bias with the given prefix
// ("features." for a full-model export, "" for an export of model.features alone).
func torchName(prefix string, c ConvSpec, kind string) string {
	return fmt.Sprintf("%s%d.%s", prefix, c.TorchIndex, kind)
}

// Metadata keys of the safetensors files stylelab writes (WriteSafetensors, stylelab weights convert): the net and
// layout, so that a converted Caffe or AdaIN file keeps its input convention.
const (
	MetaNet    = "stylelab.net"
	MetaLayout = "stylelab.layout"
)

// LoadSafetensors reads VGG weights from a safetensors file: Load for a safetensors path.
func LoadSafetensors(path string) (*Weights, error) { return Load(path, LoadOptions{}) }

// Load reads VGG weights from a file: a safetensors file, or a PyTorch .pth state dict (zip or legacy torch.save,
// read by package pth's safe loader). The net (VGG-19 or VGG-16) and the layout (torchvision, caffe, adain; see
// Layout) are detected unless o names them (FromTensors, Detect); a safetensors file written by stylelab carries
// them in its metadata (MetaNet, MetaLayout). Such a file comes from, e.g.,
//
//	safetensors.torch.save_file(torchvision.models.vgg19(weights="IMAGENET1K_V1").state_dict(), "vgg19.safetensors")
//	torch.save(torchvision.models.vgg16(weights="IMAGENET1K_V1").state_dict(), "vgg16.pth")
//
// Other tensors than classifier.* are refused. Kernels are transposed to HWIO. Every name, dtype and shape is
// checked; errors name the file, the tensor, what was wanted and what was found. Safetensors tensors must be F32;
// .pth float16/bfloat16/float64 tensors are converted to float32 and said so in Notes. A safetensors file is read
// into memory whole, exactly its size; a .pth only for the tensors used (torchvision's VGG-19 is 548 MB, its
// features 80 MB). A path that is not a regular file (a FIFO, /dev/zero) is refused without reading (safefile).
func Load(path string, o LoadOptions) (*Weights, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("vgg: weights path %q: %w", path, err)
	}
	if _, err := os.Stat(abs); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("vgg: weights file %s does not exist: pass an existing safetensors or .pth file "+
				"(--weights or %s), or leave both empty to use seeded random weights", abs, EnvWeights)
		}
		return nil, fmt.Errorf("vgg: cannot read weights file %s: %w", abs, err)
	}
	if format, err := pth.Sniff(abs); err == nil && format != "" {
		f, err := pth.Open(abs)
		if err != nil {
			return nil, fmt.Errorf("vgg: %w", err)
		}
		defer f.Close()
		src := pthSource{f: f, converted: map[pth.DType]int{}}
		w, err := FromTensors(src, "file:"+abs, abs, f.SHA256, o)
		if err != nil {
			return nil, fmt.Errorf("vgg: %s: %w", abs, err)
		}
		for _, dt := range []pth.DType{pth.Float16, pth.BFloat16, pth.Float64} {
			if n := src.converted[dt]; n > 0 {
				w.Notes = append(w.Notes, fmt.Sprintf("%d %s tensors converted to float32", n, dt))
			}
		}
		return w, nil
	}
	data, err := safefile.ReadFile(abs) // a regular file only, exactly its size: a FIFO or /dev/zero is refused
	if err != nil {
		return nil, fmt.Errorf("vgg: cannot read weights file %s: %w", abs, err)
	}
	st, err := safetensors.Deserialize(data)
	if err != nil {
		return nil, fmt.Errorf("vgg: %s is not a readable safetensors file (%v): it is truncated, corrupt or "+
			"another format; export it again with safetensors.torch.save_file, or give the .pth torch.save wrote", abs, err)
	}
	if _, meta, err := safetensors.ReadMetadata(data); err == nil {
		md := meta.Metadata()
		if o.Net == "" && md[MetaNet] != "" {
			if o.Net, err = ParseNet(md[MetaNet]); err != nil {
				return nil, fmt.Errorf("vgg: %s: metadata %s: %w", abs, MetaNet, err)
			}
			if o.Why == "" {
				o.Why = "written in the file's metadata"
			}
		}
		if o.Layout == "" && md[MetaLayout] != "" {
			if o.Layout, err = ParseLayout(md[MetaLayout]); err != nil {
				return nil, fmt.Errorf("vgg: %s: metadata %s: %w", abs, MetaLayout, err)
			}
			o.LayoutWhy = "written in the file's metadata"
		}
	}
	h := sha256.Sum256(data)
	w, err := FromTensors(stSource{st}, "file:"+abs, abs, hex.EncodeToString(h[:]), o)
	if err != nil {
		return nil, fmt.Errorf("vgg: %s: %w", abs, err)
	}
	return w, nil
}

// stSource reads a safetensors file's tensors (F32 only).
type stSource struct{ st safetensors.SafeTensors }

func (s stSource) Names() []string { return s.st.Names() }

func (s stSource) Shape(name string) ([]int, bool) {
	tv, ok := s.st.Tensor(name)
	if !ok {
		return nil, false
	}
	out := make([]int, len(tv.Shape()))
	for i, d := range tv.Shape() {
		out[i] = int(d)
	}
	return out, true
}

func (s stSource) Float32(name string) ([]float32, error) {
	tv, _ := s.st.Tensor(name)
	if tv.DType() != safetensors.F32 {
		return nil, fmt.Errorf("tensor %q has dtype %s, want F32: convert the model with .float() before saving", name, tv.DType())
	}
	raw := tv.Data()
	out := make([]float32, len(raw)/4)
	for i := range out {
		out[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
	}
	return out, nil
}

// pthSource reads a PyTorch state dict's tensors; converted counts the non-float32 tensors read.
type pthSource struct {
	f         *pth.File
	converted map[pth.DType]int
}

func (s pthSource) Names() []string { return s.f.Names() }

func (s pthSource) Shape(name string) ([]int, bool) {
	t := s.f.Get(name)
	if t == nil {
		return nil, false
	}
	return t.Shape, true
}

func (s pthSource) Float32(name string) ([]float32, error) {
	t := s.f.Get(name)
	if !t.DType.IsFloat() {
		return nil, fmt.Errorf("tensor %q has dtype %s, not a float type: the file is another network", name, t.DType)
	}
	if t.DType != pth.Float32 {
		s.converted[t.DType]++
	}
	return t.Float32()
}

// f32View is a safetensors.View of float32 values (the library's TensorView keeps its fields private
// and copies nothing, so this small adapter is all that is needed to write with the library).
type f32View struct {
	shape []uint64
	data  []byte
}

func (v f32View) DType() safetensors.DType { return safetensors.F32 }
func (v f32View) Shape() []uint64          { return v.shape }
func (v f32View) Data() []byte             { return v.data }
func (v f32View) DataLen() uint64          { return uint64(len(v.data)) }

// Float32View is v as a safetensors view of the given shape (little-endian float32), for files written beside
// the loss network's weights with the same library (e.g. the PyTorch peer's inputs in bench).
func Float32View(shape []uint64, v []float32) safetensors.View {
	return f32View{shape: shape, data: appendFloats(nil, v)}
}

// WriteSafetensors writes w in torchvision layout (features.N.weight as float32 OIHW, features.N.bias, with
// the net's torchvision indices), the layout Load reads, with the metadata {"format": "pt", "source": w.Source,
// "sha256": w.SHA256, MetaNet, MetaLayout}; the adain layout adds its 1×1 input conv as input.weight [3,3,1,1]
// and input.bias [3]. The file is written to a fresh temporary file in the same folder and renamed
// (safefile.WriteAtomic, mode 0644), so a failed write never leaves a partial file at path.
func WriteSafetensors(path string, w *Weights) error {
	if err := w.Validate(); err != nil {
		return err
	}
	tensors := map[string]f32View{}
	if w.layout() == AdaINLayout {
		k := make([]float32, 9)
		b := make([]float32, 3)
		for j := range 3 {
			for i := range 3 {
				k[j*3+i] = float32(w.Input.M[i][j])
			}
			b[j] = float32(w.Input.B[j])
		}
		tensors["input.weight"] = f32View{shape: []uint64{3, 3, 1, 1}, data: appendFloats(nil, k)}
		tensors["input.bias"] = f32View{shape: []uint64{3}, data: appendFloats(nil, b)}
	}
	for i, c := range w.net().Convs() {
		tensors[torchName("features.", c, "weight")] = f32View{
			shape: []uint64{uint64(c.Out), uint64(c.In), 3, 3},
			data:  appendFloats(nil, hwioToOIHW(w.Kernels[i], c.In, c.Out)),
		}
		tensors[torchName("features.", c, "bias")] = f32View{shape: []uint64{uint64(c.Out)}, data: appendFloats(nil, w.Biases[i])}
	}
	meta := map[string]string{"format": "pt", "source": w.Source, "sha256": w.SHA256,
		MetaNet: string(w.net()), MetaLayout: string(w.layout())}

	if err := safefile.WriteAtomic(path, func(w io.Writer) error { return safetensors.SerializeToWriter(tensors, meta, w) }); err != nil {
		return fmt.Errorf("vgg: writing weights to %s: %w", path, err)
	}
	return nil
}

// FromEnvOrRandom picks the loss-network weights: the file flagPath if it is not empty, else the file
// named by $STYLELAB_VGG_WEIGHTS if that is set and not empty, else Random(seed). A named file that
// cannot be loaded is an error (never a silent fallback to random weights).
func FromEnvOrRandom(flagPath string, seed uint64) (*Weights, error) {
	return FromEnvOrRandomNet(flagPath, "", seed)
}

// FromEnvOrRandomNet is FromEnvOrRandom for a net ("" detects it from a file, and means VGG-19 for random
// weights): a file of the other net is an error.
func FromEnvOrRandomNet(flagPath string, net Net, seed uint64) (*Weights, error) {
	o := LoadOptions{Net: net, Why: "asked for (--net)"}
	if p := strings.TrimSpace(flagPath); p != "" {
		return Load(p, o)
	}
	if p := strings.TrimSpace(os.Getenv(EnvWeights)); p != "" {
		w, err := Load(p, o)
		if err != nil {
			return nil, fmt.Errorf("%w (from $%s)", err, EnvWeights)
		}
		return w, nil
	}
	return RandomNet(net, seed), nil
}
