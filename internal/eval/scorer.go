package eval

import (
	"fmt"
	"slices"
	"strings"

	"github.com/unswift/unswift/internal/kernel"
	"github.com/unswift/unswift/internal/metrics"
	"github.com/unswift/unswift/internal/model"
)

// Scorer computes log-likelihoods of continuations with a model: it
// implements tasks.Scorer.
//
// Token boundary. The context is encoded with BOS and the tokenizer's
// dummy-prefix space, the continuation is not encoded on its own: context and
// continuation are encoded together and the continuation's tokens are those
// after the context's own token count, as lm-evaluation-harness does. So a
// continuation " cat" after "the" gets the tokens the model would see in
// "the cat" ("▁cat", with its space), not those of a text starting with "cat"
// (which would get a second, dummy-prefix space). White space at the end of
// the context is moved to the start of the continuation first, as the harness
// does. The model is then run on the context's tokens followed by the
// continuation's.
//
// Truncation. When context and continuation together exceed the model's
// context length, the context loses tokens from its start (BOS is kept).
// LogLiks truncates the context once for the longest of its continuations,
// so every continuation of one question is scored after the same context
// (the harness truncates each request on its own, which only differs when a
// truncation is needed).
//
// Caching. All continuations of one context run after one pass over the
// context. Text that starts every context (TruthfulQA's six-shot preamble)
// can be declared with SharePrefix: its tokens then run once, in one batch,
// and stay in the state. Each request therefore always computes the same
// numbers, whatever was scored before it: a context is run as the shared
// prefix (one batch, as ever) followed by the rest (one batch), which is what
// makes parallel scoring deterministic. These numbers equal a single pass
// over the whole sequence up to the rounding of batched against split
// matrix products.
type Scorer struct {
	m      *model.Model
	s      *model.State
	prefix []int     // tokens every context is expected to start with (SharePrefix)
	valid  int       // leading positions of the state holding prefix's keys and values
	cached []int     // the context last run (positions ≥ its shared part hold it)
	last   []float32 // logits after the last token of cached
}

// NewScorer returns a Scorer running m on pool.
func NewScorer(m *model.Model, pool *kernel.Pool) *Scorer {
	return &Scorer{m: m, s: m.NewState(pool, 0)}
}

// LogLik returns the summed natural-log probability of continuation's tokens
// after context, and how many tokens that was.
func (sc *Scorer) LogLik(context, continuation string) (float64, int, error) {
	ll, n, err := sc.LogLiks(context, []string{continuation})
	if err != nil {
		return 0, 0, err
	}
	return ll[0], n[0], nil
}

// LogLiks scores several continuations of one context (see Scorer for the
// truncation rule).
func (sc *Scorer) LogLiks(context string, continuations []string) (ll []float64, n []int, err error) {
	ctxTok, conts, err := sc.encode(context, continuations)
	if err != nil {
		return nil, nil, err
	}
	longest := 0
	for _, c := range conts {
		longest = max(longest, len(c))
	}
	limit := sc.s.Context()
	if len(ctxTok)+longest > limit {
		keep := limit - longest // context tokens that fit, BOS included
		bos := sc.m.Tokenizer.BOS()
		if keep < 2 || (bos < 0 && keep < 1) {
			return nil, nil, fmt.Errorf("continuation of %d tokens does not fit the context length %d", longest, limit)
		}
		if bos >= 0 && len(ctxTok) > 0 && ctxTok[0] == bos {
			ctxTok = append([]int{bos}, ctxTok[len(ctxTok)-(keep-1):]...)
		} else {
			ctxTok = ctxTok[len(ctxTok)-keep:]
		}
	}
	if err := sc.runContext(ctxTok); err != nil {
		return nil, nil, err
	}
	vocab := sc.m.Config.Vocab
	ll = make([]float64, len(conts))
	n = make([]int, len(conts))
	for i, c := range conts {
		sum := -metrics.NLL(sc.last, c[0])
		if len(c) > 1 {
			sc.s.Reset(len(ctxTok))
			logits, err := sc.s.ForwardAll(c[:len(c)-1])
			if err != nil {
				return nil, nil, err
			}
			for k := 1; k < len(c); k++ {
				sum -= metrics.NLL(logits[(k-1)*vocab:k*vocab], c[k])
			}
		}
		ll[i], n[i] = sum, len(c)
	}
	return ll, n, nil
}

// fits reports whether every continuation fits the context length with BOS
// and at least one context token before it.
func (sc *Scorer) fits(context string, continuations []string) (bool, error) {
	_, conts, err := sc.encode(context, continuations)
	if err != nil {
		return false, err
	}
	for _, c := range conts {
		if len(c)+2 > sc.s.Context() {
			return false, nil
		}
	}
	return true, nil
}

// encode returns the context's tokens and each continuation's (see Scorer).
func (sc *Scorer) encode(context string, continuations []string) ([]int, [][]int, error) {
	tok := sc.m.Tokenizer
	trimmed := strings.TrimRight(context, " \t\n\r")
	moved := context[len(trimmed):]
	ctxTok := tok.Encode(trimmed, true)
	if len(ctxTok) == 0 {
		return nil, nil, fmt.Errorf("context %q encodes to no tokens", context)
	}
	conts := make([][]int, len(continuations))
	for i, c := range continuations {
		whole := tok.Encode(trimmed+moved+c, true)
		if len(whole) <= len(ctxTok) {
			return nil, nil, fmt.Errorf("continuation %q adds no token to its context", c)
		}
		conts[i] = whole[len(ctxTok):]
	}
	return ctxTok, conts, nil
}

// SharePrefix declares that contexts usually start with the tokens all of
// contexts start with (at most half the context length of them): those are
// then run once and kept.
func (sc *Scorer) SharePrefix(contexts []string) { sc.setPrefix(commonPrefix(sc.m, contexts)) }

func (sc *Scorer) setPrefix(p []int) {
	sc.prefix = p[:min(len(p), sc.s.Context()/2)]
	sc.valid, sc.cached = 0, nil
}

// commonPrefix returns the tokens every context starts with, encoded as
// the scorer encodes contexts.
func commonPrefix(m *model.Model, contexts []string) []int {
	var common []int
	for i, c := range contexts {
		ids := m.Tokenizer.Encode(strings.TrimRight(c, " \t\n\r"), true)
		if i == 0 {
			common = ids
			continue
		}
		common = common[:lcp(common, ids)]
	}
	return common
}

// lcp is the length of the longest common prefix of a and b.
func lcp(a, b []int) int {
	n := 0
	for n < len(a) && n < len(b) && a[n] == b[n] {
		n++
	}
	return n
}

// runContext makes the state hold ctx and sc.last the logits after its last
// token, always by the same computation (see Scorer).
func (sc *Scorer) runContext(ctx []int) error {
	if slices.Equal(ctx, sc.cached) {
		return nil // already there, computed exactly as it would be again
	}
	k := min(lcp(ctx, sc.prefix), len(ctx)-1) // at least one token runs, for its logits
	sc.cached = sc.cached[:0]
	if k > sc.valid {
		sc.s.Reset(0)
		if _, err := sc.s.Forward(sc.prefix); err != nil {
			sc.valid = 0
			return err
		}
		sc.valid = len(sc.prefix)
	}
	sc.s.Reset(k)
	sc.valid = k
	logits, err := sc.s.Forward(ctx[k:])
	if err != nil {
		return err
	}
	sc.last = append(sc.last[:0], logits...)
	sc.cached = append(sc.cached, ctx...)
	return nil
}
