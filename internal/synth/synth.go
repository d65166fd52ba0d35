// Package synth writes random-weight models of real shapes (Llama, GPT-2 and
// Phi-2 families) as GGUF files.
// Speed does not depend on the weights' values, so such a model is a fair speed
// benchmark of a shape nobody has to download; fidelity needs real weights.
package synth

import (
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"

	"github.com/unswift/unswift/internal/gguf"
	"github.com/unswift/unswift/internal/hf"
	"github.com/unswift/unswift/internal/tensor"
)

// Shape is a named set of hyper-parameters.
type Shape struct {
	Name                                                string
	Arch                                                string // GGUF architecture: "llama" (when empty), "qwen2", "gpt2" or "phi2"
	Dim, Hidden, Layers, Heads, KVHeads, Vocab, Context int
	RopeBase                                            float64
	Tied                                                bool // the classifier is the token embedding (no output.weight)
}

// Shapes are the named shapes synth can write.
var Shapes = map[string]Shape{
	"stories110m":     {Name: "stories110m", Dim: 768, Hidden: 2048, Layers: 12, Heads: 12, KVHeads: 12, Vocab: 32000, Context: 1024, RopeBase: 10000, Tied: true},
	"tinyllama-1.1b":  {Name: "tinyllama-1.1b", Dim: 2048, Hidden: 5632, Layers: 22, Heads: 32, KVHeads: 4, Vocab: 32000, Context: 2048, RopeBase: 10000},
	"llama3-8b-layer": {Name: "llama3-8b-layer", Dim: 4096, Hidden: 14336, Layers: 1, Heads: 32, KVHeads: 8, Vocab: 32000, Context: 8192, RopeBase: 500000},
	"tiny":            {Name: "tiny", Dim: 64, Hidden: 176, Layers: 2, Heads: 4, KVHeads: 2, Vocab: 320, Context: 256, RopeBase: 10000},
	"gpt2-124m":       {Name: "gpt2-124m", Arch: "gpt2", Dim: 768, Hidden: 3072, Layers: 12, Heads: 12, KVHeads: 12, Vocab: 50257, Context: 1024, Tied: true},
	"phi-2":           {Name: "phi-2", Arch: "phi2", Dim: 2560, Hidden: 10240, Layers: 32, Heads: 32, KVHeads: 32, Vocab: 51200, Context: 2048, RopeBase: 10000},
	"tiny-gpt2":       {Name: "tiny-gpt2", Arch: "gpt2", Dim: 64, Hidden: 256, Layers: 2, Heads: 4, KVHeads: 4, Vocab: 320, Context: 256, Tied: true},
	"tiny-qwen2":      {Name: "tiny-qwen2", Arch: "qwen2", Dim: 64, Hidden: 192, Layers: 2, Heads: 4, KVHeads: 2, Vocab: 320, Context: 256, RopeBase: 1000000, Tied: true},
	"tiny-phi2":       {Name: "tiny-phi2", Arch: "phi2", Dim: 64, Hidden: 256, Layers: 2, Heads: 4, KVHeads: 4, Vocab: 320, Context: 256, RopeBase: 10000},
}

// arch is the shape's GGUF architecture.
func (s Shape) arch() string {
	if s.Arch == "" {
		return "llama"
	}
	return s.Arch
}

// ShapeNames lists the shape names, sorted.
func ShapeNames() []string {
	var s []string
	for k := range Shapes {
		s = append(s, k)
	}
	sort.Strings(s)
	return s
}

// Options control Write.
type Options struct {
	Type     tensor.DType // type of the matrices: F32, F16, BF16 or Q8_0 (norms stay F32)
	Seed     uint64
	Progress func(done, total int) // called after each tensor
}

// Write writes a random-weight model of shape s to path atomically. Matrices
// and biases are drawn from N(0, 0.02²) (the usual initialisation scale), norm
// weights are one and norm biases zero. The model carries a byte-level SentencePiece vocabulary: <unk>, <s>,
// </s>, the 256 byte tokens, then unused filler tokens up to the vocab size.
func Write(path string, s Shape, opt Options) error {
	switch opt.Type {
	case tensor.F32, tensor.F16, tensor.BF16, tensor.Q8_0:
	default:
		return fmt.Errorf("synth: unsupported type %s (want f32, f16, bf16 or q8_0)", opt.Type)
	}
	if s.Vocab < 259 {
		return fmt.Errorf("synth: vocab %d is smaller than the 259 tokens of the byte vocabulary", s.Vocab)
	}
	w, err := gguf.Create(path)
	if err != nil {
		return err
	}
	defer w.Abort()
	if err := Header(w, s, opt.Type); err != nil {
		return err
	}
	specs := tensors(s, opt.Type)
	for _, t := range specs {
		w.AddTensorInfo(t.name, t.typ, t.shape...)
	}
	if err := w.WriteHeader(); err != nil {
		return err
	}
	rng := rand.New(rand.NewPCG(opt.Seed, 0x5eed))
	var f32 []float32
	var buf []byte
	for i, t := range specs {
		n := 1
		for _, d := range t.shape {
			n *= d
		}
		if cap(f32) < n {
			f32 = make([]float32, n)
		}
		f32 = f32[:n]
		switch t.kind {
		case norm:
			for j := range f32 {
				f32[j] = 1
			}
		case normBias:
			clear(f32)
		default:
			for j := range f32 {
				f32[j] = float32(rng.NormFloat64() * 0.02)
			}
		}
		size, err := t.typ.Bytes(n)
		if err != nil {
			return err
		}
		if cap(buf) < size {
			buf = make([]byte, size)
		}
		buf = buf[:size]
		if err := tensor.Quantize(buf, t.typ, f32); err != nil {
			return err
		}
		if err := w.WriteTensorData(t.name, buf); err != nil {
			return err
		}
		if opt.Progress != nil {
			opt.Progress(i+1, len(specs))
		}
	}
	return w.Close()
}

type spec struct {
	name  string
	typ   tensor.DType
	shape []int
	kind  kind
}

// kind is how a tensor's values are drawn.
type kind int

const (
	weight   kind = iota // N(0, 0.02²), matrices and biases
	norm                 // ones
	normBias             // zeros
)

func tensors(s Shape, typ tensor.DType) []spec {
	d := s.Dim
	kv := d / s.Heads * s.KVHeads
	var ts []spec
	mat := func(name string, in, out int) { ts = append(ts, spec{name + ".weight", typ, []int{in, out}, weight}) }
	vec := func(name string, n int, k kind) { ts = append(ts, spec{name, tensor.F32, []int{n}, k}) }
	rms := s.arch() == "llama" || s.arch() == "qwen2"
	layerNorm := func(name string) {
		vec(name+".weight", d, norm)
		if !rms {
			vec(name+".bias", d, normBias)
		}
	}
	// dense is a projection with a bias.
	dense := func(name string, in, out int) {
		mat(name, in, out)
		vec(name+".bias", out, weight)
	}
	mat("token_embd", d, s.Vocab)
	if s.arch() == "gpt2" {
		mat("position_embd", d, s.Context)
	}
	for l := 0; l < s.Layers; l++ {
		p := fmt.Sprintf("blk.%d.", l)
		layerNorm(p + "attn_norm")
		switch s.arch() {
		case "llama", "qwen2":
			if s.arch() == "qwen2" { // biases on q, k and v
				dense(p+"attn_q", d, d)
				dense(p+"attn_k", d, kv)
				dense(p+"attn_v", d, kv)
			} else {
				mat(p+"attn_q", d, d)
				mat(p+"attn_k", d, kv)
				mat(p+"attn_v", d, kv)
			}
			mat(p+"attn_output", d, d)
			layerNorm(p + "ffn_norm")
			mat(p+"ffn_gate", d, s.Hidden)
			mat(p+"ffn_down", s.Hidden, d)
			mat(p+"ffn_up", d, s.Hidden)
			continue
		case "gpt2":
			dense(p+"attn_qkv", d, d+2*kv)
			dense(p+"attn_output", d, d)
			layerNorm(p + "ffn_norm")
		case "phi2": // parallel block: one norm; q, k, v apart as in HF's PhiForCausalLM
			dense(p+"attn_q", d, d)
			dense(p+"attn_k", d, kv)
			dense(p+"attn_v", d, kv)
			dense(p+"attn_output", d, d)
		}
		dense(p+"ffn_up", d, s.Hidden)
		dense(p+"ffn_down", s.Hidden, d)
	}
	layerNorm("output_norm")
	if !s.Tied {
		if rms {
			mat("output", d, s.Vocab)
		} else {
			dense("output", d, s.Vocab)
		}
	}
	return ts
}

// Header adds the architecture metadata and the byte-level vocabulary.
func Header(w *gguf.Writer, s Shape, typ tensor.DType) error {
	p := hf.Params{Arch: s.arch(), Dim: s.Dim, Hidden: s.Hidden, Layers: s.Layers, Heads: s.Heads, KVHeads: s.KVHeads,
		Vocab: s.Vocab, Context: s.Context, RopeBase: s.RopeBase, NormEps: 1e-5}
	switch p.Arch {
	case "llama", "qwen2":
		p.RopeDim = s.Dim / s.Heads
	case "phi2": // Phi-2 rotates 32 of each head's 80 dimensions (partial_rotary_factor 0.4)
		p.RopeDim = max(2, s.Dim/s.Heads*2/5/2*2)
	}
	for _, kv := range p.Meta("synth-" + s.Name + "-" + strings.ToLower(typ.String())) {
		w.Add(kv.Key, kv.Value)
	}
	w.AddString("general.description", "random weights (unswift synth): for speed benchmarks only")
	tokens, scores, types := ByteVocab(s.Vocab)
	w.AddString("tokenizer.ggml.model", "llama")
	w.AddStrings("tokenizer.ggml.tokens", tokens)
	w.AddFloat32s("tokenizer.ggml.scores", scores)
	w.AddInt32s("tokenizer.ggml.token_type", types)
	w.AddUint32("tokenizer.ggml.bos_token_id", 1)
	w.AddUint32("tokenizer.ggml.eos_token_id", 2)
	w.AddUint32("tokenizer.ggml.unknown_token_id", 0)
	return nil
}

// ByteVocab returns a SentencePiece-style vocabulary of n tokens that encodes
// any text as bytes: <unk>, <s>, </s>, <0x00>..<0xFF>, then unused fillers.
func ByteVocab(n int) (tokens []string, scores []float32, types []int32) {
	tokens = []string{"<unk>", "<s>", "</s>"}
	types = []int32{2, 3, 3}
	for b := 0; b < 256; b++ {
		tokens = append(tokens, fmt.Sprintf("<0x%02X>", b))
		types = append(types, 6)
	}
	for len(tokens) < n {
		tokens = append(tokens, fmt.Sprintf("<unused%d>", len(tokens)))
		types = append(types, 5)
	}
	scores = make([]float32, len(tokens))
	return tokens, scores, types
}

// Bytes is the file size of a shape at a type, for messages before writing.
func Bytes(s Shape, typ tensor.DType) int64 {
	var n int64
	for _, t := range tensors(s, typ) {
		k := 1
		for _, d := range t.shape {
			k *= d
		}
		b, _ := t.typ.Bytes(k)
		n += int64(b)
	}
	return n
}
