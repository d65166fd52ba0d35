package train

import (
	"github.com/unswift/unswift/internal/kernel"
	"github.com/unswift/unswift/internal/model"
)

// acts are the activations of one layer kept from the forward pass for the
// backward pass. Normalised inputs are recomputed from x or xm and the
// stored norm statistics instead of being kept.
type acts[F Float] struct {
	x, r1, m1 []F // layer input (residual stream), its attention-norm 1/σ and mean (LayerNorm)
	q, k, v   []F // projections, q and k after RoPE
	att       []F // attention output, before the output projection
	lse       []F // attention log-sum-exp per (sequence, head, position)
	xm        []F // residual stream plus the attention's output
	r2, m2    []F // sequential blocks: xm's MLP-norm 1/σ and mean
	g, u, h   []F // gate (plain MLP: up·xn + b) and up projections (gated only), act(g)·u
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
	xL       []F // final residual stream
	rF, mF   []F // its 1/σ and mean
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
	fam := c.Family
	n := b * t
	e.b, e.t = b, t
	e.shape = attnShape{b: b, t: t, heads: c.Heads, kvHeads: c.KVHeads, hs: c.HeadSize()}
	if fam.Rope != model.RopeNone {
		e.cos, e.sin = ropeTables[F](t, c.RopeDim, c.RopeBase, e.p.RopeFreqs)
	}
	dim, kv, hid := c.Dim, c.KVDim(), c.Hidden
	ln := fam.Norm == model.LayerNorm
	opt := func(need bool, size int) []F {
		if need {
			return make([]F, size)
		}
		return nil
	}
	e.layers = make([]acts[F], c.Layers)
	for l := range e.layers {
		e.layers[l] = acts[F]{
			x: make([]F, n*dim), r1: make([]F, n), m1: opt(ln, n),
			q: make([]F, n*dim), k: make([]F, n*kv), v: make([]F, n*kv),
			att: make([]F, n*dim), lse: make([]F, b*c.Heads*t),
			xm: make([]F, n*dim), r2: opt(!fam.Parallel, n), m2: opt(ln && !fam.Parallel, n),
			g: make([]F, n*hid), u: opt(fam.Gated, n*hid), h: make([]F, n*hid),
		}
	}
	e.xL, e.rF, e.mF, e.xnF = make([]F, n*dim), make([]F, n), opt(ln, n), make([]F, n*dim)
	e.logits = make([]F, n*c.Vocab)
	e.dx, e.dxn, e.xn = make([]F, n*dim), make([]F, n*dim), make([]F, n*dim)
	e.dq, e.datt = make([]F, n*dim), make([]F, n*dim)
	e.dk, e.dv = make([]F, n*kv), make([]F, n*kv)
	e.dh, e.du = make([]F, n*hid), opt(fam.Gated, n*hid)
}

// classifier returns the output matrix (the embedding when tied).
func (e *engine[F]) classifier() *Param[F] {
	if e.p.Output != nil {
		return e.p.Output
	}
	return e.p.TokenEmbd
}

// values returns t's values, nil for an absent tensor.
func values[F Float](t *Param[F]) []F {
	if t == nil {
		return nil
	}
	return t.W
}

// trainable reports whether any of ts (nil ones included) is trainable.
func trainable[F Float](ts ...*Param[F]) bool {
	for _, t := range ts {
		if t.Trainable() {
			return true
		}
	}
	return false
}

// normFwd normalises the rows of x into out with the family's norm (weight
// w, bias b or nil), storing 1/σ in r and, for LayerNorm, the mean in mu.
func (e *engine[F]) normFwd(out, r, mu, x []F, w, b *Param[F]) {
	if e.c.Family.Norm == model.LayerNorm {
		layernormFwd(e.be, out, r, mu, x, w.W, values(b), e.c.Dim, float64(e.c.NormEps))
		return
	}
	rmsnormFwd(e.be, out, r, x, w.W, e.c.Dim, float64(e.c.NormEps))
}

// normApply recomputes normFwd's output from the stored statistics.
func (e *engine[F]) normApply(out, r, mu, x []F, w, b *Param[F]) {
	if e.c.Family.Norm == model.LayerNorm {
		layernormApply(e.be, out, r, mu, x, w.W, values(b), e.c.Dim)
		return
	}
	rmsnormApply(e.be, out, r, x, w.W, e.c.Dim)
}

// normBwd adds the gradient of normFwd's input to dx (when not nil) and
// those of its weight and bias to their gradients (when trainable), given
// dout.
func (e *engine[F]) normBwd(dx, dout, x, r, mu []F, w, b *Param[F]) {
	gw, zw := w.grad()
	if e.c.Family.Norm == model.LayerNorm {
		var gb []F
		var zb bool
		if b != nil {
			gb, zb = b.grad()
		}
		layernormBwd(e.be, dx, gw, gb, dout, x, w.W, r, mu, e.c.Dim, zw, zb)
		return
	}
	rmsnormBwd(e.be, dx, gw, dout, x, w.W, r, e.c.Dim, zw)
}

// linear computes y = x·Wᵀ + b for n tokens (b nil: no bias).
func (e *engine[F]) linear(y, x []F, w, b *Param[F], n, k, m int) {
	e.be.linearFwd(y, x, w.W, n, k, m)
	if b != nil {
		biasFwd(e.be, y, b.W)
	}
}

// biasGrad adds the gradient of bias b (when trainable) given the output
// gradient dy.
func (e *engine[F]) biasGrad(b *Param[F], dy []F) {
	if !b.Trainable() {
		return
	}
	g, z := b.grad()
	biasBwd(e.be, g, dy, z)
}

// forward runs b sequences of t tokens (tokens holds b·t valid ids) and
// leaves the logits of every position in e.logits.
func (e *engine[F]) forward(tokens []int, b, t int) {
	e.resize(b, t)
	e.tokens = tokens
	be, c, p := e.be, &e.c, e.p
	fam := c.Family
	n := b * t
	dim, kv, hid, hs := c.Dim, c.KVDim(), c.Hidden, c.HeadSize()
	halves := fam.Rope == model.RopeHalves
	x0 := e.layers[0].x // Config.Validate: at least one layer
	embedFwd(x0, p.TokenEmbd.W, dim, tokens)
	if p.PositionEmbd != nil {
		positionFwd(be, x0, p.PositionEmbd.W, dim, t)
	}
	for l := range e.layers {
		a, w := &e.layers[l], &p.Layers[l]
		e.normFwd(e.xn, a.r1, a.m1, a.x, w.AttnNorm, w.AttnNormB)
		e.linear(a.q, e.xn, w.Q, w.QB, n, dim, dim)
		e.linear(a.k, e.xn, w.K, w.KB, n, dim, kv)
		e.linear(a.v, e.xn, w.V, w.VB, n, dim, kv)
		if fam.Rope != model.RopeNone {
			ropeFwd(be, a.q, e.cos, e.sin, dim, hs, c.RopeDim, t, halves)
			ropeFwd(be, a.k, e.cos, e.sin, kv, hs, c.RopeDim, t, halves)
		}
		attnFwd(be, e.shape, a.att, a.lse, a.q, a.k, a.v)
		e.linear(a.xm, a.att, w.O, w.OB, n, dim, dim)
		residualFwd(be, a.xm, a.x)

		// MLP: in a parallel block from the attention's normalised input
		// (still in e.xn), else from the normalised xm.
		if !fam.Parallel {
			e.normFwd(e.xn, a.r2, a.m2, a.xm, w.FFNNorm, w.FFNNormB)
		}
		if fam.Gated {
			e.linear(a.g, e.xn, w.Gate, nil, n, dim, hid)
			e.linear(a.u, e.xn, w.Up, nil, n, dim, hid)
			swigluFwd(be, a.h, a.g, a.u)
		} else {
			e.linear(a.g, e.xn, w.Up, w.UpB, n, dim, hid)
			geluFwd(be, a.h, a.g)
		}
		next := e.xL
		if l+1 < len(e.layers) {
			next = e.layers[l+1].x
		}
		e.linear(next, a.h, w.Down, w.DownB, n, hid, dim)
		residualFwd(be, next, a.xm)
	}
	e.normFwd(e.xnF, e.rF, e.mF, e.xL, p.OutputNorm, p.OutputNormB)
	e.linear(e.logits, e.xnF, e.classifier(), p.OutputB, n, dim, c.Vocab)
}

// inputT returns the transpose of e.xn (n×dim), the input shared by the
// given maps, when one of them is trainable, else nil.
func (e *engine[F]) inputT(n, dim int, maps ...*Param[F]) []F {
	if trainable(maps...) {
		e.xnT = grow(e.xnT, n*dim)
		e.be.transpose(e.xnT, e.xn, n, dim, dim)
		return e.xnT
	}
	return nil
}

// Stages of the backward pass, bottom up: the embeddings are stage 0, layer
// l's attention 2l+1 and its MLP 2l+2, the final norm and classifier 2L+1.
// Gradients flow down only as far as the lowest stage with a trainable
// tensor.
func (e *engine[F]) lowestStage() int {
	p := e.p
	if trainable(p.TokenEmbd, p.PositionEmbd) {
		return 0
	}
	for l, w := range p.Layers {
		if trainable(w.AttnNorm, w.AttnNormB, w.Q, w.QB, w.K, w.KB, w.V, w.VB, w.O, w.OB) {
			return 2*l + 1
		}
		if trainable(w.FFNNorm, w.FFNNormB, w.Gate, w.Up, w.UpB, w.Down, w.DownB) {
			return 2*l + 2
		}
	}
	return 2*len(p.Layers) + 1
}

// opt returns buf when need is set, else nil.
func opt[F Float](need bool, buf []F) []F {
	if need {
		return buf
	}
	return nil
}

// backward adds to the gradients of the trainable tensors the gradient of
// the loss whose gradient with respect to the logits is in e.logits.
func (e *engine[F]) backward() {
	be, c, p := e.be, &e.c, e.p
	n := e.b * e.t
	dim := c.Dim
	low := e.lowestStage()
	top := 2*len(e.layers) + 1
	cls := e.classifier()
	if top == low && !trainable(p.OutputNorm, p.OutputNormB, cls, p.OutputB) {
		return
	}

	// Final norm and classifier.
	needIn := top > low
	needXn := needIn || trainable(p.OutputNorm, p.OutputNormB)
	gw, z := cls.grad()
	be.linearBwd(opt(needXn, e.dxn), gw, e.logits, e.xnF, nil, cls.W, n, dim, c.Vocab, false, z)
	e.biasGrad(p.OutputB, e.logits)
	if !needXn {
		return
	}
	clear(e.dx)
	e.normBwd(opt(needIn, e.dx), e.dxn, e.xL, e.rF, e.mF, p.OutputNorm, p.OutputNormB)
	if !needIn {
		return
	}
	for l := len(e.layers) - 1; l >= 0; l-- {
		if !e.layerBwd(l, low) {
			return
		}
	}
	if gw, z := p.TokenEmbd.grad(); gw != nil {
		embedBwd(be, gw, e.dx, dim, e.tokens, z)
	}
	if gw, z := p.PositionEmbd.grad(); gw != nil {
		positionBwd(be, gw, e.dx, dim, e.t, z)
	}
}

// layerBwd runs layer l's backward pass: e.dx holds the gradient of the
// layer's output and receives that of its input. It reports whether the
// gradient must flow further down (a stage below holds a trainable tensor).
func (e *engine[F]) layerBwd(l, low int) bool {
	a, w := &e.layers[l], &e.p.Layers[l]
	attnIn := 2*l+1 > low // the gradient of the layer's input is needed
	if e.c.Family.Parallel {
		// out = x + attn(xn) + mlp(xn), xn = norm(x): both branches read
		// the output gradient e.dx, their input gradients add up in e.dxn.
		needDxn := attnIn || trainable(w.AttnNorm, w.AttnNormB)
		e.normApply(e.xn, a.r1, a.m1, a.x, w.AttnNorm, w.AttnNormB)
		e.mlpBwd(a, w, needDxn, false)
		e.attnBwd(a, w, needDxn, true)
		if !needDxn {
			return false
		}
		e.normBwd(opt(attnIn, e.dx), e.dxn, a.x, a.r1, a.m1, w.AttnNorm, w.AttnNormB)
		return attnIn
	}
	// MLP: out = xm + mlp(norm(xm)).
	mlpIn := 2*l+2 > low
	needDxn := mlpIn || trainable(w.FFNNorm, w.FFNNormB)
	e.normApply(e.xn, a.r2, a.m2, a.xm, w.FFNNorm, w.FFNNormB)
	e.mlpBwd(a, w, needDxn, false)
	if !needDxn {
		return false
	}
	e.normBwd(opt(mlpIn, e.dx), e.dxn, a.xm, a.r2, a.m2, w.FFNNorm, w.FFNNormB)
	if !mlpIn {
		return false
	}
	// Attention: xm = x + attn(norm(x)).
	needDxn = attnIn || trainable(w.AttnNorm, w.AttnNormB)
	e.normApply(e.xn, a.r1, a.m1, a.x, w.AttnNorm, w.AttnNormB)
	e.attnBwd(a, w, needDxn, false)
	if !needDxn {
		return false
	}
	e.normBwd(opt(attnIn, e.dx), e.dxn, a.x, a.r1, a.m1, w.AttnNorm, w.AttnNormB)
	return attnIn
}

// mlpBwd is the backward pass of the MLP of layer l (activations a,
// weights w) on the normalised input in e.xn, given the output gradient in
// e.dx. When needDxn is set, the input gradient is stored in e.dxn, or
// added to it when acc is set.
func (e *engine[F]) mlpBwd(a *acts[F], w *Layer[F], needDxn, acc bool) {
	be, c := e.be, &e.c
	n := e.b * e.t
	dim, hid := c.Dim, c.Hidden
	needH := needDxn || trainable(w.Gate, w.Up, w.UpB)
	gw, z := w.Down.grad()
	be.linearBwd(opt(needH, e.dh), gw, e.dx, a.h, nil, w.Down.W, n, hid, dim, false, z)
	e.biasGrad(w.DownB, e.dx)
	if !needH {
		return
	}
	if c.Family.Gated {
		// h = silu(Gate·xn)·(Up·xn)
		swigluBwd(be, e.dh, e.du, e.dh, a.g, a.u)
		xt := e.inputT(n, dim, w.Gate, w.Up)
		gw, z = w.Gate.grad()
		be.linearBwd(opt(needDxn, e.dxn), gw, e.dh, e.xn, xt, w.Gate.W, n, dim, hid, acc, z)
		gw, z = w.Up.grad()
		be.linearBwd(opt(needDxn, e.dxn), gw, e.du, e.xn, xt, w.Up.W, n, dim, hid, true, z)
		return
	}
	// h = gelu(Up·xn + b)
	geluBwd(be, e.dh, e.dh, a.g)
	xt := e.inputT(n, dim, w.Up)
	gw, z = w.Up.grad()
	be.linearBwd(opt(needDxn, e.dxn), gw, e.dh, e.xn, xt, w.Up.W, n, dim, hid, acc, z)
	e.biasGrad(w.UpB, e.dh)
}

// attnBwd is the backward pass of the attention of layer l (activations a,
// weights w) on the normalised input in e.xn, given the output gradient in
// e.dx. When needDxn is set, the input gradient is stored in e.dxn, or
// added to it when acc is set.
func (e *engine[F]) attnBwd(a *acts[F], w *Layer[F], needDxn, acc bool) {
	be, c := e.be, &e.c
	n := e.b * e.t
	dim, kv, hs := c.Dim, c.KVDim(), c.HeadSize()
	needAtt := needDxn || trainable(w.Q, w.QB, w.K, w.KB, w.V, w.VB)
	gw, z := w.O.grad()
	be.linearBwd(opt(needAtt, e.datt), gw, e.dx, a.att, nil, w.O.W, n, dim, dim, false, z)
	e.biasGrad(w.OB, e.dx)
	if !needAtt {
		return
	}
	clear(e.dq)
	clear(e.dk)
	clear(e.dv)
	attnBwd(be, e.shape, e.dq, e.dk, e.dv, e.datt, a.q, a.k, a.v, a.att, a.lse)
	if rp := c.Family.Rope; rp != model.RopeNone {
		halves := rp == model.RopeHalves
		ropeBwd(be, e.dq, e.cos, e.sin, dim, hs, c.RopeDim, e.t, halves)
		ropeBwd(be, e.dk, e.cos, e.sin, kv, hs, c.RopeDim, e.t, halves)
	}
	xt := e.inputT(n, dim, w.Q, w.K, w.V)
	gw, z = w.Q.grad()
	be.linearBwd(opt(needDxn, e.dxn), gw, e.dq, e.xn, xt, w.Q.W, n, dim, dim, acc, z)
	e.biasGrad(w.QB, e.dq)
	gw, z = w.K.grad()
	be.linearBwd(opt(needDxn, e.dxn), gw, e.dk, e.xn, xt, w.K.W, n, dim, kv, true, z)
	e.biasGrad(w.KB, e.dk)
	gw, z = w.V.grad()
	be.linearBwd(opt(needDxn, e.dxn), gw, e.dv, e.xn, xt, w.V.W, n, dim, kv, true, z)
	e.biasGrad(w.VB, e.dv)
}
