package llama2c

import (
	"encoding/binary"
	"fmt"
	"math"
)

// This file writes small checkpoints straight from the format description
// (../shared/README.md and llama2.c's export.py), independently of the
// parser, for tests and fuzz seeds.

// tiny is a small valid configuration: dim 32 (one Q8F32 block per row), two
// layers, grouped-query attention.
var tiny = Config{Dim: 32, HiddenDim: 64, Layers: 2, Heads: 4, KVHeads: 2, Vocab: 8, SeqLen: 4}

// fileWeight is one array of the file, with the GGUF tensors it holds.
type fileWeight struct {
	names      []string // one per layer, or a single name
	rows, cols int      // per name
}

// legacyOrder lists the fp32 arrays of a legacy file, in file order.
func legacyOrder(c Config) []fileWeight {
	per := func(kind string, rows, cols int) fileWeight {
		w := fileWeight{rows: rows, cols: cols}
		for l := range c.Layers {
			w.names = append(w.names, fmt.Sprintf("blk.%d.%s.weight", l, kind))
		}
		return w
	}
	return []fileWeight{
		{[]string{"token_embd.weight"}, c.Vocab, c.Dim},
		per("attn_norm", 1, c.Dim),
		per("attn_q", c.Dim, c.Dim),
		per("attn_k", c.KVDim(), c.Dim),
		per("attn_v", c.KVDim(), c.Dim),
		per("attn_output", c.Dim, c.Dim),
		per("ffn_norm", 1, c.Dim),
		per("ffn_gate", c.HiddenDim, c.Dim),
		per("ffn_down", c.Dim, c.HiddenDim),
		per("ffn_up", c.HiddenDim, c.Dim),
		{[]string{"output_norm.weight"}, 1, c.Dim},
	}
}

// value is the test pattern: element i of tensor number t.
func value(t, i int) float32 { return float32(t*1000+i) / 1024 }

func le32(b []byte, v uint32) []byte { return binary.LittleEndian.AppendUint32(b, v) }

// legacyFile writes a legacy checkpoint whose tensor number t (in
// names order) holds value(t, i); it returns the bytes and the names.
func legacyFile(c Config, shared, freq bool) ([]byte, []string) {
	var b []byte
	vocab := int32(c.Vocab)
	if !shared {
		vocab = -vocab
	}
	for _, v := range []int32{int32(c.Dim), int32(c.HiddenDim), int32(c.Layers), int32(c.Heads), int32(c.KVHeads), vocab, int32(c.SeqLen)} {
		b = le32(b, uint32(v))
	}
	var names []string
	emit := func(name string, n int) {
		t := len(names)
		names = append(names, name)
		for i := range n {
			b = le32(b, math.Float32bits(value(t, i)))
		}
	}
	for _, w := range legacyOrder(c) {
		for _, name := range w.names {
			emit(name, w.rows*w.cols)
		}
	}
	if freq {
		for range 2 * c.SeqLen * c.HeadSize() / 2 {
			b = le32(b, math.Float32bits(-1))
		}
	}
	if !shared {
		emit("output.weight", c.Vocab*c.Dim)
	}
	return b, names
}

// q8Value is the int8 test pattern of element i of quantized tensor t, and
// q8Scale the scale of its group g.
func q8Value(t, i int) int8    { return int8((t*7+i*13)%255 - 127) }
func q8Scale(t, g int) float32 { return float32(t+1) + float32(g)/64 }

// v2File writes a version 2 checkpoint. Norms hold value(t, i) with t their
// index among the norms; quantized tensor t (in file order) holds q8Value
// and q8Scale. It returns the bytes and the quantized tensors' names.
func v2File(c Config, shared bool, gs int) ([]byte, []string) {
	b := le32(nil, Magic)
	b = le32(b, 2)
	for _, v := range []int{c.Dim, c.HiddenDim, c.Layers, c.Heads, c.KVHeads, c.Vocab, c.SeqLen} {
		b = le32(b, uint32(int32(v)))
	}
	if shared {
		b = append(b, 1)
	} else {
		b = append(b, 0)
	}
	b = le32(b, uint32(gs))
	b = append(b, make([]byte, 256-len(b))...)
	order := legacyOrder(c)
	t := 0
	for _, i := range []int{1, 6, 10} { // attention norms, MLP norms, final norm
		for range order[i].names {
			for j := range c.Dim {
				b = le32(b, math.Float32bits(value(t, j)))
			}
			t++
		}
	}
	var names []string
	for _, i := range []int{0, 2, 3, 4, 5, 7, 8, 9} {
		w := order[i]
		for _, name := range w.names {
			names = append(names, name)
			b = appendQ8(b, len(names)-1, w.rows*w.cols, gs)
		}
	}
	if !shared {
		names = append(names, "output.weight")
		b = appendQ8(b, len(names)-1, c.Vocab*c.Dim, gs)
	}
	return b, names
}

func appendQ8(b []byte, t, n, gs int) []byte {
	for i := range n {
		b = append(b, byte(q8Value(t, i)))
	}
	for g := range n / gs {
		b = le32(b, math.Float32bits(q8Scale(t, g)))
	}
	return b
}
