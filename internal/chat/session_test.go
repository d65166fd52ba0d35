package chat

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/unswift/unswift/internal/gguf"
	"github.com/unswift/unswift/internal/hf"
	"github.com/unswift/unswift/internal/kernel"
	"github.com/unswift/unswift/internal/model"
	"github.com/unswift/unswift/internal/sample"
	"github.com/unswift/unswift/internal/shared"
	"github.com/unswift/unswift/internal/tensor"
)

const stories = "models/stories260K/stories260K.gguf"

func openModel(t *testing.T, path string) *model.Model {
	t.Helper()
	m, err := model.Open(path, model.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

// newSession starts a session on m with a context of ctx tokens (0: the
// model's) and the template called name.
func newSession(t *testing.T, m *model.Model, ctx int, name string) *Session {
	t.Helper()
	pool := kernel.NewPool(2)
	t.Cleanup(pool.Close)
	return NewSession(m.NewState(pool, ctx), must(New(name)).Encoder(m.Tokenizer))
}

func greedy(t *testing.T) *sample.Sampler {
	t.Helper()
	s, err := sample.New(0, 0, 1, 1)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestSessionReusesCache checks that a second turn runs only the tokens after
// the prefix already in the KV cache, rewinding the cache where the rendered
// conversation departs from the tokens run (a reply re-tokenized otherwise),
// and that its reply is the one a fresh session given the same history
// produces (which runs every token).
func TestSessionReusesCache(t *testing.T) {
	m := openModel(t, shared.Need(t, stories))
	ctx := context.Background()
	rewound := false
	for _, name := range []string{Transcript, Llama2, ChatML, Phi} {
		t.Run(name, func(t *testing.T) {
			s := newSession(t, m, 0, name)
			opt := Options{MaxTokens: 20, Sampler: greedy(t)}
			r1, err := s.Send(ctx, "Once upon a time", opt)
			if err != nil {
				t.Fatal(err)
			}
			first := s.enc.Encode(s.Messages()[:1])
			if r1.Reused != 0 || r1.Stats.PromptTokens != len(first) || r1.Stats.GenTokens == 0 || r1.Text == "" {
				t.Fatalf("turn 1: %+v, want 0 reused, %d prompt tokens and a reply", r1, len(first))
			}
			cached := s.Cached()
			r2, err := s.Send(ctx, "What did Lily do?", opt)
			if err != nil {
				t.Fatal(err)
			}
			msgs := s.Messages()
			if len(msgs) != 4 || msgs[1].Role != "assistant" || msgs[1].Content != r1.Text || msgs[3].Content != r2.Text {
				t.Fatalf("conversation %+v", msgs)
			}
			full := s.enc.Encode(msgs[:3])
			t.Logf("turn 2: %d of %d prompt tokens reused (%d were cached), %d run", r2.Reused, len(full), cached, r2.Stats.PromptTokens)
			if r2.Reused < len(first) || r2.Reused+r2.Stats.PromptTokens != len(full) {
				t.Errorf("turn 2 reused %d and ran %d tokens; want at least the %d of turn 1 reused, %d in all",
					r2.Reused, r2.Stats.PromptTokens, len(first), len(full))
			}
			rewound = rewound || r2.Reused < cached

			f := newSession(t, m, 0, name)
			f.Add(msgs[0])
			f.Add(msgs[1])
			want, err := f.Send(ctx, msgs[2].Content, opt)
			if err != nil {
				t.Fatal(err)
			}
			if want.Reused != 0 || want.Stats.PromptTokens != len(full) {
				t.Errorf("fresh session reused %d and ran %d tokens, want 0 and %d", want.Reused, want.Stats.PromptTokens, len(full))
			}
			if r2.Text != want.Text {
				t.Errorf("reply with the cache reused %q, from scratch %q", r2.Text, want.Text)
			}
		})
	}
	if !rewound {
		t.Error("no case rewound the cache: the test no longer covers it")
	}
}

func TestSessionEnds(t *testing.T) {
	m := openModel(t, shared.Need(t, stories))
	ctx := context.Background()

	s := newSession(t, m, 0, Transcript)
	var emitted strings.Builder
	r, err := s.Send(ctx, "Hi", Options{MaxTokens: 3, Sampler: greedy(t), Emit: func(text string) error {
		emitted.WriteString(text)
		return nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	if r.Finish != FinishLength || r.Stats.GenTokens != 3 || emitted.String() != r.Text {
		t.Errorf("MaxTokens 3: finish %q after %d tokens, emitted %q, text %q", r.Finish, r.Stats.GenTokens, emitted.String(), r.Text)
	}

	// A failing Emit stops the reply and leaves the conversation as it was.
	boom := errors.New("boom")
	if _, err := s.Send(ctx, "Again", Options{Sampler: greedy(t), Emit: func(string) error { return boom }}); !errors.Is(err, boom) {
		t.Errorf("Emit error: got %v", err)
	}
	canceled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := s.Send(canceled, "Again", Options{Sampler: greedy(t)}); !errors.Is(err, context.Canceled) {
		t.Errorf("canceled: got %v", err)
	}
	if _, err := s.Send(ctx, "Again", Options{}); err == nil {
		t.Error("Send without a sampler succeeded")
	}
	if n := len(s.Messages()); n != 2 {
		t.Errorf("%d messages after failed turns, want 2", n)
	}

	// A small context: the reply stops at its end, then the next turn fails.
	s = newSession(t, m, 24, Transcript)
	r, err = s.Send(ctx, "Hi", Options{Sampler: greedy(t)})
	if err != nil {
		t.Fatal(err)
	}
	if r.Finish != FinishContext || s.Cached() != 24 {
		t.Errorf("context 24: finish %q with %d tokens cached", r.Finish, s.Cached())
	}
	_, err = s.Send(ctx, "More", Options{Sampler: greedy(t)})
	if !errors.Is(err, ErrContextFull) || !strings.Contains(err.Error(), "context holds 24") {
		t.Errorf("full context: got %v", err)
	}
	if n := len(s.Messages()); n != 2 {
		t.Errorf("%d messages after a full context, want 2", n)
	}
}

// TestForModel checks template detection from a GGUF file's and a Hugging
// Face directory's chat template, and that a name overrides it.
func TestForModel(t *testing.T) {
	src := shared.Need(t, stories)
	f, err := gguf.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	meta := f.Meta()
	meta = append(meta, gguf.KV{Key: MetadataKey, Value: gguf.StringValue(
		`{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}`)})
	dir := t.TempDir()
	withTemplate := filepath.Join(dir, "chatml.gguf")
	if err := gguf.WriteFile(withTemplate, meta, f.Tensors); err != nil {
		t.Fatal(err)
	}
	hfDir := filepath.Join(dir, "hf")
	if err := hf.WriteDir(hfDir, meta, f.Tensors, hf.DirOptions{Type: tensor.F32}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		path, name, want string
	}{
		{src, "", Transcript},
		{withTemplate, "", ChatML},
		{hfDir, "", ChatML},
		{withTemplate, Llama3, Llama3},
		{shared.Need(t, "models/stories260K/stories260K.bin"), "", Transcript},
	} {
		m := openModel(t, tc.path)
		tmpl, err := ForModel(m, tc.name)
		if err != nil {
			t.Errorf("%s: %v", tc.path, err)
			continue
		}
		if tmpl.Name() != tc.want {
			t.Errorf("%s (%s, name %q): template %q, want %q", tc.path, m.Format, tc.name, tmpl.Name(), tc.want)
		}
	}
	if _, err := ForModel(openModel(t, src), "nope"); err == nil || !strings.Contains(err.Error(), "unknown chat template") {
		t.Errorf("unknown name: %v", err)
	}
}
