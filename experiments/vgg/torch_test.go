package vgg

import (
	"encoding/binary"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/stylelab/stylelab/experiments/pth/torchtest"
)

// torchImage is testdata/torch_vgg.py's image: x[c,i,j] = 0.5 + 0.45 sin(0.31 i + 0.17 j + 1.3 c)·cos(0.23 j − 0.11 i c),
// as [1,size,size,3] RGB.
func torchImage(size int) *tensors.Tensor {
	pix := make([]float32, size*size*3)
	for i := range size {
		for j := range size {
			for c := range 3 {
				fi, fj, fc := float32(i), float32(j), float32(c)
				v := 0.5 + 0.45*math.Sin(float64(0.31*fi+0.17*fj+1.3*fc))*math.Cos(float64(0.23*fj-0.11*fi*fc))
				pix[(i*size+j)*3+c] = float32(v)
			}
		}
	}
	return tensors.FromFlatDataAndDimensions(pix, 1, size, size, 3)
}

func readF32(t *testing.T, path string) []float32 {
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]float32, len(b)/4)
	for i := range out {
		out[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return out
}

// relErr is max_i |a_i − b_i| / max_i |b_i|.
func relErr(a, b []float32) float64 {
	var d, m float64
	for i := range b {
		d = max(d, math.Abs(float64(a[i])-float64(b[i])))
		m = max(m, math.Abs(float64(b[i])))
	}
	return d / m
}

// TestFeaturesMatchPyTorch: PyTorch writes VGG-19 and VGG-16 state dicts in every layout users have (torchvision,
// Caffe-converted, pytorch-AdaIN's vgg_normalised), in both serialisations and in float32, float16 and bfloat16,
// and computes the features of a fixed image with each layout's input convention applied in Python. Load must
// detect net and layout, and Features (max pooling, as the nets were trained) must agree to 1e-5 relative
// (max |Δ| / max |torch|) at every layer.
func TestFeaturesMatchPyTorch(t *testing.T) {
	dir := t.TempDir()
	torchtest.Run(t, "testdata/torch_vgg.py", dir)
	var idx struct {
		Size  int `json:"size"`
		Cases []struct {
			Case, File, Layout, Net, DType string
			Layers                         map[string][]int
		} `json:"cases"`
	}
	raw, err := os.ReadFile(filepath.Join(dir, "cases.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &idx); err != nil {
		t.Fatal(err)
	}
	img := torchImage(idx.Size)
	for _, c := range idx.Cases {
		w, err := Load(filepath.Join(dir, c.File), LoadOptions{})
		if err != nil {
			t.Fatalf("%s: %v", c.Case, err)
		}
		if string(w.Net) != c.Net || string(w.Layout) != c.Layout {
			t.Errorf("%s: detected %s %s (%s), want %s %s", c.Case, w.Net, w.Layout, w.LayoutReason, c.Net, c.Layout)
		}
		if c.DType != "float32" && !slices.ContainsFunc(w.Notes, func(n string) bool { return strings.Contains(n, c.DType) }) {
			t.Errorf("%s: notes %v do not say %s was converted", c.Case, w.Notes, c.DType)
		}
		if len(w.FileSHA256) != 64 || w.SHA256 == "" {
			t.Errorf("%s: hashes %q %q", c.Case, w.FileSHA256, w.SHA256)
		}
		if c.Layout == "adain" {
			// vgg_normalised's 1×1 conv holds the Caffe convention: read by value from the file.
			ca := CaffeInput()
			for i := range 3 {
				for j := range 3 {
					if math.Abs(w.Input.M[i][j]-ca.M[i][j]) > 1e-9 || math.Abs(w.Input.B[j]-ca.B[j]) > 0.5 {
						t.Errorf("%s: input map %+v, want the Caffe map %+v", c.Case, *w.Input, *ca)
					}
				}
			}
		}
		var layers []string
		for l := range c.Layers {
			layers = append(layers, l)
		}
		sort.Strings(layers)
		got := featuresOf(t, w, PoolMax, img, layers)
		for _, l := range layers {
			want := readF32(t, filepath.Join(dir, c.Case+"."+l+".f32"))
			g := got[l].Value().([][][][]float32)
			var flat []float32
			for _, a := range g {
				for _, b := range a {
					for _, v := range b {
						flat = append(flat, v...)
					}
				}
			}
			if !slices.Equal(got[l].Shape().Dimensions, c.Layers[l]) {
				t.Fatalf("%s %s: shape %v, torch %v", c.Case, l, got[l].Shape().Dimensions, c.Layers[l])
			}
			e := relErr(flat, want)
			if e > 1e-5 || math.IsNaN(e) {
				t.Errorf("%s %s: relative error %.2g > 1e-5", c.Case, l, e)
			}
			t.Logf("%-30s %-8s max|Δ|/max|torch| = %.2g", c.Case, l, e)
		}
		if c.Case == "vgg19-caffe-zip" {
			// The convention matters: the same file read as torchvision is far from PyTorch's features.
			tv, err := Load(filepath.Join(dir, c.File), LoadOptions{Layout: Torchvision})
			if err != nil {
				t.Fatal(err)
			}
			g := featuresOf(t, tv, PoolMax, img, []string{"relu1_1"})["relu1_1"].Value().([][][][]float32)
			var flat []float32
			for _, a := range g {
				for _, b := range a {
					for _, v := range b {
						flat = append(flat, v...)
					}
				}
			}
			if e := relErr(flat, readF32(t, filepath.Join(dir, c.Case+".relu1_1.f32"))); e < 0.1 {
				t.Errorf("the Caffe file read as torchvision gives relu1_1 within %.2g of PyTorch's: the convention is not tested", e)
			}
			if _, err := Load(filepath.Join(dir, c.File), LoadOptions{Net: VGG16, Why: "asked for (--net)"}); err == nil ||
				!strings.Contains(err.Error(), "--net vgg19") {
				t.Errorf("a VGG-19 file loaded as VGG-16: %v, want an error saying --net vgg19", err)
			}
		}
	}
}

// TestVGG16Layers: VGG-16 has no conv3_4/relu5_4; asking for them is an error naming the net.
func TestVGG16Layers(t *testing.T) {
	if err := VGG16.ValidateLayers([]string{"relu1_2", "relu2_2", "relu3_3", "relu4_3"}); err != nil {
		t.Fatal(err)
	}
	err := VGG16.ValidateLayers([]string{"relu3_4", "relu5_1"})
	if err == nil || !strings.Contains(err.Error(), `"relu3_4"`) || !strings.Contains(err.Error(), "VGG-16") {
		t.Errorf("relu3_4 on VGG-16: %v", err)
	}
	if n := len(VGG16.Layers()); n != 13*2+4 {
		t.Errorf("VGG-16 has %d layers, want 30", n)
	}
	r := RandomNet(VGG16, 1)
	if err := r.Validate(); err != nil || r.SHA256 == Random(1).SHA256 || len(r.Kernels) != 13 {
		t.Errorf("RandomNet(vgg16): %v, %d kernels", err, len(r.Kernels))
	}
}

// TestConventionsByValue checks the Caffe and AdaIN input maps on one pixel by hand: Caffe's first-conv input is
// BGR ×255 minus the BGR means; an adain file's 1×1 conv (weight[out][in]) maps x to W·x + b.
func TestConventionsByValue(t *testing.T) {
	x := [3]float64{0.2, 0.5, 0.9} // R, G, B
	a := CaffeInput()
	want := [3]float64{0.9*255 - 103.939, 0.5*255 - 116.779, 0.2*255 - 123.68}
	for j := range 3 {
		y := a.B[j]
		for i := range 3 {
			y += x[i] * a.M[i][j]
		}
		if math.Abs(y-want[j]) > 1e-9 {
			t.Errorf("caffe channel %d = %v, want %v", j, y, want[j])
		}
	}
}
