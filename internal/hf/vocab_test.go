package hf

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/unswift/unswift/internal/gguf"
	"github.com/unswift/unswift/internal/shared"
	"github.com/unswift/unswift/internal/tokenizer"
)

// vocabCase is one string of llama.cpp's tokenizer test vectors and the ids
// that the Hugging Face tokenizer gave for it.
type vocabCase struct {
	text string
	ids  []int
}

// readVectors reads a .inp/.out pair: strings each followed by the line
// "__ggml_vocab_test__", and one line of ids per string.
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
	texts := strings.Split(string(inp), "\n__ggml_vocab_test__\n")
	texts = texts[:len(texts)-1]
	lines := strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
	if len(lines) != len(texts) || len(texts) == 0 {
		tb.Fatalf("%s: %d strings, %d lines of ids", rel, len(texts), len(lines))
	}
	cases := make([]vocabCase, len(texts))
	for i, text := range texts {
		ids := []int{}
		for _, f := range strings.Fields(lines[i]) {
			id, err := strconv.Atoi(f)
			if err != nil {
				tb.Fatal(err)
			}
			ids = append(ids, id)
		}
		cases[i] = vocabCase{text, ids}
	}
	return cases
}

// ggufVocab reads the tokenizer metadata of a shared GGUF vocabulary.
func ggufVocab(tb testing.TB, rel string) (meta []gguf.KV, tokens []string, types []int32) {
	tb.Helper()
	f, err := gguf.Open(shared.Need(tb, rel))
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	for _, k := range f.Keys() {
		v, _ := f.Value(k)
		meta = append(meta, gguf.KV{Key: k, Value: v})
	}
	tokens, _ = f.Strings(tokenizer.KeyTokens)
	ts, _ := f.Ints(tokenizer.KeyTokenTypes)
	for _, t := range ts {
		types = append(types, int32(t))
	}
	return meta, tokens, types
}

// testSPMJSON writes a SentencePiece vocabulary as Hugging Face's converter
// writes Llama 2's tokenizer.json: written plainly here, from the format's
// description, independently of MarshalTokenizerJSON. Merges are listed as
// [left, right] pairs.
func testSPMJSON(tokens []string, scores []float32, types []int32, bos int) []byte {
	vocab := map[string]int{}
	for i, t := range tokens {
		vocab[t] = i
	}
	type m struct {
		l, r  string
		score float32
	}
	var merges []m
	for _, piece := range tokens {
		var local []m
		runes := []rune(piece)
		for i := 1; i < len(runes); i++ {
			l, r := string(runes[:i]), string(runes[i:])
			_, okl := vocab[l]
			_, okr := vocab[r]
			if okl && okr {
				local = append(local, m{l, r, scores[vocab[piece]]})
			}
		}
		sort.SliceStable(local, func(a, b int) bool {
			return vocab[local[a].l] < vocab[local[b].l] || vocab[local[a].l] == vocab[local[b].l] && vocab[local[a].r] < vocab[local[b].r]
		})
		merges = append(merges, local...)
	}
	sort.SliceStable(merges, func(a, b int) bool { return merges[a].score > merges[b].score })
	var pairs [][2]string
	for _, x := range merges {
		pairs = append(pairs, [2]string{x.l, x.r})
	}
	var added []map[string]any
	for i, t := range types {
		if tokenizer.TokenType(t) == tokenizer.TypeControl || tokenizer.TokenType(t) == tokenizer.TypeUnknown {
			added = append(added, map[string]any{"id": i, "content": tokens[i], "special": true, "normalized": false})
		}
	}
	doc := map[string]any{
		"version":      "1.0",
		"added_tokens": added,
		"normalizer": map[string]any{"type": "Sequence", "normalizers": []any{
			map[string]any{"type": "Prepend", "prepend": "▁"},
			map[string]any{"type": "Replace", "pattern": map[string]any{"String": " "}, "content": "▁"},
		}},
		"pre_tokenizer": nil,
		"post_processor": map[string]any{"type": "TemplateProcessing",
			"single": []any{map[string]any{"SpecialToken": map[string]any{"id": tokens[bos], "type_id": 0}}, map[string]any{"Sequence": map[string]any{"id": "A", "type_id": 0}}}},
		"model": map[string]any{"type": "BPE", "unk_token": "<unk>", "byte_fallback": true, "fuse_unk": true, "vocab": vocab, "merges": pairs},
	}
	b, err := json.Marshal(doc)
	if err != nil {
		panic(err)
	}
	return b
}

// testBPEJSON writes a byte-level vocabulary as GPT-2's tokenizer.json, with
// merges as "left right" strings.
func testBPEJSON(tokens []string, merges []string, types []int32) []byte {
	vocab := map[string]int{}
	var added []map[string]any
	for i, t := range tokens {
		vocab[t] = i
		if tokenizer.TokenType(types[i]) == tokenizer.TypeControl {
			added = append(added, map[string]any{"id": i, "content": t, "special": true})
		}
	}
	doc := map[string]any{
		"added_tokens":  added,
		"normalizer":    nil,
		"pre_tokenizer": map[string]any{"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true},
		"decoder":       map[string]any{"type": "ByteLevel"},
		"model":         map[string]any{"type": "BPE", "vocab": vocab, "merges": merges, "continuing_subword_prefix": "", "end_of_word_suffix": ""},
	}
	b, err := json.Marshal(doc)
	if err != nil {
		panic(err)
	}
	return b
}

// checkVectors encodes every test string and counts the exact matches.
func checkVectors(t *testing.T, tok tokenizer.Tokenizer, cases []vocabCase) {
	t.Helper()
	pass := 0
	for _, c := range cases {
		if got := tok.Encode(c.text, false); slices.Equal(got, c.ids) {
			pass++
		} else {
			t.Errorf("Encode(%q)\n got %v\nwant %v", c.text, got, c.ids)
		}
		if got := tok.Decode(tok.Encode(c.text, true)); got != c.text {
			t.Errorf("Decode(Encode(%q, true)) = %q", c.text, got)
		}
	}
	t.Logf("%d/%d test strings pass", pass, len(cases))
}

// TestTokenizerJSONVectors: the reference vectors pass through tokenizers
// loaded from tokenizer.json files made from the GGUF vocabularies, both by
// the test's own writer and by MarshalTokenizerJSON.
func TestTokenizerJSONVectors(t *testing.T) {
	for _, name := range []string{"ggml-vocab-llama-spm.gguf", "ggml-vocab-gpt-2.gguf"} {
		t.Run(name, func(t *testing.T) {
			rel := "tokenizers/" + name
			cases := readVectors(t, rel)
			meta, tokens, types := ggufVocab(t, rel)
			src, err := VocabFromMeta(meta)
			if err != nil {
				t.Fatal(err)
			}
			var own []byte
			switch src.Model {
			case "llama":
				own = testSPMJSON(tokens, src.Scores, types, src.BOS)
			case "gpt2":
				own = testBPEJSON(tokens, src.Merges, types)
			}
			mine, err := src.MarshalTokenizerJSON()
			if err != nil {
				t.Fatal(err)
			}
			for _, tc := range []struct {
				name string
				data []byte
			}{{"test writer", own}, {"MarshalTokenizerJSON", mine}} {
				t.Run(tc.name, func(t *testing.T) {
					dir := t.TempDir()
					path := filepath.Join(dir, TokenizerFile)
					if err := os.WriteFile(path, tc.data, 0o644); err != nil {
						t.Fatal(err)
					}
					v, err := ReadTokenizerFile(path, nil)
					if err != nil {
						t.Fatal(err)
					}
					if v.Model != src.Model || len(v.Tokens) != len(tokens) || v.BOS != src.BOS && src.Model == "llama" {
						t.Fatalf("loaded %s vocabulary of %d tokens, BOS %d; want %s, %d, %d", v.Model, len(v.Tokens), v.BOS, src.Model, len(tokens), src.BOS)
					}
					tok, err := v.Tokenizer()
					if err != nil {
						t.Fatal(err)
					}
					checkVectors(t, tok, cases)
				})
			}
		})
	}
}

func TestTokenizerConfig(t *testing.T) {
	tokens := append(byteLevelAlphabet(), "<|begin_of_text|>", "<|eot_id|>", "<|end_of_text|>")
	types := make([]int32, len(tokens))
	for i := range types {
		types[i] = int32(tokenizer.TypeNormal)
		if i >= 256 {
			types[i] = int32(tokenizer.TypeControl)
		}
	}
	data := testBPEJSON(tokens, nil, types)
	for _, tc := range []struct {
		name, config string
		cfg          *Config
		bos, eos     int
		addBOS       bool
		template     string
	}{
		{"strings", `{"bos_token": "<|begin_of_text|>", "eos_token": "<|eot_id|>", "add_bos_token": true, "chat_template": "{{ x }}"}`, nil, 256, 257, true, "{{ x }}"},
		{"objects", `{"bos_token": {"content": "<|begin_of_text|>", "lstrip": false}, "eos_token": {"content": "<|end_of_text|>"}, "chat_template": [{"name": "tool_use", "template": "T"}, {"name": "default", "template": "D"}]}`, nil, 256, 258, false, "D"},
		{"config.json ids", `{"bos_token": null}`, &Config{BOSTokenID: TokenIDs{256}, EOSTokenID: TokenIDs{258, 257}}, 256, 258, false, ""},
		{"no config", "", nil, -1, -1, false, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			os.WriteFile(filepath.Join(dir, TokenizerFile), data, 0o644)
			if tc.config != "" {
				os.WriteFile(filepath.Join(dir, TokenizerConfigFile), []byte(tc.config), 0o644)
			}
			v, err := ReadTokenizer(dir, tc.cfg)
			if err != nil {
				t.Fatal(err)
			}
			if v.BOS != tc.bos || v.EOS != tc.eos || v.AddBOS != tc.addBOS || v.ChatTemplate != tc.template {
				t.Errorf("BOS %d EOS %d AddBOS %v template %q; want %d %d %v %q", v.BOS, v.EOS, v.AddBOS, v.ChatTemplate, tc.bos, tc.eos, tc.addBOS, tc.template)
			}
		})
	}
	t.Run("chat_template.jinja", func(t *testing.T) {
		dir := t.TempDir()
		os.WriteFile(filepath.Join(dir, TokenizerFile), data, 0o644)
		os.WriteFile(filepath.Join(dir, ChatTemplateFile), []byte("J"), 0o644)
		if v, err := ReadTokenizer(dir, nil); err != nil || v.ChatTemplate != "J" {
			t.Errorf("template %q, %v", v.ChatTemplate, err)
		}
	})
	t.Run("unknown bos", func(t *testing.T) {
		dir := t.TempDir()
		os.WriteFile(filepath.Join(dir, TokenizerFile), data, 0o644)
		os.WriteFile(filepath.Join(dir, TokenizerConfigFile), []byte(`{"bos_token": "<s>"}`), 0o644)
		if _, err := ReadTokenizer(dir, nil); err == nil || !strings.Contains(err.Error(), `"<s>" is not a token`) {
			t.Errorf("got %v", err)
		}
	})
}

// byteLevelAlphabet returns the 256 characters of byte-level BPE, in byte order.
func byteLevelAlphabet() []string {
	var out []string
	n := 0
	for b := range 256 {
		if '!' <= b && b <= '~' || 0xA1 <= b && b <= 0xAC || 0xAE <= b && b <= 0xFF {
			out = append(out, string(rune(b)))
		} else {
			out = append(out, string(rune(256+n)))
			n++
		}
	}
	return out
}

func TestPretokenizerDetection(t *testing.T) {
	tokens := append(byteLevelAlphabet(), "<eos>")
	base := func(pre string, extra string) string {
		vocab := map[string]int{}
		for i, t := range tokens {
			vocab[t] = i
		}
		vb, _ := json.Marshal(vocab)
		return `{"added_tokens": [{"id": 256, "content": "<eos>", "special": true}], "normalizer": null, "pre_tokenizer": ` + pre +
			`, "model": {"type": "BPE", "vocab": ` + string(vb) + `, "merges": []` + extra + `}}`
	}
	split := func(pat string) string {
		b, _ := json.Marshal(pat)
		return `{"type": "Sequence", "pretokenizers": [{"type": "Split", "pattern": {"Regex": ` + string(b) + `}, "behavior": "Isolated", "invert": false}, {"type": "ByteLevel", "add_prefix_space": false, "use_regex": false}]}`
	}
	for _, tc := range []struct {
		name, json   string
		pre          tokenizer.Pretokenizer
		ignoreMerges bool
		err          string
	}{
		{"gpt2", base(`{"type": "ByteLevel", "add_prefix_space": false, "use_regex": true}`, ""), tokenizer.PreGPT2, false, ""},
		{"llama3", base(split(llama3Pattern), `, "ignore_merges": true`), tokenizer.PreLlama3, true, ""},
		{"qwen2", base(split(qwen2Pattern), ""), tokenizer.PreQwen2, false, ""},
		{"unknown pattern", base(split(`\p{L}+|.`), ""), 0, false, "Split pattern"},
		{"prefix space", base(`{"type": "ByteLevel", "add_prefix_space": true}`, ""), 0, false, "add_prefix_space"},
		{"no regex", base(`{"type": "ByteLevel", "use_regex": false}`, ""), 0, false, "without a regular expression"},
		{"whitespace", base(`{"type": "Whitespace"}`, ""), 0, false, `"Whitespace" is not supported`},
		{"unigram", `{"model": {"type": "Unigram", "vocab": [["a", -1.0]]}}`, 0, false, `"Unigram" is not supported`},
		{"wordpiece", `{"model": {"type": "WordPiece", "vocab": {"a": 0}}}`, 0, false, `"WordPiece" is not supported`},
		{"no model", `{}`, 0, false, "no \"model\""},
		{"bad merge", strings.Replace(base(`{"type": "ByteLevel"}`, ""), `"merges": []`, `"merges": ["a"]`, 1), 0, false, "merge 0"},
		{"merge triple", strings.Replace(base(`{"type": "ByteLevel"}`, ""), `"merges": []`, `"merges": [["a", "b", "c"]]`, 1), 0, false, "not a pair"},
		{"mixed merges", strings.Replace(base(`{"type": "ByteLevel"}`, ""), `"merges": []`, `"merges": ["a b", ["a", "b", "c"]]`, 1), 0, false, "neither"},
		{"spm without fallback", `{"normalizer": {"type": "Sequence", "normalizers": [{"type": "Prepend", "prepend": "▁"}, {"type": "Replace", "pattern": {"String": " "}, "content": "▁"}]}, "model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}}`, 0, false, "byte_fallback"},
		{"spm without prefix", `{"normalizer": {"type": "Replace", "pattern": {"String": " "}, "content": "▁"}, "model": {"type": "BPE", "byte_fallback": true, "vocab": {"a": 0}, "merges": []}}`, 0, false, "prepend"},
		{"metaspace split", `{"pre_tokenizer": {"type": "Metaspace", "replacement": "▁", "prepend_scheme": "first", "split": true}, "model": {"type": "BPE", "byte_fallback": true, "vocab": {"a": 0}, "merges": []}}`, 0, false, "split true"},
		{"lowercase", `{"normalizer": {"type": "Lowercase"}, "model": {"type": "BPE", "vocab": {"a": 0}}}`, 0, false, `"Lowercase" is not supported`},
		{"shared id", `{"pre_tokenizer": {"type": "ByteLevel"}, "model": {"type": "BPE", "vocab": {"a": 0, "b": 0}}}`, 0, false, "share the id"},
		{"sparse ids", `{"pre_tokenizer": {"type": "ByteLevel"}, "model": {"type": "BPE", "vocab": {"a": 0, "b": 100000}}}`, 0, false, "too sparse"},
		{"huge id", `{"pre_tokenizer": {"type": "ByteLevel"}, "model": {"type": "BPE", "vocab": {"a": 99999999999}}}`, 0, false, "outside"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v, err := ParseTokenizerJSON([]byte(tc.json))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("got %v, want an error containing %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if v.Model != "gpt2" || v.Pre != tc.pre || v.IgnoreMerges != tc.ignoreMerges {
				t.Errorf("model %s pre %v ignore %v", v.Model, v.Pre, v.IgnoreMerges)
			}
			if v.Types[256] != int32(tokenizer.TypeControl) {
				t.Errorf("<eos> has type %d", v.Types[256])
			}
			if _, err := v.Tokenizer(); err != nil {
				t.Error(err)
			}
		})
	}
}

// TestVocabMetaRoundTrip: Meta and VocabFromMeta are inverses, padding adds
// unused tokens, and a llama2.c-style vocabulary (spaces as " ") is written
// to tokenizer.json with ▁.
func TestVocabMetaRoundTrip(t *testing.T) {
	meta, _, _ := ggufVocab(t, "tokenizers/ggml-vocab-gpt-2.gguf")
	v, err := VocabFromMeta(meta)
	if err != nil {
		t.Fatal(err)
	}
	v.ChatTemplate = "{{ messages }}"
	if err := v.Pad(len(v.Tokens) + 3); err != nil {
		t.Fatal(err)
	}
	back, err := VocabFromMeta(v.Meta())
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(back.Tokens, v.Tokens) || !slices.Equal(back.Types, v.Types) || !slices.Equal(back.Merges, v.Merges) ||
		back.BOS != v.BOS || back.EOS != v.EOS || back.Pre != v.Pre || back.ChatTemplate != v.ChatTemplate || back.AddBOS != v.AddBOS {
		t.Error("vocabulary changed in the metadata round trip")
	}
	if last := v.Tokens[len(v.Tokens)-1]; last != "[PAD50259]" || v.Types[len(v.Types)-1] != int32(tokenizer.TypeUnused) {
		t.Errorf("last padding token %q type %d", last, v.Types[len(v.Types)-1])
	}
	if err := v.Pad(3); err == nil {
		t.Error("Pad to a smaller size: no error")
	}

	spm := &Vocab{Model: "llama", Tokens: []string{"<unk>", "<s>", "</s>", " a", "a", " "}, Scores: []float32{0, 0, 0, -1, -2, -3},
		Types: []int32{2, 3, 3, 1, 1, 1}, BOS: 1, EOS: 2, UNK: 0, AddBOS: true}
	data, err := spm.MarshalTokenizerJSON()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), `"▁a": 3`) || strings.Contains(string(data), `" a"`) {
		t.Errorf("spaces not written as ▁:\n%s", data)
	}
	// The fallback to byte tokens needs <0xNN> pieces; without them text
	// still encodes through the pieces that exist.
	loaded, err := ParseTokenizerJSON(data)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := loaded.Tokenizer()
	if err != nil {
		t.Fatal(err)
	}
	if got := tok.Encode("a a", true); !slices.Equal(got, []int{1, 3, 3}) {
		t.Errorf("Encode(a a) = %v, want [1 3 3]", got)
	}
	if loaded.UNK != 0 || loaded.Types[0] != int32(tokenizer.TypeUnknown) || !loaded.AddBOS {
		t.Errorf("unk %d type %d addBOS %v", loaded.UNK, loaded.Types[0], loaded.AddBOS)
	}
}
