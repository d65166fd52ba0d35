package server

import (
	"encoding/json"
	"reflect"
	"testing"
)

var completionSeeds = []string{
	`{"prompt":"hi"}`,
	`{"model":"m","prompt":["hi"],"max_tokens":5,"temperature":0.5,"top_p":0.9,"top_k":4,"seed":7,"stop":["a","b"],"stream":true,"stream_options":{"include_usage":true},"n":1,"echo":true}`,
	`{"prompt":[1,2,3]}`,
	`{"prompt":[[1,2]]}`,
	`{"prompt":"x","max_tokens":-1}`,
	`{"prompt":"x","temperature":"hot"}`,
	`{"prompt":{"x":1}}`,
	`[1,2]`,
	`{"prompt":"\u00e9\ud800"}`,
	`{"prompt":"x","stop":5}`,
	`{"prompt":[1e400]}`,
	`nul`,
	``,
}

// checkError checks the shape of a decoding error.
func checkError(t *testing.T, e *apiError) {
	if e.Status != 400 || e.Message == "" || e.Type != "invalid_request_error" {
		t.Fatalf("bad error %+v", e)
	}
	if e.Param != nil {
		if _, ok := e.Param.(string); !ok {
			t.Fatalf("param %#v is not a string", e.Param)
		}
	}
}

// checkRequest checks the invariants of a validated request.
func checkRequest(t *testing.T, r *request) {
	if r.maxTokens < 0 || r.topK < 0 || !(r.temperature >= 0 && r.temperature <= maxTemperature) || !(r.topP >= 0 && r.topP <= 1) {
		t.Fatalf("out-of-range sampling settings %+v", r)
	}
	if len(r.stop) > maxStops {
		t.Fatalf("%d stops", len(r.stop))
	}
	for _, s := range r.stop {
		if s == "" {
			t.Fatal("empty stop sequence kept")
		}
	}
}

func FuzzDecodeCompletion(f *testing.F) {
	for _, s := range completionSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		r, e := decodeCompletion(data)
		if e != nil {
			if r != nil {
				t.Fatal("both a request and an error")
			}
			checkError(t, e)
			return
		}
		checkRequest(t, r)
		if r.chat || r.messages != nil {
			t.Fatal("completion decoded as chat")
		}
		if r.promptIDs != nil && len(r.promptIDs) == 0 {
			t.Fatal("empty token prompt accepted")
		}
		for _, id := range r.promptIDs {
			if id < 0 {
				t.Fatalf("negative token id %d", id)
			}
		}
		// The validated request, written back as JSON, decodes to itself.
		again, e := decodeCompletion(encodeCompletion(r))
		if e != nil {
			t.Fatalf("re-encoded request rejected: %v", e)
		}
		if !reflect.DeepEqual(r, again) {
			t.Fatalf("round trip changed the request:\n%+v\n%+v", r, again)
		}
	})
}

// encodeCompletion writes a validated completion request as a request body.
func encodeCompletion(r *request) []byte {
	m := map[string]any{"temperature": r.temperature, "top_p": r.topP, "top_k": r.topK, "stream": r.stream,
		"echo": r.echo, "stream_options": map[string]any{"include_usage": r.includeUsage}}
	if r.promptIDs != nil {
		m["prompt"] = r.promptIDs
	} else {
		m["prompt"] = r.prompt
	}
	if r.model != "" {
		m["model"] = r.model
	}
	if r.maxTokens > 0 {
		m["max_tokens"] = r.maxTokens
	}
	if r.seeded {
		m["seed"] = int64(r.seed)
	}
	if r.stop != nil {
		m["stop"] = r.stop
	}
	b, _ := json.Marshal(m)
	return b
}

func FuzzDecodeChat(f *testing.F) {
	for _, s := range []string{
		`{"messages":[{"role":"user","content":"hi"}]}`,
		`{"messages":[{"role":"system","content":"s"},{"role":"user","content":[{"type":"text","text":"a"}]},{"role":"assistant","content":null}],"max_completion_tokens":3}`,
		`{"messages":[{"role":"developer","content":"x"}],"stop":"\n"}`,
		`{"messages":[{"role":"user","content":[{"type":"image_url"}]}]}`,
		`{"messages":[{"role":"bot","content":"x"}]}`,
		`{"messages":[{"role":"user"}]}`,
		`{"messages":{}}`,
		`{"messages":[]}`,
		`{"messages":[1]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		r, e := decodeChat(data)
		if e != nil {
			checkError(t, e)
			return
		}
		checkRequest(t, r)
		if !r.chat || len(r.messages) == 0 {
			t.Fatalf("chat request without messages: %+v", r)
		}
		for _, m := range r.messages {
			if !chatRoles[m.Role] || m.Role == "developer" {
				t.Fatalf("role %q", m.Role)
			}
		}
	})
}

// FuzzAppendQuoted checks the streaming fast path for JSON strings against
// encoding/json: both must decode to the same string.
func FuzzAppendQuoted(f *testing.F) {
	for _, s := range []string{"", "plain", "quote \" back \\ slash", "\n\r\t\x00\x1f\x7f", "é ✓ 😀", "\xff\xfe", "<&>\u2028"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := appendQuoted([]byte("x"), s)
		if got[0] != 'x' {
			t.Fatal("prefix lost")
		}
		var back, want string
		if err := json.Unmarshal(got[1:], &back); err != nil {
			t.Fatalf("%q quoted as %s: %v", s, got[1:], err)
		}
		ref, _ := json.Marshal(s)
		json.Unmarshal(ref, &want)
		if back != want {
			t.Fatalf("%q: decodes to %q, encoding/json's to %q", s, back, want)
		}
	})
}
