package gguf

import (
	"bytes"
	"errors"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/unswift/unswift/internal/tensor"
)

// TestWriterMatchesSpec checks Writer's bytes against the independently
// assembled sample file.
func TestWriterMatchesSpec(t *testing.T) {
	r := sampleFile()
	want := r.encode()
	want = append(want, make([]byte, 96-66)...) // Writer pads the last tensor too

	var buf bytes.Buffer
	w := NewWriter(&buf)
	w.AddString("general.architecture", "llama")
	w.AddUint32("x.count", 7)
	w.AddInt32s("x.list", []int32{1, -1, 3})
	w.AddTensorInfo("a", tensor.F32, 4, 2)
	w.AddTensorInfo("b", tensor.Q8_0, 32)
	if err := w.WriteHeader(); err != nil {
		t.Fatal(err)
	}
	if err := w.WriteTensorData("a", r.data[:32]); err != nil {
		t.Fatal(err)
	}
	if err := w.WriteTensorData("b", r.data[32:]); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(buf.Bytes(), want) {
		t.Errorf("Writer output differs from the spec encoding:\n got %x\nwant %x", buf.Bytes(), want)
	}
}

// allValues has one value of every type, with edge cases.
func allValues() []KV {
	nested := must(ArrayValue(TypeArray,
		Int32sValue([]int32{1, 2}),
		StringsValue([]string{"x"}),
		must(ArrayValue(TypeArray, Float32sValue(nil))),
	))
	return []KV{
		{"u8", Uint8Value(255)},
		{"i8", Int8Value(-128)},
		{"u16", Uint16Value(65535)},
		{"i16", Int16Value(-32768)},
		{"u32", Uint32Value(math.MaxUint32)},
		{"i32", Int32Value(-5)},
		{"u64", Uint64Value(math.MaxUint64)},
		{"i64", Int64Value(math.MinInt64)},
		{"f32", Float32Value(1.5)},
		{"f64", Float64Value(-0.25)},
		{"t", BoolValue(true)},
		{"f", BoolValue(false)},
		{"s", StringValue("héllo\x00world")},
		{"empty", StringValue("")},
		{"strs", StringsValue([]string{"a", "", "ccc"})},
		{"f32s", Float32sValue([]float32{0.5, -2, float32(math.Inf(1))})},
		{"i32s", Int32sValue([]int32{-1, 0, math.MaxInt32})},
		{"u8s", must(ArrayValue(TypeUint8, Uint8Value(1), Uint8Value(200)))},
		{"u64s", must(ArrayValue(TypeUint64, Uint64Value(1), Uint64Value(math.MaxUint64)))},
		{"f64s", must(ArrayValue(TypeFloat64, Float64Value(0.125)))},
		{"bools", must(ArrayValue(TypeBool, BoolValue(true), BoolValue(false)))},
		{"none", must(ArrayValue(TypeString))},
		{"nested", nested},
	}
}

func must(v Value, err error) Value {
	if err != nil {
		panic(err)
	}
	return v
}

func TestRoundTrip(t *testing.T) {
	q := make([]byte, 2*34)
	for i := range q {
		q[i] = byte(i)
	}
	k := make([]byte, 144)
	for i := range k {
		k[i] = byte(255 - i)
	}
	tensors := []*tensor.Tensor{
		tensor.FromF32("w", []float32{1, 2, 3, 4, 5, 6}, 3, 2),
		{Name: "q", Type: tensor.Q8_0, Shape: []int{64}, Data: q},
		tensor.FromF32("bias", []float32{-1}, 1),
		{Name: "k", Type: tensor.Q4_K, Shape: []int{256, 1, 1, 1}, Data: k},
		{Name: "h", Type: tensor.F16, Shape: []int{3}, Data: []byte{1, 2, 3, 4, 5, 6}},
		{Name: "scalar", Type: tensor.F32, Shape: []int{}, Data: tensor.Bytes([]float32{7})},
	}
	for _, align := range []uint32{0, 1, 8, 64, 4096} {
		meta := allValues()
		if align != 0 {
			meta = append(meta, KV{KeyAlignment, Uint32Value(align)})
		}
		var buf bytes.Buffer
		w := NewWriter(&buf)
		for _, kv := range meta {
			w.Add(kv.Key, kv.Value)
		}
		for _, tt := range tensors {
			w.AddTensorInfo(tt.Name, tt.Type, tt.Shape...)
		}
		if err := w.WriteHeader(); err != nil {
			t.Fatal(err)
		}
		for _, tt := range tensors {
			if err := w.WriteTensorData(tt.Name, tt.Data); err != nil {
				t.Fatal(err)
			}
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		wantAlign := int(align)
		if align == 0 {
			wantAlign = DefaultAlignment
		}
		if buf.Len()%wantAlign != 0 {
			t.Errorf("alignment %d: file size %d is not aligned", wantAlign, buf.Len())
		}
		// Parse from a misaligned copy to exercise the aligned-copy path too.
		for _, shift := range []int{0, 1} {
			data := append(make([]byte, shift), buf.Bytes()...)[shift:]
			f, err := Parse(data)
			if err != nil {
				t.Fatalf("alignment %d: %v", align, err)
			}
			if f.Version != 3 || f.Alignment != wantAlign {
				t.Errorf("version %d alignment %d, want 3 %d", f.Version, f.Alignment, wantAlign)
			}
			checkMeta(t, f, meta)
			if len(f.Tensors) != len(tensors) {
				t.Fatalf("%d tensors, want %d", len(f.Tensors), len(tensors))
			}
			for i, g := range f.Tensors {
				w := tensors[i]
				if g.Name != w.Name || g.Type != w.Type || !slices.Equal(g.Shape, w.Shape) || !bytes.Equal(g.Data, w.Data) {
					t.Errorf("alignment %d shift %d: tensor %d = %s %v %v, want %s %v %v", align, shift, i, g.Name, g.Type, g.Shape, w.Name, w.Type, w.Shape)
				}
				if !tensor.Aligned(g.Data, 8) {
					t.Errorf("alignment %d shift %d: tensor %s data not 8-byte aligned", align, shift, g.Name)
				}
			}
		}
	}
}

func checkMeta(t *testing.T, f *File, meta []KV) {
	t.Helper()
	var keys []string
	for _, kv := range meta {
		keys = append(keys, kv.Key)
		got, ok := f.Value(kv.Key)
		if !ok || !got.Equal(kv.Value) {
			t.Errorf("%s = %v (%v), want %v", kv.Key, got, ok, kv.Value)
		}
	}
	if !slices.Equal(f.Keys(), keys) {
		t.Errorf("keys %v, want %v", f.Keys(), keys)
	}
}

func TestAccessors(t *testing.T) {
	var buf bytes.Buffer
	w := NewWriter(&buf)
	for _, kv := range allValues() {
		w.Add(kv.Key, kv.Value)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	f, err := Parse(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	type res struct {
		v  any
		ok bool
	}
	r := func(v any, ok bool) res { return res{v, ok} }
	for _, c := range []struct {
		name      string
		got, want res
	}{
		{"Uint u8", r(f.Uint("u8")), res{uint64(255), true}},
		{"Uint i8", r(f.Uint("i8")), res{uint64(0), false}},
		{"Uint u64", r(f.Uint("u64")), res{uint64(math.MaxUint64), true}},
		{"Uint i32", r(f.Uint("i32")), res{uint64(0), false}},
		{"Uint f32", r(f.Uint("f32")), res{uint64(0), false}},
		{"Uint missing", r(f.Uint("nope")), res{uint64(0), false}},
		{"Int i8", r(f.Int("i8")), res{int64(-128), true}},
		{"Int i16", r(f.Int("i16")), res{int64(-32768), true}},
		{"Int u16", r(f.Int("u16")), res{int64(65535), true}},
		{"Int u32", r(f.Int("u32")), res{int64(math.MaxUint32), true}},
		{"Int i64", r(f.Int("i64")), res{int64(math.MinInt64), true}},
		{"Int u64 too big", r(f.Int("u64")), res{int64(0), false}},
		{"Int string", r(f.Int("s")), res{int64(0), false}},
		{"Int bool", r(f.Int("t")), res{int64(0), false}},
		{"Float f32", r(f.Float("f32")), res{1.5, true}},
		{"Float f64", r(f.Float("f64")), res{-0.25, true}},
		{"Float i32", r(f.Float("i32")), res{-5.0, true}},
		{"Float string", r(f.Float("s")), res{0.0, false}},
		{"Bool t", r(f.Bool("t")), res{true, true}},
		{"Bool f", r(f.Bool("f")), res{false, true}},
		{"Bool u8", r(f.Bool("u8")), res{false, false}},
		{"String", r(f.String("s")), res{"héllo\x00world", true}},
		{"String empty", r(f.String("empty")), res{"", true}},
		{"String u8", r(f.String("u8")), res{"", false}},
		{"Strings", r(f.Strings("strs")), res{[]string{"a", "", "ccc"}, true}},
		{"Strings empty", r(f.Strings("none")), res{[]string{}, true}},
		{"Strings f32s", r(f.Strings("f32s")), res{[]string(nil), false}},
		{"Strings scalar", r(f.Strings("s")), res{[]string(nil), false}},
		{"Float32s", r(f.Float32s("f32s")), res{[]float32{0.5, -2, float32(math.Inf(1))}, true}},
		{"Float32s f64s", r(f.Float32s("f64s")), res{[]float32{0.125}, true}},
		{"Float32s i32s", r(f.Float32s("i32s")), res{[]float32(nil), false}},
		{"Ints i32s", r(f.Ints("i32s")), res{[]int64{-1, 0, math.MaxInt32}, true}},
		{"Ints u8s", r(f.Ints("u8s")), res{[]int64{1, 200}, true}},
		{"Ints u64s too big", r(f.Ints("u64s")), res{[]int64(nil), false}},
		{"Ints bools", r(f.Ints("bools")), res{[]int64(nil), false}},
		{"Ints missing", r(f.Ints("nope")), res{[]int64(nil), false}},
	} {
		if !equalAny(c.got.v, c.want.v) || c.got.ok != c.want.ok {
			t.Errorf("%s = %#v, %v; want %#v, %v", c.name, c.got.v, c.got.ok, c.want.v, c.want.ok)
		}
	}

	n, _ := f.Value("nested")
	if n.Len() != 3 || n.ElemType() != TypeArray {
		t.Fatalf("nested: %v", n)
	}
	if ints, ok := n.Index(0).AsInts(); !ok || !slices.Equal(ints, []int64{1, 2}) {
		t.Errorf("nested[0] = %v, %v", ints, ok)
	}
	if s, ok := n.Index(1).AsStrings(); !ok || !slices.Equal(s, []string{"x"}) {
		t.Errorf("nested[1] = %v, %v", s, ok)
	}
	if inner := n.Index(2); inner.Len() != 1 || inner.Index(0).ElemType() != TypeFloat32 || inner.Index(0).Len() != 0 {
		t.Errorf("nested[2] = %v", inner)
	}
	if got := n.String(); got != `[3 × array] [[2 × int32] [1, 2], [1 × string] ["x"], [1 × array] [[0 × float32]]]` {
		t.Errorf("String() = %s", got)
	}
	b, _ := f.Value("bools")
	if v, ok := b.Index(1).AsBool(); !ok || v {
		t.Errorf("bools[1] = %v, %v", v, ok)
	}
}

func equalAny(a, b any) bool {
	switch x := a.(type) {
	case []string:
		y, ok := b.([]string)
		return ok && (x == nil) == (y == nil) && slices.Equal(x, y)
	case []float32:
		y, ok := b.([]float32)
		return ok && (x == nil) == (y == nil) && slices.Equal(x, y)
	case []int64:
		y, ok := b.([]int64)
		return ok && (x == nil) == (y == nil) && slices.Equal(x, y)
	}
	return a == b
}

func TestArrayValueErrors(t *testing.T) {
	if _, err := ArrayValue(TypeInt32, Int32Value(1), Uint32Value(2)); err == nil || !strings.Contains(err.Error(), "element 1 is a uint32") {
		t.Errorf("mixed array: %v", err)
	}
	if _, err := ArrayValue(ValueType(42)); err == nil || !strings.Contains(err.Error(), "invalid array element type type(42)") {
		t.Errorf("bad element type: %v", err)
	}
}

func TestWriterErrors(t *testing.T) {
	f32 := make([]byte, 16)
	for _, c := range []struct {
		name string
		run  func(w *Writer) error
		want string
	}{
		{"duplicate key", func(w *Writer) error {
			w.AddUint32("k", 1)
			w.AddString("k", "x")
			return w.WriteHeader()
		}, `duplicate metadata key "k"`},
		{"empty key", func(w *Writer) error { w.AddBool("", true); return w.WriteHeader() }, "empty metadata key"},
		{"bad alignment", func(w *Writer) error { w.AddUint32(KeyAlignment, 24); return w.WriteHeader() }, "general.alignment 24 is not a power of two"},
		{"signed alignment", func(w *Writer) error { w.AddInt32(KeyAlignment, -32); return w.WriteHeader() }, "general.alignment must be an unsigned integer"},
		{"mixed array", func(w *Writer) error { w.AddArray("a", TypeString, Uint8Value(1)); return w.WriteHeader() }, `metadata "a": array of string: element 0 is a uint8`},
		{"duplicate tensor", func(w *Writer) error {
			w.AddTensorInfo("t", tensor.F32, 4)
			w.AddTensorInfo("t", tensor.F32, 4)
			return w.WriteHeader()
		}, `duplicate tensor name "t"`},
		{"bad shape", func(w *Writer) error { w.AddTensorInfo("t", tensor.F32, 4, 0); return w.WriteHeader() }, `tensor "t": invalid shape [4 0]`},
		{"too many dims", func(w *Writer) error { w.AddTensorInfo("t", tensor.F32, 1, 1, 1, 1, 1); return w.WriteHeader() }, "5 dimensions"},
		{"internal type", func(w *Writer) error { w.AddTensorInfo("t", tensor.Q8F32, 32); return w.WriteHeader() }, "type Q8F32 cannot be stored in GGUF"},
		{"partial block", func(w *Writer) error { w.AddTensorInfo("t", tensor.Q4_0, 16, 2); return w.WriteHeader() }, "row length 16 is not a multiple of the Q4_0 block size 32"},
		{"data before header", func(w *Writer) error {
			w.AddTensorInfo("t", tensor.F32, 4)
			return w.WriteTensorData("t", f32)
		}, `tensor "t" data written before WriteHeader`},
		{"wrong order", func(w *Writer) error {
			w.AddTensorInfo("t", tensor.F32, 4)
			w.AddTensorInfo("u", tensor.F32, 4)
			w.WriteHeader()
			return w.WriteTensorData("u", f32)
		}, `tensor "u" data written out of order: tensor 0 is "t"`},
		{"wrong size", func(w *Writer) error {
			w.AddTensorInfo("t", tensor.F32, 4)
			w.WriteHeader()
			return w.WriteTensorData("t", f32[:12])
		}, `tensor "t": F32 [4] needs 16 bytes, got 12`},
		{"too many tensors", func(w *Writer) error {
			w.AddTensorInfo("t", tensor.F32, 4)
			w.WriteHeader()
			w.WriteTensorData("t", f32)
			return w.WriteTensorData("t", f32)
		}, "all 1 declared tensors are already written"},
		{"missing tensor", func(w *Writer) error {
			w.AddTensorInfo("t", tensor.F32, 4)
			w.AddTensorInfo("u", tensor.F32, 4)
			w.WriteHeader()
			w.WriteTensorData("t", f32)
			return w.Close()
		}, `only 1 of 2 tensors written; "u" is missing`},
		{"add after header", func(w *Writer) error { w.WriteHeader(); w.AddUint32("k", 1); return w.Close() }, `metadata "k" added after WriteHeader`},
		{"tensor after header", func(w *Writer) error {
			w.WriteHeader()
			w.AddTensorInfo("t", tensor.F32, 4)
			return w.Close()
		}, `tensor "t" declared after WriteHeader`},
		{"header twice", func(w *Writer) error { w.WriteHeader(); return w.WriteHeader() }, "WriteHeader called twice"},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := c.run(NewWriter(&bytes.Buffer{}))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error = %v, want it to contain %q", err, c.want)
			}
		})
	}
}

type failWriter struct{ n int }

func (f *failWriter) Write(p []byte) (int, error) {
	if f.n < len(p) {
		n := f.n
		f.n = 0
		return n, errors.New("disk full")
	}
	f.n -= len(p)
	return len(p), nil
}

func TestWriterIOError(t *testing.T) {
	w := NewWriter(&failWriter{n: 10})
	w.AddString("k", "v")
	if err := w.WriteHeader(); err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Errorf("WriteHeader = %v, want disk full", err)
	}
	if err := w.Close(); err == nil {
		t.Error("Close after a write error succeeded")
	}
}

func TestCreate(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "m.gguf")
	data := tensor.Bytes([]float32{1, 2, 3, 4})

	// Aborted: nothing appears.
	w, err := Create(p)
	if err != nil {
		t.Fatal(err)
	}
	w.AddTensorInfo("t", tensor.F32, 4)
	w.WriteHeader()
	if err := w.Abort(); err != nil {
		t.Fatal(err)
	}
	if es, _ := os.ReadDir(dir); len(es) != 0 {
		t.Errorf("after Abort the directory holds %d entries", len(es))
	}

	// Incomplete: Close fails and nothing appears.
	w, _ = Create(p)
	w.AddTensorInfo("t", tensor.F32, 4)
	w.WriteHeader()
	if err := w.Close(); err == nil {
		t.Error("Close of an incomplete file succeeded")
	}
	if es, _ := os.ReadDir(dir); len(es) != 0 {
		t.Errorf("after a failed Close the directory holds %d entries", len(es))
	}

	// Complete: the file appears; a deferred Abort is harmless.
	w, _ = Create(p)
	w.AddString(KeyArchitecture, "llama")
	w.AddTensorInfo("t", tensor.F32, 4)
	w.WriteHeader()
	w.WriteTensorData("t", data)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := w.Abort(); err != nil {
		t.Errorf("Abort after Close: %v", err)
	}
	f, err := Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if f.Architecture() != "llama" || !bytes.Equal(f.Tensor("t").Data, data) {
		t.Error("file read back differs")
	}
}

func TestWriteFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "w.gguf")
	meta := allValues()
	tensors := []*tensor.Tensor{
		tensor.FromF32("a", []float32{1, 2, 3}, 3),
		tensor.FromF32("b", []float32{4, 5, 6, 7}, 2, 2),
	}
	if err := WriteFile(p, meta, tensors); err != nil {
		t.Fatal(err)
	}
	f, err := Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	checkMeta(t, f, meta)
	for _, want := range tensors {
		got := f.Tensor(want.Name)
		if got == nil || !bytes.Equal(got.Data, want.Data) || !slices.Equal(got.Shape, want.Shape) {
			t.Errorf("tensor %s differs", want.Name)
		}
	}

	// An invalid tensor leaves the old file in place.
	bad := []*tensor.Tensor{{Name: "x", Type: tensor.F32, Shape: []int{4}, Data: make([]byte, 3)}}
	if err := WriteFile(p, nil, bad); err == nil || !strings.Contains(err.Error(), "needs 16 bytes, got 3") {
		t.Errorf("WriteFile with a short tensor = %v", err)
	}
	if g, err := Open(p); err != nil || len(g.Tensors) != 2 {
		t.Errorf("old file damaged: %v", err)
	} else {
		g.Close()
	}
	if es, _ := os.ReadDir(filepath.Dir(p)); len(es) != 1 {
		t.Errorf("directory holds %d entries, want 1", len(es))
	}
}

func TestZeroArrayValue(t *testing.T) {
	v := Value{Type: TypeArray}
	if v.Len() != 0 || v.ElemType() != TypeUint8 || v.String() != "[0 × uint8]" {
		t.Errorf("zero array: len %d, elem %v, %s", v.Len(), v.ElemType(), v)
	}
	var buf bytes.Buffer
	w := NewWriter(&buf)
	w.Add("a", v)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	f, err := Parse(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := f.Value("a"); !got.Equal(v) {
		t.Errorf("read back %v", got)
	}
}
