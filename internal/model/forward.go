package model

import (
	"fmt"
	"math"

	"github.com/unswift/unswift/internal/kernel"
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

	batch int // capacity of the scratch buffers in tokens
	x     []float32
	xb    []float32
	xb2   []float32
	q     []float32
	hb    []float32
	hb2   []float32
	att   []float32 // heads × ctx attention scores
	out   []float32 // logits
	tv    []float32 // TaylorMLP input: n × (plain, then powers of expanded channels)
	tt    []float32 // Chebyshev variable t of the expanded channels

	cos, sin []float32 // RoPE tables: ctx × ropeDim/2

	// Hook, when set, is called after each layer's MLP gate pre-activation is
	// computed, with the n×hidden gate values (used by calibration).
	Hook func(layer int, gate []float32, n int)
}

// NewState makes a state for one sequence with a context of ctx tokens (the
// model's context when ctx <= 0 or larger) that runs its kernels on pool.
func (m *Model) NewState(pool *kernel.Pool, ctx int) *State {
	c := &m.Config
	if ctx <= 0 || ctx > c.Context {
		ctx = c.Context
	}
	s := &State{m: m, pool: pool, ctx: ctx}
	s.key = make([][]float32, c.Layers)
	s.val = make([][]float32, c.Layers)
	for l := range s.key {
		s.key[l] = make([]float32, ctx*c.KVDim())
		s.val[l] = make([]float32, ctx*c.KVDim())
	}
	s.att = make([]float32, c.Heads*ctx)
	s.cos, s.sin = m.ropeTables()
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
	s.q = make([]float32, n*c.Dim)
	s.hb = make([]float32, n*c.Hidden)
	s.hb2 = make([]float32, n*c.Hidden)
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
	for i := 0; i < n; i++ {
		rmsnorm(xb[i*c.Dim:(i+1)*c.Dim], x[i*c.Dim:(i+1)*c.Dim], w.OutputNorm.F32s(), c.NormEps)
	}
	cls := w.Output
	if cls == nil {
		cls = w.TokenEmbd
	}
	s.matmul(out, cls, xb, n)
}

func (s *State) matmul(out []float32, w *tensor.Tensor, x []float32, n int) {
	if n == 1 {
		s.pool.MatVec(out, w, x)
		return
	}
	s.pool.MatMul(out, w, x, n)
}

// run processes tokens, leaving the final hidden states in s.x.
func (s *State) run(tokens []int) error {
	n := len(tokens)
	c := &s.m.Config
	w := &s.m.Weights
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
	}
	xb, xb2, q := s.xb[:n*dim], s.xb2[:n*dim], s.q[:n*dim]
	hb, hb2 := s.hb[:n*c.Hidden], s.hb2[:n*c.Hidden]
	for l := range w.Layers {
		ly := &w.Layers[l]
		// Attention.
		for i := 0; i < n; i++ {
			rmsnorm(xb[i*dim:(i+1)*dim], x[i*dim:(i+1)*dim], ly.AttnNorm.F32s(), c.NormEps)
		}
		kc := s.key[l][s.pos*kvdim : (s.pos+n)*kvdim]
		vc := s.val[l][s.pos*kvdim : (s.pos+n)*kvdim]
		s.matmul(q, ly.Q, xb, n)
		s.matmul(kc, ly.K, xb, n)
		s.matmul(vc, ly.V, xb, n)
		for i := 0; i < n; i++ {
			s.rope(q[i*dim:(i+1)*dim], s.pos+i, hs)
			s.rope(kc[i*kvdim:(i+1)*kvdim], s.pos+i, hs)
		}
		for i := 0; i < n; i++ {
			s.attention(xb[i*dim:(i+1)*dim], q[i*dim:(i+1)*dim], l, s.pos+i)
		}
		s.matmul(xb2, ly.O, xb, n)
		add(x, xb2)

		// MLP.
		for i := 0; i < n; i++ {
			rmsnorm(xb[i*dim:(i+1)*dim], x[i*dim:(i+1)*dim], ly.FFNNorm.F32s(), c.NormEps)
		}
		s.matmul(hb, ly.Gate, xb, n)
		s.matmul(hb2, ly.Up, xb, n)
		if s.Hook != nil {
			s.Hook(l, hb, n)
		}
		if ly.Taylor != nil {
			s.taylorMLP(xb2, l, hb, hb2, n)
		} else {
			swiglu(hb, hb2)
			s.matmul(xb2, ly.Down, hb, n)
		}
		add(x, xb2)
	}
	s.pos += n
	return nil
}

// rope rotates consecutive pairs of each head of v by the angles of position pos.
func (s *State) rope(v []float32, pos, hs int) {
	half := s.m.Config.RopeDim / 2
	cos, sin := s.cos[pos*half:(pos+1)*half], s.sin[pos*half:(pos+1)*half]
	for h := 0; h < len(v); h += hs {
		head := v[h : h+2*half]
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
	head := func(h int) {
		off := (h / group) * hs
		kernel.Attend(out[h*hs:(h+1)*hs], q[h*hs:(h+1)*hs], keys[off:], vals[off:], s.att[h*s.ctx:h*s.ctx+pos+1], kvdim, scale)
	}
	// Spread heads over threads only when the work outweighs the hand-off.
	grain := c.Heads
	if work := (pos + 1) * hs * c.Heads; work > 1<<15 {
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

// swiglu sets gate[i] = silu(gate[i]) * up[i].
func swiglu(gate, up []float32) { kernel.SiLUMul(gate, up) }

func add(x, y []float32) {
	for i := range x {
		x[i] += y[i]
	}
}
