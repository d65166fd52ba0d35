package eval

import (
	"context"
	"fmt"
	"strings"
	"unicode"

	"github.com/unswift/unswift/internal/metrics"
	"github.com/unswift/unswift/internal/model"
	"github.com/unswift/unswift/internal/tokenizer"
)

// Generation is a greedy continuation of a prompt.
type Generation struct {
	Tokens []int  // the generated tokens, prompt excluded
	Text   string // their text
}

// Greedy continues prompt (encoded with BOS) on s by always taking the most
// likely token, for at most n tokens: fewer when BOS or EOS is chosen (not
// included) or the state's context is full.
func Greedy(ctx context.Context, s *model.State, tok tokenizer.Tokenizer, prompt string, n int) (Generation, error) {
	var g Generation
	ids := tok.Encode(prompt, true)
	if len(ids) >= s.Context() {
		return g, fmt.Errorf("prompt of %d tokens leaves no room in the context length %d", len(ids), s.Context())
	}
	s.Reset(0)
	logits, err := s.Forward(ids)
	if err != nil {
		return g, err
	}
	for len(g.Tokens) < n {
		if err := ctx.Err(); err != nil {
			return g, err
		}
		next := metrics.Argmax(logits)
		if next == tok.BOS() || next == tok.EOS() || next < 0 {
			break
		}
		g.Tokens = append(g.Tokens, next)
		if s.Pos() >= s.Context() || len(g.Tokens) == n {
			break
		}
		if logits, err = s.Forward([]int{next}); err != nil {
			return g, err
		}
	}
	g.Text = tok.Decode(g.Tokens)
	return g, nil
}

// GenFidelity compares a release's greedy continuations with the original's.
type GenFidelity struct {
	Rouge1, RougeL float64 // mean F1 over prompts, release text against original text
	Identical      int     // prompts whose continuations are token for token the same
	// FirstDivergence is, per prompt, the index of the first generated token
	// that differs (−1 when identical).
	FirstDivergence []int
	// MeanAgreeing is the mean number of leading generated tokens that agree
	// (the whole continuation for identical ones).
	MeanAgreeing float64
}

// CompareGenerations compares a release's continuations rel with the
// original's orig, prompt by prompt.
func CompareGenerations(orig, rel []Generation) GenFidelity {
	var f GenFidelity
	if len(orig) == 0 || len(orig) != len(rel) {
		return GenFidelity{Rouge1: nan, RougeL: nan, MeanAgreeing: nan}
	}
	for i := range orig {
		f.Rouge1 += metrics.Rouge1(orig[i].Text, rel[i].Text)
		f.RougeL += metrics.RougeL(orig[i].Text, rel[i].Text)
		d := metrics.FirstDivergence(orig[i].Tokens, rel[i].Tokens)
		f.FirstDivergence = append(f.FirstDivergence, d)
		if d < 0 {
			f.Identical++
			f.MeanAgreeing += float64(len(orig[i].Tokens))
		} else {
			f.MeanAgreeing += float64(d)
		}
	}
	k := float64(len(orig))
	f.Rouge1 /= k
	f.RougeL /= k
	f.MeanAgreeing /= k
	return f
}

// Openings returns the first words words of the last k paragraphs (blank-line
// separated) of text that have more than words words, in text order: the
// default generation prompts, taken from the end of the data file, away
// from a calibration slice at its start. The prompt keeps the paragraph's own
// line breaks and spacing up to the end of its last word.
func Openings(text string, k, words int) []string {
	paras := metrics.Paragraphs(text, 0)
	var out []string
	for i := len(paras) - 1; i >= 0 && len(out) < k; i-- {
		if p, ok := firstWords(paras[i], words); ok {
			out = append(out, p)
		}
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out
}

// firstWords returns the prefix of p that ends with its n-th word, and
// whether p has more words than that.
func firstWords(p string, n int) (string, bool) {
	inWord, count := false, 0
	for i, r := range p {
		space := unicode.IsSpace(r)
		if !space && !inWord {
			count++
			if count == n+1 {
				return strings.TrimRightFunc(p[:i], unicode.IsSpace), true
			}
		}
		inWord = !space
	}
	return p, false
}
