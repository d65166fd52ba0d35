package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"

	"github.com/unswift/unswift/internal/chat"
)

// Limits of the request fields.
const (
	maxStops       = 4 // stop sequences per request, as OpenAI allows
	maxTemperature = 2
)

// request is a validated completion or chat completion request.
type request struct {
	chat         bool
	model        string    // "" when the request names none
	prompt       string    // completion prompt text
	promptIDs    []int     // completion prompt given as token ids instead (nil otherwise)
	messages     []message // chat messages
	maxTokens    int       // tokens to generate at most; 0 means the endpoint's default
	temperature  float64
	topP         float64
	topK         int
	seed         uint64
	seeded       bool // seed was given
	stop         []string
	stream       bool
	includeUsage bool // stream_options.include_usage
	echo         bool // completions: prepend the prompt to the text
}

// message is one chat message.
type message = chat.Message

// commonFields are the request fields both endpoints share.
type commonFields struct {
	Model         *string         `json:"model"`
	MaxTokens     *int            `json:"max_tokens"`
	Temperature   *float64        `json:"temperature"`
	TopP          *float64        `json:"top_p"`
	TopK          *int            `json:"top_k"` // an extension (llama.cpp and others accept it)
	Seed          *int64          `json:"seed"`
	Stop          json.RawMessage `json:"stop"`
	Stream        *bool           `json:"stream"`
	StreamOptions *struct {
		IncludeUsage *bool `json:"include_usage"`
	} `json:"stream_options"`
	N *int `json:"n"`
}

type completionBody struct {
	commonFields
	Prompt json.RawMessage `json:"prompt"`
	Echo   *bool           `json:"echo"`
}

type chatBody struct {
	commonFields
	Messages            json.RawMessage `json:"messages"`
	MaxCompletionTokens *int            `json:"max_completion_tokens"`
}

type messageBody struct {
	Role    *string         `json:"role"`
	Content json.RawMessage `json:"content"`
}

type contentPart struct {
	Type *string `json:"type"`
	Text *string `json:"text"`
}

// chatRoles are the message roles accepted ("developer" is OpenAI's newer
// name for "system" and is rendered as such).
var chatRoles = map[string]bool{"system": true, "developer": true, "user": true, "assistant": true, "tool": true}

// decodeCompletion parses and validates a POST /v1/completions body. Unknown
// fields are ignored, as OpenAI does.
func decodeCompletion(data []byte) (*request, *apiError) {
	var b completionBody
	if e := unmarshal(data, &b); e != nil {
		return nil, e
	}
	r := &request{}
	if e := b.commonFields.fill(r); e != nil {
		return nil, e
	}
	if b.Echo != nil {
		r.echo = *b.Echo
	}
	if isNull(b.Prompt) {
		return nil, badRequest("prompt", "missing required field 'prompt' (a string)")
	}
	var e *apiError
	r.prompt, r.promptIDs, e = decodePrompt(b.Prompt)
	if e != nil {
		return nil, e
	}
	return r, nil
}

// decodeChat parses and validates a POST /v1/chat/completions body.
func decodeChat(data []byte) (*request, *apiError) {
	var b chatBody
	if e := unmarshal(data, &b); e != nil {
		return nil, e
	}
	r := &request{chat: true}
	if e := b.commonFields.fill(r); e != nil {
		return nil, e
	}
	if b.MaxCompletionTokens != nil {
		if *b.MaxCompletionTokens < 1 {
			return nil, badRequest("max_completion_tokens", "max_completion_tokens must be at least 1, got %d", *b.MaxCompletionTokens)
		}
		r.maxTokens = *b.MaxCompletionTokens
	}
	if isNull(b.Messages) {
		return nil, badRequest("messages", "missing required field 'messages' (an array of {role, content} objects)")
	}
	var raw []json.RawMessage
	if err := json.Unmarshal(b.Messages, &raw); err != nil {
		return nil, badRequest("messages", "'messages' must be an array of {role, content} objects")
	}
	if len(raw) == 0 {
		return nil, badRequest("messages", "'messages' must hold at least one message")
	}
	for i, m := range raw {
		msg, e := decodeMessage(i, m)
		if e != nil {
			return nil, e
		}
		r.messages = append(r.messages, msg)
	}
	return r, nil
}

func decodeMessage(i int, data json.RawMessage) (message, *apiError) {
	param := fmt.Sprintf("messages[%d]", i)
	var mb messageBody
	if err := json.Unmarshal(data, &mb); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			return message{}, badRequest(param+"."+te.Field, "invalid type for '%s.%s': expected %s, got %s", param, te.Field, jsonKind(te.Type.Kind().String()), te.Value)
		}
		return message{}, badRequest(param, "'%s' must be an object with 'role' and 'content'", param)
	}
	if mb.Role == nil {
		return message{}, badRequest(param+".role", "missing required field '%s.role'", param)
	}
	if !chatRoles[*mb.Role] {
		return message{}, badRequest(param+".role", "'%s.role' is %q; want one of system, developer, user, assistant, tool", param, *mb.Role)
	}
	m := message{Role: *mb.Role}
	if m.Role == "developer" {
		m.Role = "system"
	}
	switch c := bytes.TrimSpace(mb.Content); {
	case isNull(c):
		if m.Role != "assistant" {
			return m, badRequest(param+".content", "missing required field '%s.content'", param)
		}
	case c[0] == '"':
		if err := json.Unmarshal(c, &m.Content); err != nil {
			return m, badRequest(param+".content", "'%s.content' is not a valid JSON string", param)
		}
	case c[0] == '[':
		var parts []contentPart
		if err := json.Unmarshal(c, &parts); err != nil {
			return m, badRequest(param+".content", "'%s.content' must be a string or an array of {type: \"text\", text} parts", param)
		}
		var sb strings.Builder
		for j, p := range parts {
			if p.Type == nil || *p.Type != "text" || p.Text == nil {
				kind := "without a type"
				if p.Type != nil {
					kind = fmt.Sprintf("of type %q", *p.Type)
				}
				return m, badRequest(fmt.Sprintf("%s.content[%d]", param, j), "'%s.content[%d]' is a part %s; only {type: \"text\", text} parts are supported", param, j, kind)
			}
			sb.WriteString(*p.Text)
		}
		m.Content = sb.String()
	default:
		return m, badRequest(param+".content", "'%s.content' must be a string or an array of {type: \"text\", text} parts", param)
	}
	return m, nil
}

// unmarshal decodes a JSON object into v, turning decoding errors into 400s
// that name the problem.
func unmarshal(data []byte, v any) *apiError {
	if len(bytes.TrimSpace(data)) == 0 {
		return badRequest("", "request body is empty; send a JSON object")
	}
	err := json.Unmarshal(data, v)
	if err == nil {
		return nil
	}
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return badRequest("", "invalid JSON in request body at byte %d: %s", se.Offset, se.Error())
	case errors.As(err, &te) && te.Field == "":
		return badRequest("", "request body must be a JSON object, got %s", te.Value)
	case errors.As(err, &te):
		field := strings.TrimPrefix(te.Field, "commonFields.") // the embedded struct's name
		return badRequest(field, "invalid type for '%s': expected %s, got %s", field, jsonKind(te.Type.Kind().String()), te.Value)
	}
	return badRequest("", "invalid request body: %v", err)
}

// jsonKind names a Go kind the way a JSON API user thinks of it.
func jsonKind(kind string) string {
	switch {
	case strings.HasPrefix(kind, "int"), strings.HasPrefix(kind, "uint"):
		return "an integer"
	case strings.HasPrefix(kind, "float"):
		return "a number"
	case kind == "bool":
		return "a boolean"
	case kind == "string":
		return "a string"
	case kind == "slice":
		return "an array"
	case kind == "struct", kind == "map":
		return "an object"
	}
	return kind
}

func isNull(raw json.RawMessage) bool {
	t := bytes.TrimSpace(raw)
	return len(t) == 0 || string(t) == "null"
}

// fill validates the shared fields into r.
func (f *commonFields) fill(r *request) *apiError {
	if f.Model != nil {
		r.model = *f.Model
	}
	if f.MaxTokens != nil {
		if *f.MaxTokens < 1 {
			return badRequest("max_tokens", "max_tokens must be at least 1, got %d", *f.MaxTokens)
		}
		r.maxTokens = *f.MaxTokens
	}
	r.temperature = 1
	if f.Temperature != nil {
		t := *f.Temperature
		if !(t >= 0 && t <= maxTemperature) {
			return badRequest("temperature", "temperature must be between 0 and %d, got %v", maxTemperature, t)
		}
		r.temperature = t
	}
	r.topP = 1
	if f.TopP != nil {
		p := *f.TopP
		if !(p >= 0 && p <= 1) {
			return badRequest("top_p", "top_p must be between 0 and 1, got %v", p)
		}
		r.topP = p
	}
	if f.TopK != nil {
		if *f.TopK < 0 {
			return badRequest("top_k", "top_k must be ≥ 0, got %d", *f.TopK)
		}
		r.topK = *f.TopK
	}
	if f.Seed != nil {
		r.seed, r.seeded = uint64(*f.Seed), true
	}
	if f.N != nil && *f.N != 1 {
		return badRequest("n", "n = %d is not supported: this server returns one choice per request (n = 1)", *f.N)
	}
	if f.Stream != nil {
		r.stream = *f.Stream
	}
	if f.StreamOptions != nil && f.StreamOptions.IncludeUsage != nil {
		r.includeUsage = *f.StreamOptions.IncludeUsage
	}
	stops, e := decodeStop(f.Stop)
	if e != nil {
		return e
	}
	r.stop = stops
	return nil
}

// decodeStop reads stop: null, a string, or an array of at most four strings.
// Empty strings are dropped.
func decodeStop(raw json.RawMessage) ([]string, *apiError) {
	if isNull(raw) {
		return nil, nil
	}
	var one string
	if err := json.Unmarshal(raw, &one); err == nil {
		if one == "" {
			return nil, nil
		}
		return []string{one}, nil
	}
	var many []string
	if err := json.Unmarshal(raw, &many); err != nil {
		return nil, badRequest("stop", "'stop' must be a string or an array of strings")
	}
	if len(many) > maxStops {
		return nil, badRequest("stop", "'stop' holds %d sequences; at most %d are allowed", len(many), maxStops)
	}
	var out []string
	for _, s := range many {
		if s != "" {
			out = append(out, s)
		}
	}
	return out, nil
}

// decodePrompt reads a completion prompt: a string, an array of one string, an
// array of token ids, or an array of one array of token ids.
func decodePrompt(raw json.RawMessage) (string, []int, *apiError) {
	var text string
	if err := json.Unmarshal(raw, &text); err == nil {
		return text, nil, nil
	}
	var items []json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil {
		return "", nil, badRequest("prompt", "'prompt' must be a string, an array of strings or an array of token ids")
	}
	if len(items) == 0 {
		return "", nil, badRequest("prompt", "'prompt' is an empty array")
	}
	first := bytes.TrimSpace(items[0])
	switch {
	case len(first) > 0 && first[0] == '"':
		if len(items) > 1 {
			return "", nil, badRequest("prompt", "'prompt' holds %d prompts; this server takes one prompt per request", len(items))
		}
		if err := json.Unmarshal(first, &text); err != nil {
			return "", nil, badRequest("prompt", "'prompt[0]' is not a valid JSON string")
		}
		return text, nil, nil
	case len(first) > 0 && first[0] == '[':
		if len(items) > 1 {
			return "", nil, badRequest("prompt", "'prompt' holds %d prompts; this server takes one prompt per request", len(items))
		}
		return decodeIDs(first)
	}
	return decodeIDs(raw)
}

// decodeIDs reads a non-empty array of token ids.
func decodeIDs(raw json.RawMessage) (string, []int, *apiError) {
	var nums []float64
	if err := json.Unmarshal(raw, &nums); err != nil {
		return "", nil, badRequest("prompt", "'prompt' must be a string, an array of strings or an array of token ids")
	}
	if len(nums) == 0 {
		return "", nil, badRequest("prompt", "'prompt' is an empty array of token ids")
	}
	ids := make([]int, len(nums))
	for i, v := range nums {
		if v != math.Trunc(v) || v < 0 || v > math.MaxInt32 {
			return "", nil, badRequest("prompt", "'prompt[%d]' = %v is not a token id", i, v)
		}
		ids[i] = int(v)
	}
	return "", ids, nil
}
