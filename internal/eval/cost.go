package eval

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"time"

	"github.com/unswift/unswift/internal/kernel"
	"github.com/unswift/unswift/internal/metrics"
	"github.com/unswift/unswift/internal/model"
)

var nan = math.NaN()

// CostOptions control MeasureCost.
type CostOptions struct {
	Rounds       int    `json:"rounds"`        // measured rounds (after one warm-up round)
	PromptTokens int    `json:"prompt_tokens"` // tokens of each prompt batch (capped to half the context)
	GenTokens    int    `json:"gen_tokens"`    // tokens generated one at a time per sequence (capped to what the context leaves)
	MinMillis    int    `json:"min_ms"`        // a measurement repeats sequences until it has generated for this long
	Seed         uint64 `json:"seed"`          // of the random prompt tokens
	Threads      int    `json:"threads"`       // for the record: threads of the pool measured on (MeasureCost uses the pool it is given)
}

// capped returns the options with the token counts capped for a context of
// c tokens.
func (o CostOptions) capped(c int) CostOptions {
	o.PromptTokens = max(1, min(o.PromptTokens, c/2))
	o.GenTokens = max(1, min(o.GenTokens, c-o.PromptTokens))
	return o
}

// Cost is the measured speed of one model: per measurement, and the median
// over measurements.
type Cost struct {
	GenMs      []float64 // per measurement: wall milliseconds per generated token
	GenCPUMs   []float64 // per measurement: CPU milliseconds per generated token (empty when unknown)
	PromptPerS []float64 // per measurement: prompt tokens per second (wall)
	// Ratio and CPURatio are, per round, GenMs (GenCPUMs) over the mean of
	// the reference's measurements just before and after.
	Ratio, CPURatio  []float64
	GenMsMedian      float64
	GenCPUMsMedian   float64
	PromptPerSMedian float64
	// Slowdown and SlowdownCPU are the medians of Ratio and CPURatio: each
	// ratio compares measurements taken moments apart, so drifts in the
	// machine's load cancel; CPU time moreover leaves out the time the
	// process waited for a core, which wall time on a shared machine includes.
	Slowdown, SlowdownCPU float64
}

// MeasureCost measures generation latency and prompt throughput of each
// model on pool, interleaved with the reference models[0]: each round
// measures A B A C A D … A (A the reference), after a warm-up round that is
// not counted, and each model's ratio in a round is its latency over the
// mean of the two reference measurements around it. A measurement runs
// sequences of a random prompt batch followed by greedy one-token steps until
// the steps took opt.MinMillis; only the steps count for the latency, only
// the batches for the throughput. On a one-thread pool the CPU time is the
// measuring thread's, otherwise the process's.
func MeasureCost(ctx context.Context, models []*model.Model, pool *kernel.Pool, opt CostOptions, progress func(done, total int)) ([]Cost, error) {
	if len(models) == 0 {
		return nil, nil
	}
	if opt.Rounds < 1 {
		return nil, fmt.Errorf("cost: %d rounds, need at least 1", opt.Rounds)
	}
	c := models[0].Config.Context
	for _, m := range models {
		c = min(c, m.Config.Context)
	}
	opt = opt.capped(c)
	pt, gt := opt.PromptTokens, opt.GenTokens
	cpu := cpuTime
	if pool.Threads() == 1 {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		cpu = threadCPUTime
	}
	rng := rand.New(rand.NewPCG(opt.Seed, 0xc057))
	prompt := make([]int, pt)
	for i := range prompt {
		prompt[i] = rng.IntN(models[0].Config.Vocab)
	}
	st := make([]*model.State, len(models))
	for i, m := range models {
		st[i] = m.NewState(pool, pt+gt)
	}
	type sample struct{ ms, cpuMs, promptPerS float64 }
	measure := func(s *model.State) (sample, error) {
		var promptTime, genTime, genCPU time.Duration
		gen, seqs := 0, 0
		for seqs == 0 || genTime < time.Duration(opt.MinMillis)*time.Millisecond {
			if err := ctx.Err(); err != nil {
				return sample{}, err
			}
			s.Reset(0)
			t0 := time.Now()
			logits, err := s.Forward(prompt)
			if err != nil {
				return sample{}, err
			}
			promptTime += time.Since(t0)
			next := metrics.Argmax(logits)
			c1, t1 := cpu(), time.Now()
			for k := 0; k < gt; k++ {
				if logits, err = s.Forward([]int{next}); err != nil {
					return sample{}, err
				}
				next = metrics.Argmax(logits)
			}
			genTime += time.Since(t1)
			genCPU += cpu() - c1
			gen += gt
			seqs++
		}
		x := sample{ms: genTime.Seconds() * 1e3 / float64(gen), cpuMs: genCPU.Seconds() * 1e3 / float64(gen),
			promptPerS: float64(pt*seqs) / promptTime.Seconds()}
		if genCPU <= 0 {
			x.cpuMs = nan
		}
		return x, nil
	}
	out := make([]Cost, len(models))
	add := func(c *Cost, x sample) {
		c.GenMs = append(c.GenMs, x.ms)
		c.PromptPerS = append(c.PromptPerS, x.promptPerS)
		if !math.IsNaN(x.cpuMs) {
			c.GenCPUMs = append(c.GenCPUMs, x.cpuMs)
		}
	}
	perRound := max(1, 2*len(models)-1)
	total := (opt.Rounds + 1) * perRound
	done := 0
	step := func() {
		done++
		if progress != nil {
			progress(done, total)
		}
	}
	for r := 0; r <= opt.Rounds; r++ {
		ref, err := measure(st[0])
		if err != nil {
			return nil, err
		}
		step()
		if r > 0 {
			add(&out[0], ref)
		}
		for i := 1; i < len(models); i++ {
			x, err := measure(st[i])
			if err != nil {
				return nil, err
			}
			step()
			next, err := measure(st[0])
			if err != nil {
				return nil, err
			}
			step()
			if r > 0 {
				add(&out[i], x)
				add(&out[0], next)
				out[i].Ratio = append(out[i].Ratio, x.ms/((ref.ms+next.ms)/2))
				if cr := x.cpuMs / ((ref.cpuMs + next.cpuMs) / 2); !math.IsNaN(cr) {
					out[i].CPURatio = append(out[i].CPURatio, cr)
				}
			}
			ref = next
		}
	}
	for i := range out {
		o := &out[i]
		if i == 0 {
			o.Ratio = []float64{1}
			o.CPURatio = []float64{1}
		}
		o.GenMsMedian = median(o.GenMs)
		o.GenCPUMsMedian = median(o.GenCPUMs)
		o.PromptPerSMedian = median(o.PromptPerS)
		o.Slowdown = median(o.Ratio)
		o.SlowdownCPU = median(o.CPURatio)
	}
	return out, nil
}

// median of xs (NaN when empty), xs unchanged.
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return nan
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// spread returns the smallest and largest of xs.
func spread(xs []float64) (lo, hi float64) {
	if len(xs) == 0 {
		return nan, nan
	}
	return slices.Min(xs), slices.Max(xs)
}
