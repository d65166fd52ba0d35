package metrics

import (
	"math"
	"slices"
)

// Dist summarizes a sample of values.
type Dist struct {
	N         int     // values summarized (NaNs excluded)
	NaN       int     // NaN values seen and left out
	Mean, Std float64 // arithmetic mean; sample standard deviation (n−1), 0 for N = 1
	Min, Max  float64
	P50, P99  float64 // quantiles, linear interpolation between order statistics
}

// Summarize returns the summary of xs. NaN values are counted in NaN and otherwise
// ignored; ±Inf values take part (a mean with an infinite value is infinite). With
// no values left every statistic is NaN.
//
// Quantiles use linear interpolation between the order statistics x_(1) ≤ … ≤ x_(n):
// Q(p) = x_(⌊h⌋+1) + (h − ⌊h⌋)(x_(⌊h⌋+2) − x_(⌊h⌋+1)) with h = (n−1)p (Hyndman and
// Fan's type 7, the default of R and NumPy).
func Summarize(xs []float64) Dist {
	v := make([]float64, 0, len(xs))
	var d Dist
	for _, x := range xs {
		if math.IsNaN(x) {
			d.NaN++
			continue
		}
		v = append(v, x)
	}
	d.N = len(v)
	if d.N == 0 {
		nan := math.NaN()
		d.Mean, d.Std, d.Min, d.Max, d.P50, d.P99 = nan, nan, nan, nan, nan, nan
		return d
	}
	slices.Sort(v)
	d.Mean, d.Std = meanStd(v)
	d.Min, d.Max = v[0], v[len(v)-1]
	d.P50 = Quantile(v, 0.5)
	d.P99 = Quantile(v, 0.99)
	return d
}

// Quantile returns the p-quantile (0 ≤ p ≤ 1) of the sorted, NaN-free sample s by
// linear interpolation (type 7, see Summarize). It is NaN for an empty sample or p
// outside [0, 1].
func Quantile(s []float64, p float64) float64 {
	if len(s) == 0 || !(p >= 0 && p <= 1) {
		return math.NaN()
	}
	h := float64(len(s)-1) * p
	lo := int(math.Floor(h))
	if lo >= len(s)-1 {
		return s[len(s)-1]
	}
	f := h - float64(lo)
	if f == 0 {
		return s[lo]
	}
	return s[lo] + f*(s[lo+1]-s[lo])
}

// meanStd returns the mean and the sample standard deviation (n−1 denominator, 0 for
// a single value), with the two-pass formula.
func meanStd(v []float64) (mean, std float64) {
	var s float64
	for _, x := range v {
		s += x
	}
	mean = s / float64(len(v))
	if len(v) < 2 {
		return mean, 0
	}
	var ss float64
	for _, x := range v {
		ss += (x - mean) * (x - mean)
	}
	return mean, math.Sqrt(ss / float64(len(v)-1))
}

// WilsonCI returns the Wilson score interval for a binomial proportion with k
// successes in n trials at standard-normal quantile z (1.96 for 95%):
//
//	center = (p̂ + z²/2n) / (1 + z²/n)
//	half   = z/(1 + z²/n) · √(p̂(1−p̂)/n + z²/4n²)
//
// with p̂ = k/n. Unlike the normal (Wald) interval it stays inside [0, 1] and is
// sensible at k = 0 or k = n. It returns NaN, NaN when n ≤ 0, k is outside [0, n]
// or z < 0.
func WilsonCI(k, n int, z float64) (lo, hi float64) {
	if n <= 0 || k < 0 || k > n || !(z >= 0) {
		return math.NaN(), math.NaN()
	}
	fn := float64(n)
	p := float64(k) / fn
	z2 := z * z
	den := 1 + z2/fn
	center := (p + z2/(2*fn)) / den
	half := z / den * math.Sqrt(p*(1-p)/fn+z2/(4*fn*fn))
	return max(0, center-half), min(1, center+half)
}

// MeanCI returns the normal-approximation confidence interval of the mean of xs,
// mean ± z·s/√n with s the sample standard deviation (z = 1.96 for 95%). It suits
// means of bounded per-item scores over hundreds of items (such as TruthfulQA MC2);
// for a proportion of successes use WilsonCI. NaN values are ignored; with fewer
// than two values it returns NaN, NaN.
func MeanCI(xs []float64, z float64) (lo, hi float64) {
	v := make([]float64, 0, len(xs))
	for _, x := range xs {
		if !math.IsNaN(x) {
			v = append(v, x)
		}
	}
	if len(v) < 2 || !(z >= 0) {
		return math.NaN(), math.NaN()
	}
	m, s := meanStd(v)
	half := z * s / math.Sqrt(float64(len(v)))
	return m - half, m + half
}
