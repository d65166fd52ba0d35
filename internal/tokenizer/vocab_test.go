package tokenizer

import (
	"os"
	"path"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/unswift/unswift/internal/gguf"
	"github.com/unswift/unswift/internal/shared"
)

// loadGGUF opens a shared GGUF file and builds its tokenizer.
func loadGGUF(tb testing.TB, rel string) Tokenizer {
	tb.Helper()
	f, err := gguf.Open(shared.Need(tb, rel))
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	tok, err := FromGGUF(f)
	if err != nil {
		tb.Fatalf("FromGGUF(%s): %v", rel, err)
	}
	return tok
}

// vocabCase is one test string of llama.cpp's tokenizer test vectors with the
// ids the reference tokenizer produced for it.
type vocabCase struct {
	text string
	ids  []int
}

// readVectors reads a .inp/.out pair: in the .inp file every test string is
// followed by the line "__ggml_vocab_test__" (so strings may contain newlines
// and be empty), and the .out file has one line of space-separated ids per
// string.
func readVectors(tb testing.TB, rel string) []vocabCase {
	tb.Helper()
	inp, err := os.ReadFile(shared.Need(tb, rel+".inp"))
	if err != nil {
		tb.Fatal(err)
	}
	out, err := os.ReadFile(shared.Need(tb, rel+".out"))
	if err != nil {
		tb.Fatal(err)
	}
	const sep = "\n__ggml_vocab_test__\n"
	texts := strings.Split(string(inp), sep)
	if last := texts[len(texts)-1]; last != "" {
		tb.Fatalf("%s.inp: text after the last separator: %q", rel, last)
	}
	texts = texts[:len(texts)-1]
	lines := strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
	if len(lines) != len(texts) {
		tb.Fatalf("%s: %d test strings but %d lines of ids", rel, len(texts), len(lines))
	}
	cases := make([]vocabCase, len(texts))
	for i, text := range texts {
		ids := []int{}
		for _, f := range strings.Fields(lines[i]) {
			id, err := strconv.Atoi(f)
			if err != nil {
				tb.Fatalf("%s.out line %d: %v", rel, i+1, err)
			}
			ids = append(ids, id)
		}
		cases[i] = vocabCase{text, ids}
	}
	return cases
}

// TestVectors checks Encode against the ids of the reference (Hugging Face)
// tokenizers for every test string of both vocabularies, and reports every
// mismatch.
func TestVectors(t *testing.T) {
	for _, name := range []string{"ggml-vocab-llama-spm.gguf", "ggml-vocab-gpt-2.gguf"} {
		t.Run(name, func(t *testing.T) {
			tok := loadGGUF(t, "tokenizers/"+name)
			cases := readVectors(t, "tokenizers/"+name)
			pass := 0
			for _, c := range cases {
				got := tok.Encode(c.text, false)
				if slices.Equal(got, c.ids) {
					pass++
				} else {
					t.Errorf("Encode(%q)\n got %v\nwant %v", c.text, got, c.ids)
				}
				// With BOS, the decoded text is the input (the dummy prefix
				// space of SentencePiece is dropped after BOS).
				ids := tok.Encode(c.text, true)
				if dec := tok.Decode(ids); dec != c.text {
					t.Errorf("Decode(Encode(%q, true)) = %q", c.text, dec)
				}
				if dec := strings.Join(stream(t, tok, ids), ""); dec != c.text {
					t.Errorf("streamed decode of Encode(%q, true) = %q", c.text, dec)
				}
			}
			t.Logf("%s: %d/%d test strings pass", name, pass, len(cases))
		})
	}
}

// readText returns up to n bytes of a shared text file, cut at a character
// boundary.
func readText(tb testing.TB, rel string, n int) string {
	tb.Helper()
	b, err := os.ReadFile(shared.Need(tb, rel))
	if err != nil {
		tb.Fatal(err)
	}
	if len(b) > n {
		b = b[:n]
		for len(b) > 0 && !utf8.RuneStart(b[len(b)-1]) {
			b = b[:len(b)-1]
		}
		if len(b) > 0 {
			b = b[:len(b)-1] // drop the possibly incomplete last character
		}
	}
	return string(b)
}

// promptIDs reads the prompt token ids from the header of a reference logits
// file ("# prompt tokens (...): 1 403 407 261 378").
func promptIDs(tb testing.TB, rel string) []int {
	tb.Helper()
	b, err := os.ReadFile(shared.Need(tb, rel))
	if err != nil {
		tb.Fatal(err)
	}
	line, _, _ := strings.Cut(string(b), "\n")
	_, list, ok := strings.Cut(line, "):")
	if !strings.HasPrefix(line, "# prompt tokens") || !ok {
		tb.Fatalf("%s: unexpected header %q", rel, line)
	}
	var ids []int
	for _, f := range strings.Fields(list) {
		id, err := strconv.Atoi(f)
		if err != nil {
			tb.Fatalf("%s: header %q: %v", rel, line, err)
		}
		ids = append(ids, id)
	}
	return ids
}

// TestAgainstReferenceLoops checks the fast encoders against the literal
// reference loops on real text in the real vocabularies: line by line for
// SentencePiece (llama2.c's loop is quadratic) and whole for byte-level BPE.
func TestAgainstReferenceLoops(t *testing.T) {
	var lines []string
	for _, rel := range []string{"data/wikitext2_test.txt", "data/tinystories_valid_prefix.txt"} {
		lines = append(lines, strings.SplitAfter(readText(t, rel, 12_000), "\n")...)
	}
	for _, c := range readVectors(t, "tokenizers/ggml-vocab-gpt-2.gguf") {
		lines = append(lines, c.text)
	}
	for _, rel := range []string{"tokenizers/ggml-vocab-llama-spm.gguf", "models/stories260K/stories260K.gguf"} {
		tok := loadGGUF(t, rel).(*SentencePiece)
		bad := 0
		for _, line := range lines {
			got, want := tok.Encode(line, true), refSPM(tok, line, true)
			if !slices.Equal(got, want) && bad < 10 {
				bad++
				t.Errorf("%s: Encode(%q)\n got %v\nwant %v (llama2.c's loop)", rel, line, got, want)
			}
		}
	}
	tok := loadGGUF(t, "tokenizers/ggml-vocab-gpt-2.gguf").(*BPE)
	text := strings.Join(lines, "")
	got, want := tok.Encode(text, false), refBPE(tok, text)
	if !slices.Equal(got, want) {
		i := 0
		for i < min(len(got), len(want)) && got[i] == want[i] {
			i++
		}
		t.Errorf("BPE differs from GPT-2's loop at token %d of %d/%d: %v vs %v", i, len(got), len(want),
			got[i:min(i+8, len(got))], want[i:min(i+8, len(want))])
	}
	if dec := tok.Decode(got); dec != text {
		t.Errorf("BPE: Decode(Encode(text)) differs from text")
	}
	var words []string
	for s := text; len(s) > 0; {
		n := gpt2Word(s)
		words = append(words, s[:n])
		s = s[n:]
	}
	if ref := refGPT2Split(text); !slices.Equal(words, ref) {
		t.Errorf("GPT-2 pre-tokenizer differs from the regular expression")
	}
}

// TestStories260KGGUF checks the GGUF copy of stories260K's tokenizer against
// the prompt ids of the reference C implementation, and that decoding its
// greedy output text gives the text back.
func TestStories260KGGUF(t *testing.T) {
	tok := loadGGUF(t, "models/stories260K/stories260K.gguf")
	want := promptIDs(t, "reference/logits_stories260K_once.txt")
	if got := tok.Encode("Once upon a time", true); !slices.Equal(got, want) {
		t.Errorf("Encode(%q) = %v, want %v", "Once upon a time", got, want)
	}
	if tok.BOS() != 1 || tok.EOS() != 2 || tok.VocabSize() != 512 {
		t.Errorf("BOS, EOS, VocabSize = %d, %d, %d, want 1, 2, 512", tok.BOS(), tok.EOS(), tok.VocabSize())
	}
	text := readText(t, "reference/stories260K_greedy_n64_once_upon_a_time.txt", 1<<20)
	ids := tok.Encode(text, true)
	if dec := tok.Decode(ids); dec != text {
		t.Errorf("Decode(Encode(reference text)) = %q, want %q", dec, text)
	}
	if got := strings.Join(stream(t, tok, ids), ""); got != text {
		t.Errorf("streamed decode = %q, want %q", got, text)
	}
}

// pathological returns texts of about n bytes that stress the merge loops:
// one long word, one long run of spaces, and characters that all fall back to
// bytes.
func pathological(n int) map[string]string {
	return map[string]string{
		"one word":  strings.Repeat("ab", n/2),
		"spaces":    strings.Repeat(" ", n),
		"byte runs": strings.Repeat("\U0001F999", n/4),
	}
}

// TestLongText encodes long real and pathological texts in every vocabulary to
// catch quadratic behaviour: a quadratic merge loop (llama2.c's) would take
// hours on a 256 KB segment, this one takes well under a second, and the time
// limit leaves room for a heavily loaded machine.
func TestLongText(t *testing.T) {
	if testing.Short() {
		t.Skip("skipping in short mode")
	}
	const n = 256 << 10
	texts := pathological(n)
	texts["wikitext"] = readText(t, "data/wikitext2_test.txt", n)
	for _, rel := range []string{"tokenizers/ggml-vocab-llama-spm.gguf", "tokenizers/ggml-vocab-gpt-2.gguf", "models/stories260K/stories260K.gguf"} {
		tok := loadGGUF(t, rel)
		for name, text := range texts {
			start := time.Now()
			ids := tok.Encode(text, true)
			d := time.Since(start)
			if d > 20*time.Second {
				t.Errorf("%s, %s: encoding %d bytes took %v", rel, name, len(text), d)
			}
			if dec := tok.Decode(ids); dec != text {
				t.Errorf("%s, %s: Decode(Encode(text)) differs from text", rel, name)
			}
		}
	}
}

// BenchmarkEncode encodes a megabyte of WikiText-2, then of each pathological
// text, in every vocabulary (the MB/s figure is throughput).
func BenchmarkEncode(b *testing.B) {
	const n = 1 << 20
	texts := pathological(n)
	texts["wikitext"] = readText(b, "data/wikitext2_test.txt", n)
	for _, rel := range []string{"tokenizers/ggml-vocab-llama-spm.gguf", "tokenizers/ggml-vocab-gpt-2.gguf", "models/stories260K/stories260K.gguf"} {
		tok := loadGGUF(b, rel)
		for _, name := range []string{"wikitext", "one word", "spaces", "byte runs"} {
			text := texts[name]
			b.Run(strings.TrimSuffix(path.Base(rel), ".gguf")+"/"+strings.ReplaceAll(name, " ", "_"), func(b *testing.B) {
				b.SetBytes(int64(len(text)))
				for b.Loop() {
					tok.Encode(text, true)
				}
			})
		}
	}
}

// llama2cCases are llama2.c tokenizer files with the reference logits file that
// lists their encoding of "Once upon a time".
var llama2cCases = []struct {
	tok, ref string
	vocab    int
}{
	{"models/stories260K/tok512.bin", "reference/logits_stories260K_once.txt", 512},
	{"models/shakespeare2M-q80/byte_tokenizer.bin", "reference/logits_shakespeare_deqf32_once.txt", 259},
}

func loadLlama2c(tb testing.TB, rel string, vocab int) *SentencePiece {
	tb.Helper()
	tok, err := FromLlama2c(shared.Need(tb, rel), vocab)
	if err != nil {
		tb.Fatal(err)
	}
	return tok
}

func TestLlama2c(t *testing.T) {
	for _, c := range llama2cCases {
		tok := loadLlama2c(t, c.tok, c.vocab)
		want := promptIDs(t, c.ref)
		if got := tok.Encode("Once upon a time", true); !slices.Equal(got, want) {
			t.Errorf("%s: Encode(%q) = %v, want %v", c.tok, "Once upon a time", got, want)
		}
		if tok.BOS() != 1 || tok.EOS() != 2 || tok.VocabSize() != c.vocab {
			t.Errorf("%s: BOS, EOS, VocabSize = %d, %d, %d", c.tok, tok.BOS(), tok.EOS(), tok.VocabSize())
		}
		if dec := tok.Decode(want); dec != "Once upon a time" {
			t.Errorf("%s: Decode(%v) = %q", c.tok, want, dec)
		}
	}
	if _, err := FromLlama2c(shared.Need(t, llama2cCases[0].tok), 513); err == nil {
		t.Errorf("FromLlama2c with the wrong vocabulary size: no error")
	}

	// The byte-level vocabulary gives back any text, and the greedy reference
	// output decodes from its encoding.
	byteTok := loadLlama2c(t, llama2cCases[1].tok, llama2cCases[1].vocab)
	for _, rel := range []string{"reference/shakespeare_dequantized_fp32_run_greedy_n200_ROMEO.txt", "data/tinyshakespeare_input.txt"} {
		text := readText(t, rel, 100_000)
		ids := byteTok.Encode(text, true)
		if len(ids) != len(text)+2 {
			t.Errorf("%s: %d tokens for %d bytes, want one per byte plus BOS and the dummy prefix", rel, len(ids), len(text))
		}
		if dec := byteTok.Decode(ids); dec != text {
			t.Errorf("%s: Decode(Encode(text)) differs from text", rel)
		}
	}
}

// TestLlama2cMatchesGGUF checks that stories260K's tokenizer.bin (plain spaces)
// and its GGUF copy ("▁") encode and decode alike.
func TestLlama2cMatchesGGUF(t *testing.T) {
	bin := loadLlama2c(t, "models/stories260K/tok512.bin", 512)
	gg := loadGGUF(t, "models/stories260K/stories260K.gguf")
	texts := strings.SplitAfter(readText(t, "data/tinystories_valid_prefix.txt", 100_000), "\n")
	texts = append(texts, strings.Join(texts, ""))
	for _, c := range readVectors(t, "tokenizers/ggml-vocab-llama-spm.gguf") {
		texts = append(texts, c.text)
	}
	bad := 0
	for _, text := range texts {
		a, b := bin.Encode(text, true), gg.Encode(text, true)
		if !slices.Equal(a, b) && bad < 10 {
			bad++
			t.Errorf("Encode(%.200q): tokenizer.bin gives %v, GGUF gives %v", text, a, b)
		}
		if da, db := bin.Decode(a), gg.Decode(a); da != db && bad < 10 {
			bad++
			t.Errorf("Decode(%v): tokenizer.bin gives %q, GGUF gives %q", a, da, db)
		}
	}
}
