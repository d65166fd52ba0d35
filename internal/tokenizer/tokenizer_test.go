package tokenizer

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"
)

// synthSPM builds a small SentencePiece vocabulary whose spaces are written as
// space (" " or "▁"): <unk>, <s>, </s>, the 256 byte tokens, then the pieces.
func synthSPM(tb testing.TB, space string) *SentencePiece {
	tb.Helper()
	tokens := []string{"<unk>", "<s>", "</s>"}
	types := []int32{2, 3, 3}
	scores := []float32{0, 0, 0}
	for b := range 256 {
		tokens = append(tokens, fmt.Sprintf("<0x%02X>", b))
		types = append(types, 6)
		scores = append(scores, 0)
	}
	pieces := []struct {
		s     string
		score float32
	}{
		{"_", -100}, {"a", -100}, {"b", -100}, {"c", -100}, {"<", -100}, {"s", -100}, {">", -100},
		{"bc", -0.5}, {"ab", -1}, {"aa", -2}, {"_a", -3}, {"_b", -3}, {"__", -4}, {"<s", -5},
		{"_ab", -6}, {"ca", -7}, {"cab", -0.1},
	}
	for _, p := range pieces {
		tokens = append(tokens, strings.ReplaceAll(p.s, "_", space))
		types = append(types, 1)
		scores = append(scores, p.score)
	}
	tok, err := NewSentencePiece(tokens, scores, types, 1, 2)
	if err != nil {
		tb.Fatal(err)
	}
	return tok
}

// synthBPE builds a small byte-level BPE vocabulary: the 256 byte characters,
// a few merges and <|endoftext|> as BOS and EOS.
func synthBPE(tb testing.TB) *BPE {
	tb.Helper()
	var tokens []string
	for _, r := range byteRunes {
		tokens = append(tokens, string(r))
	}
	merges := []string{"Ġ t", "h e", "Ġt he", "l l", "e ll", "he ll", "hell o", "a a", "aa aa", "Ġ Ġ", "ĠĠ ĠĠ", "Ċ Ċ", "1 2", "' s"}
	for _, m := range merges {
		tokens = append(tokens, strings.Replace(m, " ", "", 1))
	}
	tokens = append(tokens, "<|endoftext|>")
	eot := len(tokens) - 1
	tok, err := NewBPE(tokens, merges, nil, eot, eot)
	if err != nil {
		tb.Fatal(err)
	}
	return tok
}

// pieces returns the vocabulary strings of ids.
func pieces(tok Tokenizer, ids []int) []string {
	s := make([]string, len(ids))
	for i, id := range ids {
		s[i] = tok.Piece(id)
	}
	return s
}

func TestSentencePieceEncode(t *testing.T) {
	tests := []struct {
		text string
		bos  bool
		want []string // with "_" for the vocabulary's space
	}{
		{"", false, []string{}},
		{"", true, []string{"<s>"}},
		{"a", true, []string{"<s>", "_a"}},
		{"abc", false, []string{"_a", "bc"}},              // bc scores above the leftmost ab
		{"aaa", false, []string{"_", "aa", "a"}},          // aa (-2) beats _a (-3); the leftmost aa
		{"cab", false, []string{"_", "cab"}},              // ab, then cab (ca never)
		{"a b", false, []string{"_a", "_b"}},              // every space is written as the space piece
		{" a", false, []string{"_", "_a"}},                // dummy prefix plus the text's own space
		{"é", false, []string{"_", "<0xC3>", "<0xA9>"}},   // byte fallback; bytes never merge
		{"<s>", false, []string{"_", "<s", ">"}},          // control tokens are not matched
		{"a\x80b", false, []string{"_a", "<0x80>", "b"}},  // invalid UTF-8 falls back to bytes
		{"aé", false, []string{"_a", "<0xC3>", "<0xA9>"}}, //
		{"a  b", false, []string{"_a", "_", "_b"}},        //
		{"\u2581a", false, []string{"_", "_a"}},           // a literal ▁ in text reads as a space in "▁" vocabularies
		{"\U0001F999", false, []string{"_", "<0xF0>", "<0x9F>", "<0xA6>", "<0x99>"}},
	}
	for _, space := range []string{"\u2581", " "} {
		tok := synthSPM(t, space)
		for _, tt := range tests {
			want := make([]string, len(tt.want))
			for i, p := range tt.want {
				want[i] = strings.ReplaceAll(p, "_", space)
			}
			if space == " " && strings.Contains(tt.text, "\u2581") {
				continue // only "▁" vocabularies read ▁ as a space
			}
			got := pieces(tok, tok.Encode(tt.text, tt.bos))
			if !slices.Equal(got, want) {
				t.Errorf("space %q: Encode(%q, %v) = %q, want %q", space, tt.text, tt.bos, got, want)
			}
			if ref := pieces(tok, refSPM(tok, tt.text, tt.bos)); !slices.Equal(got, ref) {
				t.Errorf("space %q: Encode(%q) = %q, llama2.c's loop gives %q", space, tt.text, got, ref)
			}
		}
	}
}

func TestSentencePieceDecode(t *testing.T) {
	tok := synthSPM(t, "\u2581")
	id := func(p string) int {
		for i := range tok.VocabSize() {
			if tok.Piece(i) == strings.ReplaceAll(p, "_", "\u2581") {
				return i
			}
		}
		t.Fatalf("no piece %q", p)
		return -1
	}
	tests := []struct {
		ids  []string
		want string
	}{
		{[]string{"<s>", "_a", "_b"}, "a b"},                // the dummy prefix after BOS is dropped
		{[]string{"_a", "_b"}, " a b"},                      // only after BOS
		{[]string{"<s>", "__", "a"}, " a"},                  // one space only
		{[]string{"<s>", "<0x20>", "a"}, " a"},              // byte tokens keep their space, as in llama2.c
		{[]string{"_a", "</s>", "<s>", "_b"}, " ab"},        // control tokens decode to nothing
		{[]string{"<s>", "_", "<0xC3>", "<0xA9>"}, "é"},     // bytes
		{[]string{"<unk>"}, "<unk>"},                        // unknown tokens show their piece
		{[]string{"_", "<0xC3>"}, " \xc3"},                  // Decode returns bytes as they are
		{[]string{}, ""},                                    //
		{[]string{"<s>", "<s>", "_a"}, "a"},                 //
		{[]string{"<s>", "_ab", "ca", "bc"}, "abcabc"},      //
		{[]string{"ab", "<s>", "ab", "<s>", "_a"}, "ababa"}, //
	}
	for _, tt := range tests {
		ids := make([]int, len(tt.ids))
		for i, p := range tt.ids {
			ids[i] = id(p)
		}
		if got := tok.Decode(ids); got != tt.want {
			t.Errorf("Decode(%q) = %q, want %q", tt.ids, got, tt.want)
		}
	}
	if got := tok.Decode([]int{-1, tok.VocabSize(), id("_a")}); got != " a" {
		t.Errorf("Decode with out-of-range ids = %q, want %q", got, " a")
	}
	if p := tok.Piece(tok.VocabSize()); p != "" {
		t.Errorf("Piece(VocabSize()) = %q, want \"\"", p)
	}
}

// stream decodes ids with a Decoder, checking that every piece it returns is
// valid UTF-8, and returns the pieces.
func stream(t *testing.T, tok Tokenizer, ids []int) []string {
	t.Helper()
	d := tok.NewDecoder()
	var out []string
	for _, id := range ids {
		out = append(out, d.Next(id))
	}
	out = append(out, d.Flush())
	for _, s := range out {
		if !utf8.ValidString(s) {
			t.Errorf("decoder emitted invalid UTF-8 %q for ids %v", s, ids)
		}
	}
	return out
}

func TestDecoder(t *testing.T) {
	tok := synthSPM(t, "\u2581")
	b := func(x byte) int { return int(tok.byteIDs[x]) }
	a, bos := int(tok.ids["\u2581a"]), tok.BOS()
	tests := []struct {
		name string
		ids  []int
		want []string // one per Next, then Flush
	}{
		{"split character", []int{bos, a, b(0xE4), b(0xB8), b(0xAD), a}, []string{"", "a", "", "", "中", " a", ""}},
		{"emoji", []int{b(0xF0), b(0x9F), b(0xA6), b(0x99)}, []string{"", "", "", "\U0001F999", ""}},
		{"broken then text", []int{b(0xE4), a}, []string{"", "\uFFFD a", ""}},
		{"stray continuation", []int{b(0x80), a}, []string{"\uFFFD", " a", ""}},
		{"incomplete at end", []int{a, b(0xE4), b(0xB8)}, []string{" a", "", "", "\uFFFD\uFFFD"}},
		{"two-byte then new lead", []int{b(0xC3), b(0xC3), b(0xA9)}, []string{"", "\uFFFD", "é", ""}},
		{"bos strip", []int{bos, a, bos, a}, []string{"", "a", "", "a", ""}},
	}
	for _, tt := range tests {
		got := stream(t, tok, tt.ids)
		if !slices.Equal(got, tt.want) {
			t.Errorf("%s: pieces %q, want %q", tt.name, got, tt.want)
		}
	}

	// Flush resets: a new stream starts without the previous one's state.
	d := tok.NewDecoder()
	d.Next(b(0xE4))
	d.Flush()
	if got := d.Next(bos) + d.Next(a); got != "a" {
		t.Errorf("after Flush: %q, want %q", got, "a")
	}
}

// TestDecoderRandom checks on random id sequences that the streamed text is
// the valid-UTF-8 form of Decode's.
func TestDecoderRandom(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, tok := range []Tokenizer{synthSPM(t, "\u2581"), synthSPM(t, " "), synthBPE(t)} {
		for range 2000 {
			ids := make([]int, r.IntN(12))
			for i := range ids {
				ids[i] = r.IntN(tok.VocabSize())
			}
			got := strings.Join(stream(t, tok, ids), "")
			if want := string([]rune(tok.Decode(ids))); got != want {
				t.Fatalf("ids %v: streamed %q, want %q", ids, got, want)
			}
		}
	}
}

func TestBPEEncode(t *testing.T) {
	tok := synthBPE(t)
	tests := []struct {
		text string
		bos  bool
		want []string
	}{
		{"", false, []string{}},
		{"", true, []string{"<|endoftext|>"}},
		{"hello the", false, []string{"hello", "Ġthe"}},
		{"aaaaa", false, []string{"aaaa", "a"}},                      // leftmost first on equal rank
		{"hello's", false, []string{"hello", "'s"}},                  // contraction is its own word
		{"    the", false, []string{"ĠĠ", "Ġ", "Ġthe"}},              // \s+(?!\S) leaves the last space to " the"
		{"\n\n\n", false, []string{"ĊĊ", "Ċ"}},                       //
		{"<|endoftext|>", false, strings.Split("<|endoftext|>", "")}, // control tokens are not matched from text
		{"12", false, []string{"12"}},
	}
	for _, tt := range tests {
		got := pieces(tok, tok.Encode(tt.text, tt.bos))
		if !slices.Equal(got, tt.want) {
			t.Errorf("Encode(%q, %v) = %q, want %q", tt.text, tt.bos, got, tt.want)
		}
		if dec := tok.Decode(tok.Encode(tt.text, tt.bos)); dec != tt.text {
			t.Errorf("Decode(Encode(%q)) = %q", tt.text, dec)
		}
	}
}

func TestGPT2Split(t *testing.T) {
	tests := []struct {
		text string
		want []string
	}{
		{"Hello world", []string{"Hello", " world"}},
		{"  hi", []string{" ", " hi"}},
		{"a  \n b", []string{"a", "  \n", " b"}},
		{"x   ", []string{"x", "   "}},
		{"it's", []string{"it", "'s"}},
		{"'S", []string{"'", "S"}}, // contractions are case-sensitive
		{"we'll've 'd", []string{"we", "'ll", "'ve", " '", "d"}},
		{"\t\tx", []string{"\t", "\t", "x"}},
		{"a1½b", []string{"a", "1½", "b"}},
		{" ,.!x", []string{" ,.!", "x"}},
		{" 42 ", []string{" 42", " "}},
		{"a\u00a0b", []string{"a", "\u00a0", "b"}}, // no-break space is white space, but not " "
		{"\xff\xfea", []string{"\xff\xfe", "a"}},   // invalid bytes are "other" characters
	}
	for _, tt := range tests {
		var got []string
		for s := tt.text; len(s) > 0; {
			n := gpt2Word(s)
			got = append(got, s[:n])
			s = s[n:]
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("split %q = %q, want %q", tt.text, got, tt.want)
		}
		if ref := refGPT2Split(tt.text); !slices.Equal(ref, tt.want) {
			t.Errorf("regexp split %q = %q, want %q", tt.text, ref, tt.want)
		}
	}
}

func TestConstructorErrors(t *testing.T) {
	tokens := []string{"<unk>", "<s>", "</s>", "a"}
	scores := []float32{0, 0, 0, -1}
	spm := []struct {
		name   string
		tokens []string
		scores []float32
		types  []int32
		bos    int
		eos    int
		want   string
	}{
		{"empty", nil, nil, nil, -1, -1, "empty vocabulary"},
		{"scores", tokens, scores[:3], nil, 1, 2, "3 scores for 4 tokens"},
		{"types", tokens, scores, []int32{1}, 1, 2, "1 token types for 4 tokens"},
		{"bos", tokens, scores, nil, 4, 2, "BOS id 4"},
		{"eos", tokens, scores, nil, 1, -2, "EOS id -2"},
	}
	for _, tt := range spm {
		_, err := NewSentencePiece(tt.tokens, tt.scores, tt.types, tt.bos, tt.eos)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("NewSentencePiece %s: error %v, want one containing %q", tt.name, err, tt.want)
		}
	}
	if _, err := NewSentencePiece(tokens, scores, nil, -1, -1); err != nil {
		t.Errorf("NewSentencePiece without BOS/EOS: %v", err)
	}

	var bytes []string
	for _, r := range byteRunes {
		bytes = append(bytes, string(r))
	}
	withAB := append(slices.Clone(bytes), "ab")
	bpe := []struct {
		name   string
		tokens []string
		merges []string
		want   string
	}{
		{"empty", nil, nil, "empty vocabulary"},
		{"missing byte", bytes[1:], nil, "byte 0x00"},
		{"no space", withAB, []string{"ab"}, `merge 0 ("ab") is not two tokens`},
		{"unknown side", withAB, []string{"a xyz"}, `"xyz" is not a token`},
		{"unknown result", withAB, []string{"a c"}, `"ac" is not a token`},
	}
	for _, tt := range bpe {
		_, err := NewBPE(tt.tokens, tt.merges, nil, -1, -1)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("NewBPE %s: error %v, want one containing %q", tt.name, err, tt.want)
		}
	}
	if _, err := NewBPE(withAB, []string{"a b"}, nil, -1, -1); err != nil {
		t.Errorf("NewBPE: %v", err)
	}
}

// TestConcurrentEncode encodes from several goroutines at once (the scratch
// pools and word caches are shared) and compares with sequential results.
func TestConcurrentEncode(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	alphabet := []rune("ab c\n'é中hello the 12")
	texts := make([]string, 64)
	for i := range texts {
		rs := make([]rune, r.IntN(200))
		for j := range rs {
			rs[j] = alphabet[r.IntN(len(alphabet))]
		}
		texts[i] = string(rs)
	}
	for _, tok := range []Tokenizer{synthSPM(t, "\u2581"), synthBPE(t)} {
		want := make([][]int, len(texts))
		for i, s := range texts {
			want[i] = tok.Encode(s, true)
		}
		var wg sync.WaitGroup
		errs := make(chan string, len(texts)*4)
		for g := range 4 {
			wg.Go(func() {
				for k := range texts {
					i := (k + g*16) % len(texts)
					if got := tok.Encode(texts[i], true); !slices.Equal(got, want[i]) {
						errs <- fmt.Sprintf("Encode(%q) = %v concurrently, %v alone", texts[i], got, want[i])
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		for e := range errs {
			t.Error(e)
		}
	}
}
