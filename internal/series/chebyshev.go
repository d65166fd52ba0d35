package series

import "math"

// ChebyshevFit returns the coefficients b_0..b_n of the degree-n polynomial
// that interpolates activation a at the n+1 Chebyshev points of the first kind
// on [lo, hi], written in the Chebyshev basis of the scaled variable
// t = (x − c)/h with c = (lo+hi)/2 and h = (hi−lo)/2:
//
//	a(x) ≈ Σ_{k=0..n} b_k T_k(t),  t ∈ [−1, 1]
//
// The nodes are t_j = cos(π(j+½)/(n+1)), j = 0..n, and the coefficients follow
// from the discrete orthogonality of cosines:
// b_k = (2−δ_{k0})/(n+1) · Σ_j a(c + h·t_j) T_k(t_j).
// Evaluate the result with ChebyshevEval.
//
// ChebyshevFit returns nil if n < 0, a is unknown, or lo and hi are not finite
// with lo < hi.
func ChebyshevFit(a Activation, lo, hi float64, n int) []float64 {
	if !a.valid() {
		return nil
	}
	return chebyshevFit(a.Eval, lo, hi, n)
}

// chebyshevFit is ChebyshevFit for an arbitrary function f.
func chebyshevFit(f func(float64) float64, lo, hi float64, n int) []float64 {
	if n < 0 || !(lo < hi) || math.IsInf(lo, 0) || math.IsInf(hi, 0) {
		return nil
	}
	c, h := lo/2+hi/2, hi/2-lo/2
	m := n + 1
	fv := make([]float64, m)
	for j := range fv {
		fv[j] = f(c + h*math.Cos(math.Pi*(float64(j)+0.5)/float64(m)))
	}
	b := make([]float64, m)
	for k := range b {
		var sum float64
		for j, v := range fv {
			// T_k(t_j) = cos(k·θ_j); reduce k(2j+1) mod 4m so the cosine's
			// argument stays in [0, 2π) and keeps full accuracy.
			r := (k * (2*j + 1)) % (4 * m)
			sum += v * math.Cos(math.Pi*float64(r)/float64(2*m))
		}
		b[k] = 2 * sum / float64(m)
	}
	b[0] /= 2
	return b
}

// ChebyshevEval returns Σ_k b_k T_k(t) by Clenshaw's recurrence. It is meant
// for t ∈ [−1, 1] (where it is backward stable) but accepts any t. It returns
// 0 for empty b.
func ChebyshevEval(b []float64, t float64) float64 {
	if len(b) == 0 {
		return 0
	}
	var y1, y2 float64 // y_{k+1}, y_{k+2}
	for k := len(b) - 1; k >= 1; k-- {
		y1, y2 = b[k]+2*t*y1-y2, y1
	}
	return b[0] + t*y1 - y2
}
