package safetensors

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"sort"

	"github.com/unswift/unswift/internal/safefile"
	"github.com/unswift/unswift/internal/tensor"
)

// Writer writes a safetensors file in one pass. A caller
//
//  1. sets Metadata (optional) and declares every tensor with AddTensor, in
//     file order;
//  2. calls WriteHeader;
//  3. writes each tensor's data with WriteTensorData, in declaration order;
//  4. calls Close, which checks that every tensor was written.
//
// Only one tensor's data need be in memory at a time. Tensors are packed in
// declaration order without gaps; the header is padded with spaces to a
// multiple of 8 bytes, as the reference implementation does.
type Writer struct {
	// Metadata is written as the header's __metadata__ object when non-nil.
	Metadata map[string]string

	w       io.Writer
	sf      *safefile.File // non-nil for a Writer from Create
	tensors []Info
	names   map[string]bool
	header  bool
	next    int
	closed  bool
	err     error
}

// NewWriter returns a Writer that writes to w. Close does not close w.
func NewWriter(w io.Writer) *Writer { return &Writer{w: w, names: map[string]bool{}} }

// Create returns a Writer that writes the file at path atomically: the file
// appears, complete, when Close succeeds, and not at all otherwise. Abort
// (safe to defer) discards it on an error path.
func Create(path string) (*Writer, error) {
	sf, err := safefile.Create(path)
	if err != nil {
		return nil, fmt.Errorf("safetensors: %w", err)
	}
	w := NewWriter(sf)
	w.sf = sf
	return w, nil
}

func (w *Writer) fail(format string, args ...any) error {
	if w.err == nil {
		w.err = fmt.Errorf("safetensors: "+format, args...)
	}
	return w.err
}

// AddTensor declares a tensor of type typ (F32, F16 or BF16). The shape
// follows package tensor: shape[0] is the innermost dimension (it is written
// reversed, as the format wants).
func (w *Writer) AddTensor(name string, typ tensor.DType, shape ...int) {
	switch {
	case w.err != nil:
		return
	case w.header:
		w.fail("tensor %q declared after WriteHeader", name)
		return
	case name == "" || name == MetadataKey:
		w.fail("invalid tensor name %q", name)
		return
	case w.names[name]:
		w.fail("duplicate tensor name %q", name)
		return
	}
	dt, ok := DTypeName(typ)
	if !ok {
		w.fail("tensor %q: type %s cannot be stored in safetensors (only F32, F16 and BF16)", name, typ)
		return
	}
	n := int64(1)
	file := make([]int, len(shape))
	for i, d := range shape {
		if d <= 0 || n > math.MaxInt64/8/int64(d) {
			w.fail("tensor %q: invalid shape %v", name, shape)
			return
		}
		n *= int64(d)
		file[len(shape)-1-i] = d
	}
	var begin int64
	if k := len(w.tensors); k > 0 {
		begin = w.tensors[k-1].End
	}
	w.names[name] = true
	w.tensors = append(w.tensors, Info{Name: name, DType: dt, Shape: file, Begin: begin, End: begin + n*int64(elemSize[dt])})
}

// WriteHeader writes the length prefix and the JSON header.
func (w *Writer) WriteHeader() error {
	if w.err != nil {
		return w.err
	}
	if w.header {
		return w.fail("WriteHeader called twice")
	}
	w.header = true
	var b bytes.Buffer
	b.WriteByte('{')
	first := true
	key := func(k string) {
		if !first {
			b.WriteByte(',')
		}
		first = false
		writeJSONString(&b, k)
		b.WriteByte(':')
	}
	if w.Metadata != nil {
		key(MetadataKey)
		keys := make([]string, 0, len(w.Metadata))
		for k := range w.Metadata {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		b.WriteByte('{')
		for i, k := range keys {
			if i > 0 {
				b.WriteByte(',')
			}
			writeJSONString(&b, k)
			b.WriteByte(':')
			writeJSONString(&b, w.Metadata[k])
		}
		b.WriteByte('}')
	}
	for _, t := range w.tensors {
		key(t.Name)
		fmt.Fprintf(&b, `{"dtype":"%s","shape":[`, t.DType)
		for i, d := range t.Shape {
			if i > 0 {
				b.WriteByte(',')
			}
			fmt.Fprint(&b, d)
		}
		fmt.Fprintf(&b, `],"data_offsets":[%d,%d]}`, t.Begin, t.End)
	}
	b.WriteByte('}')
	for b.Len()%8 != 0 {
		b.WriteByte(' ')
	}
	if err := w.write(binary.LittleEndian.AppendUint64(nil, uint64(b.Len()))); err != nil {
		return err
	}
	return w.write(b.Bytes())
}

// writeJSONString writes s as a JSON string, without HTML escaping.
func writeJSONString(b *bytes.Buffer, s string) {
	enc := json.NewEncoder(b)
	enc.SetEscapeHTML(false)
	enc.Encode(s)           // cannot fail for a string
	b.Truncate(b.Len() - 1) // the encoder's newline
}

func (w *Writer) write(p []byte) error {
	if w.err != nil {
		return w.err
	}
	if _, err := w.w.Write(p); err != nil {
		w.err = fmt.Errorf("safetensors: %w", err)
	}
	return w.err
}

// WriteTensorData writes the data of the next declared tensor, which must be
// called name.
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
	case t.Name != name:
		return w.fail("tensor %q data written out of order: tensor %d is %q", name, w.next, t.Name)
	case int64(len(data)) != t.End-t.Begin:
		return w.fail("tensor %q: %s %v needs %d bytes, got %d", name, t.DType, t.Shape, t.End-t.Begin, len(data))
	}
	w.next++
	return w.write(data)
}

// Close checks that the header and every tensor were written; for a Writer
// from Create it then commits the file, or discards it on error.
func (w *Writer) Close() error {
	if w.closed {
		return errors.New("safetensors: Writer already closed")
	}
	w.closed = true
	if w.err == nil {
		if !w.header {
			w.WriteHeader()
		}
		if w.err == nil && w.next < len(w.tensors) {
			w.fail("only %d of %d tensors written; %q is missing", w.next, len(w.tensors), w.tensors[w.next].Name)
		}
	}
	if w.sf == nil {
		return w.err
	}
	if err := w.sf.Finish(w.err); err != nil && w.err == nil {
		w.err = fmt.Errorf("safetensors: %w", err)
	}
	return w.err
}

// Abort discards a file being written by a Writer from Create. It does nothing
// after a successful Close, so it is safe to defer.
func (w *Writer) Abort() error {
	if !w.closed {
		w.closed = true
		if w.err == nil {
			w.err = errors.New("safetensors: Writer aborted")
		}
	}
	if w.sf == nil {
		return nil
	}
	return w.sf.Abort()
}

// WriteFile writes tensors (F32, F16 or BF16) to path atomically, with the
// given metadata (nil for none).
func WriteFile(path string, metadata map[string]string, tensors []*tensor.Tensor) error {
	w, err := Create(path)
	if err != nil {
		return err
	}
	defer w.Abort()
	w.Metadata = metadata
	for _, t := range tensors {
		w.AddTensor(t.Name, t.Type, t.Shape...)
	}
	if err := w.WriteHeader(); err != nil {
		return err
	}
	for _, t := range tensors {
		if err := w.WriteTensorData(t.Name, t.Data); err != nil {
			return err
		}
	}
	return w.Close()
}
