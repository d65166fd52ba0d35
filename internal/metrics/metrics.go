// Package metrics holds the numbers `unswift eval` uses to compare a model with a
// transformed copy of it: divergence of next-token distributions (KL, top-1
// agreement, NLL), text overlap of generations (ROUGE-1, ROUGE-L, first divergent
// token), perplexity bookkeeping, sample summaries and confidence intervals.
//
// Everything is computed in float64 from float32 inputs, with log-sum-exp so that no
// exponential can overflow. The package knows nothing about models: callers hand it
// logit vectors, token ids and strings.
package metrics

import "math"

// logSumExp returns log Σ exp(x_i) as the pair (m, l) with m = max x_i and
// l = log Σ exp(x_i − m), so that callers can form x_i − m − l without the loss of
// precision of subtracting a large m + l. The sum is m + l. It returns m = −Inf for
// an empty vector or one whose entries are all −Inf, m = +Inf if any entry is +Inf
// and m = NaN if any entry is NaN; l is 0 in all those cases.
func logSumExp(x []float32) (m, l float64) {
	m = math.Inf(-1)
	for _, v := range x {
		f := float64(v)
		if math.IsNaN(f) {
			return math.NaN(), 0
		}
		if f > m {
			m = f
		}
	}
	if math.IsInf(m, 0) {
		return m, 0
	}
	var s float64
	for _, v := range x {
		s += math.Exp(float64(v) - m)
	}
	return m, math.Log(s)
}

// LogSoftmax returns log softmax(logits) in float64: logits[i] − log Σ_j exp(logits[j]).
// Entries of −Inf stay −Inf (probability zero). An empty input gives an empty result.
func LogSoftmax(logits []float32) []float64 {
	out := make([]float64, len(logits))
	m, l := logSumExp(logits)
	for i, v := range logits {
		out[i] = float64(v) - m - l
	}
	return out
}

// KL returns the Kullback–Leibler divergence KL(P‖Q) = Σ_i P_i ln(P_i/Q_i) in nats,
// where P = softmax(p) and Q = softmax(q) are given by raw logits (P is the
// reference, typically the original model). It returns NaN when the vectors are
// empty, differ in length, hold a NaN or +Inf, or are all −Inf, and +Inf when Q
// gives probability zero (a −Inf logit) to a token P does not.
//
// It is evaluated as KL = Σ_i (Q_i − P_i + P_i·d_i) with d_i = ln P_i − ln Q_i, equal
// to the definition because Σ Q_i = Σ P_i = 1. Every term is non-negative
// (P_i·φ(d_i) with φ(d) = e^(−d) − 1 + d ≥ 0, computed from a series or expm1), so
// rounding can never make the result negative and it is exactly 0 when p and q
// are equal. Logits are shifted by their maximum first, so no exponential
// overflows.
func KL(p, q []float32) float64 {
	if len(p) == 0 || len(p) != len(q) {
		return math.NaN()
	}
	mp, lp := logSumExp(p)
	mq, lq := logSumExp(q)
	if math.IsNaN(mp) || math.IsNaN(mq) || math.IsInf(mp, 0) || math.IsInf(mq, 0) {
		return math.NaN()
	}
	var kl float64
	for i := range p {
		a := float64(p[i]) - mp - lp // ln P_i
		b := float64(q[i]) - mq - lq // ln Q_i
		if math.IsInf(a, -1) {
			kl += math.Exp(b) // P_i = 0: the term Q_i − P_i + P_i·d_i is Q_i
			continue
		}
		if math.IsInf(b, -1) {
			return math.Inf(1)
		}
		d := a - b
		pi := math.Exp(a)
		if d < -30 {
			// Q_i ≫ P_i: P_i·e^(−d) = Q_i would overflow the naive form.
			kl += math.Exp(b) - pi + pi*d
			continue
		}
		kl += pi * phi(d)
	}
	return kl
}

// phi returns e^(−d) − 1 + d accurately for all d ≥ −30, using its Taylor series
// d²/2 − d³/6 + d⁴/24 where expm1 would lose digits to cancellation.
func phi(d float64) float64 {
	if math.Abs(d) < 1e-3 {
		return d * d * (0.5 - d/6 + d*d/24)
	}
	return math.Expm1(-d) + d
}

// NLL returns the negative log-likelihood −ln softmax(logits)[target] in nats. It is
// NaN when target is out of range.
func NLL(logits []float32, target int) float64 {
	if target < 0 || target >= len(logits) {
		return math.NaN()
	}
	m, l := logSumExp(logits)
	return (m - float64(logits[target])) + l
}

// Argmax returns the index of the largest logit, the first one on ties, or −1 for an
// empty vector. NaN entries are never chosen.
func Argmax(x []float32) int {
	best := -1
	for i, v := range x {
		if v != v {
			continue
		}
		if best < 0 || v > x[best] {
			best = i
		}
	}
	return best
}

// Top1Agree reports whether p and q have the same most likely token (first index on
// ties). Vectors of different length never agree.
func Top1Agree(p, q []float32) bool {
	if len(p) != len(q) {
		return false
	}
	a := Argmax(p)
	return a >= 0 && a == Argmax(q)
}

// FirstDivergence returns the first position where the token sequences a and b
// differ, or −1 if they are identical. When one is a proper prefix of the other the
// answer is the length of the shorter one.
func FirstDivergence(a, b []int) int {
	n := min(len(a), len(b))
	for i := 0; i < n; i++ {
		if a[i] != b[i] {
			return i
		}
	}
	if len(a) != len(b) {
		return n
	}
	return -1
}
