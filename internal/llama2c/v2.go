package llama2c

import (
	"encoding/binary"
	"fmt"
	"strings"

	"github.com/unswift/unswift/internal/tensor"
)

// q8Block is the number of values per tensor.Q8F32 block.
const q8Block = 32

// parseV2 parses a "version 2" checkpoint: a 256-byte header (magic,
// version, the 7 int32 parameters, a uint8 shared-classifier flag, an int32
// group size, zero padding), the fp32 norms, then the int8 tensors, each as
// its values followed by one fp32 scale per group.
func parseV2(data []byte) (*Model, error) {
	if len(data) < v2HeaderSize {
		return nil, fmt.Errorf("truncated file: %d bytes, too short for the %d-byte version 2 header", len(data), v2HeaderSize)
	}
	c := readConfig(data[8:])
	if err := c.check(); err != nil {
		return nil, err
	}
	flag := data[36]
	if flag > 1 {
		return nil, fmt.Errorf("bad header: shared classifier flag %d, want 0 or 1", flag)
	}
	gs := int(int32(binary.LittleEndian.Uint32(data[37:])))
	if gs <= 0 || gs%q8Block != 0 {
		return nil, fmt.Errorf("unsupported group size %d: only positive multiples of %d can be stored as Q8F32", gs, q8Block)
	}
	m := &Model{Config: c, Version: 2, Shared: flag == 1, GroupSize: gs}

	// Quantized tensors in file order: [rows, cols] of the llama2.c matrices.
	type qt struct {
		name       string
		rows, cols int
	}
	var qs []qt
	qs = append(qs, qt{"token_embd.weight", c.Vocab, c.Dim})
	for _, k := range []struct {
		suffix     string
		rows, cols int
	}{
		{"attn_q", c.Dim, c.Dim},
		{"attn_k", c.KVDim(), c.Dim},
		{"attn_v", c.KVDim(), c.Dim},
		{"attn_output", c.Dim, c.Dim},
		{"ffn_gate", c.HiddenDim, c.Dim},
		{"ffn_down", c.Dim, c.HiddenDim},
		{"ffn_up", c.HiddenDim, c.Dim},
	} {
		for l := range c.Layers {
			qs = append(qs, qt{fmt.Sprintf("blk.%d.%s.weight", l, k.suffix), k.rows, k.cols})
		}
	}
	if !m.Shared {
		qs = append(qs, qt{"output.weight", c.Vocab, c.Dim})
	}

	// Check the size before touching any data.
	norms := int64(2*c.Layers+1) * int64(c.Dim) * 4
	want := int64(v2HeaderSize) + norms
	for _, q := range qs {
		n := int64(q.rows) * int64(q.cols)
		if n%int64(gs) != 0 {
			return nil, fmt.Errorf("group size %d does not divide the %d values of %s", gs, n, q.name)
		}
		if q.cols%q8Block != 0 {
			return nil, fmt.Errorf("%s: row length %d is not a multiple of %d, which Q8F32 needs", q.name, q.cols, q8Block)
		}
		want += n + n/int64(gs)*4
	}
	if have := int64(len(data)); have != want {
		return nil, sizeError(have, want, "")
	}

	off := v2HeaderSize
	next := func(n int) []byte {
		b := data[off : off+n : off+n]
		off += n
		return b
	}
	d := c.Dim * 4
	attNorms := next(c.Layers * d)
	ffnNorms := next(c.Layers * d)
	finalNorm := next(d)

	q8 := make(map[string][]byte, len(qs))
	for _, q := range qs {
		n := q.rows * q.cols
		vals := next(n)
		scales := next(n / gs * 4)
		q8[q.name] = repack(vals, scales, gs)
	}

	m.add("token_embd.weight", tensor.Q8F32, []int{c.Dim, c.Vocab}, q8["token_embd.weight"])
	for l := range c.Layers {
		for _, w := range c.layerWeights(l) {
			switch {
			case strings.HasSuffix(w.name, ".attn_norm.weight"):
				m.add(w.name, tensor.F32, w.shape, f32View(attNorms[l*d:(l+1)*d:(l+1)*d]))
			case strings.HasSuffix(w.name, ".ffn_norm.weight"):
				m.add(w.name, tensor.F32, w.shape, f32View(ffnNorms[l*d:(l+1)*d:(l+1)*d]))
			default:
				m.add(w.name, tensor.Q8F32, w.shape, q8[w.name])
			}
		}
	}
	m.add("output_norm.weight", tensor.F32, []int{c.Dim}, f32View(finalNorm))
	if m.Shared {
		m.add("output.weight", tensor.Q8F32, []int{c.Dim, c.Vocab}, q8["token_embd.weight"])
	} else {
		m.add("output.weight", tensor.Q8F32, []int{c.Dim, c.Vocab}, q8["output.weight"])
	}
	return m, nil
}

// repack converts int8 values with one fp32 scale per group of gs values
// (gs a multiple of 32) into Q8F32 blocks: a float32 scale, then 32 int8.
func repack(vals, scales []byte, gs int) []byte {
	nb := len(vals) / q8Block
	out := alignedBytes(nb * (4 + q8Block))
	for b := range nb {
		blk := out[b*(4+q8Block):]
		g := b * q8Block / gs
		copy(blk[:4], scales[4*g:4*g+4])
		copy(blk[4:4+q8Block], vals[b*q8Block:(b+1)*q8Block])
	}
	return out
}
