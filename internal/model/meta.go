package model

import (
	"fmt"

	"github.com/unswift/unswift/internal/gguf"
	"github.com/unswift/unswift/internal/hf"
	"github.com/unswift/unswift/internal/tokenizer"
)

// AddGGUFMetadata adds llama architecture metadata for m's config and its
// tokenizer's vocabulary to w, so that a model from another format (a llama2.c
// checkpoint) can be written as GGUF.
func AddGGUFMetadata(w *gguf.Writer, m *Model) error {
	c := &m.Config
	p := hf.Params{Arch: c.Arch, Dim: c.Dim, Hidden: c.Hidden, Layers: c.Layers, Heads: c.Heads, KVHeads: c.KVHeads,
		Vocab: c.Vocab, Context: c.Context, RopeDim: c.RopeDim, RopeBase: c.RopeBase, NormEps: float64(c.NormEps),
		SlidingWindow: c.SlidingWindow}
	for _, kv := range p.Meta(m.Path) {
		w.Add(kv.Key, kv.Value)
	}
	sp, ok := m.Tokenizer.(*tokenizer.SentencePiece)
	if !ok {
		return fmt.Errorf("writing a %T tokenizer as GGUF metadata is not supported", m.Tokenizer)
	}
	n := sp.VocabSize()
	tokens := make([]string, n)
	scores := make([]float32, n)
	types := make([]int32, n)
	for i := 0; i < n; i++ {
		tokens[i] = sp.Piece(i)
		scores[i] = sp.Score(i)
		types[i] = int32(sp.Type(i))
	}
	w.AddString("tokenizer.ggml.model", "llama")
	w.AddStrings("tokenizer.ggml.tokens", tokens)
	w.AddFloat32s("tokenizer.ggml.scores", scores)
	w.AddInt32s("tokenizer.ggml.token_type", types)
	if b := sp.BOS(); b >= 0 {
		w.AddUint32("tokenizer.ggml.bos_token_id", uint32(b))
	}
	if e := sp.EOS(); e >= 0 {
		w.AddUint32("tokenizer.ggml.eos_token_id", uint32(e))
	}
	return nil
}
