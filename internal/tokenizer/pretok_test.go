package tokenizer

import (
	"fmt"
	"math/rand/v2"
	"regexp"
	"slices"
	"strings"
	"testing"
	"unicode"

	"github.com/unswift/unswift/internal/gguf"
)

// cl100kRegexp is the Llama 3 / Qwen2 expression for Go's regexp package:
// \s spelled as Unicode White_Space (Go's \s is ASCII only) and \s+(?!\S)
// rewritten without lookahead as white space up to the end (group 2) or
// white space followed by one more white-space character that the group
// excludes (group 3); group 4 is the final \s+.
func cl100kRegexp(digits string) *regexp.Regexp {
	var ws strings.Builder
	for _, tab := range []*unicode.RangeTable{unicode.White_Space} {
		for _, r := range tab.R16 {
			for c := r.Lo; c <= r.Hi; c += r.Stride {
				fmt.Fprintf(&ws, `\x{%x}`, c)
			}
		}
		for _, r := range tab.R32 {
			for c := r.Lo; c <= r.Hi; c += r.Stride {
				fmt.Fprintf(&ws, `\x{%x}`, c)
			}
		}
	}
	s, ns := "["+ws.String()+"]", ws.String()
	return regexp.MustCompile(`^(?:((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}` + digits +
		`| ?[^` + ns + `\p{L}\p{N}]+[\r\n]*|` + s + `*[\r\n]+)|(` + s + `+)$|(` + s + `+)` + s + `|(` + s + `+))`)
}

func splitWith(word func(string) int, text string) []string {
	var out []string
	for len(text) > 0 {
		n := word(text)
		if n <= 0 || n > len(text) {
			panic(fmt.Sprintf("word length %d of %q", n, text))
		}
		out = append(out, text[:n])
		text = text[n:]
	}
	return out
}

func splitRegexp(re *regexp.Regexp, text string) []string {
	return splitWith(func(s string) int {
		m := re.FindStringSubmatchIndex(s)
		for g := 1; g <= 4; g++ {
			if m != nil && m[2*g] >= 0 {
				return m[2*g+1]
			}
		}
		return len(s) // cannot happen; shows as a difference
	}, text)
}

// randomText draws strings from an alphabet rich in the characters the
// expressions treat specially.
func randomText(rng *rand.Rand) string {
	alphabet := []string{"a", "B", "z", "é", "ß", "Ж", "中", "ſ", "S", "s", "t", "T", "r", "e", "E", "v", "l", "L", "m", "d", "D",
		"0", "7", "٣", "½", "Ⅻ", " ", " ", "  ", "\t", "\n", "\r", "\r\n", "\u00a0", "\u3000", "\u2028", "\v",
		"'", "'s", "'S", "'ll", "'Re", "!", ".", "...", "-", "_", "😀", "\xff", "\xe2\x82"}
	n := rng.IntN(12)
	var b strings.Builder
	for range n {
		b.WriteString(alphabet[rng.IntN(len(alphabet))])
	}
	return b.String()
}

// TestCl100kWords checks the hand-written Llama 3 and Qwen2 pre-tokenizers
// against the regular expressions, on the reference vectors' strings and on
// random text.
func TestCl100kWords(t *testing.T) {
	var texts []string
	for _, name := range []string{"ggml-vocab-llama-spm.gguf", "ggml-vocab-gpt-2.gguf"} {
		for _, c := range readVectors(t, "tokenizers/"+name) {
			texts = append(texts, c.text)
		}
	}
	texts = append(texts, "I'm here, they'RE 'ſ done'll it's 1234567 ٣٣٣٣ \n\n  x\r\n\t y", "   ", "a  ", "\n", " \n \n b", "'", "'x", "12 345")
	rng := rand.New(rand.NewPCG(1, 2))
	for range 20000 {
		texts = append(texts, randomText(rng))
	}
	for _, tc := range []struct {
		name string
		word func(string) int
		re   *regexp.Regexp
	}{
		{"llama3", llama3Word, cl100kRegexp("{1,3}")},
		{"qwen2", qwen2Word, cl100kRegexp("")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bad := 0
			for _, s := range texts {
				got, want := splitWith(tc.word, s), splitRegexp(tc.re, s)
				if !slices.Equal(got, want) {
					if bad++; bad <= 10 {
						t.Errorf("%q\n got %q\nwant %q", s, got, want)
					}
				}
			}
			if bad > 0 {
				t.Errorf("%d of %d texts split differently", bad, len(texts))
			}
		})
	}
}

func TestParsePretokenizer(t *testing.T) {
	for _, tc := range []struct {
		name string
		want Pretokenizer
	}{{"gpt-2", PreGPT2}, {"default", PreGPT2}, {"llama-bpe", PreLlama3}, {"llama3", PreLlama3}, {"qwen2", PreQwen2}} {
		got, err := ParsePretokenizer(tc.name)
		if err != nil || got != tc.want {
			t.Errorf("ParsePretokenizer(%q) = %v, %v", tc.name, got, err)
		}
		if p, _ := ParsePretokenizer(got.String()); p != got {
			t.Errorf("%v does not round-trip through its name %q", got, got.String())
		}
	}
	if _, err := ParsePretokenizer("falcon"); err == nil || !strings.Contains(err.Error(), `"falcon"`) {
		t.Errorf("unknown name: %v", err)
	}
}

// byteVocab returns the 256 byte-level characters as tokens.
func byteVocab() []string {
	var toks []string
	for _, r := range byteRunes {
		toks = append(toks, string(r))
	}
	return toks
}

func TestIgnoreMerges(t *testing.T) {
	tokens := append(byteVocab(), "ab", "abc", "12", "123")
	ab, abc := len(tokens)-4, len(tokens)-3
	merges := []string{"a b", "1 2"}
	for _, tc := range []struct {
		opt  BPEOptions
		text string
		want []int
	}{
		{BPEOptions{}, "abc", []int{ab, -'c'}},
		{BPEOptions{IgnoreMerges: true}, "abc", []int{abc}},
		{BPEOptions{Pre: PreLlama3, IgnoreMerges: true}, "abc", []int{abc}},
		{BPEOptions{Pre: PreLlama3, IgnoreMerges: true}, "1234", []int{len(tokens) - 1, -'4'}},
		{BPEOptions{Pre: PreQwen2, IgnoreMerges: true}, "12", []int{-'1', -'2'}},
	} {
		tok, err := NewBPEWithOptions(tokens, merges, nil, -1, -1, tc.opt)
		if err != nil {
			t.Fatal(err)
		}
		// Negative entries of want stand for the token of a single byte.
		want := make([]int, len(tc.want))
		for i, id := range tc.want {
			if id < 0 {
				id = int(tok.byteIDs[-id])
			}
			want[i] = id
		}
		if got := tok.Encode(tc.text, false); !slices.Equal(got, want) {
			t.Errorf("%+v: Encode(%q) = %v, want %v", tc.opt, tc.text, got, want)
		}
		if got := tok.Decode(tok.Encode(tc.text, false)); got != tc.text {
			t.Errorf("%+v: round trip of %q gives %q", tc.opt, tc.text, got)
		}
	}
	if _, err := NewBPEWithOptions(tokens, merges, nil, -1, -1, BPEOptions{Pre: 99}); err == nil {
		t.Error("unknown pre-tokenizer accepted")
	}
}

// TestFromGGUFPretokenizers: tokenizer.ggml.pre selects the pre-tokenizer,
// and "llama-bpe" ignores merges for whole-token words, as llama.cpp does.
func TestFromGGUFPretokenizers(t *testing.T) {
	tokens := append(byteVocab(), "ab", "abc", "<|eot|>")
	kvs := func(pre string) []gguf.KV {
		return []gguf.KV{
			{Key: KeyModel, Value: gguf.StringValue("gpt2")},
			{Key: KeyPre, Value: gguf.StringValue(pre)},
			{Key: KeyTokens, Value: gguf.StringsValue(tokens)},
			{Key: KeyMerges, Value: gguf.StringsValue([]string{"a b"})},
			{Key: KeyBOS, Value: gguf.Uint32Value(uint32(len(tokens) - 1))},
			{Key: KeyEOS, Value: gguf.Uint32Value(uint32(len(tokens) - 1))},
		}
	}
	ab, abc := len(tokens)-3, len(tokens)-2
	for _, tc := range []struct {
		pre  string
		text string
		want []int
	}{
		{"gpt-2", "abc 1234", []int{ab, 'c', ' ', '1', '2', '3', '4'}},
		{"llama-bpe", "abc 1234", []int{abc, ' ', '1', '2', '3', '4'}},
		{"qwen2", "abc 1234", []int{ab, 'c', ' ', '1', '2', '3', '4'}},
	} {
		tok, err := FromGGUF(memGGUF(t, kvs(tc.pre)))
		if err != nil {
			t.Fatal(err)
		}
		b := tok.(*BPE)
		want := make([]int, len(tc.want))
		for i, id := range tc.want {
			if id < 256 {
				id = int(b.byteIDs[id])
			}
			want[i] = id
		}
		if got := b.Encode(tc.text, false); !slices.Equal(got, want) {
			t.Errorf("%s: Encode(%q) = %v, want %v", tc.pre, tc.text, got, want)
		}
		// The words differ even where the ids do not: GPT-2 keeps " 1234"
		// together, Llama 3 splits the space and digit groups of three,
		// Qwen2 single digits.
		words := map[string][]string{"gpt-2": {"abc", " 1234"}, "llama-bpe": {"abc", " ", "123", "4"}, "qwen2": {"abc", " ", "1", "2", "3", "4"}}[tc.pre]
		if got := splitWith(b.word, tc.text); !slices.Equal(got, words) {
			t.Errorf("%s: words %q, want %q", tc.pre, got, words)
		}
	}
}
