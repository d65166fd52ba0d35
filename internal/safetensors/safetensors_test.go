package safetensors

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/unswift/unswift/internal/tensor"
)

// build assembles a safetensors file by hand, as the format specifies: the
// header length, the header, the data. pad is appended to the header.
func build(header string, pad int, data []byte) []byte {
	h := header + strings.Repeat(" ", pad)
	out := binary.LittleEndian.AppendUint64(nil, uint64(len(h)))
	out = append(out, h...)
	return append(out, data...)
}

func f32bytes(v ...float32) []byte {
	var b []byte
	for _, x := range v {
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(x))
	}
	return b
}

func u16bytes(v ...uint16) []byte {
	var b []byte
	for _, x := range v {
		b = binary.LittleEndian.AppendUint16(b, x)
	}
	return b
}

func TestParse(t *testing.T) {
	// A 2×3 F32 matrix, a BF16 vector of 2, an F16 scalar-like [1] and an I64
	// buffer, with metadata; the header padded to a multiple of 8.
	data := slices.Concat(f32bytes(1, 2, 3, 4, 5, 6), u16bytes(0x3f80, 0xc000), u16bytes(0x3c00), make([]byte, 16))
	hdr := `{"__metadata__":{"format":"pt"},"w":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]},` +
		`"b":{"dtype":"BF16","shape":[2],"data_offsets":[24,28]},"h":{"dtype":"F16","shape":[1],"data_offsets":[28,30]},` +
		`"ids":{"dtype":"I64","shape":[1,2],"data_offsets":[30,46]}}`
	for _, pad := range []int{0, 1, 2, 3, 8 - len(hdr)%8} {
		f, err := Parse(build(hdr, pad, data))
		if err != nil {
			t.Fatalf("pad %d: %v", pad, err)
		}
		if f.Metadata["format"] != "pt" || len(f.Tensors) != 4 {
			t.Fatalf("metadata %v, %d tensors", f.Metadata, len(f.Tensors))
		}
		if got := f.Names(); !slices.Equal(got, []string{"w", "b", "h", "ids"}) {
			t.Errorf("names %v are not in header order", got)
		}
		w, err := f.Tensor("w")
		if err != nil {
			t.Fatal(err)
		}
		if w.Type != tensor.F32 || !slices.Equal(w.Shape, []int{3, 2}) || w.Check() != nil {
			t.Errorf("w: %s %v", w.Type, w.Shape)
		}
		if got := w.F32s(); !slices.Equal(got, []float32{1, 2, 3, 4, 5, 6}) {
			t.Errorf("w data %v", got)
		}
		if !tensor.Aligned(w.Data, 4) {
			t.Errorf("pad %d: F32 data not aligned", pad)
		}
		b, err := f.Tensor("b")
		if err != nil {
			t.Fatal(err)
		}
		got := make([]float32, 2)
		if err := tensor.Dequantize(got, b.Type, b.Data); err != nil || !slices.Equal(got, []float32{1, -2}) {
			t.Errorf("b = %v (%v)", got, err)
		}
		h, err := f.Tensor("h")
		if err != nil || h.Type != tensor.F16 || tensor.F16ToF32(binary.LittleEndian.Uint16(h.Data)) != 1 {
			t.Errorf("h: %v %v", h, err)
		}
		_, err = f.Tensor("ids")
		if err == nil || !strings.Contains(err.Error(), `"ids"`) || !strings.Contains(err.Error(), "I64") {
			t.Errorf("I64 tensor: error %v, want one naming the tensor and its dtype", err)
		}
		raw, err := f.Raw("ids")
		if err != nil || len(raw) != 16 {
			t.Errorf("Raw(ids): %d bytes, %v", len(raw), err)
		}
		if _, err := f.Tensor("nope"); err == nil {
			t.Error("missing tensor: no error")
		}
	}
}

func TestParseErrors(t *testing.T) {
	ok := `{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}`
	for _, tc := range []struct {
		name string
		file []byte
		want string
	}{
		{"empty", nil, "too short"},
		{"huge header", binary.LittleEndian.AppendUint64(nil, 1<<40), "exceeds the limit"},
		{"truncated header", build(ok, 0, nil)[:20], "truncated"},
		{"not json", build("hello", 0, nil), "not JSON"},
		{"not object", build("[1,2]", 0, nil), "not a JSON object"},
		{"duplicate", build(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`, 0, make([]byte, 8)), "twice"},
		{"no dtype", build(`{"a":{"shape":[2],"data_offsets":[0,8]}}`, 0, make([]byte, 8)), "no dtype"},
		{"no shape", build(`{"a":{"dtype":"F32","data_offsets":[0,8]}}`, 0, make([]byte, 8)), "no shape"},
		{"no offsets", build(`{"a":{"dtype":"F32","shape":[2]}}`, 0, make([]byte, 8)), "no data_offsets"},
		{"unknown dtype", build(`{"a":{"dtype":"F7","shape":[2],"data_offsets":[0,8]}}`, 0, make([]byte, 8)), `unknown dtype "F7"`},
		{"negative dim", build(`{"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}}`, 0, make([]byte, 8)), "negative"},
		{"fractional dim", build(`{"a":{"dtype":"F32","shape":[1.5],"data_offsets":[0,8]}}`, 0, make([]byte, 8)), "bad entry"},
		{"huge shape", build(`{"a":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,8]}}`, 0, make([]byte, 8)), "too large"},
		{"one offset", build(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[8]}}`, 0, make([]byte, 8)), "not [begin, end]"},
		{"past end", build(ok, 0, make([]byte, 4)), "outside"},
		{"reversed", build(`{"a":{"dtype":"F32","shape":[0],"data_offsets":[8,0]}}`, 0, make([]byte, 8)), "outside"},
		{"size mismatch", build(`{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}`, 0, make([]byte, 12)), "needs 12"},
		{"overlap", build(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}`, 0, make([]byte, 12)), "overlap"},
		{"overlap after empty", build(`{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,12]},"e":{"dtype":"F32","shape":[0],"data_offsets":[4,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}}`, 0, make([]byte, 12)), "overlap"},
		{"trailing junk", build(ok+"x", 0, make([]byte, 8)), "followed by"},
		{"metadata not strings", build(`{"__metadata__":{"a":1}}`, 0, nil), "object of strings"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse(tc.file)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
	// Gaps and empty tensors are accepted; an empty tensor cannot be viewed.
	f, err := Parse(build(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]},"e":{"dtype":"F16","shape":[0,3],"data_offsets":[8,8]}}`, 0, make([]byte, 12)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Tensor("e"); err == nil || !strings.Contains(err.Error(), "empty") {
		t.Errorf("empty tensor: %v", err)
	}
}

func TestWriter(t *testing.T) {
	// The expected bytes are built by hand from the format's description.
	var buf bytes.Buffer
	w := NewWriter(&buf)
	w.Metadata = map[string]string{"format": "pt"}
	w.AddTensor("x.weight", tensor.F32, 3, 2) // 2 rows of 3
	w.AddTensor("y", tensor.BF16, 1)
	if err := w.WriteHeader(); err != nil {
		t.Fatal(err)
	}
	if err := w.WriteTensorData("x.weight", f32bytes(1, 2, 3, 4, 5, 6)); err != nil {
		t.Fatal(err)
	}
	if err := w.WriteTensorData("y", u16bytes(0x3f80)); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	hdr := `{"__metadata__":{"format":"pt"},"x.weight":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]},"y":{"dtype":"BF16","shape":[1],"data_offsets":[24,26]}}`
	want := build(hdr, (8-len(hdr)%8)%8, slices.Concat(f32bytes(1, 2, 3, 4, 5, 6), u16bytes(0x3f80)))
	if !bytes.Equal(buf.Bytes(), want) {
		t.Fatalf("wrote\n%q\nwant\n%q", buf.Bytes(), want)
	}

	for _, tc := range []struct {
		name string
		do   func(w *Writer) error
		want string
	}{
		{"bad type", func(w *Writer) error { w.AddTensor("a", tensor.Q8_0, 32); return w.WriteHeader() }, "cannot be stored"},
		{"duplicate", func(w *Writer) error {
			w.AddTensor("a", tensor.F32, 1)
			w.AddTensor("a", tensor.F32, 1)
			return w.WriteHeader()
		}, "duplicate"},
		{"bad shape", func(w *Writer) error { w.AddTensor("a", tensor.F32, 0); return w.WriteHeader() }, "invalid shape"},
		{"reserved name", func(w *Writer) error { w.AddTensor(MetadataKey, tensor.F32, 1); return w.WriteHeader() }, "invalid tensor name"},
		{"out of order", func(w *Writer) error {
			w.AddTensor("a", tensor.F32, 1)
			w.AddTensor("b", tensor.F32, 1)
			w.WriteHeader()
			return w.WriteTensorData("b", make([]byte, 4))
		}, "out of order"},
		{"short data", func(w *Writer) error {
			w.AddTensor("a", tensor.F32, 2)
			w.WriteHeader()
			return w.WriteTensorData("a", make([]byte, 4))
		}, "needs 8 bytes"},
		{"missing data", func(w *Writer) error { w.AddTensor("a", tensor.F32, 2); w.WriteHeader(); return w.Close() }, "missing"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.do(NewWriter(&bytes.Buffer{}))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func TestWriteFileRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "m.safetensors")
	a := tensor.FromF32("a", []float32{1.5, -2, 3, 4, 5, 6}, 2, 3)
	b := &tensor.Tensor{Name: "b", Type: tensor.F16, Shape: []int{3}, Data: u16bytes(1, 2, 3)}
	if err := WriteFile(path, map[string]string{"format": "pt"}, []*tensor.Tensor{a, b}); err != nil {
		t.Fatal(err)
	}
	f, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, want := range []*tensor.Tensor{a, b} {
		got, err := f.Tensor(want.Name)
		if err != nil {
			t.Fatal(err)
		}
		if got.Type != want.Type || !slices.Equal(got.Shape, want.Shape) || !bytes.Equal(got.Data, want.Data) {
			t.Errorf("%s: read back %s %v", want.Name, got.Type, got.Shape)
		}
	}
	if info, _ := f.Info("a"); !slices.Equal(info.Shape, []int{3, 2}) {
		t.Errorf("file shape of a is %v, want [3 2] (outermost first)", info.Shape)
	}
	// A failed write leaves nothing behind.
	bad := filepath.Join(t.TempDir(), "bad.safetensors")
	if err := WriteFile(bad, nil, []*tensor.Tensor{{Name: "q", Type: tensor.Q8_0, Shape: []int{32}, Data: make([]byte, 34)}}); err == nil {
		t.Fatal("Q8_0 tensor written")
	}
	if _, err := os.Stat(bad); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("failed write left %s: %v", bad, err)
	}
}

// writeShard writes a shard holding F32 tensors of one element each.
func writeShard(t *testing.T, path string, names ...string) {
	t.Helper()
	var ts []*tensor.Tensor
	for i, n := range names {
		ts = append(ts, tensor.FromF32(n, []float32{float32(i)}, 1))
	}
	if err := WriteFile(path, nil, ts); err != nil {
		t.Fatal(err)
	}
}

func TestDir(t *testing.T) {
	t.Run("single", func(t *testing.T) {
		dir := t.TempDir()
		writeShard(t, filepath.Join(dir, SingleFile), "a", "b")
		s, err := OpenDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		if !slices.Equal(s.Names(), []string{"a", "b"}) || !s.Has("b") || s.Has("c") {
			t.Errorf("names %v", s.Names())
		}
		if _, err := s.Tensor("c"); err == nil || !strings.Contains(err.Error(), SingleFile) {
			t.Errorf("missing tensor: %v", err)
		}
	})
	index := func(dir, body string) {
		if err := os.WriteFile(filepath.Join(dir, IndexFile), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	sharded := func(t *testing.T) string {
		dir := t.TempDir()
		writeShard(t, filepath.Join(dir, "model-00001-of-00002.safetensors"), "a", "b")
		writeShard(t, filepath.Join(dir, "model-00002-of-00002.safetensors"), "c")
		return dir
	}
	t.Run("sharded", func(t *testing.T) {
		dir := sharded(t)
		index(dir, `{"metadata":{"total_size":12},"weight_map":{"a":"model-00001-of-00002.safetensors","b":"model-00001-of-00002.safetensors","c":"model-00002-of-00002.safetensors"}}`)
		s, err := OpenDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		c, err := s.Tensor("c")
		if err != nil || c.F32s()[0] != 0 {
			t.Fatalf("c: %v", err)
		}
		if _, file, _ := s.Info("c"); filepath.Base(file) != "model-00002-of-00002.safetensors" {
			t.Errorf("c is in %s", file)
		}
	})
	for _, tc := range []struct {
		name, index, want string
	}{
		{"missing shard", `{"weight_map":{"a":"model-00001-of-00002.safetensors","z":"model-00003-of-00003.safetensors"}}`, "shard model-00003-of-00003.safetensors (holding \"z\""},
		{"wrong shard", `{"weight_map":{"a":"model-00002-of-00002.safetensors","b":"model-00001-of-00002.safetensors","c":"model-00002-of-00002.safetensors"}}`, `"a" should be in model-00002-of-00002.safetensors, but it is in`},
		{"absent tensor", `{"weight_map":{"a":"model-00001-of-00002.safetensors","x":"model-00002-of-00002.safetensors"}}`, `"x" should be in model-00002-of-00002.safetensors, which has no such tensor`},
		{"path escape", `{"weight_map":{"a":"../model.safetensors"}}`, "not a file name"},
		{"empty map", `{"weight_map":{}}`, "no weight_map"},
		{"bad json", `{"weight_map":`, IndexFile},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := sharded(t)
			index(dir, tc.index)
			_, err := OpenDir(dir)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
	t.Run("duplicate across shards", func(t *testing.T) {
		dir := t.TempDir()
		writeShard(t, filepath.Join(dir, "one.safetensors"), "a")
		writeShard(t, filepath.Join(dir, "two.safetensors"), "a")
		index(dir, `{"weight_map":{"a":"one.safetensors","b":"two.safetensors"}}`)
		if _, err := OpenDir(dir); err == nil || !strings.Contains(err.Error(), "in both") {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("no checkpoint", func(t *testing.T) {
		dir := t.TempDir()
		os.WriteFile(filepath.Join(dir, "pytorch_model.bin"), []byte("x"), 0o644)
		if _, err := OpenDir(dir); err == nil || !strings.Contains(err.Error(), "PyTorch") {
			t.Fatalf("got %v", err)
		}
	})
}

// FuzzParseHeader checks that arbitrary bytes never crash the parser and that
// whatever parses can be viewed and written back unchanged.
func FuzzParseHeader(f *testing.F) {
	f.Add(build(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}`, 0, make([]byte, 8)))
	f.Add(build(`{"__metadata__":{"format":"pt"},"b":{"dtype":"BF16","shape":[1,2],"data_offsets":[0,4]},"c":{"dtype":"I8","shape":[3],"data_offsets":[4,7]}}`, 3, make([]byte, 7)))
	f.Fuzz(func(t *testing.T, data []byte) {
		file, err := Parse(data)
		if err != nil {
			return
		}
		var ts []*tensor.Tensor
		for _, info := range file.Tensors {
			if info.End < info.Begin || info.Begin < 0 || info.End > int64(len(data))-file.DataOffset {
				t.Fatalf("tensor %q: offsets [%d, %d] escaped validation", info.Name, info.Begin, info.End)
			}
			tt, err := file.Tensor(info.Name)
			if err != nil {
				continue
			}
			if err := tt.Check(); err != nil {
				t.Fatalf("view of %q: %v", info.Name, err)
			}
			ts = append(ts, tt)
		}
		var buf bytes.Buffer
		w := NewWriter(&buf)
		w.Metadata = file.Metadata
		for _, tt := range ts {
			w.AddTensor(tt.Name, tt.Type, tt.Shape...)
		}
		if err := w.WriteHeader(); err != nil {
			t.Fatal(err)
		}
		for _, tt := range ts {
			w.WriteTensorData(tt.Name, tt.Data)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		back, err := Parse(buf.Bytes())
		if err != nil {
			t.Fatalf("written file does not parse: %v", err)
		}
		for _, tt := range ts {
			got, err := back.Tensor(tt.Name)
			if err != nil || got.Type != tt.Type || !slices.Equal(got.Shape, tt.Shape) || !bytes.Equal(got.Data, tt.Data) {
				t.Fatalf("tensor %q changed in the round trip (%v)", tt.Name, err)
			}
		}
	})
}
