package tokenizer

import (
	"fmt"
	"strings"
	"sync"
	"unicode/utf8"
)

// spaceMark is the character SentencePiece vocabularies write for a space.
const spaceMark = "\u2581" // ▁

// maxChunk bounds the bytes merged as one segment so that symbol offsets fit in
// int32: a segment of text that no vocabulary piece could cut (over a gigabyte
// of it) is encoded in consecutive chunks.
const maxChunk = 1 << 30

// SentencePiece is a SentencePiece-style BPE tokenizer: the text is split into
// characters and the adjacent pair whose concatenation is in the vocabulary with
// the highest score is merged until no pair is left, exactly as llama2.c's encode
// and SentencePiece's BPE model do (ties go to the leftmost pair). Characters
// missing from the vocabulary fall back to byte tokens.
//
// Vocabularies that write a space as "▁" (U+2581), like those in GGUF files, and
// those that use a plain space, like llama2.c's tokenizer.bin, are both handled:
// spaces are written as "▁" when some piece contains "▁" and none contains a
// space.
type SentencePiece struct {
	tokens  []string
	scores  []float32
	types   []TokenType
	ids     map[string]int32    // tokens that text may match
	byteIDs [256]int32          // token for each raw byte, or -1
	pairs   map[uint64]struct{} // character pairs (a<<32 | b) found inside matchable pieces
	escape  bool                // the vocabulary writes spaces as ▁
	bos     int
	eos     int
	pt      pieceTable
	scratch sync.Pool // *spmScratch
	cache   wordCache
}

// NewSentencePiece returns a SentencePiece tokenizer over the given vocabulary.
// scores must have one entry per token. types holds a TokenType per token; when
// nil (llama2.c files carry none) it is inferred: bos and eos are control tokens,
// "<unk>" is unknown, "<0xNN>" are byte tokens and all others are normal. bos and
// eos are token ids, or -1 when the vocabulary has none.
//
// Byte fallback uses the "<0xNN>" token of a byte when the vocabulary has one and
// otherwise id byte+3, as llama2.c does. The tokenizer keeps tokens and scores,
// which must not be modified afterwards.
func NewSentencePiece(tokens []string, scores []float32, types []int32, bos, eos int) (*SentencePiece, error) {
	n := len(tokens)
	if n == 0 {
		return nil, fmt.Errorf("tokenizer: empty vocabulary")
	}
	if len(scores) != n {
		return nil, fmt.Errorf("tokenizer: %d scores for %d tokens", len(scores), n)
	}
	if types != nil && len(types) != n {
		return nil, fmt.Errorf("tokenizer: %d token types for %d tokens", len(types), n)
	}
	if err := checkSpecial(n, bos, eos); err != nil {
		return nil, err
	}
	t := &SentencePiece{
		tokens: tokens,
		scores: scores,
		types:  make([]TokenType, n),
		ids:    make(map[string]int32, n),
		pairs:  make(map[uint64]struct{}),
		bos:    bos,
		eos:    eos,
	}
	for i, s := range tokens {
		switch {
		case types != nil:
			t.types[i] = TokenType(types[i])
		case i == bos || i == eos:
			t.types[i] = TypeControl
		case s == "<unk>":
			t.types[i] = TypeUnknown
		default:
			if _, ok := parseByteToken(s); ok {
				t.types[i] = TypeByte
			} else {
				t.types[i] = TypeNormal
			}
		}
	}

	byteTok := make(map[string]int32, 256) // "<0xNN>" → id, byte-typed first
	unk := int32(-1)
	marks, spaces := false, false // matchable pieces contain "▁", " "
	for i, s := range tokens {
		typ := t.types[i]
		if typ.matchable() {
			if _, dup := t.ids[s]; !dup {
				t.ids[s] = int32(i)
			}
			prev := rune(-1)
			for _, r := range s {
				if prev >= 0 {
					t.pairs[uint64(prev)<<32|uint64(r)] = struct{}{}
				}
				prev = r
			}
			marks = marks || strings.Contains(s, spaceMark)
			spaces = spaces || strings.Contains(s, " ")
		}
		if typ == TypeUnknown && unk < 0 {
			unk = int32(i)
		}
		if _, ok := parseByteToken(s); ok {
			if prev, dup := byteTok[s]; !dup || (t.types[prev] != TypeByte && typ == TypeByte) {
				byteTok[s] = int32(i)
			}
		}
	}
	t.escape = marks && !spaces
	for b := range 256 {
		id, ok := byteTok[fmt.Sprintf("<0x%02X>", b)]
		switch {
		case ok:
		case b+3 < n:
			id = int32(b + 3)
		default:
			id = unk
		}
		t.byteIDs[b] = id
	}

	t.pt = pieceTable{text: make([]string, n), stripAfterBOS: make([]bool, n), bos: bos}
	for i, s := range tokens {
		switch t.types[i] {
		case TypeControl:
			continue
		case TypeByte:
			if b, ok := parseByteToken(s); ok {
				t.pt.text[i] = string([]byte{b})
				continue
			}
		}
		if t.escape {
			s = strings.ReplaceAll(s, spaceMark, " ")
		}
		t.pt.text[i] = s
		t.pt.stripAfterBOS[i] = strings.HasPrefix(s, " ")
	}
	return t, nil
}

// checkSpecial validates the BOS and EOS ids of a vocabulary of n tokens.
func checkSpecial(n, bos, eos int) error {
	if bos < -1 || bos >= n {
		return fmt.Errorf("tokenizer: BOS id %d outside the vocabulary of %d tokens", bos, n)
	}
	if eos < -1 || eos >= n {
		return fmt.Errorf("tokenizer: EOS id %d outside the vocabulary of %d tokens", eos, n)
	}
	return nil
}

// parseByteToken parses a byte token of the form "<0xNN>" (upper-case hex).
func parseByteToken(s string) (byte, bool) {
	if len(s) != 6 || s[:3] != "<0x" || s[5] != '>' {
		return 0, false
	}
	hi, ok1 := hexDigit(s[3])
	lo, ok2 := hexDigit(s[4])
	return hi<<4 | lo, ok1 && ok2
}

func hexDigit(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// VocabSize returns the number of tokens.
func (t *SentencePiece) VocabSize() int { return len(t.tokens) }

// BOS returns the beginning-of-sequence id, or -1.
func (t *SentencePiece) BOS() int { return t.bos }

// EOS returns the end-of-sequence id, or -1.
func (t *SentencePiece) EOS() int { return t.eos }

// Piece returns the vocabulary string of id, or "" when id is out of range.
func (t *SentencePiece) Piece(id int) string {
	if id < 0 || id >= len(t.tokens) {
		return ""
	}
	return t.tokens[id]
}

// Score returns the merge score of id, or 0 when id is out of range.
func (t *SentencePiece) Score(id int) float32 {
	if id < 0 || id >= len(t.scores) {
		return 0
	}
	return t.scores[id]
}

// Type returns the type of id, or TypeUndefined when id is out of range.
func (t *SentencePiece) Type(id int) TokenType {
	if id < 0 || id >= len(t.types) {
		return TypeUndefined
	}
	return t.types[id]
}

// Decode returns the text of ids. A leading space of the token right after BOS
// is dropped (it is the dummy prefix that Encode adds), so that
// Decode(Encode(s, true)) == s for text without "▁" that the vocabulary covers.
func (t *SentencePiece) Decode(ids []int) string { return t.pt.decode(ids) }

// NewDecoder returns a streaming decoder with the semantics of Decode.
func (t *SentencePiece) NewDecoder() *Decoder { return newDecoder(&t.pt) }

// Encode returns the token ids of text, after BOS when addBOS is set. A
// non-empty text gets a leading space (SentencePiece's dummy prefix); in "▁"
// vocabularies every space is written as "▁". Control tokens are never matched
// from text.
func (t *SentencePiece) Encode(text string, addBOS bool) []int {
	out := make([]int, 0, len(text)/3+2)
	if addBOS && t.bos >= 0 {
		out = append(out, t.bos)
	}
	if text == "" {
		return out
	}
	var s string
	if t.escape {
		s = spaceMark + strings.ReplaceAll(text, " ", spaceMark)
	} else {
		s = " " + text
	}
	sc, _ := t.scratch.Get().(*spmScratch)
	if sc == nil {
		sc = new(spmScratch)
	}
	out = t.encode(sc, s, out)
	t.scratch.Put(sc)
	return out
}

// spmSym is a symbol of the merge list: the bytes s[start:end] as token id.
type spmSym struct {
	start, end int32
	prev, next int32 // neighbours, -1 at the ends
	id         int32
	alive      bool // false once merged into its left neighbour
}

// spmCand is a candidate merge of symbol left and its right neighbour into
// token id, size bytes in all. It is stale once either side has changed, which
// shows in the size: symbols only grow.
type spmCand struct {
	score float32
	left  int32
	size  int32
	id    int32
}

func (a spmCand) before(b spmCand) bool {
	return a.score > b.score || (a.score == b.score && a.left < b.left)
}

type spmScratch struct {
	syms []spmSym
	heap minHeap[spmCand]
}

// encode appends the tokens of s (already prefixed and escaped) to out.
//
// Merging is done segment by segment: the text is cut between two characters
// when no vocabulary piece contains that pair of characters (so no merge can
// ever join them) and around byte-fallback tokens. Each segment then merges on
// its own with a small heap, which gives the same result as one global merge
// loop and keeps the work local (and fast) on long texts.
func (t *SentencePiece) encode(sc *spmScratch, s string, out []int) []int {
	seg := sc.syms[:0]
	base := 0 // offset in s of the segment's first byte
	var last rune
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		id, ok := t.ids[s[i:i+size]]
		if len(seg) > 0 && (!ok || !t.joinable(last, r) || i+size-base > maxChunk) {
			out = t.merge(sc, s[base:i], seg, out)
			seg = sc.syms[:0]
		}
		if !ok {
			for j := i; j < i+size; j++ {
				if id := t.byteIDs[s[j]]; id >= 0 {
					out = append(out, int(id))
				}
			}
		} else {
			if len(seg) == 0 {
				base = i
			}
			seg = append(seg, spmSym{start: int32(i - base), end: int32(i + size - base), id: id, alive: true})
			last = r
		}
		i += size
	}
	if len(seg) > 0 {
		out = t.merge(sc, s[base:], seg, out)
	}
	return out
}

// joinable reports whether some piece of the vocabulary contains a followed by b.
func (t *SentencePiece) joinable(a, b rune) bool {
	_, ok := t.pairs[uint64(a)<<32|uint64(b)]
	return ok
}

// merge runs the merge loop over the symbols syms of the segment s and appends
// the resulting ids to out.
func (t *SentencePiece) merge(sc *spmScratch, s string, syms []spmSym, out []int) []int {
	sc.syms = syms
	if len(syms) == 1 {
		return append(out, int(syms[0].id))
	}
	cacheable := len(s) <= maxCachedWord
	if cacheable {
		var ok bool
		if out, ok = t.cache.appendTo(out, s); ok {
			return out
		}
	}
	for i := range syms {
		syms[i].prev = int32(i - 1)
		syms[i].next = int32(i + 1)
	}
	syms[len(syms)-1].next = -1

	cands := sc.heap.items[:0]
	for i := 1; i < len(syms); i++ {
		a, b := syms[i-1].start, syms[i].end
		if id, ok := t.ids[s[a:b]]; ok {
			cands = append(cands, spmCand{score: t.scores[id], left: int32(i - 1), size: b - a, id: id})
		}
	}
	h := &sc.heap
	h.init(cands)
	try := func(l int32) {
		if l < 0 || syms[l].next < 0 {
			return
		}
		a, b := syms[l].start, syms[syms[l].next].end
		if id, ok := t.ids[s[a:b]]; ok {
			h.push(spmCand{score: t.scores[id], left: l, size: b - a, id: id})
		}
	}
	for h.len() > 0 {
		c := h.pop()
		l := &syms[c.left]
		if !l.alive || l.next < 0 || syms[l.next].end-l.start != c.size {
			continue // stale: one side has changed since the candidate was queued
		}
		r := &syms[l.next]
		l.end = r.end
		l.id = c.id
		l.next = r.next
		if r.next >= 0 {
			syms[r.next].prev = c.left
		}
		r.alive = false
		try(l.prev)
		try(c.left)
	}
	start := len(out)
	for i := int32(0); i >= 0; i = syms[i].next {
		out = append(out, int(syms[i].id))
	}
	if cacheable {
		t.cache.put(s, out[start:])
	}
	return out
}
