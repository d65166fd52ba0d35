package gguf

import (
	"errors"
	"strings"
	"testing"
)

func TestParseSample(t *testing.T) {
	r := sampleFile()
	f, err := Parse(r.encode())
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(f.Keys(), ","); got != "general.architecture,x.count,x.list" {
		t.Errorf("keys %s", got)
	}
	if n, ok := f.Ints("x.list"); !ok || len(n) != 3 || n[0] != 1 || n[1] != -1 || n[2] != 3 {
		t.Errorf("x.list = %v, %v; want [1 -1 3]", n, ok)
	}
	if f.DataOffset != int64(r.at["data"]) {
		t.Errorf("DataOffset %d, want %d", f.DataOffset, r.at["data"])
	}
	a, b := f.Tensor("a"), f.Tensor("b")
	if a == nil || b == nil || string(a.Data) != string(r.data[:32]) || string(b.Data) != string(r.data[32:66]) {
		t.Fatalf("tensor data does not match")
	}
}

func TestParseErrors(t *testing.T) {
	for _, c := range []struct {
		name string
		edit func(r *rawFile)
		want string
	}{
		{"bad magic", func(r *rawFile) { r.magic = "GGML" }, `not a GGUF file (magic "GGML"`},
		{"version 1", func(r *rawFile) { r.version = 1 }, "unsupported GGUF version 1"},
		{"version 4", func(r *rawFile) { r.version = 4 }, "unsupported GGUF version 4"},
		{"big endian", func(r *rawFile) { r.version = 3 << 24 }, "big-endian"},
		{"huge tensor count", func(r *rawFile) { r.nTensors = 1 << 60 }, "tensor count 1152921504606846976 at offset 8 is impossible"},
		{"huge kv count", func(r *rawFile) { r.nKV = 1 << 40 }, "metadata count 1099511627776 at offset 16 is impossible"},
		{"empty key", func(r *rawFile) { r.kvs[1].key = "" }, "metadata entry 1 has an empty key"},
		{"scalar of block type", func(r *rawFile) { r.tensors[1].dims = nil }, "row length 1 is not a multiple of the Q8_0 block size 32"},
		{"duplicate key", func(r *rawFile) { r.kvs[1].key = "x.list" }, `duplicate metadata key "x.list"`},
		{"unknown value type", func(r *rawFile) { r.kvs[1].typ = 13 }, `reading value of metadata "x.count": unknown value type 13`},
		{"huge array count", func(r *rawFile) { r.kvs[2].val = cat(le32(5), le64(1<<62)) }, `metadata "x.list": array of int32: count 4611686018427387904`},
		{"huge string array", func(r *rawFile) { r.kvs[2].val = cat(le32(8), le64(1<<50)) }, "array of string: count"},
		{"huge string length", func(r *rawFile) { r.kvs[0].val = le64(1 << 63) }, "string length 9223372036854775808"},
		{"unknown element type", func(r *rawFile) { r.kvs[2].val = cat(le32(99), le64(1)) }, "unknown array element type 99"},
		{"invalid bool", func(r *rawFile) { r.kvs[1] = rawKV{"x.flag", 7, []byte{2}} }, "invalid bool value 2"},
		{"invalid bool element", func(r *rawFile) { r.kvs[2].val = cat(le32(7), le64(2), []byte{1, 5}) }, "invalid bool value 5"},
		{"deep nesting", func(r *rawFile) {
			v := cat(le32(5), le64(0))
			for range 20 {
				v = cat(le32(9), le64(1), v)
			}
			r.kvs[2].val = v
		}, "nested deeper than 16"},
		{"alignment not a power of two", func(r *rawFile) { r.kvs[1] = rawKV{"general.alignment", 4, le32(48)} }, "general.alignment 48 is not a power of two"},
		{"alignment zero", func(r *rawFile) { r.kvs[1] = rawKV{"general.alignment", 4, le32(0)} }, "general.alignment 0 is not a power of two"},
		{"alignment wrong type", func(r *rawFile) { r.kvs[1] = rawKV{"general.alignment", 8, rawStr("32")} }, "general.alignment is a string"},
		{"negative alignment", func(r *rawFile) { r.kvs[1] = rawKV{"general.alignment", 5, le32(0xffffffe0)} }, "general.alignment is a int32"},
		{"too many dims", func(r *rawFile) { r.tensors[0].dims = []uint64{1, 1, 1, 1, 8} }, `tensor 0 ("a"): 5 dimensions, at most 4`},
		{"zero dim", func(r *rawFile) { r.tensors[0].dims = []uint64{8, 0} }, `tensor 0 ("a"): dimension 1 is 0`},
		{"negative dim", func(r *rawFile) { r.tensors[0].dims = []uint64{8, 1 << 63} }, "dimension 1 is -9223372036854775808"},
		{"shape overflow", func(r *rawFile) { r.tensors[0].dims = []uint64{1 << 32, 1 << 32} }, "shape [4294967296 4294967296] overflows"},
		{"byte size overflow", func(r *rawFile) { r.tensors[0].dims = []uint64{1 << 31, 1 << 31} }, "byte size overflows"},
		{"unknown tensor type", func(r *rawFile) { r.tensors[1].typ = 99 }, `tensor 1 ("b"): unknown or unsupported tensor type id 99`},
		{"internal tensor type", func(r *rawFile) { r.tensors[1].typ = 1000 }, `tensor 1 ("b"): unknown or unsupported tensor type id 1000`},
		{"partial block", func(r *rawFile) { r.tensors[1].dims = []uint64{16, 2} }, "row length 16 is not a multiple of the Q8_0 block size 32"},
		{"misaligned offset", func(r *rawFile) { r.tensors[1].offset = 36 }, `tensor 1 ("b"): data offset 36 is not a multiple of the alignment 32`},
		{"tensor out of range", func(r *rawFile) { r.tensors[1].offset = 64 }, `tensor "b": data [64, 98) is out of range: the data section at offset`},
		{"tensor offset huge", func(r *rawFile) { r.tensors[1].offset = 1 << 63 }, "is out of range"},
		{"duplicate tensor", func(r *rawFile) { r.tensors[1].name = "a" }, `duplicate tensor name "a"`},
		{"missing data section", func(r *rawFile) { r.data = nil }, `tensor "a": data [0, 32) is out of range`},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := sampleFile()
			c.edit(r)
			_, err := Parse(r.encode())
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("Parse error = %v\nwant it to contain %q", err, c.want)
			}
		})
	}
}

func TestParseTruncated(t *testing.T) {
	r := sampleFile()
	data := r.encode()
	// The same metadata without tensors, so that the tensor count does not
	// reveal the truncation first.
	m := sampleFile()
	m.tensors, m.data = nil, nil
	meta := m.encode()
	// Cut points inside each field, with what the error must say. Metadata
	// cuts use meta, so that the tensor count does not reveal the cut first.
	for _, c := range []struct {
		field string
		delta int // bytes into the field
		meta  bool
		want  string
	}{
		{"version", 1, false, "reading version: truncated file"},
		{"tensor count", 1, false, "reading tensor count: truncated file"},
		{"kv count", 1, false, "reading metadata count: truncated file"},
		{"kv0.key", 1, false, "tensor count 2 at offset 8 is impossible: the 1 bytes left can hold at most 0 (truncated or corrupt file)"},
		{"kv0.key", 1, true, "metadata count 3 at offset 16 is impossible: the 1 bytes left"},
		{"kv1.type", 1, true, `reading type of metadata "x.count": truncated file`},
		{"kv1.value", 1, true, `reading value of metadata "x.count": truncated file`},
		{"kv2.value", 1, true, `reading value of metadata "x.list": truncated file`},
		{"kv2.value", 13, true, `reading value of metadata "x.list": array of int32: count 3 at offset 114 is impossible: the 1 bytes left can hold at most 0`},
		{"kv2.value", 23, true, `reading value of metadata "x.list": array of int32: count 3 at offset 114 is impossible: the 11 bytes left can hold at most 2`},
		{"tensor0.name", 1, false, "tensor 0: reading name: truncated file"},
		{"tensor0.ndims", 1, false, `tensor 0 ("a"): reading dimension count: truncated file`},
		{"tensor0.dims", 1, false, `tensor 0 ("a"): reading dimension 0: truncated file`},
		{"tensor1.type", 1, false, `tensor 1 ("b"): reading type: truncated file`},
		{"tensor1.offset", 1, false, `tensor 1 ("b"): reading data offset: truncated file`},
		{"data", 1, false, `tensor "a": data [0, 32) is out of range: the data section at offset 224 holds 1 bytes (truncated file?)`},
		{"data", 40, false, `tensor "b": data [32, 66) is out of range: the data section at offset 224 holds 40 bytes (truncated file?)`},
	} {
		in, at := data, r.at
		if c.meta {
			in, at = meta, m.at
		}
		cut := at[c.field] + c.delta
		_, err := Parse(in[:cut])
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("cut at %d (%d bytes into %s): error %v\nwant it to contain %q", cut, c.delta, c.field, err, c.want)
		}
	}
	// Every cut before the end of the last tensor fails cleanly.
	end := r.at["data"] + 32 + 34
	for n := range end {
		if _, err := Parse(data[:n]); err == nil {
			t.Errorf("Parse of the first %d of %d bytes succeeded", n, end)
		}
	}
	if _, err := Parse(data[:end]); err != nil {
		t.Errorf("Parse without trailing padding: %v", err)
	}
	if _, err := Parse(nil); !errors.Is(err, ErrNotGGUF) {
		t.Errorf("Parse(nil) = %v, want ErrNotGGUF", err)
	}
}
