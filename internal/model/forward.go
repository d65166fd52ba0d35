package model

import (
	"fmt"
	"math"

	"github.com/unswift/unswift/internal/kernel"
	"github.com/unswift/unswift/internal/series"
	"github.com/unswift/unswift/internal/tensor"
)

// State is one sequence being run through a model: its position, its KV cache
// and its scratch buffers. A State is not safe for concurrent use; run several
// sequences with several States over one Model.
type State struct {
	m    *Model
	pool *kernel.Pool
	ctx  int // context length of this state's cache
	pos  int // tokens processed so far

	key, val [][]float32 // per layer: ctx × kvdim

	batch int       // capacity of the scratch buffers in tokens
	x     []float32 // residual stream: n × dim
	xb    []float32 // normalised input of attention (and of the MLP)
	xb2   []float32 // attention output projection
	ao    []float32 // attention output (before its projection)
	mo    []float32 // MLP output
	q     []float32
	hb    []float32 // MLP hidden: act's input (the gate of a gated MLP)
	hb2   []float32 // gated MLP: the up projection; plain MLP: ones
	ones  []float32 // n × hidden ones: the "up" factor of a plain MLP
	att   []float32 // heads × ctx attention scores
	out   []float32 // logits
	tv    []float32 // TaylorMLP input: n × (plain, then powers of expanded channels)
	tt    []float32 // Chebyshev variable t of the expanded channels

	cos, sin []float32 // RoPE tables: ctx × ropeDim/2

	// Hook, when set, is called after each layer's MLP gate pre-activation is
	// computed, with the n×hidden gate values (used by calibration).
	Hook func(layer int, gate []float32, n int)
}

// DefaultContext bounds the context of a state made without one: a model may
// declare 128K positions, whose KV cache would not fit in memory.
const DefaultContext = 4096

// NewState makes a state for one sequence with a context of ctx tokens that
// runs its kernels on pool. ctx <= 0 means the model's context, at most
// DefaultContext; a ctx beyond the model's context is cut to it.
func (m *Model) NewState(pool *kernel.Pool, ctx int) *State {
	c := &m.Config
	if ctx <= 0 {
		ctx = min(c.Context, DefaultContext)
	}
	ctx = min(ctx, c.Context)
	s := &State{m: m, pool: pool, ctx: ctx}
	s.key = make([][]float32, c.Layers)
	s.val = make([][]float32, c.Layers)
	for l := range s.key {
		s.key[l] = make([]float32, ctx*c.KVDim())
		s.val[l] = make([]float32, ctx*c.KVDim())
	}
	s.att = make([]float32, c.Heads*ctx)
	if c.Family.Rope != RopeNone {
		s.cos, s.sin = m.ropeTables(ctx)
	}
	s.grow(1)
	return s
}

// Pos is the number of tokens processed so far.
func (s *State) Pos() int { return s.pos }

// Context is the state's maximum sequence length.
func (s *State) Context() int { return s.ctx }

// Reset rewinds the sequence to position pos (0 starts over). The cache beyond
// pos is simply overwritten later.
func (s *State) Reset(pos int) {
	if pos < 0 || pos > s.pos {
		panic(fmt.Sprintf("model: Reset(%d) outside 0..%d", pos, s.pos))
	}
	s.pos = pos
}

func (s *State) grow(n int) {
	if n <= s.batch {
		return
	}
	c := &s.m.Config
	s.batch = n
	s.x = make([]float32, n*c.Dim)
	s.xb = make([]float32, n*c.Dim)
	s.xb2 = make([]float32, n*c.Dim)
	s.ao = make([]float32, n*c.Dim)
	s.mo = make([]float32, n*c.Dim)
	s.q = make([]float32, n*c.Dim)
	s.hb = make([]float32, n*c.Hidden)
	s.hb2 = make([]float32, n*c.Hidden)
	if !c.Family.Gated && s.m.Taylor != nil {
		s.ones = make([]float32, n*c.Hidden)
		for i := range s.ones {
			s.ones[i] = 1
		}
	}
}

// Forward runs tokens (a prompt as one batch, or one token while generating)
// from the current position and returns the logits after the last token. The
// slice is reused by the next call.
func (s *State) Forward(tokens []int) ([]float32, error) {
	if err := s.run(tokens); err != nil {
		return nil, err
	}
	n := len(tokens)
	c := &s.m.Config
	if len(s.out) != c.Vocab {
		s.out = make([]float32, c.Vocab)
	}
	s.logits(s.out, s.x[(n-1)*c.Dim:n*c.Dim], 1)
	return s.out, nil
}

// ForwardAll is Forward returning the logits after every token: n × vocab,
// freshly allocated.
func (s *State) ForwardAll(tokens []int) ([]float32, error) {
	if err := s.run(tokens); err != nil {
		return nil, err
	}
	n := len(tokens)
	out := make([]float32, n*s.m.Config.Vocab)
	s.logits(out, s.x[:n*s.m.Config.Dim], n)
	return out, nil
}

func (s *State) logits(out, x []float32, n int) {
	c := &s.m.Config
	w := &s.m.Weights
	xb := s.xb[:n*c.Dim]
	s.norm(xb, x, w.OutputNorm, w.OutputNormB, n)
	cls := w.Output
	if cls == nil {
		cls = w.TokenEmbd
	}
	s.linear(out, cls, w.OutputB, xb, n)
}

func (s *State) matmul(out []float32, w *tensor.Tensor, x []float32, n int) {
	if n == 1 {
		s.pool.MatVec(out, w, x)
		return
	}
	s.pool.MatMul(out, w, x, n)
}

// linear sets out = w·x + b for n inputs (b may be nil: no bias).
func (s *State) linear(out []float32, w, b *tensor.Tensor, x []float32, n int) {
	s.matmul(out, w, x, n)
	if b != nil {
		addRows(out, b.F32s())
	}
}

// norm normalises each of the n rows of x into out with the model's norm.
func (s *State) norm(out, x []float32, w, b *tensor.Tensor, n int) {
	c := &s.m.Config
	d := c.Dim
	weight := w.F32s()
	var bias []float32
	if b != nil {
		bias = b.F32s()
	}
	for i := 0; i < n; i++ {
		o, xi := out[i*d:(i+1)*d], x[i*d:(i+1)*d]
		if c.Family.Norm == LayerNorm {
			layernorm(o, xi, weight, bias, c.NormEps)
		} else {
			rmsnorm(o, xi, weight, c.NormEps)
		}
	}
}

// run processes tokens, leaving the final hidden states in s.x.
func (s *State) run(tokens []int) error {
	n := len(tokens)
	c := &s.m.Config
	w := &s.m.Weights
	fam := c.Family
	if n == 0 {
		return fmt.Errorf("no tokens to run")
	}
	if s.pos+n > s.ctx {
		return fmt.Errorf("sequence of %d tokens exceeds the context length %d", s.pos+n, s.ctx)
	}
	for _, t := range tokens {
		if t < 0 || t >= c.Vocab {
			return fmt.Errorf("token id %d outside the vocabulary (0..%d)", t, c.Vocab-1)
		}
	}
	s.grow(n)
	dim, kvdim, hs := c.Dim, c.KVDim(), c.HeadSize()
	x := s.x[:n*dim]
	for i, t := range tokens {
		if err := tensor.Dequantize(x[i*dim:(i+1)*dim], w.TokenEmbd.Type, w.TokenEmbd.Row(t)); err != nil {
			return err
		}
		if pe := w.PositionEmbd; pe != nil {
			row := s.xb[:dim]
			if err := tensor.Dequantize(row, pe.Type, pe.Row(s.pos+i)); err != nil {
				return err
			}
			add(x[i*dim:(i+1)*dim], row)
		}
	}
	xb, xb2, ao, mo, q := s.xb[:n*dim], s.xb2[:n*dim], s.ao[:n*dim], s.mo[:n*dim], s.q[:n*dim]
	hb, hb2 := s.hb[:n*c.Hidden], s.hb2[:n*c.Hidden]
	for l := range w.Layers {
		ly := &w.Layers[l]
		// Attention.
		s.norm(xb, x, ly.AttnNorm, ly.AttnNormB, n)
		kc := s.key[l][s.pos*kvdim : (s.pos+n)*kvdim]
		vc := s.val[l][s.pos*kvdim : (s.pos+n)*kvdim]
		s.linear(q, ly.Q, ly.QB, xb, n)
		s.linear(kc, ly.K, ly.KB, xb, n)
		s.linear(vc, ly.V, ly.VB, xb, n)
		if fam.Rope != RopeNone {
			for i := 0; i < n; i++ {
				s.rope(q[i*dim:(i+1)*dim], s.pos+i, hs)
				s.rope(kc[i*kvdim:(i+1)*kvdim], s.pos+i, hs)
			}
		}
		for i := 0; i < n; i++ {
			s.attention(ao[i*dim:(i+1)*dim], q[i*dim:(i+1)*dim], l, s.pos+i)
		}
		s.linear(xb2, ly.O, ly.OB, ao, n)

		// MLP: from the same normalised input in a parallel block, else
		// after the attention's residual.
		if !fam.Parallel {
			add(x, xb2)
			s.norm(xb, x, ly.FFNNorm, ly.FFNNormB, n)
		}
		s.mlp(mo, l, xb, hb, hb2, n)
		add(x, mo)
		if fam.Parallel {
			add(x, xb2)
		}
	}
	s.pos += n
	return nil
}

// mlp computes layer l's MLP of the n inputs xb into out, using hb and hb2
// (n × hidden each) as scratch.
func (s *State) mlp(out []float32, l int, xb, hb, hb2 []float32, n int) {
	c := &s.m.Config
	ly := &s.m.Weights.Layers[l]
	fam := c.Family
	u := hb2
	if fam.Gated {
		s.matmul(hb, ly.Gate, xb, n)
		s.matmul(hb2, ly.Up, xb, n)
	} else {
		s.linear(hb, ly.Up, ly.UpB, xb, n)
		u = nil
		if s.ones != nil {
			u = s.ones[:n*c.Hidden]
		}
	}
	if s.Hook != nil {
		s.Hook(l, hb, n)
	}
	if ly.Taylor != nil {
		s.taylorMLP(out, l, hb, u, n)
		if ly.DownB != nil {
			addRows(out, ly.DownB.F32s())
		}
		return
	}
	if fam.Gated {
		activateMul(fam.Act, hb, hb2)
	} else {
		activate(fam.Act, hb)
	}
	s.linear(out, ly.Down, ly.DownB, hb, n)
}

// rope rotates the first RopeDim dimensions of each head of v by the angles
// of position pos: consecutive pairs, or dimension i with i + RopeDim/2.
func (s *State) rope(v []float32, pos, hs int) {
	half := s.m.Config.RopeDim / 2
	cos, sin := s.cos[pos*half:(pos+1)*half], s.sin[pos*half:(pos+1)*half]
	halves := s.m.Config.Family.Rope == RopeHalves
	for h := 0; h < len(v); h += hs {
		head := v[h : h+2*half]
		if halves {
			lo, hi := head[:half], head[half:]
			for i := 0; i < half; i++ {
				a, b := lo[i], hi[i]
				lo[i] = a*cos[i] - b*sin[i]
				hi[i] = b*cos[i] + a*sin[i]
			}
			continue
		}
		for i := 0; i < half; i++ {
			a, b := head[2*i], head[2*i+1]
			head[2*i] = a*cos[i] - b*sin[i]
			head[2*i+1] = a*sin[i] + b*cos[i]
		}
	}
}

// attention computes, for the query q at position pos, every head's softmax-
// weighted sum of the cached values of positions 0..pos into out.
func (s *State) attention(out, q []float32, layer, pos int) {
	c := &s.m.Config
	hs, kvdim := c.HeadSize(), c.KVDim()
	group := c.Heads / c.KVHeads
	scale := float32(1 / math.Sqrt(float64(hs)))
	keys, vals := s.key[layer], s.val[layer]
	first := 0 // the first position attended to
	if w := c.SlidingWindow; w > 0 && pos >= w {
		first = pos - w + 1
	}
	head := func(h int) {
		off := first*kvdim + (h/group)*hs
		kernel.Attend(out[h*hs:(h+1)*hs], q[h*hs:(h+1)*hs], keys[off:], vals[off:], s.att[h*s.ctx:h*s.ctx+pos+1-first], kvdim, scale)
	}
	// Spread heads over threads only when the work outweighs the hand-off.
	grain := c.Heads
	if work := (pos + 1 - first) * hs * c.Heads; work > 1<<15 {
		grain = 1
	}
	s.pool.For(c.Heads, grain, func(lo, hi int) {
		for h := lo; h < hi; h++ {
			head(h)
		}
	})
}

func rmsnorm(out, x, weight []float32, eps float32) {
	var ss float64
	for _, v := range x {
		ss += float64(v) * float64(v)
	}
	r := float32(1 / math.Sqrt(ss/float64(len(x))+float64(eps)))
	for i, v := range x {
		out[i] = weight[i] * (r * v)
	}
}

// layernorm sets out = (x − mean)/√(var + eps)·weight + bias (bias may be nil).
func layernorm(out, x, weight, bias []float32, eps float32) {
	var sum float64
	for _, v := range x {
		sum += float64(v)
	}
	mean := sum / float64(len(x))
	var ss float64
	for _, v := range x {
		d := float64(v) - mean
		ss += d * d
	}
	r := 1 / math.Sqrt(ss/float64(len(x))+float64(eps))
	for i, v := range x {
		out[i] = weight[i] * float32((float64(v)-mean)*r)
		if bias != nil {
			out[i] += bias[i]
		}
	}
}

// activateMul sets gate[i] = act(gate[i])·up[i].
func activateMul(act series.Activation, gate, up []float32) {
	if act == series.SiLU {
		kernel.SiLUMul(gate, up)
		return
	}
	for i, g := range gate {
		gate[i] = actf(act, g) * up[i]
	}
}

// activate sets h[i] = act(h[i]).
func activate(act series.Activation, h []float32) {
	for i, v := range h {
		h[i] = actf(act, v)
	}
}

// actf is the activation in float32 (GELU-tanh as x·σ(2√(2/π)(x + 0.044715x³)),
// which equals ½x(1 + tanh(√(2/π)(x + 0.044715x³)))).
func actf(act series.Activation, x float32) float32 {
	switch act {
	case series.SiLU:
		return x / (1 + expf(-x))
	case series.GELUTanh:
		const k = 1.5957691216057308 // 2√(2/π)
		return x / (1 + expf(-k*(x+0.044715*x*x*x)))
	case series.GELU:
		return float32(0.5 * float64(x) * math.Erfc(-float64(x)/math.Sqrt2))
	}
	panic("model: unknown activation " + act.String())
}

// addRows adds the vector b to each row of x.
func addRows(x, b []float32) {
	for i := 0; i < len(x); i += len(b) {
		add(x[i:i+len(b)], b)
	}
}

func add(x, y []float32) {
	for i := range x {
		x[i] += y[i]
	}
}
