package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"

	"github.com/unswift/unswift/internal/chat"
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
	fs := newFlags("run", "-m MODEL -p PROMPT [flags], or -m MODEL --chat [-p MESSAGE] [flags]", stderr)
	var mf modelFlags
	mf.register(fs)
	mf.registerOrder(fs)
	prompt := fs.String("p", "", "prompt text (with --chat: send this one message and exit)")
	n := fs.Int("n", 256, "sequence length in positions, BOS and prompt included (0: the context length); with --chat: the most tokens of each reply (0: no limit)")
	temp := fs.Float64("temp", 1.0, "sampling temperature (0: greedy)")
	topP := fs.Float64("top-p", 0.9, "nucleus sampling threshold (1: off)")
	topK := fs.Int("top-k", 0, "keep only the K most likely tokens (0: off)")
	seed := fs.Uint64("seed", 0, "random seed (0: from the clock)")
	ctxLen := fs.Int("ctx", 0, fmt.Sprintf("context length (default: the model's, at most %d)", model.DefaultContext))
	verbose := fs.Bool("v", false, "print timings to stderr")
	var cf chatFlags
	fs.BoolVar(&cf.on, "chat", false, "chat: answer each line of stdin (or the -p message) as the assistant, keeping the conversation")
	fs.StringVar(&cf.template, "chat-template", "", "with --chat: chat template, one of "+strings.Join(chat.Names(), ", ")+" (default: detected from the model's metadata, else transcript)")
	fs.StringVar(&cf.system, "system", "", "with --chat: system prompt")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *n < 0 {
		return fmt.Errorf("-n %d must be ≥ 0", *n)
	}
	if err := cf.check(); err != nil {
		return err
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
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if cf.on {
		cf.prompt, cf.maxTokens, cf.verbose = *prompt, *n, *verbose
		return runChat(ctx, m, st, smp, cf, stdout, stderr)
	}
	tokens := m.Tokenizer.Encode(*prompt, true)
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

// chatInput is where `run --chat` reads user messages (tests replace it).
var chatInput io.Reader = os.Stdin

// chatFlags are the settings of `run --chat`.
type chatFlags struct {
	on       bool
	template string // "" detects it from the model
	system   string
	prompt   string // one message to send, instead of reading chatInput
	// maxTokens bounds each reply (0: no limit).
	maxTokens int
	verbose   bool
}

// check validates the chat flags before the model is loaded.
func (c *chatFlags) check() error {
	if !c.on {
		if c.template != "" || c.system != "" {
			return fmt.Errorf("--chat-template and --system need --chat")
		}
		return nil
	}
	if c.template != "" {
		_, err := chat.New(c.template)
		return err
	}
	return nil
}

// runChat holds a conversation on st: one user message per input line (or
// the -p message alone), each reply streamed to stdout on a line of its own.
func runChat(ctx context.Context, m *model.Model, st *model.State, smp *sample.Sampler, c chatFlags, stdout, stderr io.Writer) error {
	tmpl, err := chat.ForModel(m, c.template)
	if err != nil {
		return err
	}
	sess := chat.NewSession(st, tmpl.Encoder(m.Tokenizer))
	if c.system != "" {
		sess.Add(chat.Message{Role: "system", Content: c.system})
	}
	opt := chat.Options{MaxTokens: c.maxTokens, Sampler: smp, Emit: func(text string) error {
		_, err := io.WriteString(stdout, text)
		return err
	}}
	turn := func(msg string) error {
		r, err := sess.Send(ctx, msg, opt)
		if err != nil {
			return err
		}
		if _, err := fmt.Fprintln(stdout); err != nil {
			return err
		}
		if c.verbose {
			fmt.Fprintf(stderr, "prompt: %d new tokens (%d reused from the cache), %.1f tokens/s; reply: %d tokens, %.1f tokens/s\n",
				r.Stats.PromptTokens, r.Reused, r.Stats.PromptRate(), r.Stats.GenTokens, r.Stats.GenRate())
		}
		if r.Finish == chat.FinishContext {
			fmt.Fprintf(stderr, "the context of %d tokens is full: the conversation cannot go on\n", st.Context())
		}
		return nil
	}
	if c.prompt != "" {
		return turn(c.prompt)
	}
	interactive := isTerminal(chatInput)
	if interactive {
		fmt.Fprintf(stderr, "chat template %s; one message a line, Ctrl-D to end\n", tmpl.Name())
	}
	in := bufio.NewScanner(chatInput)
	in.Buffer(nil, 1<<20)
	for {
		if interactive {
			fmt.Fprint(stderr, "> ")
		}
		if !in.Scan() {
			break
		}
		msg := strings.TrimSpace(in.Text())
		if msg == "" {
			continue
		}
		if err := turn(msg); err != nil {
			return err
		}
	}
	if interactive {
		fmt.Fprintln(stderr)
	}
	if err := in.Err(); err != nil {
		return fmt.Errorf("reading the chat input: %w", err)
	}
	return nil
}

// isTerminal reports whether r is a terminal (a character device).
func isTerminal(r io.Reader) bool {
	f, ok := r.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
