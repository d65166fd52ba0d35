package train

import (
	"errors"
	"fmt"
	"math"
	"sync"

	"github.com/unswift/unswift/internal/kernel"
)

// Options configure a Trainer. Zero values select the defaults noted.
type Options struct {
	LR     float64 // peak learning rate (required, > 0)
	MinLR  float64 // learning rate at the end of the cosine decay (default 0)
	Warmup int     // steps of linear warm-up from LR/Warmup to LR
	Steps  int     // total steps of the schedule; 0: constant LR after warm-up

	Beta1, Beta2 float64 // AdamW moment decay rates (defaults 0.9, 0.999)
	Eps          float64 // AdamW denominator term (default 1e-8)
	// WeightDecay is the decoupled weight decay (AdamW: θ −= lr·wd·θ),
	// applied to matrices only, never to norm weights.
	WeightDecay float64
	ClipNorm    float64 // clip the global gradient norm to this (0: no clipping)
	// Temperature divides student and teacher logits in the distillation
	// loss (default 1).
	Temperature float64
}

func (o *Options) setDefaults() error {
	if o.Beta1 == 0 {
		o.Beta1 = 0.9
	}
	if o.Beta2 == 0 {
		o.Beta2 = 0.999
	}
	if o.Eps == 0 {
		o.Eps = 1e-8
	}
	if o.Temperature == 0 {
		o.Temperature = 1
	}
	switch {
	case !(o.LR > 0) || math.IsInf(o.LR, 0):
		return fmt.Errorf("train: learning rate %v must be positive", o.LR)
	case !(o.MinLR >= 0 && o.MinLR <= o.LR):
		return fmt.Errorf("train: minimum learning rate %v must be within 0..%v", o.MinLR, o.LR)
	case o.Warmup < 0 || o.Steps < 0:
		return fmt.Errorf("train: warm-up %d and total steps %d must not be negative", o.Warmup, o.Steps)
	case !(o.Beta1 > 0 && o.Beta1 < 1) || !(o.Beta2 > 0 && o.Beta2 < 1):
		return fmt.Errorf("train: AdamW betas %v, %v must be within (0, 1)", o.Beta1, o.Beta2)
	case !(o.Eps > 0):
		return fmt.Errorf("train: AdamW epsilon %v must be positive", o.Eps)
	case !(o.WeightDecay >= 0):
		return fmt.Errorf("train: weight decay %v must not be negative", o.WeightDecay)
	case !(o.ClipNorm >= 0):
		return fmt.Errorf("train: gradient clipping norm %v must not be negative", o.ClipNorm)
	case !(o.Temperature > 0) || math.IsInf(o.Temperature, 0):
		return fmt.Errorf("train: temperature %v must be positive", o.Temperature)
	}
	return nil
}

// LRAt is the learning rate of update number step (0-based): linear warm-up
// to LR over Warmup steps, then a cosine decay from LR to MinLR that ends at
// step Steps (and stays at MinLR after); constant LR after the warm-up when
// Steps is 0 or not beyond Warmup.
func (o *Options) LRAt(step int) float64 {
	if step < o.Warmup {
		return o.LR * float64(step+1) / float64(o.Warmup)
	}
	if o.Steps <= o.Warmup {
		return o.LR
	}
	f := math.Min(1, float64(step-o.Warmup)/float64(o.Steps-o.Warmup))
	return o.MinLR + 0.5*(o.LR-o.MinLR)*(1+math.Cos(math.Pi*f))
}

// adamState is the AdamW state of one tensor.
type adamState struct {
	m, v []float32
	t    int // updates applied so far (for the bias correction)
}

// Trainer trains a Params with AdamW on mini-batches of token sequences.
// A Trainer is not safe for concurrent use.
//
// A batch is a slice of sequences of equal length L. Without teacher logits
// the loss is the mean next-token cross-entropy: each sequence s feeds
// s[:L−1] and predicts s[1:]. With teacher logits (distillation) each
// sequence feeds all of s and teacher[b] holds L × vocab logits, the
// teacher's prediction after every token (what model.State.ForwardAll
// returns for s); the loss is the mean over positions of
// KL(softmax(teacher/T) ‖ softmax(student/T)).
type Trainer struct {
	p     *Params
	pool  *kernel.Pool
	opt   Options
	eng   *engine[float32]
	step  int
	state map[string]*adamState

	inputs  []int
	targets []int

	gradNorm float64
}

// NewTrainer makes a trainer of p's trainable tensors (see
// Params.SetTrainable; the set may change between steps) that runs on pool
// (nil: one thread).
func NewTrainer(p *Params, pool *kernel.Pool, opt Options) (*Trainer, error) {
	if p == nil {
		return nil, errors.New("train: nil parameters")
	}
	if err := opt.setDefaults(); err != nil {
		return nil, err
	}
	return &Trainer{p: p, pool: pool, opt: opt, eng: newEngine(p, pool), state: map[string]*adamState{}}, nil
}

// Params returns the parameters being trained.
func (t *Trainer) Params() *Params { return t.p }

// Options returns the trainer's options, with defaults filled in.
func (t *Trainer) Options() Options { return t.opt }

// StepCount is the number of updates applied so far.
func (t *Trainer) StepCount() int { return t.step }

// LR is the learning rate the next update will use.
func (t *Trainer) LR() float64 { return t.opt.LRAt(t.step) }

// GradNorm is the global gradient norm of the last update, before clipping.
func (t *Trainer) GradNorm() float64 { return t.gradNorm }

// Step computes the loss of a batch and its gradient, and applies one AdamW
// update to the trainable tensors. It returns the loss before the update.
func (t *Trainer) Step(batch [][]int, teacher [][]float32) (float64, error) {
	t.p.ZeroGrad() // drop gradients of Grad calls not followed by Update
	loss, err := t.Grad(batch, teacher)
	if err != nil {
		return 0, err
	}
	return loss, t.Update()
}

// Grad computes the loss of a batch and adds its gradient to the trainable
// tensors' gradients, without updating them (several calls accumulate;
// Update applies and resets them).
func (t *Trainer) Grad(batch [][]int, teacher [][]float32) (float64, error) {
	if _, n := t.p.Count(); n == 0 {
		return 0, errors.New("train: no tensor is trainable (see Params.SetTrainable)")
	}
	loss, err := t.forwardLoss(batch, teacher)
	if err != nil {
		return 0, err
	}
	t.eng.backward()
	return loss, nil
}

// Eval returns the loss of a batch (as Step defines it) without computing
// gradients; for the cross-entropy, exp(loss) is the perplexity.
func (t *Trainer) Eval(batch [][]int, teacher [][]float32) (float64, error) {
	return t.forwardLoss(batch, teacher)
}

// Logits runs every token of each sequence (all of equal length L) and
// returns the logits after each one: len(batch)·L rows of vocab values,
// freshly allocated.
func (t *Trainer) Logits(batch [][]int) ([]float32, error) {
	b, l, err := t.prepare(batch, false)
	if err != nil {
		return nil, err
	}
	t.eng.forward(t.inputs, b, l)
	return append([]float32(nil), t.eng.logits...), nil
}

func (t *Trainer) forwardLoss(batch [][]int, teacher [][]float32) (float64, error) {
	kl := teacher != nil
	b, l, err := t.prepare(batch, !kl)
	if err != nil {
		return 0, err
	}
	vocab := t.p.Config.Vocab
	if kl {
		if len(teacher) != b {
			return 0, fmt.Errorf("train: %d teacher logit sets for %d sequences", len(teacher), b)
		}
		for i, tl := range teacher {
			if len(tl) != l*vocab {
				return 0, fmt.Errorf("train: teacher logits of sequence %d hold %d values, want %d (%d tokens × vocabulary %d)", i, len(tl), l*vocab, l, vocab)
			}
		}
	}
	t.eng.forward(t.inputs, b, l)
	var loss float64
	if kl {
		loss = klDiv(t.eng.be, t.eng.logits, t.eng.logits, teacher, l, vocab, t.opt.Temperature)
	} else {
		loss = crossEntropy(t.eng.be, t.eng.logits, t.eng.logits, t.targets, vocab)
	}
	if math.IsNaN(loss) || math.IsInf(loss, 0) {
		return loss, fmt.Errorf("train: the loss is %v (diverged?)", loss)
	}
	return loss, nil
}

// prepare validates a batch and flattens it into t.inputs (and t.targets
// when shift is set: inputs s[:L−1], targets s[1:]). It returns the number
// of sequences and the tokens fed per sequence.
func (t *Trainer) prepare(batch [][]int, shift bool) (b, l int, err error) {
	c := &t.p.Config
	if len(batch) == 0 {
		return 0, 0, errors.New("train: empty batch")
	}
	L := len(batch[0])
	need := 1
	if shift {
		need = 2
	}
	for i, s := range batch {
		if len(s) != L {
			return 0, 0, fmt.Errorf("train: sequence %d has %d tokens, sequence 0 has %d (a batch needs equal lengths)", i, len(s), L)
		}
		for j, tok := range s {
			if tok < 0 || tok >= c.Vocab {
				return 0, 0, fmt.Errorf("train: sequence %d, position %d: token id %d outside the vocabulary (0..%d)", i, j, tok, c.Vocab-1)
			}
		}
	}
	if L < need {
		return 0, 0, fmt.Errorf("train: sequences of %d tokens are too short (need %d)", L, need)
	}
	l = L
	if shift {
		l = L - 1
	}
	if l > c.Context {
		return 0, 0, fmt.Errorf("train: %d tokens per sequence exceed the context length %d", l, c.Context)
	}
	if w := c.SlidingWindow; w > 0 && l > w {
		return 0, 0, fmt.Errorf("train: %d tokens per sequence exceed the model's sliding attention window %d (the engine attends to whole sequences)", l, w)
	}
	b = len(batch)
	t.inputs, t.targets = t.inputs[:0], t.targets[:0]
	for _, s := range batch {
		t.inputs = append(t.inputs, s[:l]...)
		if shift {
			t.targets = append(t.targets, s[1:]...)
		}
	}
	return b, l, nil
}

// Update applies one AdamW step with the accumulated gradients (clipped to
// Options.ClipNorm) at the scheduled learning rate, then resets them.
func (t *Trainer) Update() error {
	var ps []*Param[float32]
	for _, p := range t.p.All() {
		if p.Trainable() {
			p.gradient() // apply a deferred clearing (no gradient since the last reset)
			ps = append(ps, p)
		}
	}
	var mu sync.Mutex
	var ss float64
	for _, p := range ps {
		t.pool.For(len(p.G), 1<<16, func(lo, hi int) {
			var s float64
			for _, g := range p.G[lo:hi] {
				s += float64(g) * float64(g)
			}
			mu.Lock()
			ss += s
			mu.Unlock()
		})
	}
	norm := math.Sqrt(ss)
	t.gradNorm = norm
	if math.IsNaN(norm) || math.IsInf(norm, 0) {
		t.p.ZeroGrad()
		return fmt.Errorf("train: gradient norm is %v; update skipped", norm)
	}
	scale := 1.0
	if t.opt.ClipNorm > 0 && norm > t.opt.ClipNorm {
		scale = t.opt.ClipNorm / norm
	}
	lr := t.opt.LRAt(t.step)
	for _, p := range ps {
		st := t.state[p.Name]
		if st == nil {
			st = &adamState{m: make([]float32, len(p.W)), v: make([]float32, len(p.W))}
			t.state[p.Name] = st
		}
		wd := t.opt.WeightDecay
		if len(p.Shape) < 2 {
			wd = 0
		}
		t.adamw(p, st, lr, wd, scale)
	}
	t.p.ZeroGrad()
	t.step++
	return nil
}

// adamw updates one tensor (element arithmetic in float32; the bias
// corrections and step size in float64):
//
//	θ ← θ − lr·wd·θ
//	m ← β1·m + (1−β1)·g,  v ← β2·v + (1−β2)·g²
//	θ ← θ − lr·(m/(1−β1^t)) / (sqrt(v/(1−β2^t)) + ε)
func (t *Trainer) adamw(p *Param[float32], st *adamState, lr, wd, gscale float64) {
	st.t++
	o := &t.opt
	c1 := 1 - math.Pow(o.Beta1, float64(st.t))
	c2 := 1 - math.Pow(o.Beta2, float64(st.t))
	b1, b2 := float32(o.Beta1), float32(o.Beta2)
	decay := float32(1 - lr*wd)
	step := float32(lr / c1)         // lr·m̂/m
	vs := float32(1 / math.Sqrt(c2)) // sqrt(v̂/v)
	eps := float32(o.Eps)
	gs := float32(gscale)
	t.pool.For(len(p.W), 1<<14, func(lo, hi int) {
		w, g, m, v := p.W[lo:hi], p.G[lo:hi], st.m[lo:hi], st.v[lo:hi]
		g, m, v = g[:len(w)], m[:len(w)], v[:len(w)]
		for i := range w {
			gi := g[i] * gs
			mi := b1*m[i] + (1-b1)*gi
			vi := b2*v[i] + (1-b2)*gi*gi
			m[i], v[i] = mi, vi
			w[i] = w[i]*decay - step*mi/(float32(math.Sqrt(float64(vi)))*vs+eps)
		}
	})
}
