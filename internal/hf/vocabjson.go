package hf

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/unswift/unswift/internal/tokenizer"
)

// MarshalTokenizerJSON writes the vocabulary as a Hugging Face tokenizer.json.
//
// A "llama" (SentencePiece) vocabulary becomes a BPE model with byte fallback,
// the normalizer that prepends ▁ and writes spaces as ▁, and merges derived
// from the scores as the transformers converter derives them (every split of
// every piece into two pieces, ordered by the piece's score). Vocabularies
// that write spaces as " " (llama2.c's) are written with ▁. A "gpt2"
// vocabulary becomes a byte-level BPE model with its pre-tokenizer's pattern.
// Control, unknown and user-defined tokens are listed as added tokens.
func (v *Vocab) MarshalTokenizerJSON() ([]byte, error) {
	n := len(v.Tokens)
	if len(v.Types) != n || v.Model == "llama" && len(v.Scores) != n {
		return nil, fmt.Errorf("hf: vocabulary of %d tokens has %d types and %d scores", n, len(v.Types), len(v.Scores))
	}
	tokens := v.Tokens
	if v.Model == "llama" && needsEscape(tokens) {
		tokens = make([]string, n)
		for i, t := range v.Tokens {
			tokens[i] = strings.ReplaceAll(t, " ", "▁")
		}
	}
	seen := make(map[string]int, n)
	for i, t := range tokens {
		if !utf8.ValidString(t) {
			return nil, fmt.Errorf("hf: token %d (%q) is not valid UTF-8 and cannot be written to tokenizer.json", i, t)
		}
		if j, dup := seen[t]; dup {
			return nil, fmt.Errorf("hf: tokens %d and %d are both %q; tokenizer.json cannot hold duplicates", j, i, t)
		}
		seen[t] = i
	}

	var b bytes.Buffer
	w := &jsonWriter{b: &b}
	b.WriteString("{\n  \"version\": \"1.0\",\n  \"truncation\": null,\n  \"padding\": null,\n  \"added_tokens\": [")
	first := true
	for i, t := range tokens {
		typ := tokenizer.TokenType(v.Types[i])
		if typ != tokenizer.TypeControl && typ != tokenizer.TypeUnknown && typ != tokenizer.TypeUserDefined {
			continue
		}
		if !first {
			b.WriteByte(',')
		}
		first = false
		b.WriteString("\n    {\"id\": ")
		fmt.Fprint(&b, i)
		b.WriteString(", \"content\": ")
		w.str(t)
		special := typ != tokenizer.TypeUserDefined
		fmt.Fprintf(&b, ", \"single_word\": false, \"lstrip\": false, \"rstrip\": false, \"normalized\": %v, \"special\": %v}", !special, special)
	}
	b.WriteString("\n  ],\n")

	var merges [][2]string
	switch v.Model {
	case "llama":
		b.WriteString(`  "normalizer": {"type": "Sequence", "normalizers": [{"type": "Prepend", "prepend": "▁"}, {"type": "Replace", "pattern": {"String": " "}, "content": "▁"}]},` + "\n")
		b.WriteString(`  "pre_tokenizer": null,` + "\n")
		w.postProcessor(v, tokens)
		b.WriteString(`  "decoder": {"type": "Sequence", "decoders": [{"type": "Replace", "pattern": {"String": "▁"}, "content": " "}, {"type": "ByteFallback"}, {"type": "Fuse"}, {"type": "Strip", "content": " ", "start": 1, "stop": 0}]},` + "\n")
		merges = spmMerges(tokens, v.Scores)
		b.WriteString(`  "model": {"type": "BPE", "dropout": null, "unk_token": `)
		if v.UNK >= 0 {
			w.str(tokens[v.UNK])
		} else {
			b.WriteString("null")
		}
		b.WriteString(`, "continuing_subword_prefix": null, "end_of_word_suffix": null, "fuse_unk": true, "byte_fallback": true, "ignore_merges": false,` + "\n")
	case "gpt2":
		switch v.Pre {
		case tokenizer.PreGPT2:
			b.WriteString(`  "normalizer": null,` + "\n")
			b.WriteString(`  "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true},` + "\n")
		case tokenizer.PreLlama3, tokenizer.PreQwen2:
			pat := llama3Pattern
			if v.Pre == tokenizer.PreQwen2 {
				pat = qwen2Pattern
				b.WriteString(`  "normalizer": {"type": "NFC"},` + "\n")
			} else {
				b.WriteString(`  "normalizer": null,` + "\n")
			}
			b.WriteString(`  "pre_tokenizer": {"type": "Sequence", "pretokenizers": [{"type": "Split", "pattern": {"Regex": `)
			w.str(pat)
			b.WriteString(`}, "behavior": "Isolated", "invert": false}, {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": false}]},` + "\n")
		default:
			return nil, fmt.Errorf("hf: pre-tokenizer %v cannot be written", v.Pre)
		}
		w.postProcessor(v, tokens)
		b.WriteString(`  "decoder": {"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true, "use_regex": true},` + "\n")
		for i, m := range v.Merges {
			l, r, ok := strings.Cut(m, " ")
			if !ok {
				return nil, fmt.Errorf("hf: merge %d (%q) is not two tokens separated by a space", i, m)
			}
			merges = append(merges, [2]string{l, r})
		}
		fmt.Fprintf(&b, `  "model": {"type": "BPE", "dropout": null, "unk_token": null, "continuing_subword_prefix": "", "end_of_word_suffix": "", "fuse_unk": false, "byte_fallback": false, "ignore_merges": %v,`+"\n", v.IgnoreMerges)
	default:
		return nil, fmt.Errorf("hf: tokenizer model %q cannot be written as tokenizer.json", v.Model)
	}
	b.WriteString(`    "vocab": {`)
	for i, t := range tokens {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString("\n      ")
		w.str(t)
		fmt.Fprintf(&b, ": %d", i)
	}
	b.WriteString("\n    },\n    \"merges\": [")
	for i, m := range merges {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString("\n      ")
		w.str(m[0] + " " + m[1])
	}
	b.WriteString("\n    ]\n  }\n}\n")
	return b.Bytes(), nil
}

// needsEscape reports whether a SentencePiece vocabulary writes spaces as " "
// rather than ▁ (as llama2.c's tokenizer files do).
func needsEscape(tokens []string) bool {
	spaces := false
	for _, t := range tokens {
		if strings.Contains(t, "▁") {
			return false
		}
		spaces = spaces || strings.Contains(t, " ")
	}
	return spaces
}

// spmMerges derives ranked merges from SentencePiece scores as Hugging Face's
// converter does: for each piece, every split into two pieces (ordered by the
// ids of the left, then the right piece), all ordered by the score of the
// piece, highest first, ties in vocabulary order.
func spmMerges(tokens []string, scores []float32) [][2]string {
	ids := make(map[string]int, len(tokens))
	for i, t := range tokens {
		ids[t] = i
	}
	type merge struct {
		l, r  string
		score float32
	}
	var all []merge
	for _, t := range tokens {
		var local []merge
		for i := range t {
			if i == 0 {
				continue
			}
			l, r := t[:i], t[i:]
			if _, ok := ids[l]; !ok {
				continue
			}
			if _, ok := ids[r]; ok {
				local = append(local, merge{l, r, scores[ids[t]]})
			}
		}
		sort.SliceStable(local, func(a, b int) bool {
			if ids[local[a].l] != ids[local[b].l] {
				return ids[local[a].l] < ids[local[b].l]
			}
			return ids[local[a].r] < ids[local[b].r]
		})
		all = append(all, local...)
	}
	sort.SliceStable(all, func(a, b int) bool { return all[a].score > all[b].score })
	out := make([][2]string, len(all))
	for i, m := range all {
		out[i] = [2]string{m.l, m.r}
	}
	return out
}

// jsonWriter writes JSON values into a buffer.
type jsonWriter struct{ b *bytes.Buffer }

// str writes s as a JSON string, without HTML escaping.
func (w *jsonWriter) str(s string) {
	enc := json.NewEncoder(w.b)
	enc.SetEscapeHTML(false)
	enc.Encode(s)
	w.b.Truncate(w.b.Len() - 1)
}

// postProcessor writes the post-processor: a template that adds BOS when the
// vocabulary asks for it.
func (w *jsonWriter) postProcessor(v *Vocab, tokens []string) {
	b := w.b
	if !v.AddBOS || v.BOS < 0 {
		if v.Model == "gpt2" {
			b.WriteString(`  "post_processor": {"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": false, "use_regex": true},` + "\n")
		} else {
			b.WriteString(`  "post_processor": null,` + "\n")
		}
		return
	}
	bos := tokens[v.BOS]
	b.WriteString(`  "post_processor": {"type": "TemplateProcessing", "single": [{"SpecialToken": {"id": `)
	w.str(bos)
	b.WriteString(`, "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}], "pair": [{"SpecialToken": {"id": `)
	w.str(bos)
	b.WriteString(`, "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}, {"SpecialToken": {"id": `)
	w.str(bos)
	b.WriteString(`, "type_id": 1}}, {"Sequence": {"id": "B", "type_id": 1}}], "special_tokens": {`)
	w.str(bos)
	b.WriteString(`: {"id": `)
	w.str(bos)
	fmt.Fprintf(b, `, "ids": [%d], "tokens": [`, v.BOS)
	w.str(bos)
	b.WriteString("]}}},\n")
}

// MarshalTokenizerConfig writes the tokenizer_config.json that goes with
// MarshalTokenizerJSON: special tokens, add_bos_token, add_eos_token and the
// chat template.
func (v *Vocab) MarshalTokenizerConfig(maxLength int) ([]byte, error) {
	tokens := v.Tokens
	if v.Model == "llama" && needsEscape(tokens) {
		tokens = nil
		for _, t := range v.Tokens {
			tokens = append(tokens, strings.ReplaceAll(t, " ", "▁"))
		}
	}
	cfg := map[string]any{
		"add_bos_token":                v.AddBOS,
		"add_eos_token":                v.AddEOS,
		"tokenizer_class":              "PreTrainedTokenizerFast",
		"clean_up_tokenization_spaces": false,
	}
	if maxLength > 0 {
		cfg["model_max_length"] = maxLength
	}
	for _, s := range []struct {
		key string
		id  int
	}{{"bos_token", v.BOS}, {"eos_token", v.EOS}, {"unk_token", v.UNK}} {
		if s.id >= 0 && s.id < len(tokens) {
			cfg[s.key] = tokens[s.id]
		}
	}
	if v.ChatTemplate != "" {
		cfg["chat_template"] = v.ChatTemplate
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(cfg); err != nil {
		return nil, fmt.Errorf("hf: %w", err)
	}
	return b.Bytes(), nil
}
