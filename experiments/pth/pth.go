// Package pth reads PyTorch state dicts from the files torch.save writes, safely: the zip archive of PyTorch ≥ 1.6
// (`archive/data.pkl` + one stored entry per storage) and the legacy stream of older versions (magic number,
// protocol, system info, the pickled object, the storage keys, then each storage as an int64 element count and
// its raw little-endian bytes).
//
// The pickle is read with github.com/nlpodyssey/gopickle's unpickler, but no class is looked up by name except the
// ones a state dict needs, as torch.load(weights_only=True) does:
//
//	collections.OrderedDict, torch._utils._rebuild_tensor_v2, torch._utils._rebuild_tensor,
//	torch._utils._rebuild_parameter, torch.{Float,Double,Half,BFloat16,Long,Int,Short,Char,Byte,Bool}Storage
//
// Any other global (os.system, builtins.eval, a pickled nn.Module's class) is refused with ErrUnsafe naming it.
// Memory is bounded by the file's real size: every length the pickle declares is checked against the bytes left
// before it is allocated, every storage's element count against its real bytes in the file, and every tensor's
// size, stride and offset against its storage. A tensor's values are read only when asked for (Tensor.Float32),
// so a 548 MB torchvision VGG-19 costs only the layers that are used. gopickle panics on some inputs; a panic is
// recovered and reported as a damaged file.
package pth

import (
	"archive/zip"
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math"
	"math/big"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/nlpodyssey/gopickle/pickle"
	"github.com/nlpodyssey/gopickle/types"
	"github.com/x448/float16"
)

// Errors, for errors.Is. Every error the package returns names the file, the problem and what to do.
var (
	// ErrNotTorch: the file is neither a torch.save zip archive nor a legacy torch.save stream.
	ErrNotTorch = errors.New("not a PyTorch torch.save file")
	// ErrUnsafe: the pickle names a global outside the allow-list (it could run code in Python).
	ErrUnsafe = errors.New("refused by the safe loader")
	// ErrTorchScript: a torch.jit.save archive, which holds code, not a state dict.
	ErrTorchScript = errors.New("a TorchScript archive, not a state dict")
	// ErrNotStateDict: the pickle is safe but holds something other than a dict of tensors.
	ErrNotStateDict = errors.New("not a state dict")
	// ErrDamaged: truncated, corrupt, or inconsistent (a storage shorter than its tensors).
	ErrDamaged = errors.New("damaged or truncated")
)

// DType is a storage's element type, named as in torch.
type DType string

// The storage types torch.save writes for the dtypes a state dict holds.
const (
	Float32  DType = "float32"
	Float64  DType = "float64"
	Float16  DType = "float16"
	BFloat16 DType = "bfloat16"
	Int64    DType = "int64"
	Int32    DType = "int32"
	Int16    DType = "int16"
	Int8     DType = "int8"
	Uint8    DType = "uint8"
	Bool     DType = "bool"
)

// Size is the element size in bytes.
func (d DType) Size() int {
	switch d {
	case Float64, Int64:
		return 8
	case Float32, Int32:
		return 4
	case Float16, BFloat16, Int16:
		return 2
	}
	return 1
}

// IsFloat reports whether d is a floating-point type.
func (d DType) IsFloat() bool { return d == Float32 || d == Float64 || d == Float16 || d == BFloat16 }

// storageClasses are the torch.<Name> storage classes the loader accepts.
var storageClasses = map[string]DType{
	"FloatStorage": Float32, "DoubleStorage": Float64, "HalfStorage": Float16, "BFloat16Storage": BFloat16,
	"LongStorage": Int64, "IntStorage": Int32, "ShortStorage": Int16, "CharStorage": Int8, "ByteStorage": Uint8,
	"BoolStorage": Bool,
}

// Allowed lists the globals the safe loader resolves (for messages and docs).
var Allowed = []string{"collections.OrderedDict", "torch._utils._rebuild_tensor_v2", "torch._utils._rebuild_tensor",
	"torch._utils._rebuild_parameter", "torch.*Storage (Float, Double, Half, BFloat16, Long, Int, Short, Char, Byte, Bool)"}

// File is an opened PyTorch state dict. Close it when done.
type File struct {
	Path   string // absolute
	Size   int64  // bytes
	SHA256 string // hex SHA-256 of the file's bytes
	// Format is "zip" (torch.save since PyTorch 1.6) or "legacy" (_use_new_zipfile_serialization=False, older files).
	Format string
	// Tensors in the state dict's order; nested dicts are flattened with "." (as {"model": sd} gives "model.x").
	Tensors []*Tensor
	// Skipped names the entries that are not tensors (numbers, strings, None, lists), which a state dict may carry.
	Skipped []string

	osf *os.File
	zr  *zip.Reader
}

// Tensor is one tensor of a state dict; its values stay in the file until Float32 reads them.
type Tensor struct {
	Name  string
	DType DType
	Shape []int
	// Location is where torch.save found the storage ("cpu", "cuda:0"); the bytes are the same either way.
	Location string

	st     *storage
	offset int64 // in elements, from the start of st's root storage
	stride []int64
	f      *File
}

// storage is one torch storage: its type, key and element count, and where its bytes lie.
type storage struct {
	dtype    DType
	key      string
	numel    int64 // elements of the (root) storage
	location string
	view     int64 // legacy storage views: offset of the view in the root, in elements
	viewLen  int64 // elements of the view (numel when not a view)

	zf  *zip.File // zip: the stored entry
	pos int64     // legacy: byte offset of the first element in the file
	ok  bool      // its bytes were located and sized
}

// Numel is the number of elements (the product of Shape; 1 for a scalar).
func (t *Tensor) Numel() int64 {
	n := int64(1)
	for _, d := range t.Shape {
		n *= int64(d)
	}
	return n
}

// Get returns the tensor with the given name, or nil.
func (f *File) Get(name string) *Tensor {
	for _, t := range f.Tensors {
		if t.Name == name {
			return t
		}
	}
	return nil
}

// Names returns the tensor names in order.
func (f *File) Names() []string {
	out := make([]string, len(f.Tensors))
	for i, t := range f.Tensors {
		out[i] = t.Name
	}
	return out
}

// Close closes the file.
func (f *File) Close() error {
	if f == nil || f.osf == nil {
		return nil
	}
	err := f.osf.Close()
	f.osf = nil
	return err
}

// Sniff reports whether the file at path starts like a torch.save file ("zip" or "legacy"), without reading more
// than its first bytes; "" when it does not (a safetensors file, an image, …).
func Sniff(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	head := make([]byte, 4)
	n, _ := io.ReadFull(f, head)
	head = head[:n]
	switch {
	case bytes.HasPrefix(head, []byte("PK\x03\x04")):
		return "zip", nil
	case bytes.HasPrefix(head, []byte{0x80, 0x02, 0x8a, 0x0a}): // PROTO 2, LONG1 of 10 bytes: the magic number
		return "legacy", nil
	}
	return "", nil
}

// legacyMagic is torch's MAGIC_NUMBER 0x1950a86a20f9469cfc6c; legacyProtocol its PROTOCOL_VERSION.
const (
	legacyMagic    = "1950a86a20f9469cfc6c"
	legacyProtocol = 1001
	maxPickle      = 64 << 20 // a state dict's pickle is kilobytes; this bounds a hostile one
)

// Open reads the structure of the state dict at path (the pickle, every storage's place and size, every tensor's
// shape), checks it, and computes the file's SHA-256. Tensor values are read later, by Tensor.Float32.
func Open(path string) (f *File, err error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("pth: %q: %w", path, err)
	}
	osf, err := os.Open(abs)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("pth: %s does not exist: give the path of a .pth file written by torch.save", abs)
		}
		return nil, fmt.Errorf("pth: cannot read %s: %w", abs, err)
	}
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("pth: %s: %w: the pickle reader failed on it (%v); the file is truncated or corrupt, or "+
				"not a state dict: re-save it in Python with torch.save(model.state_dict(), path)", abs, ErrDamaged, r)
		}
		if err != nil {
			osf.Close()
			f = nil
		}
	}()
	st, err := osf.Stat()
	if err != nil {
		return nil, fmt.Errorf("pth: cannot read %s: %w", abs, err)
	}
	f = &File{Path: abs, Size: st.Size(), osf: osf}
	h := sha256.New()
	if _, err := io.Copy(h, io.NewSectionReader(osf, 0, f.Size)); err != nil {
		return nil, fmt.Errorf("pth: cannot read %s: %w", abs, err)
	}
	f.SHA256 = hex.EncodeToString(h.Sum(nil))

	format, err := Sniff(abs)
	if err != nil {
		return nil, fmt.Errorf("pth: cannot read %s: %w", abs, err)
	}
	var root any
	switch format {
	case "zip":
		f.Format = "zip"
		root, err = f.openZip()
	case "legacy":
		f.Format = "legacy"
		root, err = f.openLegacy()
	default:
		if isTar(osf) {
			return nil, fmt.Errorf("pth: %s is in the tar format of PyTorch before 0.1.10, which this reader does not "+
				"read: load it in an old PyTorch and save it again with torch.save: %w", abs, ErrNotTorch)
		}
		return nil, fmt.Errorf("pth: %s is %w (it starts with neither a zip header nor the legacy pickle magic "+
			"number): give a .pth written by torch.save, or a .safetensors file", abs, ErrNotTorch)
	}
	if err != nil {
		return nil, err
	}
	if err := f.collect(root); err != nil {
		return nil, err
	}
	for _, t := range f.Tensors {
		if err := t.check(); err != nil {
			return nil, fmt.Errorf("pth: %s: tensor %q: %v: %w; the file is corrupt or was written by a tool that "+
				"is not torch.save", abs, t.Name, err, ErrDamaged)
		}
	}
	return f, nil
}

func isTar(r io.ReaderAt) bool {
	b := make([]byte, 5)
	_, err := r.ReadAt(b, 257)
	return err == nil && string(b) == "ustar"
}

// unpickler returns gopickle's unpickler over data with the allow-list and the given persistent-id loader.
func unpickler(data []byte, persistent func(any) (any, error)) pickle.Unpickler {
	u := pickle.NewUnpickler(bytes.NewReader(data))
	u.FindClass = findClass
	u.PersistentLoad = persistent
	if persistent == nil {
		u.PersistentLoad = func(any) (any, error) { return nil, errors.New("unexpected persistent id") }
	}
	return u
}

// findClass is the allow-list. gopickle itself resolves collections.OrderedDict, __builtin__.object and
// copy_reg._reconstructor before asking; objects made from the last two are refused by collect.
func findClass(module, name string) (any, error) {
	switch module + "." + name {
	case "collections.OrderedDict":
		return &types.OrderedDictClass{}, nil
	case "torch._utils._rebuild_tensor_v2":
		return rebuildTensor{v2: true}, nil
	case "torch._utils._rebuild_tensor":
		return rebuildTensor{}, nil
	case "torch._utils._rebuild_parameter":
		return rebuildParameter{}, nil
	}
	if module == "torch" {
		if dt, ok := storageClasses[name]; ok {
			return storageClass{dt}, nil
		}
	}
	return nil, &unsafeError{module + "." + name}
}

type unsafeError struct{ global string }

func (e *unsafeError) Error() string { return "global " + e.global }

// storageClass is a torch.<X>Storage named in a persistent id.
type storageClass struct{ dtype DType }

// rebuildTensor is torch._utils._rebuild_tensor(_v2)(storage, storage_offset, size, stride[, requires_grad,
// backward_hooks[, metadata]]).
type rebuildTensor struct{ v2 bool }

func (r rebuildTensor) Call(args ...any) (any, error) {
	if (r.v2 && len(args) != 6 && len(args) != 7) || (!r.v2 && len(args) != 4) {
		return nil, fmt.Errorf("%w: _rebuild_tensor with %d arguments", ErrNotStateDict, len(args))
	}
	st, ok := args[0].(*storage)
	if !ok {
		return nil, fmt.Errorf("%w: _rebuild_tensor of %T, not a storage", ErrNotStateDict, args[0])
	}
	off, ok := args[1].(int)
	if !ok || off < 0 {
		return nil, fmt.Errorf("%w: tensor storage offset %v", ErrDamaged, args[1])
	}
	size, err := ints(args[2])
	if err != nil {
		return nil, fmt.Errorf("%w: tensor size: %v", ErrDamaged, err)
	}
	stride, err := ints(args[3])
	if err != nil {
		return nil, fmt.Errorf("%w: tensor stride: %v", ErrDamaged, err)
	}
	if len(size) != len(stride) {
		return nil, fmt.Errorf("%w: tensor of %d sizes and %d strides", ErrDamaged, len(size), len(stride))
	}
	t := &Tensor{DType: st.dtype, Location: st.location, st: st, offset: st.view + int64(off)}
	for i := range size {
		if size[i] < 0 || stride[i] < 0 || size[i] > math.MaxInt32 {
			return nil, fmt.Errorf("%w: tensor size %v, stride %v", ErrDamaged, size, stride)
		}
		t.Shape = append(t.Shape, int(size[i]))
		t.stride = append(t.stride, stride[i])
	}
	return t, nil
}

// rebuildParameter is torch._utils._rebuild_parameter(data, requires_grad, backward_hooks): the tensor itself.
type rebuildParameter struct{}

func (rebuildParameter) Call(args ...any) (any, error) {
	if len(args) < 1 {
		return nil, fmt.Errorf("%w: _rebuild_parameter without arguments", ErrNotStateDict)
	}
	if t, ok := args[0].(*Tensor); ok {
		return t, nil
	}
	return nil, fmt.Errorf("%w: _rebuild_parameter of %T", ErrNotStateDict, args[0])
}

func ints(v any) ([]int64, error) {
	tu, ok := v.(*types.Tuple)
	if !ok {
		return nil, fmt.Errorf("%T, not a tuple", v)
	}
	out := make([]int64, tu.Len())
	for i := range out {
		n, ok := tu.Get(i).(int)
		if !ok {
			return nil, fmt.Errorf("element %d is %T, not an int", i, tu.Get(i))
		}
		out[i] = int64(n)
	}
	return out, nil
}

// storageID parses a persistent id ('storage', torch.XStorage, key, location, numel[, view_metadata]).
func storageID(pid any, legacy bool) (cls storageClass, key, loc string, numel int64, view any, err error) {
	tu, ok := pid.(*types.Tuple)
	if !ok || tu.Len() < 1 {
		return cls, "", "", 0, nil, fmt.Errorf("%w: persistent id %T", ErrNotStateDict, pid)
	}
	kind, _ := tu.Get(0).(string)
	if kind != "storage" {
		return cls, "", "", 0, nil, fmt.Errorf("%w: persistent id of kind %q (a pickled module or another object, "+
			"not a state dict)", ErrNotStateDict, kind)
	}
	if n := tu.Len(); n != 5 && !(legacy && n == 6) {
		return cls, "", "", 0, nil, fmt.Errorf("%w: storage id with %d fields", ErrDamaged, n)
	}
	cls, ok1 := tu.Get(1).(storageClass)
	key, ok2 := tu.Get(2).(string)
	loc, ok3 := tu.Get(3).(string)
	n, ok4 := tu.Get(4).(int)
	if !ok1 || !ok2 || !ok3 || !ok4 || n < 0 {
		return cls, "", "", 0, nil, fmt.Errorf("%w: storage id %v", ErrDamaged, *tu)
	}
	if tu.Len() == 6 {
		view = tu.Get(5)
	}
	return cls, key, loc, int64(n), view, nil
}

// load runs the unpickler over data, turning a refused global into ErrUnsafe with the file's name.
func (f *File) load(data []byte, persistent func(any) (any, error)) (any, error) {
	u := unpickler(data, persistent)
	v, err := u.Load()
	if err != nil {
		var ue *unsafeError
		if errors.As(err, &ue) {
			return nil, fmt.Errorf("pth: %s is %w: its pickle names %s, which is not one of the classes a state dict "+
				"needs (%s). The file may be malicious (a pickle can run any Python function), or it holds a whole "+
				"pickled model: if you trust it, load it in Python and save model.state_dict() with torch.save",
				f.Path, ErrUnsafe, ue.global, strings.Join(Allowed, ", "))
		}
		if errors.Is(err, ErrDamaged) {
			return nil, fmt.Errorf("pth: %s: %w; the file is truncated or corrupt: copy it again", f.Path, err)
		}
		if errors.Is(err, ErrNotStateDict) {
			return nil, fmt.Errorf("pth: %s: %w; save model.state_dict() with torch.save", f.Path, err)
		}
		return nil, fmt.Errorf("pth: %s: %w: its pickle cannot be read (%v): the file is truncated or corrupt; "+
			"copy it again", f.Path, ErrDamaged, err)
	}
	return v, nil
}

func (f *File) openZip() (any, error) {
	zr, err := zip.NewReader(f.osf, f.Size)
	if err != nil {
		return nil, fmt.Errorf("pth: %s is a %w zip archive (%v): the download or copy was cut short; copy it again",
			f.Path, ErrDamaged, err)
	}
	f.zr = zr
	entries := map[string]*zip.File{}
	prefix := ""
	for _, e := range zr.File {
		entries[e.Name] = e
		dir, base, ok := strings.Cut(e.Name, "/")
		if !ok {
			continue
		}
		if base == "constants.pkl" || strings.HasPrefix(base, "code/") {
			return nil, fmt.Errorf("pth: %s is %w (torch.jit.save, entry %s): it holds a compiled program; in Python, "+
				"torch.save(torch.jit.load(path).state_dict(), 'weights.pth') gives the weights", f.Path, ErrTorchScript, e.Name)
		}
		if base == "data.pkl" {
			if prefix != "" {
				return nil, fmt.Errorf("pth: %s holds two pickles (%s/data.pkl and %s): %w", f.Path, prefix, e.Name, ErrNotTorch)
			}
			prefix = dir
		}
	}
	if prefix == "" {
		return nil, fmt.Errorf("pth: %s is a zip archive without <name>/data.pkl, so it is %w: give a .pth written "+
			"by torch.save", f.Path, ErrNotTorch)
	}
	if bo, ok := entries[prefix+"/byteorder"]; ok {
		b, err := readEntry(bo, 16)
		if err != nil || strings.TrimSpace(string(b)) != "little" {
			return nil, fmt.Errorf("pth: %s was saved on a big-endian machine (byteorder %q), which this reader does "+
				"not convert: save it again on a little-endian one", f.Path, b)
		}
	}
	data, err := readEntry(entries[prefix+"/data.pkl"], min(maxPickle, f.Size))
	if err != nil {
		return nil, fmt.Errorf("pth: %s: %w: its data.pkl cannot be read (%v); copy the file again", f.Path, ErrDamaged, err)
	}
	if data, err = scanPickle(bufio.NewReader(bytes.NewReader(data)), int64(len(data))); err != nil {
		return nil, fmt.Errorf("pth: %s: %w: data.pkl: %v; copy the file again", f.Path, ErrDamaged, err)
	}
	storages := map[string]*storage{}
	root, err := f.load(data, func(pid any) (any, error) {
		cls, key, loc, n, _, err := storageID(pid, false)
		if err != nil {
			return nil, err
		}
		if s, ok := storages[key]; ok {
			return s, nil
		}
		s := &storage{dtype: cls.dtype, key: key, numel: n, viewLen: n, location: loc}
		e, ok := entries[prefix+"/data/"+key]
		if !ok {
			return nil, fmt.Errorf("%w: storage %s has no entry %s/data/%s", ErrDamaged, key, prefix, key)
		}
		want := uint64(n) * uint64(cls.dtype.Size())
		switch {
		case e.Method != zip.Store:
			return nil, fmt.Errorf("%w: entry %s is compressed (method %d); torch.save stores storages uncompressed, "+
				"so the archive was rewritten by another tool: unzip it and save it again with torch.save", ErrDamaged, e.Name, e.Method)
		case e.UncompressedSize64 != want:
			return nil, fmt.Errorf("%w: storage %s holds %d bytes, but its %d %s elements need %d", ErrDamaged, key,
				e.UncompressedSize64, n, cls.dtype, want)
		}
		if off, err := e.DataOffset(); err != nil || off+int64(want) > f.Size {
			return nil, fmt.Errorf("%w: storage %s lies past the end of the file", ErrDamaged, key)
		}
		s.zf, s.ok = e, true
		storages[key] = s
		return s, nil
	})
	return root, err
}

// readEntry reads a zip entry of at most limit bytes.
func readEntry(e *zip.File, limit int64) ([]byte, error) {
	if e.UncompressedSize64 > uint64(limit) {
		return nil, fmt.Errorf("entry %s is %d bytes, more than the %d a state dict's pickle can be", e.Name, e.UncompressedSize64, limit)
	}
	rc, err := e.Open()
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("entry %s is longer than it says", e.Name)
	}
	return b, nil
}

// countReader counts the bytes read through it (the legacy format's storages are found by position).
type countReader struct {
	r io.Reader
	n int64
}

func (c *countReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

func (f *File) openLegacy() (any, error) {
	damaged := func(what string, err error) error {
		return fmt.Errorf("pth: %s: %w: %s: %v; the file is truncated or corrupt: copy it again", f.Path, ErrDamaged, what, err)
	}
	// The pickles are read through one bufio.Reader; pos counts what they consumed.
	br := bufio.NewReader(io.NewSectionReader(f.osf, 0, f.Size))
	pos := int64(0)
	next := func(what string) ([]byte, error) {
		b, err := scanPickle(br, f.Size-pos)
		if err != nil {
			return nil, damaged(what, err)
		}
		pos += int64(len(b))
		return b, nil
	}
	plain := func(what string) (any, error) {
		b, err := next(what)
		if err != nil {
			return nil, err
		}
		return f.load(b, nil)
	}
	magic, err := plain("magic number")
	if err != nil {
		return nil, err
	}
	if m, ok := magic.(*big.Int); !ok || m.Text(16) != legacyMagic {
		return nil, fmt.Errorf("pth: %s does not start with torch's magic number, so it is %w: give a .pth written by torch.save", f.Path, ErrNotTorch)
	}
	proto, err := plain("protocol version")
	if err != nil {
		return nil, err
	}
	if p, ok := proto.(int); !ok || p != legacyProtocol {
		return nil, fmt.Errorf("pth: %s has legacy protocol version %v, not %d: %w", f.Path, proto, legacyProtocol, ErrNotTorch)
	}
	sys, err := plain("system info")
	if err != nil {
		return nil, err
	}
	if d, ok := sys.(*types.Dict); ok {
		if le, ok := d.Get("little_endian"); ok && le != true {
			return nil, fmt.Errorf("pth: %s was saved on a big-endian machine, which this reader does not convert: save it again on a little-endian one", f.Path)
		}
	}
	mainPickle, err := next("the state dict's pickle")
	if err != nil {
		return nil, err
	}
	roots := map[string]*storage{}
	views := map[string]*storage{}
	root, err := f.load(mainPickle, func(pid any) (any, error) {
		cls, key, loc, n, view, err := storageID(pid, true)
		if err != nil {
			return nil, err
		}
		s, ok := roots[key]
		if !ok {
			s = &storage{dtype: cls.dtype, key: key, numel: n, viewLen: n, location: loc}
			roots[key] = s
		}
		if view == nil {
			return s, nil
		}
		vm, ok := view.(*types.Tuple)
		if !ok || vm.Len() != 3 {
			return nil, fmt.Errorf("%w: storage %s has view metadata %v", ErrDamaged, key, view)
		}
		vkey, ok1 := vm.Get(0).(string)
		voff, ok2 := vm.Get(1).(int)
		vlen, ok3 := vm.Get(2).(int)
		if !ok1 || !ok2 || !ok3 || voff < 0 || vlen < 0 || int64(voff)+int64(vlen) > n {
			return nil, fmt.Errorf("%w: storage view %v of %s (%d elements)", ErrDamaged, *vm, key, n)
		}
		if v, ok := views[vkey]; ok {
			return v, nil
		}
		v := &storage{dtype: s.dtype, key: key, numel: n, location: loc, view: int64(voff), viewLen: int64(vlen)}
		views[vkey] = v
		return v, nil
	})
	if err != nil {
		return nil, err
	}
	keysPickle, err := next("the storage keys")
	if err != nil {
		return nil, err
	}
	keysObj, err := f.load(keysPickle, nil)
	if err != nil {
		return nil, err
	}
	list, ok := keysObj.(*types.List)
	if !ok {
		return nil, damaged("the storage keys", fmt.Errorf("a %T, not a list", keysObj))
	}
	// The storages follow in the order of the keys: int64 element count, then the bytes.
	for _, k := range *list {
		key, ok := k.(string)
		s := roots[key]
		if !ok || s == nil {
			return nil, damaged("the storage keys", fmt.Errorf("key %v names no storage of the pickle", k))
		}
		var hdr [8]byte
		if _, err := f.osf.ReadAt(hdr[:], pos); err != nil {
			return nil, damaged("storage "+key, fmt.Errorf("the file ends at byte %d, before the storage (%v)", f.Size, err))
		}
		pos += 8
		n := int64(binary.LittleEndian.Uint64(hdr[:]))
		bytesN := n * int64(s.dtype.Size())
		switch {
		case n != s.numel:
			return nil, damaged("storage "+key, fmt.Errorf("it holds %d elements, the pickle says %d", n, s.numel))
		case n < 0 || bytesN < 0 || bytesN > f.Size-pos:
			return nil, damaged("storage "+key, fmt.Errorf("its %d %s elements need %d bytes, but only %d are left in the file",
				n, s.dtype, bytesN, f.Size-pos))
		}
		s.pos, s.ok = pos, true
		pos += bytesN
	}
	for _, s := range views {
		r := roots[s.key]
		s.pos, s.ok = r.pos, r.ok
	}
	for key, s := range roots {
		if !s.ok {
			return nil, damaged("storage "+key, errors.New("the pickle uses it but the file does not hold it"))
		}
	}
	return root, nil
}

// collect walks the unpickled object: a dict of tensors (nested dicts flattened with "."); other plain values are
// listed in Skipped; any other object is refused.
func (f *File) collect(root any) error {
	var walk func(prefix string, v any) error
	walk = func(prefix string, v any) error {
		var keys []any
		var vals []any
		switch d := v.(type) {
		case *types.OrderedDict:
			for e := d.List.Front(); e != nil; e = e.Next() {
				en := e.Value.(*types.OrderedDictEntry)
				keys, vals = append(keys, en.Key), append(vals, en.Value)
			}
		case *types.Dict:
			for _, en := range *d {
				keys, vals = append(keys, en.Key), append(vals, en.Value)
			}
		}
		for i, k := range keys {
			ks, ok := k.(string)
			if !ok {
				return fmt.Errorf("pth: %s is %w: it has a key %v (%T), but state dict keys are strings", f.Path, ErrNotStateDict, k, k)
			}
			name := prefix + ks
			switch x := vals[i].(type) {
			case *Tensor:
				if f.Get(name) != nil {
					return fmt.Errorf("pth: %s: %w: the name %q appears twice", f.Path, ErrDamaged, name)
				}
				x.Name, x.f = name, f
				f.Tensors = append(f.Tensors, x)
			case *types.OrderedDict, *types.Dict:
				if err := walk(name+".", x); err != nil {
					return err
				}
			case nil, bool, int, float64, string, *big.Int, *types.List, *types.Tuple:
				f.Skipped = append(f.Skipped, name)
			default:
				return fmt.Errorf("pth: %s is %w: entry %q holds a Python object (%T); a state dict holds only tensors: "+
					"if you trust the file, load it in Python and save model.state_dict()", f.Path, ErrNotStateDict, name, x)
			}
		}
		return nil
	}
	switch root.(type) {
	case *types.OrderedDict, *types.Dict:
	case *Tensor:
		return fmt.Errorf("pth: %s is %w: it holds a single tensor; save a dict of named tensors (model.state_dict())", f.Path, ErrNotStateDict)
	default:
		return fmt.Errorf("pth: %s is %w: it holds a %T; save model.state_dict() with torch.save", f.Path, ErrNotStateDict, root)
	}
	if err := walk("", root); err != nil {
		return err
	}
	if len(f.Tensors) == 0 {
		return fmt.Errorf("pth: %s is %w: its dict holds no tensors (entries: %s)", f.Path, ErrNotStateDict, strings.Join(f.Skipped, ", "))
	}
	return nil
}

// check verifies that the tensor lies inside its storage and that its elements do not overlap (no stride-0
// expansion: a state dict never holds one, and it would let a tiny file claim a huge tensor).
func (t *Tensor) check() error {
	n := int64(1)
	last := t.offset
	for i, d := range t.Shape {
		if d == 0 {
			return nil
		}
		if n > math.MaxInt64/int64(d) {
			return fmt.Errorf("size %v overflows", t.Shape)
		}
		n *= int64(d)
		last += int64(d-1) * t.stride[i]
	}
	if t.offset < t.st.view || last >= t.st.view+t.st.viewLen {
		return fmt.Errorf("size %v, stride %v, offset %d reach past its storage of %d elements", t.Shape, t.stride, t.offset-t.st.view, t.st.viewLen)
	}
	if n > t.st.viewLen {
		return fmt.Errorf("size %v needs %d elements, more than its storage's %d (overlapping strides %v)", t.Shape, n, t.st.viewLen, t.stride)
	}
	// Elements must not overlap: sorted by stride, each stride must reach past the previous dimensions' extent.
	idx := make([]int, len(t.Shape))
	for i := range idx {
		idx[i] = i
	}
	slices.SortFunc(idx, func(a, b int) int { return int(t.stride[a] - t.stride[b]) })
	extent := int64(1)
	for _, i := range idx {
		if t.Shape[i] == 1 {
			continue
		}
		if t.stride[i] < extent {
			return fmt.Errorf("strides %v make elements of size %v overlap", t.stride, t.Shape)
		}
		extent = t.stride[i] * int64(t.Shape[i])
	}
	return nil
}

// Float32 reads the tensor's values in row-major (C) order, converted to float32: float16, bfloat16 and float64
// exactly where float32 can hold them (float64 rounds to nearest), integers and bools as their value. The storage's
// bytes are read from the file (a zip entry's CRC is checked) each call.
func (t *Tensor) Float32() ([]float32, error) {
	if t.f == nil || t.f.osf == nil {
		return nil, fmt.Errorf("pth: tensor %q: its file is closed", t.Name)
	}
	s := t.st
	es := int64(s.dtype.Size())
	// Only the span the tensor covers is read.
	n := t.Numel()
	out := make([]float32, n)
	if n == 0 {
		return out, nil
	}
	last := t.offset
	for i, d := range t.Shape {
		last += int64(d-1) * t.stride[i]
	}
	span := make([]byte, (last-t.offset+1)*es)
	if s.zf != nil {
		rc, err := s.zf.Open()
		if err != nil {
			return nil, fmt.Errorf("pth: %s: %w: storage %s: %v", t.f.Path, ErrDamaged, s.key, err)
		}
		all, err := io.ReadAll(io.LimitReader(rc, int64(s.zf.UncompressedSize64)+1))
		rc.Close()
		if err != nil || int64(len(all)) != s.numel*es {
			return nil, fmt.Errorf("pth: %s: %w: storage %s cannot be read (%v): copy the file again", t.f.Path, ErrDamaged, s.key, err)
		}
		copy(span, all[t.offset*es:])
	} else if _, err := t.f.osf.ReadAt(span, s.pos+t.offset*es); err != nil {
		return nil, fmt.Errorf("pth: %s: %w: storage %s cannot be read (%v): copy the file again", t.f.Path, ErrDamaged, s.key, err)
	}
	conv := converter(s.dtype)
	// Walk the indices in row-major order.
	rank := len(t.Shape)
	idx := make([]int, rank)
	for i := range out {
		var e int64
		for d := range rank {
			e += int64(idx[d]) * t.stride[d]
		}
		out[i] = conv(span[e*es:])
		for d := rank - 1; d >= 0; d-- {
			idx[d]++
			if idx[d] < t.Shape[d] {
				break
			}
			idx[d] = 0
		}
	}
	return out, nil
}

func converter(d DType) func([]byte) float32 {
	le := binary.LittleEndian
	switch d {
	case Float32:
		return func(b []byte) float32 { return math.Float32frombits(le.Uint32(b)) }
	case Float64:
		return func(b []byte) float32 { return float32(math.Float64frombits(le.Uint64(b))) }
	case Float16:
		return func(b []byte) float32 { return float16.Frombits(le.Uint16(b)).Float32() }
	case BFloat16:
		return func(b []byte) float32 { return math.Float32frombits(uint32(le.Uint16(b)) << 16) }
	case Int64:
		return func(b []byte) float32 { return float32(int64(le.Uint64(b))) }
	case Int32:
		return func(b []byte) float32 { return float32(int32(le.Uint32(b))) }
	case Int16:
		return func(b []byte) float32 { return float32(int16(le.Uint16(b))) }
	case Int8:
		return func(b []byte) float32 { return float32(int8(b[0])) }
	}
	return func(b []byte) float32 { return float32(b[0]) } // uint8, bool
}
