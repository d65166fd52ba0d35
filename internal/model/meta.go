package model

import (
	"fmt"

	"github.com/unswift/unswift/internal/gguf"
	"github.com/unswift/unswift/internal/tokenizer"
)

// AddGGUFMetadata adds llama architecture metadata for m's config and its
// tokenizer's vocabulary to w, so that a model from another format (a llama2.c
// checkpoint) can be written as GGUF.
func AddGGUFMetadata(w *gguf.Writer, m *Model) error {
	c := &m.Config
	w.AddString("general.architecture", c.Arch)
	w.AddString("general.name", m.Path)
	a := c.Arch + "."
	w.AddUint32(a+"context_length", uint32(c.Context))
	w.AddUint32(a+"embedding_length", uint32(c.Dim))
	w.AddUint32(a+"block_count", uint32(c.Layers))
	w.AddUint32(a+"feed_forward_length", uint32(c.Hidden))
	w.AddUint32(a+"attention.head_count", uint32(c.Heads))
	w.AddUint32(a+"attention.head_count_kv", uint32(c.KVHeads))
	w.AddUint32(a+"rope.dimension_count", uint32(c.RopeDim))
	w.AddFloat32(a+"rope.freq_base", float32(c.RopeBase))
	w.AddFloat32(a+"attention.layer_norm_rms_epsilon", c.NormEps)
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
