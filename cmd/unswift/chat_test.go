package main

import (
	"context"
	"strings"
	"testing"

	"github.com/unswift/unswift/internal/chat"
	"github.com/unswift/unswift/internal/kernel"
	"github.com/unswift/unswift/internal/model"
	"github.com/unswift/unswift/internal/sample"
	"github.com/unswift/unswift/internal/shared"
)

const storiesGGUF = "models/stories260K/stories260K.gguf"

// withInput makes `run --chat` read text as its standard input.
func withInput(t *testing.T, text string) {
	t.Helper()
	old := chatInput
	chatInput = strings.NewReader(text)
	t.Cleanup(func() { chatInput = old })
}

// greedyReplies holds the conversation of msgs with package chat directly,
// greedily, and returns the replies.
func greedyReplies(t *testing.T, path, system string, maxTokens int, msgs ...string) []string {
	t.Helper()
	m, err := model.Open(path, model.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	pool := kernel.NewPool(1)
	defer pool.Close()
	tmpl, err := chat.ForModel(m, "")
	if err != nil {
		t.Fatal(err)
	}
	s := chat.NewSession(m.NewState(pool, 0), tmpl.Encoder(m.Tokenizer))
	if system != "" {
		s.Add(chat.Message{Role: "system", Content: system})
	}
	smp, _ := sample.New(0, 0, 1, 1)
	var out []string
	for _, msg := range msgs {
		r, err := s.Send(context.Background(), msg, chat.Options{MaxTokens: maxTokens, Sampler: smp})
		if err != nil {
			t.Fatal(err)
		}
		if r.Text == "" {
			t.Fatalf("empty reply to %q", msg)
		}
		out = append(out, r.Text)
	}
	return out
}

// TestRunChat: `run --chat` answers each line of stdin, one reply a line,
// and the replies are those of the conversation held with package chat.
func TestRunChat(t *testing.T) {
	model := shared.Need(t, storiesGGUF)
	withInput(t, "Once upon a time\n\nWhat did the cat say?\n")
	code, out, errs := run("run", "-m", model, "--chat", "--temp", "0", "-n", "24", "--system", "Tell a story.")
	if code != 0 {
		t.Fatalf("exit %d, stderr %q", code, errs)
	}
	replies := greedyReplies(t, model, "Tell a story.", 24, "Once upon a time", "What did the cat say?")
	if want := replies[0] + "\n" + replies[1] + "\n"; out != want {
		t.Errorf("output\n%q\nwant the two replies\n%q", out, want)
	}
	if errs != "" {
		t.Errorf("stderr %q, want nothing (input is not a terminal)", errs)
	}

	// -p sends one message and exits without reading stdin.
	withInput(t, "never read\n")
	code, out, errs = run("run", "-m", model, "--chat", "--temp", "0", "-n", "24", "--system", "Tell a story.", "-p", "Once upon a time", "-v")
	if code != 0 || out != replies[0]+"\n" {
		t.Errorf("-p: exit %d, stderr %q, output %q, want %q", code, errs, out, replies[0]+"\n")
	}
	if !strings.Contains(errs, "reused from the cache") {
		t.Errorf("-v: stderr %q lacks the timings", errs)
	}
}

// TestRunChatCacheReuse: the second turn of `run --chat -v` reports prompt
// tokens reused from the KV cache, the first none.
func TestRunChatCacheReuse(t *testing.T) {
	withInput(t, "Hi\nHello again\n")
	code, _, errs := run("run", "-m", shared.Need(t, storiesGGUF), "--chat", "--temp", "0", "-n", "8", "-v")
	if code != 0 {
		t.Fatalf("exit %d, stderr %q", code, errs)
	}
	lines := strings.Split(strings.TrimSpace(errs), "\n")
	if len(lines) != 2 || !strings.Contains(lines[0], "(0 reused") || strings.Contains(lines[1], "(0 reused") {
		t.Errorf("stderr %q: want two turns, the second reusing the cache", errs)
	}
}

func TestRunChatErrors(t *testing.T) {
	model := shared.Need(t, storiesGGUF)
	for _, tc := range []struct {
		name  string
		input string
		args  []string
		code  int
		want  []string // in stderr
	}{
		{"unknown template", "Hi\n", []string{"--chat", "--chat-template", "vicuna"}, 1,
			[]string{`error: unknown chat template "vicuna"`, "chatml"}},
		{"template without --chat", "", []string{"--chat-template", "chatml", "-p", "Hi"}, 1,
			[]string{"error: --chat-template and --system need --chat"}},
		{"context full", "Hi\nAnd then?\n", []string{"--chat", "--ctx", "24", "-n", "0"}, 1,
			[]string{"the context of 24 tokens is full", "error: the conversation no longer fits in the context"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			withInput(t, tc.input)
			code, _, errs := run(append([]string{"run", "-m", model, "--temp", "0"}, tc.args...)...)
			if code != tc.code {
				t.Errorf("exit %d, want %d; stderr %q", code, tc.code, errs)
			}
			for _, w := range tc.want {
				if !strings.Contains(errs, w) {
					t.Errorf("stderr %q lacks %q", errs, w)
				}
			}
		})
	}
}
