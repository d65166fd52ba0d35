package chat

import (
	"slices"
	"strings"
	"testing"

	"github.com/unswift/unswift/internal/gguf"
	"github.com/unswift/unswift/internal/shared"
	"github.com/unswift/unswift/internal/tokenizer"
)

func TestDetect(t *testing.T) {
	// Excerpts of the chat templates published with the models
	// (tokenizer_config.json's chat_template).
	for _, tc := range []struct{ model, jinja, want string }{
		{"Llama 2 chat", `{% if loop.index0 == 0 and system_message != false %}{% set content = '<<SYS>>\n' + system_message + '\n<</SYS>>\n\n' + message['content'] %}{% endif %}{% if message['role'] == 'user' %}{{ bos_token + '[INST] ' + content.strip() + ' [/INST]' }}`, Llama2},
		{"CodeLlama instruct", `{% if message['role'] == 'user' %}{{ bos_token + '[INST] ' + content | trim + ' [/INST]' }}{% elif message['role'] == 'system' %}{{ '<<SYS>>\\n' + content | trim + '\\n<</SYS>>\\n\\n' }}`, Llama2},
		{"Mistral instruct v0.1", `{{ bos_token }}{% for message in messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}{% if message['role'] == 'user' %}{{ '[INST] ' + message['content'] + ' [/INST]' }}{% elif message['role'] == 'assistant' %}{{ message['content'] + eos_token}}`, Mistral},
		{"Mistral instruct v0.3", `{%- if messages[0]["role"] == "system" %}{%- set system_message = messages[0]["content"] %}{%- set loop_messages = messages[1:] %}{%- endif %}{{- bos_token }}{%- for message in loop_messages %}{%- if message["role"] == "user" %}{%- if loop.last and system_message is defined %}{{- "[INST] " + system_message + "\n\n" + message["content"] + "[/INST]" }}`, Mistral},
		{"Qwen2 (ChatML)", `{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n' }}{% endif %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}`, ChatML},
		{"Llama 3 instruct", `{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'+ message['content'] | trim + '<|eot_id|>' %}{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}`, Llama3},
		{"Zephyr", `{% for message in messages %}{% if message['role'] == 'user' %}{{ '<|user|>\n' + message['content'] + eos_token }}`, Transcript},
		{"Gemma", `{{ bos_token }}{% for message in messages %}{{ '<start_of_turn>' + role + '\n' + message['content'] | trim + '<end_of_turn>\n' }}{% endfor %}`, Transcript},
		{"none", "", Transcript},
	} {
		if got := Detect(tc.jinja); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.model, got, tc.want)
		}
	}
}

// conversation is a system prompt and two user turns around one answer.
var conversation = []Message{
	{Role: "system", Content: "Be kind."},
	{Role: "user", Content: "Hi"},
	{Role: "assistant", Content: "Hello!"},
	{Role: "user", Content: "How are you?"},
}

// TestRender checks each template against the format its model card
// documents (special tokens written out, without the BOS the tokenizer adds).
func TestRender(t *testing.T) {
	for _, tc := range []struct{ name, want string }{
		{Transcript, "system: Be kind.\nuser: Hi\nassistant: Hello!\nuser: How are you?\nassistant:"},
		// Meta's llama repository, chat_completion: system folded into the first turn.
		{Llama2, "[INST] <<SYS>>\nBe kind.\n<</SYS>>\n\nHi [/INST] Hello! </s><s>[INST] How are you? [/INST]"},
		// Mistral-7B-Instruct model card: BOS once, each answer closed by EOS.
		{Mistral, "[INST] Be kind.\n\nHi [/INST] Hello!</s>[INST] How are you? [/INST]"},
		{ChatML, "<|im_start|>system\nBe kind.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nHello!<|im_end|>\n<|im_start|>user\nHow are you?<|im_end|>\n<|im_start|>assistant\n"},
		{Llama3, "<|start_header_id|>system<|end_header_id|>\n\nBe kind.<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\nHello!<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nHow are you?<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n"},
		// Phi-2 model card, QA format: "Instruct: <prompt>\nOutput:".
		{Phi, "Be kind.\nInstruct: Hi\nOutput: Hello!\nInstruct: How are you?\nOutput:"},
	} {
		tmpl, err := New(tc.name)
		if err != nil {
			t.Fatal(err)
		}
		if got := tmpl.Render(conversation); got != tc.want {
			t.Errorf("%s:\n got %q\nwant %q", tc.name, got, tc.want)
		}
		if tmpl.Name() != tc.name {
			t.Errorf("%s: Name %q", tc.name, tmpl.Name())
		}
	}
}

func TestNew(t *testing.T) {
	for _, name := range Names() {
		if _, err := New(name); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	for _, name := range []string{"", "vicuna", "ChatML"} {
		_, err := New(name)
		if err == nil || !strings.Contains(err.Error(), "unknown chat template") || !strings.Contains(err.Error(), ChatML) {
			t.Errorf("New(%q): %v, want an unknown chat template error listing the names", name, err)
		}
	}
	// Stops and Ends are copies.
	tmpl, _ := New(ChatML)
	tmpl.Stops()[0] = "x"
	tmpl.Ends()[0] = "x"
	if tmpl.Stops()[0] != "<|im_end|>" || tmpl.Ends()[0] != "<|im_end|>" {
		t.Error("Stops or Ends shares the template's slice")
	}
}

func openVocab(t *testing.T, rel string) tokenizer.Tokenizer {
	t.Helper()
	f, err := gguf.Open(shared.Need(t, rel))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tok, err := tokenizer.FromGGUF(f)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func count(ids []int, id int) int {
	n := 0
	for _, x := range ids {
		if x == id {
			n++
		}
	}
	return n
}

// TestEncodeSpecialTokens checks that a template's special tokens become the
// vocabulary's ids (not their spelling as text) with a real Llama vocabulary,
// and that the ids decode back to the rendered conversation.
func TestEncodeSpecialTokens(t *testing.T) {
	tok := openVocab(t, "tokenizers/ggml-vocab-llama-spm.gguf")
	for _, tc := range []struct {
		name     string
		eos, bos int    // EOS and BOS ids in the encoding
		decoded  string // the decoding, up to spacing (control tokens decode to nothing)
	}{
		{Llama2, 1, 2, "[INST] <<SYS>>\nBe kind.\n<</SYS>>\n\nHi [/INST] Hello! [INST] How are you? [/INST]"},
		// SentencePiece's dummy prefix puts a space after the EOS, as in the
		// model card's "</s> [INST]".
		{Mistral, 1, 1, "[INST] Be kind.\n\nHi [/INST] Hello! [INST] How are you? [/INST]"},
		// Without the special tokens in the vocabulary they are spelled out.
		{ChatML, 0, 1, "<|im_start|>system\nBe kind.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nHello!<|im_end|>\n<|im_start|>user\nHow are you?<|im_end|>\n<|im_start|>assistant\n"},
	} {
		tmpl, _ := New(tc.name)
		enc := tmpl.Encoder(tok)
		ids := enc.Encode(conversation)
		if ids[0] != tok.BOS() {
			t.Errorf("%s: first id %d, want BOS %d", tc.name, ids[0], tok.BOS())
		}
		if e, b := count(ids, tok.EOS()), count(ids, tok.BOS()); e != tc.eos || b != tc.bos {
			t.Errorf("%s: %d EOS and %d BOS in %v, want %d and %d", tc.name, e, b, ids, tc.eos, tc.bos)
		}
		got := tok.Decode(ids)
		if strings.Join(strings.Fields(got), " ") != strings.Join(strings.Fields(tc.decoded), " ") {
			t.Errorf("%s: decoded %q, want %q (up to spacing)", tc.name, got, tc.decoded)
		}
		if !slices.Equal(tmpl.Encode(tok, conversation), ids) {
			t.Errorf("%s: Template.Encode differs from Encoder.Encode", tc.name)
		}
	}
	// Special token ids: the vocabulary's BOS and EOS; ends at EOS and BOS.
	enc := must(New(Llama2)).Encoder(tok)
	if id, ok := enc.Special("</s>"); !ok || id != tok.EOS() {
		t.Errorf(`Special("</s>") = %d, %v; want EOS %d`, id, ok, tok.EOS())
	}
	if id, ok := enc.Special("<s>"); !ok || id != tok.BOS() {
		t.Errorf(`Special("<s>") = %d, %v; want BOS %d`, id, ok, tok.BOS())
	}
	if _, ok := must(New(ChatML)).Encoder(tok).Special("<|im_end|>"); ok {
		t.Error("found <|im_end|> in a Llama 2 vocabulary")
	}
	if !enc.IsEnd(tok.EOS()) || !enc.IsEnd(tok.BOS()) || enc.IsEnd(tok.Encode("Hi", false)[0]) {
		t.Error("IsEnd: want true for EOS and BOS only")
	}
}

// TestEncodeText checks that a template without special tokens encodes as
// its rendering does, with a GPT-2 (byte-level BPE) vocabulary as Phi-2 uses,
// and that the vocabulary's EOS <|endoftext|> ends a reply.
func TestEncodeText(t *testing.T) {
	tok := openVocab(t, "tokenizers/ggml-vocab-gpt-2.gguf")
	for _, name := range []string{Transcript, Phi} {
		tmpl, _ := New(name)
		enc := tmpl.Encoder(tok)
		want := tok.Encode(tmpl.Render(conversation), true)
		if got := enc.Encode(conversation); !slices.Equal(got, want) {
			t.Errorf("%s: %v, want %v", name, got, want)
		}
		if eos := tok.EOS(); eos < 0 || tok.Piece(eos) != "<|endoftext|>" || !enc.IsEnd(eos) {
			t.Errorf("%s: EOS %d (%q) does not end a reply", name, eos, tok.Piece(eos))
		}
	}
}

func must(t *Template, err error) *Template {
	if err != nil {
		panic(err)
	}
	return t
}
