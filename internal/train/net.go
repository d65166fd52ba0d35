package train

import (
	"github.com/unswift/unswift/internal/kernel"
	"github.com/unswift/unswift/internal/model"
)

// acts are the activations of one layer kept from the forward pass for the
// backward pass. Normalised inputs are recomputed from x, xm and the stored
// reciprocal RMS values instead of being kept.
type acts[F Float] struct {
	x, r1   []F // layer input (residual stream) and its attention-norm 1/rms
	q, k, v []F // projections, q and k after RoPE
	att     []F // attention output, before the output projection
	lse     []F // attention log-sum-exp per (sequence, head, position)
	xm, r2  []F // residual stream after attention, its MLP-norm 1/rms
	g, u, h []F // gate and up projections, silu(g)·u
}

// engine runs the forward and backward passes of a batch of b sequences of
// t tokens through a parameter set.
type engine[F Float] struct {
	be    *backend[F]
	p     *ParamSet[F]
	c     model.Config
	b, t  int
	shape attnShape

	cos, sin []F
	tokens   []int
	layers   []acts[F]
	xL, rF   []F // final residual stream and its 1/rms
	xnF      []F // final normalised stream (classifier input)
	logits   []F // b·t × vocab; the loss overwrites it with its gradient

	// backward scratch
	dx, dxn, xn, dq, dk, dv, datt, dh, du []F
	xnT                                   []F // transpose of xn
}

func newEngine[F Float](p *ParamSet[F], pool *kernel.Pool) *engine[F] {
	return &engine[F]{be: newBackend[F](pool), p: p, c: p.Config}
}

// resize makes the buffers fit b sequences of t tokens.
func (e *engine[F]) resize(b, t int) {
	if e.b == b && e.t == t {
		return
	}
	c := &e.c
	n := b * t
	e.b, e.t = b, t
	e.shape = attnShape{b: b, t: t, heads: c.Heads, kvHeads: c.KVHeads, hs: c.HeadSize()}
	e.cos, e.sin = ropeTables[F](t, c.RopeDim, c.RopeBase)
	dim, kv, hid := c.Dim, c.KVDim(), c.Hidden
	e.layers = make([]acts[F], c.Layers)
	for l := range e.layers {
		e.layers[l] = acts[F]{
			x: make([]F, n*dim), r1: make([]F, n),
			q: make([]F, n*dim), k: make([]F, n*kv), v: make([]F, n*kv),
			att: make([]F, n*dim), lse: make([]F, b*c.Heads*t),
			xm: make([]F, n*dim), r2: make([]F, n),
			g: make([]F, n*hid), u: make([]F, n*hid), h: make([]F, n*hid),
		}
	}
	e.xL, e.rF, e.xnF = make([]F, n*dim), make([]F, n), make([]F, n*dim)
	e.logits = make([]F, n*c.Vocab)
	e.dx, e.dxn, e.xn = make([]F, n*dim), make([]F, n*dim), make([]F, n*dim)
	e.dq, e.datt = make([]F, n*dim), make([]F, n*dim)
	e.dk, e.dv = make([]F, n*kv), make([]F, n*kv)
	e.dh, e.du = make([]F, n*hid), make([]F, n*hid)
}

// classifier returns the output matrix (the embedding when tied).
func (e *engine[F]) classifier() *Param[F] {
	if e.p.Output != nil {
		return e.p.Output
	}
	return e.p.TokenEmbd
}

// forward runs b sequences of t tokens (tokens holds b·t valid ids) and
// leaves the logits of every position in e.logits.
func (e *engine[F]) forward(tokens []int, b, t int) {
	e.resize(b, t)
	e.tokens = tokens
	be, c, p := e.be, &e.c, e.p
	n := b * t
	dim, kv, hid, hs := c.Dim, c.KVDim(), c.Hidden, c.HeadSize()
	eps := float64(c.NormEps)
	embedFwd(e.layers[0].x, p.TokenEmbd.W, dim, tokens) // Config.Validate: at least one layer
	for l := range e.layers {
		a, w := &e.layers[l], &p.Layers[l]
		rmsnormFwd(be, e.xn, a.r1, a.x, w.AttnNorm.W, dim, eps)
		be.linearFwd(a.q, e.xn, w.Q.W, n, dim, dim)
		be.linearFwd(a.k, e.xn, w.K.W, n, dim, kv)
		be.linearFwd(a.v, e.xn, w.V.W, n, dim, kv)
		ropeFwd(be, a.q, e.cos, e.sin, dim, hs, c.RopeDim, t)
		ropeFwd(be, a.k, e.cos, e.sin, kv, hs, c.RopeDim, t)
		attnFwd(be, e.shape, a.att, a.lse, a.q, a.k, a.v)
		be.linearFwd(a.xm, a.att, w.O.W, n, dim, dim)
		residualFwd(be, a.xm, a.x)

		rmsnormFwd(be, e.xn, a.r2, a.xm, w.FFNNorm.W, dim, eps)
		be.linearFwd(a.g, e.xn, w.Gate.W, n, dim, hid)
		be.linearFwd(a.u, e.xn, w.Up.W, n, dim, hid)
		swigluFwd(be, a.h, a.g, a.u)
		next := e.xL
		if l+1 < len(e.layers) {
			next = e.layers[l+1].x
		}
		be.linearFwd(next, a.h, w.Down.W, n, hid, dim)
		residualFwd(be, next, a.xm)
	}
	rmsnormFwd(be, e.xnF, e.rF, e.xL, p.OutputNorm.W, dim, eps)
	be.linearFwd(e.logits, e.xnF, e.classifier().W, n, dim, c.Vocab)
}

// inputT returns the transpose of e.xn (n×dim), the input shared by the
// given maps, when one of them is trainable, else nil.
func (e *engine[F]) inputT(n, dim int, maps ...*Param[F]) []F {
	for _, m := range maps {
		if m.Trainable() {
			e.xnT = grow(e.xnT, n*dim)
			e.be.transpose(e.xnT, e.xn, n, dim, dim)
			return e.xnT
		}
	}
	return nil
}

// Stages of the backward pass, bottom up: the embedding is stage 0, layer
// l's attention 2l+1 and its MLP 2l+2, the final norm and classifier 2L+1.
// Gradients flow down only as far as the lowest stage with a trainable
// tensor.
func (e *engine[F]) lowestStage() int {
	p := e.p
	if p.TokenEmbd.Trainable() {
		return 0
	}
	for l, w := range p.Layers {
		for _, t := range []*Param[F]{w.AttnNorm, w.Q, w.K, w.V, w.O} {
			if t.Trainable() {
				return 2*l + 1
			}
		}
		for _, t := range []*Param[F]{w.FFNNorm, w.Gate, w.Up, w.Down} {
			if t.Trainable() {
				return 2*l + 2
			}
		}
	}
	return 2*len(p.Layers) + 1
}

// backward adds to the gradients of the trainable tensors the gradient of
// the loss whose gradient with respect to the logits is in e.logits.
func (e *engine[F]) backward() {
	be, c, p := e.be, &e.c, e.p
	n := e.b * e.t
	dim, kv, hid, hs := c.Dim, c.KVDim(), c.Hidden, c.HeadSize()
	low := e.lowestStage()
	top := 2*len(e.layers) + 1
	if top == low && !p.OutputNorm.Trainable() && !e.classifier().Trainable() {
		return
	}
	opt := func(need bool, buf []F) []F {
		if need {
			return buf
		}
		return nil
	}

	// Final norm and classifier.
	cls := e.classifier()
	needIn := top > low
	needXn := needIn || p.OutputNorm.Trainable()
	gw, z := cls.grad()
	be.linearBwd(opt(needXn, e.dxn), gw, e.logits, e.xnF, nil, cls.W, n, dim, c.Vocab, false, z)
	if !needXn {
		return
	}
	clear(e.dx)
	gw, z = p.OutputNorm.grad()
	rmsnormBwd(be, opt(needIn, e.dx), gw, e.dxn, e.xL, p.OutputNorm.W, e.rF, dim, z)
	if !needIn {
		return
	}

	for l := len(e.layers) - 1; l >= 0; l-- {
		a, w := &e.layers[l], &p.Layers[l]

		// MLP: out = xm + Down·swiglu(Gate·xn, Up·xn), xn = norm(xm).
		needIn = 2*l+2 > low
		needXn = needIn || w.FFNNorm.Trainable() || w.Gate.Trainable() || w.Up.Trainable()
		gw, z = w.Down.grad()
		be.linearBwd(opt(needXn, e.dh), gw, e.dx, a.h, nil, w.Down.W, n, hid, dim, false, z)
		if !needXn {
			return
		}
		swigluBwd(be, e.dh, e.du, e.dh, a.g, a.u)
		rmsnormApply(be, e.xn, a.r2, a.xm, w.FFNNorm.W, dim)
		needDxn := needIn || w.FFNNorm.Trainable()
		xt := e.inputT(n, dim, w.Gate, w.Up)
		gw, z = w.Gate.grad()
		be.linearBwd(opt(needDxn, e.dxn), gw, e.dh, e.xn, xt, w.Gate.W, n, dim, hid, false, z)
		gw, z = w.Up.grad()
		be.linearBwd(opt(needDxn, e.dxn), gw, e.du, e.xn, xt, w.Up.W, n, dim, hid, true, z)
		if !needDxn {
			return
		}
		gw, z = w.FFNNorm.grad()
		rmsnormBwd(be, opt(needIn, e.dx), gw, e.dxn, a.xm, w.FFNNorm.W, a.r2, dim, z)
		if !needIn {
			return
		}

		// Attention: xm = x + O·attn(rope(Q·xn), rope(K·xn), V·xn), xn = norm(x).
		needIn = 2*l+1 > low
		needXn = needIn || w.AttnNorm.Trainable() || w.Q.Trainable() || w.K.Trainable() || w.V.Trainable()
		gw, z = w.O.grad()
		be.linearBwd(opt(needXn, e.datt), gw, e.dx, a.att, nil, w.O.W, n, dim, dim, false, z)
		if !needXn {
			return
		}
		clear(e.dq)
		clear(e.dk)
		clear(e.dv)
		attnBwd(be, e.shape, e.dq, e.dk, e.dv, e.datt, a.q, a.k, a.v, a.att, a.lse)
		ropeBwd(be, e.dq, e.cos, e.sin, dim, hs, c.RopeDim, e.t)
		ropeBwd(be, e.dk, e.cos, e.sin, kv, hs, c.RopeDim, e.t)
		rmsnormApply(be, e.xn, a.r1, a.x, w.AttnNorm.W, dim)
		needDxn = needIn || w.AttnNorm.Trainable()
		xt = e.inputT(n, dim, w.Q, w.K, w.V)
		gw, z = w.Q.grad()
		be.linearBwd(opt(needDxn, e.dxn), gw, e.dq, e.xn, xt, w.Q.W, n, dim, dim, false, z)
		gw, z = w.K.grad()
		be.linearBwd(opt(needDxn, e.dxn), gw, e.dk, e.xn, xt, w.K.W, n, dim, kv, true, z)
		gw, z = w.V.grad()
		be.linearBwd(opt(needDxn, e.dxn), gw, e.dv, e.xn, xt, w.V.W, n, dim, kv, true, z)
		if !needDxn {
			return
		}
		gw, z = w.AttnNorm.grad()
		rmsnormBwd(be, opt(needIn, e.dx), gw, e.dxn, a.x, w.AttnNorm.W, a.r1, dim, z)
		if !needIn {
			return
		}
	}
	gw, z = p.TokenEmbd.grad()
	embedBwd(be, gw, e.dx, dim, e.tokens, z)
}
