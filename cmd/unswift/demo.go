package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"time"

	"github.com/unswift/unswift/internal/calib"
	"github.com/unswift/unswift/internal/eval"
	"github.com/unswift/unswift/internal/kernel"
	"github.com/unswift/unswift/internal/model"
	"github.com/unswift/unswift/internal/release"
	"github.com/unswift/unswift/internal/sample"
	"github.com/unswift/unswift/internal/synth"
	"github.com/unswift/unswift/internal/tensor"
)

const (
	defaultModel = "../shared/models/stories260K/stories260K.gguf"
	defaultCalib = "../shared/data/tinystories_valid_prefix.txt"
)

func cmdDemo(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("demo", "[flags]", stderr)
	modelPath := fs.String("model", defaultModel, "model to secure")
	calibPath := fs.String("calib", defaultCalib, "calibration text (its first --calib-tokens tokens; the KL is measured on its last 2,000)")
	calibTokens := fs.Int("calib-tokens", 20000, "calibration tokens")
	order := fs.Int("order", 8, "Taylor order N")
	prompt := fs.String("p", "Once upon a time", "prompt for the side-by-side generation")
	n := fs.Int("n", 64, "positions to generate, BOS and prompt included")
	threads := fs.Int("threads", 0, "threads (default: all cores)")
	out := fs.String("o", "", "keep the release at this path (default: a temporary file)")
	if err := parse(fs, args); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	tmp, err := os.MkdirTemp("", "unswift-demo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)

	text, synthetic := "", false
	if _, err := os.Stat(*modelPath); err != nil {
		fmt.Fprintf(stderr, "no model at %s: using SYNTHETIC random weights (shape tiny); fidelity numbers below mean nothing.\n"+
			"Get a real model: the project's ../shared/models, or any llama GGUF / llama2.c checkpoint via --model.\n", *modelPath)
		*modelPath = filepath.Join(tmp, "synthetic.gguf")
		if err := synth.Write(*modelPath, synth.Shapes["tiny"], synth.Options{Type: tensor.F32, Seed: 1}); err != nil {
			return err
		}
		synthetic = true
	}
	if b, err := os.ReadFile(*calibPath); err == nil {
		text = string(b)
	} else if synthetic {
		text = strings.Repeat("the quick brown fox jumps over the lazy dog. ", 2000)
	} else {
		return fmt.Errorf("reading calibration text: %w", err)
	}
	orig, err := model.Open(*modelPath, model.Options{})
	if err != nil {
		return err
	}
	defer orig.Close()
	pool := kernel.NewPool(*threads)
	defer pool.Close()

	// Secure.
	t0 := time.Now()
	cal, err := calib.Collect(ctx, orig, pool, text, calib.Options{Tokens: *calibTokens})
	if err != nil {
		return err
	}
	opt := release.Options{Order: *order, DType: tensor.F32}
	plan, err := release.NewPlan(orig, cal, opt)
	if err != nil {
		return err
	}
	relPath := *out
	if relPath == "" {
		relPath = filepath.Join(tmp, "release.gguf")
	}
	if err := release.Write(relPath, orig, plan, opt); err != nil {
		return err
	}
	rel, err := model.Open(relPath, model.Options{})
	if err != nil {
		return err
	}
	defer rel.Close()
	fmt.Fprintf(stdout, "secured %s in %s: order %d, %.1f%% of MLP channels expanded (calibrated on %d tokens of %s)\n\n",
		*modelPath, time.Since(t0).Round(time.Millisecond), *order, 100*plan.Share(), cal.Tokens, *calibPath)

	// Side by side.
	for _, m := range []struct {
		label string
		m     *model.Model
	}{{"original", orig}, {fmt.Sprintf("release N=%d", *order), rel}} {
		smp, _ := sample.New(0, 0, 1, 0)
		var b strings.Builder
		st := m.m.NewState(pool, 0)
		_, err := st.Generate(ctx, m.m.Tokenizer.Encode(*prompt, true), model.GenerateOptions{Positions: *n, Sampler: smp,
			Emit: func(s string) error { b.WriteString(s); return nil }})
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "── %s (greedy) ──\n%s\n\n", m.label, strings.TrimSpace(b.String()))
	}

	// Fidelity on held-out text.
	const heldOutTokens = 2000
	held, err := eval.HeldOut(orig.Tokenizer.Encode(text, false), cal.Tokens, heldOutTokens)
	if err != nil {
		return err
	}
	fid, err := eval.Compare(ctx, orig, rel, pool, eval.Windows(held, orig.Config.Context, orig.Tokenizer.BOS()), nil)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "held-out fidelity (%d tokens, disjoint from calibration): mean KL %.3g nats (p99 %.3g, max %.3g), top-1 agreement %.2f%%\n",
		fid.Tokens, fid.KL.Mean, fid.KL.P99, fid.KL.Max, 100*fid.Top1)

	// Cost.
	bo := model.BenchOptions{PromptTokens: 16, GenTokens: 64, Reps: 3}
	ro, err := model.Bench(orig, pool, bo)
	if err != nil {
		return err
	}
	rr, err := model.Bench(rel, pool, bo)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "cost: original %.0f tokens/s, release %.0f tokens/s: measured slowdown %.2f×, predicted %.2f× (weight bytes per token)\n",
		ro.GenTokensPerS, rr.GenTokensPerS, ro.GenTokensPerS/rr.GenTokensPerS, rel.PredictedSlowdown())
	fmt.Fprintln(stdout, "\nThe release lacks the expanded channels' down-projection weights, but they are recoverable from it by")
	fmt.Fprintln(stdout, "one division per channel (TAYLORMLP.md §5): the slowdown is the protection, not secrecy.")
	return nil
}
