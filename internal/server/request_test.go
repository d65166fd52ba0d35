package server

import (
	"reflect"
	"strings"
	"testing"
)

func TestDecodeCompletion(t *testing.T) {
	for _, tc := range []struct {
		body string
		want request
	}{
		{`{"prompt":"hi"}`, request{prompt: "hi", temperature: 1, topP: 1}},
		{`{"model":"m","prompt":["hi"],"max_tokens":5,"temperature":0,"top_p":0.5,"top_k":3,"seed":-1,"stop":"x","stream":true,"stream_options":{"include_usage":true},"n":1,"echo":true}`,
			request{model: "m", prompt: "hi", maxTokens: 5, temperature: 0, topP: 0.5, topK: 3, seed: 1<<64 - 1, seeded: true,
				stop: []string{"x"}, stream: true, includeUsage: true, echo: true}},
		{`{"prompt":[1,2,3],"stop":["a","","b"],"max_tokens":null}`, request{promptIDs: []int{1, 2, 3}, stop: []string{"a", "b"}, temperature: 1, topP: 1}},
		{`{"prompt":[[4,5]],"stop":""}`, request{promptIDs: []int{4, 5}, temperature: 1, topP: 1}},
		{`{"prompt":"","unknown":{"deep":[1,2]}}`, request{temperature: 1, topP: 1}},
	} {
		got, e := decodeCompletion([]byte(tc.body))
		if e != nil {
			t.Errorf("%s: %v", tc.body, e)
			continue
		}
		if !reflect.DeepEqual(*got, tc.want) {
			t.Errorf("%s:\n got %+v\nwant %+v", tc.body, *got, tc.want)
		}
	}
}

func TestDecodeChat(t *testing.T) {
	body := `{"messages":[{"role":"developer","content":"be brief"},{"role":"user","content":[{"type":"text","text":"a"},{"type":"text","text":"b"}]},{"role":"assistant","content":null},{"role":"tool","content":"42"}],"max_tokens":9,"max_completion_tokens":4}`
	got, e := decodeChat([]byte(body))
	if e != nil {
		t.Fatal(e)
	}
	want := []message{{Role: "system", Content: "be brief"}, {Role: "user", Content: "ab"}, {Role: "assistant", Content: ""}, {Role: "tool", Content: "42"}}
	if !reflect.DeepEqual(got.messages, want) || !got.chat || got.maxTokens != 4 {
		t.Errorf("got %+v", *got)
	}
}

func TestCheckAddr(t *testing.T) {
	for _, tc := range []struct {
		addr   string
		remote bool
		err    string // "" for none
	}{
		{"127.0.0.1:8080", false, ""},
		{"127.0.0.2:0", false, ""},
		{"[::1]:8080", false, ""},
		{"localhost:8080", false, ""},
		{"0.0.0.0:8080", false, "not a loopback address"},
		{"192.168.1.2:80", false, "not a loopback address"},
		{"[::]:80", false, "not a loopback address"},
		{":8080", false, "every interface"},
		{":8080", true, ""},
		{"0.0.0.0:8080", true, ""},
		{"8080", false, "want HOST:PORT"},
	} {
		err := CheckAddr(tc.addr, tc.remote)
		switch {
		case tc.err == "" && err != nil:
			t.Errorf("%s (remote %v): %v", tc.addr, tc.remote, err)
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("%s (remote %v): error %v, want one containing %q", tc.addr, tc.remote, err, tc.err)
		}
	}
}

func TestLoopbackHost(t *testing.T) {
	for host, want := range map[string]bool{
		"localhost": true, "LOCALHOST:80": true, "app.localhost:1": true, "127.0.0.1:9": true, "127.1.2.3": true,
		"[::1]:8080": true, "::1": true, "example.com": false, "10.0.0.1:80": false, "": false, "localhost.example.com": false,
	} {
		if got := loopbackHost(host); got != want {
			t.Errorf("loopbackHost(%q) = %v, want %v", host, got, want)
		}
	}
}
