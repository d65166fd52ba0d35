package tokenizer

import (
	"fmt"
	"unicode"
	"unicode/utf8"
)

// Pretokenizer is the rule that splits text into words before byte-level BPE
// merges each word on its own.
type Pretokenizer int

// Pre-tokenizers of byte-level BPE vocabularies.
const (
	// PreGPT2 is GPT-2's regular expression (see gpt2Word).
	PreGPT2 Pretokenizer = iota
	// PreLlama3 is the expression of Llama 3 (and OpenAI's cl100k):
	//
	//	(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
	PreLlama3
	// PreQwen2 is Qwen2's expression: PreLlama3's with single digits (\p{N}
	// instead of \p{N}{1,3}).
	PreQwen2
)

// preNames are the GGUF tokenizer.ggml.pre names of each pre-tokenizer, the
// first being the one written.
var preNames = map[Pretokenizer][]string{
	PreGPT2:   {"gpt-2", "default"},
	PreLlama3: {"llama-bpe", "llama3"},
	PreQwen2:  {"qwen2"},
}

// String returns the GGUF tokenizer.ggml.pre name of p.
func (p Pretokenizer) String() string {
	if n, ok := preNames[p]; ok {
		return n[0]
	}
	return fmt.Sprintf("Pretokenizer(%d)", int(p))
}

// ParsePretokenizer returns the pre-tokenizer of a GGUF tokenizer.ggml.pre
// name: "gpt-2" (or "default"), "llama-bpe" (or "llama3") or "qwen2".
func ParsePretokenizer(name string) (Pretokenizer, error) {
	for p, names := range preNames {
		for _, n := range names {
			if n == name {
				return p, nil
			}
		}
	}
	return 0, fmt.Errorf("tokenizer: pre-tokenizer %q is not supported (supported: \"gpt-2\", \"llama-bpe\", \"qwen2\")", name)
}

// split returns the function that measures the first word of a text.
func (p Pretokenizer) split() (func(string) int, error) {
	switch p {
	case PreGPT2:
		return gpt2Word, nil
	case PreLlama3:
		return llama3Word, nil
	case PreQwen2:
		return qwen2Word, nil
	}
	return nil, fmt.Errorf("tokenizer: unknown pre-tokenizer %d", int(p))
}

// BPEOptions adjust a byte-level BPE tokenizer.
type BPEOptions struct {
	// Pre splits the text into words (GPT-2's rule by default).
	Pre Pretokenizer
	// IgnoreMerges emits a word that is itself a token as that token,
	// without merging (Hugging Face's "ignore_merges", set by Llama 3).
	IgnoreMerges bool
}

func llama3Word(s string) int { return cl100kWord(s, 3) }
func qwen2Word(s string) int  { return cl100kWord(s, 1) }

// cl100kWord returns the length in bytes of the first word of s (non-empty)
// under the Llama 3 expression, digits taken in runs of at most maxDigits.
// The alternatives are tried in order, as a backtracking regular expression
// engine does.
func cl100kWord(s string, maxDigits int) int {
	// (?i:'s|'t|'re|'ve|'m|'ll|'d), with Unicode case folding (ſ folds to s).
	if s[0] == '\'' && len(s) >= 2 {
		r1, n1 := utf8.DecodeRuneInString(s[1:])
		switch unicode.ToLower(r1) {
		case 's', 't', 'm', 'd', 'ſ':
			return 1 + n1
		case 'r', 'v', 'l':
			if r2, n2 := utf8.DecodeRuneInString(s[1+n1:]); 1+n1 < len(s) {
				l1, l2 := unicode.ToLower(r1), unicode.ToLower(r2)
				if (l1 == 'r' || l1 == 'v') && l2 == 'e' || l1 == 'l' && l2 == 'l' {
					return 1 + n1 + n2
				}
			}
		}
	}
	r, size := utf8.DecodeRuneInString(s)
	// [^\r\n\p{L}\p{N}]?\p{L}+
	if unicode.IsLetter(r) {
		return size + runOf(s[size:], unicode.IsLetter, -1)
	}
	if r != '\r' && r != '\n' && !unicode.IsNumber(r) && size < len(s) {
		if r2, _ := utf8.DecodeRuneInString(s[size:]); unicode.IsLetter(r2) {
			return size + runOf(s[size:], unicode.IsLetter, -1)
		}
	}
	// \p{N}{1,maxDigits}
	if unicode.IsNumber(r) {
		return runOf(s, unicode.IsNumber, maxDigits)
	}
	// ' ?[^\s\p{L}\p{N}]+[\r\n]*'
	start := 0
	if r == ' ' && size < len(s) {
		if r2, _ := utf8.DecodeRuneInString(s[1:]); isOther(r2) {
			start = 1
		}
	}
	if n := runOf(s[start:], isOther, -1); n > 0 {
		i := start + n
		for i < len(s) && (s[i] == '\r' || s[i] == '\n') {
			i++
		}
		return i
	}
	// Only white space is left at the start of s. Let ws be its run.
	ws := runOf(s, unicode.IsSpace, -1)
	// \s*[\r\n]+ matches up to the last line break of the run.
	for i := ws - 1; i >= 0; i-- {
		if s[i] == '\r' || s[i] == '\n' {
			return i + 1
		}
	}
	// \s+(?!\S): the run, less its last character when a non-space follows
	// (unless that leaves nothing, when \s+ takes the run).
	if ws < len(s) {
		_, last := utf8.DecodeLastRuneInString(s[:ws])
		if ws-last > 0 {
			return ws - last
		}
	}
	return ws
}

// runOf returns the length in bytes of the longest prefix of s whose
// characters satisfy class, of at most max characters (no limit when max < 0).
func runOf(s string, class func(rune) bool, max int) int {
	i := 0
	for k := 0; i < len(s) && k != max; k++ {
		r, n := utf8.DecodeRuneInString(s[i:])
		if !class(r) {
			break
		}
		i += n
	}
	return i
}
