package server

import (
	"bufio"
	"bytes"
	"encoding/json"
	"net/http"
	"sync"
	"time"
	"unicode/utf8"
)

// flushDelay is the longest a streamed piece of text waits to be flushed to
// the client. Pieces that come faster are sent together, which saves a
// write (and the client a read) per token when tokens come every few
// microseconds, without a delay anyone can see.
const flushDelay = 5 * time.Millisecond

// stream sends a response as server-sent events in OpenAI's chunk format.
// Its methods are called by the handler's goroutine; a timer flushes text
// that waited flushDelay, under mu.
type stream struct {
	w    http.ResponseWriter
	bw   *bufio.Writer // events wait here for the next flush
	rc   *http.ResponseController
	j    *job
	name string

	// The bytes of a text chunk around its JSON-quoted text.
	prefix, suffix []byte
	buf            []byte

	mu        sync.Mutex
	err       error // the first write error
	dirty     bool  // written but not flushed
	lastFlush time.Time
	timer     *time.Timer
	pending   bool // the timer is set
	closed    bool // the handler has returned: w must not be touched
}

func newStream(w http.ResponseWriter, j *job, name string) *stream {
	s := &stream{w: w, bw: bufio.NewWriterSize(w, 16<<10), rc: http.NewResponseController(w), j: j, name: name}
	const mark = "\x00"
	var b []byte
	if j.req.chat {
		t := mark
		b, _ = json.Marshal(s.chatChunk(&chatChunkDelta{Content: &t}, nil))
	} else {
		b, _ = json.Marshal(s.textChunk(mark, nil))
	}
	quoted, _ := json.Marshal(mark)
	i := bytes.Index(b, quoted)
	s.prefix = append([]byte("data: "), b[:i]...)
	s.suffix = append(b[i+len(quoted):], "\n\n"...)
	return s
}

func (s *stream) begin(echo string) error {
	h := s.w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	s.w.WriteHeader(http.StatusOK)
	if s.j.req.chat {
		if err := s.event(s.chatChunk(&chatChunkDelta{Role: "assistant"}, nil)); err != nil {
			return err
		}
	} else if echo != "" {
		if err := s.text(echo); err != nil {
			return err
		}
	}
	return s.flush()
}

// text sends a piece of the completion.
func (s *stream) text(t string) error {
	s.buf = append(appendQuoted(append(s.buf[:0], s.prefix...), t), s.suffix...)
	return s.write(s.buf, false)
}

// appendQuoted appends t as a JSON string: quotes, backslashes and control
// characters escaped (invalid UTF-8, which the tokenizer's decoder never
// emits, as encoding/json writes it).
func appendQuoted(b []byte, t string) []byte {
	if !utf8.ValidString(t) {
		q, _ := json.Marshal(t)
		return append(b, q...)
	}
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(t); i++ {
		c := t[i]
		if c >= 0x20 && c != '"' && c != '\\' {
			continue
		}
		b = append(b, t[start:i]...)
		switch c {
		case '"', '\\':
			b = append(b, '\\', c)
		case '\n':
			b = append(b, '\\', 'n')
		case '\r':
			b = append(b, '\\', 'r')
		case '\t':
			b = append(b, '\\', 't')
		default:
			b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		}
		start = i + 1
	}
	return append(append(b, t[start:]...), '"')
}

// finish sends the final chunk, the usage chunk when asked for, and [DONE].
func (s *stream) finish(reason string, u usage) {
	if s.j.req.chat {
		s.event(s.chatChunk(&chatChunkDelta{}, &reason))
	} else {
		s.event(s.textChunk("", &reason))
	}
	if s.j.req.includeUsage {
		if s.j.req.chat {
			s.event(chatChunk{ID: s.j.id, Object: "chat.completion.chunk", Created: s.j.created, Model: s.name, Choices: []chatChunkChoice{}, Usage: &u})
		} else {
			s.event(completionResponse{ID: s.j.id, Object: "text_completion", Created: s.j.created, Model: s.name, Choices: []completionChoice{}, Usage: &u})
		}
	}
	s.write([]byte("data: [DONE]\n\n"), true)
}

// fail ends the stream with an error event (no [DONE] follows).
func (s *stream) fail(e *apiError) {
	b, _ := json.Marshal(struct {
		Error *apiError `json:"error"`
	}{e})
	s.write(append(append([]byte("data: "), b...), "\n\n"...), true)
}

// close stops the flush timer; the handler calls it before it returns.
func (s *stream) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	if s.timer != nil {
		s.timer.Stop()
	}
}

func (s *stream) chatChunk(d *chatChunkDelta, reason *string) chatChunk {
	return chatChunk{ID: s.j.id, Object: "chat.completion.chunk", Created: s.j.created, Model: s.name,
		Choices: []chatChunkChoice{{Delta: d, FinishReason: reason}}}
}

func (s *stream) textChunk(t string, reason *string) completionResponse {
	return completionResponse{ID: s.j.id, Object: "text_completion", Created: s.j.created, Model: s.name,
		Choices: []completionChoice{{Text: t, FinishReason: reason}}}
}

func (s *stream) event(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return s.write(append(append([]byte("data: "), b...), "\n\n"...), false)
}

// write sends data, flushing at once when now is true or the last flush is
// flushDelay old, and otherwise within flushDelay.
func (s *stream) write(data []byte, now bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return s.err
	}
	if _, err := s.bw.Write(data); err != nil {
		s.err = err
		return err
	}
	s.dirty = true
	if now {
		return s.flushLocked()
	}
	if s.pending {
		return nil // the timer flushes it
	}
	wait := flushDelay - time.Since(s.lastFlush)
	if wait <= 0 {
		return s.flushLocked()
	}
	s.pending = true
	if s.timer == nil {
		s.timer = time.AfterFunc(wait, s.timed)
	} else {
		s.timer.Reset(wait)
	}
	return nil
}

func (s *stream) timed() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pending = false
	if !s.closed && s.dirty && s.err == nil {
		s.flushLocked()
	}
}

func (s *stream) flush() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.flushLocked()
}

func (s *stream) flushLocked() error {
	s.dirty = false
	s.lastFlush = time.Now()
	if err := s.bw.Flush(); err != nil && s.err == nil {
		s.err = err
	}
	if err := s.rc.Flush(); err != nil && s.err == nil {
		s.err = err
	}
	return s.err
}
