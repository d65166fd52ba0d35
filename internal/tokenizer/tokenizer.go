// Package tokenizer converts between text and the token ids of Llama-family
// language models.
//
// Two algorithms are provided:
//
//   - [SentencePiece]: SentencePiece-style BPE driven by per-token scores, as used by
//     llama2.c tokenizer.bin files and GGUF files whose tokenizer.ggml.model is
//     "llama" (Llama 1/2, Mistral, TinyStories models).
//   - [BPE]: GPT-2 style byte-level BPE driven by a ranked merge list, as used by
//     GGUF files whose tokenizer.ggml.model is "gpt2".
//
// Both satisfy [Tokenizer]. The constructors take plain data; [FromGGUF] and
// [FromLlama2c] read it from model files.
package tokenizer

import (
	"strings"
	"unicode/utf8"
)

// Tokenizer converts text to token ids and back.
//
// Implementations are safe for concurrent use by multiple goroutines.
type Tokenizer interface {
	// Encode returns the token ids of text, preceded by the BOS token when addBOS
	// is true (and the vocabulary has one).
	Encode(text string, addBOS bool) []int
	// Decode returns the text of a sequence of token ids. Control tokens decode to
	// nothing and ids outside the vocabulary are ignored. The bytes are returned as
	// they are, which may be invalid UTF-8 when the ids are.
	Decode(ids []int) string
	// Piece returns the vocabulary string of id as stored in the vocabulary
	// (for example "▁the" or "Ġthe"), or "" when id is out of range.
	Piece(id int) string
	// VocabSize returns the number of tokens in the vocabulary.
	VocabSize() int
	// BOS returns the beginning-of-sequence token id, or -1 when there is none.
	BOS() int
	// EOS returns the end-of-sequence token id, or -1 when there is none.
	EOS() int
	// NewDecoder returns a streaming decoder that turns ids into text one at a
	// time.
	NewDecoder() *Decoder
}

// TokenType is the kind of a vocabulary entry, with the values of the GGUF
// tokenizer.ggml.token_type array (which follow SentencePiece's).
type TokenType int32

// Token types.
const (
	TypeUndefined   TokenType = 0
	TypeNormal      TokenType = 1
	TypeUnknown     TokenType = 2
	TypeControl     TokenType = 3 // BOS, EOS and similar: never matched from text, decoded as nothing
	TypeUserDefined TokenType = 4
	TypeUnused      TokenType = 5
	TypeByte        TokenType = 6 // "<0xNN>": stands for one raw byte
)

// matchable reports whether tokens of type t may be produced by matching text.
func (t TokenType) matchable() bool {
	return t == TypeNormal || t == TypeUserDefined || t == TypeUndefined
}

// pieceTable holds the decoded bytes of every token; both tokenizers decode
// through it.
type pieceTable struct {
	text []string // bytes that a token stands for ("" for control tokens)
	// stripAfterBOS marks tokens whose leading space is dropped when they directly
	// follow BOS (the SentencePiece dummy prefix, as llama2.c does).
	stripAfterBOS []bool
	bos           int
}

// appendToken appends the text of id, which follows prev, to dst.
func (p *pieceTable) appendToken(dst []byte, prev, id int) []byte {
	if id < 0 || id >= len(p.text) {
		return dst
	}
	s := p.text[id]
	if prev >= 0 && prev == p.bos && p.stripAfterBOS != nil && p.stripAfterBOS[id] {
		s = strings.TrimPrefix(s, " ")
	}
	return append(dst, s...)
}

// decode implements Tokenizer.Decode.
func (p *pieceTable) decode(ids []int) string {
	var b []byte
	prev := -1
	for _, id := range ids {
		b = p.appendToken(b, prev, id)
		prev = id
	}
	return string(b)
}

// Decoder turns a stream of token ids into text, emitting only complete UTF-8
// characters: bytes of a character split across tokens (for example by
// byte-fallback tokens) are held back until the character is complete. Bytes that
// cannot start or continue a valid UTF-8 sequence are emitted as U+FFFD, one per
// byte, so the output is always valid UTF-8. The concatenation of every Next
// result followed by Flush equals string([]rune(t.Decode(ids))).
//
// A Decoder is not safe for concurrent use.
type Decoder struct {
	p       *pieceTable
	prev    int
	pending []byte
}

func newDecoder(p *pieceTable) *Decoder { return &Decoder{p: p, prev: -1} }

// Next adds the token id to the stream and returns the text that became complete.
func (d *Decoder) Next(id int) string {
	d.pending = d.p.appendToken(d.pending, d.prev, id)
	d.prev = id
	return d.take(false)
}

// Flush returns whatever is still held back (an incomplete UTF-8 sequence, as
// U+FFFD characters) and resets the decoder for a new stream.
func (d *Decoder) Flush() string {
	s := d.take(true)
	d.prev = -1
	return s
}

// take removes and returns the complete prefix of d.pending; with all set it
// takes everything.
func (d *Decoder) take(all bool) string {
	p := d.pending
	var out []byte
	n := 0
	for n < len(p) {
		if !all && !utf8.FullRune(p[n:]) {
			break
		}
		r, size := utf8.DecodeRune(p[n:])
		if r == utf8.RuneError && size == 1 {
			if out == nil {
				out = append(make([]byte, 0, len(p)), p[:n]...)
			}
			out = utf8.AppendRune(out, utf8.RuneError)
		} else if out != nil {
			out = append(out, p[n:n+size]...)
		}
		n += size
	}
	var s string
	if out != nil {
		s = string(out)
	} else {
		s = string(p[:n])
	}
	d.pending = append(d.pending[:0], p[n:]...)
	return s
}

var (
	_ Tokenizer = (*SentencePiece)(nil)
	_ Tokenizer = (*BPE)(nil)
)
