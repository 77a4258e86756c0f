package vgg

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"math/rand/v2"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/nlpodyssey/safetensors"
	"github.com/stylelab/stylelab/experiments/safefile"
)

// EnvWeights is the environment variable FromEnvOrRandom reads when no path is given.
const EnvWeights = "STYLELAB_VGG_WEIGHTS"

// Weights are the parameters of VGG-19's 16 convolutions, in the order of Convs.
//
// Kernels[i] is HWIO [3,3,Convs[i].In,Convs[i].Out] flattened row-major (the layout used inside the graph;
// torchvision files are OIHW and are transposed on load and save). Biases[i] is [Convs[i].Out].
type Weights struct {
	// Source says where the weights come from: "random(seed=N)" or "file:/abs/path".
	Source string
	// SHA256 is the hex SHA-256 of the weight values in canonical order (see HashWeights): the same values
	// always give the same hash, whether generated or loaded.
	SHA256  string
	Kernels [][]float32
	Biases  [][]float32
}

// Validate checks that w has 16 kernels and biases of the VGG-19 sizes.
func (w *Weights) Validate() error {
	if w == nil {
		return errors.New("vgg: weights are nil (use vgg.Random, vgg.LoadSafetensors or vgg.FromEnvOrRandom)")
	}
	if len(w.Kernels) != len(Convs) || len(w.Biases) != len(Convs) {
		return fmt.Errorf("vgg: weights have %d kernels and %d biases, want %d of each", len(w.Kernels), len(w.Biases), len(Convs))
	}
	for i, c := range Convs {
		if len(w.Kernels[i]) != 9*c.In*c.Out || len(w.Biases[i]) != c.Out {
			return fmt.Errorf("vgg: %s has %d kernel and %d bias values, want %d and %d",
				c.Name, len(w.Kernels[i]), len(w.Biases[i]), 9*c.In*c.Out, c.Out)
		}
	}
	return nil
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
	buf := make([]byte, 0, 4*(9*512*512+512))
	for i, c := range Convs {
		buf = appendFloats(buf[:0], hwioToOIHW(kernels[i], c.In, c.Out))
		buf = appendFloats(buf, biases[i])
		h.Write(buf)
	}
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
func Random(seed uint64) *Weights {
	rng := rand.New(rand.NewPCG(seed, randomStream))
	w := &Weights{Source: fmt.Sprintf("random(seed=%d)", seed)}
	for _, c := range Convs {
		std := math.Sqrt(2 / float64(9*c.In))
		k := make([]float32, 9*c.In*c.Out)
		for i := range k {
			k[i] = float32(rng.NormFloat64() * std)
		}
		w.Kernels = append(w.Kernels, k)
		w.Biases = append(w.Biases, make([]float32, c.Out))
	}
	w.SHA256 = HashWeights(w.Kernels, w.Biases)
	return w
}

// torchName returns the torchvision tensor name of a convolution's weight or bias with the given prefix
// ("features." for a full-model export, "" for an export of model.features alone).
func torchName(prefix string, c ConvSpec, kind string) string {
	return fmt.Sprintf("%s%d.%s", prefix, c.TorchIndex, kind)
}

// LoadSafetensors reads VGG-19 weights from a safetensors file in torchvision layout: tensors
// "features.N.weight" (float32, OIHW [out,in,3,3]) and "features.N.bias" (float32 [out]) for
// N = 0,2,5,7,10,12,14,16,19,21,23,25,28,30,32,34. Such a file comes from
//
//	safetensors.torch.save_file(torchvision.models.vgg19(weights="IMAGENET1K_V1").state_dict(), "vgg19.safetensors")
//
// Other tensors (classifier.*) are ignored. A file exported from model.features alone (names "N.weight")
// is accepted too. Kernels are transposed to HWIO. Every name, dtype and shape is checked; errors name the
// tensor, what was wanted and what was found. The whole file is read into memory (the full torchvision
// model is 548 MB; a features-only export is 80 MB), exactly its size: a path that is not a regular file (a
// FIFO, /dev/zero) is refused without reading (safefile.ReadFile).
func LoadSafetensors(path string) (*Weights, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("vgg: weights path %q: %w", path, err)
	}
	data, err := safefile.ReadFile(abs)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("vgg: weights file %s does not exist: pass an existing safetensors file "+
				"(--weights or %s), or leave both empty to use seeded random weights", abs, EnvWeights)
		}
		return nil, fmt.Errorf("vgg: cannot read weights file %s: %w", abs, err)
	}
	st, err := safetensors.Deserialize(data)
	if err != nil {
		return nil, fmt.Errorf("vgg: %s is not a readable safetensors file (%v): it is truncated, corrupt or "+
			"another format; export it again with safetensors.torch.save_file", abs, err)
	}

	prefix := "features."
	if _, ok := st.Tensor(torchName(prefix, Convs[0], "weight")); !ok {
		if _, ok := st.Tensor(torchName("", Convs[0], "weight")); ok {
			prefix = ""
		}
	}
	w := &Weights{Source: "file:" + abs}
	for _, c := range Convs {
		kernel, err := readTensor(st, abs, torchName(prefix, c, "weight"), c, []uint64{uint64(c.Out), uint64(c.In), 3, 3})
		if err != nil {
			return nil, err
		}
		bias, err := readTensor(st, abs, torchName(prefix, c, "bias"), c, []uint64{uint64(c.Out)})
		if err != nil {
			return nil, err
		}
		w.Kernels = append(w.Kernels, oihwToHWIO(kernel, c.In, c.Out))
		w.Biases = append(w.Biases, bias)
	}
	w.SHA256 = HashWeights(w.Kernels, w.Biases)
	return w, nil
}

// readTensor returns the float32 values of one named tensor after checking its presence, dtype and shape.
func readTensor(st safetensors.SafeTensors, path, name string, c ConvSpec, want []uint64) ([]float32, error) {
	tv, ok := st.Tensor(name)
	if !ok {
		hint := ""
		if _, vgg16 := st.Tensor(strings.Replace(name, "16.", "17.", 1)); vgg16 && c.TorchIndex == 16 {
			hint = " (it looks like VGG-16, which has a different layout)"
		}
		return nil, fmt.Errorf("vgg: %s has no tensor %q (%s)%s: the file must be a safetensors export of "+
			"torchvision VGG-19 `features`, with tensors features.N.weight and features.N.bias for N = "+
			"0,2,5,7,10,12,14,16,19,21,23,25,28,30,32,34 (the file has %d tensors%s)",
			path, name, c.Name, hint, st.Len(), sampleNames(st))
	}
	if tv.DType() != safetensors.F32 {
		return nil, fmt.Errorf("vgg: tensor %q (%s) in %s has dtype %s, want F32: convert the model with "+
			".float() before saving", name, c.Name, path, tv.DType())
	}
	if !equalDims(tv.Shape(), want) {
		return nil, fmt.Errorf("vgg: tensor %q (%s) in %s has shape %v, want %v (torchvision OIHW layout for "+
			"weights): this is not VGG-19's %s", name, c.Name, path, tv.Shape(), want, c.Name)
	}
	raw := tv.Data()
	out := make([]float32, len(raw)/4)
	for i := range out {
		out[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
	}
	return out, nil
}

func equalDims(a, b []uint64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// sampleNames lists up to 5 tensor names of the file, for error messages.
func sampleNames(st safetensors.SafeTensors) string {
	names := st.Names()
	if len(names) == 0 {
		return ""
	}
	if len(names) > 5 {
		names = append(names[:5:5], "…")
	}
	return ", e.g. " + strings.Join(names, ", ")
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

// WriteSafetensors writes w in torchvision layout (features.N.weight as float32 OIHW, features.N.bias),
// the layout LoadSafetensors reads, with the metadata {"format": "pt", "source": w.Source,
// "sha256": w.SHA256}. The file is written to a fresh temporary file in the same folder and renamed
// (safefile.WriteAtomic, mode 0644), so a failed write never leaves a partial file at path.
func WriteSafetensors(path string, w *Weights) error {
	if err := w.Validate(); err != nil {
		return err
	}
	tensors := map[string]f32View{}
	for i, c := range Convs {
		tensors[torchName("features.", c, "weight")] = f32View{
			shape: []uint64{uint64(c.Out), uint64(c.In), 3, 3},
			data:  appendFloats(nil, hwioToOIHW(w.Kernels[i], c.In, c.Out)),
		}
		tensors[torchName("features.", c, "bias")] = f32View{shape: []uint64{uint64(c.Out)}, data: appendFloats(nil, w.Biases[i])}
	}
	meta := map[string]string{"format": "pt", "source": w.Source, "sha256": w.SHA256}

	if err := safefile.WriteAtomic(path, func(w io.Writer) error { return safetensors.SerializeToWriter(tensors, meta, w) }); err != nil {
		return fmt.Errorf("vgg: writing weights to %s: %w", path, err)
	}
	return nil
}

// FromEnvOrRandom picks the loss-network weights: the file flagPath if it is not empty, else the file
// named by $STYLELAB_VGG_WEIGHTS if that is set and not empty, else Random(seed). A named file that
// cannot be loaded is an error (never a silent fallback to random weights).
func FromEnvOrRandom(flagPath string, seed uint64) (*Weights, error) {
	if p := strings.TrimSpace(flagPath); p != "" {
		return LoadSafetensors(p)
	}
	if p := strings.TrimSpace(os.Getenv(EnvWeights)); p != "" {
		w, err := LoadSafetensors(p)
		if err != nil {
			return nil, fmt.Errorf("%w (from $%s)", err, EnvWeights)
		}
		return w, nil
	}
	return Random(seed), nil
}
