// Package chat renders conversations into the prompts that chat-tuned models
// were trained on, and holds multi-turn conversations with a model.
//
// A [Template] is one of a fixed, documented set of formats (see [Names]):
// the Jinja chat templates that models ship in their metadata
// (tokenizer.chat_template) are not interpreted, [Detect] recognises the
// common families by their markers instead. An [Encoder] tokenizes rendered
// conversations for one vocabulary, turning the template's special tokens
// into their ids. A [Session] is a conversation with a model that keeps the
// KV cache across turns.
package chat

import (
	"fmt"
	"strings"
)

// Message is one message of a conversation.
type Message struct {
	// Role is "system", "user" or "assistant" ("tool" is rendered as user).
	Role    string
	Content string
}

// Template names.
const (
	// Transcript is the fallback for models without a known template: one
	// "role: content" line per message, then "assistant:" for the reply,
	// which ends at "\nuser:".
	Transcript = "transcript"
	// Llama2 is Llama 2 chat:
	// "<s>[INST] <<SYS>>\n{system}\n<</SYS>>\n\n{user} [/INST] {answer} </s><s>[INST] {user} [/INST]".
	Llama2 = "llama-2"
	// Mistral is Mistral Instruct (v0.1, v0.2):
	// "<s>[INST] {user} [/INST] {answer}</s>[INST] {user} [/INST]". Mistral
	// has no system role: system text opens the first user message, followed
	// by a blank line.
	Mistral = "mistral"
	// ChatML (Qwen and others) is "<|im_start|>{role}\n{content}<|im_end|>\n"
	// per message, then "<|im_start|>assistant\n".
	ChatML = "chatml"
	// Llama3 is Llama 3 instruct:
	// "<|begin_of_text|><|start_header_id|>{role}<|end_header_id|>\n\n{content}<|eot_id|>"
	// per message, then the assistant header.
	Llama3 = "llama-3"
	// Phi is Phi-2's QA format: "Instruct: {user}\nOutput: {answer}\n" per
	// exchange, then "Instruct: {user}\nOutput:"; system text is a line of its
	// own before. The reply ends at "\nInstruct:".
	Phi = "phi"
)

// Names returns the template names New accepts.
func Names() []string { return []string{Transcript, Llama2, Mistral, ChatML, Llama3, Phi} }

// Detect names the template whose characteristic markers appear in a model's
// tokenizer.chat_template (a Jinja source): "<|im_start|>" for ChatML,
// "<|start_header_id|>" for Llama 3, "[INST]" with "<<SYS>>" for Llama 2 and
// "[INST]" without it for Mistral. Anything else, or no template, yields
// Transcript.
func Detect(jinja string) string {
	switch {
	case strings.Contains(jinja, "<|im_start|>"):
		return ChatML
	case strings.Contains(jinja, "<|start_header_id|>"):
		return Llama3
	case strings.Contains(jinja, "[INST]") && strings.Contains(jinja, "<<SYS>>"):
		return Llama2
	case strings.Contains(jinja, "[INST]"):
		return Mistral
	}
	return Transcript
}

// part is a piece of a rendered conversation: text, or a special token named
// by its vocabulary string (encoded as text when the vocabulary lacks it).
type part struct {
	text    string
	special bool
}

func text(s string) part    { return part{text: s} }
func special(s string) part { return part{text: s, special: true} }

// Template renders a conversation into the prompt that asks for the
// assistant's next reply. A Template is immutable and safe for concurrent use.
type Template struct {
	name   string
	render func(msgs []Message) []part
	// stops are text sequences that end the reply (removed from it).
	stops []string
	// ends are end-of-turn special tokens (vocabulary strings) that end the reply.
	ends []string
}

// New returns the template called name (one of Names).
func New(name string) (*Template, error) {
	t := &Template{name: name}
	switch name {
	case Transcript:
		t.render, t.stops = renderTranscript, []string{"\nuser:"}
	case Llama2:
		t.render = renderLlama2 // replies end at EOS
	case Mistral:
		t.render = renderMistral
	case ChatML:
		t.render, t.stops, t.ends = renderChatML, []string{"<|im_end|>"}, []string{"<|im_end|>"}
	case Llama3:
		t.render, t.stops, t.ends = renderLlama3, []string{"<|eot_id|>"}, []string{"<|eot_id|>"}
	case Phi:
		t.render, t.stops = renderPhi, []string{"\nInstruct:"}
	default:
		return nil, fmt.Errorf("unknown chat template %q (known: %s)", name, strings.Join(Names(), ", "))
	}
	return t, nil
}

// Name is the template's name.
func (t *Template) Name() string { return t.name }

// Stops returns the text sequences that end a reply; they are not part of it.
func (t *Template) Stops() []string { return append([]string(nil), t.stops...) }

// Ends returns the vocabulary strings of the special tokens that end a reply
// (besides the vocabulary's EOS).
func (t *Template) Ends() []string { return append([]string(nil), t.ends...) }

// Render returns the prompt for msgs as text, special tokens spelled out and
// without the BOS the tokenizer adds.
func (t *Template) Render(msgs []Message) string {
	var b strings.Builder
	for _, p := range t.render(msgs) {
		b.WriteString(p.text)
	}
	return b.String()
}

func renderTranscript(msgs []Message) []part {
	var b strings.Builder
	for _, m := range msgs {
		fmt.Fprintf(&b, "%s: %s\n", m.Role, m.Content)
	}
	b.WriteString("assistant:")
	return []part{text(b.String())}
}

// renderLlama2 follows Meta's Llama 2 chat format: system text is folded into
// the first user turn, each finished exchange is closed by EOS and the next
// opened by BOS (the first BOS comes from the tokenizer).
func renderLlama2(msgs []Message) []part {
	var parts []part
	var sys string
	first := true
	for _, m := range msgs {
		switch m.Role {
		case "system":
			sys += m.Content
		case "assistant":
			parts = append(parts, text(" "+strings.TrimSpace(m.Content)+" "), special("</s>"))
		default: // user, tool
			if !first {
				parts = append(parts, special("<s>"))
			}
			c := strings.TrimSpace(m.Content)
			if sys != "" {
				c = "<<SYS>>\n" + sys + "\n<</SYS>>\n\n" + c
				sys = ""
			}
			parts = append(parts, text("[INST] "+c+" [/INST]"))
			first = false
		}
	}
	return parts
}

// renderMistral follows Mistral Instruct: BOS once (from the tokenizer), each
// answer closed by EOS, system text prepended to the first user message.
func renderMistral(msgs []Message) []part {
	var parts []part
	var sys string
	for _, m := range msgs {
		switch m.Role {
		case "system":
			if sys != "" {
				sys += "\n\n"
			}
			sys += strings.TrimSpace(m.Content)
		case "assistant":
			parts = append(parts, text(" "+strings.TrimSpace(m.Content)), special("</s>"))
		default: // user, tool
			c := strings.TrimSpace(m.Content)
			if sys != "" {
				c = sys + "\n\n" + c
				sys = ""
			}
			parts = append(parts, text("[INST] "+c+" [/INST]"))
		}
	}
	return parts
}

func renderChatML(msgs []Message) []part {
	var parts []part
	for _, m := range msgs {
		parts = append(parts, special("<|im_start|>"), text(m.Role+"\n"+m.Content), special("<|im_end|>"), text("\n"))
	}
	return append(parts, special("<|im_start|>"), text("assistant\n"))
}

func renderLlama3(msgs []Message) []part {
	var parts []part
	for _, m := range msgs {
		parts = append(parts, special("<|start_header_id|>"), text(m.Role), special("<|end_header_id|>"),
			text("\n\n"+strings.TrimSpace(m.Content)), special("<|eot_id|>"))
	}
	return append(parts, special("<|start_header_id|>"), text("assistant"), special("<|end_header_id|>"), text("\n\n"))
}

func renderPhi(msgs []Message) []part {
	var b strings.Builder
	for _, m := range msgs {
		c := strings.TrimSpace(m.Content)
		switch m.Role {
		case "system":
			b.WriteString(c + "\n")
		case "assistant":
			b.WriteString("Output: " + c + "\n")
		default: // user, tool
			b.WriteString("Instruct: " + c + "\n")
		}
	}
	b.WriteString("Output:")
	return []part{text(b.String())}
}
