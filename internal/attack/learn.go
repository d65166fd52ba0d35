package attack

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"time"

	"github.com/unswift/unswift/internal/eval"
	"github.com/unswift/unswift/internal/kernel"
	"github.com/unswift/unswift/internal/model"
	"github.com/unswift/unswift/internal/tasks"
	"github.com/unswift/unswift/internal/train"
)

// TrainPoint is one step budget of a training attack, measured on the
// held-out text.
type TrainPoint struct {
	// Phase is "down" (only the down projections trained, every other weight
	// as released) or "all" (every weight trained).
	Phase        string   `json:"phase"`
	Steps        int      `json:"steps"`
	Tokens       int      `json:"train_tokens"` // training tokens seen
	PPL          eval.Num `json:"ppl"`
	KLToOriginal eval.Num `json:"kl_to_original"` // mean per token; null without the original
	Top1Original eval.Num `json:"top1_original"`  // argmax agreement with the original
	KLToRelease  eval.Num `json:"kl_to_release"`  // mean per token, against the release itself
	Top1Release  eval.Num `json:"top1_release"`   // argmax agreement with the release
	AccNorm      eval.Num `json:"acc_norm"`       // HellaSwag acc_norm (with --tasks)
	TrainLoss    eval.Num `json:"train_loss"`     // mean loss of the last 10% of steps
	Seconds      float64  `json:"seconds"`        // training time so far in this phase
	StepsPerSec  float64  `json:"steps_per_second"`
}

// TrainingInfo records how the training attacks were run and the reference
// points they are measured against.
type TrainingInfo struct {
	Batch        int       `json:"batch"`
	SeqLen       int       `json:"seq_len"`
	LR           float64   `json:"lr"`
	LRAll        float64   `json:"lr_all"`
	WeightDecay  float64   `json:"weight_decay"`
	ClipNorm     float64   `json:"clip_norm"`
	Warmup       int       `json:"warmup"`
	Budgets      []int     `json:"budgets"`
	InitStd      float64   `json:"init_std"`
	PPLOriginal  eval.Num  `json:"ppl_original"`
	PPLRelease   eval.Num  `json:"ppl_release"`
	AccOriginal  eval.Num  `json:"acc_norm_original"`
	AccRelease   eval.Num  `json:"acc_norm_release"`
	AccChance    eval.Num  `json:"acc_norm_chance"`
	TaskItems    int       `json:"task_items"`
	FinetuneLoss []float64 `json:"finetune_loss,omitempty"` // per step, phase "down"
	FinetuneAll  []float64 `json:"finetune_all_loss,omitempty"`
	DistillLoss  []float64 `json:"distill_loss,omitempty"`
}

// Training hyper-parameters of the attacks: a mini-batch of Batch sequences of
// SeqLen tokens (after BOS), AdamW with a short warm-up and then a constant
// learning rate, so that the model after k steps is what a budget of k steps
// buys.
const (
	trainBatch  = 8
	trainSeqLen = 128
	trainLR     = 3e-3 // down projections only, from a random start
	trainLRAll  = 1e-3 // every weight
	trainWD     = 0.01
	trainClip   = 1.0
)

// budgets are the three step budgets of a run of at most steps.
func budgets(steps int) []int {
	b := []int{max(1, steps/9), max(2, steps/3), steps}
	if b[1] <= b[0] {
		b[1] = b[0] + 1
	}
	return b
}

// runTraining runs the fine-tuning ("finetune") or distillation ("distill")
// attack: start from the release's public weights with the withheld down-
// projection columns drawn at random (at the scale of the released plain
// columns), train on the attacker's part of the data, and measure after each
// budget. Fine-tuning minimises next-token cross-entropy on the text;
// distillation the KL divergence from the release's own next-token
// distribution on the same text. Gate and up rows stay as released (the
// attacker does not know the signs); phase "all" then trains every weight.
func runTraining(ctx context.Context, kind string, cfg Config, rel, orig *model.Model, attackTokens, evalTokens []int, pool *kernel.Pool, logf func(string, ...any)) ([]TrainPoint, *TrainingInfo, error) {
	c := &rel.Config
	seqLen := min(trainSeqLen, c.Context-1)
	if len(attackTokens) < 4*seqLen {
		return nil, nil, fmt.Errorf("the data leaves %d tokens to train on; need at least %d", len(attackTokens), 4*seqLen)
	}
	info := &TrainingInfo{Batch: trainBatch, SeqLen: seqLen, LR: trainLR, LRAll: trainLRAll, WeightDecay: trainWD,
		ClipNorm: trainClip, Warmup: warmup(cfg.Steps), Budgets: budgets(cfg.Steps)}
	nan := eval.Num(math.NaN())
	info.PPLOriginal, info.PPLRelease, info.AccOriginal, info.AccRelease, info.AccChance = nan, nan, nan, nan, nan
	windows := eval.Windows(evalTokens, c.Context, rel.Tokenizer.BOS())
	ex := eval.NewExec(rel, pool, cfg.Threads)
	var items []tasks.Item
	if cfg.Tasks != "" {
		var err error
		if items, err = tasks.LoadHellaSwag(cfg.Tasks, cfg.TaskItems); err != nil {
			return nil, nil, err
		}
		info.TaskItems = len(items)
	}
	accNorm := func(m *model.Model) (eval.Num, eval.Num, error) {
		if items == nil {
			return nan, nan, nil
		}
		r, err := tasks.Eval(ctx, tasks.HellaSwag, items, eval.NewScorer(m, pool), nil)
		if err != nil {
			return nan, nan, err
		}
		mt, _ := r.Metric("acc_norm")
		return eval.Num(mt.Value), eval.Num(mt.Chance), nil
	}
	// Reference points.
	ref := orig
	if ref == nil {
		ref = rel
	}
	f, err := eval.CompareAll(ctx, ref, []*model.Model{rel}, windows, ex, nil)
	if err != nil {
		return nil, nil, err
	}
	info.PPLRelease = eval.Num(math.Exp(f[0].RelNLL / float64(f[0].Tokens)))
	if orig != nil {
		info.PPLOriginal = eval.Num(math.Exp(f[0].OrigNLL / float64(f[0].Tokens)))
		if info.AccOriginal, _, err = accNorm(orig); err != nil {
			return nil, nil, err
		}
	}
	if info.AccRelease, info.AccChance, err = accNorm(rel); err != nil {
		return nil, nil, err
	}

	tmp, err := os.MkdirTemp(cfg.Out, "."+kind+"-")
	if err != nil {
		return nil, nil, err
	}
	defer os.RemoveAll(tmp)
	measure := func(p *train.Params, tp *TrainPoint) error {
		path := filepath.Join(tmp, "attacked.gguf")
		if err := train.WriteGGUF(path, rel, p); err != nil {
			return err
		}
		m, err := model.Open(path, model.Options{})
		if err != nil {
			return err
		}
		defer m.Close()
		fr, err := eval.CompareAll(ctx, rel, []*model.Model{m}, windows, ex, nil)
		if err != nil {
			return err
		}
		tp.PPL = eval.Num(math.Exp(fr[0].RelNLL / float64(fr[0].Tokens)))
		tp.KLToRelease, tp.Top1Release = eval.Num(fr[0].KL.Mean), eval.Num(fr[0].Top1)
		tp.KLToOriginal, tp.Top1Original = nan, nan
		if orig != nil {
			fo, err := eval.CompareAll(ctx, orig, []*model.Model{m}, windows, ex, nil)
			if err != nil {
				return err
			}
			tp.KLToOriginal, tp.Top1Original = eval.Num(fo[0].KL.Mean), eval.Num(fo[0].Top1)
		}
		tp.AccNorm, _, err = accNorm(m)
		return err
	}

	phases := []string{"down"}
	if kind == "finetune" {
		phases = append(phases, "all")
	}
	var points []TrainPoint
	for _, phase := range phases {
		p, err := train.FromModel(rel)
		if err != nil {
			return nil, nil, err
		}
		rng := rand.New(rand.NewPCG(cfg.Seed, 0xa77ac))
		info.InitStd = plainStd(p)
		p.RandomInitWithheld(rng, info.InitStd)
		sel, lr := train.Selector(train.Kinds("ffn_down")), trainLR
		if phase == "all" {
			sel, lr = train.All, trainLRAll
		}
		if err := p.SetTrainable(sel); err != nil {
			return nil, nil, err
		}
		tr, err := train.NewTrainer(p, pool, train.Options{LR: lr, Warmup: info.Warmup, WeightDecay: trainWD, ClipNorm: trainClip})
		if err != nil {
			return nil, nil, err
		}
		start := TrainPoint{Phase: phase}
		if err := measure(p, &start); err != nil {
			return nil, nil, err
		}
		start.TrainLoss = nan
		points = append(points, start)
		logf("%s/%s: step 0: ppl %.4g, KL to original %s", kind, phase, float64(start.PPL), num(start.KLToOriginal, "%.3g"))
		var losses []float64
		bos := rel.Tokenizer.BOS()
		var stateRel *model.State
		if kind == "distill" {
			stateRel = rel.NewState(pool, 0)
		}
		var trainTime time.Duration
		bi := 0
		for step := 1; step <= cfg.Steps; step++ {
			if err := ctx.Err(); err != nil {
				return nil, nil, err
			}
			batch := make([][]int, trainBatch)
			for i := range batch {
				off := rng.IntN(len(attackTokens) - seqLen - 1)
				seq := attackTokens[off : off+seqLen+1]
				if kind == "distill" {
					seq = seq[:seqLen]
				}
				if bos >= 0 {
					seq = append([]int{bos}, seq[:len(seq)-1]...)
				}
				batch[i] = seq
			}
			var teacher [][]float32
			if kind == "distill" {
				for _, s := range batch {
					stateRel.Reset(0)
					lg, err := stateRel.ForwardAll(s)
					if err != nil {
						return nil, nil, err
					}
					teacher = append(teacher, lg)
				}
			}
			t0 := time.Now()
			loss, err := tr.Step(batch, teacher)
			trainTime += time.Since(t0)
			if err != nil {
				return nil, nil, fmt.Errorf("step %d: %w", step, err)
			}
			losses = append(losses, loss)
			if bi < len(info.Budgets) && step == info.Budgets[bi] {
				tp := TrainPoint{Phase: phase, Steps: step, Tokens: step * trainBatch * seqLen, Seconds: trainTime.Seconds(),
					StepsPerSec: float64(step) / trainTime.Seconds(), TrainLoss: eval.Num(tailMean(losses))}
				if err := measure(p, &tp); err != nil {
					return nil, nil, err
				}
				points = append(points, tp)
				logf("%s/%s: step %d: loss %.4g, ppl %.4g, KL to original %s, top-1 vs original %s (%.1f steps/s)",
					kind, phase, step, loss, float64(tp.PPL), num(tp.KLToOriginal, "%.3g"), num(tp.Top1Original, "%.4f"), tp.StepsPerSec)
				bi++
			}
		}
		switch {
		case kind == "distill":
			info.DistillLoss = losses
		case phase == "down":
			info.FinetuneLoss = losses
		default:
			info.FinetuneAll = losses
		}
	}
	return points, info, nil
}

func warmup(steps int) int { return max(1, steps/20) }

// tailMean is the mean of the last 10% (at least one) of xs.
func tailMean(xs []float64) float64 {
	n := max(1, len(xs)/10)
	var s float64
	for _, x := range xs[len(xs)-n:] {
		s += x
	}
	return s / float64(n)
}

// plainStd is the standard deviation of the down-projection columns the
// release keeps plain (what an attacker draws the withheld ones at), or 0
// (the trainer's default scale) when fewer than 8 channels are plain.
func plainStd(p *train.Params) float64 {
	var s, n float64
	for l, ly := range p.Layers {
		e, h := p.Withheld[l], ly.Down.Cols()
		if h-e < 8 {
			continue
		}
		for i := 0; i < ly.Down.Rows(); i++ {
			for _, v := range ly.Down.W[i*h+e : (i+1)*h] {
				s += float64(v) * float64(v)
				n++
			}
		}
	}
	if n == 0 {
		return 0
	}
	return math.Sqrt(s / n)
}
