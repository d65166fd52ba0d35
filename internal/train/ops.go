package train

import (
	"math"
	"sync"
)

// The operations of the forward passes and their backward passes. Each
// works on n rows (tokens) stored one after another. Backward functions add
// the gradients of their inputs into the given buffers (+=) unless stated
// otherwise; that accumulation is also what implements the backward pass of
// the residual connections (a gradient reaching the residual stream is added
// to the stream's gradient, which flows on unchanged).

// embedFwd copies the rows of table selected by tokens into out.
func embedFwd[F Float](out, table []F, dim int, tokens []int) {
	for i, t := range tokens {
		copy(out[i*dim:(i+1)*dim], table[t*dim:(t+1)*dim])
	}
}

// embedBwd adds each row of dout to the gradient row of its token (after
// clearing gtable when zero is set).
func embedBwd[F Float](be *backend[F], gtable, dout []F, dim int, tokens []int, zero bool) {
	if zero {
		clear(gtable)
	}
	for i, t := range tokens {
		be.axpy(1, dout[i*dim:(i+1)*dim], gtable[t*dim:(t+1)*dim])
	}
}

// residualFwd adds the branch output y to the residual stream x (x += y).
// Its backward pass is the identity on both operands: callers pass the
// stream's gradient on as the branch's output gradient and let the branch's
// input gradient accumulate into the stream's gradient (see residualBwd).
func residualFwd[F Float](be *backend[F], x, y []F) { be.addTo(x, y) }

// residualBwd adds dout to the gradients of both operands of residualFwd.
// The engine never calls it: there dx and dy are the same buffer.
func residualBwd[F Float](be *backend[F], dx, dy, dout []F) {
	be.addTo(dx, dout)
	be.addTo(dy, dout)
}

// rmsnormFwd computes out = w ⊙ x·r per row of dim values, with
// r = 1/sqrt(mean(x²) + eps) (sums in float64), and stores r in rinv.
func rmsnormFwd[F Float](be *backend[F], out, rinv, x, w []F, dim int, eps float64) {
	n := len(x) / dim
	be.parallel(n, 16, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			xi, oi := x[i*dim:(i+1)*dim], out[i*dim:(i+1)*dim]
			var ss float64
			for _, v := range xi {
				ss += float64(v) * float64(v)
			}
			r := F(1 / math.Sqrt(ss/float64(dim)+eps))
			rinv[i] = r
			for j, v := range xi {
				oi[j] = w[j] * (r * v)
			}
		}
	})
}

// rmsnormApply recomputes the output of rmsnormFwd from the stored rinv.
func rmsnormApply[F Float](be *backend[F], out, rinv, x, w []F, dim int) {
	n := len(x) / dim
	be.parallel(n, 16, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			xi, oi, r := x[i*dim:(i+1)*dim], out[i*dim:(i+1)*dim], rinv[i]
			for j, v := range xi {
				oi[j] = w[j] * (r * v)
			}
		}
	})
}

// rmsnormBwd adds to dx (when not nil) and dw (when not nil; cleared first
// when dwZero is set) the gradients of rmsnormFwd given dout:
//
//	dw_j += Σ_rows dout_j·x_j·r
//	dx_j += r·w_j·dout_j − (r³/dim)·x_j·Σ_k dout_k·w_k·x_k
func rmsnormBwd[F Float](be *backend[F], dx, dw, dout, x, w, rinv []F, dim int, dwZero bool) {
	n := len(x) / dim
	if dw != nil && dwZero {
		clear(dw)
	}
	var mu sync.Mutex
	be.parallel(n, 16, func(lo, hi int) {
		var part []float64
		if dw != nil {
			part = make([]float64, dim)
		}
		for i := lo; i < hi; i++ {
			xi, di := x[i*dim:(i+1)*dim], dout[i*dim:(i+1)*dim]
			r := float64(rinv[i])
			if part != nil {
				for j, v := range xi {
					part[j] += float64(di[j]) * float64(v) * r
				}
			}
			if dx == nil {
				continue
			}
			var s float64
			for j, v := range xi {
				s += float64(di[j]) * float64(w[j]) * float64(v)
			}
			c := F(r * r * r * s / float64(dim))
			rr := F(r)
			gi := dx[i*dim : (i+1)*dim]
			for j, v := range xi {
				gi[j] += rr*w[j]*di[j] - c*v
			}
		}
		if part != nil {
			mu.Lock()
			for j, v := range part {
				dw[j] += F(v)
			}
			mu.Unlock()
		}
	})
}

// layernormFwd computes out = w ⊙ (x − μ)·r + b per row of dim values,
// with μ the row's mean and r = 1/sqrt(var(x) + eps) (sums in float64), and
// stores μ in mean and r in rinv. b may be nil (no bias).
func layernormFwd[F Float](be *backend[F], out, rinv, mean, x, w, b []F, dim int, eps float64) {
	n := len(x) / dim
	be.parallel(n, 16, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			xi := x[i*dim : (i+1)*dim]
			var s float64
			for _, v := range xi {
				s += float64(v)
			}
			mu := s / float64(dim)
			var ss float64
			for _, v := range xi {
				d := float64(v) - mu
				ss += d * d
			}
			mean[i] = F(mu)
			rinv[i] = F(1 / math.Sqrt(ss/float64(dim)+eps))
		}
	})
	layernormApply(be, out, rinv, mean, x, w, b, dim)
}

// layernormApply computes the output of layernormFwd from the stored mean
// and rinv.
func layernormApply[F Float](be *backend[F], out, rinv, mean, x, w, b []F, dim int) {
	n := len(x) / dim
	be.parallel(n, 16, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			xi, oi, r, mu := x[i*dim:(i+1)*dim], out[i*dim:(i+1)*dim], rinv[i], mean[i]
			for j, v := range xi {
				oi[j] = w[j] * ((v - mu) * r)
			}
			if b != nil {
				for j := range oi {
					oi[j] += b[j]
				}
			}
		}
	})
}

// layernormBwd adds to dx (when not nil), dw and db (when not nil; each
// cleared first when its zero flag is set) the gradients of layernormFwd
// given dout. With x̂ = (x − μ)·r and g = dout ⊙ w:
//
//	dw_j += Σ_rows dout_j·x̂_j,  db_j += Σ_rows dout_j
//	dx_j += r·(g_j − mean(g) − x̂_j·mean(g ⊙ x̂))
func layernormBwd[F Float](be *backend[F], dx, dw, db, dout, x, w, rinv, mean []F, dim int, dwZero, dbZero bool) {
	n := len(x) / dim
	if dw != nil && dwZero {
		clear(dw)
	}
	if db != nil && dbZero {
		clear(db)
	}
	var mu sync.Mutex
	be.parallel(n, 16, func(lo, hi int) {
		var pw, pb []float64
		if dw != nil {
			pw = make([]float64, dim)
		}
		if db != nil {
			pb = make([]float64, dim)
		}
		xh := make([]float64, dim)
		for i := lo; i < hi; i++ {
			xi, di := x[i*dim:(i+1)*dim], dout[i*dim:(i+1)*dim]
			r, m := float64(rinv[i]), float64(mean[i])
			for j, v := range xi {
				xh[j] = (float64(v) - m) * r
			}
			for j, d := range di {
				if pw != nil {
					pw[j] += float64(d) * xh[j]
				}
				if pb != nil {
					pb[j] += float64(d)
				}
			}
			if dx == nil {
				continue
			}
			var sg, sgx float64
			for j, d := range di {
				g := float64(d) * float64(w[j])
				sg += g
				sgx += g * xh[j]
			}
			sg /= float64(dim)
			sgx /= float64(dim)
			gi := dx[i*dim : (i+1)*dim]
			for j, d := range di {
				gi[j] += F(r * (float64(d)*float64(w[j]) - sg - xh[j]*sgx))
			}
		}
		mu.Lock()
		for j := range pw {
			dw[j] += F(pw[j])
		}
		for j := range pb {
			db[j] += F(pb[j])
		}
		mu.Unlock()
	})
}

// biasFwd adds the vector b to each row of y (m values a row).
func biasFwd[F Float](be *backend[F], y, b []F) {
	m := len(b)
	be.parallel(len(y)/m, max(1, 4096/m), func(lo, hi int) {
		for i := lo; i < hi; i++ {
			row := y[i*m : (i+1)*m]
			for j, v := range b {
				row[j] += v
			}
		}
	})
}

// biasBwd adds to db (cleared first when zero is set) the column sums of dy
// (rows of len(db) values): the gradient of biasFwd's b (float64 sums).
func biasBwd[F Float](be *backend[F], db, dy []F, zero bool) {
	m := len(db)
	n := len(dy) / m
	be.parallel(m, 256, func(lo, hi int) {
		acc := make([]float64, hi-lo)
		for i := 0; i < n; i++ {
			for j, v := range dy[i*m+lo : i*m+hi] {
				acc[j] += float64(v)
			}
		}
		d := db[lo:hi]
		for j, v := range acc {
			if zero {
				d[j] = F(v)
			} else {
				d[j] += F(v)
			}
		}
	})
}

// positionFwd adds to each row of x (dim values) the row of the position
// table for its position (row index mod t).
func positionFwd[F Float](be *backend[F], x, table []F, dim, t int) {
	n := len(x) / dim
	be.parallel(n, 64, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			p := i % t
			row, pos := x[i*dim:(i+1)*dim], table[p*dim:(p+1)*dim]
			for j, v := range pos {
				row[j] += v
			}
		}
	})
}

// positionBwd adds to the gradient of the position table (cleared first
// when zero is set) each row of dout at the row of its position.
func positionBwd[F Float](be *backend[F], gtable, dout []F, dim, t int, zero bool) {
	if zero {
		clear(gtable)
	}
	n := len(dout) / dim
	be.parallel(t, 1, func(lo, hi int) { // each position's row is one thread's
		for p := lo; p < hi; p++ {
			g := gtable[p*dim : (p+1)*dim]
			for i := p; i < n; i += t {
				be.axpy(1, dout[i*dim:(i+1)*dim], g)
			}
		}
	})
}

// ropeTables returns the cosines and sines of the rotation angles p·freq_i
// for positions p < t and pair i < ropeDim/2, freq_i = base^(−2i/ropeDim)
// divided by factors[i] when factors is not nil (rope_freqs.weight),
// computed in float64 as model.State does.
func ropeTables[F Float](t, ropeDim int, base float64, factors []float32) (cos, sin []F) {
	half := ropeDim / 2
	cos, sin = make([]F, t*half), make([]F, t*half)
	for i := 0; i < half; i++ {
		freq := 1 / math.Pow(base, float64(2*i)/float64(ropeDim))
		if factors != nil {
			freq /= float64(factors[i])
		}
		for p := 0; p < t; p++ {
			a := float64(p) * freq
			cos[p*half+i] = F(math.Cos(a))
			sin[p*half+i] = F(math.Sin(a))
		}
	}
	return cos, sin
}

// ropeFwd rotates in place the first ropeDim values of every head (hs
// values) of each row of v (width values) by the angles of the row's
// position (row index mod t). The pairs rotated are consecutive values
// (2i, 2i+1), or with halves set the values i and i + ropeDim/2 (rotate-half,
// GGUF's NeoX mode): (a, b) becomes (a·cos − b·sin, a·sin + b·cos).
func ropeFwd[F Float](be *backend[F], v, cos, sin []F, width, hs, ropeDim, t int, halves bool) {
	rope(be, v, cos, sin, width, hs, ropeDim, t, halves, 1)
}

// ropeBwd maps in place the gradient of ropeFwd's output to that of its
// input: the transpose of a rotation is the rotation by the opposite angle.
func ropeBwd[F Float](be *backend[F], dv, cos, sin []F, width, hs, ropeDim, t int, halves bool) {
	rope(be, dv, cos, sin, width, hs, ropeDim, t, halves, -1)
}

func rope[F Float](be *backend[F], v, cos, sin []F, width, hs, ropeDim, t int, halves bool, dir F) {
	half := ropeDim / 2
	n := len(v) / width
	// the two values of pair i are at a·i and a·i + b of the head
	a, b := 2, 1
	if halves {
		a, b = 1, half
	}
	be.parallel(n, 32, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			p := r % t
			c, s := cos[p*half:(p+1)*half], sin[p*half:(p+1)*half]
			row := v[r*width : (r+1)*width]
			for h := 0; h < width; h += hs {
				head := row[h : h+2*half]
				for i := 0; i < half; i++ {
					x, y := head[a*i], head[a*i+b]
					sn := dir * s[i]
					head[a*i] = x*c[i] - y*sn
					head[a*i+b] = x*sn + y*c[i]
				}
			}
		}
	})
}

// attnShape describes the attention of a batch: b sequences of t tokens,
// heads query heads and kvHeads key/value heads of hs values.
type attnShape struct {
	b, t, heads, kvHeads, hs int
}

func (s attnShape) dim() int   { return s.heads * s.hs }
func (s attnShape) kvdim() int { return s.kvHeads * s.hs }

// attnFwd computes causal softmax attention with grouped-query heads: for
// sequence b, head h and position i, with g = h / (heads/kvHeads),
//
//	s_j = q_{b,i,h}·k_{b,j,g} / sqrt(hs)  for j ≤ i
//	out_{b,i,h} = Σ_{j≤i} softmax(s)_j · v_{b,j,g}
//
// q and out are (b·t)×dim, k and v (b·t)×kvdim; lse receives each row's
// log-sum-exp (b×heads×t) for the backward pass.
func attnFwd[F Float](be *backend[F], s attnShape, out, lse, q, k, v []F) {
	dim, kvdim, hs := s.dim(), s.kvdim(), s.hs
	group := s.heads / s.kvHeads
	scale := F(1 / math.Sqrt(float64(hs)))
	be.parallel(s.b*s.kvHeads, 1, func(lo, hi int) {
		sc := make([]F, s.t)
		for u := lo; u < hi; u++ {
			b, g := u/s.kvHeads, u%s.kvHeads
			keys, vals := k[b*s.t*kvdim+g*hs:], v[b*s.t*kvdim+g*hs:]
			for h := g * group; h < (g+1)*group; h++ {
				for i := 0; i < s.t; i++ {
					at := (b*s.t+i)*dim + h*hs
					row := sc[:i+1]
					be.scores(row, q[at:at+hs], keys, kvdim, scale)
					m := row[0]
					for _, x := range row[1:] {
						m = max(m, x)
					}
					for j := range row {
						row[j] -= m
					}
					be.exp(row, row)
					var sum float64
					for _, e := range row {
						sum += float64(e)
					}
					lse[(b*s.heads+h)*s.t+i] = m + F(math.Log(sum))
					inv := F(1 / sum)
					for j := range row {
						row[j] *= inv
					}
					be.mix(out[at:at+hs], row, vals, kvdim)
				}
			}
		}
	})
}

// attnBwd adds to dq, dk and dv the gradients of attnFwd given dout, from
// its inputs, output and lse. The probabilities are recomputed, p_j =
// exp(s_j − lse), so no t×t matrix is kept between the passes; then
//
//	dp_j = dout_i·v_j,  D = dout_i·out_i,  ds_j = p_j (dp_j − D) / sqrt(hs)
//	dq_i += Σ_j ds_j k_j,  dk_j += Σ_i ds_j q_i,  dv_j += Σ_i p_j dout_i
//
// For each head the rows of p and ds are also stored transposed, so that
// the sums over queries i for dk_j and dv_j are the same weighted sums of
// rows (AttnMix) as the sums over keys. Work is split by (sequence,
// key/value head), so no two threads write the same gradient row.
func attnBwd[F Float](be *backend[F], s attnShape, dq, dk, dv, dout, q, k, v, out, lse []F) {
	dim, kvdim, hs := s.dim(), s.kvdim(), s.hs
	group := s.heads / s.kvHeads
	scale := F(1 / math.Sqrt(float64(hs)))
	T := s.t
	be.parallel(s.b*s.kvHeads, 1, func(lo, hi int) {
		p, dp := make([]F, T), make([]F, T)
		pt, dst := make([]F, T*T), make([]F, T*T) // p and ds transposed: [j*T + i]
		tmp := make([]F, hs)
		for u := lo; u < hi; u++ {
			b, g := u/s.kvHeads, u%s.kvHeads
			kvo := b*T*kvdim + g*hs
			keys, vals := k[kvo:], v[kvo:]
			for h := g * group; h < (g+1)*group; h++ {
				for i := 0; i < T; i++ {
					at := (b*T+i)*dim + h*hs
					qi, doi := q[at:at+hs], dout[at:at+hs]
					l := lse[(b*s.heads+h)*T+i]
					row, dpr := p[:i+1], dp[:i+1]
					be.scores(row, qi, keys, kvdim, scale)
					for j := range row {
						row[j] -= l
					}
					be.exp(row, row)
					be.scores(dpr, doi, vals, kvdim, 1)
					d := be.dot(doi, out[at:at+hs])
					for j, pj := range row {
						ds := pj * (dpr[j] - d) * scale
						dpr[j] = ds
						pt[j*T+i] = pj
						dst[j*T+i] = ds
					}
					be.mix(tmp, dpr, keys, kvdim)
					be.axpy(1, tmp, dq[at:at+hs])
				}
				// dk_j, dv_j: sums over the queries i ≥ j of this head
				qh, dh := q[b*T*dim+h*hs:], dout[b*T*dim+h*hs:]
				for j := 0; j < T; j++ {
					at := (b*T+j)*kvdim + g*hs
					be.mix(tmp, dst[j*T+j:j*T+T], qh[j*dim:], dim)
					be.axpy(1, tmp, dk[at:at+hs])
					be.mix(tmp, pt[j*T+j:j*T+T], dh[j*dim:], dim)
					be.axpy(1, tmp, dv[at:at+hs])
				}
			}
		}
	})
}

// swigluFwd computes h = silu(g)·u = g·σ(g)·u elementwise.
func swigluFwd[F Float](be *backend[F], h, g, u []F) {
	be.parallel(len(h), 4096, func(lo, hi int) {
		hh, gg, uu := h[lo:hi], g[lo:hi], u[lo:hi]
		for i, x := range gg {
			hh[i] = -x
		}
		be.exp(hh, hh)
		for i, x := range gg {
			hh[i] = x / (1 + hh[i]) * uu[i]
		}
	})
}

// swigluBwd stores (not adds) the gradients of swigluFwd in dg and du:
// du = dh·silu(g), dg = dh·u·σ(g)·(1 + g·(1 − σ(g))). dg may alias dh.
func swigluBwd[F Float](be *backend[F], dg, du, dh, g, u []F) {
	be.parallel(len(dh), 4096, func(lo, hi int) {
		gg, uu, dd, dgg, duu := g[lo:hi], u[lo:hi], dh[lo:hi], dg[lo:hi], du[lo:hi]
		for i, x := range gg {
			duu[i] = -x // scratch: e^(−g)
		}
		be.exp(duu, duu)
		for i, x := range gg {
			sig := 1 / (1 + duu[i])
			d := dd[i]
			duu[i] = d * x * sig
			dgg[i] = d * uu[i] * sig * (1 + x*(1-sig))
		}
	})
}

// geluK is 2·sqrt(2/π): GELU-tanh(x) = ½x(1 + tanh(√(2/π)(x + 0.044715x³)))
// = x·σ(geluK·(x + 0.044715x³)).
const (
	geluK = 1.5957691216057308
	geluA = 0.044715
)

// geluFwd computes h = GELU-tanh(g) = g·σ(z), z = geluK·(g + geluA·g³),
// elementwise.
func geluFwd[F Float](be *backend[F], h, g []F) {
	be.parallel(len(h), 4096, func(lo, hi int) {
		hh, gg := h[lo:hi], g[lo:hi]
		for i, x := range gg {
			hh[i] = -geluK * (x + geluA*x*x*x)
		}
		be.exp(hh, hh)
		for i, x := range gg {
			hh[i] = x / (1 + hh[i])
		}
	})
}

// geluBwd stores (not adds) in dg the gradient of geluFwd's input:
// dg = dh·(σ + g·σ(1 − σ)·geluK·(1 + 3·geluA·g²)), σ = σ(z). dg may alias dh.
func geluBwd[F Float](be *backend[F], dg, dh, g []F) {
	be.parallel(len(dh), 4096, func(lo, hi int) {
		var buf [256]F // e^(−z), a block at a time
		for b0 := lo; b0 < hi; b0 += len(buf) {
			b1 := min(hi, b0+len(buf))
			gg, dd, dgg, e := g[b0:b1], dh[b0:b1], dg[b0:b1], buf[:b1-b0]
			for i, x := range gg {
				e[i] = -geluK * (x + geluA*x*x*x)
			}
			be.exp(e, e)
			for i, x := range gg {
				sig := 1 / (1 + e[i])
				dgg[i] = dd[i] * (sig + x*sig*(1-sig)*geluK*(1+3*geluA*x*x))
			}
		}
	})
}

// logSoftmaxRow returns the maximum and log Σ exp(z − max) of a row, and
// leaves exp(z − max) in e (float64 sums).
func logSoftmaxRow[F Float](be *backend[F], e, z []F) (m F, logSum float64) {
	m = z[0]
	for _, v := range z[1:] {
		m = max(m, v)
	}
	for j, v := range z {
		e[j] = v - m
	}
	be.exp(e, e)
	var sum float64
	for _, v := range e {
		sum += float64(v)
	}
	return m, math.Log(sum)
}

// crossEntropy returns the mean over rows of −log softmax(z)[target] for n
// rows of vocab logits, and stores its gradient softmax(z) − onehot(target),
// divided by n, in grad (which may alias logits).
func crossEntropy[F Float](be *backend[F], grad, logits []F, targets []int, vocab int) float64 {
	n := len(targets)
	var mu sync.Mutex
	var total float64
	inv := 1 / float64(n)
	be.parallel(n, 4, func(lo, hi int) {
		var part float64
		for i := lo; i < hi; i++ {
			z, gr := logits[i*vocab:(i+1)*vocab], grad[i*vocab:(i+1)*vocab]
			zt := z[targets[i]]
			m, ls := logSoftmaxRow(be, gr, z) // gr = exp(z − m)
			part += float64(m) + ls - float64(zt)
			c := F(math.Exp(-ls) * inv)
			for j := range gr {
				gr[j] *= c
			}
			gr[targets[i]] -= F(inv)
		}
		mu.Lock()
		total += part
		mu.Unlock()
	})
	return total * inv
}

// klDiv returns the mean over rows of KL(p_t ‖ p_s) with p_t =
// softmax(teacher/temp) and p_s = softmax(logits/temp), and stores its
// gradient with respect to the logits, (p_s − p_t)/(temp·n), in grad (which
// may alias logits). Row i's teacher logits are row i mod l of teacher[i/l]
// (l rows a sequence). The teacher's log-probabilities are computed in
// float64.
func klDiv[F Float, T Float](be *backend[F], grad, logits []F, teacher [][]T, l, vocab int, temp float64) float64 {
	n := len(logits) / vocab
	var mu sync.Mutex
	var total float64
	inv := 1 / float64(n)
	be.parallel(n, 4, func(lo, hi int) {
		var part float64
		lt := make([]float64, vocab)
		zs, e := make([]F, vocab), make([]F, vocab)
		for i := lo; i < hi; i++ {
			z, gr, t := logits[i*vocab:(i+1)*vocab], grad[i*vocab:(i+1)*vocab], teacher[i/l][(i%l)*vocab:(i%l+1)*vocab]
			// teacher: log p_t = lt − tl
			tm := float64(t[0])
			for _, v := range t[1:] {
				tm = max(tm, float64(v))
			}
			var ts float64
			for j, v := range t {
				lt[j] = (float64(v) - tm) / temp
				ts += math.Exp(lt[j])
			}
			tl := math.Log(ts)
			// student: log p_s = z/temp − m − sl
			for j, v := range z {
				zs[j] = v / F(temp)
			}
			m, sl := logSoftmaxRow(be, e, zs)
			off := float64(m) + sl
			isum := math.Exp(-sl)
			var kl float64
			for j := range gr {
				lpt := lt[j] - tl
				pt := math.Exp(lpt)
				if pt > 0 {
					kl += pt * (lpt - (float64(zs[j]) - off))
				}
				gr[j] = F((float64(e[j])*isum - pt) * inv / temp)
			}
			part += kl
		}
		mu.Lock()
		total += part
		mu.Unlock()
	})
	return total * inv
}
