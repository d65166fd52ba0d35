package gguf

import (
	"encoding/binary"
	"math"
)

// This file assembles GGUF bytes field by field, straight from the format
// description, independently of Writer. Tests use it to make valid files and
// precisely corrupted ones, and to check Writer's output byte for byte.

type rawKV struct {
	key string
	typ uint32
	val []byte // encoded value
}

type rawTensor struct {
	name   string
	ndims  int // -1: len(dims)
	dims   []uint64
	typ    uint32
	offset uint64
}

type rawFile struct {
	magic     string
	version   uint32
	nTensors  int64 // -1: len(tensors)
	nKV       int64 // -1: len(kvs)
	kvs       []rawKV
	tensors   []rawTensor
	alignment int    // padding before the data section
	data      []byte // the data section

	// offsets of named fields, filled by encode
	at map[string]int
}

func le32(v uint32) []byte { return binary.LittleEndian.AppendUint32(nil, v) }
func le64(v uint64) []byte { return binary.LittleEndian.AppendUint64(nil, v) }
func rawStr(s string) []byte {
	return append(le64(uint64(len(s))), s...)
}
func rawF32(v float32) []byte { return le32(math.Float32bits(v)) }
func cat(parts ...[]byte) []byte {
	var b []byte
	for _, p := range parts {
		b = append(b, p...)
	}
	return b
}

// sampleFile is a small valid file: three metadata entries, an F32 [4 2]
// tensor "a" at offset 0 and a Q8_0 [32] tensor "b" at offset 32.
func sampleFile() *rawFile {
	data := make([]byte, 32+34)
	for i := range data {
		data[i] = byte(i*7 + 1)
	}
	return &rawFile{
		magic:    "GGUF",
		version:  3,
		nTensors: -1,
		nKV:      -1,
		kvs: []rawKV{
			{"general.architecture", 8, rawStr("llama")},
			{"x.count", 4, le32(7)},
			{"x.list", 9, cat(le32(5), le64(3), le32(1), le32(0xffffffff), le32(3))},
		},
		tensors: []rawTensor{
			{name: "a", ndims: -1, dims: []uint64{4, 2}, typ: 0, offset: 0},
			{name: "b", ndims: -1, dims: []uint64{32}, typ: 8, offset: 32},
		},
		alignment: 32,
		data:      data,
	}
}

func (r *rawFile) encode() []byte {
	r.at = map[string]int{}
	var b []byte
	mark := func(name string) { r.at[name] = len(b) }
	b = append(b, r.magic...)
	mark("version")
	b = append(b, le32(r.version)...)
	nt, nkv := r.nTensors, r.nKV
	if nt < 0 {
		nt = int64(len(r.tensors))
	}
	if nkv < 0 {
		nkv = int64(len(r.kvs))
	}
	mark("tensor count")
	b = append(b, le64(uint64(nt))...)
	mark("kv count")
	b = append(b, le64(uint64(nkv))...)
	for i, kv := range r.kvs {
		mark(fmtKey("kv", i, "key"))
		b = append(b, rawStr(kv.key)...)
		mark(fmtKey("kv", i, "type"))
		b = append(b, le32(kv.typ)...)
		mark(fmtKey("kv", i, "value"))
		b = append(b, kv.val...)
	}
	for i, t := range r.tensors {
		mark(fmtKey("tensor", i, "name"))
		b = append(b, rawStr(t.name)...)
		nd := t.ndims
		if nd < 0 {
			nd = len(t.dims)
		}
		mark(fmtKey("tensor", i, "ndims"))
		b = append(b, le32(uint32(nd))...)
		mark(fmtKey("tensor", i, "dims"))
		for _, d := range t.dims {
			b = append(b, le64(d)...)
		}
		mark(fmtKey("tensor", i, "type"))
		b = append(b, le32(t.typ)...)
		mark(fmtKey("tensor", i, "offset"))
		b = append(b, le64(t.offset)...)
	}
	if r.alignment > 0 {
		for len(b)%r.alignment != 0 {
			b = append(b, 0)
		}
	}
	mark("data")
	return append(b, r.data...)
}

func fmtKey(kind string, i int, field string) string {
	return kind + string(rune('0'+i)) + "." + field
}
