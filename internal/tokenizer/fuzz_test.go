package tokenizer

import (
	"slices"
	"strings"
	"testing"

	"github.com/unswift/unswift/internal/gguf"
	"github.com/unswift/unswift/internal/shared"
)

// fuzzSubject is a tokenizer under fuzzing; skipRoundTrip reports the texts
// that do not come back from Decode(Encode(s, true)).
type fuzzSubject struct {
	name          string
	tok           Tokenizer
	skipRoundTrip func(string) bool
}

// containsSpaceMark reports whether s holds "▁", which "▁" vocabularies read as
// a space.
func containsSpaceMark(s string) bool { return strings.Contains(s, spaceMark) }

// fuzzSubjects returns the synthetic vocabularies and, when the shared material
// is present, the real ones (all of them cover every byte).
func fuzzSubjects(f *testing.F) []fuzzSubject {
	subjects := []fuzzSubject{
		{"synthetic ▁", synthSPM(f, spaceMark), containsSpaceMark},
		{"synthetic space", synthSPM(f, " "), nil},
		{"synthetic BPE", synthBPE(f), nil},
	}
	if p, err := shared.Path("models/shakespeare2M-q80/byte_tokenizer.bin"); err == nil {
		tok, err := FromLlama2c(p, 259)
		if err != nil {
			f.Fatal(err)
		}
		subjects = append(subjects, fuzzSubject{"byte_tokenizer.bin", tok, nil})
	}
	for _, rel := range []string{"tokenizers/ggml-vocab-llama-spm.gguf", "tokenizers/ggml-vocab-gpt-2.gguf", "models/stories260K/stories260K.gguf"} {
		p, err := shared.Path(rel)
		if err != nil {
			continue
		}
		g, err := gguf.Open(p)
		if err != nil {
			f.Fatal(err)
		}
		tok, err := FromGGUF(g)
		g.Close()
		if err != nil {
			f.Fatal(err)
		}
		skip := containsSpaceMark
		if _, ok := tok.(*BPE); ok {
			skip = nil
		}
		subjects = append(subjects, fuzzSubject{rel, tok, skip})
	}
	return subjects
}

// FuzzEncode checks that encoding and decoding never panic, that the fast
// encoders agree with the literal reference loops, that the text comes back
// from its tokens (every vocabulary here covers all bytes, so this holds for
// any text, valid UTF-8 or not, except "▁" in "▁" vocabularies), and that
// streaming decodes like Decode.
func FuzzEncode(f *testing.F) {
	for _, s := range []string{"", " ", "a", "hello the world", "aaaa  bc\n\n\t", "é中\U0001F999", "\xff\xc3", "it's 12 o'clock", "\u2581x", "  \u00a0\t\r\n x"} {
		f.Add(s)
	}
	subjects := fuzzSubjects(f)
	f.Fuzz(func(t *testing.T, s string) {
		for _, sub := range subjects {
			ids := sub.tok.Encode(s, true)
			var ref []int
			switch tok := sub.tok.(type) {
			case *SentencePiece:
				if len(s) <= 1000 { // the reference loops are quadratic
					ref = refSPM(tok, s, true)
				}
			case *BPE:
				if len(s) <= 1000 {
					ref = append([]int{tok.BOS()}, refBPE(tok, s)...)
				}
			}
			if ref != nil && !slices.Equal(ids, ref) {
				t.Fatalf("%s: Encode(%q) = %v, the reference loop gives %v", sub.name, s, ids, ref)
			}
			if sub.skipRoundTrip != nil && sub.skipRoundTrip(s) {
				continue
			}
			if dec := sub.tok.Decode(ids); dec != s {
				t.Fatalf("%s: Decode(Encode(%q)) = %q", sub.name, s, dec)
			}
			if got, want := strings.Join(stream(t, sub.tok, ids), ""), string([]rune(s)); got != want {
				t.Fatalf("%s: streamed %q, want %q", sub.name, got, want)
			}
		}
	})
}
