package train

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"

	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/nlpodyssey/safetensors"
	"github.com/stylelab/stylelab/experiments/adain"
	"github.com/stylelab/stylelab/experiments/pth"
	"github.com/stylelab/stylelab/experiments/transformer"
	"github.com/stylelab/stylelab/experiments/vgg"
)

// Checkpoint file format: one safetensors file. Its tensors are the context variables that training changes,
// named by their scope and name ("/transformer/c1/kernel", "/decoder/d1/bias", Adam's moments under
// "/AdamOptimizer/…" and its step counter); the loss network's weights are not stored (the header names them by
// hash). Its "__metadata__" holds one entry, MetadataKey, whose value is the JSON Header.
const (
	// Format is Header.Format of every stylelab model checkpoint.
	Format = "stylelab-model"
	// FormatVersion is the header version this code writes and reads.
	FormatVersion = 1
	// MetadataKey is the safetensors metadata entry holding the JSON header.
	MetadataKey = "stylelab"
)

// StyleRef names one style a network was trained on.
type StyleRef struct {
	Name   string `json:"name"` // file name without folder and extension
	Path   string `json:"path"`
	SHA256 string `json:"sha256"`
}

// LossNet identifies the loss network (and, for adain, the encoder) by its weights.
type LossNet struct {
	Source string   `json:"source"`
	SHA256 string   `json:"sha256"`
	Pool   vgg.Pool `json:"pool"`
}

// Architecture is the network of a checkpoint: exactly one field is set.
type Architecture struct {
	Transformer *transformer.Arch `json:"transformer,omitempty"`
	AdaIN       *adain.Arch       `json:"adain,omitempty"`
}

// Header is a checkpoint's JSON header.
type Header struct {
	Format       string       `json:"format"`
	Version      int          `json:"version"`
	Kind         string       `json:"kind"` // single | cin | adain
	Architecture Architecture `json:"architecture"`
	Styles       []StyleRef   `json:"styles"`
	Loss         string       `json:"loss"`
	// Step is the number of training steps done.
	Step    int     `json:"step"`
	LossNet LossNet `json:"loss_net"`
	// Config is the training configuration (its Steps is the run's target, not Step).
	Config Config `json:"config"`
	// AdamState says whether the optimiser's moments and step are stored (needed for --resume).
	AdamState bool `json:"adam_state"`
	// Imported says which PyTorch file the network was imported from (ImportTorch); "" for stylelab's own.
	Imported string `json:"imported,omitempty"`
}

// SameArchitecture returns nil when h and o describe the same network on the same loss network (so one can
// resume the other), or an error naming the first difference.
func (h *Header) SameArchitecture(o *Header) error {
	a, _ := json.Marshal(h.Architecture)
	b, _ := json.Marshal(o.Architecture)
	switch {
	case h.Kind != o.Kind:
		return fmt.Errorf("kind %s, but this run trains %s", h.Kind, o.Kind)
	case !bytes.Equal(a, b):
		return fmt.Errorf("architecture %s, but this run's is %s", a, b)
	case h.LossNet.SHA256 != o.LossNet.SHA256:
		return fmt.Errorf("loss network weights %.12s, but this run's are %.12s", h.LossNet.SHA256, o.LossNet.SHA256)
	case len(h.Styles) != len(o.Styles):
		return fmt.Errorf("%d styles, but this run has %d", len(h.Styles), len(o.Styles))
	}
	for i := range h.Styles {
		if h.Styles[i].SHA256 != o.Styles[i].SHA256 {
			return fmt.Errorf("style %d is %s (SHA-256 %.12s), but this run's is %s (%.12s)", i, h.Styles[i].Name,
				h.Styles[i].SHA256, o.Styles[i].Name, o.Styles[i].SHA256)
		}
	}
	if h.Loss != o.Loss {
		return fmt.Errorf("loss %s, but this run uses %s", h.Loss, o.Loss)
	}
	return nil
}

// saved reports whether a context variable belongs in a checkpoint: everything but the frozen loss network and
// the fixed style targets.
func saved(v *context.Variable) bool {
	s := v.Scope()
	return !strings.HasPrefix(s, "/"+vgg.Scope) && !strings.HasPrefix(s, "/targets")
}

// Encode returns the checkpoint bytes of the saved variables of ctx with header h (adam: include the optimiser
// state). The encoding is deterministic.
func Encode(ctx *context.Context, h *Header, adam bool) ([]byte, error) {
	h.Format, h.Version, h.AdamState = Format, FormatVersion, adam
	hb, err := json.Marshal(h)
	if err != nil {
		return nil, err
	}
	views := map[string]safetensors.TensorView{}
	var ferr error
	ctx.EnumerateVariables(func(v *context.Variable) {
		if ferr != nil || !saved(v) {
			return
		}
		if !adam && !strings.HasPrefix(v.Scope(), "/"+transformer.Scope) && !strings.HasPrefix(v.Scope(), "/"+adain.Scope) {
			return
		}
		t, err := v.Value()
		if err != nil {
			ferr = err
			return
		}
		var dt safetensors.DType
		switch t.DType() {
		case dtypes.Float32:
			dt = safetensors.F32
		case dtypes.Int64:
			dt = safetensors.I64
		default:
			ferr = fmt.Errorf("checkpoint: variable %s has dtype %s (only float32 and int64 are stored)", v.ScopeAndName(), t.DType())
			return
		}
		var data []byte
		if err := t.ConstBytes(func(b []byte) { data = bytes.Clone(b) }); err != nil {
			ferr = err
			return
		}
		shape := make([]uint64, t.Rank())
		for i, d := range t.Shape().Dimensions {
			shape[i] = uint64(d)
		}
		key := v.ScopeAndName()
		if len(shape) == 0 { // safetensors cannot hold a rank-0 tensor here: stored as [1] under a marked name
			shape, key = []uint64{1}, key+scalarSuffix
		}
		tv, err := safetensors.NewTensorView(dt, shape, data)
		if err != nil {
			ferr = err
			return
		}
		views[key] = tv
	})
	if ferr != nil {
		return nil, ferr
	}
	return safetensors.Serialize(views, map[string]string{MetadataKey: string(hb)})
}

// Checkpoint is a decoded checkpoint: its header and tensors by "scope/name".
type Checkpoint struct {
	Header  Header
	Path    string
	Tensors map[string]*tensors.Tensor
}

// WriteFile writes data to path atomically (temporary file in the same folder, then rename).
func WriteFile(path string, data []byte) error {
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
	}
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		os.Remove(f.Name())
		return err
	}
	if err := f.Close(); err != nil {
		os.Remove(f.Name())
		return err
	}
	if err := os.Rename(f.Name(), path); err != nil {
		os.Remove(f.Name())
		return err
	}
	return nil
}

// ErrNotCheckpoint marks a file that is not a stylelab model checkpoint (errors.Is).
var ErrNotCheckpoint = errors.New("not a stylelab model checkpoint")

// LoadCheckpoint reads and validates a checkpoint file. A missing file, bytes that are not safetensors, a
// safetensors file without a stylelab header (another kind of file, e.g. VGG weights), a newer format version, or
// tensors whose shapes do not match the header's architecture are errors that name the file and the problem.
//
// A PyTorch .pth (torch.save zip or legacy) is imported instead (ImportTorch): pytorch/examples' TransformerNet or
// pytorch-AdaIN's decoder.
func LoadCheckpoint(path string) (*Checkpoint, error) {
	if format, err := pth.Sniff(path); err == nil && format != "" {
		return ImportTorch(path)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("model checkpoint: %w (train one with stylelab train --out FILE)", err)
	}
	return DecodeCheckpoint(path, data)
}

// DecodeCheckpoint is LoadCheckpoint for bytes in memory; name is used in messages.
func DecodeCheckpoint(name string, data []byte) (*Checkpoint, error) {
	st, err := safetensors.Deserialize(data)
	if err != nil {
		return nil, fmt.Errorf("model checkpoint %s is corrupt or not a safetensors file (%v): %w", name, err, ErrNotCheckpoint)
	}
	_, meta, err := safetensors.ReadMetadata(data)
	if err != nil {
		return nil, fmt.Errorf("model checkpoint %s: %v: %w", name, err, ErrNotCheckpoint)
	}
	hj, ok := meta.Metadata()[MetadataKey]
	if !ok {
		return nil, fmt.Errorf("%s is a safetensors file without a stylelab header (VGG weights or another model?): %w; give a checkpoint written by stylelab train", name, ErrNotCheckpoint)
	}
	c := &Checkpoint{Path: name, Tensors: map[string]*tensors.Tensor{}}
	dec := json.NewDecoder(strings.NewReader(hj))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c.Header); err != nil {
		return nil, fmt.Errorf("model checkpoint %s: its header is not valid (%v): %w", name, err, ErrNotCheckpoint)
	}
	h := &c.Header
	switch {
	case h.Format != Format:
		return nil, fmt.Errorf("%s has format %q, not %q: %w", name, h.Format, Format, ErrNotCheckpoint)
	case h.Version > FormatVersion:
		return nil, fmt.Errorf("model checkpoint %s has version %d, newer than this stylelab reads (%d): update stylelab", name, h.Version, FormatVersion)
	}
	for _, nt := range st.Tensors() {
		tv := nt.TensorView
		dims := make([]int, len(tv.Shape()))
		for i, d := range tv.Shape() {
			dims[i] = int(d)
		}
		var t *tensors.Tensor
		switch tv.DType() {
		case safetensors.F32:
			t = tensors.FromShape(shapeOf(dtypes.Float32, dims))
		case safetensors.I64:
			t = tensors.FromShape(shapeOf(dtypes.Int64, dims))
		default:
			return nil, fmt.Errorf("model checkpoint %s: tensor %s has dtype %s: %w", name, nt.Name, tv.DType(), ErrNotCheckpoint)
		}
		name := nt.Name
		if n, ok := strings.CutSuffix(name, scalarSuffix); ok && len(dims) == 1 && dims[0] == 1 {
			name = n
			t = tensors.FromShape(shapeOf(t.DType(), nil))
		}
		t.MutableBytes(func(b []byte) { copy(b, tv.Data()) })
		c.Tensors[name] = t
	}
	if err := c.checkShapes(); err != nil {
		return nil, fmt.Errorf("model checkpoint %s: %w", name, err)
	}
	return c, nil
}

// checkShapes checks that every network variable the architecture needs is present with its shape.
func (c *Checkpoint) checkShapes() error {
	want := map[string][]int{}
	h := &c.Header
	switch {
	case h.Kind == KindAdaIN && h.Architecture.AdaIN != nil:
		a := *h.Architecture.AdaIN
		if err := a.Validate(); err != nil {
			return err
		}
		for _, l := range a.Layers() {
			want["/"+adain.Scope+"/"+l.Name+"/kernel"] = []int{3, 3, l.In, l.Out}
			want["/"+adain.Scope+"/"+l.Name+"/bias"] = []int{l.Out}
		}
	case (h.Kind == KindCIN || h.Kind == KindSingle) && h.Architecture.Transformer != nil:
		a := *h.Architecture.Transformer
		if err := a.Validate(); err != nil {
			return err
		}
		if len(h.Styles) != a.Styles {
			return fmt.Errorf("the header lists %d styles for a %d-style network", len(h.Styles), a.Styles)
		}
		for _, l := range a.Layers() {
			p := "/" + transformer.Scope + "/" + l.Name + "/"
			want[p+"kernel"] = []int{l.K, l.K, l.In, l.Out}
			if a.TorchExamples() {
				want[p+"bias"] = []int{l.Out}
			}
			if a.Normed(l) {
				want[p+"gamma"] = []int{a.Styles, l.Out}
				want[p+"beta"] = []int{a.Styles, l.Out}
			}
		}
	default:
		return fmt.Errorf("kind %q with architecture %+v is not a known network: %w", h.Kind, h.Architecture, ErrNotCheckpoint)
	}
	names := make([]string, 0, len(want))
	for n := range want {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		t, ok := c.Tensors[n]
		if !ok {
			return fmt.Errorf("tensor %s is missing (the file is truncated or was edited)", n)
		}
		if !reflect.DeepEqual(t.Shape().Dimensions, want[n]) || t.DType() != dtypes.Float32 {
			return fmt.Errorf("tensor %s is %s, the architecture needs float32%v", n, t.Shape(), want[n])
		}
	}
	return nil
}

// LoadVariable implements context.Loader: variables created in a context with this loader take the checkpoint's
// values.
func (c *Checkpoint) LoadVariable(_ *context.Context, scope, name string) (*tensors.Tensor, bool) {
	key := scope
	if !strings.HasSuffix(key, "/") {
		key += "/"
	}
	t, ok := c.Tensors[key+name]
	if !ok {
		return nil, false
	}
	cl, err := t.LocalClone()
	if err != nil {
		return nil, false
	}
	return cl, true
}

// DeleteVariable implements context.Loader.
func (c *Checkpoint) DeleteVariable(_ *context.Context, scope, name string) error {
	key := scope
	if !strings.HasSuffix(key, "/") {
		key += "/"
	}
	delete(c.Tensors, key+name)
	return nil
}

// scalarSuffix marks a rank-0 variable stored as a [1] tensor.
const scalarSuffix = "#scalar"

func shapeOf(dt dtypes.DType, dims []int) shapes.Shape { return shapes.Make(dt, dims...) }
