package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"

	"github.com/unswift/unswift/internal/model"
)

func cmdBench(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("bench", "-m MODEL [flags]", stderr)
	var mf modelFlags
	mf.register(fs)
	mf.registerOrder(fs)
	promptTokens := fs.Int("prompt-tokens", 128, "prompt tokens processed as one batch")
	genTokens := fs.Int("gen-tokens", 64, "tokens generated one at a time")
	reps := fs.Int("reps", 3, "repetitions; the fastest is reported")
	asJSON := fs.Bool("json", false, "print one JSON object on stdout")
	if err := parse(fs, args); err != nil {
		return err
	}
	m, pool, err := mf.open()
	if err != nil {
		return err
	}
	defer m.Close()
	defer pool.Close()
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if ctx := m.Config.Context; *promptTokens+*genTokens > ctx && !set["prompt-tokens"] && !set["gen-tokens"] {
		// The defaults do not fit a short context: keep their proportions.
		*promptTokens = max(1, ctx*2/3)
		*genTokens = max(1, ctx-*promptTokens)
		fmt.Fprintf(stderr, "context is %d tokens: benchmarking %d prompt + %d generated tokens\n", ctx, *promptTokens, *genTokens)
	}
	r, err := model.Bench(m, pool, model.BenchOptions{PromptTokens: *promptTokens, GenTokens: *genTokens, Reps: *reps})
	if err != nil {
		return err
	}
	if *asJSON {
		out := map[string]any{
			"prompt_tokens": r.PromptTokens, "gen_tokens": r.GenTokens,
			"prompt_tokens_per_s": r.PromptTokensPerS, "gen_tokens_per_s": r.GenTokensPerS,
			"weight_bytes_per_token": r.WeightBytesPerToken, "weight_gb_per_s": r.WeightGBPerS,
			"threads": r.Threads, "model": m.Path, "format": m.Format,
		}
		if m.Taylor != nil {
			out["order"] = m.Order()
			out["predicted_slowdown"] = m.PredictedSlowdown()
		}
		return json.NewEncoder(stdout).Encode(out)
	}
	fmt.Fprintf(stdout, "model:       %s (%s, %d threads)\n", m.Path, m.Format, r.Threads)
	fmt.Fprintf(stdout, "prompt:      %d tokens in a batch: %.1f tokens/s\n", r.PromptTokens, r.PromptTokensPerS)
	fmt.Fprintf(stdout, "generation:  %d tokens: %.1f tokens/s (%.3f ms/token)\n", r.GenTokens, r.GenTokensPerS, 1e3/r.GenTokensPerS)
	fmt.Fprintf(stdout, "weights:     %.2f MB read per token: %.2f GB/s effective\n", float64(r.WeightBytesPerToken)/1e6, r.WeightGBPerS)
	if m.Taylor != nil {
		fmt.Fprintf(stdout, "release:     order %d of %d, predicted slowdown %.2f× over the original\n", m.Order(), m.Taylor.Order, m.PredictedSlowdown())
	}
	return nil
}
