package tokenizer

import (
	"fmt"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"
)

// BPE is a GPT-2 style byte-level BPE tokenizer: the text is split into words by
// GPT-2's pre-tokenizer, each word's bytes are written as the printable
// characters of GPT-2's byte-to-unicode table, and adjacent pairs are merged by
// the rank of their merge rule (lowest rank first, ties to the leftmost pair)
// until no rule applies.
type BPE struct {
	tokens  []string
	types   []TokenType
	byteIDs [256]int32          // token of each single byte
	merges  map[uint64]bpeMerge // (left id << 32 | right id) → rule
	bos     int
	eos     int
	pt      pieceTable
	scratch sync.Pool // *bpeScratch
	cache   wordCache
	word    func(string) int // length of the first word (the pre-tokenizer)
	whole   map[string]int32 // with IgnoreMerges: byte-level token text → id
}

// bpeMerge is a merge rule: its rank (lower merges first) and the merged token.
type bpeMerge struct {
	rank int32
	id   int32
}

// byteRunes maps each byte to the character that stands for it in byte-level
// BPE vocabularies (GPT-2's bytes_to_unicode): printable Latin-1 bytes map to
// themselves and the others, in order, to U+0100 onwards.
var byteRunes = func() (m [256]rune) {
	n := rune(0)
	for b := range 256 {
		if '!' <= b && b <= '~' || '¡' <= b && b <= '¬' || '®' <= b && b <= 'ÿ' {
			m[b] = rune(b)
		} else {
			m[b] = 256 + n
			n++
		}
	}
	return m
}()

// runeBytes is the inverse of byteRunes.
var runeBytes = func() map[rune]byte {
	m := make(map[rune]byte, 256)
	for b, r := range byteRunes {
		m[r] = byte(b)
	}
	return m
}()

// NewBPE returns a byte-level BPE tokenizer. merges holds the merge rules in
// rank order, each two tokens separated by one space ("Ġ t"). types holds a
// TokenType per token, or is nil to treat bos and eos as control tokens and all
// others as normal. bos and eos are token ids, or -1 when there is none. Every
// byte's character must be a token, and both sides of every merge and their
// concatenation must be tokens. The tokenizer keeps tokens, which must not be
// modified afterwards.
func NewBPE(tokens []string, merges []string, types []int32, bos, eos int) (*BPE, error) {
	return NewBPEWithOptions(tokens, merges, types, bos, eos, BPEOptions{})
}

// NewBPEWithOptions is NewBPE with a choice of pre-tokenizer and merge rule.
func NewBPEWithOptions(tokens []string, merges []string, types []int32, bos, eos int, opt BPEOptions) (*BPE, error) {
	word, err := opt.Pre.split()
	if err != nil {
		return nil, err
	}
	n := len(tokens)
	if n == 0 {
		return nil, fmt.Errorf("tokenizer: empty vocabulary")
	}
	if types != nil && len(types) != n {
		return nil, fmt.Errorf("tokenizer: %d token types for %d tokens", len(types), n)
	}
	if err := checkSpecial(n, bos, eos); err != nil {
		return nil, err
	}
	t := &BPE{
		tokens: tokens,
		types:  make([]TokenType, n),
		merges: make(map[uint64]bpeMerge, len(merges)),
		bos:    bos,
		eos:    eos,
		word:   word,
	}
	ids := make(map[string]int32, n)
	for i, s := range tokens {
		switch {
		case types != nil:
			t.types[i] = TokenType(types[i])
		case i == bos || i == eos:
			t.types[i] = TypeControl
		default:
			t.types[i] = TypeNormal
		}
		if _, dup := ids[s]; !dup && t.types[i] != TypeControl {
			ids[s] = int32(i)
		}
	}
	for b, r := range byteRunes {
		id, ok := ids[string(r)]
		if !ok {
			return nil, fmt.Errorf("tokenizer: byte 0x%02X (%q) is not a token of the BPE vocabulary", b, r)
		}
		t.byteIDs[b] = id
	}
	for rank, m := range merges {
		a, b, ok := strings.Cut(m, " ")
		if !ok {
			return nil, fmt.Errorf("tokenizer: merge %d (%q) is not two tokens separated by a space", rank, m)
		}
		ia, oka := ids[a]
		ib, okb := ids[b]
		im, okm := ids[a+b]
		switch {
		case !oka:
			return nil, fmt.Errorf("tokenizer: merge %d (%q): %q is not a token", rank, m, a)
		case !okb:
			return nil, fmt.Errorf("tokenizer: merge %d (%q): %q is not a token", rank, m, b)
		case !okm:
			return nil, fmt.Errorf("tokenizer: merge %d (%q): %q is not a token", rank, m, a+b)
		}
		key := uint64(ia)<<32 | uint64(ib)
		if _, dup := t.merges[key]; !dup {
			t.merges[key] = bpeMerge{rank: int32(rank), id: im}
		}
	}

	if opt.IgnoreMerges {
		t.whole = ids
	}
	t.pt = pieceTable{text: make([]string, n), bos: bos}
	for i, s := range tokens {
		if t.types[i] == TypeControl {
			continue
		}
		b := make([]byte, 0, len(s))
		for _, r := range s {
			if c, ok := runeBytes[r]; ok {
				b = append(b, c)
			} else {
				b = utf8.AppendRune(b, r)
			}
		}
		t.pt.text[i] = string(b)
	}
	return t, nil
}

// VocabSize returns the number of tokens.
func (t *BPE) VocabSize() int { return len(t.tokens) }

// BOS returns the beginning-of-sequence id, or -1.
func (t *BPE) BOS() int { return t.bos }

// EOS returns the end-of-sequence id, or -1.
func (t *BPE) EOS() int { return t.eos }

// Piece returns the vocabulary string of id, or "" when id is out of range.
func (t *BPE) Piece(id int) string {
	if id < 0 || id >= len(t.tokens) {
		return ""
	}
	return t.tokens[id]
}

// Type returns the type of id, or TypeUndefined when id is out of range.
func (t *BPE) Type(id int) TokenType {
	if id < 0 || id >= len(t.types) {
		return TypeUndefined
	}
	return t.types[id]
}

// Decode returns the bytes that ids stand for; Decode(Encode(s, b)) == s for
// every s.
func (t *BPE) Decode(ids []int) string { return t.pt.decode(ids) }

// NewDecoder returns a streaming decoder with the semantics of Decode.
func (t *BPE) NewDecoder() *Decoder { return newDecoder(&t.pt) }

// Encode returns the token ids of text, after BOS when addBOS is set. Control
// tokens are never matched from text.
func (t *BPE) Encode(text string, addBOS bool) []int {
	out := make([]int, 0, len(text)/3+2)
	if addBOS && t.bos >= 0 {
		out = append(out, t.bos)
	}
	sc, _ := t.scratch.Get().(*bpeScratch)
	if sc == nil {
		sc = new(bpeScratch)
	}
	for len(text) > 0 {
		n := t.word(text)
		out = t.encodeWord(sc, text[:n], out)
		text = text[n:]
	}
	t.scratch.Put(sc)
	return out
}

// bpeSym is a symbol of a word being merged: the word's bytes from its own
// index to end, as token id (-1 once merged away).
type bpeSym struct {
	id         int32
	prev, next int32
	end        int32
}

// bpeCand is a candidate merge of symbol left with its right neighbour into
// token id, size bytes in all. It is stale once either side has changed, which
// shows in the size: symbols only grow.
type bpeCand struct {
	rank int32
	left int32
	size int32
	id   int32
}

func (a bpeCand) before(b bpeCand) bool {
	return a.rank < b.rank || (a.rank == b.rank && a.left < b.left)
}

type bpeScratch struct {
	syms []bpeSym
	heap minHeap[bpeCand]
}

// encodeWord appends the tokens of one pre-tokenized word to out.
func (t *BPE) encodeWord(sc *bpeScratch, w string, out []int) []int {
	for len(w) > maxChunk {
		// Absurdly long words (over a gigabyte) are merged in pieces so that
		// indices fit in int32.
		out = t.encodeWord(sc, w[:maxChunk], out)
		w = w[maxChunk:]
	}
	switch len(w) {
	case 0:
		return out
	case 1:
		return append(out, int(t.byteIDs[w[0]]))
	}
	cacheable := len(w) <= maxCachedWord
	if cacheable {
		var ok bool
		if out, ok = t.cache.appendTo(out, w); ok {
			return out
		}
	}
	if t.whole != nil {
		if id, ok := t.whole[byteLevel(w)]; ok {
			return append(out, int(id))
		}
	}

	syms := sc.syms[:0]
	for i := 0; i < len(w); i++ {
		syms = append(syms, bpeSym{id: t.byteIDs[w[i]], prev: int32(i - 1), next: int32(i + 1), end: int32(i + 1)})
	}
	syms[len(syms)-1].next = -1
	cands := sc.heap.items[:0]
	for i := 1; i < len(syms); i++ {
		if m, ok := t.merges[uint64(syms[i-1].id)<<32|uint64(syms[i].id)]; ok {
			cands = append(cands, bpeCand{rank: m.rank, left: int32(i - 1), size: 2, id: m.id})
		}
	}
	h := &sc.heap
	h.init(cands)
	try := func(l int32) {
		if l < 0 || syms[l].next < 0 {
			return
		}
		r := syms[l].next
		if m, ok := t.merges[uint64(syms[l].id)<<32|uint64(syms[r].id)]; ok {
			h.push(bpeCand{rank: m.rank, left: l, size: syms[r].end - l, id: m.id})
		}
	}
	for h.len() > 0 {
		c := h.pop()
		l := &syms[c.left]
		if l.id < 0 || l.next < 0 || syms[l.next].end-c.left != c.size {
			continue // stale: one side has changed since the candidate was queued
		}
		r := &syms[l.next]
		l.id = c.id
		l.next = r.next
		l.end = r.end
		if r.next >= 0 {
			syms[r.next].prev = c.left
		}
		r.id = -1
		try(l.prev)
		try(c.left)
	}
	start := len(out)
	for i := int32(0); i >= 0; i = syms[i].next {
		out = append(out, int(syms[i].id))
	}
	sc.syms = syms
	if cacheable {
		t.cache.put(w, out[start:])
	}
	return out
}

// byteLevel returns w written with the byte-level alphabet (byteRunes).
func byteLevel(w string) string {
	b := make([]byte, 0, 2*len(w))
	for i := 0; i < len(w); i++ {
		b = utf8.AppendRune(b, byteRunes[w[i]])
	}
	return string(b)
}

// gpt2Word returns the length in bytes of the first word of s (s non-empty) under
// GPT-2's pre-tokenizer regular expression
//
//	's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
//
// whose alternatives are tried in order at each position.
func gpt2Word(s string) int {
	if s[0] == '\'' && len(s) >= 2 {
		switch s[1] {
		case 's', 't', 'm', 'd':
			return 2
		}
		if len(s) >= 3 {
			switch s[1:3] {
			case "re", "ve", "ll":
				return 3
			}
		}
	}
	r, size := utf8.DecodeRuneInString(s)
	start := 0
	if r == ' ' && len(s) > 1 {
		// " ?X+" takes the space when a non-space follows it.
		if r2, size2 := utf8.DecodeRuneInString(s[1:]); !unicode.IsSpace(r2) {
			start, r, size = 1, r2, size2
		}
	}
	var class func(rune) bool
	switch {
	case unicode.IsLetter(r):
		class = unicode.IsLetter
	case unicode.IsNumber(r):
		class = unicode.IsNumber
	case !unicode.IsSpace(r):
		class = isOther
	default:
		// \s+(?!\S) takes the run of white space, less its last character when a
		// non-space follows; a single white-space character before a non-space is
		// taken by \s+.
		i, last := 0, 0
		for i < len(s) {
			r, n := utf8.DecodeRuneInString(s[i:])
			if !unicode.IsSpace(r) {
				break
			}
			i, last = i+n, n
		}
		if i < len(s) && i-last > 0 {
			return i - last
		}
		return i
	}
	i := start + size
	for i < len(s) {
		r, n := utf8.DecodeRuneInString(s[i:])
		if !class(r) {
			break
		}
		i += n
	}
	return i
}

// isOther reports whether r is neither white space, a letter nor a number.
func isOther(r rune) bool {
	return !unicode.IsSpace(r) && !unicode.IsLetter(r) && !unicode.IsNumber(r)
}
