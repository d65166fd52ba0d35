package metrics

import (
	"math"
	"strings"
)

// PPL accumulates what perplexity and bits per byte are computed from.
type PPL struct {
	NLL    float64 // summed negative log-likelihood of the scored tokens, in nats
	Tokens int     // tokens scored
	Bytes  int     // UTF-8 bytes of the text those tokens encode
}

// Add accumulates another count into p.
func (p *PPL) Add(o PPL) {
	p.NLL += o.NLL
	p.Tokens += o.Tokens
	p.Bytes += o.Bytes
}

// PPL returns the perplexity exp(NLL/Tokens), NaN when no token was scored.
func (p PPL) PPL() float64 {
	if p.Tokens <= 0 {
		return math.NaN()
	}
	return math.Exp(p.NLL / float64(p.Tokens))
}

// BitsPerByte returns NLL / ln 2 / Bytes, the tokenizer-independent measure (it can
// be compared between models with different vocabularies), NaN when Bytes is 0.
func (p PPL) BitsPerByte() float64 {
	if p.Bytes <= 0 {
		return math.NaN()
	}
	return p.NLL / math.Ln2 / float64(p.Bytes)
}

// Paragraphs splits text into paragraphs for perplexity evaluation: the text is cut
// at blank lines (lines that are empty or hold only spaces, tabs or a carriage
// return, so WikiText's " " lines count), each piece is stripped of leading and
// trailing spaces, tabs, carriage returns and newlines, empty pieces are dropped, and
// the first limit pieces are returned (all of them when limit ≤ 0). Lines inside a
// paragraph keep their own spacing and are joined by "\n".
func Paragraphs(text string, limit int) []string {
	var out []string
	var cur []string
	flush := func() {
		if p := strings.Trim(strings.Join(cur, "\n"), " \t\r\n"); p != "" {
			out = append(out, p)
		}
		cur = cur[:0]
	}
	for line := range strings.SplitSeq(text, "\n") {
		if limit > 0 && len(out) >= limit {
			return out
		}
		if strings.Trim(line, " \t\r") == "" {
			flush()
			continue
		}
		cur = append(cur, line)
	}
	flush()
	if limit > 0 && len(out) > limit {
		out = out[:limit]
	}
	return out
}
