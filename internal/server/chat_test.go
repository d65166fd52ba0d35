package server

import (
	"encoding/json"
	"path/filepath"
	"slices"
	"testing"

	"github.com/unswift/unswift/internal/gguf"
	"github.com/unswift/unswift/internal/model"
)

// TestTemplateFromMetadata checks that New picks the template named by a GGUF
// file's tokenizer.chat_template and that chat requests are rendered with it.
func TestTemplateFromMetadata(t *testing.T) {
	src := openModel(t, stories)
	meta := src.GGUF.Meta()
	meta = append(meta, gguf.KV{Key: "tokenizer.chat_template", Value: gguf.StringValue(
		`{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}`)})
	path := filepath.Join(t.TempDir(), "chatml.gguf")
	if err := gguf.WriteFile(path, meta, src.Tensors); err != nil {
		t.Fatal(err)
	}
	m, err := model.Open(path, model.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	s, ts := startServer(t, Config{Model: m})
	if s.Template() != TemplateChatML {
		t.Fatalf("template %q, want %q", s.Template(), TemplateChatML)
	}
	code, _, b := post(t, ts.URL+"/v1/chat/completions", `{"messages":[{"role":"user","content":"Hi"}],"max_tokens":3}`)
	if code != 200 {
		t.Fatalf("%d %s", code, b)
	}
	var r struct{ Usage usage }
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	want := len(m.Tokenizer.Encode("<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n", true))
	if r.Usage.PromptTokens != want {
		t.Errorf("prompt tokens %d, want %d (the ChatML rendering)", r.Usage.PromptTokens, want)
	}
	// An explicit template overrides the metadata.
	s2, _ := startServer(t, Config{Model: m, Template: TemplateLlama3})
	if s2.Template() != TemplateLlama3 {
		t.Errorf("template %q, want %q", s2.Template(), TemplateLlama3)
	}
	if _, err := New(Config{Model: m, Template: "nope"}); err == nil {
		t.Error("New accepted an unknown template")
	}
	if !slices.Contains(Templates, TemplateChatML) {
		t.Error("Templates lacks chatml")
	}
}
