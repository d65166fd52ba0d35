package tokenizer

import (
	"fmt"
	"math"

	"github.com/unswift/unswift/internal/gguf"
	"github.com/unswift/unswift/internal/llama2c"
)

// GGUF metadata keys read by FromGGUF.
const (
	KeyModel      = "tokenizer.ggml.model"
	KeyPre        = "tokenizer.ggml.pre"
	KeyTokens     = "tokenizer.ggml.tokens"
	KeyScores     = "tokenizer.ggml.scores"
	KeyTokenTypes = "tokenizer.ggml.token_type"
	KeyMerges     = "tokenizer.ggml.merges"
	KeyBOS        = "tokenizer.ggml.bos_token_id"
	KeyEOS        = "tokenizer.ggml.eos_token_id"
)

// FromGGUF builds the tokenizer described by a GGUF file's metadata:
// a [SentencePiece] for tokenizer.ggml.model "llama" and a [BPE] for "gpt2"
// (whose pre-tokenizer, tokenizer.ggml.pre, may be "gpt-2", the default,
// "llama-bpe" or "qwen2").
// The token types are optional; the BOS and EOS ids are required, with
// 0xFFFFFFFF read as "none".
func FromGGUF(f *gguf.File) (Tokenizer, error) {
	model, ok := f.String(KeyModel)
	if !ok {
		return nil, missing(KeyModel)
	}
	tokens, ok := f.Strings(KeyTokens)
	if !ok {
		return nil, missing(KeyTokens)
	}
	var types []int32
	if v, ok := f.Ints(KeyTokenTypes); ok {
		types = make([]int32, len(v))
		for i, x := range v {
			if x < math.MinInt32 || x > math.MaxInt32 {
				return nil, fmt.Errorf("tokenizer: GGUF %s[%d] = %d is out of range", KeyTokenTypes, i, x)
			}
			types[i] = int32(x)
		}
	} else if _, present := f.Value(KeyTokenTypes); present {
		return nil, fmt.Errorf("tokenizer: GGUF %s is not an integer array", KeyTokenTypes)
	}
	bos, err := specialID(f, KeyBOS)
	if err != nil {
		return nil, err
	}
	eos, err := specialID(f, KeyEOS)
	if err != nil {
		return nil, err
	}
	switch model {
	case "llama":
		scores, ok := f.Float32s(KeyScores)
		if !ok {
			return nil, missing(KeyScores)
		}
		return NewSentencePiece(tokens, scores, types, bos, eos)
	case "gpt2":
		var opt BPEOptions
		if name, ok := f.String(KeyPre); ok {
			pre, err := ParsePretokenizer(name)
			if err != nil {
				return nil, fmt.Errorf("tokenizer: GGUF %s %q is not supported (supported: \"gpt-2\", \"llama-bpe\", \"qwen2\")", KeyPre, name)
			}
			// llama.cpp ignores merges for Llama 3's pre-tokenizer, as
			// Llama 3's tokenizer.json asks.
			opt = BPEOptions{Pre: pre, IgnoreMerges: pre == PreLlama3}
		}
		merges, ok := f.Strings(KeyMerges)
		if !ok {
			return nil, missing(KeyMerges)
		}
		return NewBPEWithOptions(tokens, merges, types, bos, eos, opt)
	default:
		return nil, fmt.Errorf("tokenizer: GGUF %s %q is not supported (want \"llama\" or \"gpt2\")", KeyModel, model)
	}
}

// missing returns the error for an absent or mistyped GGUF key.
func missing(key string) error {
	return fmt.Errorf("tokenizer: GGUF metadata lacks %s (or it has the wrong type)", key)
}

// specialID reads a special token id; the value 0xFFFFFFFF (-1 as uint32) means
// there is none.
func specialID(f *gguf.File, key string) (int, error) {
	v, ok := f.Int(key)
	if !ok {
		return 0, missing(key)
	}
	if v == math.MaxUint32 || v == -1 {
		return -1, nil
	}
	if v < 0 || v > math.MaxInt32 {
		return 0, fmt.Errorf("tokenizer: GGUF %s = %d is not a token id", key, v)
	}
	return int(v), nil
}

// FromLlama2c reads a llama2.c tokenizer file (tokenizer.bin), which must hold
// exactly vocabSize tokens, as a SentencePiece tokenizer with llama2.c's fixed
// BOS (1) and EOS (2). Token types are inferred (see NewSentencePiece).
func FromLlama2c(path string, vocabSize int) (*SentencePiece, error) {
	v, err := llama2c.ReadTokenizer(path, vocabSize)
	if err != nil {
		return nil, err
	}
	tok, err := NewSentencePiece(v.Tokens, v.Scores, nil, 1, 2)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return tok, nil
}
