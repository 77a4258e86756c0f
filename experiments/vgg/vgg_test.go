package vgg

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/nlpodyssey/safetensors"
)

func TestLayers(t *testing.T) {
	if len(Layers) != 36 {
		t.Fatalf("len(Layers) = %d, want 36 (16 conv + 16 relu + 4 pool)", len(Layers))
	}
	wantStart := []string{"conv1_1", "relu1_1", "conv1_2", "relu1_2", "pool1", "conv2_1"}
	if !slices.Equal(Layers[:6], wantStart) {
		t.Errorf("Layers starts %v, want %v", Layers[:6], wantStart)
	}
	if Layers[len(Layers)-1] != "relu5_4" {
		t.Errorf("last layer %q, want relu5_4", Layers[len(Layers)-1])
	}
	for i, p := range []string{"pool1", "pool2", "pool3", "pool4"} {
		want := []int{4, 9, 18, 27}[i]
		if LayerIndex(p) != want {
			t.Errorf("LayerIndex(%s) = %d, want %d", p, LayerIndex(p), want)
		}
	}
	if LayerIndex("pool5") != -1 {
		t.Errorf("pool5 must not exist")
	}
	// The torchvision indices follow from the layout conv, relu (, pool): module N of features.
	idx := 0
	for _, l := range Layers {
		if strings.HasPrefix(l, "conv") {
			k := slices.IndexFunc(Convs, func(c ConvSpec) bool { return c.Name == l })
			if Convs[k].TorchIndex != idx {
				t.Errorf("%s: TorchIndex %d, want %d", l, Convs[k].TorchIndex, idx)
			}
		}
		idx++
	}
	for _, tc := range []struct {
		layer     string
		ch, scale int
	}{{"conv1_1", 64, 1}, {"pool1", 64, 2}, {"relu3_1", 256, 4}, {"relu4_2", 512, 8}, {"relu5_1", 512, 16}} {
		ch, _ := LayerChannels(tc.layer)
		sc, _ := LayerScale(tc.layer)
		if ch != tc.ch || sc != tc.scale {
			t.Errorf("%s: channels %d scale %d, want %d and %d", tc.layer, ch, sc, tc.ch, tc.scale)
		}
	}
}

func TestValidateLayers(t *testing.T) {
	if err := ValidateLayers([]string{"relu1_1", "pool4", "relu5_4"}); err != nil {
		t.Errorf("valid layers refused: %v", err)
	}
	err := ValidateLayers([]string{"relu1_1", "relu6_1", "fc7"})
	if err == nil || !strings.Contains(err.Error(), `"relu6_1", "fc7"`) || !strings.Contains(err.Error(), "conv1_1 relu1_1") {
		t.Errorf("error %v: want it to name relu6_1 and fc7 and list the valid layers", err)
	}
	if _, err := ParsePool("median"); err == nil || !strings.Contains(err.Error(), `"avg" or "max"`) {
		t.Errorf("ParsePool(median) error %v", err)
	}
	if p, _ := ParsePool(""); p != PoolAvg {
		t.Errorf("ParsePool(\"\") = %q, want avg", p)
	}
}

func TestRandomIsDeterministicAndHeScaled(t *testing.T) {
	a, b, c := testWeights(), Random(0), Random(1)
	if a.SHA256 != b.SHA256 || !slices.Equal(a.Kernels[15], b.Kernels[15]) {
		t.Fatalf("Random(0) twice gave different weights")
	}
	if a.SHA256 == c.SHA256 {
		t.Fatalf("Random(0) and Random(1) have the same hash")
	}
	if a.Source != "random(seed=0)" || c.Source != "random(seed=1)" {
		t.Errorf("sources %q, %q", a.Source, c.Source)
	}
	// Golden value: the same seed must give the same weights on every machine and Go release
	// (math/rand/v2's PCG and NormFloat64 are specified, stable algorithms). If this changes, every
	// recorded run's loss-network hash changes meaning.
	const golden = "8f287dda02db230c8c4858bae64b29dae267c905fecc1f3c59bb4337e4d5b7dc"
	if a.SHA256 != golden {
		t.Errorf("Random(0).SHA256 = %s, want %s", a.SHA256, golden)
	}
	for i, cs := range Convs {
		var s, ss float64
		for _, v := range a.Kernels[i] {
			s += float64(v)
			ss += float64(v) * float64(v)
		}
		n := float64(len(a.Kernels[i]))
		std, want := math.Sqrt(ss/n-(s/n)*(s/n)), math.Sqrt(2/float64(9*cs.In))
		if math.Abs(std/want-1) > 0.05 {
			t.Errorf("%s: kernel std %.4g, want He std %.4g", cs.Name, std, want)
		}
		for _, v := range a.Biases[i] {
			if v != 0 {
				t.Fatalf("%s: non-zero bias %g", cs.Name, v)
			}
		}
	}
}

func TestSafetensorsRoundTrip(t *testing.T) {
	w := Random(3)
	path := filepath.Join(t.TempDir(), "w.safetensors")
	if err := WriteSafetensors(path, w); err != nil {
		t.Fatal(err)
	}
	got, err := LoadSafetensors(path)
	if err != nil {
		t.Fatal(err)
	}
	if got.SHA256 != w.SHA256 {
		t.Errorf("hash after round trip %s, want %s", got.SHA256, w.SHA256)
	}
	if got.Source != "file:"+path {
		t.Errorf("Source %q, want %q", got.Source, "file:"+path)
	}
	for i := range Convs {
		if !slices.Equal(got.Kernels[i], w.Kernels[i]) || !slices.Equal(got.Biases[i], w.Biases[i]) {
			t.Fatalf("%s differs after round trip", Convs[i].Name)
		}
	}
	// The documented canonical hash is the SHA-256 of the file's tensors, as stored (OIHW, float32 LE),
	// concatenated in network order, weight then bias: check it independently of HashWeights.
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	st, err := safetensors.Deserialize(data)
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	for _, c := range Convs {
		for _, kind := range []string{"weight", "bias"} {
			tv, _ := st.Tensor(fmt.Sprintf("features.%d.%s", c.TorchIndex, kind))
			h.Write(tv.Data())
		}
	}
	if hex.EncodeToString(h.Sum(nil)) != w.SHA256 {
		t.Errorf("SHA256 is not the hash of the torchvision-ordered tensor bytes")
	}
	// No temporary file is left behind.
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Errorf("folder holds %d entries after WriteSafetensors, want 1", len(entries))
	}
}

// rawTensor is a safetensors.View for hand-built test files.
type rawTensor struct {
	dt    safetensors.DType
	shape []uint64
	data  []byte
}

func (r rawTensor) DType() safetensors.DType { return r.dt }
func (r rawTensor) Shape() []uint64          { return r.shape }
func (r rawTensor) Data() []byte             { return r.data }
func (r rawTensor) DataLen() uint64          { return uint64(len(r.data)) }

func f32Bytes(v []float32) []byte {
	b := make([]byte, 0, 4*len(v))
	for _, f := range v {
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(f))
	}
	return b
}

var torchFiles sync.Map // prefix → *torchFileData, so tests share one generated file per naming scheme

type torchFileData struct {
	m      map[string]rawTensor
	ks, bs [][]float32
}

// torchFile returns the tensors of a valid torchvision VGG-19 export built directly in OIHW layout from
// a seeded generator (not through WriteSafetensors), plus the OIHW kernels for reference computations.
// The result is cached per prefix; callers must not modify the map (clone it).
func torchFile(prefix string) (map[string]rawTensor, [][]float32, [][]float32) {
	if d, ok := torchFiles.Load(prefix); ok {
		d := d.(*torchFileData)
		return d.m, d.ks, d.bs
	}
	rng := rand.New(rand.NewPCG(42, 1))
	m := map[string]rawTensor{}
	var ks, bs [][]float32
	for _, c := range Convs {
		k := make([]float32, c.Out*c.In*9)
		for i := range k {
			k[i] = float32(rng.NormFloat64() * math.Sqrt(2/float64(9*c.In)))
		}
		b := make([]float32, c.Out)
		for i := range b {
			b[i] = float32(rng.NormFloat64() * 0.1)
		}
		m[fmt.Sprintf("%s%d.weight", prefix, c.TorchIndex)] = rawTensor{safetensors.F32, []uint64{uint64(c.Out), uint64(c.In), 3, 3}, f32Bytes(k)}
		m[fmt.Sprintf("%s%d.bias", prefix, c.TorchIndex)] = rawTensor{safetensors.F32, []uint64{uint64(c.Out)}, f32Bytes(b)}
		ks, bs = append(ks, k), append(bs, b)
	}
	torchFiles.Store(prefix, &torchFileData{m, ks, bs})
	return m, ks, bs
}

func writeFile(t *testing.T, m map[string]rawTensor) string {
	t.Helper()
	data, err := safetensors.Serialize(m, nil)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "vgg19.safetensors")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestLoadSafetensorsErrors(t *testing.T) {
	good, _, _ := torchFile("features.")
	clone := func() map[string]rawTensor {
		m := map[string]rawTensor{}
		for k, v := range good {
			m[k] = v
		}
		return m
	}

	missing := clone()
	delete(missing, "features.7.bias")
	wrongShape := clone()
	ws := wrongShape["features.10.weight"]
	ws.shape = []uint64{256, 128, 1, 9} // same number of values, wrong shape
	wrongShape["features.10.weight"] = ws
	wrongDType := clone()
	wrongDType["features.0.bias"] = rawTensor{safetensors.F16, []uint64{64}, make([]byte, 128)}
	vgg16 := clone()
	vgg16["features.17.weight"] = vgg16["features.16.weight"]
	delete(vgg16, "features.16.weight")
	extra := clone()
	extra["features.99.weight"] = rawTensor{safetensors.F32, []uint64{2}, make([]byte, 8)}
	withClassifier := clone()
	withClassifier["classifier.0.weight"] = rawTensor{safetensors.F32, []uint64{2, 2}, make([]byte, 16)}

	for _, tc := range []struct {
		name string
		m    map[string]rawTensor
		want []string // substrings of the error; nil means success
	}{
		{"missing tensor", missing, []string{`"features.7.bias"`, "conv2_2", "torchvision VGG-19 `features`"}},
		{"wrong shape", wrongShape, []string{`"features.10.weight"`, "conv3_1", "[256 128 1 9]", "want [256 128 3 3]"}},
		{"wrong dtype", wrongDType, []string{`"features.0.bias"`, "F16", "want F32"}},
		{"vgg16 layout", vgg16, []string{`"features.16.weight"`, "VGG-16"}},
		{"extra classifier tensors are ignored", withClassifier, nil},
		{"extra tensor", extra, []string{"features.99.weight", "another network"}},
	} {
		_, err := LoadSafetensors(writeFile(t, tc.m))
		if tc.want == nil {
			if err != nil {
				t.Errorf("%s: %v", tc.name, err)
			}
			continue
		}
		if err == nil {
			t.Errorf("%s: loaded without error", tc.name)
			continue
		}
		for _, s := range tc.want {
			if !strings.Contains(err.Error(), s) {
				t.Errorf("%s: error %q does not mention %q", tc.name, err, s)
			}
		}
	}

	// Truncated, garbage and non-existent files.
	dir := t.TempDir()
	full, _ := safetensors.Serialize(good, nil)
	trunc := filepath.Join(dir, "trunc.safetensors")
	os.WriteFile(trunc, full[:len(full)-100], 0o644)
	garbage := filepath.Join(dir, "garbage.safetensors")
	os.WriteFile(garbage, []byte("this is a PNG, honest\x00\x00\x00"), 0o644)
	for _, tc := range []struct{ path, want string }{
		{trunc, "truncated, corrupt"},
		{garbage, "not a readable safetensors file"},
		{filepath.Join(dir, "nope.safetensors"), "does not exist"},
	} {
		_, err := LoadSafetensors(tc.path)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), tc.path) {
			t.Errorf("LoadSafetensors(%s): error %v, want one naming the file and saying %q", filepath.Base(tc.path), err, tc.want)
		}
	}
}

func TestFeaturesOnlyExportAccepted(t *testing.T) {
	m, _, _ := torchFile("")
	w, err := LoadSafetensors(writeFile(t, m))
	if err != nil {
		t.Fatal(err)
	}
	m2, _, _ := torchFile("features.")
	w2, err := LoadSafetensors(writeFile(t, m2))
	if err != nil {
		t.Fatal(err)
	}
	if w.SHA256 != w2.SHA256 {
		t.Errorf("the same values under both naming schemes hash differently")
	}
}

// TestConv1MatchesPlainGoOnOIHW loads a hand-built OIHW file and compares conv1_1 and relu1_2 (two convs,
// zero padding, normalisation) against a plain-Go computation that indexes the OIHW arrays directly.
func TestConv1MatchesPlainGoOnOIHW(t *testing.T) {
	m, ks, bs := torchFile("features.")
	w, err := LoadSafetensors(writeFile(t, m))
	if err != nil {
		t.Fatal(err)
	}
	const h, wd = 5, 6
	rng := rand.New(rand.NewPCG(9, 9))
	img := make([]float64, h*wd*3)
	for i := range img {
		img[i] = rng.Float64()
	}
	// Plain Go: normalise, conv (OIHW, pad 1), + bias, ReLU, conv, + bias, ReLU.
	x := make([]float64, len(img))
	for i := range img {
		x[i] = (img[i] - []float64{0.485, 0.456, 0.406}[i%3]) / []float64{0.229, 0.224, 0.225}[i%3]
	}
	conv := func(x []float64, k, b []float32, cin, cout int) []float64 {
		y := make([]float64, h*wd*cout)
		for i := range h {
			for j := range wd {
				for o := range cout {
					s := float64(b[o])
					for c := range cin {
						for u := range 3 {
							for v := range 3 {
								yy, xx := i-1+u, j-1+v
								if yy >= 0 && yy < h && xx >= 0 && xx < wd {
									s += x[(yy*wd+xx)*cin+c] * float64(k[((o*cin+c)*3+u)*3+v])
								}
							}
						}
					}
					y[(i*wd+j)*cout+o] = s
				}
			}
		}
		return y
	}
	relu := func(x []float64) []float64 {
		out := slices.Clone(x)
		for i := range out {
			out[i] = max(out[i], 0)
		}
		return out
	}
	conv11 := conv(x, ks[0], bs[0], 3, 64)
	relu12 := relu(conv(relu(conv11), ks[1], bs[1], 64, 64))

	got := featuresOf(t, w, PoolAvg, tensors.FromFlatDataAndDimensions(img, 1, h, wd, 3), []string{"conv1_1", "relu1_2"})
	for name, want := range map[string][]float64{"conv1_1": conv11, "relu1_2": relu12} {
		g := tensors.MustCopyFlatData[float64](got[name])
		if len(g) != len(want) {
			t.Fatalf("%s: %d values, want %d", name, len(g), len(want))
		}
		for i := range want {
			if math.Abs(g[i]-want[i]) > 1e-5*(1+math.Abs(want[i])) {
				t.Fatalf("%s[%d] = %g, want %g (OIHW→HWIO transposition or padding wrong)", name, i, g[i], want[i])
			}
		}
	}
}

// TestNormalisation sets conv1_1 to the identity on the RGB channels, so that conv1_1 outputs the
// normalised image itself, and checks torchvision's constants.
func TestNormalisation(t *testing.T) {
	w := Random(5)
	w.Kernels[0] = make([]float32, 9*3*64)
	for c := range 3 {
		w.Kernels[0][((1*3+1)*3+c)*64+c] = 1 // centre tap, channel c → c
	}
	w.SHA256 = HashWeights(w.Kernels, w.Biases)
	img := []float32{0, 0.5, 1, 0.485, 0.456, 0.406}
	got := featuresOf(t, w, PoolAvg, tensors.FromFlatDataAndDimensions(img, 1, 1, 2, 3), []string{"conv1_1"})["conv1_1"]
	g := tensors.MustCopyFlatData[float32](got)
	want := []float64{-0.485 / 0.229, (0.5 - 0.456) / 0.224, (1 - 0.406) / 0.225, 0, 0, 0}
	for p := range 2 {
		for c := range 3 {
			if math.Abs(float64(g[p*64+c])-want[p*3+c]) > 1e-5 {
				t.Errorf("pixel %d channel %d: %g, want %g", p, c, g[p*64+c], want[p*3+c])
			}
		}
	}
}

func TestFeaturesShapes32(t *testing.T) {
	img := tensors.FromFlatDataAndDimensions(make([]float32, 32*32*3), 1, 32, 32, 3)
	got := featuresOf(t, testWeights(), PoolMax, img, Layers)
	for _, l := range Layers {
		ch, _ := LayerChannels(l)
		sc, _ := LayerScale(l)
		want := []int{1, 32 / sc, 32 / sc, ch}
		if !slices.Equal(got[l].Shape().Dimensions, want) {
			t.Errorf("%s: shape %v, want %v", l, got[l].Shape().Dimensions, want)
		}
		if got[l].DType() != dtypes.Float32 {
			t.Errorf("%s: dtype %s", l, got[l].DType())
		}
	}
}

func TestFeaturesErrors(t *testing.T) {
	img := tensors.FromFlatDataAndDimensions(make([]float32, 16*16*3), 1, 16, 16, 3)
	w := testWeights()
	err := execError(context.New(), img, func(ctx *context.Context, img *graph.Node) *graph.Node {
		return Features(ctx, w, PoolAvg, img, []string{"relu1_1", "relu9_9"})["relu1_1"]
	})
	if err == nil || !strings.Contains(err.Error(), `"relu9_9"`) || !strings.Contains(err.Error(), "relu5_4") {
		t.Errorf("unknown layer: error %v, want it to name relu9_9 and list the valid layers", err)
	}
	err = execError(context.New(), img, func(ctx *context.Context, img *graph.Node) *graph.Node {
		return Features(ctx, w, "median", img, []string{"relu1_1"})["relu1_1"]
	})
	if err == nil || !strings.Contains(err.Error(), "median") {
		t.Errorf("bad pool: error %v", err)
	}
	tiny := tensors.FromFlatDataAndDimensions(make([]float32, 8*8*3), 1, 8, 8, 3)
	err = execError(context.New(), tiny, func(ctx *context.Context, img *graph.Node) *graph.Node {
		return Features(ctx, w, PoolAvg, img, []string{"relu5_1"})["relu5_1"]
	})
	if err == nil || !strings.Contains(err.Error(), "too small for layer relu5_1") {
		t.Errorf("tiny image: error %v", err)
	}
	// Two different weight sets on one context are refused.
	ctx := context.New()
	w2 := Random(1)
	err = execError(ctx, img, func(ctx *context.Context, img *graph.Node) *graph.Node {
		a := Features(ctx, w, PoolAvg, img, []string{"relu1_1"})["relu1_1"]
		b := Features(ctx, w2, PoolAvg, img, []string{"relu1_1"})["relu1_1"]
		return graph.Add(a, b)
	})
	if err == nil || !strings.Contains(err.Error(), "use a fresh context") {
		t.Errorf("two weight sets: error %v", err)
	}
}

// TestFeaturesVariables checks that the weights are non-trainable variables under /vgg, shared between two
// calls, and that only the layers up to the deepest wanted one are built.
func TestFeaturesVariables(t *testing.T) {
	ctx := context.New()
	g := graph.NewGraph(testBackend(), "vars")
	img := graph.Parameter(g, "img", shapesOf(1, 16, 16, 3))
	w := testWeights()
	a := Features(ctx, w, PoolAvg, img, []string{"relu2_1"})
	b := Features(ctx, w, PoolAvg, graph.MulScalar(img, 0.5), []string{"relu1_2"})
	if len(a) != 1 || len(b) != 1 {
		t.Fatalf("maps %v %v", a, b)
	}
	n := 0
	for v := range ctx.IterVariables() {
		n++
		if v.Trainable {
			t.Errorf("variable %s is trainable", v.ScopeAndName())
		}
		if !strings.HasPrefix(v.Scope(), "/vgg/conv") {
			t.Errorf("variable %s outside /vgg", v.ScopeAndName())
		}
	}
	if n != 32 {
		t.Errorf("%d variables, want 32 (kernel and bias of 16 convs)", n)
	}
	if !ctx.In("vgg").In("conv2_1").GetVariable("weights").InUseByGraph(g) {
		t.Errorf("conv2_1 not used by a graph wanting relu2_1")
	}
	if ctx.In("vgg").In("conv2_2").GetVariable("weights").InUseByGraph(g) {
		t.Errorf("conv2_2 built although the deepest wanted layer is relu2_1")
	}
	g.Finalize()
}

// TestImageGradient checks the gradient of a feature loss with respect to the image against central finite
// differences, in float64 (weights converted), on an 8×8 image up to relu2_1 through an average pool.
func TestImageGradient(t *testing.T) {
	w := testWeights()
	rng := rand.New(rand.NewPCG(2, 2))
	img := make([]float64, 8*8*3)
	for i := range img {
		img[i] = rng.Float64()
	}
	for _, pool := range []Pool{PoolAvg, PoolMax} {
		ctx := context.New()
		loss := func(ctx *context.Context, x *graph.Node) *graph.Node {
			f := Features(ctx, w, pool, x, []string{"relu1_2", "relu2_1"})
			return graph.Add(graph.ReduceAllMean(graph.Square(f["relu2_1"])), graph.ReduceAllMean(f["relu1_2"]))
		}
		gradExec := context.MustNewExec(testBackend(), ctx, func(ctx *context.Context, x *graph.Node) *graph.Node {
			return graph.Gradient(loss(ctx, x), x)[0]
		})
		lossExec := context.MustNewExec(testBackend(), ctx, loss)
		grad := tensors.MustCopyFlatData[float64](gradExec.MustExec(tensors.FromFlatDataAndDimensions(img, 1, 8, 8, 3))[0])
		eval := func(v []float64) float64 {
			return tensors.ToScalar[float64](lossExec.MustExec(tensors.FromFlatDataAndDimensions(v, 1, 8, 8, 3))[0])
		}
		const h = 1e-6
		for _, e := range rng.Perm(len(img))[:12] {
			v := slices.Clone(img)
			v[e] += h
			lp := eval(v)
			v[e] -= 2 * h
			lm := eval(v)
			fd := (lp - lm) / (2 * h)
			if math.Abs(fd-grad[e]) > 1e-5*(math.Abs(fd)+1e-3) {
				t.Errorf("%s pool: ∂L/∂img[%d] = %.8g by autodiff, %.8g by finite differences", pool, e, grad[e], fd)
			}
		}
		gradExec.Finalize()
		lossExec.Finalize()
	}
}

// TestRandomWeightsKeepActivationScale runs a photograph (64×64) through Random(0) and requires the
// standard deviation of every relu layer to stay within a factor 10 of every other.
//
// Why 10: He initialisation keeps the mean square constant through conv+ReLU in expectation; what shrinks
// it is average pooling (averaging four partly correlated values) and, at small sizes, zero padding.
// Measured: max/min = 3.2 with avg pooling (relu1_1 1.06 … relu5_4 0.33) and 1.7 with max pooling, so 10
// leaves a 3× margin. A mis-scaled init fails it by far: without the ReLU gain of 2 (std √(1/fan_in)) the
// std halves every two layers, a factor 2^8 = 256 over 16 layers.
func TestRandomWeightsKeepActivationScale(t *testing.T) {
	if testing.Short() {
		t.Skip("runs VGG-19 to relu5_4")
	}
	img := loadTestImage(t, "../../images/content/astronaut.jpg", 64)
	var relus []string
	for _, l := range Layers {
		if strings.HasPrefix(l, "relu") {
			relus = append(relus, l)
		}
	}
	for _, pool := range []Pool{PoolAvg, PoolMax} {
		got := featuresOf(t, testWeights(), pool, img, relus)
		lo, hi := math.Inf(1), 0.0
		var report []string
		for _, l := range relus {
			v := tensors.MustCopyFlatData[float32](got[l])
			var s, ss float64
			for _, x := range v {
				s += float64(x)
				ss += float64(x) * float64(x)
			}
			n := float64(len(v))
			std := math.Sqrt(max(ss/n-(s/n)*(s/n), 0))
			lo, hi = min(lo, std), max(hi, std)
			report = append(report, fmt.Sprintf("%s %.3g", l, std))
		}
		t.Logf("%s pool, activation std: %s; max/min = %.2f", pool, strings.Join(report, ", "), hi/lo)
		if !(lo > 0) || hi/lo > 10 {
			t.Errorf("%s pool: activation std spread max/min = %.3g, want ≤ 10", pool, hi/lo)
		}
	}
}

func TestFromEnvOrRandom(t *testing.T) {
	dir := t.TempDir()
	p1, p2 := filepath.Join(dir, "a.safetensors"), filepath.Join(dir, "b.safetensors")
	w1, w2 := Random(11), Random(12)
	if err := WriteSafetensors(p1, w1); err != nil {
		t.Fatal(err)
	}
	if err := WriteSafetensors(p2, w2); err != nil {
		t.Fatal(err)
	}
	t.Setenv(EnvWeights, p2)
	if w, err := FromEnvOrRandom(p1, 0); err != nil || w.SHA256 != w1.SHA256 {
		t.Errorf("flag path must win over the environment: %v", err)
	}
	if w, err := FromEnvOrRandom("", 0); err != nil || w.SHA256 != w2.SHA256 {
		t.Errorf("environment must be used without a flag: %v", err)
	}
	t.Setenv(EnvWeights, filepath.Join(dir, "missing.safetensors"))
	if _, err := FromEnvOrRandom("", 0); err == nil || !strings.Contains(err.Error(), "$"+EnvWeights) {
		t.Errorf("a missing env file must be an error naming the variable, got %v", err)
	}
	t.Setenv(EnvWeights, "")
	if w, err := FromEnvOrRandom("", 11); err != nil || w.SHA256 != w1.SHA256 || w.Source != "random(seed=11)" {
		t.Errorf("no flag, no env: want Random(11): %v", err)
	}
}

func TestFeaturesDeterministic(t *testing.T) {
	img := loadTestImage(t, "../../images/content/astronaut.jpg", 32)
	a := featuresOf(t, testWeights(), PoolAvg, img, []string{"relu3_1"})["relu3_1"]
	b := featuresOf(t, testWeights(), PoolAvg, img, []string{"relu3_1"})["relu3_1"]
	if !slices.Equal(tensors.MustCopyFlatData[float32](a), tensors.MustCopyFlatData[float32](b)) {
		t.Errorf("two runs of the same graph on the same input differ")
	}
}
