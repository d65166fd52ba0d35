package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/unswift/unswift/internal/chat"
	"github.com/unswift/unswift/internal/model"
	"github.com/unswift/unswift/internal/sample"
)

// defaultCompletionTokens is max_tokens when a completion request gives none
// (OpenAI's default); chat completions default to the rest of the context.
const defaultCompletionTokens = 16

// job is a request made ready to run.
type job struct {
	req      *request
	prompt   []int // token ids, BOS included
	skip     int   // bytes of emitted text that are the prompt's
	budget   int   // tokens to generate at most
	stops    []string
	ends     []string // end-of-turn pieces
	echo     string   // text to put before the completion (echo)
	id       string
	created  int64
	trimLead bool // drop the reply's leading white space (chat)
}

func (s *Server) handleCompletions(w http.ResponseWriter, r *http.Request) {
	s.handleGenerate(w, r, decodeCompletion)
}

func (s *Server) handleChat(w http.ResponseWriter, r *http.Request) {
	s.handleGenerate(w, r, decodeChat)
}

func (s *Server) handleGenerate(w http.ResponseWriter, r *http.Request, decode func([]byte) (*request, *apiError)) {
	body, e := s.readBody(w, r)
	if e != nil {
		writeError(w, e)
		return
	}
	req, e := decode(body)
	if e != nil {
		writeError(w, e)
		return
	}
	if req.model != "" && req.model != s.name {
		writeError(w, errModelNotFound(req.model, s.name))
		return
	}
	j, e := s.prepare(req)
	if e != nil {
		writeError(w, e)
		return
	}
	if !s.begin() {
		writeError(w, errShuttingDown())
		return
	}
	defer s.inflight.Done()

	ctx, cancel := context.WithTimeout(r.Context(), s.cfg.Timeout)
	defer cancel()
	stopHard := context.AfterFunc(s.hard, cancel)
	defer stopHard()

	t0 := time.Now()
	sl, e := s.acquire(ctx)
	if e != nil {
		if ctx.Err() != nil && r.Context().Err() != nil {
			return // the client went away while queued
		}
		writeError(w, e)
		return
	}
	defer s.release(sl)
	queued := time.Since(t0)

	var out output
	if req.stream {
		st := newStream(w, j, s.name)
		defer st.close()
		out = st
	} else {
		out = &buffer{}
	}
	res := s.run(ctx, sl, j, out)
	s.met.generated(len(j.prompt), res.stats.GenTokens, res.elapsed, time.Now())
	if s.cfg.Log != nil {
		s.cfg.Log.Printf("%s %s: %d prompt + %d generated tokens in %s (%.1f tokens/s, queued %s): %s",
			r.Method, r.URL.Path, len(j.prompt), res.stats.GenTokens, res.elapsed.Round(time.Millisecond),
			rate(res.stats.GenTokens, res.elapsed), queued.Round(time.Millisecond), res.outcome())
	}

	if res.err != nil {
		if r.Context().Err() != nil {
			return // the client is gone: nobody to answer
		}
		e := s.runError(ctx, res.err)
		if st, ok := out.(*stream); ok {
			st.fail(e)
			return
		}
		writeError(w, e)
		return
	}
	u := usage{PromptTokens: len(j.prompt), CompletionTokens: res.stats.GenTokens}
	u.TotalTokens = u.PromptTokens + u.CompletionTokens
	if st, ok := out.(*stream); ok {
		st.finish(res.finish, u)
		return
	}
	text := out.(*buffer).String()
	if req.chat {
		writeJSON(w, chatResponse{ID: j.id, Object: "chat.completion", Created: j.created, Model: s.name,
			Choices: []chatChoice{{Message: &chatMessage{Role: "assistant", Content: text}, FinishReason: res.finish}},
			Usage:   u})
		return
	}
	writeJSON(w, completionResponse{ID: j.id, Object: "text_completion", Created: j.created, Model: s.name,
		Choices: []completionChoice{{Text: j.echo + text, FinishReason: &res.finish}}, Usage: &u})
}

// runError turns the error that ended a generation into an API error.
func (s *Server) runError(ctx context.Context, err error) *apiError {
	switch {
	case s.hard.Err() != nil:
		return errShuttingDown()
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		return errDeadline(s.cfg.Timeout, "generating")
	}
	return errInternal(err)
}

func (s *Server) readBody(w http.ResponseWriter, r *http.Request) ([]byte, *apiError) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.cfg.MaxBody))
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe):
		return nil, errTooLarge(mbe.Limit)
	case err != nil:
		return nil, badRequest("", "reading the request body: %v", err)
	}
	return body, nil
}

// prepare tokenizes the request's prompt and works out how many tokens it
// may generate.
func (s *Server) prepare(req *request) (*job, *apiError) {
	tok := s.m.Tokenizer
	j := &job{req: req, stops: req.stop, created: time.Now().Unix()}
	switch {
	case req.chat:
		j.prompt = s.enc.Encode(req.messages)
		j.stops = append(append([]string(nil), req.stop...), s.tmpl.Stops()...)
		j.ends = s.tmpl.Ends()
		j.trimLead = true
		j.id = "chatcmpl-" + randomID()
	case req.promptIDs != nil:
		for i, id := range req.promptIDs {
			if id >= tok.VocabSize() {
				return nil, badRequest("prompt", "'prompt[%d]' = %d is not a token id: the vocabulary has %d tokens", i, id, tok.VocabSize())
			}
		}
		if b := tok.BOS(); b >= 0 && req.promptIDs[0] != b {
			j.prompt = append([]int{b}, req.promptIDs...)
		} else {
			j.prompt = req.promptIDs
		}
		j.id = "cmpl-" + randomID()
	default:
		j.prompt = tok.Encode(req.prompt, true)
		j.id = "cmpl-" + randomID()
	}
	ctxLen := s.all[0].st.Context()
	if len(j.prompt) == 0 {
		return nil, badRequest("prompt", "the prompt is empty and the vocabulary has no BOS token to start from")
	}
	if len(j.prompt) > ctxLen {
		param := "prompt"
		if req.chat {
			param = "messages"
		}
		return nil, &apiError{Status: http.StatusBadRequest, Type: "invalid_request_error", Param: param, Code: "context_length_exceeded",
			Message: fmt.Sprintf("the prompt is %d tokens long, more than the context length of %d tokens", len(j.prompt), ctxLen)}
	}
	// Positions after the prompt: the token sampled after the last position
	// is emitted too, hence the +1.
	j.budget = ctxLen - len(j.prompt) + 1
	switch {
	case req.maxTokens > 0:
		j.budget = min(j.budget, req.maxTokens)
	case !req.chat:
		j.budget = min(j.budget, defaultCompletionTokens)
	}
	d := tok.NewDecoder()
	var echo strings.Builder
	for _, id := range j.prompt {
		t := d.Next(id)
		j.skip += len(t)
		echo.WriteString(t)
	}
	if req.echo {
		j.echo = echo.String()
	}
	return j, nil
}

func randomID() string {
	var b [12]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// begin registers a request that will generate, or reports false when the
// server is shutting down.
func (s *Server) begin() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.draining {
		return false
	}
	s.inflight.Add(1)
	return true
}

// acquire admits the request and waits for a free slot: 429 when the slots
// and the queue are full, 503 when the server starts shutting down, 504 at
// the deadline.
func (s *Server) acquire(ctx context.Context) (*slot, *apiError) {
	select {
	case s.tickets <- struct{}{}:
	default:
		return nil, errQueueFull(s.cfg.Parallel, s.cfg.Queue)
	}
	s.met.queued.Add(1)
	defer s.met.queued.Add(-1)
	select {
	case sl := <-s.slots:
		s.met.active.Add(1)
		return sl, nil
	case <-s.drained:
		<-s.tickets
		return nil, errShuttingDown()
	case <-ctx.Done():
		<-s.tickets
		if s.hard.Err() != nil {
			return nil, errShuttingDown()
		}
		return nil, errDeadline(s.cfg.Timeout, "waiting for a free slot")
	}
}

func (s *Server) release(sl *slot) {
	s.met.active.Add(-1)
	s.slots <- sl
	<-s.tickets
}

// result is how a generation ended.
type result struct {
	stats   model.Stats
	elapsed time.Duration
	finish  string // "stop" or "length"
	err     error  // cancellation, a failed write or an engine error
}

func (r *result) outcome() string {
	if r.err != nil {
		return r.err.Error()
	}
	return "finish_reason " + r.finish
}

func rate(n int, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(n) / d.Seconds()
}

// errStopped ends a generation at a stop sequence.
var errStopped = errors.New("stop sequence")

// run generates j on slot sl, sending the completion text to out.
func (s *Server) run(ctx context.Context, sl *slot, j *job, out output) result {
	req := j.req
	topK, topP := req.topK, req.topP
	if topP == 0 { // nothing but the most likely token is left
		topK = 1
	}
	seed := req.seed
	if !req.seeded {
		seed = uint64(time.Now().UnixNano())
	}
	smp, err := sample.New(req.temperature, topK, topP, seed)
	if err != nil {
		return result{err: err}
	}
	if err := out.begin(j.echo); err != nil {
		return result{err: err}
	}
	f := &chat.StopFilter{Stops: j.stops, Out: out.text, TrimLead: j.trimLead}
	skip := j.skip
	emit := func(text string) error {
		if s.testHookToken != nil {
			s.testHookToken()
		}
		if skip > 0 {
			if len(text) <= skip {
				skip -= len(text)
				return nil
			}
			text, skip = text[skip:], 0
		}
		stopped, err := f.Write(text)
		if err == nil && stopped {
			err = errStopped
		}
		return err
	}
	var ended bool
	var stop func(string) bool
	if len(j.ends) > 0 {
		stop = func(generated string) bool {
			for _, e := range j.ends {
				if strings.HasSuffix(generated, e) {
					ended = true
					return true
				}
			}
			return false
		}
	}
	t0 := time.Now()
	st, err := sl.st.Generate(ctx, j.prompt, model.GenerateOptions{
		Positions: len(j.prompt) + j.budget - 1,
		Sampler:   smp,
		Emit:      emit,
		Stop:      stop,
	})
	res := result{stats: st, elapsed: time.Since(t0)}
	switch {
	case errors.Is(err, errStopped):
		res.finish = "stop"
	case err != nil:
		res.err = err
		return res
	default:
		if err := f.Flush(); err != nil {
			res.err = err
			return res
		}
		res.finish = "stop"
		if !ended && st.GenTokens >= j.budget {
			res.finish = "length"
		}
	}
	return res
}

// output receives a completion's text.
type output interface {
	begin(echo string) error
	text(s string) error
}

// buffer collects the text of a non-streaming response.
type buffer struct{ strings.Builder }

func (b *buffer) begin(string) error  { return nil }
func (b *buffer) text(s string) error { b.WriteString(s); return nil }

// Response bodies.

type usage struct {
	PromptTokens     int `json:"prompt_tokens"`
	CompletionTokens int `json:"completion_tokens"`
	TotalTokens      int `json:"total_tokens"`
}

type completionResponse struct {
	ID      string             `json:"id"`
	Object  string             `json:"object"`
	Created int64              `json:"created"`
	Model   string             `json:"model"`
	Choices []completionChoice `json:"choices"`
	Usage   *usage             `json:"usage"`
}

type completionChoice struct {
	Index        int     `json:"index"`
	Text         string  `json:"text"`
	Logprobs     any     `json:"logprobs"`
	FinishReason *string `json:"finish_reason"`
}

type chatResponse struct {
	ID      string       `json:"id"`
	Object  string       `json:"object"`
	Created int64        `json:"created"`
	Model   string       `json:"model"`
	Choices []chatChoice `json:"choices"`
	Usage   usage        `json:"usage"`
}

type chatChoice struct {
	Index        int          `json:"index"`
	Message      *chatMessage `json:"message"`
	Logprobs     any          `json:"logprobs"`
	FinishReason string       `json:"finish_reason"`
}

type chatMessage struct {
	Role    string `json:"role"`
	Content string `json:"content"`
	Refusal any    `json:"refusal"`
}

type chatChunk struct {
	ID      string            `json:"id"`
	Object  string            `json:"object"`
	Created int64             `json:"created"`
	Model   string            `json:"model"`
	Choices []chatChunkChoice `json:"choices"`
	Usage   *usage            `json:"usage"`
}

type chatChunkChoice struct {
	Index        int             `json:"index"`
	Delta        *chatChunkDelta `json:"delta"`
	Logprobs     any             `json:"logprobs"`
	FinishReason *string         `json:"finish_reason"`
}

type chatChunkDelta struct {
	Role    string  `json:"role,omitempty"`
	Content *string `json:"content,omitempty"`
}
