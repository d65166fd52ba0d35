package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"

	"github.com/unswift/unswift/internal/kernel"
	"github.com/unswift/unswift/internal/model"
	"github.com/unswift/unswift/internal/sample"
)

// modelFlags are the flags every command that loads a model shares.
type modelFlags struct {
	path      string
	tokenizer string
	threads   int
	order     int
}

func (f *modelFlags) register(fs interface {
	StringVar(*string, string, string, string)
	IntVar(*int, string, int, string)
}) {
	fs.StringVar(&f.path, "m", "", "model file: GGUF (plain or TaylorMLP release), or llama2.c checkpoint (default: "+defaultModel+")")
	fs.StringVar(&f.tokenizer, "tokenizer", "", "llama2.c tokenizer.bin (default: the one beside the checkpoint)")
	fs.IntVar(&f.threads, "threads", 0, "threads (default: all cores)")
	f.order = -1
}

// registerOrder adds --order, for commands that run a release.
func (f *modelFlags) registerOrder(fs interface {
	IntVar(*int, string, int, string)
}) {
	fs.IntVar(&f.order, "order", -1, "TaylorMLP release: run at this order (default: the released N)")
}

func (f *modelFlags) open() (*model.Model, *kernel.Pool, error) {
	if f.path == "" {
		if _, err := os.Stat(defaultModel); err != nil {
			return nil, nil, fmt.Errorf("no model given and the default %s is absent: pass -m FILE (a llama GGUF, or a llama2.c checkpoint such as stories15M.bin with its tokenizer.bin)", defaultModel)
		}
		f.path = defaultModel
	}
	if f.threads < 0 {
		return nil, nil, fmt.Errorf("--threads %d must be ≥ 0", f.threads)
	}
	m, err := model.Open(f.path, model.Options{Tokenizer: f.tokenizer})
	if err != nil {
		return nil, nil, err
	}
	if f.order >= 0 {
		if err := m.SetOrder(f.order); err != nil {
			m.Close()
			return nil, nil, err
		}
	}
	return m, kernel.NewPool(f.threads), nil
}

func cmdRun(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("run", "-m MODEL -p PROMPT [flags]", stderr)
	var mf modelFlags
	mf.register(fs)
	mf.registerOrder(fs)
	prompt := fs.String("p", "", "prompt text")
	n := fs.Int("n", 256, "sequence length in positions, BOS and prompt included (0: the context length)")
	temp := fs.Float64("temp", 1.0, "sampling temperature (0: greedy)")
	topP := fs.Float64("top-p", 0.9, "nucleus sampling threshold (1: off)")
	topK := fs.Int("top-k", 0, "keep only the K most likely tokens (0: off)")
	seed := fs.Uint64("seed", 0, "random seed (0: from the clock)")
	ctxLen := fs.Int("ctx", 0, "context length (default: the model's)")
	verbose := fs.Bool("v", false, "print timings to stderr")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *n < 0 {
		return fmt.Errorf("-n %d must be ≥ 0", *n)
	}
	if *seed == 0 {
		*seed = uint64(timeSeed())
	}
	smp, err := sample.New(*temp, *topK, *topP, *seed)
	if err != nil {
		return err
	}
	m, pool, err := mf.open()
	if err != nil {
		return err
	}
	defer m.Close()
	defer pool.Close()
	st := m.NewState(pool, *ctxLen)
	tokens := m.Tokenizer.Encode(*prompt, true)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	stats, err := st.Generate(ctx, tokens, model.GenerateOptions{
		Positions: *n,
		Sampler:   smp,
		Emit: func(text string) error {
			_, err := io.WriteString(stdout, text)
			return err
		},
	})
	fmt.Fprintln(stdout)
	if err != nil {
		return err
	}
	if *verbose {
		fmt.Fprintf(stderr, "prompt: %d tokens, %.1f tokens/s; generation: %d tokens, %.1f tokens/s (%d threads)\n",
			stats.PromptTokens, stats.PromptRate(), stats.GenTokens, stats.GenRate(), pool.Threads())
	}
	return nil
}
