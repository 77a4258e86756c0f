package train

import (
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nlpodyssey/safetensors"
)

var (
	tinyCkOnce sync.Once
	tinyCk     []byte
	tinyCkErr  error
)

// tinyCheckpoint is the final checkpoint (Adam state included) of a one-step tiny CIN run on two styles.
func tinyCheckpoint(t *testing.T) []byte {
	t.Helper()
	tinyCkOnce.Do(func() {
		cfg := tinyConfig(t, KindCIN, "gram")
		cfg.Steps, cfg.SampleEvery = 1, 0
		res, err := Run(cfg, tinyInputs(t, twoStyles...), nil, Hooks{})
		if err == nil {
			tinyCk = res.Checkpoint
		}
		tinyCkErr = err
	})
	if tinyCkErr != nil {
		t.Fatal(tinyCkErr)
	}
	return tinyCk
}

// rewrite re-serialises a checkpoint after edit changes its tensors (by name) and its JSON header (as a map).
func rewrite(t *testing.T, data []byte, edit func(views map[string]safetensors.TensorView, header map[string]any)) []byte {
	t.Helper()
	st, err := safetensors.Deserialize(data)
	if err != nil {
		t.Fatal(err)
	}
	_, meta, err := safetensors.ReadMetadata(data)
	if err != nil {
		t.Fatal(err)
	}
	var h map[string]any
	if err := json.Unmarshal([]byte(meta.Metadata()[MetadataKey]), &h); err != nil {
		t.Fatal(err)
	}
	views := map[string]safetensors.TensorView{}
	for _, nt := range st.Tensors() {
		views[nt.Name] = nt.TensorView
	}
	edit(views, h)
	hb, err := json.Marshal(h)
	if err != nil {
		t.Fatal(err)
	}
	out, err := safetensors.Serialize(views, map[string]string{MetadataKey: string(hb)})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func view(t *testing.T, shape []uint64, data []byte) safetensors.TensorView {
	t.Helper()
	tv, err := safetensors.NewTensorView(safetensors.F32, shape, data)
	if err != nil {
		t.Fatal(err)
	}
	return tv
}

// Valid safetensors files that are not what their header says are refused with an error naming the tensor or
// header field, never a panic: extra zero-element tensors ([0], [0,4]), a dimension of 2^64−1 beside a 0 (as an
// extra tensor and in place of a network tensor), an extra style target (/targets/…, as a resume checkpoint
// must not bring), Adam tensors missing while adam_state is true, and headers that contradict themselves
// (negative step, version −1, kind single with two styles, both architectures, a step the optimiser's counter
// does not match). The unedited file decodes. (#21 items 6 and 14.)
func TestHostileCheckpointsRefused(t *testing.T) {
	data := tinyCheckpoint(t)
	if _, err := DecodeCheckpoint("ok", data); err != nil {
		t.Fatalf("the unedited checkpoint: %v", err)
	}
	huge := uint64(math.MaxUint64)
	cases := []struct {
		name string
		edit func(v map[string]safetensors.TensorView, h map[string]any)
		want string
	}{
		{"extra [0]", func(v map[string]safetensors.TensorView, h map[string]any) { v["/extra"] = view(t, []uint64{0}, nil) }, "unexpected tensor /extra"},
		{"extra [0,4]", func(v map[string]safetensors.TensorView, h map[string]any) {
			v["/extra"] = view(t, []uint64{0, 4}, nil)
		}, "unexpected tensor /extra"},
		{"extra [2^64-1,0]", func(v map[string]safetensors.TensorView, h map[string]any) {
			v["/extra"] = view(t, []uint64{huge, 0}, nil)
		}, "unexpected tensor /extra"},
		{"network tensor [2^64-1,0]", func(v map[string]safetensors.TensorView, h map[string]any) {
			v["/transformer/c1/kernel"] = view(t, []uint64{huge, 0}, nil)
		}, "tensor /transformer/c1/kernel is F32[18446744073709551615 0], the architecture needs Float32[9 9 3 4]"},
		{"network tensor [0]", func(v map[string]safetensors.TensorView, h map[string]any) {
			v["/transformer/c1/bias"] = view(t, []uint64{0}, nil)
		}, "unexpected tensor /transformer/c1/bias"},
		{"style target", func(v map[string]safetensors.TensorView, h map[string]any) {
			v["/targets/style_relu1_1"] = view(t, []uint64{2, 1}, make([]byte, 8))
		}, "unexpected tensor /targets/style_relu1_1"},
		{"adam tensors missing", func(v map[string]safetensors.TensorView, h map[string]any) {
			for n := range v {
				if strings.HasPrefix(n, AdamPrefix) {
					delete(v, n)
				}
			}
		}, "adam_state true, but the optimiser's tensor"},
		{"adam tensors with adam_state false", func(v map[string]safetensors.TensorView, h map[string]any) { h["adam_state"] = false }, "adam_state false"},
		{"network tensor missing", func(v map[string]safetensors.TensorView, h map[string]any) { delete(v, "/transformer/u1/gamma") }, "tensor /transformer/u1/gamma is missing"},
		{"negative step", func(v map[string]safetensors.TensorView, h map[string]any) { h["step"] = -5 }, "header step -5 is negative"},
		{"step not the optimiser's", func(v map[string]safetensors.TensorView, h map[string]any) { h["step"] = 3 }, "says step 3, but the optimiser's counter"},
		{"version -1", func(v map[string]safetensors.TensorView, h map[string]any) { h["version"] = -1 }, "header version -1"},
		{"single with 2 styles", func(v map[string]safetensors.TensorView, h map[string]any) {
			h["kind"] = KindSingle
			h["config"].(map[string]any)["kind"] = KindSingle
		}, "kind single (one style) with a 2-style network"},
		{"both architectures", func(v map[string]safetensors.TensorView, h map[string]any) {
			h["architecture"].(map[string]any)["adain"] = map[string]any{"encoder_layer": "relu2_1", "width": 0.125}
		}, "both a transformer and an adain architecture"},
		{"config of another kind", func(v map[string]safetensors.TensorView, h map[string]any) {
			h["config"].(map[string]any)["kind"] = KindAdaIN
		}, `config's is "adain"`},
	}
	dir := t.TempDir()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			bad := rewrite(t, data, c.edit)
			p := filepath.Join(dir, strings.ReplaceAll(c.name, " ", "_")+".safetensors")
			if err := os.WriteFile(p, bad, 0o644); err != nil {
				t.Fatal(err)
			}
			var err error
			func() {
				defer func() {
					if r := recover(); r != nil {
						t.Fatalf("panic: %v", r)
					}
				}()
				_, err = LoadCheckpoint(p)
			}()
			if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), p) {
				t.Errorf("got %v\nwant an error naming %s and containing %q", err, p, c.want)
			}
		})
	}
}

// --model and --resume paths that are not regular files are refused at once instead of read without end
// (/dev/zero) or waited on for ever (a FIFO). (#21 item 11.)
func TestCheckpointPathMustBeARegularFile(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "ck.safetensors")
	if err := mkfifo(fifo); err != nil {
		t.Skip("no FIFOs here:", err)
	}
	for _, p := range []string{"/dev/zero", fifo} {
		done := make(chan error, 1)
		go func() { _, err := LoadCheckpoint(p); done <- err }()
		err := <-done
		if err == nil || !strings.Contains(err.Error(), "not a regular file") {
			t.Errorf("%s: %v", p, err)
		}
	}
}

// A temporary file left by a writer killed mid-write is removed by the next WriteFile to the same path, and
// checkpoints are written 0644 like the PNG outputs. (#21 item 17.)
func TestWriteFileCleansStaleTempsAndMode(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "model.safetensors")
	stale := filepath.Join(dir, ".model.safetensors.0123456789abcdef.tmp")
	if err := os.WriteFile(stale, []byte("half a checkpoint"), 0o600); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-2 * time.Minute)
	os.Chtimes(stale, old, old)
	if err := WriteFile(p, []byte("checkpoint")); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(stale); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the stale temporary file is still there: %v", err)
	}
	if st, err := os.Stat(p); err != nil || st.Mode().Perm() != 0o644 {
		t.Errorf("checkpoint mode %v, %v (want 0644, as the PNG outputs)", st.Mode(), err)
	}
}
