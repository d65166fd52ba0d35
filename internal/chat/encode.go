package chat

import (
	"strings"

	"github.com/unswift/unswift/internal/tokenizer"
)

// Encoder tokenizes conversations rendered with a template for one
// vocabulary. It is safe for concurrent use.
type Encoder struct {
	t   *Template
	tok tokenizer.Tokenizer
	// specials maps the template's special tokens that the vocabulary has
	// to their ids.
	specials map[string]int
	ends     map[int]bool // end-of-turn ids: EOS, BOS and the template's ends
}

// Encoder returns an encoder of t's conversations for tok, looking up t's
// special tokens in tok's vocabulary once.
func (t *Template) Encoder(tok tokenizer.Tokenizer) *Encoder {
	want := map[string]bool{}
	for _, p := range t.render([]Message{{"system", ""}, {"user", ""}, {"assistant", ""}, {"user", ""}}) {
		if p.special {
			want[p.text] = true
		}
	}
	for _, e := range t.ends {
		want[e] = true
	}
	ids := map[string]int{}
	for id := 0; id < tok.VocabSize() && len(ids) < len(want); id++ {
		if p := tok.Piece(id); want[p] {
			if _, dup := ids[p]; !dup {
				ids[p] = id
			}
		}
	}
	e := &Encoder{t: t, tok: tok, specials: ids, ends: map[int]bool{}}
	for _, id := range []int{tok.EOS(), tok.BOS()} {
		if id >= 0 {
			e.ends[id] = true
		}
	}
	for _, s := range t.ends {
		if id, ok := ids[s]; ok {
			e.ends[id] = true
		}
	}
	return e
}

// Encode renders msgs with t and tokenizes them with tok; see
// [Encoder.Encode]. An Encoder does the vocabulary look-up once for many
// conversations.
func (t *Template) Encode(tok tokenizer.Tokenizer, msgs []Message) []int {
	return t.Encoder(tok).Encode(msgs)
}

// Template is the encoder's template.
func (e *Encoder) Template() *Template { return e.t }

// Tokenizer is the encoder's tokenizer.
func (e *Encoder) Tokenizer() tokenizer.Tokenizer { return e.tok }

// Special returns the id of a special token of the template (its vocabulary
// string, such as "<|im_end|>"), or false when the vocabulary lacks it.
func (e *Encoder) Special(piece string) (int, bool) {
	id, ok := e.specials[piece]
	return id, ok
}

// IsEnd reports whether id ends a reply: the vocabulary's EOS or BOS, or one
// of the template's end-of-turn tokens.
func (e *Encoder) IsEnd(id int) bool { return e.ends[id] }

// Encode renders msgs and tokenizes them: BOS (when the vocabulary has one),
// then each text run encoded on its own and each special token by its id
// (spelled out as text when the vocabulary lacks it).
func (e *Encoder) Encode(msgs []Message) []int {
	ids := e.tok.Encode("", true)
	var pending strings.Builder
	flush := func() {
		if pending.Len() > 0 {
			ids = append(ids, e.tok.Encode(pending.String(), false)...)
			pending.Reset()
		}
	}
	for _, p := range e.t.render(msgs) {
		if id, ok := e.specials[p.text]; ok && p.special {
			flush()
			ids = append(ids, id)
			continue
		}
		pending.WriteString(p.text)
	}
	flush()
	return ids
}
