package chat

import "github.com/unswift/unswift/internal/model"

// MetadataKey is the GGUF metadata key of a model's Jinja chat template.
const MetadataKey = "tokenizer.chat_template"

// Source returns the Jinja chat template m ships with: the metadata key
// tokenizer.chat_template of a GGUF file, or of the metadata a Hugging Face
// directory's tokenizer_config.json (or chat_template.jinja) gives. It is ""
// when the model has none (llama2.c checkpoints never do).
func Source(m *model.Model) string {
	if m.GGUF == nil {
		return ""
	}
	src, _ := m.GGUF.String(MetadataKey)
	return src
}

// ForModel returns the template called name, or when name is "" the one
// detected from m's chat template (see Source and Detect).
func ForModel(m *model.Model, name string) (*Template, error) {
	if name == "" {
		name = Detect(Source(m))
	}
	return New(name)
}
