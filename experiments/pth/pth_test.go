package pth

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/stylelab/stylelab/experiments/pth/torchtest"
)

type expected map[string]struct {
	DType  string    `json:"dtype"`
	Shape  []int     `json:"shape"`
	Values []float64 `json:"values"`
}

// checkStateFiles reads state_zip.pth and state_legacy.pth of dir and compares every tensor with expected.json,
// which torch wrote beside them: dtype, shape and every value (float16, bfloat16 and int64 values are exact in
// float32; float64 values must be their float32 rounding).
func checkStateFiles(t *testing.T, dir string) {
	raw, err := os.ReadFile(filepath.Join(dir, "expected.json"))
	if err != nil {
		t.Fatal(err)
	}
	var exp expected
	if err := json.Unmarshal(raw, &exp); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"state_zip.pth", "state_legacy.pth"} {
		f, err := Open(filepath.Join(dir, name))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		defer f.Close()
		wantFormat := "zip"
		if strings.Contains(name, "legacy") {
			wantFormat = "legacy"
		}
		if f.Format != wantFormat {
			t.Errorf("%s: format %q, want %q", name, f.Format, wantFormat)
		}
		if len(f.Tensors) != len(exp) {
			t.Errorf("%s: %d tensors %v, want %d", name, len(f.Tensors), f.Names(), len(exp))
		}
		for tn, e := range exp {
			tt := f.Get(tn)
			if tt == nil {
				t.Errorf("%s: no tensor %q (have %v)", name, tn, f.Names())
				continue
			}
			if string(tt.DType) != e.DType || !slices.Equal(tt.Shape, e.Shape) {
				t.Errorf("%s: %s is %s%v, want %s%v", name, tn, tt.DType, tt.Shape, e.DType, e.Shape)
			}
			v, err := tt.Float32()
			if err != nil {
				t.Fatalf("%s: %s: %v", name, tn, err)
			}
			if len(v) != len(e.Values) {
				t.Fatalf("%s: %s has %d values, want %d", name, tn, len(v), len(e.Values))
			}
			for i := range v {
				if v[i] != float32(e.Values[i]) {
					t.Fatalf("%s: %s[%d] = %v, want %v", name, tn, i, v[i], float32(e.Values[i]))
				}
			}
		}
		if !slices.Contains(f.Skipped, "epoch") || !slices.Contains(f.Skipped, "note") {
			t.Errorf("%s: skipped entries %v, want epoch and note among them", name, f.Skipped)
		}
		if len(f.SHA256) != 64 {
			t.Errorf("%s: SHA-256 %q", name, f.SHA256)
		}
	}
}

// TestCommittedFixtures reads the files make_fixtures.py wrote (committed, so this runs without torch).
func TestCommittedFixtures(t *testing.T) { checkStateFiles(t, "testdata") }

// TestFreshTorchFiles writes the same files with this machine's torch and reads them.
func TestFreshTorchFiles(t *testing.T) {
	dir := t.TempDir()
	torchtest.Run(t, "testdata/make_fixtures.py", dir)
	checkStateFiles(t, dir)
	checkHostile(t, dir)
}

func TestHostileFixtures(t *testing.T) { checkHostile(t, "testdata") }

// checkHostile: os.system through __reduce__ (both formats), a whole pickled module, and TorchScript are refused
// with errors that name the global or the format.
func checkHostile(t *testing.T, dir string) {
	for _, c := range []struct {
		file string
		want error
		says []string
	}{
		{"evil_zip.pth", ErrUnsafe, []string{"posix.system", "state_dict"}},
		{"evil_legacy.pth", ErrUnsafe, []string{"posix.system"}},
		{"module_zip.pth", ErrUnsafe, []string{"torch.nn.modules.linear.Linear", "model.state_dict()"}},
		{"torchscript.pt", ErrTorchScript, []string{"torch.jit.load", "TorchScript"}},
	} {
		f, err := Open(filepath.Join(dir, c.file))
		if err == nil {
			f.Close()
			t.Errorf("%s: opened, want %v", c.file, c.want)
			continue
		}
		if !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.file, err, c.want)
		}
		for _, s := range c.says {
			if !strings.Contains(err.Error(), s) {
				t.Errorf("%s: error %q does not say %q", c.file, err, s)
			}
		}
	}
}

func write(t *testing.T, name string, data []byte) string {
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestTruncatedAndCorrupt: every prefix of both fixtures is refused as damaged (never a panic, never a partial
// state dict), and flipping any byte never panics.
func TestTruncatedAndCorrupt(t *testing.T) {
	for _, name := range []string{"state_zip.pth", "state_legacy.pth"} {
		data, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(t.TempDir(), name)
		step := max(1, len(data)/150)
		for n := 0; n < len(data); n += step {
			if err := os.WriteFile(p, data[:n], 0o644); err != nil {
				t.Fatal(err)
			}
			f, err := Open(p)
			if err == nil {
				f.Close()
				t.Fatalf("%s cut to %d of %d bytes was opened", name, n, len(data))
			}
			if n > 8 && !errors.Is(err, ErrDamaged) {
				t.Fatalf("%s cut to %d bytes: %v, want ErrDamaged", name, n, err)
			}
		}
		for i := 0; i < len(data); i += step {
			c := bytes.Clone(data)
			c[i] ^= 0xa5
			if err := os.WriteFile(p, c, 0o644); err != nil {
				t.Fatal(err)
			}
			f, err := Open(p)
			if err != nil {
				continue
			}
			for _, tt := range f.Tensors {
				tt.Float32() // a damaged storage is an error, not a panic
			}
			f.Close()
		}
	}
	f, err := Open(write(t, "x.pth", []byte("\x89PNG\r\n\x1a\n....")))
	if !errors.Is(err, ErrNotTorch) {
		t.Errorf("a PNG: %v (%v), want ErrNotTorch", err, f)
	}
}

// zipWith returns a torch-like zip archive with the given data.pkl and storage entries.
func zipWith(t *testing.T, pkl []byte, storages map[string][]byte) []byte {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	add := func(name string, b []byte) {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: name, Method: zip.Store})
		if err != nil {
			t.Fatal(err)
		}
		w.Write(b)
	}
	add("archive/data.pkl", pkl)
	for k, v := range storages {
		add("archive/data/"+k, v)
	}
	add("archive/version", []byte("3\n"))
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// statePickle is the protocol-2 pickle of {"w": tensor} with one FloatStorage of numel elements and size dims.
func statePickle(numel int, size []int) []byte {
	var b bytes.Buffer
	b.WriteString("\x80\x02ccollections\nOrderedDict\nq\x00)Rq\x01X\x01\x00\x00\x00w")
	b.WriteString("ctorch._utils\n_rebuild_tensor_v2\n(")
	b.WriteString("(X\x07\x00\x00\x00storagectorch\nFloatStorage\nX\x01\x00\x00\x000X\x03\x00\x00\x00cpu")
	b.WriteString("J")
	binary.Write(&b, binary.LittleEndian, int32(numel))
	b.WriteString("tQK\x00(")
	for _, d := range size {
		b.WriteString("J")
		binary.Write(&b, binary.LittleEndian, int32(d))
	}
	b.WriteString("t(")
	stride := 1
	strides := make([]int, len(size))
	for i := len(size) - 1; i >= 0; i-- {
		strides[i] = stride
		stride *= size[i]
	}
	for _, s := range strides {
		b.WriteString("J")
		binary.Write(&b, binary.LittleEndian, int32(s))
	}
	b.WriteString("t\x89ccollections\nOrderedDict\n)RtRs.")
	return b.Bytes()
}

// TestHandMadeArchive checks the hand-made archive opens (so the hostile variants below fail for their reason).
func TestHandMadeArchive(t *testing.T) {
	vals := []byte{0, 0, 128, 63, 0, 0, 0, 64} // 1, 2
	f, err := Open(write(t, "ok.pth", zipWith(t, statePickle(2, []int{2}), map[string][]byte{"0": vals})))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	v, err := f.Get("w").Float32()
	if err != nil || !slices.Equal(v, []float32{1, 2}) {
		t.Fatalf("values %v, %v", v, err)
	}
}

// TestBoundedMemory: files that claim far more than they hold are refused before anything that size is allocated.
func TestBoundedMemory(t *testing.T) {
	huge := 1 << 30
	cases := map[string][]byte{
		// a storage of 2³⁰ floats whose entry holds 8 bytes
		"oversized storage": zipWith(t, statePickle(huge, []int{huge}), map[string][]byte{"0": make([]byte, 8)}),
		// a tensor of 2³⁰ elements over a 2-element storage
		"tensor past its storage": zipWith(t, statePickle(2, []int{1 << 15, 1 << 15}), map[string][]byte{"0": make([]byte, 8)}),
		// BINBYTES8 declaring 2⁶⁰ bytes
		"huge pickle length": zipWith(t, append([]byte("\x80\x02\x8e"), append(binary.LittleEndian.AppendUint64(nil, 1<<60), '.')...), nil),
		// a frame larger than the file
		"huge frame": zipWith(t, append([]byte("\x80\x04\x95"), append(binary.LittleEndian.AppendUint64(nil, 1<<40), '.')...), nil),
	}
	// The legacy fixture with its first storage's element count raised to 2⁴⁰.
	leg, err := os.ReadFile("testdata/state_legacy.pth")
	if err != nil {
		t.Fatal(err)
	}
	f, err := Open("testdata/state_legacy.pth")
	if err != nil {
		t.Fatal(err)
	}
	first := int64(-1)
	for _, tt := range f.Tensors {
		if first < 0 || tt.st.pos < first {
			first = tt.st.pos
		}
	}
	f.Close()
	leg = bytes.Clone(leg)
	binary.LittleEndian.PutUint64(leg[first-8:], 1<<40)
	cases["legacy storage count"] = leg

	for name, data := range cases {
		p := write(t, "x.pth", data)
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		f, err := Open(p)
		runtime.ReadMemStats(&after)
		if err == nil {
			f.Close()
			t.Errorf("%s: opened", name)
			continue
		}
		if !errors.Is(err, ErrDamaged) {
			t.Errorf("%s: %v, want ErrDamaged", name, err)
		}
		if a := after.TotalAlloc - before.TotalAlloc; a > 16<<20 {
			t.Errorf("%s: allocated %d bytes before refusing", name, a)
		}
		t.Logf("%s: %v", name, err)
	}
}
