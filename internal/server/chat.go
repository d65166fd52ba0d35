package server

import (
	"fmt"
	"strings"

	"github.com/unswift/unswift/internal/tokenizer"
)

// Chat template names (Config.Template).
const (
	// TemplateTranscript is the default for models without a known template:
	// one "role: content" line per message, then "assistant:" for the reply,
	// which stops at "\nuser:".
	TemplateTranscript = "transcript"
	// TemplateLlama2 is Llama 2 chat: "[INST] <<SYS>>\n{system}\n<</SYS>>\n\n{user} [/INST] {assistant} </s><s>[INST] …".
	TemplateLlama2 = "llama-2"
	// TemplateChatML is ChatML: "<|im_start|>{role}\n{content}<|im_end|>\n" per message.
	TemplateChatML = "chatml"
	// TemplateLlama3 is Llama 3: "<|start_header_id|>{role}<|end_header_id|>\n\n{content}<|eot_id|>" per message.
	TemplateLlama3 = "llama-3"
)

// Templates lists the chat template names Config.Template accepts, besides ""
// (automatic).
var Templates = []string{TemplateTranscript, TemplateLlama2, TemplateChatML, TemplateLlama3}

// DetectTemplate names the template whose characteristic markers appear in a
// model's tokenizer.chat_template (a Jinja source): "<|im_start|>" for
// ChatML, "<|start_header_id|>" for Llama 3, "[INST]" for Llama 2. Anything
// else, or no template, yields TemplateTranscript.
func DetectTemplate(jinja string) string {
	switch {
	case strings.Contains(jinja, "<|im_start|>"):
		return TemplateChatML
	case strings.Contains(jinja, "<|start_header_id|>"):
		return TemplateLlama3
	case strings.Contains(jinja, "[INST]"):
		return TemplateLlama2
	}
	return TemplateTranscript
}

// part is a piece of a rendered conversation: text, or a special token named
// by its vocabulary string (encoded as text when the vocabulary lacks it).
type part struct {
	text    string
	special bool
}

func text(s string) part    { return part{text: s} }
func special(s string) part { return part{text: s, special: true} }

// chatTemplate renders messages into the prompt that asks for the assistant's
// next reply.
type chatTemplate struct {
	name   string
	render func(msgs []message) []part
	// stops are text sequences that end the reply (removed from it).
	stops []string
	// ends are end-of-turn special tokens (vocabulary strings) that end the reply.
	ends []string
}

func newTemplate(name string) (*chatTemplate, error) {
	switch name {
	case TemplateTranscript:
		return &chatTemplate{name: name, render: renderTranscript, stops: []string{"\nuser:"}}, nil
	case TemplateLlama2:
		return &chatTemplate{name: name, render: renderLlama2}, nil
	case TemplateChatML:
		return &chatTemplate{name: name, render: renderChatML, stops: []string{"<|im_end|>"}, ends: []string{"<|im_end|>"}}, nil
	case TemplateLlama3:
		return &chatTemplate{name: name, render: renderLlama3, stops: []string{"<|eot_id|>"}, ends: []string{"<|eot_id|>"}}, nil
	}
	return nil, fmt.Errorf("unknown chat template %q (known: %s)", name, strings.Join(Templates, ", "))
}

func renderTranscript(msgs []message) []part {
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
func renderLlama2(msgs []message) []part {
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

func renderChatML(msgs []message) []part {
	var parts []part
	for _, m := range msgs {
		parts = append(parts, special("<|im_start|>"), text(m.Role+"\n"+m.Content), special("<|im_end|>"), text("\n"))
	}
	return append(parts, special("<|im_start|>"), text("assistant\n"))
}

func renderLlama3(msgs []message) []part {
	var parts []part
	for _, m := range msgs {
		parts = append(parts, special("<|start_header_id|>"), text(m.Role), special("<|end_header_id|>"),
			text("\n\n"+strings.TrimSpace(m.Content)), special("<|eot_id|>"))
	}
	return append(parts, special("<|start_header_id|>"), text("assistant"), special("<|end_header_id|>"), text("\n\n"))
}

// specialIDs maps the vocabulary strings of the template's special tokens
// that tok has to their ids.
func (t *chatTemplate) specialIDs(tok tokenizer.Tokenizer) map[string]int {
	want := map[string]bool{}
	for _, p := range t.render([]message{{"system", ""}, {"user", ""}, {"assistant", ""}, {"user", ""}}) {
		if p.special {
			want[p.text] = true
		}
	}
	for _, e := range t.ends {
		want[e] = true
	}
	ids := map[string]int{}
	for id := 0; id < tok.VocabSize() && len(ids) < len(want); id++ {
		if p := tok.Piece(id); want[p] {
			if _, dup := ids[p]; !dup {
				ids[p] = id
			}
		}
	}
	return ids
}

// encode renders msgs and tokenizes them: BOS (when the vocabulary has one),
// then each text run encoded on its own and each special token by id.
func (t *chatTemplate) encode(tok tokenizer.Tokenizer, specials map[string]int, msgs []message) []int {
	ids := tok.Encode("", true)
	var pending strings.Builder
	flush := func() {
		if pending.Len() > 0 {
			ids = append(ids, tok.Encode(pending.String(), false)...)
			pending.Reset()
		}
	}
	for _, p := range t.render(msgs) {
		if id, ok := specials[p.text]; ok && p.special {
			flush()
			ids = append(ids, id)
			continue
		}
		pending.WriteString(p.text)
	}
	flush()
	return ids
}
