// Package series computes the activation-function series that TaylorMLP
// releases in place of the MLP down projection: Taylor coefficients of SiLU,
// GELU (erf form) and GELU (tanh form) about any real expansion point, the
// radius of convergence of those series, and Chebyshev interpolants of the same
// activations for a later polynomial-basis variant.
//
// # Taylor coefficients
//
// Taylor(a, x0, n) returns c_k = a^(k)(x0)/k! for k = 0..n. The coefficients
// are computed by Taylor-mode automatic differentiation: every quantity is a
// power series in t = x − x0 truncated after t^n, and the activation is built
// from series arithmetic whose recurrences work directly on the scaled
// coefficients c_k, so no factorial or raw derivative is ever formed and
// nothing overflows at high order. With f, g, p series (f_k the coefficient of
// t^k):
//
//	product       (fg)_k   = Σ_{j=0..k} f_j g_{k−j}
//	reciprocal    r = 1/b:  r_0 = 1/b_0,  r_k = −(Σ_{j=1..k} b_j r_{k−j}) / b_0
//	exponential   f = e^g:  f_0 = e^{g_0}, k·f_k = Σ_{j=1..k} j·g_j·f_{k−j}   (from f' = g'f)
//	error function e = erf(p): e_0 = erf(p_0),
//	              k·e_k = (2/√π) Σ_{j=1..k} j·p_j·E_{k−j}  with E = exp(−p²)
//	              (erf' = (2/√π)·exp(−p²)·p', integrated term by term)
//
// The activations are then
//
//	SiLU(x)     = x·σ(x)
//	GELU(x)     = x·Φ(x),  Φ(x) = ½ + ½·erf(x/√2)
//	GELUTanh(x) = ½x(1 + tanh q) = x·σ(2q),  q = √(2/π)(x + 0.044715x³)
//
// where the logistic sigmoid of a series p is σ(p) = 1/(1 + e^{−p}), built
// from the exponential and the reciprocal (tanh enters only through the
// identity 1 + tanh q = 2σ(2q)). Two measures keep float64 accurate:
//
//   - σ is always expanded about a non-negative argument: for p_0 < 0 the
//     package uses σ(p) = 1 − σ(−p). Then b = 1 + e^{−q} (q = ±p, q_0 ≥ 0) has
//     b_0 ∈ (1, 2] and its other coefficients carry the factor e^{−q_0} ≤ 1,
//     so the reciprocal recurrence adds terms of comparable size instead of
//     cancelling large ones. (Without this the error measured against the
//     reference grows from ~1e-15 to ~1e-9 for SiLU at x0 = −8 and to ~1e-6
//     for GELUTanh at x0 = −5.)
//   - Constant terms come from closed forms that are accurate even when tiny:
//     σ(p_0) without cancellation and Φ(x0) = ½·erfc(−x0/√2).
//
// The cost is O(n²) per call: 1–3 µs and one allocation at n = 24. The
// tests check every coefficient up to order 32, for x0 across [−8, 8],
// against an independent 256-bit computation from the closed-form derivative
// recurrences (sigmoid: s' = s − s²; Gaussian: φ^(m) = (−1)^m He_m·φ) and, for
// GELUTanh, a Faà di Bruno composition; the agreement is ~1e-13 relative or
// better.
//
// # Convergence
//
// SiLU and GELUTanh are meromorphic: their series about a real x0 converge for
// |x − x0| < Radius(a, x0), the distance to the nearest complex pole. GELU is
// entire (Radius is +Inf) but needs a high order for wide ranges.
//
// # Chebyshev interpolation
//
// ChebyshevFit and ChebyshevEval give the degree-n interpolant of an
// activation at Chebyshev points of the first kind on an interval, which
// converges uniformly on the whole interval at a rate set by the same poles.
package series

import "math"

// Taylor returns the Taylor coefficients c_k = a^(k)(x0)/k!, k = 0..n, of
// activation a about x0, so that a(x) ≈ Σ c_k (x − x0)^k for |x − x0| below
// Radius(a, x0). The method (Taylor-mode automatic differentiation in
// float64) is described in the package documentation; any n ≥ 0 works.
//
// Taylor returns nil if n < 0 or a is not a known activation, and n+1 NaNs if
// x0 is not finite.
func Taylor(a Activation, x0 float64, n int) []float64 {
	if n < 0 || !a.valid() {
		return nil
	}
	m := n + 1
	out := make([]float64, m)
	if math.IsNaN(x0) || math.IsInf(x0, 0) {
		for k := range out {
			out[k] = math.NaN()
		}
		return out
	}
	// Scratch space: on the stack for the usual orders.
	var stack [6 * 33]float64
	buf := stack[:]
	if 6*m > len(stack) {
		buf = make([]float64, 6*m)
	}
	x, buf := buf[:m], buf[m:] // the series x0 + t
	s, buf := buf[:m], buf[m:] // σ(…) or Φ(x)
	x[0] = x0
	if n >= 1 {
		x[1] = 1
	}
	switch a {
	case SiLU:
		sigmoidOf(s, x, buf)
	case GELU:
		p, buf := buf[:m], buf[m:]
		for k := range p {
			p[k] = x[k] / math.Sqrt2
		}
		erfOf(s, p, buf)
		for k := range s {
			s[k] *= 0.5
		}
		s[0] = 0.5 * math.Erfc(-x0/math.Sqrt2)
	case GELUTanh:
		p, buf := buf[:m], buf[m:]
		x2, buf := buf[:m], buf[m:]
		mul(x2, x, x)
		mul(p, x2, x)
		for k := range p {
			p[k] = 2 * sqrt2OverPi * (x[k] + geluTanhA*p[k])
		}
		p[0] = geluTanhArg(x0)
		sigmoidOf(s, p, buf)
	}
	// out = (x0 + t)·s
	out[0] = x0 * s[0]
	for k := 1; k < m; k++ {
		out[k] = x0*s[k] + s[k-1]
	}
	return out
}

// degree returns the index of the last non-zero coefficient of f (0 if none).
func degree(f []float64) int {
	for k := len(f) - 1; k > 0; k-- {
		if f[k] != 0 {
			return k
		}
	}
	return 0
}

// mul sets dst to the product of the series f and g truncated to len(dst).
// dst must not share memory with f or g; f and g must be at least as long as
// dst.
func mul(dst, f, g []float64) {
	df, dg := degree(f), degree(g)
	for k := range dst {
		var sum float64
		for j := max(0, k-dg); j <= min(k, df); j++ {
			sum += f[j] * g[k-j]
		}
		dst[k] = sum
	}
}

// expOf sets dst = exp(g) truncated to len(dst); dst must not share memory
// with g.
func expOf(dst, g []float64) {
	dg := degree(g)
	dst[0] = math.Exp(g[0])
	if dst[0] == 0 {
		// Every coefficient carries the factor e^{g_0}, which underflowed;
		// stop here rather than form 0·Inf when g's other terms overflowed.
		clear(dst)
		return
	}
	for k := 1; k < len(dst); k++ {
		var sum float64
		for j := 1; j <= min(k, dg); j++ {
			sum += float64(j) * g[j] * dst[k-j]
		}
		dst[k] = sum / float64(k)
	}
}

// recipOf sets dst = 1/b truncated to len(dst); b[0] must be non-zero and dst
// must not share memory with b.
func recipOf(dst, b []float64) {
	db := degree(b)
	inv := 1 / b[0]
	dst[0] = inv
	for k := 1; k < len(dst); k++ {
		var sum float64
		for j := 1; j <= min(k, db); j++ {
			sum += b[j] * dst[k-j]
		}
		dst[k] = -sum * inv
	}
}

// sigmoidOf sets dst = σ(p) = 1/(1 + e^{−p}) truncated to len(dst). work must
// hold at least 2·len(dst) values; none of dst, p, work may overlap.
func sigmoidOf(dst, p, work []float64) {
	m := len(dst)
	e, b := work[:m], work[m:2*m]
	// Expand about q = ±p with q_0 ≥ 0, so that e^{−q_0} ≤ 1.
	sign := 1.0
	if p[0] < 0 {
		sign = -1
	}
	for k := range e {
		b[k] = -sign * p[k] // b = −q
	}
	expOf(e, b) // e = e^{−q}
	copy(b, e)
	b[0] += 1       // b = 1 + e^{−q}
	recipOf(dst, b) // dst = σ(q)
	if sign < 0 {   // σ(p) = 1 − σ(−p)
		for k := 1; k < m; k++ {
			dst[k] = -dst[k]
		}
	}
	dst[0] = sigmoid(p[0])
}

// erfOf sets dst = erf(p) truncated to len(dst). work must hold at least
// 2·len(dst) values; none of dst, p, work may overlap.
func erfOf(dst, p, work []float64) {
	m := len(dst)
	sq, e := work[:m], work[m:2*m]
	mul(sq, p, p)
	for k := range sq {
		sq[k] = -sq[k]
	}
	expOf(e, sq) // e = exp(−p²)
	dp := degree(p)
	dst[0] = math.Erf(p[0])
	const twoOverSqrtPi = 2 / math.SqrtPi
	for k := 1; k < m; k++ {
		var sum float64
		for j := 1; j <= min(k, dp); j++ {
			sum += float64(j) * p[j] * e[k-j]
		}
		dst[k] = twoOverSqrtPi * sum / float64(k)
	}
}
