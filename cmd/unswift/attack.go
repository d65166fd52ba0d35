package main

import (
	"context"
	"fmt"
	"io"
	"maps"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"

	"github.com/unswift/unswift/internal/attack"
)

func cmdAttack(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("attack", "--release RELEASE.gguf --kind algebraic|regression|finetune|distill|all --out DIR [flags]", stderr)
	release := fs.String("release", "", "the TaylorMLP release to attack (required)")
	kind := fs.String("kind", "algebraic", "attacks, comma-separated: "+strings.Join(attack.Kinds, ", ")+", or all")
	original := fs.String("original", "", "the original model, used only to score the results")
	tokenizer := fs.String("tokenizer", "", "llama2.c tokenizer.bin of the original (default: the one beside it)")
	data := fs.String("data", "", "public text: the attacks use its start, the scores its last --eval-tokens tokens (needed by regression, finetune, distill)")
	steps := fs.Int("steps", 300, "finetune, distill: the largest step budget (budgets: steps/9, steps/3, steps)")
	threads := fs.Int("threads", 0, "threads (default: all cores)")
	out := fs.String("out", "", "directory for report.md, results.json, recovered.gguf and plots (required)")
	evalTokens := fs.Int("eval-tokens", 2000, "held-out tokens the recovered models are compared on")
	prompt := fs.String("p", "Once upon a time", "prompt of the greedy comparison")
	gen := fs.Int("n", 64, "tokens generated greedily from the prompt")
	tasks := fs.String("tasks", "", "HellaSwag file: the training attacks also report acc_norm")
	taskItems := fs.Int("task-items", 200, "HellaSwag items scored")
	seed := fs.Uint64("seed", 1, "seed of the training attacks' initialisation and data order")
	if err := parse(fs, args); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	res, err := attack.Run(ctx, attack.Config{
		Release: *release, Original: *original, Tokenizer: *tokenizer, Data: *data,
		Kinds: strings.Split(*kind, ","), Steps: *steps, Threads: *threads, Out: *out,
		EvalTokens: *evalTokens, Prompt: *prompt, GenTokens: *gen, Seed: *seed,
		Tasks: *tasks, TaskItems: *taskItems, Log: stderr, Command: "unswift attack " + strings.Join(args, " "),
	})
	if err != nil {
		return err
	}
	if a := res.Algebraic; a != nil {
		if res.Original == "" {
			fmt.Fprintf(stdout, "algebraic: %.1f%% of protected channels decided from the file (no --original to score against), %.3f s\n",
				100*a.FractionConfident, a.Seconds)
		} else {
			fmt.Fprintf(stdout, "algebraic: %.1f%% of protected channels recovered, relative error %s, KL to original %s, %.3f s\n",
				100*a.FractionRecovered, fmtNum(float64(a.RelativeError)), fmtNum(float64(a.KLToOriginal)), a.Seconds)
		}
	}
	if r := res.Regression; r != nil && len(r.Points) > 0 {
		last := r.Points[len(r.Points)-1]
		fmt.Fprintf(stdout, "regression: %d tokens: relative error %s\n", last.Tokens, fmtNum(float64(last.RelativeError)))
	}
	for _, set := range []struct {
		name string
		pts  []attack.TrainPoint
	}{{"finetune", res.Finetune}, {"distill", res.Distill}} {
		for _, p := range set.pts {
			if p.Steps > 0 {
				fmt.Fprintf(stdout, "%s (%s): %d steps: ppl %s, KL to original %s\n", set.name, p.Phase, p.Steps, fmtNum(float64(p.PPL)), fmtNum(float64(p.KLToOriginal)))
			}
		}
	}
	for _, k := range slices.Sorted(maps.Keys(res.NotRun)) {
		fmt.Fprintf(stdout, "%s: not run: %s\n", k, res.NotRun[k])
	}
	fmt.Fprintf(stdout, "wrote %s\n", filepath.Join(*out, "report.md"))
	return nil
}

// fmtNum formats a measured number, "n/a" when it was not measured.
func fmtNum(v float64) string {
	if v != v {
		return "n/a"
	}
	return fmt.Sprintf("%.3g", v)
}
