package train

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stylelab/stylelab/experiments/imageio"
	"github.com/stylelab/stylelab/experiments/pth"
	"github.com/stylelab/stylelab/experiments/pth/torchtest"
	"github.com/stylelab/stylelab/experiments/vgg"
)

type torchIndex struct {
	Size        int `json:"size"`
	Transformer []struct {
		File, Out string
		Width     float64
	} `json:"transformer"`
	AdaIN *struct {
		Decoder, Encoder, Out string
		Alpha                 float64
	} `json:"adain"`
}

func readIndex(t *testing.T, dir string) torchIndex {
	var idx torchIndex
	raw, err := os.ReadFile(filepath.Join(dir, "index.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &idx); err != nil {
		t.Fatal(err)
	}
	return idx
}

func readImage(t *testing.T, path string, size int) *imageio.Image {
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	im := imageio.New(size, size)
	if len(b) != 4*len(im.Pix) {
		t.Fatalf("%s: %d bytes for a %dx%d image", path, len(b), size, size)
	}
	for i := range im.Pix {
		im.Pix[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return im
}

func maxAbs(a, b []float32) float64 {
	d := 0.0
	for i := range a {
		d = max(d, math.Abs(float64(a[i])-float64(b[i])))
	}
	return d
}

// checkTransformerNets imports every TransformerNet of dir and compares Model.Stylize with PyTorch's stylize
// output (clamp(y, 0, 255)/255) to 1e-4.
func checkTransformerNets(t *testing.T, dir string) {
	idx := readIndex(t, dir)
	content := readImage(t, filepath.Join(dir, "content.f32"), idx.Size)
	for _, tn := range idx.Transformer {
		ck, err := LoadCheckpoint(filepath.Join(dir, tn.File))
		if err != nil {
			t.Fatalf("%s: %v", tn.File, err)
		}
		a := ck.Header.Architecture.Transformer
		if a == nil || !a.TorchExamples() || a.Width != tn.Width || a.ResBlocks != 5 || ck.Header.Kind != KindSingle {
			t.Fatalf("%s: imported as %+v kind %s", tn.File, a, ck.Header.Kind)
		}
		if !strings.Contains(ck.Header.Imported, "TransformerNet") || !strings.Contains(ck.Header.Imported, "SHA-256") {
			t.Errorf("%s: header says imported %q", tn.File, ck.Header.Imported)
		}
		m, err := NewModel(ck, nil)
		if err != nil {
			t.Fatal(err)
		}
		out, err := m.Stylize([]*imageio.Image{content}, [][]float64{{1}})
		m.Close()
		if err != nil {
			t.Fatal(err)
		}
		want := readImage(t, filepath.Join(dir, tn.Out), idx.Size)
		d := maxAbs(out[0].Pix, want.Pix)
		t.Logf("%s (width %g): max |stylelab − PyTorch| = %.2g", tn.File, tn.Width, d)
		if d > 1e-4 {
			t.Errorf("%s: output differs from PyTorch's by %.3g > 1e-4", tn.File, d)
		}
		lo, hi := 0, 0
		for _, v := range want.Pix {
			if v <= 0 {
				lo++
			} else if v >= 1 {
				hi++
			}
		}
		if lo+hi > len(want.Pix)/2 {
			t.Errorf("%s: %d of %d torch values clamped: the comparison would test little", tn.File, lo+hi, len(want.Pix))
		}
	}
}

// TestTransformerNetCommitted runs the committed tiny TransformerNet (width 1/8) against PyTorch's committed output.
func TestTransformerNetCommitted(t *testing.T) {
	checkTransformerNets(t, "testdata/torch")
	checkBadModels(t, "testdata/torch")
}

// TestPretrainedMatchPyTorch writes the models with this machine's torch (a full-size TransformerNet in the legacy
// format with running stats, a tiny one in zip, pytorch-AdaIN's decoder and vgg_normalised) and compares
// stylelab's outputs with PyTorch's own to 1e-4.
func TestPretrainedMatchPyTorch(t *testing.T) {
	dir := t.TempDir()
	torchtest.Run(t, "testdata/torch_models.py", dir)
	checkTransformerNets(t, dir)
	checkBadModels(t, dir)

	idx := readIndex(t, dir)
	a := idx.AdaIN
	ck, err := LoadCheckpoint(filepath.Join(dir, a.Decoder))
	if err != nil {
		t.Fatal(err)
	}
	if ar := ck.Header.Architecture.AdaIN; ar == nil || ar.Width != 1 || ar.EncoderLayer != "relu4_1" || ck.Header.LossNet.Pool != vgg.PoolMax {
		t.Fatalf("decoder imported as %+v, pool %s", ar, ck.Header.LossNet.Pool)
	}
	if _, err := NewModel(ck, vgg.RandomNet(vgg.VGG16, 0)); err == nil || !strings.Contains(err.Error(), "--encoder") {
		t.Errorf("decoder with a VGG-16 encoder: %v, want an error naming --encoder", err)
	}
	enc, err := vgg.Load(filepath.Join(dir, a.Encoder), vgg.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	m, err := NewModel(ck, enc)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	content := readImage(t, filepath.Join(dir, "content.f32"), idx.Size)
	style := readImage(t, filepath.Join(dir, "style.f32"), idx.Size)
	out, err := m.AdaIN(content, []*imageio.Image{style}, []float64{1}, a.Alpha)
	if err != nil {
		t.Fatal(err)
	}
	want := readImage(t, filepath.Join(dir, a.Out), idx.Size)
	d := maxAbs(out.Pix, want.Pix)
	t.Logf("pytorch-AdaIN decoder + vgg_normalised, alpha %g: max |stylelab − PyTorch| = %.2g", a.Alpha, d)
	if d > 1e-4 {
		t.Errorf("AdaIN output differs from PyTorch's by %.3g > 1e-4", d)
	}
}

// checkBadModels: a missing key, an extra key and a shape mismatch are refused naming the key; a VGG file is not
// a model.
func checkBadModels(t *testing.T, dir string) {
	for file, says := range map[string][]string{
		"tn_missing.pth": {`"in3.bias"`, "missing key"},
		"tn_extra.pth":   {"extra.weight", "extra keys"},
		"tn_shape.pth":   {`"deconv3.conv2d.weight"`, "[3 4 3 3]", "[3 4 9 9]", "does not match"},
	} {
		_, err := LoadCheckpoint(filepath.Join(dir, file))
		if err == nil {
			t.Errorf("%s: imported", file)
			continue
		}
		for _, s := range says {
			if !strings.Contains(err.Error(), s) {
				t.Errorf("%s: error %q does not say %q", file, err, s)
			}
		}
	}
	_, err := LoadCheckpoint("../pth/testdata/state_zip.pth")
	if err == nil || !strings.Contains(err.Error(), "no network stylelab runs") {
		t.Errorf("an unrelated state dict: %v", err)
	}
	_, err = LoadCheckpoint("../pth/testdata/evil_zip.pth")
	if !errors.Is(err, pth.ErrUnsafe) {
		t.Errorf("a malicious pickle as --model: %v, want pth.ErrUnsafe", err)
	}
}

// TestImportedTransformerNetEncodes: the imported checkpoint written by Encode reads back as the same network
// (what stylelab weights convert does).
func TestImportedTransformerNetEncodes(t *testing.T) {
	ck, err := LoadCheckpoint("testdata/torch/tn_tiny.pth")
	if err != nil {
		t.Fatal(err)
	}
	data, err := EncodeImported(ck)
	if err != nil {
		t.Fatal(err)
	}
	back, err := DecodeCheckpoint("tn.safetensors", data)
	if err != nil {
		t.Fatal(err)
	}
	if back.Header.Imported != ck.Header.Imported || len(back.Tensors) != len(ck.Tensors) {
		t.Fatalf("round trip: %q, %d tensors (want %d)", back.Header.Imported, len(back.Tensors), len(ck.Tensors))
	}
	for n, want := range ck.Tensors {
		got := back.Tensors[n]
		if got == nil || !got.Shape().Equal(want.Shape()) {
			t.Fatalf("%s: %v vs %v", n, got, want.Shape())
		}
		gv, wv := got.Value(), want.Value()
		if gb, _ := json.Marshal(gv); string(gb) != func() string { b, _ := json.Marshal(wv); return string(b) }() {
			t.Fatalf("%s differs after the round trip", n)
		}
	}
}
