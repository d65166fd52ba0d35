package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/unswift/unswift/internal/eval"
)

const (
	defaultHellaSwag  = "../shared/data/hellaswag_val_full.txt.bz2"
	defaultTruthfulQA = "../shared/data/TruthfulQA.csv"
)

func cmdEval(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("eval", "--original MODEL (--release R.gguf | --releases A,B,… | --only-original) --out DIR [flags]", stderr)
	original := fs.String("original", "", "the plain model the releases were made from (required)")
	tok := fs.String("tokenizer", "", "llama2.c tokenizer.bin of the original (default: the one beside the checkpoint)")
	rel := fs.String("release", "", "the release to evaluate")
	rels := fs.String("releases", "", "several releases of the original, comma-separated, compared in one report")
	only := fs.Bool("only-original", false, "evaluate the original alone (no release)")
	orders := fs.String("orders", joinInts(eval.DefaultOrders), "orders to run each release at (comma-separated; those above a release's N are skipped)")
	data := fs.String("data", defaultCalib, "held-out text: its LAST --heldout-tokens tokens are evaluated; a release calibrated on its FIRST --calib-tokens never saw them")
	calibTokens := fs.Int("calib-tokens", eval.DefaultCalibTokens, "size of the calibration slice at the start of --data that evaluation must stay clear of")
	heldTokens := fs.Int("heldout-tokens", eval.DefaultHeldOutTokens, "held-out tokens for KL, top-1 agreement and perplexity")
	pplProtocol := fs.String("ppl-protocol", "heldout", "perplexity: heldout (the held-out windows) or paragraphs (the first 200 paragraphs of --data, comparable with other engines)")
	taskList := fs.String("tasks", "hellaswag,truthfulqa", "tasks, comma-separated: hellaswag, truthfulqa; \"none\" for none")
	hellaswag := fs.String("hellaswag", defaultHellaSwag, "HellaSwag file (6 lines per task, bzip2 or plain)")
	truthfulqa := fs.String("truthfulqa", defaultTruthfulQA, "TruthfulQA CSV")
	limit := fs.Int("limit", 0, "items per task, a seeded random sample (0: "+defaultLimits()+"; -1: all)")
	prompts := fs.String("prompts", "", "generation prompts, one per line (default: openings of held-out paragraphs of --data)")
	nPrompts := fs.Int("n-prompts", eval.DefaultPrompts, "default prompts: how many")
	genTokens := fs.Int("gen-tokens", eval.DefaultGenTokens, "new tokens per greedy continuation (capped by the context)")
	rounds := fs.Int("bench-rounds", eval.DefaultBenchRounds, "interleaved latency rounds")
	costThreads := fs.Int("cost-threads", 0, "threads latency is measured on (default: 1 for a small model, which decodes no faster on more; else --threads)")
	seed := fs.Uint64("seed", 1, "seed of the task samples and benchmark prompts")
	threads := fs.Int("threads", 0, "threads (default: all cores)")
	note := fs.String("note", "", "text for the report, such as how the releases were made (markdown)")
	out := fs.String("out", "", "directory for report.md, results.json and the plots (required)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *original == "" {
		return fmt.Errorf("no original model: pass --original MODEL (the plain model the release was made from)")
	}
	if *out == "" {
		return fmt.Errorf("no output directory: pass --out DIR")
	}
	opt := eval.Options{
		Original: *original, Tokenizer: *tok, OnlyOriginal: *only, Data: *data,
		CalibTokens: *calibTokens, HeldOutTokens: *heldTokens, PPLProtocol: *pplProtocol,
		HellaSwagPath: *hellaswag, TruthfulQAPath: *truthfulqa, Limit: *limit,
		NumPrompts: *nPrompts, GenTokens: *genTokens, BenchRounds: *rounds, CostThreads: *costThreads, Seed: *seed, Threads: *threads,
	}
	opt.Command = commandLine(args)
	opt.Note = *note
	if *rel != "" {
		opt.Releases = append(opt.Releases, *rel)
	}
	for _, r := range splitList(*rels) {
		opt.Releases = append(opt.Releases, r)
	}
	switch {
	case *only && len(opt.Releases) > 0:
		return fmt.Errorf("--only-original excludes --release and --releases")
	case !*only && len(opt.Releases) == 0:
		return fmt.Errorf("no release: pass --release R.gguf, --releases A,B or --only-original")
	}
	for _, s := range splitList(*orders) {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			return fmt.Errorf("--orders: %q is not an order (a non-negative integer)", s)
		}
		opt.Orders = append(opt.Orders, n)
	}
	if *taskList != "none" {
		opt.Tasks = splitList(*taskList)
	}
	if *prompts != "" {
		b, err := os.ReadFile(*prompts)
		if err != nil {
			return fmt.Errorf("reading the prompts: %w", err)
		}
		for _, line := range strings.Split(string(b), "\n") {
			if line = strings.TrimSpace(line); line != "" {
				opt.Prompts = append(opt.Prompts, line)
			}
		}
		if len(opt.Prompts) == 0 {
			return fmt.Errorf("%s holds no prompt", *prompts)
		}
	}
	var bar *progress
	phase := ""
	opt.Progress = func(p string, done, total int) {
		if p != phase {
			if bar != nil {
				bar.done()
			}
			phase, bar = p, newProgress(stderr, fmt.Sprintf("%-10s", p))
		}
		bar.update(done, total)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	res, err := eval.Run(ctx, opt)
	if bar != nil {
		bar.done()
	}
	if err != nil {
		return err
	}
	if err := res.WriteReport(*out); err != nil {
		return err
	}
	for _, t := range res.Timings {
		fmt.Fprintf(stderr, "%-45s %7.1f s wall %7.1f s CPU\n", t.Phase, float64(t.WallS), float64(t.CPUS))
	}
	fmt.Fprintf(stdout, "wrote %s (%.1f s)\n", filepath.Join(*out, "report.md"), float64(res.Machine.WallTotalS))
	return nil
}

// splitList splits a comma-separated list, dropping empty items.
func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

func joinInts(xs []int) string {
	s := make([]string, len(xs))
	for i, x := range xs {
		s[i] = strconv.Itoa(x)
	}
	return strings.Join(s, ",")
}

// commandLine is args as a shell command, quoted where needed, without the
// --note text (which the report shows on its own).
func commandLine(args []string) string {
	parts := []string{"unswift", "eval"}
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--note" || a == "-note" {
			i++
			continue
		}
		if strings.HasPrefix(a, "--note=") || strings.HasPrefix(a, "-note=") {
			continue
		}
		if strings.Trim(a, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_./:=,@+-") != "" || a == "" {
			a = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
		parts = append(parts, a)
	}
	return strings.Join(parts, " ")
}

// defaultLimits describes eval.DefaultLimits.
func defaultLimits() string {
	var parts []string
	for _, t := range eval.TaskNames {
		n := "all"
		if l := eval.DefaultLimits[t]; l > 0 {
			n = strconv.Itoa(l)
		}
		parts = append(parts, t+" "+n)
	}
	return strings.Join(parts, ", ")
}
