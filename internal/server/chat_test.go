package server

import (
	"encoding/json"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/unswift/unswift/internal/gguf"
	"github.com/unswift/unswift/internal/model"
	"github.com/unswift/unswift/internal/shared"
	"github.com/unswift/unswift/internal/tokenizer"
)

func TestDetectTemplate(t *testing.T) {
	// Excerpts of the chat templates published with the models.
	for _, tc := range []struct{ model, jinja, want string }{
		{"Llama 2 chat", `{% if loop.index0 == 0 and system_message != false %}{% set content = '<<SYS>>\n' + system_message + '\n<</SYS>>\n\n' + message['content'] %}{% endif %}{% if message['role'] == 'user' %}{{ bos_token + '[INST] ' + content.strip() + ' [/INST]' }}`, TemplateLlama2},
		{"Mistral instruct", `{{ bos_token }}{% for message in messages %}{% if message['role'] == 'user' %}{{ '[INST] ' + message['content'] + ' [/INST]' }}{% elif message['role'] == 'assistant' %}{{ message['content'] + eos_token}}`, TemplateLlama2},
		{"Qwen (ChatML)", `{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}`, TemplateChatML},
		{"Llama 3 instruct", `{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'+ message['content'] | trim + '<|eot_id|>' %}`, TemplateLlama3},
		{"Zephyr", `{% for message in messages %}{% if message['role'] == 'user' %}{{ '<|user|>\n' + message['content'] + eos_token }}`, TemplateTranscript},
		{"none", "", TemplateTranscript},
	} {
		if got := DetectTemplate(tc.jinja); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.model, got, tc.want)
		}
	}
}

// conversation is a system prompt and two user turns around one answer.
var conversation = []message{
	{"system", "Be kind."},
	{"user", "Hi"},
	{"assistant", "Hello!"},
	{"user", "How are you?"},
}

// TestRender checks each template against the format its model card
// documents (special tokens written out, BOS first as the tokenizer adds it).
func TestRender(t *testing.T) {
	for _, tc := range []struct{ name, want string }{
		{TemplateTranscript, "system: Be kind.\nuser: Hi\nassistant: Hello!\nuser: How are you?\nassistant:"},
		{TemplateLlama2, "[INST] <<SYS>>\nBe kind.\n<</SYS>>\n\nHi [/INST] Hello! </s><s>[INST] How are you? [/INST]"},
		{TemplateChatML, "<|im_start|>system\nBe kind.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nHello!<|im_end|>\n<|im_start|>user\nHow are you?<|im_end|>\n<|im_start|>assistant\n"},
		{TemplateLlama3, "<|start_header_id|>system<|end_header_id|>\n\nBe kind.<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\nHello!<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nHow are you?<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n"},
	} {
		tmpl, err := newTemplate(tc.name)
		if err != nil {
			t.Fatal(err)
		}
		var b strings.Builder
		for _, p := range tmpl.render(conversation) {
			b.WriteString(p.text)
		}
		if b.String() != tc.want {
			t.Errorf("%s:\n got %q\nwant %q", tc.name, b.String(), tc.want)
		}
	}
	if _, err := newTemplate("vicuna"); err == nil || !strings.Contains(err.Error(), "unknown chat template") {
		t.Errorf("unknown template: %v", err)
	}
}

// TestEncodeSpecialTokens checks that a template's special tokens become the
// vocabulary's ids (not their spelling as text) with a real Llama vocabulary,
// and that the ids decode back to the rendered conversation.
func TestEncodeSpecialTokens(t *testing.T) {
	f, err := gguf.Open(shared.Need(t, "tokenizers/ggml-vocab-llama-spm.gguf"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tok, err := tokenizer.FromGGUF(f)
	if err != nil {
		t.Fatal(err)
	}
	tmpl, _ := newTemplate(TemplateLlama2)
	specials := tmpl.specialIDs(tok)
	if specials["<s>"] != tok.BOS() || specials["</s>"] != tok.EOS() {
		t.Fatalf("special ids %v, BOS %d, EOS %d", specials, tok.BOS(), tok.EOS())
	}
	ids := tmpl.encode(tok, specials, conversation)
	if ids[0] != tok.BOS() {
		t.Errorf("first id %d, want BOS %d", ids[0], tok.BOS())
	}
	// Exactly one EOS (after the answer) and one more BOS (opening turn 2).
	eos, bos := 0, 0
	for _, id := range ids {
		switch id {
		case tok.EOS():
			eos++
		case tok.BOS():
			bos++
		}
	}
	if eos != 1 || bos != 2 {
		t.Errorf("%d EOS and %d BOS in %v, want 1 and 2", eos, bos, ids)
	}
	// Control tokens decode to nothing; the text around them must survive.
	got := tok.Decode(ids)
	want := "[INST] <<SYS>>\nBe kind.\n<</SYS>>\n\nHi [/INST] Hello!  [INST] How are you? [/INST]"
	if strings.Join(strings.Fields(got), " ") != strings.Join(strings.Fields(want), " ") {
		t.Errorf("decoded %q, want %q (up to spacing)", got, want)
	}
	// Without the special tokens in the vocabulary they are spelled out.
	chatml, _ := newTemplate(TemplateChatML)
	ids = chatml.encode(tok, chatml.specialIDs(tok), conversation[1:2])
	if got := tok.Decode(ids); !strings.Contains(got, "<|im_start|>user") {
		t.Errorf("ChatML with a vocabulary lacking its tokens decoded to %q", got)
	}
}

// TestTemplateFromMetadata checks that New picks the template named by a GGUF
// file's tokenizer.chat_template and that chat requests are rendered with it.
func TestTemplateFromMetadata(t *testing.T) {
	src := openModel(t, stories)
	var meta []gguf.KV
	for _, k := range src.GGUF.Keys() {
		v, _ := src.GGUF.Value(k)
		meta = append(meta, gguf.KV{Key: k, Value: v})
	}
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
