// Package safetensors reads and writes the safetensors format of Hugging Face
// model checkpoints.
//
// A safetensors file is an unsigned 64-bit little-endian header length N, a
// JSON object of N bytes, then the data section. The JSON maps each tensor
// name to {"dtype", "shape", "data_offsets": [begin, end]}, the offsets being
// relative to the start of the data section; the optional key "__metadata__"
// maps strings to strings. Shapes are row-major, outermost dimension first.
//
// Open maps a file into memory, so tensors are zero-copy views of the file.
// They are returned in the repository's convention (package tensor): the shape
// reversed so that Shape[0] is the innermost dimension, the dtype as a
// tensor.DType. Only F32, F16 and BF16 tensors can be viewed; the header of a
// file holding other dtypes still parses, and asking for such a tensor is an
// error naming the file, the tensor and its dtype.
//
// OpenDir opens a model directory: model.safetensors, or the shards listed by
// model.safetensors.index.json.
package safetensors

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/bits"
	"sort"
	"unsafe"

	"github.com/unswift/unswift/internal/mmap"
	"github.com/unswift/unswift/internal/tensor"
)

// MaxHeaderSize is the largest JSON header accepted (as in the reference
// implementation): a larger length prefix means a corrupt or hostile file.
const MaxHeaderSize = 100 << 20

// MetadataKey is the header key that holds the string-to-string metadata.
const MetadataKey = "__metadata__"

// elemSize is the size in bytes of one element of each dtype of the format.
// Sub-byte and packed types of newer versions are absent: a file using them is
// rejected as having an unknown dtype.
var elemSize = map[string]int{
	"BOOL": 1, "U8": 1, "I8": 1, "F8_E5M2": 1, "F8_E4M3": 1,
	"I16": 2, "U16": 2, "F16": 2, "BF16": 2,
	"I32": 4, "U32": 4, "F32": 4,
	"I64": 8, "U64": 8, "F64": 8,
}

// supported maps the dtypes that can be viewed as tensors to their types.
var supported = map[string]tensor.DType{"F32": tensor.F32, "F16": tensor.F16, "BF16": tensor.BF16}

// DTypeName returns the safetensors name of t ("F32", "F16" or "BF16"), or
// false for a type the format cannot hold.
func DTypeName(t tensor.DType) (string, bool) {
	switch t {
	case tensor.F32:
		return "F32", true
	case tensor.F16:
		return "F16", true
	case tensor.BF16:
		return "BF16", true
	}
	return "", false
}

// Info describes one tensor of a file, as its header states it.
type Info struct {
	Name  string
	DType string // as in the file: "F32", "BF16", "I64", ...
	// Shape is as in the file: row-major, outermost dimension first. Note
	// that this is the reverse of tensor.Tensor's convention.
	Shape []int
	// Begin and End are the byte offsets of the data, relative to the start
	// of the data section.
	Begin, End int64
}

// Header is a parsed safetensors header.
type Header struct {
	// Tensors lists the tensors in the order of the JSON object.
	Tensors []Info
	// Metadata is the __metadata__ object (nil when absent).
	Metadata map[string]string
	// DataOffset is the file offset of the data section: 8 + header length.
	DataOffset int64
}

// ParseHeader parses and validates the header of the safetensors file held in
// data (the whole file: the data section's size bounds the offsets). It checks
// that every tensor has a known dtype, a valid shape, and data offsets inside
// the data section that match its size, and that no two tensors overlap.
// Gaps between tensors are tolerated.
func ParseHeader(data []byte) (*Header, error) {
	if len(data) < 8 {
		return nil, fmt.Errorf("file is %d bytes long, too short for the 8-byte header length", len(data))
	}
	n := binary.LittleEndian.Uint64(data)
	if n > MaxHeaderSize {
		return nil, fmt.Errorf("header length %d exceeds the limit of %d bytes (not a safetensors file?)", n, MaxHeaderSize)
	}
	if n > uint64(len(data)-8) {
		return nil, fmt.Errorf("header length %d exceeds the %d bytes after the length prefix (truncated file?)", n, len(data)-8)
	}
	raw := data[8 : 8+n]
	h := &Header{DataOffset: int64(8 + n)}
	dataSize := int64(len(data)) - h.DataOffset
	if err := h.parseJSON(raw, dataSize); err != nil {
		return nil, err
	}
	return h, nil
}

// jsonInfo is a tensor entry of the header before validation.
type jsonInfo struct {
	DType       *string  `json:"dtype"`
	Shape       *[]int64 `json:"shape"`
	DataOffsets *[]int64 `json:"data_offsets"`
}

func (h *Header) parseJSON(raw []byte, dataSize int64) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil {
		return fmt.Errorf("header is not JSON: %v", err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return fmt.Errorf("header is not a JSON object (starts with %v)", tok)
	}
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return fmt.Errorf("header JSON: %v", err)
		}
		name, ok := tok.(string)
		if !ok {
			return fmt.Errorf("header JSON: key %v is not a string", tok)
		}
		if seen[name] {
			return fmt.Errorf("header names %q twice", name)
		}
		seen[name] = true
		var val json.RawMessage
		if err := dec.Decode(&val); err != nil {
			return fmt.Errorf("header JSON: value of %q: %v", name, err)
		}
		if name == MetadataKey {
			if err := json.Unmarshal(val, &h.Metadata); err != nil {
				return fmt.Errorf("header %s is not an object of strings: %v", MetadataKey, err)
			}
			continue
		}
		info, err := parseInfo(name, val, dataSize)
		if err != nil {
			return fmt.Errorf("tensor %q: %v", name, err)
		}
		h.Tensors = append(h.Tensors, info)
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return fmt.Errorf("header JSON: %v", err)
	}
	// The reference writer pads the header with spaces to a multiple of 8.
	if rest := bytes.TrimRight(raw[dec.InputOffset():], " \t\r\n"); len(rest) > 0 {
		return fmt.Errorf("header JSON is followed by %q", firstBytes(rest, 20))
	}
	return checkOverlaps(h.Tensors)
}

func firstBytes(b []byte, n int) []byte {
	if len(b) > n {
		return b[:n]
	}
	return b
}

func parseInfo(name string, val json.RawMessage, dataSize int64) (Info, error) {
	var ji jsonInfo
	if err := json.Unmarshal(val, &ji); err != nil {
		return Info{}, fmt.Errorf("bad entry %s: %v", firstBytes(val, 80), err)
	}
	switch {
	case ji.DType == nil:
		return Info{}, errors.New("entry has no dtype")
	case ji.Shape == nil:
		return Info{}, errors.New("entry has no shape")
	case ji.DataOffsets == nil:
		return Info{}, errors.New("entry has no data_offsets")
	}
	info := Info{Name: name, DType: *ji.DType}
	size, ok := elemSize[info.DType]
	if !ok {
		return Info{}, fmt.Errorf("unknown dtype %q", info.DType)
	}
	n := uint64(1)
	info.Shape = make([]int, len(*ji.Shape))
	for i, d := range *ji.Shape {
		if d < 0 {
			return Info{}, fmt.Errorf("shape %v has a negative dimension", *ji.Shape)
		}
		hi, lo := bits.Mul64(n, uint64(d))
		if hi != 0 || lo > math.MaxInt64/8 {
			return Info{}, fmt.Errorf("shape %v is too large", *ji.Shape)
		}
		n = lo
		info.Shape[i] = int(d)
	}
	off := *ji.DataOffsets
	if len(off) != 2 {
		return Info{}, fmt.Errorf("data_offsets %v is not [begin, end]", off)
	}
	info.Begin, info.End = off[0], off[1]
	if info.Begin < 0 || info.End < info.Begin || info.End > dataSize {
		return Info{}, fmt.Errorf("data_offsets [%d, %d] are outside the %d-byte data section (truncated file?)", info.Begin, info.End, dataSize)
	}
	if want := n * uint64(size); uint64(info.End-info.Begin) != want {
		return Info{}, fmt.Errorf("data_offsets [%d, %d] hold %d bytes, but %s %v needs %d", info.Begin, info.End, info.End-info.Begin, info.DType, info.Shape, want)
	}
	return info, nil
}

// checkOverlaps rejects tensors whose data overlap.
func checkOverlaps(infos []Info) error {
	idx := make([]int, len(infos))
	for i := range idx {
		idx[i] = i
	}
	sort.Slice(idx, func(a, b int) bool {
		x, y := infos[idx[a]], infos[idx[b]]
		if x.Begin != y.Begin {
			return x.Begin < y.Begin
		}
		return x.End < y.End
	})
	last := -1 // the non-empty tensor that ends last so far
	for _, i := range idx {
		cur := infos[i]
		if cur.End == cur.Begin {
			continue
		}
		if last >= 0 && cur.Begin < infos[last].End {
			prev := infos[last]
			return fmt.Errorf("tensors %q [%d, %d] and %q [%d, %d] overlap", prev.Name, prev.Begin, prev.End, cur.Name, cur.Begin, cur.End)
		}
		if last < 0 || cur.End > infos[last].End {
			last = i
		}
	}
	return nil
}

// File is an open safetensors file. The data of its tensors are views of the
// file and are invalid after Close; the header stays valid.
type File struct {
	// Path is the file's path ("" for Parse).
	Path string
	Header

	data   []byte // the data section
	byName map[string]int
	m      *mmap.File
}

// Open maps and parses the safetensors file at path. Errors mention the path.
func Open(path string) (*File, error) {
	m, err := mmap.Open(path)
	if err != nil {
		return nil, fmt.Errorf("safetensors: %w", err)
	}
	f, err := parse(m.Data)
	if err != nil {
		m.Close()
		return nil, fmt.Errorf("safetensors: %s: %w", path, err)
	}
	f.Path, f.m = path, m
	return f, nil
}

// Parse parses a safetensors file held in data; its tensors view data.
func Parse(data []byte) (*File, error) {
	f, err := parse(data)
	if err != nil {
		return nil, fmt.Errorf("safetensors: %w", err)
	}
	return f, nil
}

func parse(data []byte) (*File, error) {
	h, err := ParseHeader(data)
	if err != nil {
		return nil, err
	}
	f := &File{Header: *h, data: data[h.DataOffset:], byName: make(map[string]int, len(h.Tensors))}
	for i, t := range h.Tensors {
		f.byName[t.Name] = i
	}
	return f, nil
}

// Close releases the file mapping (if any).
func (f *File) Close() error {
	if f.m == nil {
		return nil
	}
	err := f.m.Close()
	f.m = nil
	return err
}

// name is the file's name for messages.
func (f *File) name() string {
	if f.Path == "" {
		return "safetensors data"
	}
	return f.Path
}

// Info returns the header entry of the tensor called name.
func (f *File) Info(name string) (Info, bool) {
	i, ok := f.byName[name]
	if !ok {
		return Info{}, false
	}
	return f.Tensors[i], true
}

// Raw returns the bytes of the tensor called name, whatever its dtype.
func (f *File) Raw(name string) ([]byte, error) {
	info, ok := f.Info(name)
	if !ok {
		return nil, fmt.Errorf("%s has no tensor %q", f.name(), name)
	}
	return f.data[info.Begin:info.End:info.End], nil
}

// Tensor returns the tensor called name as a view of the file, with the shape
// reversed (Shape[0] innermost). Data that is not aligned to its element size
// in memory (possible when the header length is not a multiple of 8) is
// copied to aligned memory instead. A tensor of a dtype other than F32, F16
// and BF16, or with a zero dimension, is an error naming the file and tensor.
func (f *File) Tensor(name string) (*tensor.Tensor, error) {
	info, ok := f.Info(name)
	if !ok {
		return nil, fmt.Errorf("%s has no tensor %q", f.name(), name)
	}
	typ, ok := supported[info.DType]
	if !ok {
		return nil, fmt.Errorf("%s: tensor %q has dtype %s, which is not supported (only F32, F16 and BF16 are)", f.name(), name, info.DType)
	}
	shape := make([]int, len(info.Shape))
	for i, d := range info.Shape {
		if d == 0 {
			return nil, fmt.Errorf("%s: tensor %q is empty (shape %v)", f.name(), name, info.Shape)
		}
		shape[len(shape)-1-i] = d
	}
	b := f.data[info.Begin:info.End:info.End]
	if !tensor.Aligned(b, uintptr(elemSize[info.DType])) {
		b = AlignedCopy(b)
	}
	return &tensor.Tensor{Name: name, Type: typ, Shape: shape, Data: b}, nil
}

// AlignedCopy copies b into new 8-byte-aligned memory.
func AlignedCopy(b []byte) []byte {
	if len(b) == 0 {
		return b
	}
	w := make([]uint64, (len(b)+7)/8)
	out := unsafe.Slice((*byte)(unsafe.Pointer(&w[0])), len(w)*8)[:len(b):len(b)]
	copy(out, b)
	return out
}

// Names returns the tensor names in header order.
func (f *File) Names() []string {
	names := make([]string, len(f.Tensors))
	for i, t := range f.Tensors {
		names[i] = t.Name
	}
	return names
}
