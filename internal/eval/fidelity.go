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
	Bytes   int          // UTF-8 bytes of the text of the predicted tokens (for bits per byte)
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
	f, err := CompareAll(ctx, orig, []*model.Model{rel}, windows, Exec{Pool: pool}, progress)
	if err != nil {
		return Fidelity{}, err
	}
	return f[0], nil
}

// CompareAll is Compare for several releases of one original (or one
// release opened at several orders): each window runs through the original
// once and through every release, spread over the cores as ex says. The
// result has one Fidelity per release, in order.
func CompareAll(ctx context.Context, orig *model.Model, rels []*model.Model, windows [][]int, ex Exec, progress func(done, total int)) ([]Fidelity, error) {
	for _, rel := range rels {
		if orig.Config.Vocab != rel.Config.Vocab {
			return nil, fmt.Errorf("vocabularies differ: %d vs %d tokens", orig.Config.Vocab, rel.Config.Vocab)
		}
	}
	vocab := orig.Config.Vocab
	type part struct {
		kls            []float64
		agree          int
		origNLL, relNL float64
	}
	parts := make([][]part, len(windows)) // [window][release]
	bytes := make([]int, len(windows))
	var st states
	err := ex.each(ctx, len(windows), func(w int, pool *kernel.Pool, wi int) error {
		win := windows[wi]
		so := st.get(w, orig, pool)
		so.Reset(0)
		lo, err := so.ForwardAll(win)
		if err != nil {
			return err
		}
		bytes[wi] = len(orig.Tokenizer.Decode(win[1:]))
		parts[wi] = make([]part, len(rels))
		for r, rel := range rels {
			sr := st.get(w, rel, pool)
			sr.Reset(0)
			lr, err := sr.ForwardAll(win)
			if err != nil {
				return err
			}
			p := &parts[wi][r]
			p.kls = make([]float64, 0, len(win)-1)
			for i := 0; i+1 < len(win); i++ {
				po, pr := lo[i*vocab:(i+1)*vocab], lr[i*vocab:(i+1)*vocab]
				p.kls = append(p.kls, metrics.KL(po, pr))
				if metrics.Top1Agree(po, pr) {
					p.agree++
				}
				p.origNLL += metrics.NLL(po, win[i+1])
				p.relNL += metrics.NLL(pr, win[i+1])
			}
		}
		return nil
	}, progress)
	if err != nil {
		return nil, err
	}
	out := make([]Fidelity, len(rels))
	for r := range rels {
		f := &out[r]
		var kls []float64
		agree := 0
		for wi := range windows {
			p := parts[wi][r]
			kls = append(kls, p.kls...)
			agree += p.agree
			f.OrigNLL += p.origNLL
			f.RelNLL += p.relNL
			f.Bytes += bytes[wi]
		}
		f.Tokens = len(kls)
		f.KL = metrics.Summarize(kls)
		f.Top1 = float64(agree) / math.Max(1, float64(f.Tokens))
	}
	return out, nil
}

// HeldOut returns the last n tokens of text, checking that they do not overlap
// the first skip tokens (the calibration slice).
func HeldOut(tokens []int, skip, n int) ([]int, error) {
	if len(tokens) < skip+n {
		return nil, fmt.Errorf("text has %d tokens: too few for %d calibration tokens and %d disjoint held-out tokens", len(tokens), skip, n)
	}
	return tokens[len(tokens)-n:], nil
}
