package gguf

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/unswift/unswift/internal/tensor"
)

var writeSeeds = flag.Bool("write-seeds", false, "rewrite the fuzz seed corpus in testdata/fuzz/FuzzParse")

// seeds returns small valid files and corruptions of them.
func seeds() map[string][]byte {
	s := map[string][]byte{}
	sample := sampleFile().encode()
	s["sample"] = sample
	v2 := sampleFile()
	v2.version = 2
	s["sample-v2"] = v2.encode()

	var buf bytes.Buffer
	w := NewWriter(&buf)
	for _, kv := range allValues() {
		w.Add(kv.Key, kv.Value)
	}
	w.AddUint32(KeyAlignment, 8)
	w.AddTensorInfo("f", tensor.F32, 2, 1, 1, 1)
	w.AddTensorInfo("h", tensor.F16, 3)
	w.AddTensorInfo("q", tensor.Q4_0, 32)
	w.WriteHeader()
	w.WriteTensorData("f", make([]byte, 8))
	w.WriteTensorData("h", []byte{1, 2, 3, 4, 5, 6})
	w.WriteTensorData("q", bytes.Repeat([]byte{0x5a}, 18))
	w.Close()
	s["all-values"] = buf.Bytes()

	// Corruptions: a truncation and a flipped byte in each section.
	s["sample-truncated"] = sample[:len(sample)/2]
	for _, at := range []int{9, 40, 130, 170, 230} {
		b := bytes.Clone(sample)
		b[at] ^= 0x80
		s[fmt.Sprintf("sample-flip-%d", at)] = b
	}
	return s
}

func TestWriteFuzzSeeds(t *testing.T) {
	if !*writeSeeds {
		t.Skip("run with -write-seeds to regenerate testdata/fuzz/FuzzParse")
	}
	dir := filepath.Join("testdata", "fuzz", "FuzzParse")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, b := range seeds() {
		body := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", b)
		if err := os.WriteFile(filepath.Join(dir, "seed-"+name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// FuzzParse checks that Parse never panics, that what it accepts is
// consistent, and that Writer reproduces it.
func FuzzParse(f *testing.F) {
	for _, b := range seeds() {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		g, err := Parse(data)
		if err != nil {
			return
		}
		g.Describe(io.Discard)
		var meta []KV
		for _, k := range g.Keys() {
			v, ok := g.Value(k)
			if !ok {
				t.Fatalf("key %q listed but has no value", k)
			}
			_ = v.String()
			g.String(k)
			g.Uint(k)
			g.Int(k)
			g.Float(k)
			g.Bool(k)
			g.Strings(k)
			g.Float32s(k)
			g.Ints(k)
			meta = append(meta, KV{k, v})
		}
		for _, tt := range g.Tensors {
			if err := tt.Check(); err != nil {
				t.Fatalf("accepted tensor fails Check: %v", err)
			}
			if g.Tensor(tt.Name) != tt {
				t.Fatalf("Tensor(%q) is not the listed tensor", tt.Name)
			}
		}

		// Round trip through Writer.
		var buf bytes.Buffer
		w := NewWriter(&buf)
		for _, kv := range meta {
			w.Add(kv.Key, kv.Value)
		}
		for _, tt := range g.Tensors {
			w.AddTensorInfo(tt.Name, tt.Type, tt.Shape...)
		}
		if err := w.WriteHeader(); err != nil {
			t.Fatalf("Writer rejects a parsed file: %v", err)
		}
		for _, tt := range g.Tensors {
			if err := w.WriteTensorData(tt.Name, tt.Data); err != nil {
				t.Fatal(err)
			}
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		h, err := Parse(buf.Bytes())
		if err != nil {
			t.Fatalf("re-parse: %v", err)
		}
		if !slices.Equal(h.Keys(), g.Keys()) || len(h.Tensors) != len(g.Tensors) {
			t.Fatal("round trip changed the key or tensor list")
		}
		for _, kv := range meta {
			if v, _ := h.Value(kv.Key); !v.Equal(kv.Value) {
				t.Fatalf("round trip changed %q", kv.Key)
			}
		}
		for i, tt := range h.Tensors {
			o := g.Tensors[i]
			if tt.Name != o.Name || tt.Type != o.Type || !slices.Equal(tt.Shape, o.Shape) || !bytes.Equal(tt.Data, o.Data) {
				t.Fatalf("round trip changed tensor %q", o.Name)
			}
		}
	})
}
