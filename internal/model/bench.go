package model

import (
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/unswift/unswift/internal/kernel"
	"github.com/unswift/unswift/internal/sample"
)

// BenchOptions control Bench.
type BenchOptions struct {
	PromptTokens int // tokens in the prompt batch
	GenTokens    int // tokens decoded one at a time after the prompt
	Reps         int // repetitions; the fastest of each phase is kept
}

// BenchResult is what Bench measured.
type BenchResult struct {
	PromptTokens        int     `json:"prompt_tokens"`
	GenTokens           int     `json:"gen_tokens"`
	PromptTokensPerS    float64 `json:"prompt_tokens_per_s"`
	GenTokensPerS       float64 `json:"gen_tokens_per_s"`
	WeightBytesPerToken int64   `json:"weight_bytes_per_token"`
	WeightGBPerS        float64 `json:"weight_gb_per_s"` // weight bytes read per second while generating
	Threads             int     `json:"threads"`
}

// Bench measures prompt processing (one batch of random tokens) and generation
// (one token at a time, continuing that prompt) on m.
func Bench(m *Model, pool *kernel.Pool, opt BenchOptions) (BenchResult, error) {
	r := BenchResult{PromptTokens: opt.PromptTokens, GenTokens: opt.GenTokens, Threads: pool.Threads(),
		WeightBytesPerToken: m.WeightBytesPerToken()}
	if opt.PromptTokens < 1 || opt.GenTokens < 1 {
		return r, fmt.Errorf("bench needs at least one prompt and one generated token")
	}
	if opt.PromptTokens+opt.GenTokens > m.Config.Context {
		return r, fmt.Errorf("%d prompt + %d generated tokens exceed the context length %d", opt.PromptTokens, opt.GenTokens, m.Config.Context)
	}
	if opt.Reps < 1 {
		opt.Reps = 1
	}
	rng := rand.New(rand.NewPCG(1, 2))
	prompt := make([]int, opt.PromptTokens)
	for i := range prompt {
		prompt[i] = rng.IntN(m.Config.Vocab)
	}
	s := m.NewState(pool, opt.PromptTokens+opt.GenTokens)
	bestP, bestG := time.Duration(1<<62), time.Duration(1<<62)
	for rep := 0; rep < opt.Reps; rep++ {
		s.Reset(0)
		t0 := time.Now()
		logits, err := s.Forward(prompt)
		if err != nil {
			return r, err
		}
		bestP = min(bestP, time.Since(t0))
		next := sample.Argmax(logits)
		t1 := time.Now()
		for i := 0; i < opt.GenTokens; i++ {
			if logits, err = s.Forward([]int{next}); err != nil {
				return r, err
			}
			next = sample.Argmax(logits)
		}
		bestG = min(bestG, time.Since(t1))
	}
	r.PromptTokensPerS = float64(opt.PromptTokens) / bestP.Seconds()
	r.GenTokensPerS = float64(opt.GenTokens) / bestG.Seconds()
	r.WeightGBPerS = r.GenTokensPerS * float64(r.WeightBytesPerToken) / 1e9
	return r, nil
}
