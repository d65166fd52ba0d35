// Package gguf reads and writes GGUF model files (versions 2 and 3, little
// endian), the format of llama.cpp and GGML.
//
// A GGUF file is a header (magic "GGUF", version, tensor count, metadata
// count), typed key/value metadata, a table of tensor infos (name, shape,
// type, offset), then the tensor data section, aligned to the file's
// alignment (general.alignment, 32 by default). Open maps the file into
// memory, so tensors are zero-copy views of the file.
package gguf

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/bits"

	"github.com/unswift/unswift/internal/mmap"
	"github.com/unswift/unswift/internal/tensor"
)

// Format constants.
const (
	// Magic is the first four bytes of every GGUF file.
	Magic = "GGUF"
	// DefaultAlignment is the alignment of tensor data when the file does not
	// set general.alignment.
	DefaultAlignment = 32
	// MaxDims is the largest number of dimensions a tensor may have.
	MaxDims = 4
	// KeyAlignment is the metadata key that sets the data alignment.
	KeyAlignment = "general.alignment"
	// KeyArchitecture is the metadata key naming the model architecture.
	KeyArchitecture = "general.architecture"
)

const (
	maxAlignment = 1 << 30 // larger alignments are rejected as absurd
	maxNesting   = 16      // deepest array-of-array nesting accepted
)

// ErrNotGGUF is returned (wrapped) when a file does not start with the GGUF magic.
var ErrNotGGUF = errors.New("not a GGUF file")

// File is a parsed GGUF file. Its tensors' data are views of the file (or of
// the bytes given to Parse) and are invalid after Close; the metadata stays
// valid.
type File struct {
	// Version is the format version (2 or 3).
	Version uint32
	// Alignment is the alignment of the tensor data, in bytes.
	Alignment int
	// DataOffset is the file offset of the tensor data section.
	DataOffset int64
	// Tensors lists the tensors in file order. Each tensor's Data is a view
	// of the file; it is copied only if it is not 8-byte aligned in memory,
	// which cannot happen for a file opened with Open.
	Tensors []*tensor.Tensor

	keys   []string
	values map[string]Value
	byName map[string]*tensor.Tensor
	m      *mmap.File
}

// Open memory-maps and parses the GGUF file at path. Errors mention the path.
func Open(path string) (*File, error) {
	m, err := mmap.Open(path)
	if err != nil {
		return nil, fmt.Errorf("gguf: %w", err)
	}
	f, err := parse(m.Data)
	if err != nil {
		m.Close()
		return nil, fmt.Errorf("gguf: %s: %w", path, err)
	}
	f.m = m
	return f, nil
}

// Parse parses a GGUF file held in data. The tensors' data are views of data.
func Parse(data []byte) (*File, error) {
	f, err := parse(data)
	if err != nil {
		return nil, fmt.Errorf("gguf: %w", err)
	}
	return f, nil
}

// Close releases the file mapping (if any). The tensors' data must not be
// used afterwards.
func (f *File) Close() error {
	if f.m == nil {
		return nil
	}
	err := f.m.Close()
	f.m = nil
	return err
}

// Keys returns the metadata keys in file order.
func (f *File) Keys() []string { return append([]string(nil), f.keys...) }

// Meta returns every metadata key and value, in file order.
func (f *File) Meta() []KV {
	kv := make([]KV, len(f.keys))
	for i, k := range f.keys {
		kv[i] = KV{Key: k, Value: f.values[k]}
	}
	return kv
}

// Value returns the metadata value of key.
func (f *File) Value(key string) (Value, bool) {
	v, ok := f.values[key]
	return v, ok
}

// String returns the string value of key.
func (f *File) String(key string) (string, bool) { return f.values[key].AsString() }

// Uint returns the value of key if it is a non-negative integer of any type.
func (f *File) Uint(key string) (uint64, bool) {
	v, ok := f.values[key]
	if !ok {
		return 0, false
	}
	return v.AsUint()
}

// Int returns the value of key if it is an integer of any type that fits in
// an int64.
func (f *File) Int(key string) (int64, bool) {
	v, ok := f.values[key]
	if !ok {
		return 0, false
	}
	return v.AsInt()
}

// Float returns the value of key if it is a float32, float64 or integer.
func (f *File) Float(key string) (float64, bool) {
	v, ok := f.values[key]
	if !ok {
		return 0, false
	}
	return v.AsFloat()
}

// Bool returns the value of key if it is a bool.
func (f *File) Bool(key string) (bool, bool) { return f.values[key].AsBool() }

// Strings returns the value of key if it is an array of strings.
func (f *File) Strings(key string) ([]string, bool) { return f.values[key].AsStrings() }

// Float32s returns the value of key if it is an array of float32 (or float64).
func (f *File) Float32s(key string) ([]float32, bool) { return f.values[key].AsFloat32s() }

// Ints returns the value of key if it is an array of any integer type.
func (f *File) Ints(key string) ([]int64, bool) { return f.values[key].AsInts() }

// Tensor returns the tensor called name, or nil.
func (f *File) Tensor(name string) *tensor.Tensor { return f.byName[name] }

// Architecture returns general.architecture ("llama", ...), or "".
func (f *File) Architecture() string {
	s, _ := f.String(KeyArchitecture)
	return s
}

// decoder reads little-endian values from a byte slice. Its errors say what
// was short; callers wrap them with what was being read.
type decoder struct {
	data []byte
	off  int
}

func (d *decoder) remaining() int { return len(d.data) - d.off }

func (d *decoder) next(n int) ([]byte, error) {
	if n < 0 || n > d.remaining() {
		return nil, fmt.Errorf("truncated file: need %d bytes at offset %d, %d left", n, d.off, d.remaining())
	}
	b := d.data[d.off : d.off+n : d.off+n]
	d.off += n
	return b, nil
}

func (d *decoder) u32() (uint32, error) {
	b, err := d.next(4)
	if err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint32(b), nil
}

func (d *decoder) u64() (uint64, error) {
	b, err := d.next(8)
	if err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint64(b), nil
}

// count reads a uint64 count of items of at least minSize bytes each and
// checks that the rest of the file could hold them.
func (d *decoder) count(minSize int) (int, error) {
	at := d.off
	n, err := d.u64()
	if err != nil {
		return 0, err
	}
	return d.check(n, minSize, at)
}

// check verifies that n items of at least minSize bytes each could fit in
// the rest of the file, so that no absurd count leads to a huge allocation.
func (d *decoder) check(n uint64, minSize, at int) (int, error) {
	if max := d.remaining() / minSize; n > uint64(max) {
		return 0, fmt.Errorf("count %d at offset %d is impossible: the %d bytes left can hold at most %d (truncated or corrupt file)", n, at, d.remaining(), max)
	}
	return int(n), nil
}

// bytes reads a length-prefixed byte string.
func (d *decoder) bytes() ([]byte, error) {
	at := d.off
	n, err := d.u64()
	if err != nil {
		return nil, err
	}
	if n > uint64(d.remaining()) {
		return nil, fmt.Errorf("string length %d at offset %d exceeds the %d bytes left (truncated file?)", n, at, d.remaining())
	}
	return d.next(int(n))
}

func (d *decoder) str() (string, error) {
	b, err := d.bytes()
	return string(b), err
}

// value reads a value of type t.
func (d *decoder) value(t ValueType, depth int) (Value, error) {
	switch {
	case t == TypeString:
		s, err := d.str()
		return Value{Type: t, str: s}, err
	case t == TypeArray:
		a, err := d.array(depth + 1)
		return Value{Type: t, arr: a}, err
	case !t.valid():
		return Value{}, fmt.Errorf("unknown value type %d at offset %d", uint32(t), d.off-4)
	}
	b, err := d.next(t.size())
	if err != nil {
		return Value{}, err
	}
	v := Value{Type: t, num: scalar(t, b)}
	if t == TypeBool && v.num > 1 {
		return Value{}, fmt.Errorf("invalid bool value %d at offset %d", v.num, d.off-1)
	}
	return v, nil
}

// minSize is the smallest encoding of a value of type t.
func minSize(t ValueType) int {
	switch t {
	case TypeString:
		return 8 // length
	case TypeArray:
		return 12 // element type and count
	}
	return t.size()
}

func (d *decoder) array(depth int) (*array, error) {
	if depth > maxNesting {
		return nil, fmt.Errorf("arrays nested deeper than %d at offset %d", maxNesting, d.off)
	}
	et, err := d.u32()
	if err != nil {
		return nil, err
	}
	elem := ValueType(et)
	if !elem.valid() {
		return nil, fmt.Errorf("unknown array element type %d at offset %d", et, d.off-4)
	}
	n, err := d.count(minSize(elem))
	if err != nil {
		return nil, fmt.Errorf("array of %v: %w", elem, err)
	}
	a := &array{elem: elem, n: n}
	switch elem {
	case TypeString:
		a.strs = make([]string, n)
		for i := range a.strs {
			if a.strs[i], err = d.str(); err != nil {
				return nil, fmt.Errorf("array element %d: %w", i, err)
			}
		}
	case TypeArray:
		a.vals = make([]Value, n)
		for i := range a.vals {
			sub, err := d.array(depth + 1)
			if err != nil {
				return nil, fmt.Errorf("array element %d: %w", i, err)
			}
			a.vals[i] = Value{Type: TypeArray, arr: sub}
		}
	default:
		raw, err := d.next(n * elem.size())
		if err != nil {
			return nil, err
		}
		if elem == TypeBool {
			for i, b := range raw {
				if b > 1 {
					return nil, fmt.Errorf("array element %d: invalid bool value %d", i, b)
				}
			}
		}
		a.raw = append([]byte(nil), raw...) // metadata outlives the mapping
	}
	return a, nil
}

// tensorInfo is a tensor-info record before its data is located.
type tensorInfo struct {
	name   string
	typ    tensor.DType
	shape  []int
	offset uint64
	size   int
}

func parse(data []byte) (*File, error) {
	d := &decoder{data: data}
	magic, err := d.next(4)
	if err != nil {
		return nil, fmt.Errorf("%w: file is %d bytes long", ErrNotGGUF, len(data))
	}
	if string(magic) != Magic {
		return nil, fmt.Errorf("%w (magic %q, want %q)", ErrNotGGUF, magic, Magic)
	}
	version, err := d.u32()
	if err != nil {
		return nil, fmt.Errorf("reading version: %w", err)
	}
	switch {
	case version == 2 || version == 3:
	case version == 1:
		return nil, fmt.Errorf("unsupported GGUF version 1 (only versions 2 and 3 are supported)")
	case version&0xffff == 0 && bits.ReverseBytes32(version) <= 3:
		return nil, fmt.Errorf("unsupported GGUF version %d (a big-endian file? only little-endian versions 2 and 3 are supported)", version)
	default:
		return nil, fmt.Errorf("unsupported GGUF version %d (only versions 2 and 3 are supported)", version)
	}
	// Each tensor info takes at least 24 bytes (name length, dimension count,
	// type, offset); each key/value pair at least 13 (key length, type, one byte).
	tc, err := d.u64()
	if err != nil {
		return nil, fmt.Errorf("reading tensor count: %w", err)
	}
	kc, err := d.u64()
	if err != nil {
		return nil, fmt.Errorf("reading metadata count: %w", err)
	}
	nTensors, err := d.check(tc, 24, 8)
	if err != nil {
		return nil, fmt.Errorf("tensor %w", err)
	}
	nKV, err := d.check(kc, 13, 16)
	if err != nil {
		return nil, fmt.Errorf("metadata %w", err)
	}

	f := &File{
		Version:   version,
		Alignment: DefaultAlignment,
		keys:      make([]string, 0, nKV),
		values:    make(map[string]Value, nKV),
	}
	for i := range nKV {
		key, err := d.str()
		if err != nil {
			return nil, fmt.Errorf("reading key of metadata entry %d: %w", i, err)
		}
		if key == "" {
			return nil, fmt.Errorf("metadata entry %d has an empty key", i)
		}
		if _, dup := f.values[key]; dup {
			return nil, fmt.Errorf("duplicate metadata key %q", key)
		}
		t, err := d.u32()
		if err != nil {
			return nil, fmt.Errorf("reading type of metadata %q: %w", key, err)
		}
		v, err := d.value(ValueType(t), 0)
		if err != nil {
			return nil, fmt.Errorf("reading value of metadata %q: %w", key, err)
		}
		f.keys = append(f.keys, key)
		f.values[key] = v
	}
	if v, ok := f.values[KeyAlignment]; ok {
		a, ok := v.AsUint()
		if !ok {
			return nil, fmt.Errorf("%s is a %v %v, want an unsigned integer", KeyAlignment, v.Type, v)
		}
		if a == 0 || a&(a-1) != 0 || a > maxAlignment {
			return nil, fmt.Errorf("%s %d is not a power of two between 1 and %d", KeyAlignment, a, maxAlignment)
		}
		f.Alignment = int(a)
	}

	infos := make([]tensorInfo, nTensors)
	f.byName = make(map[string]*tensor.Tensor, nTensors)
	seen := make(map[string]bool, nTensors)
	for i := range infos {
		ti, err := d.tensorInfo(f.Alignment)
		if err != nil {
			if ti.name != "" {
				return nil, fmt.Errorf("tensor %d (%q): %w", i, ti.name, err)
			}
			return nil, fmt.Errorf("tensor %d: %w", i, err)
		}
		if seen[ti.name] {
			return nil, fmt.Errorf("duplicate tensor name %q", ti.name)
		}
		seen[ti.name] = true
		infos[i] = ti
	}

	start := alignUp(d.off, f.Alignment)
	f.DataOffset = int64(start)
	avail := 0
	if start <= len(data) {
		avail = len(data) - start
	}
	f.Tensors = make([]*tensor.Tensor, nTensors)
	for i, ti := range infos {
		if ti.offset > uint64(avail) || uint64(ti.size) > uint64(avail)-ti.offset {
			return nil, fmt.Errorf("tensor %q: data [%d, %d) is out of range: the data section at offset %d holds %d bytes (truncated file?)",
				ti.name, ti.offset, ti.offset+uint64(ti.size), start, avail)
		}
		b := data[start+int(ti.offset) : start+int(ti.offset)+ti.size : start+int(ti.offset)+ti.size]
		if !tensor.Aligned(b, 8) {
			b = alignedCopy(b)
		}
		t := &tensor.Tensor{Name: ti.name, Type: ti.typ, Shape: ti.shape, Data: b}
		f.Tensors[i] = t
		f.byName[ti.name] = t
	}
	return f, nil
}

// tensorInfo reads one tensor-info record and checks it; the returned info
// carries the name even on error.
func (d *decoder) tensorInfo(alignment int) (tensorInfo, error) {
	var ti tensorInfo
	name, err := d.str()
	if err != nil {
		return ti, fmt.Errorf("reading name: %w", err)
	}
	ti.name = name
	nd, err := d.u32()
	if err != nil {
		return ti, fmt.Errorf("reading dimension count: %w", err)
	}
	if nd > MaxDims {
		return ti, fmt.Errorf("%d dimensions, at most %d are allowed", nd, MaxDims)
	}
	ti.shape = make([]int, nd)
	n := uint64(1)
	for j := range ti.shape {
		dim, err := d.u64()
		if err != nil {
			return ti, fmt.Errorf("reading dimension %d: %w", j, err)
		}
		if dim == 0 || dim > math.MaxInt64 {
			return ti, fmt.Errorf("dimension %d is %d, want a positive size", j, int64(dim))
		}
		hi, lo := bits.Mul64(n, dim)
		if hi != 0 || lo > math.MaxInt {
			return ti, fmt.Errorf("shape %v overflows: element count exceeds %d", append(ti.shape[:j:j], int(dim)), math.MaxInt)
		}
		n = lo
		ti.shape[j] = int(dim)
	}
	t, err := d.u32()
	if err != nil {
		return ti, fmt.Errorf("reading type: %w", err)
	}
	ti.typ = tensor.DType(t)
	if !ti.typ.Known() || ti.typ >= 1000 {
		return ti, fmt.Errorf("unknown or unsupported tensor type id %d", t)
	}
	cols := 1
	if nd > 0 {
		cols = ti.shape[0]
	}
	if bs := ti.typ.BlockSize(); cols%bs != 0 {
		return ti, fmt.Errorf("row length %d is not a multiple of the %v block size %d", cols, ti.typ, bs)
	}
	blocks := n / uint64(ti.typ.BlockSize())
	hi, size := bits.Mul64(blocks, uint64(ti.typ.BlockBytes()))
	if hi != 0 || size > math.MaxInt {
		return ti, fmt.Errorf("%v %v: byte size overflows", ti.typ, ti.shape)
	}
	ti.size = int(size)
	if ti.offset, err = d.u64(); err != nil {
		return ti, fmt.Errorf("reading data offset: %w", err)
	}
	if ti.offset%uint64(alignment) != 0 {
		return ti, fmt.Errorf("data offset %d is not a multiple of the alignment %d", ti.offset, alignment)
	}
	return ti, nil
}

func alignUp(n, a int) int { return (n + a - 1) / a * a }

// alignedCopy copies b into 8-byte-aligned memory.
func alignedCopy(b []byte) []byte {
	if len(b) == 0 {
		return b
	}
	out := unsafeBytes(make([]uint64, (len(b)+7)/8))[:len(b):len(b)]
	copy(out, b)
	return out
}
