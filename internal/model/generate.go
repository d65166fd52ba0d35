package model

import (
	"context"
	"fmt"
	"time"

	"github.com/unswift/unswift/internal/sample"
)

// Stats are the counts and timings of one generation.
type Stats struct {
	PromptTokens int           // prompt tokens, BOS included
	GenTokens    int           // tokens generated
	PromptTime   time.Duration // time to process the prompt batch
	GenTime      time.Duration // time spent generating after the prompt
}

// PromptRate is prompt tokens per second.
func (s Stats) PromptRate() float64 { return rate(s.PromptTokens, s.PromptTime) }

// GenRate is generated tokens per second (timed from the first sampled token).
func (s Stats) GenRate() float64 { return rate(s.GenTokens, s.GenTime) }

func rate(n int, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(n) / d.Seconds()
}

// GenerateOptions control Generate.
type GenerateOptions struct {
	// Positions is the number of positions run through the model, BOS and
	// prompt included, as llama2.c's -n: the token sampled after the last of
	// them is emitted too. It is capped at the state's context; 0 means the context.
	Positions int
	Sampler   *sample.Sampler
	// Emit receives the text of each token as it becomes complete: first the
	// prompt (without BOS), then the generated text. Returning an error stops.
	Emit func(text string) error
	// Stop reports whether generation should end after the text so far.
	Stop func(generated string) bool
}

// Generate runs prompt tokens (BOS included) through a fresh state and samples
// until the sequence reaches opt.Positions, a BOS/EOS token is sampled, Stop
// says so, or ctx is done.
func (s *State) Generate(ctx context.Context, prompt []int, opt GenerateOptions) (Stats, error) {
	var st Stats
	tok := s.m.Tokenizer
	n := opt.Positions
	if n <= 0 || n > s.ctx {
		n = s.ctx
	}
	if len(prompt) == 0 {
		return st, fmt.Errorf("empty prompt")
	}
	if len(prompt) > s.ctx {
		return st, fmt.Errorf("prompt of %d tokens is longer than the context length %d", len(prompt), s.ctx)
	}
	s.Reset(0)
	dec := tok.NewDecoder()
	emit := func(id int) error {
		text := dec.Next(id)
		if text == "" || opt.Emit == nil {
			return nil
		}
		return opt.Emit(text)
	}
	t0 := time.Now()
	logits, err := s.Forward(prompt)
	if err != nil {
		return st, err
	}
	st.PromptTokens = len(prompt)
	st.PromptTime = time.Since(t0)
	for _, id := range prompt {
		if err := emit(id); err != nil {
			return st, err
		}
	}
	var generated []byte
	t1 := time.Now()
	for pos := len(prompt); pos <= n; pos++ { // the token at position pos
		if err := ctx.Err(); err != nil {
			return st, err
		}
		next := opt.Sampler.Sample(logits)
		if next == tok.BOS() || next == tok.EOS() {
			break
		}
		st.GenTokens++
		if err := emit(next); err != nil {
			return st, err
		}
		if opt.Stop != nil {
			generated = append(generated, tok.Piece(next)...)
			if opt.Stop(string(generated)) {
				break
			}
		}
		if pos < n {
			if logits, err = s.Forward([]int{next}); err != nil {
				return st, err
			}
		}
	}
	if rest := dec.Flush(); rest != "" && opt.Emit != nil {
		if err := opt.Emit(rest); err != nil {
			return st, err
		}
	}
	st.GenTime = time.Since(t1)
	return st, nil
}
