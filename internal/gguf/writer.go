package gguf

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"

	"github.com/unswift/unswift/internal/safefile"
	"github.com/unswift/unswift/internal/tensor"
)

// Writer writes a GGUF version 3 file in one pass. A caller
//
//  1. adds metadata with the Add methods, in the order it should appear;
//  2. declares every tensor with AddTensorInfo, in file order;
//  3. calls WriteHeader;
//  4. writes each tensor's data with WriteTensorData, in declaration order;
//  5. calls Close, which checks that every tensor was written.
//
// Only one tensor's data need be in memory at a time. Alignment padding is
// written automatically; the alignment is 32 unless general.alignment is
// added (as an unsigned integer power of two).
//
// The Add and AddTensorInfo methods record the first error they meet (a
// duplicate key, an invalid shape, ...) and WriteHeader returns it.
type Writer struct {
	w         io.Writer
	sf        *safefile.File // non-nil for a Writer from Create
	keys      []string
	values    map[string]Value
	tensors   []tensorInfo
	names     map[string]bool
	alignment int
	header    bool  // header written
	next      int   // index of the next tensor to write
	pos       int64 // bytes written
	closed    bool
	err       error
}

// NewWriter returns a Writer that writes to w. Close does not close w.
func NewWriter(w io.Writer) *Writer {
	return &Writer{w: w, values: map[string]Value{}, names: map[string]bool{}, alignment: DefaultAlignment}
}

// Create returns a Writer that writes the file at path atomically: the file
// appears, complete, when Close succeeds, and not at all if writing fails or
// Abort is called. Call Abort (it is safe to defer) to discard the file on
// an error path.
func Create(path string) (*Writer, error) {
	sf, err := safefile.Create(path)
	if err != nil {
		return nil, fmt.Errorf("gguf: %w", err)
	}
	w := NewWriter(sf)
	w.sf = sf
	return w, nil
}

func (w *Writer) fail(format string, args ...any) error {
	if w.err == nil {
		w.err = fmt.Errorf("gguf: "+format, args...)
	}
	return w.err
}

// Add adds a metadata key with its value. A key may be added only once, and
// only before WriteHeader.
func (w *Writer) Add(key string, v Value) {
	switch {
	case w.err != nil:
		return
	case w.header:
		w.fail("metadata %q added after WriteHeader", key)
		return
	case key == "":
		w.fail("empty metadata key")
		return
	case w.has(key):
		w.fail("duplicate metadata key %q", key)
		return
	case !v.Type.valid():
		w.fail("metadata %q has invalid type %v", key, v.Type)
		return
	}
	if key == KeyAlignment {
		a, ok := v.AsUint()
		if !ok || v.Type == TypeBool {
			w.fail("%s must be an unsigned integer, not %v", key, v.Type)
			return
		}
		if a == 0 || a&(a-1) != 0 || a > maxAlignment {
			w.fail("%s %d is not a power of two between 1 and %d", key, a, maxAlignment)
			return
		}
		w.alignment = int(a)
	}
	w.keys = append(w.keys, key)
	w.values[key] = v
}

func (w *Writer) has(key string) bool {
	_, ok := w.values[key]
	return ok
}

// AddString adds a string value.
func (w *Writer) AddString(key, v string) { w.Add(key, StringValue(v)) }

// AddUint32 adds a uint32 value.
func (w *Writer) AddUint32(key string, v uint32) { w.Add(key, Uint32Value(v)) }

// AddInt32 adds an int32 value.
func (w *Writer) AddInt32(key string, v int32) { w.Add(key, Int32Value(v)) }

// AddUint64 adds a uint64 value.
func (w *Writer) AddUint64(key string, v uint64) { w.Add(key, Uint64Value(v)) }

// AddFloat32 adds a float32 value.
func (w *Writer) AddFloat32(key string, v float32) { w.Add(key, Float32Value(v)) }

// AddBool adds a bool value.
func (w *Writer) AddBool(key string, v bool) { w.Add(key, BoolValue(v)) }

// AddStrings adds an array of strings.
func (w *Writer) AddStrings(key string, v []string) { w.Add(key, StringsValue(v)) }

// AddFloat32s adds an array of float32.
func (w *Writer) AddFloat32s(key string, v []float32) { w.Add(key, Float32sValue(v)) }

// AddInt32s adds an array of int32.
func (w *Writer) AddInt32s(key string, v []int32) { w.Add(key, Int32sValue(v)) }

// AddArray adds an array of elements of type elem (see ArrayValue).
func (w *Writer) AddArray(key string, elem ValueType, elems ...Value) {
	v, err := ArrayValue(elem, elems...)
	if err != nil {
		w.fail("metadata %q: %v", key, err)
		return
	}
	w.Add(key, v)
}

// AddTensorInfo declares a tensor. Tensors are written in declaration order.
// Shape follows GGUF: shape[0] is the innermost dimension.
func (w *Writer) AddTensorInfo(name string, typ tensor.DType, shape ...int) {
	if w.err != nil {
		return
	}
	if w.header {
		w.fail("tensor %q declared after WriteHeader", name)
		return
	}
	if w.names[name] {
		w.fail("duplicate tensor name %q", name)
		return
	}
	if len(shape) > MaxDims {
		w.fail("tensor %q: %d dimensions, at most %d are allowed", name, len(shape), MaxDims)
		return
	}
	if !typ.Known() || typ >= 1000 {
		w.fail("tensor %q: type %v cannot be stored in GGUF", name, typ)
		return
	}
	n := 1
	for _, d := range shape {
		if d <= 0 || n > math.MaxInt/d {
			w.fail("tensor %q: invalid shape %v", name, shape)
			return
		}
		n *= d
	}
	cols := 1
	if len(shape) > 0 {
		cols = shape[0]
	}
	if cols%typ.BlockSize() != 0 {
		w.fail("tensor %q: row length %d is not a multiple of the %v block size %d", name, cols, typ, typ.BlockSize())
		return
	}
	size, err := typ.Bytes(n)
	if err != nil {
		w.fail("tensor %q: %v", name, err)
		return
	}
	w.names[name] = true
	w.tensors = append(w.tensors, tensorInfo{name: name, typ: typ, shape: append([]int(nil), shape...), size: size})
}

// WriteHeader writes the header, metadata and tensor infos, with the padding
// that aligns the data section. It returns the first error recorded by the
// Add and AddTensorInfo methods.
func (w *Writer) WriteHeader() error {
	if w.err != nil {
		return w.err
	}
	if w.header {
		return w.fail("WriteHeader called twice")
	}
	w.header = true
	var b bytes.Buffer
	le := binary.LittleEndian
	b.WriteString(Magic)
	b.Write(le.AppendUint32(nil, 3))
	b.Write(le.AppendUint64(nil, uint64(len(w.tensors))))
	b.Write(le.AppendUint64(nil, uint64(len(w.keys))))
	for _, k := range w.keys {
		v := w.values[k]
		appendString(&b, k)
		b.Write(le.AppendUint32(nil, uint32(v.Type)))
		appendValue(&b, v)
	}
	var off uint64
	for i := range w.tensors {
		t := &w.tensors[i]
		t.offset = off
		off += uint64(alignUp(t.size, w.alignment))
		appendString(&b, t.name)
		b.Write(le.AppendUint32(nil, uint32(len(t.shape))))
		for _, d := range t.shape {
			b.Write(le.AppendUint64(nil, uint64(d)))
		}
		b.Write(le.AppendUint32(nil, uint32(t.typ)))
		b.Write(le.AppendUint64(nil, t.offset))
	}
	if len(w.tensors) > 0 {
		b.Write(make([]byte, alignUp(b.Len(), w.alignment)-b.Len()))
	}
	return w.write(b.Bytes())
}

func (w *Writer) write(p []byte) error {
	if w.err != nil {
		return w.err
	}
	n, err := w.w.Write(p)
	w.pos += int64(n)
	if err != nil {
		w.err = fmt.Errorf("gguf: %w", err)
	}
	return w.err
}

func appendString(b *bytes.Buffer, s string) {
	b.Write(binary.LittleEndian.AppendUint64(nil, uint64(len(s))))
	b.WriteString(s)
}

func appendValue(b *bytes.Buffer, v Value) {
	switch v.Type {
	case TypeString:
		appendString(b, v.str)
	case TypeArray:
		a := v.elems()
		b.Write(binary.LittleEndian.AppendUint32(nil, uint32(a.elem)))
		b.Write(binary.LittleEndian.AppendUint64(nil, uint64(a.n)))
		switch a.elem {
		case TypeString:
			for _, s := range a.strs {
				appendString(b, s)
			}
		case TypeArray:
			for _, e := range a.vals {
				appendValue(b, e)
			}
		default:
			b.Write(a.raw)
		}
	default:
		b.Write(appendScalar(nil, v.Type, v.num))
	}
}

// WriteTensorData writes the data of the next declared tensor, which must be
// called name, followed by the padding that aligns the tensor after it.
func (w *Writer) WriteTensorData(name string, data []byte) error {
	if w.err != nil {
		return w.err
	}
	switch {
	case !w.header:
		return w.fail("tensor %q data written before WriteHeader", name)
	case w.next >= len(w.tensors):
		return w.fail("tensor %q data written, but all %d declared tensors are already written", name, len(w.tensors))
	}
	t := w.tensors[w.next]
	switch {
	case t.name != name:
		return w.fail("tensor %q data written out of order: tensor %d is %q", name, w.next, t.name)
	case len(data) != t.size:
		return w.fail("tensor %q: %v %v needs %d bytes, got %d", name, t.typ, t.shape, t.size, len(data))
	}
	w.next++
	if err := w.write(data); err != nil {
		return err
	}
	if pad := alignUp(t.size, w.alignment) - t.size; pad > 0 {
		return w.write(make([]byte, pad))
	}
	return nil
}

// Close checks that the header and every declared tensor were written. For
// a Writer from Create it then commits the file (or discards it on error).
// Close does not close the io.Writer given to NewWriter.
func (w *Writer) Close() error {
	if w.closed {
		return errors.New("gguf: Writer already closed")
	}
	w.closed = true
	if w.err == nil {
		if !w.header {
			w.WriteHeader()
		}
		if w.err == nil && w.next < len(w.tensors) {
			w.fail("only %d of %d tensors written; %q is missing", w.next, len(w.tensors), w.tensors[w.next].name)
		}
	}
	if w.sf == nil {
		return w.err
	}
	if err := w.sf.Finish(w.err); err != nil && w.err == nil {
		w.err = fmt.Errorf("gguf: %w", err)
	}
	return w.err
}

// Abort discards a file being written by a Writer from Create. It does
// nothing after a successful Close, so it is safe to defer.
func (w *Writer) Abort() error {
	if !w.closed {
		w.closed = true
		if w.err == nil {
			w.err = errors.New("gguf: Writer aborted")
		}
	}
	if w.sf == nil {
		return nil
	}
	return w.sf.Abort()
}

// KV is a metadata key and its value, for WriteFile.
type KV struct {
	Key   string
	Value Value
}

// WriteFile writes a complete GGUF file atomically: meta in order, then the
// tensors in order. Before the file replaces path, it is parsed back and
// its metadata and tensor data compared with what was written.
func WriteFile(path string, meta []KV, tensors []*tensor.Tensor) error {
	sf, err := safefile.Create(path)
	if err != nil {
		return fmt.Errorf("gguf: %w", err)
	}
	defer sf.Abort()
	w := NewWriter(sf)
	for _, kv := range meta {
		w.Add(kv.Key, kv.Value)
	}
	for _, t := range tensors {
		w.AddTensorInfo(t.Name, t.Type, t.Shape...)
	}
	if err := w.WriteHeader(); err != nil {
		return err
	}
	for _, t := range tensors {
		if err := w.WriteTensorData(t.Name, t.Data); err != nil {
			return err
		}
	}
	if err := w.Close(); err != nil {
		return err
	}
	if err := sf.Flush(); err != nil {
		return fmt.Errorf("gguf: %w", err)
	}
	if err := verify(sf.TempName(), meta, tensors); err != nil {
		return fmt.Errorf("gguf: writing %s: verification failed: %w", path, err)
	}
	if err := sf.Commit(); err != nil {
		return fmt.Errorf("gguf: %w", err)
	}
	return nil
}

// verify re-reads a written file and compares it with its source.
func verify(path string, meta []KV, tensors []*tensor.Tensor) error {
	f, err := Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	if len(f.keys) != len(meta) || len(f.Tensors) != len(tensors) {
		return fmt.Errorf("read back %d keys and %d tensors, wrote %d and %d", len(f.keys), len(f.Tensors), len(meta), len(tensors))
	}
	for i, kv := range meta {
		if f.keys[i] != kv.Key || !f.values[kv.Key].Equal(kv.Value) {
			return fmt.Errorf("metadata %d (%q) reads back differently", i, kv.Key)
		}
	}
	for i, t := range tensors {
		g := f.Tensors[i]
		if g.Name != t.Name || g.Type != t.Type || !slices.Equal(g.Shape, t.Shape) || !bytes.Equal(g.Data, t.Data) {
			return fmt.Errorf("tensor %d (%q) reads back differently", i, t.Name)
		}
	}
	return nil
}
