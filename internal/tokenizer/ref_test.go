package tokenizer

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// This file holds slow, literal versions of the algorithms, used as references
// for the fast ones: llama2.c's quadratic encode loop, GPT-2's original bpe()
// (merge every occurrence of the best pair, then rescan) and GPT-2's
// pre-tokenizer as a regular expression.

// refSPM encodes text as llama2.c's encode does: dummy prefix, characters (or
// their byte tokens), then repeatedly the best-scoring mergeable pair, leftmost
// on ties.
func refSPM(t *SentencePiece, text string, addBOS bool) []int {
	var out []int
	if addBOS && t.bos >= 0 {
		out = append(out, t.bos)
	}
	if text == "" {
		return out
	}
	space := " "
	if t.escape {
		space = spaceMark
		text = strings.ReplaceAll(text, " ", spaceMark)
	}
	text = space + text
	type sym struct {
		s  string // text, or "" for a byte token
		id int
	}
	var syms []sym
	for i := 0; i < len(text); {
		_, n := utf8.DecodeRuneInString(text[i:])
		if id, ok := t.ids[text[i:i+n]]; ok {
			syms = append(syms, sym{text[i : i+n], int(id)})
		} else {
			for j := i; j < i+n; j++ {
				if id := t.byteIDs[text[j]]; id >= 0 {
					syms = append(syms, sym{"", int(id)})
				}
			}
		}
		i += n
	}
	for {
		best, bestScore, bestID := -1, float32(0), 0
		for i := 0; i+1 < len(syms); i++ {
			if syms[i].s == "" || syms[i+1].s == "" {
				continue
			}
			id, ok := t.ids[syms[i].s+syms[i+1].s]
			if ok && (best < 0 || t.scores[id] > bestScore) {
				best, bestScore, bestID = i, t.scores[id], int(id)
			}
		}
		if best < 0 {
			break
		}
		syms[best] = sym{syms[best].s + syms[best+1].s, bestID}
		syms = slices.Delete(syms, best+1, best+2)
	}
	for _, s := range syms {
		out = append(out, s.id)
	}
	return out
}

// refBPE encodes text as GPT-2's original encoder does.
func refBPE(t *BPE, text string) []int {
	var out []int
	for _, w := range refGPT2Split(text) {
		word := make([]int32, len(w))
		for i := range len(w) {
			word[i] = t.byteIDs[w[i]]
		}
		for len(word) > 1 {
			best := bpeMerge{rank: -1}
			var a, b int32
			for i := 0; i+1 < len(word); i++ {
				m, ok := t.merges[uint64(word[i])<<32|uint64(word[i+1])]
				if ok && (best.rank < 0 || m.rank < best.rank) {
					best, a, b = m, word[i], word[i+1]
				}
			}
			if best.rank < 0 {
				break
			}
			var next []int32
			for i := 0; i < len(word); i++ {
				if i+1 < len(word) && word[i] == a && word[i+1] == b {
					next = append(next, best.id)
					i++
				} else {
					next = append(next, word[i])
				}
			}
			word = next
		}
		for _, id := range word {
			out = append(out, int(id))
		}
	}
	return out
}

// gpt2Regexp is GPT-2's pre-tokenizer pattern with \s spelled as Unicode
// White_Space (Go's \s is ASCII only) and \s+(?!\S) rewritten without
// lookahead: white space up to the end of the text (group 2), or white space
// followed by one more white-space character (group 3, which excludes that
// character); group 4 is the final \s+.
var gpt2Regexp = func() *regexp.Regexp {
	var ws strings.Builder
	for _, r := range unicode.White_Space.R16 {
		for c := r.Lo; c <= r.Hi; c += r.Stride {
			fmt.Fprintf(&ws, `\x{%x}`, c)
		}
	}
	for _, r := range unicode.White_Space.R32 {
		for c := r.Lo; c <= r.Hi; c += r.Stride {
			fmt.Fprintf(&ws, `\x{%x}`, c)
		}
	}
	s, ns := "["+ws.String()+"]", ws.String()
	return regexp.MustCompile(`^(?:('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^` + ns + `\p{L}\p{N}]+)|(` + s + `+)$|(` + s + `+)` + s + `|(` + s + `+))`)
}()

// refGPT2Split splits text into GPT-2 pre-tokenizer words with gpt2Regexp.
func refGPT2Split(text string) []string {
	var words []string
	for len(text) > 0 {
		m := gpt2Regexp.FindStringSubmatchIndex(text)
		n := 0
		for g := 1; g <= 4; g++ {
			if m != nil && m[2*g] >= 0 {
				n = m[2*g+1]
				break
			}
		}
		if n == 0 {
			// Cannot happen (one alternative always matches a non-empty text;
			// invalid UTF-8 reads as U+FFFD, an "other" character): take the
			// rest so that a comparison shows the fault.
			n = len(text)
		}
		words = append(words, text[:n])
		text = text[n:]
	}
	return words
}
