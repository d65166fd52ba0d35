package hf

import (
	"testing"
	"unicode/utf8"
)

// FuzzParseTokenizerJSON checks that no tokenizer.json crashes the loader,
// and that a tokenizer it accepts encodes and decodes without crashing.
func FuzzParseTokenizerJSON(f *testing.F) {
	f.Add([]byte(`{"normalizer": {"type": "Sequence", "normalizers": [{"type": "Prepend", "prepend": "▁"}, {"type": "Replace", "pattern": {"String": " "}, "content": "▁"}]},` +
		`"added_tokens": [{"id": 0, "content": "<unk>", "special": true}, {"id": 1, "content": "<s>", "special": true}],` +
		`"model": {"type": "BPE", "byte_fallback": true, "unk_token": "<unk>", "vocab": {"<unk>": 0, "<s>": 1, "▁": 2, "a": 3, "▁a": 4, "<0x62>": 5}, "merges": [["▁", "a"]]}}`))
	f.Add([]byte(`{"pre_tokenizer": {"type": "ByteLevel"}, "model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2}, "merges": ["a b"]}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		v, err := ParseTokenizerJSON(data)
		if err != nil {
			return
		}
		if len(v.Types) != len(v.Tokens) || v.Model == "llama" && len(v.Scores) != len(v.Tokens) {
			t.Fatalf("%d tokens, %d types, %d scores", len(v.Tokens), len(v.Types), len(v.Scores))
		}
		tok, err := v.Tokenizer()
		if err != nil {
			return
		}
		for _, s := range []string{"", "a", "hello wörld 123 ab\n", "\xff"} {
			ids := tok.Encode(s, true)
			for _, id := range ids {
				if id < 0 || id >= tok.VocabSize() {
					t.Fatalf("Encode(%q) gave id %d outside the vocabulary of %d", s, id, tok.VocabSize())
				}
			}
			if out := tok.Decode(ids); utf8.ValidString(s) && len(out) > 4*len(s)+64 {
				t.Fatalf("Decode(Encode(%q)) = %q", s, out)
			}
		}
		if _, err := v.MarshalTokenizerJSON(); err != nil {
			return
		}
	})
}
