package train

import (
	"math"

	"github.com/unswift/unswift/internal/kernel"
	"github.com/unswift/unswift/internal/tensor"
)

// backend holds the element-type specific primitives the operations are
// written with: float32 uses the kernel package (AVX GEMM, dot, axpy,
// vectorised exponential and attention kernels; float64 uses plain Go loops
// with float64 arithmetic.
type backend[F Float] struct {
	pool *kernel.Pool
	dot  func(a, b []F) F
	axpy func(a F, x, y []F)              // y += a·x
	exp  func(dst, src []F)               // dst[i] = e^src[i]; dst may be src
	gemm func(out, a, b []F, n, k, m int) // out[i·m+j] = Σ_c a[i·k+c]·b[j·k+c]
	// scores sets out[t] = scale·Σ_i q[i]·keys[t·stride+i] (kernel.AttnScores)
	scores func(out, q, keys []F, stride int, scale F)
	// mix sets out[i] = Σ_t w[t]·vals[t·stride+i] (kernel.AttnMix)
	mix func(out, w, vals []F, stride int)

	// scratch reused by the transposed products
	wt, dyb, dyt, xt, tmp []F
}

func newBackend[F Float](pool *kernel.Pool) *backend[F] {
	be := &backend[F]{pool: pool}
	var z F
	switch any(z).(type) {
	case float32:
		be.dot = any(kernel.Dot).(func(a, b []F) F)
		be.axpy = any(kernel.Axpy).(func(a F, x, y []F))
		be.exp = any(kernel.Exp).(func(dst, src []F))
		be.scores = any(kernel.AttnScores).(func(out, q, keys []F, stride int, scale F))
		be.mix = any(kernel.AttnMix).(func(out, w, vals []F, stride int))
		g := func(out, a, b []float32, n, k, m int) { gemm32(pool, out, a, b, n, k, m) }
		be.gemm = any(g).(func(out, a, b []F, n, k, m int))
	default:
		be.dot = dotGeneric[F]
		be.axpy = axpyGeneric[F]
		be.exp = expGeneric[F]
		be.scores = scoresGeneric[F]
		be.mix = mixGeneric[F]
		be.gemm = func(out, a, b []F, n, k, m int) { gemmGeneric(pool, out, a, b, n, k, m) }
	}
	return be
}

// parallel runs fn over [0, n) on the pool with at least grain indices a chunk.
func (be *backend[F]) parallel(n, grain int, fn func(lo, hi int)) {
	be.pool.For(n, grain, fn)
}

func dotGeneric[F Float](a, b []F) F {
	b = b[:len(a)]
	var s float64
	for i, v := range a {
		s += float64(v) * float64(b[i])
	}
	return F(s)
}

func axpyGeneric[F Float](a F, x, y []F) {
	y = y[:len(x)]
	for i, v := range x {
		y[i] += a * v
	}
}

func expGeneric[F Float](dst, src []F) {
	for i, v := range src {
		dst[i] = F(math.Exp(float64(v)))
	}
}

func scoresGeneric[F Float](out, q, keys []F, stride int, scale F) {
	for t := range out {
		out[t] = dotGeneric(q, keys[t*stride:t*stride+len(q)]) * scale
	}
}

func mixGeneric[F Float](out, w, vals []F, stride int) {
	clear(out)
	for t, a := range w {
		axpyGeneric(a, vals[t*stride:t*stride+len(out)], out)
	}
}

// gemm32 computes out = a·bᵀ (a: n×k, b: m×k, out: n×m) with the kernel
// package's GEMM, spread over the pool.
func gemm32(pool *kernel.Pool, out, a, b []float32, n, k, m int) {
	w := tensor.Tensor{Type: tensor.F32, Shape: []int{k, m}, Data: tensor.Bytes(b[:m*k])}
	pool.MatMul(out[:n*m], &w, a[:n*k], n)
}

// gemmGeneric is gemm in plain Go with float64 accumulation.
func gemmGeneric[F Float](pool *kernel.Pool, out, a, b []F, n, k, m int) {
	pool.For(n, 1, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			ai := a[i*k : (i+1)*k]
			for j := 0; j < m; j++ {
				out[i*m+j] = dotGeneric(ai, b[j*k:(j+1)*k])
			}
		}
	})
}

// transpose writes the c×r transpose of the r×c matrix src (leading
// dimension ld ≥ c) into dst, spread over the pool in panels of 64 rows.
func (be *backend[F]) transpose(dst, src []F, r, c, ld int) {
	const panel = 64
	panels := (r + panel - 1) / panel
	be.parallel(panels, max(1, 16384/(panel*c+1)), func(lo, hi int) {
		transposeRows(dst, src, lo*panel, min(hi*panel, r), r, c, ld)
	})
}

// transposeRows transposes rows [r0, r1) of src (r×c, leading dimension
// ld) into the columns r0..r1-1 of dst (c×r). It walks 64×64 tiles (so that
// the rows a tile touches stay in the caches and the TLB) and, within them,
// writes each destination run of 16 values (a cache line of float32) from
// 16 strided loads; on the 2-core test machine this is about four times
// faster than a plain loop or a copy through a local block array.
func transposeRows[F Float](dst, src []F, r0, r1, r, c, ld int) {
	const tile = 64
	for p0 := r0; p0 < r1; p0 += tile {
		p1 := min(p0+tile, r1)
		for t0 := 0; t0 < c; t0 += tile {
			t1 := min(t0+tile, c)
			i0 := p0
			for ; i0+16 <= p1; i0 += 16 {
				for j := t0; j < t1; j++ {
					d := dst[j*r+i0 : j*r+i0+16]
					s := src[i0*ld+j:]
					_ = s[15*ld]
					d[0], d[1], d[2], d[3] = s[0], s[ld], s[2*ld], s[3*ld]
					d[4], d[5], d[6], d[7] = s[4*ld], s[5*ld], s[6*ld], s[7*ld]
					d[8], d[9], d[10], d[11] = s[8*ld], s[9*ld], s[10*ld], s[11*ld]
					d[12], d[13], d[14], d[15] = s[12*ld], s[13*ld], s[14*ld], s[15*ld]
				}
			}
			for ; i0 < p1; i0++ {
				for j := t0; j < t1; j++ {
					dst[j*r+i0] = src[i0*ld+j]
				}
			}
		}
	}
}

// grow returns buf with length n, reallocating when it is too short.
func grow[F Float](buf []F, n int) []F {
	if cap(buf) < n {
		return make([]F, n)
	}
	return buf[:n]
}

// addTo computes dst += src over the pool.
func (be *backend[F]) addTo(dst, src []F) {
	be.parallel(len(dst), 1<<14, func(lo, hi int) {
		d, s := dst[lo:hi], src[lo:hi]
		for i := range d {
			d[i] += s[i]
		}
	})
}

// linearRowBlock bounds the rows of a weight matrix handled at once by the
// backward pass of a linear map, so that the classifier's transposed blocks
// stay small. It is a variable so that tests can shrink it.
var linearRowBlock = 4096

// linearFwd computes y = x·Wᵀ for n tokens: x is n×k, W is m×k, y is n×m.
func (be *backend[F]) linearFwd(y, x, w []F, n, k, m int) {
	be.gemm(y, x, w, n, k, m)
}

// linearBwd is the backward pass of linearFwd given dy (n×m). When dx is
// not nil it receives dy·W (n×k), added to its contents when acc is set and
// stored otherwise. When dw is not nil, dyᵀ·x (m×k) is added to it, or
// stored in it when dwZero is set.
//
// Both products go to the same GEMM as the forward pass through explicit
// transposes: dx = dy·W is gemm(dy, Wᵀ) and dW = dyᵀ·x is gemm(dyᵀ, xᵀ).
// The rows of W are processed in blocks of at most linearRowBlock. xt, when
// not nil, is xᵀ already computed (several maps of the same input share it).
func (be *backend[F]) linearBwd(dx, dw, dy, x, xt, w []F, n, k, m int, acc, dwZero bool) {
	if dx == nil && dw == nil {
		return
	}
	if dw != nil && xt == nil {
		be.xt = grow(be.xt, k*n)
		be.transpose(be.xt, x, n, k, k)
		xt = be.xt
	}
	for j0 := 0; j0 < m; j0 += linearRowBlock {
		j1 := min(m, j0+linearRowBlock)
		mb := j1 - j0
		dyb := dy
		if mb != m {
			be.dyb = grow(be.dyb, n*mb)
			dyb = be.dyb
			be.parallel(n, 64, func(lo, hi int) {
				for i := lo; i < hi; i++ {
					copy(dyb[i*mb:(i+1)*mb], dy[i*m+j0:i*m+j1])
				}
			})
		}
		if dx != nil {
			be.wt = grow(be.wt, k*mb)
			be.transpose(be.wt, w[j0*k:j1*k], mb, k, k)
			if acc || j0 > 0 {
				be.tmp = grow(be.tmp, n*k)
				be.gemm(be.tmp, dyb, be.wt, n, mb, k)
				be.addTo(dx[:n*k], be.tmp)
			} else {
				be.gemm(dx, dyb, be.wt, n, mb, k)
			}
		}
		if dw != nil {
			be.dyt = grow(be.dyt, mb*n)
			be.transpose(be.dyt, dyb, n, mb, mb)
			if dwZero {
				be.gemm(dw[j0*k:j1*k], be.dyt, xt, mb, n, k)
			} else {
				be.tmp = grow(be.tmp, mb*k)
				be.gemm(be.tmp, be.dyt, xt, mb, n, k)
				be.addTo(dw[j0*k:j1*k], be.tmp)
			}
		}
	}
}
