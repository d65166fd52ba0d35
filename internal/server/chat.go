package server

import "github.com/unswift/unswift/internal/chat"

// Chat template names (Config.Template); package chat documents the formats.
const (
	TemplateTranscript = chat.Transcript
	TemplateLlama2     = chat.Llama2
	TemplateMistral    = chat.Mistral
	TemplateChatML     = chat.ChatML
	TemplateLlama3     = chat.Llama3
	TemplatePhi        = chat.Phi
)

// Templates lists the chat template names Config.Template accepts, besides ""
// (automatic).
var Templates = chat.Names()
