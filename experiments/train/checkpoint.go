package train

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/nlpodyssey/safetensors"
	"github.com/stylelab/stylelab/experiments/adain"
	"github.com/stylelab/stylelab/experiments/safefile"
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

// WriteFile writes data to path atomically, with mode 0644 and stale temporary files of killed writers removed
// first (safefile.WriteFile).
func WriteFile(path string, data []byte) error { return safefile.WriteFile(path, data) }

// ErrNotCheckpoint marks a file that is not a stylelab model checkpoint (errors.Is).
var ErrNotCheckpoint = errors.New("not a stylelab model checkpoint")

// LoadCheckpoint reads and validates a checkpoint file. A missing file, a path that is not a regular file (a
// FIFO, /dev/zero: refused without reading, safefile.ReadFile), bytes that are not safetensors, a safetensors
// file without a stylelab header (another kind of file, e.g. VGG weights), a newer format version, a header that
// contradicts itself, or tensors that are not exactly those of the header's architecture (see DecodeCheckpoint)
// are errors that name the file and the problem.
func LoadCheckpoint(path string) (*Checkpoint, error) {
	data, err := safefile.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("model checkpoint: %w (train one with stylelab train --out FILE)", err)
	}
	return DecodeCheckpoint(path, data)
}

// DecodeCheckpoint is LoadCheckpoint for bytes in memory; name is used in messages. The header is validated
// first (Header.Validate), then the file must hold exactly the tensors of the header's architecture (Expected):
// every one present, with its dtype and shape, and no other. A tensor is checked against its expected shape
// before anything is allocated for it, so no dimension in the file (zero, or 2^64−1) reaches an allocation.
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
	if err := h.Validate(); err != nil {
		return nil, fmt.Errorf("model checkpoint %s: %w (the header was edited or the file was not written by stylelab train): %w", name, err, ErrNotCheckpoint)
	}
	want := h.Expected()
	for _, nt := range st.Tensors() {
		if err := c.add(nt.Name, nt.TensorView, want); err != nil {
			return nil, fmt.Errorf("model checkpoint %s: %w", name, err)
		}
	}
	if err := c.checkComplete(want); err != nil {
		return nil, fmt.Errorf("model checkpoint %s: %w", name, err)
	}
	return c, nil
}

// TensorSpec is the dtype and shape of one tensor a checkpoint must hold.
type TensorSpec struct {
	DType dtypes.DType
	Dims  []int
}

// Names of the optimiser's tensors in a checkpoint with Adam state, besides the moments (AdamPrefix + the
// variable's scope and name + "_1st_moment" / "_2nd_moment", each of the variable's shape).
const (
	AdamPrefix          = "/AdamOptimizer"
	GlobalStepName      = "/global_step"
	AdamStepName        = AdamPrefix + "/global_step"
	LearningRateVarName = "/optimizers/learning_rate"
)

// Validate checks that the header is consistent: version 1 … FormatVersion, a known kind with exactly its
// architecture set (transformer for single and cin, adain for adain) and that architecture valid, one style for
// kind single and as many styles as the transformer's Styles, a step ≥ 0, and the embedded config (when it
// names a kind) of the same kind.
func (h *Header) Validate() error {
	switch {
	case h.Version < 1 || h.Version > FormatVersion:
		return fmt.Errorf("header version %d is not one this stylelab reads (1 to %d)", h.Version, FormatVersion)
	case h.Step < 0:
		return fmt.Errorf("header step %d is negative", h.Step)
	case h.Architecture.Transformer != nil && h.Architecture.AdaIN != nil:
		return errors.New("the header sets both a transformer and an adain architecture")
	case h.Config.Kind != "" && h.Config.Kind != h.Kind:
		return fmt.Errorf("the header's kind is %q but its config's is %q", h.Kind, h.Config.Kind)
	}
	switch h.Kind {
	case KindAdaIN:
		if h.Architecture.AdaIN == nil {
			return errors.New("kind adain without an adain architecture")
		}
		return h.Architecture.AdaIN.Validate()
	case KindSingle, KindCIN:
		a := h.Architecture.Transformer
		if a == nil {
			return fmt.Errorf("kind %s without a transformer architecture", h.Kind)
		}
		if err := a.Validate(); err != nil {
			return err
		}
		if h.Kind == KindSingle && a.Styles != 1 {
			return fmt.Errorf("kind single (one style) with a %d-style network", a.Styles)
		}
		if len(h.Styles) != a.Styles {
			return fmt.Errorf("the header lists %d styles for a %d-style network", len(h.Styles), a.Styles)
		}
		return nil
	}
	return fmt.Errorf("kind %q is not one of %s", h.Kind, strings.Join(Kinds, ", "))
}

// Expected returns every tensor a checkpoint with this (valid) header holds, by its name in the file: the
// network's variables, and with AdamState their two Adam moments, Adam's and the context's step counters and the
// learning rate (rank-0 values are stored as [1] under the name + "#scalar").
func (h *Header) Expected() map[string]TensorSpec {
	net := map[string][]int{}
	if a := h.Architecture.AdaIN; a != nil {
		for _, l := range a.Layers() {
			net["/"+adain.Scope+"/"+l.Name+"/kernel"] = []int{3, 3, l.In, l.Out}
			net["/"+adain.Scope+"/"+l.Name+"/bias"] = []int{l.Out}
		}
	} else if a := h.Architecture.Transformer; a != nil {
		for _, l := range a.Layers() {
			p := "/" + transformer.Scope + "/" + l.Name + "/"
			net[p+"kernel"] = []int{l.K, l.K, l.In, l.Out}
			net[p+"gamma"] = []int{a.Styles, l.Out}
			net[p+"beta"] = []int{a.Styles, l.Out}
		}
	}
	want := map[string]TensorSpec{}
	for n, d := range net {
		want[n] = TensorSpec{dtypes.Float32, d}
		if h.AdamState {
			want[AdamPrefix+n+"_1st_moment"] = TensorSpec{dtypes.Float32, d}
			want[AdamPrefix+n+"_2nd_moment"] = TensorSpec{dtypes.Float32, d}
		}
	}
	if h.AdamState {
		want[GlobalStepName+scalarSuffix] = TensorSpec{dtypes.Int64, []int{1}}
		want[AdamStepName+scalarSuffix] = TensorSpec{dtypes.Int64, []int{1}}
		want[LearningRateVarName+scalarSuffix] = TensorSpec{dtypes.Float32, []int{1}}
	}
	return want
}

// add checks one tensor of the file against want (by name, dtype, then shape, compared before any allocation)
// and stores a copy of it under its variable name.
func (c *Checkpoint) add(name string, tv safetensors.TensorView, want map[string]TensorSpec) error {
	w, ok := want[name]
	if !ok {
		hint := ""
		if !c.Header.AdamState && strings.HasPrefix(name, AdamPrefix) {
			hint = " (Adam state in a file whose header says adam_state false)"
		}
		return fmt.Errorf("unexpected tensor %s%s: a %s checkpoint of this architecture holds exactly %d tensors, and this is not one of them (the file was edited or written by something else)",
			name, hint, c.Header.Kind, len(want))
	}
	var dt dtypes.DType
	switch tv.DType() {
	case safetensors.F32:
		dt = dtypes.Float32
	case safetensors.I64:
		dt = dtypes.Int64
	}
	shape := tv.Shape()
	same := dt == w.DType && len(shape) == len(w.Dims)
	for i := 0; same && i < len(shape); i++ {
		same = shape[i] == uint64(w.Dims[i])
	}
	if !same {
		return fmt.Errorf("tensor %s is %s%v, the architecture needs %s%v", name, tv.DType(), shape, w.DType, w.Dims)
	}
	var t *tensors.Tensor
	if n, ok := strings.CutSuffix(name, scalarSuffix); ok {
		name, t = n, tensors.FromShape(shapes.Make(dt))
	} else {
		t = tensors.FromShape(shapes.Make(dt, w.Dims...))
	}
	t.MutableBytes(func(b []byte) { copy(b, tv.Data()) })
	c.Tensors[name] = t
	return nil
}

// checkComplete checks that every tensor of want was in the file and, with Adam state, that both step counters
// equal the header's step.
func (c *Checkpoint) checkComplete(want map[string]TensorSpec) error {
	names := make([]string, 0, len(want))
	for n := range want {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		v := strings.TrimSuffix(n, scalarSuffix)
		if _, ok := c.Tensors[v]; ok {
			continue
		}
		if c.Header.AdamState && !strings.HasPrefix(n, "/"+transformer.Scope) && !strings.HasPrefix(n, "/"+adain.Scope) {
			return fmt.Errorf("the header says adam_state true, but the optimiser's tensor %s is missing: --resume would restart Adam with fresh moments (the file is truncated or was edited; resume from another checkpoint)", v)
		}
		return fmt.Errorf("tensor %s is missing (the file is truncated or was edited)", v)
	}
	if !c.Header.AdamState {
		return nil
	}
	for _, n := range []string{GlobalStepName, AdamStepName} {
		if s := c.Tensors[n].Value().(int64); s != int64(c.Header.Step) {
			return fmt.Errorf("the header says step %d, but the optimiser's counter %s is %d (the header was edited)", c.Header.Step, n, s)
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
