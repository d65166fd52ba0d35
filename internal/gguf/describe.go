package gguf

import (
	"fmt"
	"io"
)

// Describe writes a human-readable summary of the file: version, metadata
// (long strings and arrays abbreviated) and tensors.
func (f *File) Describe(w io.Writer) error {
	var total int64
	for _, t := range f.Tensors {
		total += int64(len(t.Data))
	}
	if _, err := fmt.Fprintf(w, "GGUF v%d, alignment %d, %d metadata keys, %d tensors (%d bytes of data at offset %d)\n",
		f.Version, f.Alignment, len(f.keys), len(f.Tensors), total, f.DataOffset); err != nil {
		return err
	}
	for _, k := range f.keys {
		v := f.values[k]
		if _, err := fmt.Fprintf(w, "  %s: %v = %v\n", k, v.Type, v); err != nil {
			return err
		}
	}
	for _, t := range f.Tensors {
		if _, err := fmt.Fprintf(w, "  %-32s %-6v %v\n", t.Name, t.Type, t.Shape); err != nil {
			return err
		}
	}
	return nil
}
