// Package eval compares a TaylorMLP release with its original model: the
// distance between their next-token distributions on held-out text, their
// greedy generations, task accuracy and speed.
package eval

import (
	"context"
	"fmt"
	"math"

	"github.com/unswift/unswift/internal/kernel"
	"github.com/unswift/unswift/internal/metrics"
	"github.com/unswift/unswift/internal/model"
)

// Fidelity is the teacher-forced comparison of two models on the same tokens.
type Fidelity struct {
	Tokens  int          // predictions compared
	KL      metrics.Dist // per-token KL(original ‖ release), nats
	Top1    float64      // fraction of positions where both argmaxes agree
	OrigNLL float64      // summed negative log-likelihood of the text, original
	RelNLL  float64      // the same for the release
}

// Windows cuts tokens into windows of at most ctx tokens, each starting with bos
// (when bos ≥ 0), to be run teacher-forced.
func Windows(tokens []int, ctx, bos int) [][]int {
	step := ctx
	if bos >= 0 {
		step--
	}
	var w [][]int
	for off := 0; off < len(tokens); off += step {
		end := min(off+step, len(tokens))
		win := tokens[off:end]
		if bos >= 0 {
			win = append([]int{bos}, win...)
		}
		if len(win) >= 2 {
			w = append(w, win)
		}
	}
	return w
}

// Compare runs the windows through both models and compares the predicted
// distributions at every position (the prediction of each window's last token
// is not used, having no target).
func Compare(ctx context.Context, orig, rel *model.Model, pool *kernel.Pool, windows [][]int, progress func(done, total int)) (Fidelity, error) {
	var f Fidelity
	if orig.Config.Vocab != rel.Config.Vocab {
		return f, fmt.Errorf("vocabularies differ: %d vs %d tokens", orig.Config.Vocab, rel.Config.Vocab)
	}
	vocab := orig.Config.Vocab
	so := orig.NewState(pool, 0)
	sr := rel.NewState(pool, 0)
	var kls []float64
	agree := 0
	for wi, w := range windows {
		if err := ctx.Err(); err != nil {
			return f, err
		}
		so.Reset(0)
		sr.Reset(0)
		lo, err := so.ForwardAll(w)
		if err != nil {
			return f, err
		}
		lr, err := sr.ForwardAll(w)
		if err != nil {
			return f, err
		}
		for i := 0; i+1 < len(w); i++ {
			p, q := lo[i*vocab:(i+1)*vocab], lr[i*vocab:(i+1)*vocab]
			kls = append(kls, metrics.KL(p, q))
			if metrics.Top1Agree(p, q) {
				agree++
			}
			f.OrigNLL += metrics.NLL(p, w[i+1])
			f.RelNLL += metrics.NLL(q, w[i+1])
		}
		if progress != nil {
			progress(wi+1, len(windows))
		}
	}
	f.Tokens = len(kls)
	f.KL = metrics.Summarize(kls)
	f.Top1 = float64(agree) / math.Max(1, float64(f.Tokens))
	return f, nil
}

// HeldOut returns the last n tokens of text, checking that they do not overlap
// the first skip tokens (the calibration slice).
func HeldOut(tokens []int, skip, n int) ([]int, error) {
	if len(tokens) < skip+n {
		return nil, fmt.Errorf("text has %d tokens: too few for %d calibration tokens and %d disjoint held-out tokens", len(tokens), skip, n)
	}
	return tokens[len(tokens)-n:], nil
}
