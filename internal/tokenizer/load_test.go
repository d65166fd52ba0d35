package tokenizer

import (
	"bytes"
	"strings"
	"testing"

	"github.com/unswift/unswift/internal/gguf"
)

// memGGUF builds a GGUF file in memory holding the given metadata.
func memGGUF(t *testing.T, kvs []gguf.KV) *gguf.File {
	t.Helper()
	var buf bytes.Buffer
	w := gguf.NewWriter(&buf)
	for _, kv := range kvs {
		w.Add(kv.Key, kv.Value)
	}
	if err := w.WriteHeader(); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	f, err := gguf.Parse(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func TestFromGGUF(t *testing.T) {
	var byteTokens []string
	for _, r := range byteRunes {
		byteTokens = append(byteTokens, string(r))
	}
	gpt2Tokens := append(byteTokens, "ab", "<|endoftext|>")
	eot := uint32(len(gpt2Tokens) - 1)
	llama := []gguf.KV{
		{Key: KeyModel, Value: gguf.StringValue("llama")},
		{Key: KeyTokens, Value: gguf.StringsValue([]string{"<unk>", "<s>", "</s>", "\u2581", "a", "\u2581a"})},
		{Key: KeyScores, Value: gguf.Float32sValue([]float32{0, 0, 0, -1, -1, -0.5})},
		{Key: KeyTokenTypes, Value: gguf.Int32sValue([]int32{2, 3, 3, 1, 1, 1})},
		{Key: KeyBOS, Value: gguf.Uint32Value(1)},
		{Key: KeyEOS, Value: gguf.Uint32Value(2)},
	}
	gpt2 := []gguf.KV{
		{Key: KeyModel, Value: gguf.StringValue("gpt2")},
		{Key: KeyPre, Value: gguf.StringValue("gpt-2")},
		{Key: KeyTokens, Value: gguf.StringsValue(gpt2Tokens)},
		{Key: KeyMerges, Value: gguf.StringsValue([]string{"a b"})},
		{Key: KeyBOS, Value: gguf.Uint32Value(eot)},
		{Key: KeyEOS, Value: gguf.Uint32Value(eot)},
	}
	// with returns kvs with key set to v, or removed when v is nil.
	with := func(kvs []gguf.KV, key string, v *gguf.Value) []gguf.KV {
		var out []gguf.KV
		for _, kv := range kvs {
			if kv.Key != key {
				out = append(out, kv)
			}
		}
		if v != nil {
			out = append(out, gguf.KV{Key: key, Value: *v})
		}
		return out
	}
	val := func(v gguf.Value) *gguf.Value { return &v }

	errCases := []struct {
		name string
		kvs  []gguf.KV
		want string
	}{
		{"no model", with(llama, KeyModel, nil), KeyModel},
		{"unknown model", with(llama, KeyModel, val(gguf.StringValue("wordpiece"))), `"wordpiece" is not supported`},
		{"no tokens", with(llama, KeyTokens, nil), KeyTokens},
		{"no scores", with(llama, KeyScores, nil), KeyScores},
		{"types of strings", with(llama, KeyTokenTypes, val(gguf.StringsValue([]string{"a"}))), KeyTokenTypes},
		{"no bos", with(llama, KeyBOS, nil), KeyBOS},
		{"no eos", with(gpt2, KeyEOS, nil), KeyEOS},
		{"bos out of range", with(llama, KeyBOS, val(gguf.Uint32Value(6))), "BOS id 6"},
		{"no merges", with(gpt2, KeyMerges, nil), KeyMerges},
		{"other pre-tokenizer", with(gpt2, KeyPre, val(gguf.StringValue("deepseek-llm"))), `"deepseek-llm" is not supported`},
	}
	for _, tt := range errCases {
		_, err := FromGGUF(memGGUF(t, tt.kvs))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error %v, want one containing %q", tt.name, err, tt.want)
		}
	}

	tok, err := FromGGUF(memGGUF(t, with(llama, KeyEOS, val(gguf.Uint32Value(0xFFFFFFFF)))))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := tok.(*SentencePiece); !ok || tok.EOS() != -1 || tok.BOS() != 1 {
		t.Errorf("llama: got %T with BOS %d, EOS %d; want *SentencePiece, 1, -1", tok, tok.BOS(), tok.EOS())
	}
	if got := pieces(tok, tok.Encode("a a", true)); strings.Join(got, "|") != "<s>|\u2581a|\u2581a" {
		t.Errorf("llama: Encode(\"a a\") = %q", got)
	}
	tok, err = FromGGUF(memGGUF(t, with(gpt2, KeyPre, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if got := pieces(tok, tok.Encode("ab", true)); strings.Join(got, "|") != "<|endoftext|>|ab" {
		t.Errorf("gpt2: Encode(\"ab\") = %q", got)
	}
}
