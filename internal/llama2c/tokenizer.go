package llama2c

import (
	"encoding/binary"
	"fmt"
	"math"
	"os"
)

// Vocab is the contents of a llama2.c tokenizer file.
type Vocab struct {
	// MaxTokenLength is the length in bytes of the longest token.
	MaxTokenLength int
	// Tokens are the token strings (raw bytes), indexed by id.
	Tokens []string
	// Scores are the tokens' merge scores.
	Scores []float32
}

// ReadTokenizer reads a llama2.c tokenizer file (tokenizer.bin) that must
// hold exactly vocabSize tokens.
func ReadTokenizer(path string, vocabSize int) (*Vocab, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("llama2c tokenizer: %w", err)
	}
	v, err := parseTokenizer(data, vocabSize)
	if err != nil {
		return nil, fmt.Errorf("llama2c tokenizer %s: %w", path, err)
	}
	return v, nil
}

// ParseTokenizer parses the contents of a llama2.c tokenizer file: an int32
// max_token_length, then per token a float32 score, an int32 length and the
// token's bytes. It must hold exactly vocabSize tokens.
func ParseTokenizer(data []byte, vocabSize int) (*Vocab, error) {
	v, err := parseTokenizer(data, vocabSize)
	if err != nil {
		return nil, fmt.Errorf("llama2c tokenizer: %w", err)
	}
	return v, nil
}

func parseTokenizer(data []byte, vocabSize int) (*Vocab, error) {
	if vocabSize <= 0 || vocabSize > maxVocab {
		return nil, fmt.Errorf("vocabulary size %d out of range", vocabSize)
	}
	if len(data) < 4 {
		return nil, fmt.Errorf("truncated file: %d bytes, too short for max_token_length", len(data))
	}
	maxLen := int32(binary.LittleEndian.Uint32(data))
	if maxLen <= 0 {
		return nil, fmt.Errorf("bad max_token_length %d", maxLen)
	}
	// Each token takes at least 8 bytes, which bounds the allocations.
	if (len(data)-4)/8 < vocabSize {
		return nil, fmt.Errorf("truncated file: %d bytes cannot hold %d tokens (at least 8 bytes each)", len(data), vocabSize)
	}
	v := &Vocab{MaxTokenLength: int(maxLen), Tokens: make([]string, vocabSize), Scores: make([]float32, vocabSize)}
	off := 4
	for i := range vocabSize {
		if len(data)-off < 8 {
			return nil, fmt.Errorf("truncated file: token %d at offset %d: need 8 bytes for its score and length, %d left", i, off, len(data)-off)
		}
		v.Scores[i] = math.Float32frombits(binary.LittleEndian.Uint32(data[off:]))
		n := int32(binary.LittleEndian.Uint32(data[off+4:]))
		off += 8
		switch {
		case n < 0 || n > maxLen:
			return nil, fmt.Errorf("token %d at offset %d: length %d, want 0 to max_token_length %d", i, off-4, n, maxLen)
		case int(n) > len(data)-off:
			return nil, fmt.Errorf("truncated file: token %d at offset %d: need %d bytes, %d left", i, off, n, len(data)-off)
		}
		v.Tokens[i] = string(data[off : off+int(n)])
		off += int(n)
	}
	if off != len(data) {
		return nil, fmt.Errorf("%d trailing bytes after %d tokens (the file holds more tokens than the model's vocabulary?)", len(data)-off, vocabSize)
	}
	return v, nil
}
