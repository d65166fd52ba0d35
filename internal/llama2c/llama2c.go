// Package llama2c reads checkpoints and tokenizer files of Andrej Karpathy's
// llama2.c: the legacy fp32 format ("version 0") and the int8 "version 2"
// format (magic "ak42").
//
// Tensors are exposed under the GGUF llama names and shape convention
// (Shape[0] is the innermost dimension), so a model can use a checkpoint and
// a GGUF file alike. Legacy fp32 tensors are zero-copy views of the mapped
// file; version 2 weights are repacked into tensor.Q8F32.
package llama2c

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"unsafe"

	"github.com/unswift/unswift/internal/mmap"
	"github.com/unswift/unswift/internal/tensor"
)

// Magic is the first four bytes of a llama2.c checkpoint of version 1 or
// later ("ak42" as a little-endian uint32).
const Magic uint32 = 0x616b3432

const (
	legacyHeaderSize = 7 * 4
	v2HeaderSize     = 256

	// Sanity limits on header values, far above any real model; they keep
	// every size computation far from overflow.
	maxDim    = 1 << 20
	maxLayers = 1 << 12
	maxVocab  = 1 << 24
	maxSeqLen = 1 << 24
)

// Config holds the hyper-parameters of a llama2.c header.
type Config struct {
	Dim       int // model (embedding) dimension
	HiddenDim int // MLP hidden dimension
	Layers    int // number of transformer blocks
	Heads     int // attention (query) heads
	KVHeads   int // key/value heads
	Vocab     int // vocabulary size (always positive here)
	SeqLen    int // maximum sequence length
}

// HeadSize is Dim / Heads.
func (c Config) HeadSize() int { return c.Dim / c.Heads }

// KVDim is the width of the key and value projections.
func (c Config) KVDim() int { return c.Dim * c.KVHeads / c.Heads }

func (c Config) check() error {
	for _, p := range []struct {
		name string
		v    int
		max  int
	}{
		{"dim", c.Dim, maxDim},
		{"hidden_dim", c.HiddenDim, maxDim},
		{"n_layers", c.Layers, maxLayers},
		{"n_heads", c.Heads, maxDim},
		{"n_kv_heads", c.KVHeads, maxDim},
		{"vocab_size", c.Vocab, maxVocab},
		{"seq_len", c.SeqLen, maxSeqLen},
	} {
		if p.v <= 0 || p.v > p.max {
			return fmt.Errorf("bad header: %s = %d, want 1 to %d (header %v)", p.name, p.v, p.max, c)
		}
	}
	if c.Dim%c.Heads != 0 {
		return fmt.Errorf("bad header: n_heads %d does not divide dim %d", c.Heads, c.Dim)
	}
	if c.Heads%c.KVHeads != 0 {
		return fmt.Errorf("bad header: n_kv_heads %d does not divide n_heads %d", c.KVHeads, c.Heads)
	}
	if c.HeadSize()%2 != 0 {
		return fmt.Errorf("bad header: head size %d (dim %d / n_heads %d) is odd; rotary embeddings need it even", c.HeadSize(), c.Dim, c.Heads)
	}
	return nil
}

// Model is a parsed checkpoint.
type Model struct {
	// Config is the header's hyper-parameters.
	Config Config
	// Version is 0 for the legacy fp32 format, 2 for the int8 format.
	Version int
	// Shared reports whether the classifier is the token embedding; then
	// output.weight shares token_embd.weight's data.
	Shared bool
	// GroupSize is the quantization group size of a version 2 file (0 for legacy).
	GroupSize int
	// Tensors lists the weights under GGUF llama names: token_embd.weight,
	// then blk.N.{attn_norm, attn_q, attn_k, attn_v, attn_output, ffn_norm,
	// ffn_gate, ffn_down, ffn_up}.weight for each layer, then
	// output_norm.weight and output.weight.
	Tensors []*tensor.Tensor

	byName map[string]*tensor.Tensor
	m      *mmap.File
}

// Tensor returns the tensor called name, or nil.
func (m *Model) Tensor(name string) *tensor.Tensor { return m.byName[name] }

// Close releases the mapped file. Tensors that view it must not be used
// afterwards.
func (m *Model) Close() error {
	if m.m == nil {
		return nil
	}
	err := m.m.Close()
	m.m = nil
	return err
}

// Open maps and parses the checkpoint at path. Errors mention the path.
func Open(path string) (*Model, error) {
	f, err := mmap.Open(path)
	if err != nil {
		return nil, fmt.Errorf("llama2c: %w", err)
	}
	m, err := parse(f.Data)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("llama2c: %s: %w", path, err)
	}
	m.m = f
	return m, nil
}

// Parse parses a checkpoint held in data. Legacy fp32 tensors are views of
// data (copied only if data is not 4-byte aligned).
func Parse(data []byte) (*Model, error) {
	m, err := parse(data)
	if err != nil {
		return nil, fmt.Errorf("llama2c: %w", err)
	}
	return m, nil
}

func parse(data []byte) (*Model, error) {
	if len(data) >= 4 && string(data[:4]) == "GGUF" {
		return nil, errors.New("this is a GGUF file, not a llama2.c checkpoint")
	}
	if len(data) >= 4 && binary.LittleEndian.Uint32(data) == Magic {
		if len(data) < 8 {
			return nil, fmt.Errorf("truncated file: %d bytes, too short for a version", len(data))
		}
		switch v := int32(binary.LittleEndian.Uint32(data[4:])); v {
		case 2:
			return parseV2(data)
		default:
			return nil, fmt.Errorf("unsupported llama2.c checkpoint version %d (supported: legacy fp32 and version 2)", v)
		}
	}
	return parseLegacy(data)
}

func readConfig(b []byte) Config {
	i := func(k int) int { return int(int32(binary.LittleEndian.Uint32(b[4*k:]))) }
	return Config{Dim: i(0), HiddenDim: i(1), Layers: i(2), Heads: i(3), KVHeads: i(4), Vocab: i(5), SeqLen: i(6)}
}

// sizeError describes a file whose size disagrees with its header.
func sizeError(have, want int64, alt string) error {
	if have < want {
		return fmt.Errorf("truncated file: the header implies %d bytes%s, the file has %d", want, alt, have)
	}
	return fmt.Errorf("%d trailing bytes: the header implies %d bytes%s, the file has %d", have-want, want, alt, have)
}

// weight names a per-layer weight and gives its GGUF shape.
type weight struct {
	name  string
	shape []int // GGUF order: [cols, rows]
}

func (c Config) layerWeights(l int) []weight {
	p := fmt.Sprintf("blk.%d.", l)
	return []weight{
		{p + "attn_norm.weight", []int{c.Dim}},
		{p + "attn_q.weight", []int{c.Dim, c.Dim}},
		{p + "attn_k.weight", []int{c.Dim, c.KVDim()}},
		{p + "attn_v.weight", []int{c.Dim, c.KVDim()}},
		{p + "attn_output.weight", []int{c.Dim, c.Dim}},
		{p + "ffn_norm.weight", []int{c.Dim}},
		{p + "ffn_gate.weight", []int{c.Dim, c.HiddenDim}},
		{p + "ffn_down.weight", []int{c.HiddenDim, c.Dim}},
		{p + "ffn_up.weight", []int{c.Dim, c.HiddenDim}},
	}
}

func parseLegacy(data []byte) (*Model, error) {
	if len(data) < legacyHeaderSize {
		return nil, fmt.Errorf("truncated file: %d bytes, too short for the %d-byte llama2.c header", len(data), legacyHeaderSize)
	}
	c := readConfig(data)
	shared := c.Vocab > 0
	if c.Vocab < 0 && c.Vocab != math.MinInt32 {
		c.Vocab = -c.Vocab
	}
	if err := c.check(); err != nil {
		return nil, fmt.Errorf("not a llama2.c checkpoint or corrupt: %w", err)
	}
	d, h, l, kv, v := int64(c.Dim), int64(c.HiddenDim), int64(c.Layers), int64(c.KVDim()), int64(c.Vocab)
	floats := v*d + // token embedding
		l*d + l*d*d + 2*l*kv*d + l*d*d + // rms_att, wq, wk, wv, wo
		l*d + 3*l*h*d + // rms_ffn, w1, w2, w3
		d // rms_final
	freq := int64(c.SeqLen) * int64(c.HeadSize()) // freq_cis_real and _imag, seq_len × head_size/2 each
	cls := int64(0)
	if !shared {
		cls = v * d
	}
	with := legacyHeaderSize + 4*(floats+freq+cls)
	without := legacyHeaderSize + 4*(floats+cls)
	switch have := int64(len(data)); have {
	case with, without:
	default:
		return nil, sizeError(have, with, fmt.Sprintf(" (or %d without freq_cis)", without))
	}

	m := &Model{Config: c, Version: 0, Shared: shared}
	off := int64(legacyHeaderSize)
	next := func(rows, cols int) []byte {
		n := int64(rows) * int64(cols) * 4
		b := data[off : off+n : off+n]
		off += n
		return b
	}
	emb := next(c.Vocab, c.Dim)
	// Per-kind arrays over all layers, in file order.
	kinds := []struct {
		rows, cols int
		b          []byte
	}{
		{1, c.Dim, nil},           // rms_att
		{c.Dim, c.Dim, nil},       // wq
		{c.KVDim(), c.Dim, nil},   // wk
		{c.KVDim(), c.Dim, nil},   // wv
		{c.Dim, c.Dim, nil},       // wo
		{1, c.Dim, nil},           // rms_ffn
		{c.HiddenDim, c.Dim, nil}, // w1
		{c.Dim, c.HiddenDim, nil}, // w2
		{c.HiddenDim, c.Dim, nil}, // w3
	}
	for i := range kinds {
		kinds[i].b = next(c.Layers*kinds[i].rows, kinds[i].cols)
	}
	final := next(1, c.Dim)
	var wcls []byte
	if !shared {
		off = int64(len(data)) - v*d*4 // freq_cis may or may not precede it
		wcls = next(c.Vocab, c.Dim)
	}

	m.add("token_embd.weight", tensor.F32, []int{c.Dim, c.Vocab}, f32View(emb))
	for layer := range c.Layers {
		for i, w := range c.layerWeights(layer) {
			k := kinds[i]
			n := k.rows * k.cols * 4
			m.add(w.name, tensor.F32, w.shape, f32View(k.b[layer*n:(layer+1)*n:(layer+1)*n]))
		}
	}
	m.add("output_norm.weight", tensor.F32, []int{c.Dim}, f32View(final))
	if shared {
		m.add("output.weight", tensor.F32, []int{c.Dim, c.Vocab}, m.byName["token_embd.weight"].Data)
	} else {
		m.add("output.weight", tensor.F32, []int{c.Dim, c.Vocab}, f32View(wcls))
	}
	return m, nil
}

func (m *Model) add(name string, typ tensor.DType, shape []int, data []byte) {
	if m.byName == nil {
		m.byName = map[string]*tensor.Tensor{}
	}
	t := &tensor.Tensor{Name: name, Type: typ, Shape: shape, Data: data}
	m.Tensors = append(m.Tensors, t)
	m.byName[name] = t
}

// f32View returns b if it is 4-byte aligned, else an aligned copy.
func f32View(b []byte) []byte {
	if tensor.Aligned(b, 4) {
		return b
	}
	return alignedCopy(b)
}

// alignedBytes allocates n zero bytes, 8-byte aligned.
func alignedBytes(n int) []byte {
	if n == 0 {
		return []byte{}
	}
	w := make([]uint64, (n+7)/8)
	return unsafe.Slice((*byte)(unsafe.Pointer(&w[0])), n)
}

func alignedCopy(b []byte) []byte {
	out := alignedBytes(len(b))
	copy(out, b)
	return out
}
