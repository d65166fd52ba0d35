package server

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openai/openai-go"
	"github.com/openai/openai-go/option"
	"github.com/unswift/unswift/internal/shared"
)

// TestCompletionEqualsRun checks that temperature-0 completions, plain and
// streamed through the OpenAI client, equal the continuation `unswift run
// --temp 0` prints for the same prompt and length, on both model formats.
func TestCompletionEqualsRun(t *testing.T) {
	for _, tc := range []struct {
		model     string
		prompt    string
		maxTokens int
	}{
		{stories, "Once upon a time", 60},
		{stories, "Tom had a red", 1},
		{stories, "The little dog", 200}, // more than the context: stops at its end
		{"models/stories260K/stories260K.bin", "Lily saw a bird", 40},
	} {
		t.Run(fmt.Sprintf("%s/%q/%d", tc.model, tc.prompt, tc.maxTokens), func(t *testing.T) {
			m := openModel(t, tc.model)
			_, ts := startServer(t, Config{Model: m})
			want := runGreedy(t, shared.Need(t, tc.model), tc.prompt, positions(m, tc.prompt, tc.maxTokens))
			if want == "" {
				t.Fatal("reference continuation is empty")
			}
			c := client(ts)
			params := openai.CompletionNewParams{
				Model:       "stories260K",
				Prompt:      openai.CompletionNewParamsPromptUnion{OfString: openai.String(tc.prompt)},
				MaxTokens:   openai.Int(int64(tc.maxTokens)),
				Temperature: openai.Float(0),
			}
			res, err := c.Completions.New(ctxTimeout(t), params)
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Choices) != 1 {
				t.Fatalf("%d choices", len(res.Choices))
			}
			if got := res.Choices[0].Text; got != want {
				t.Errorf("completion text\n got %q\nwant %q", got, want)
			}
			promptTokens := len(m.Tokenizer.Encode(tc.prompt, true))
			if res.Usage.PromptTokens != int64(promptTokens) {
				t.Errorf("usage.prompt_tokens = %d, want %d", res.Usage.PromptTokens, promptTokens)
			}
			if res.Usage.TotalTokens != res.Usage.PromptTokens+res.Usage.CompletionTokens {
				t.Errorf("usage total %d ≠ %d + %d", res.Usage.TotalTokens, res.Usage.PromptTokens, res.Usage.CompletionTokens)
			}
			// The run reference stops at the context or at EOS: "length" exactly
			// when all the tokens asked for (or room left) were generated.
			room := m.Config.Context - promptTokens + 1
			wantFinish := "stop"
			if int(res.Usage.CompletionTokens) == min(tc.maxTokens, room) {
				wantFinish = "length"
			}
			if fr := string(res.Choices[0].FinishReason); fr != wantFinish {
				t.Errorf("finish_reason %q, want %q (%d tokens generated)", fr, wantFinish, res.Usage.CompletionTokens)
			}

			params.StreamOptions = openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)}
			st := c.Completions.NewStreaming(ctxTimeout(t), params)
			var text strings.Builder
			var finish string
			var streamed openai.CompletionUsage
			for st.Next() {
				ch := st.Current()
				for _, c := range ch.Choices {
					text.WriteString(c.Text)
					if c.FinishReason != "" {
						finish = string(c.FinishReason)
					}
				}
				if ch.Usage.TotalTokens > 0 {
					streamed = ch.Usage
				}
			}
			if err := st.Err(); err != nil {
				t.Fatal(err)
			}
			if text.String() != want {
				t.Errorf("streamed text\n got %q\nwant %q", text.String(), want)
			}
			if finish != wantFinish {
				t.Errorf("streamed finish_reason %q, want %q", finish, wantFinish)
			}
			if streamed.PromptTokens != res.Usage.PromptTokens || streamed.CompletionTokens != res.Usage.CompletionTokens || streamed.TotalTokens != res.Usage.TotalTokens {
				t.Errorf("streamed usage %d+%d=%d, want %d+%d=%d", streamed.PromptTokens, streamed.CompletionTokens, streamed.TotalTokens,
					res.Usage.PromptTokens, res.Usage.CompletionTokens, res.Usage.TotalTokens)
			}
		})
	}
}

// TestStreamFormat checks the raw event stream: every event is a JSON chunk
// of the endpoint's object type, then data: [DONE] ends it.
func TestStreamFormat(t *testing.T) {
	_, ts := startServer(t, Config{})
	for _, tc := range []struct {
		path, body, object string
	}{
		{"/v1/completions", `{"prompt":"Once","max_tokens":8,"temperature":0,"stream":true}`, "text_completion"},
		{"/v1/chat/completions", `{"messages":[{"role":"user","content":"Hi"}],"max_tokens":8,"stream":true,"seed":3}`, "chat.completion.chunk"},
	} {
		resp, err := http.Post(ts.URL+tc.path, "application/json", strings.NewReader(tc.body))
		if err != nil {
			t.Fatal(err)
		}
		if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
			t.Errorf("%s: Content-Type %q", tc.path, ct)
		}
		events, err := sse(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		if len(events) < 3 || events[len(events)-1] != "[DONE]" {
			t.Fatalf("%s: stream does not end with [DONE]: %q", tc.path, events)
		}
		finishes := 0
		for _, e := range events[:len(events)-1] {
			var ch struct {
				ID      string `json:"id"`
				Object  string `json:"object"`
				Choices []struct {
					FinishReason *string `json:"finish_reason"`
				} `json:"choices"`
			}
			if err := json.Unmarshal([]byte(e), &ch); err != nil {
				t.Fatalf("%s: event %q: %v", tc.path, e, err)
			}
			if ch.Object != tc.object || ch.ID == "" {
				t.Errorf("%s: event %q has object %q, id %q", tc.path, e, ch.Object, ch.ID)
			}
			for _, c := range ch.Choices {
				if c.FinishReason != nil {
					finishes++
				}
			}
		}
		if finishes != 1 {
			t.Errorf("%s: %d chunks carry a finish_reason, want 1", tc.path, finishes)
		}
	}
}

// TestChatCompletion checks chat completions through the OpenAI client: the
// reply equals a plain completion of the rendered transcript (cut at the
// template's stop), streaming equals non-streaming, and usage counts the
// rendered prompt.
func TestChatCompletion(t *testing.T) {
	m := openModel(t, stories)
	s, ts := startServer(t, Config{Model: m})
	if s.Template() != TemplateTranscript {
		t.Fatalf("template %q for a model without chat_template metadata, want %q", s.Template(), TemplateTranscript)
	}
	c := client(ts)
	msgs := []openai.ChatCompletionMessageParamUnion{
		openai.SystemMessage("You tell stories."),
		openai.UserMessage("Once upon a time there was a cat."),
		openai.AssistantMessage("The cat was happy."),
		openai.UserMessage("What did the cat do?"),
	}
	params := openai.ChatCompletionNewParams{Model: "stories260K", Messages: msgs, Temperature: openai.Float(0), MaxTokens: openai.Int(60)}
	res, err := c.Chat.Completions.New(ctxTimeout(t), params)
	if err != nil {
		t.Fatal(err)
	}
	reply := res.Choices[0].Message.Content
	if reply == "" || res.Choices[0].Message.Role != "assistant" {
		t.Fatalf("reply %+v", res.Choices[0].Message)
	}

	transcript := "system: You tell stories.\nuser: Once upon a time there was a cat.\nassistant: The cat was happy.\nuser: What did the cat do?\nassistant:"
	want := runGreedy(t, shared.Need(t, stories), transcript, positions(m, transcript, 60))
	want = strings.TrimLeft(want, " ")
	wantFinish := "length"
	if i := strings.Index(want, "\nuser:"); i >= 0 {
		want, wantFinish = want[:i], "stop"
	}
	if reply != want {
		t.Errorf("chat reply\n got %q\nwant %q (the greedy continuation of the transcript)", reply, want)
	}
	if fr := res.Choices[0].FinishReason; fr != wantFinish {
		t.Errorf("finish_reason %q, want %q", fr, wantFinish)
	}
	if n := len(m.Tokenizer.Encode(transcript, true)); res.Usage.PromptTokens != int64(n) {
		t.Errorf("usage.prompt_tokens = %d, want %d (the rendered transcript)", res.Usage.PromptTokens, n)
	}

	st := c.Chat.Completions.NewStreaming(ctxTimeout(t), params)
	var acc openai.ChatCompletionAccumulator
	for st.Next() {
		acc.AddChunk(st.Current())
	}
	if err := st.Err(); err != nil {
		t.Fatal(err)
	}
	if got := acc.Choices[0].Message.Content; got != reply {
		t.Errorf("streamed reply %q, want %q", got, reply)
	}
	if fr := acc.Choices[0].FinishReason; fr != wantFinish {
		t.Errorf("streamed finish_reason %q, want %q", fr, wantFinish)
	}

	// Array-of-parts content renders like the same text as a string.
	parts := openai.UserMessage([]openai.ChatCompletionContentPartUnionParam{
		openai.TextContentPart("What did the "), openai.TextContentPart("cat do?")})
	params.Messages = append(append([]openai.ChatCompletionMessageParamUnion(nil), msgs[:3]...), parts)
	res2, err := c.Chat.Completions.New(ctxTimeout(t), params)
	if err != nil {
		t.Fatal(err)
	}
	if got := res2.Choices[0].Message.Content; got != reply {
		t.Errorf("reply to content parts %q, want %q", got, reply)
	}
}

// TestStop checks stop sequences: the text ends right before the first stop
// sequence the greedy text contains, with finish_reason "stop".
func TestStop(t *testing.T) {
	m := openModel(t, stories)
	_, ts := startServer(t, Config{Model: m})
	prompt := "Once upon a time"
	full := runGreedy(t, shared.Need(t, stories), prompt, positions(m, prompt, 60))
	for _, stops := range [][]string{{"Lily"}, {"park", "girl"}, {"zzz", ". "}, {"qqq"}} {
		want, finish := full, "length"
		cut := -1
		for _, s := range stops {
			if i := strings.Index(full, s); i >= 0 && (cut < 0 || i < cut) {
				cut = i
			}
		}
		if cut >= 0 {
			want, finish = full[:cut], "stop"
		}
		for _, stream := range []bool{false, true} {
			body, _ := json.Marshal(map[string]any{"prompt": prompt, "max_tokens": 60, "temperature": 0, "stop": stops, "stream": stream})
			code, _, b := post(t, ts.URL+"/v1/completions", string(body))
			if code != 200 {
				t.Fatalf("status %d: %s", code, b)
			}
			got, gotFinish := completionText(t, b, stream)
			if got != want || gotFinish != finish {
				t.Errorf("stop %q stream %v: got %q (%s), want %q (%s)", stops, stream, got, gotFinish, want, finish)
			}
		}
	}
}

// completionText extracts the text and finish reason of a completion body,
// streamed or not.
func completionText(t *testing.T, b []byte, stream bool) (string, string) {
	t.Helper()
	type choice struct {
		Text         string  `json:"text"`
		FinishReason *string `json:"finish_reason"`
	}
	var text, finish string
	add := func(data []byte) {
		var r struct{ Choices []choice }
		if err := json.Unmarshal(data, &r); err != nil {
			t.Fatalf("%v: %s", err, data)
		}
		for _, c := range r.Choices {
			text += c.Text
			if c.FinishReason != nil {
				finish = *c.FinishReason
			}
		}
	}
	if !stream {
		add(b)
		return text, finish
	}
	events, err := sse(strings.NewReader(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	if len(events) == 0 || events[len(events)-1] != "[DONE]" {
		t.Fatalf("stream does not end with [DONE]: %q", events)
	}
	for _, e := range events[:len(events)-1] {
		add([]byte(e))
	}
	return text, finish
}

// TestEcho checks that echo puts the prompt before the completion.
func TestEcho(t *testing.T) {
	m := openModel(t, stories)
	_, ts := startServer(t, Config{Model: m})
	want := "Once upon a time" + runGreedy(t, shared.Need(t, stories), "Once upon a time", positions(m, "Once upon a time", 10))
	for _, stream := range []bool{false, true} {
		code, _, b := post(t, ts.URL+"/v1/completions", fmt.Sprintf(`{"prompt":"Once upon a time","max_tokens":10,"temperature":0,"echo":true,"stream":%v}`, stream))
		if code != 200 {
			t.Fatalf("status %d: %s", code, b)
		}
		if got, _ := completionText(t, b, stream); got != want {
			t.Errorf("stream %v: echo text %q, want %q", stream, got, want)
		}
	}
}

// TestTokenPrompt checks a prompt given as token ids: with or without the
// BOS, it completes like the text it encodes.
func TestTokenPrompt(t *testing.T) {
	m := openModel(t, stories)
	_, ts := startServer(t, Config{Model: m})
	ids := m.Tokenizer.Encode("Once upon a time", true)
	want := runGreedy(t, shared.Need(t, stories), "Once upon a time", positions(m, "Once upon a time", 12))
	for _, p := range [][]int{ids, ids[1:]} {
		b, _ := json.Marshal(map[string]any{"prompt": p, "max_tokens": 12, "temperature": 0})
		code, _, body := post(t, ts.URL+"/v1/completions", string(b))
		if code != 200 {
			t.Fatalf("status %d: %s", code, body)
		}
		if got, _ := completionText(t, body, false); got != want {
			t.Errorf("prompt %v: text %q, want %q", p, got, want)
		}
	}
}

// TestSeededSampling checks that a seed makes sampling reproducible and that
// different seeds (at a high temperature) can differ.
func TestSeededSampling(t *testing.T) {
	_, ts := startServer(t, Config{})
	get := func(seed int) string {
		code, _, b := post(t, ts.URL+"/v1/completions", fmt.Sprintf(`{"prompt":"Once upon a time","max_tokens":40,"temperature":1.5,"top_p":0.95,"seed":%d}`, seed))
		if code != 200 {
			t.Fatalf("status %d: %s", code, b)
		}
		s, _ := completionText(t, b, false)
		return s
	}
	a, b := get(1), get(1)
	if a != b {
		t.Errorf("seed 1 gave %q then %q", a, b)
	}
	differs := false
	for seed := 2; seed < 6 && !differs; seed++ {
		differs = get(seed) != a
	}
	if !differs {
		t.Errorf("seeds 1..5 all gave %q", a)
	}
}

// TestBadRequests checks each kind of bad input over HTTP: status, error
// type, param and a message that names the problem.
func TestBadRequests(t *testing.T) {
	_, ts := startServer(t, Config{MaxBody: 4096})
	long := strings.Repeat("Once upon a time there was a big dog. ", 40)
	for _, tc := range []struct {
		name, method, path, body string
		status                   int
		param                    string // "" for none
		msg                      string
	}{
		{"malformed JSON", "POST", "/v1/completions", `{"prompt": "hi",`, 400, "", "invalid JSON"},
		{"not an object", "POST", "/v1/completions", `["hi"]`, 400, "", "must be a JSON object"},
		{"empty body", "POST", "/v1/completions", ``, 400, "", "empty"},
		{"trailing data", "POST", "/v1/completions", `{"prompt":"hi"} x`, 400, "", "invalid JSON"},
		{"missing prompt", "POST", "/v1/completions", `{"max_tokens":3}`, 400, "prompt", "missing required field 'prompt'"},
		{"prompt wrong type", "POST", "/v1/completions", `{"prompt":{"a":1}}`, 400, "prompt", "'prompt' must be"},
		{"two prompts", "POST", "/v1/completions", `{"prompt":["a","b"]}`, 400, "prompt", "one prompt per request"},
		{"token out of vocab", "POST", "/v1/completions", `{"prompt":[1,99999]}`, 400, "prompt", "not a token id"},
		{"negative token", "POST", "/v1/completions", `{"prompt":[1,-3]}`, 400, "prompt", "not a token id"},
		{"max_tokens string", "POST", "/v1/completions", `{"prompt":"hi","max_tokens":"5"}`, 400, "max_tokens", "invalid type for 'max_tokens': expected an integer, got string"},
		{"max_tokens fraction", "POST", "/v1/completions", `{"prompt":"hi","max_tokens":2.5}`, 400, "max_tokens", "expected an integer"},
		{"negative max_tokens", "POST", "/v1/completions", `{"prompt":"hi","max_tokens":-1}`, 400, "max_tokens", "max_tokens must be at least 1, got -1"},
		{"zero max_tokens", "POST", "/v1/completions", `{"prompt":"hi","max_tokens":0}`, 400, "max_tokens", "at least 1"},
		{"temperature too high", "POST", "/v1/completions", `{"prompt":"hi","temperature":3}`, 400, "temperature", "between 0 and 2"},
		{"temperature bool", "POST", "/v1/completions", `{"prompt":"hi","temperature":true}`, 400, "temperature", "expected a number, got bool"},
		{"top_p out of range", "POST", "/v1/completions", `{"prompt":"hi","top_p":1.5}`, 400, "top_p", "between 0 and 1"},
		{"seed string", "POST", "/v1/completions", `{"prompt":"hi","seed":"x"}`, 400, "seed", "expected an integer"},
		{"stream string", "POST", "/v1/completions", `{"prompt":"hi","stream":"yes"}`, 400, "stream", "expected a boolean"},
		{"n 2", "POST", "/v1/completions", `{"prompt":"hi","n":2}`, 400, "n", "n = 2 is not supported"},
		{"stop number", "POST", "/v1/completions", `{"prompt":"hi","stop":5}`, 400, "stop", "'stop' must be a string or an array"},
		{"five stops", "POST", "/v1/completions", `{"prompt":"hi","stop":["a","b","c","d","e"]}`, 400, "stop", "at most 4"},
		{"prompt longer than the context", "POST", "/v1/completions", `{"prompt":"` + long + `"}`, 400, "prompt", "more than the context length of 128 tokens"},
		{"chat without messages", "POST", "/v1/chat/completions", `{"model":"stories260K"}`, 400, "messages", "missing required field 'messages'"},
		{"chat empty messages", "POST", "/v1/chat/completions", `{"messages":[]}`, 400, "messages", "at least one message"},
		{"chat messages object", "POST", "/v1/chat/completions", `{"messages":{"role":"user"}}`, 400, "messages", "must be an array"},
		{"chat bad role", "POST", "/v1/chat/completions", `{"messages":[{"role":"wizard","content":"hi"}]}`, 400, "messages[0].role", `is "wizard"`},
		{"chat missing role", "POST", "/v1/chat/completions", `{"messages":[{"content":"hi"}]}`, 400, "messages[0].role", "missing required field 'messages[0].role'"},
		{"chat missing content", "POST", "/v1/chat/completions", `{"messages":[{"role":"user"}]}`, 400, "messages[0].content", "missing required field"},
		{"chat content number", "POST", "/v1/chat/completions", `{"messages":[{"role":"user","content":5}]}`, 400, "messages[0].content", "must be a string or an array"},
		{"chat image part", "POST", "/v1/chat/completions", `{"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"x"}}]}]}`, 400, "messages[0].content[0]", `of type "image_url"`},
		{"chat role number", "POST", "/v1/chat/completions", `{"messages":[{"role":1,"content":"hi"}]}`, 400, "messages[0].role", "expected a string"},
		{"chat max_completion_tokens", "POST", "/v1/chat/completions", `{"messages":[{"role":"user","content":"hi"}],"max_completion_tokens":-2}`, 400, "max_completion_tokens", "at least 1"},
		{"chat too long", "POST", "/v1/chat/completions", `{"messages":[{"role":"user","content":"` + long + `"}]}`, 400, "messages", "more than the context length"},
		{"oversized body", "POST", "/v1/completions", `{"prompt":"` + strings.Repeat("a", 5000) + `"}`, 413, "", "larger than the limit of 4096 bytes"},
		{"unknown model", "POST", "/v1/completions", `{"model":"gpt-4","prompt":"hi"}`, 404, "model", `"gpt-4" does not exist`},
		{"unknown model object", "GET", "/v1/models/gpt-4", ``, 404, "model", `"gpt-4" does not exist`},
		{"unknown route", "GET", "/v1/embeddings", ``, 404, "", "unknown route GET /v1/embeddings"},
		{"wrong method", "GET", "/v1/completions", ``, 405, "", "method GET is not allowed on /v1/completions (use POST)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequest(tc.method, ts.URL+tc.path, strings.NewReader(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.status, b)
			}
			e := decodeError(t, b)
			if !strings.Contains(e.Error.Message, tc.msg) {
				t.Errorf("message %q does not contain %q", e.Error.Message, tc.msg)
			}
			var param string
			if e.Error.Param != nil {
				param = *e.Error.Param
			}
			if param != tc.param {
				t.Errorf("param %q, want %q", param, tc.param)
			}
		})
	}
}

// TestUnknownFieldsIgnored checks that fields this server does not know are
// ignored, as OpenAI ignores them, not rejected.
func TestUnknownFieldsIgnored(t *testing.T) {
	_, ts := startServer(t, Config{})
	for _, tc := range []struct{ path, body string }{
		{"/v1/completions", `{"prompt":"Once","max_tokens":3,"frequency_penalty":0.5,"logit_bias":{"1":2},"user":"me","surprise":[1,{"x":null}]}`},
		{"/v1/chat/completions", `{"messages":[{"role":"user","content":"hi","name":"bob"}],"max_tokens":3,"tools":[],"response_format":{"type":"text"},"surprise":true}`},
	} {
		code, _, b := post(t, ts.URL+tc.path, tc.body)
		if code != 200 {
			t.Errorf("%s: status %d: %s", tc.path, code, b)
		}
	}
}

// TestModels checks GET /v1/models and /v1/models/{id} through the client.
func TestModels(t *testing.T) {
	m := openModel(t, stories)
	_, ts := startServer(t, Config{Model: m, Name: "tiny", Parallel: 2, Context: 64})
	c := client(ts)
	page, err := c.Models.List(ctxTimeout(t))
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Data) != 1 || page.Data[0].ID != "tiny" || page.Data[0].OwnedBy != "unswift" {
		t.Fatalf("models %+v", page.Data)
	}
	one, err := c.Models.Get(ctxTimeout(t), "tiny")
	if err != nil || one.ID != "tiny" {
		t.Fatalf("get tiny: %v %+v", err, one)
	}
	var raw struct {
		Data []modelObject `json:"data"`
	}
	if err := json.Unmarshal([]byte(page.RawJSON()), &raw); err != nil {
		t.Fatal(err)
	}
	info := raw.Data[0].Unswift
	if info.Context != 64 || info.Parallel != 2 || info.Release != nil || info.Format != m.Format {
		t.Errorf("unswift info %+v", info)
	}
	// The model name of the request must match when given.
	_, err = c.Completions.New(ctxTimeout(t), openai.CompletionNewParams{Model: "tiny",
		Prompt: openai.CompletionNewParamsPromptUnion{OfString: openai.String("Hi")}, MaxTokens: openai.Int(2)})
	if err != nil {
		t.Errorf("completion for model tiny: %v", err)
	}
	var apiErr *openai.Error
	_, err = c.Completions.New(ctxTimeout(t), openai.CompletionNewParams{Model: "stories260K",
		Prompt: openai.CompletionNewParamsPromptUnion{OfString: openai.String("Hi")}})
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 404 || apiErr.Code != "model_not_found" {
		t.Errorf("completion for another model: %v", err)
	}
}

// TestAPIKey checks --api-key: required on every route but /healthz, as a
// bearer token or a basic-auth password.
func TestAPIKey(t *testing.T) {
	_, ts := startServer(t, Config{APIKey: "s3cret"})
	for _, tc := range []struct {
		path   string
		header []string
		status int
	}{
		{"/healthz", nil, 200},
		{"/v1/models", nil, 401},
		{"/v1/models", []string{"Authorization", "Bearer wrong"}, 401},
		{"/v1/models", []string{"Authorization", "Bearer s3cret"}, 200},
		{"/metrics", nil, 401},
		{"/metrics", []string{"Authorization", "Bearer s3cret"}, 200},
		{"/", nil, 401},
		{"/nowhere", nil, 401},
	} {
		req, _ := http.NewRequest("GET", ts.URL+tc.path, nil)
		if tc.header != nil {
			req.Header.Set(tc.header[0], tc.header[1])
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.status {
			t.Errorf("GET %s %v: status %d, want %d", tc.path, tc.header, resp.StatusCode, tc.status)
		}
	}
	req, _ := http.NewRequest("GET", ts.URL+"/", nil)
	req.SetBasicAuth("anyone", "s3cret")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("page with basic auth: status %d", resp.StatusCode)
	}
	// The OpenAI client sends the key as a bearer token.
	with, without := client(ts, option.WithAPIKey("s3cret")), client(ts)
	if _, err := with.Models.List(ctxTimeout(t)); err != nil {
		t.Errorf("client with the key: %v", err)
	}
	var apiErr *openai.Error
	if _, err := without.Models.List(ctxTimeout(t)); !errors.As(err, &apiErr) || apiErr.StatusCode != 401 {
		t.Errorf("client without the key: %v", err)
	}
}

// TestHostHeader checks that a loopback-only server refuses requests for
// other host names (DNS rebinding).
func TestHostHeader(t *testing.T) {
	_, ts := startServer(t, Config{})
	for host, want := range map[string]int{"evil.example:8080": 403, "localhost:1": 200, "127.0.0.1": 200, "[::1]:80": 200, "10.0.0.1": 403} {
		req, _ := http.NewRequest("GET", ts.URL+"/v1/models", nil)
		req.Host = host
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("Host %s: status %d, want %d", host, resp.StatusCode, want)
		}
	}
	_, remote := startServer(t, Config{AllowRemote: true})
	req, _ := http.NewRequest("GET", remote.URL+"/v1/models", nil)
	req.Host = "evil.example"
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("AllowRemote: status %d", resp.StatusCode)
	}
}

// TestHealthAndPage checks /healthz and that / serves the self-contained page.
func TestHealthAndPage(t *testing.T) {
	_, ts := startServer(t, Config{})
	resp, err := http.Get(ts.URL + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(b), `"ok"`) {
		t.Errorf("healthz: %d %s", resp.StatusCode, b)
	}
	resp, err = http.Get(ts.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	b, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("page: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	page := string(b)
	for _, want := range []string{"/v1/chat/completions", "getReader", "tokens/s", "predicted_slowdown"} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	for _, banned := range []string{"http://", "https://", "<link", "src="} {
		if strings.Contains(page, banned) {
			t.Errorf("page is not self-contained: it contains %q", banned)
		}
	}
}

// TestMetrics checks the Prometheus counters after a few requests.
func TestMetrics(t *testing.T) {
	_, ts := startServer(t, Config{Parallel: 3, Queue: 5})
	var gen int
	for i := 0; i < 3; i++ {
		code, _, b := post(t, ts.URL+"/v1/completions", `{"prompt":"Once upon a time","max_tokens":7,"temperature":0}`)
		if code != 200 {
			t.Fatalf("%d %s", code, b)
		}
		var r struct{ Usage usage }
		json.Unmarshal(b, &r)
		gen += r.Usage.CompletionTokens
	}
	post(t, ts.URL+"/v1/completions", `{`)
	for name, want := range map[string]float64{
		`unswift_requests_total{route="/v1/completions",code="200"}`: 3,
		`unswift_requests_total{route="/v1/completions",code="400"}`: 1,
		"unswift_tokens_generated_total":                             float64(gen),
		"unswift_prompt_tokens_total":                                15,
		"unswift_queue_depth":                                        0,
		"unswift_active_sequences":                                   0,
		"unswift_parallel_slots":                                     3,
		"unswift_queue_capacity":                                     5,
		"unswift_release_order":                                      -1,
		"unswift_release_predicted_slowdown":                         1,
	} {
		if got := metricValue(t, ts, name); got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	if r := metricValue(t, ts, "unswift_tokens_per_second"); r <= 0 {
		t.Errorf("unswift_tokens_per_second = %v after %d tokens", r, gen)
	}
}

// openStream starts a streaming completion and returns its response once the
// first event has arrived.
func openStream(t *testing.T, ctx context.Context, url string) (*http.Response, *bufio.Reader) {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx, "POST", url+"/v1/completions",
		strings.NewReader(`{"prompt":"Once upon a time","max_tokens":100,"temperature":0,"stream":true}`))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("status %d: %s", resp.StatusCode, b)
	}
	br := bufio.NewReader(resp.Body)
	if _, err := br.ReadString('\n'); err != nil {
		t.Fatal(err)
	}
	return resp, br
}

// TestQueueFull checks that beyond the parallel slots and the queue, requests
// get 429 with Retry-After, and that queued requests run once a slot frees.
func TestQueueFull(t *testing.T) {
	_, ts := startServer(t, Config{Parallel: 1, Queue: 1}, 20*time.Millisecond) // the stream would take 2 s
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	resp, _ := openStream(t, ctx, ts.URL) // holds the only slot
	defer resp.Body.Close()

	queued := make(chan int, 1)
	go func() {
		code, _, _, _ := postE(ts.URL+"/v1/completions", `{"prompt":"Hi","max_tokens":2}`)
		queued <- code
	}()
	waitFor(t, 5*time.Second, "a queued request", func() bool { return metricValue(t, ts, "unswift_queue_depth") == 1 })

	code, h, b := post(t, ts.URL+"/v1/chat/completions", `{"messages":[{"role":"user","content":"hi"}]}`)
	if code != 429 {
		t.Fatalf("status %d, want 429: %s", code, b)
	}
	if e := decodeError(t, b); *e.Error.Code != "queue_full" || !strings.Contains(e.Error.Message, "queue of 1 is full") {
		t.Errorf("429 body %s", b)
	}
	if h.Get("Retry-After") == "" {
		t.Error("429 without Retry-After")
	}
	cancel() // frees the slot: the queued request runs
	select {
	case code := <-queued:
		if code != 200 {
			t.Errorf("queued request: status %d", code)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("queued request never ran")
	}
	if n := metricValue(t, ts, `unswift_requests_total{route="/v1/chat/completions",code="429"}`); n != 1 {
		t.Errorf("429 count %v", n)
	}
}

// TestDisconnectFreesSlot checks that a client that closes its stream frees
// the slot at once: generation stops (few tokens counted) and the next
// request gets the slot.
func TestDisconnectFreesSlot(t *testing.T) {
	const delay = 20 * time.Millisecond // 100 tokens would take 2 s
	_, ts := startServer(t, Config{Parallel: 1, Queue: 4}, delay)
	ctx, cancel := context.WithCancel(context.Background())
	resp, br := openStream(t, ctx, ts.URL)
	if _, err := br.ReadString('\n'); err != nil { // a token or two arrive
		t.Fatal(err)
	}
	t0 := time.Now()
	cancel()
	resp.Body.Close()
	waitFor(t, time.Second, "the slot to be freed", func() bool { return metricValue(t, ts, "unswift_active_sequences") == 0 })
	freed := time.Since(t0)
	if n := metricValue(t, ts, "unswift_tokens_generated_total"); n >= 50 {
		t.Errorf("%v tokens generated for a stream closed after the first: generation went on", n)
	}
	code, _, b := post(t, ts.URL+"/v1/completions", `{"prompt":"Hi","max_tokens":2}`)
	if code != 200 {
		t.Fatalf("next request: %d %s", code, b)
	}
	t.Logf("slot freed %s after the client closed its stream", freed)
}

// TestDeadline checks the per-request deadline: a non-streaming request gets
// 504, a stream ends with an error event.
func TestDeadline(t *testing.T) {
	_, ts := startServer(t, Config{Timeout: 150 * time.Millisecond}, 10*time.Millisecond)
	code, _, b := post(t, ts.URL+"/v1/completions", `{"prompt":"Once upon a time","max_tokens":100}`)
	if code != 504 {
		t.Fatalf("status %d, want 504: %s", code, b)
	}
	if e := decodeError(t, b); !strings.Contains(e.Error.Message, "deadline of 150ms") {
		t.Errorf("message %q", e.Error.Message)
	}
	code, _, b = post(t, ts.URL+"/v1/completions", `{"prompt":"Once upon a time","max_tokens":100,"stream":true}`)
	if code != 200 {
		t.Fatalf("stream status %d", code)
	}
	events, _ := sse(strings.NewReader(string(b)))
	if len(events) == 0 || !strings.Contains(events[len(events)-1], `"code":"timeout"`) {
		t.Errorf("stream did not end with a timeout error: %q", events)
	}
	c := client(ts)
	st := c.Completions.NewStreaming(ctxTimeout(t), openai.CompletionNewParams{Model: "stories260K",
		Prompt: openai.CompletionNewParamsPromptUnion{OfString: openai.String("Once")}, MaxTokens: openai.Int(100)})
	for st.Next() {
	}
	if err := st.Err(); err == nil || !strings.Contains(err.Error(), "deadline") {
		t.Errorf("client stream error %v, want the deadline", err)
	}
}

// TestShutdown checks graceful shutdown: work in flight finishes when the
// grace period allows, is canceled when it does not, and new work (queued
// requests included) gets 503.
func TestShutdown(t *testing.T) {
	t.Run("finishes", func(t *testing.T) {
		s, ts := startServer(t, Config{Parallel: 1, Queue: 2}, 10*time.Millisecond) // the stream takes 1 s
		resp, br := openStream(t, context.Background(), ts.URL)
		defer resp.Body.Close()
		queued := make(chan int, 1)
		go func() {
			code, _, _, _ := postE(ts.URL+"/v1/completions", `{"prompt":"Hi","max_tokens":2}`)
			queued <- code
		}()
		waitFor(t, 5*time.Second, "a queued request", func() bool { return metricValue(t, ts, "unswift_queue_depth") == 1 })
		done := make(chan error, 1)
		go func() { done <- s.Shutdown(context.Background()) }()
		if code := <-queued; code != 503 {
			t.Errorf("queued request during shutdown: status %d, want 503", code)
		}
		code, _, b := post(t, ts.URL+"/v1/completions", `{"prompt":"Hi"}`)
		if code != 503 || *decodeError(t, b).Error.Code != "shutting_down" {
			t.Errorf("new request during shutdown: %d %s", code, b)
		}
		if r, _ := http.Get(ts.URL + "/healthz"); r == nil || r.StatusCode != 503 {
			t.Errorf("healthz during shutdown: %v", r)
		}
		rest, _ := io.ReadAll(br)
		if !strings.HasSuffix(string(rest), "data: [DONE]\n\n") {
			t.Errorf("in-flight stream did not finish: ...%q", tail(string(rest)))
		}
		if err := <-done; err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	})
	t.Run("cancels", func(t *testing.T) {
		s, ts := startServer(t, Config{Parallel: 1}, 20*time.Millisecond)
		resp, br := openStream(t, context.Background(), ts.URL)
		defer resp.Body.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		t0 := time.Now()
		if err := s.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Shutdown: %v, want the deadline", err)
		}
		if d := time.Since(t0); d > time.Second {
			t.Errorf("Shutdown took %s with a 100ms grace", d)
		}
		rest, _ := io.ReadAll(br)
		if !strings.Contains(string(rest), `"code":"shutting_down"`) || strings.Contains(string(rest), "[DONE]") {
			t.Errorf("canceled stream: ...%q", tail(string(rest)))
		}
	})
}

func tail(s string) string {
	if len(s) > 300 {
		return s[len(s)-300:]
	}
	return s
}

// TestConcurrentRequestsAreIsolated runs different prompts at once on several
// slots and checks each against its own reference.
func TestConcurrentRequestsAreIsolated(t *testing.T) {
	m := openModel(t, stories)
	_, ts := startServer(t, Config{Model: m, Parallel: 3, Queue: 16})
	prompts := []string{"Once upon a time", "The cat sat", "Lily and Ben went", "One day, a bird"}
	want := map[string]string{}
	for _, p := range prompts {
		want[p] = runGreedy(t, shared.Need(t, stories), p, positions(m, p, 50))
	}
	type answer struct {
		prompt string
		stream bool
		code   int
		body   []byte
		err    error
	}
	answers := make([]answer, 12)
	var wg sync.WaitGroup
	for i := range answers {
		a := &answers[i]
		a.prompt, a.stream = prompts[i%len(prompts)], i%2 == 0
		wg.Add(1)
		go func() {
			defer wg.Done()
			body, _ := json.Marshal(map[string]any{"prompt": a.prompt, "max_tokens": 50, "temperature": 0, "stream": a.stream})
			a.code, _, a.body, a.err = postE(ts.URL+"/v1/completions", string(body))
		}()
	}
	wg.Wait()
	for _, a := range answers {
		if a.err != nil || a.code != 200 {
			t.Errorf("prompt %q: %v, status %d: %s", a.prompt, a.err, a.code, a.body)
			continue
		}
		if got, _ := completionText(t, a.body, a.stream); got != want[a.prompt] {
			t.Errorf("prompt %q: got %q, want %q", a.prompt, got, want[a.prompt])
		}
	}
}
