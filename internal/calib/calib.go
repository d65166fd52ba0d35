// Package calib collects activation statistics of a model on calibration text:
// per layer and per MLP hidden channel, the minimum, maximum, mean and standard
// deviation of the activation's input (the gate pre-activation of a gated MLP).
// TaylorMLP chooses its expansion points and expanded channels from them.
package calib

import (
	"context"
	"fmt"
	"math"

	"github.com/unswift/unswift/internal/kernel"
	"github.com/unswift/unswift/internal/model"
)

// Calibration is the statistics of every layer.
type Calibration struct {
	Tokens int     // tokens run through the model
	Layers []Layer // one per transformer block
}

// Layer holds one block's per-channel statistics of the activation input.
type Layer struct {
	N     int       // values seen per channel
	Min   []float64 // per channel
	Max   []float64
	Sum   []float64
	SumSq []float64
	// Samples[j] holds values of channel j at evenly spaced tokens (when
	// Options.Samples > 0): the empirical distribution a least-squares basis is
	// weighted by.
	Samples [][]float32
}

// Mean of channel j.
func (l *Layer) Mean(j int) float64 { return l.Sum[j] / float64(l.N) }

// Std is the population standard deviation of channel j.
func (l *Layer) Std(j int) float64 {
	m := l.Mean(j)
	return math.Sqrt(max(0, l.SumSq[j]/float64(l.N)-m*m))
}

// Range is max − min of channel j.
func (l *Layer) Range(j int) float64 { return l.Max[j] - l.Min[j] }

func newLayer(hidden int) Layer {
	l := Layer{Min: make([]float64, hidden), Max: make([]float64, hidden), Sum: make([]float64, hidden), SumSq: make([]float64, hidden)}
	for j := range l.Min {
		l.Min[j] = math.Inf(1)
		l.Max[j] = math.Inf(-1)
	}
	return l
}

func (l *Layer) add(x []float32, n, hidden, stride, limit int) {
	for i := 0; i < n; i++ {
		row := x[i*hidden : (i+1)*hidden]
		if stride > 0 && (l.N+i)%stride == 0 && len(l.Samples[0]) < limit {
			for j, v := range row {
				l.Samples[j] = append(l.Samples[j], v)
			}
		}
		for j, v := range row {
			f := float64(v)
			l.Min[j] = min(l.Min[j], f)
			l.Max[j] = max(l.Max[j], f)
			l.Sum[j] += f
			l.SumSq[j] += f * f
		}
	}
	l.N += n
}

// Options control Collect.
type Options struct {
	Tokens   int                   // tokens to run (the text must hold at least this many)
	Samples  int                   // values to keep per channel, at evenly spaced tokens (0: none)
	Window   int                   // tokens per window, BOS included (default: the model's context)
	Progress func(done, total int) // called after each window with tokens done
}

// MinTokens is the least calibration a transform accepts: fewer tokens give
// ranges too narrow to trust.
const MinTokens = 256

// Collect encodes text, runs Options.Tokens of it through m in windows (each
// starting with BOS) and returns the statistics.
func Collect(ctx context.Context, m *model.Model, pool *kernel.Pool, text string, opt Options) (*Calibration, error) {
	if opt.Tokens < MinTokens {
		return nil, fmt.Errorf("calibration needs at least %d tokens, asked for %d", MinTokens, opt.Tokens)
	}
	c := &m.Config
	win := opt.Window
	if win <= 1 || win > c.Context {
		win = c.Context
	}
	ids := m.Tokenizer.Encode(text, false)
	if len(ids) < opt.Tokens {
		return nil, fmt.Errorf("calibration text is too short: %d tokens, need %d (pass a longer file or a smaller --calib-tokens)", len(ids), opt.Tokens)
	}
	ids = ids[:opt.Tokens]
	cal := &Calibration{Layers: make([]Layer, c.Layers)}
	stride := 0
	if opt.Samples > 0 {
		stride = max(1, opt.Tokens/opt.Samples)
	}
	for l := range cal.Layers {
		cal.Layers[l] = newLayer(c.Hidden)
		if stride > 0 {
			cal.Layers[l].Samples = make([][]float32, c.Hidden)
		}
	}
	s := m.NewState(pool, win)
	s.Hook = func(layer int, gate []float32, n int) { cal.Layers[layer].add(gate, n, c.Hidden, stride, opt.Samples) }
	bos := m.Tokenizer.BOS()
	chunk := win
	if bos >= 0 {
		chunk--
	}
	// Prompt batches are capped to bound scratch memory on large models.
	const batch = 256
	for off := 0; off < len(ids); off += chunk {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		end := min(off+chunk, len(ids))
		w := ids[off:end]
		if bos >= 0 {
			w = append([]int{bos}, w...)
		}
		s.Reset(0)
		for b := 0; b < len(w); b += batch {
			if _, err := s.Forward(w[b:min(b+batch, len(w))]); err != nil {
				return nil, err
			}
		}
		cal.Tokens += len(w)
		if opt.Progress != nil {
			opt.Progress(end, len(ids))
		}
	}
	return cal, nil
}
