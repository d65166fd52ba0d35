package chat

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/unswift/unswift/internal/model"
	"github.com/unswift/unswift/internal/sample"
)

// ErrContextFull is returned (wrapped) by Session.Send when the conversation
// leaves no room in the context for a reply.
var ErrContextFull = errors.New("the conversation no longer fits in the context")

// Reasons a reply ended (Reply.Finish).
const (
	FinishStop    = "stop"    // the model ended its turn
	FinishLength  = "length"  // Options.MaxTokens were generated
	FinishContext = "context" // the context is full: the next Send fails
)

// Options control one reply.
type Options struct {
	// MaxTokens is the most tokens the reply may have; 0 means until the
	// context is full.
	MaxTokens int
	// Sampler picks each token (required).
	Sampler *sample.Sampler
	// Emit, when set, receives the reply's text as it is generated (leading
	// white space and stop sequences left out). Returning an error stops.
	Emit func(text string) error
}

// Reply is the outcome of one turn.
type Reply struct {
	// Text is the reply, as added to the conversation.
	Text string
	// Finish says why the reply ended: FinishStop, FinishLength or
	// FinishContext.
	Finish string
	// Reused is the number of prompt tokens found in the KV cache: the
	// rendered conversation's prefix that the previous turns already ran.
	Reused int
	// Stats counts the prompt tokens run this turn (PromptTokens, those not
	// reused) and the tokens generated, with their timings.
	Stats model.Stats
}

// Session is a multi-turn conversation with a model. It keeps the KV cache
// of its state across turns: each turn renders the whole conversation and
// runs only the tokens after the longest prefix already in the cache. A
// Session owns its State, and is not safe for concurrent use.
type Session struct {
	enc    *Encoder
	st     *model.State
	msgs   []Message
	cached []int // the tokens in the KV cache, positions 0..st.Pos()-1
}

// NewSession starts an empty conversation on st (rewound to the start) with
// the encoder's template and tokenizer, which must be the model's.
func NewSession(st *model.State, enc *Encoder) *Session {
	st.Reset(0)
	return &Session{enc: enc, st: st}
}

// Add appends a message to the conversation without generating: a system
// prompt, or earlier turns. Nothing runs until the next Send.
func (s *Session) Add(m Message) { s.msgs = append(s.msgs, m) }

// Messages returns a copy of the conversation so far.
func (s *Session) Messages() []Message { return append([]Message(nil), s.msgs...) }

// Cached is the number of tokens in the KV cache.
func (s *Session) Cached() int { return len(s.cached) }

// Send adds a user message and generates the assistant's reply, which is
// added too. On an error the conversation is left as it was.
func (s *Session) Send(ctx context.Context, content string, opt Options) (Reply, error) {
	var r Reply
	if opt.Sampler == nil {
		return r, errors.New("chat: no sampler")
	}
	msgs := append(s.msgs[:len(s.msgs):len(s.msgs)], Message{Role: "user", Content: content})
	ids := s.enc.Encode(msgs)
	ctxLen := s.st.Context()
	if len(ids) >= ctxLen {
		return r, fmt.Errorf("%w: it is %d tokens and the context holds %d (start a new conversation, or raise the context length)",
			ErrContextFull, len(ids), ctxLen)
	}
	keep := 0
	for keep < len(s.cached) && keep < len(ids) && s.cached[keep] == ids[keep] {
		keep++
	}
	if keep == len(ids) { // run at least one token, for the logits
		keep--
	}
	s.st.Reset(keep)
	s.cached = s.cached[:keep]
	r.Reused = keep

	t0 := time.Now()
	logits, err := s.st.Forward(ids[keep:])
	if err != nil {
		s.reset()
		return r, err
	}
	s.cached = append(s.cached, ids[keep:]...)
	r.Stats.PromptTokens = len(ids) - keep
	r.Stats.PromptTime = time.Since(t0)

	tok := s.enc.tok
	dec := tok.NewDecoder()
	var reply strings.Builder
	f := &StopFilter{Stops: s.enc.t.stops, TrimLead: true, Out: func(text string) error {
		reply.WriteString(text)
		if opt.Emit != nil {
			return opt.Emit(text)
		}
		return nil
	}}
	t1 := time.Now()
	stopped := false
	for {
		if err := ctx.Err(); err != nil {
			return r, err
		}
		next := opt.Sampler.Sample(logits)
		if s.enc.IsEnd(next) {
			r.Finish = FinishStop
			break
		}
		r.Stats.GenTokens++
		if stopped, err = f.Write(dec.Next(next)); err != nil {
			return r, err
		}
		if stopped {
			r.Finish = FinishStop
			break
		}
		if opt.MaxTokens > 0 && r.Stats.GenTokens >= opt.MaxTokens {
			r.Finish = FinishLength
			break
		}
		if s.st.Pos() >= ctxLen {
			r.Finish = FinishContext
			break
		}
		if logits, err = s.st.Forward([]int{next}); err != nil {
			s.reset()
			return r, err
		}
		s.cached = append(s.cached, next)
	}
	if !stopped {
		if stopped, err = f.Write(dec.Flush()); err == nil && !stopped {
			err = f.Flush()
		}
		if err != nil {
			return r, err
		}
	}
	r.Stats.GenTime = time.Since(t1)
	r.Text = reply.String()
	s.msgs = append(msgs, Message{Role: "assistant", Content: r.Text})
	return r, nil
}

// reset empties the cache after a failed forward pass, whose position is
// unknown.
func (s *Session) reset() {
	s.st.Reset(0)
	s.cached = s.cached[:0]
}
