package hf

import (
	"encoding/binary"
	"encoding/json"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/unswift/unswift/internal/tensor"
)

// stEntry is one tensor of a safetensors file written by writeST, in the
// file's own terms: shape outermost first.
type stEntry struct {
	name, dtype string
	shape       []int
	data        []byte
}

// writeST writes a safetensors file by hand, from the format's description
// (header length, JSON header padded with spaces to a multiple of 8, data),
// independently of package safetensors.
func writeST(tb testing.TB, path string, entries []stEntry) {
	tb.Helper()
	hdr := map[string]any{"__metadata__": map[string]string{"format": "pt"}}
	var data []byte
	for _, e := range entries {
		hdr[e.name] = map[string]any{"dtype": e.dtype, "shape": e.shape, "data_offsets": []int{len(data), len(data) + len(e.data)}}
		data = append(data, e.data...)
	}
	h, err := json.Marshal(hdr)
	if err != nil {
		tb.Fatal(err)
	}
	for len(h)%8 != 0 { // as the reference writer pads it
		h = append(h, ' ')
	}
	out := binary.LittleEndian.AppendUint64(nil, uint64(len(h)))
	out = append(append(out, h...), data...)
	if err := os.WriteFile(path, out, 0o644); err != nil {
		tb.Fatal(err)
	}
}

func writeJSON(tb testing.TB, path string, v any) {
	tb.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		tb.Fatal(err)
	}
}

func f32le(v []float32) []byte {
	b := make([]byte, 0, 4*len(v))
	for _, x := range v {
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(x))
	}
	return b
}

func bf16le(v []float32) []byte {
	b := make([]byte, 0, 2*len(v))
	for _, x := range v {
		b = binary.LittleEndian.AppendUint16(b, tensor.F32ToBF16(x))
	}
	return b
}

func randF32(rng *rand.Rand, n int, scale float64) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(rng.NormFloat64() * scale)
	}
	return v
}

// writeByteLevelTokenizer writes a tokenizer.json with GPT-2's byte alphabet,
// two merges and a special "<|endoftext|>", which serves as BOS and EOS.
func writeByteLevelTokenizer(tb testing.TB, dir string) {
	tb.Helper()
	tokens := append(byteLevelAlphabet(), "he", "hel", "<|endoftext|>")
	vocab := map[string]int{}
	for i, t := range tokens {
		vocab[t] = i
	}
	writeJSON(tb, filepath.Join(dir, TokenizerFile), map[string]any{
		"added_tokens":  []any{map[string]any{"id": 258, "content": "<|endoftext|>", "special": true}},
		"pre_tokenizer": map[string]any{"type": "ByteLevel", "add_prefix_space": false, "use_regex": true},
		"model":         map[string]any{"type": "BPE", "vocab": vocab, "merges": []string{"h e", "he l"}},
	})
	writeJSON(tb, filepath.Join(dir, TokenizerConfigFile), map[string]any{"bos_token": "<|endoftext|>", "eos_token": "<|endoftext|>", "add_bos_token": true})
}
