package series

// An independent, high-precision reference for the Taylor coefficients.
//
// Nothing here shares code or method with taylor.go: the derivatives come from
// the classical closed-form recurrences, evaluated in math/big at refPrec bits,
// and are divided by exact factorials at the end.
//
//   - sigmoid: s' = s − s², hence s^(n+1) = s^(n) − Σ_{k=0..n} C(n,k) s^(k) s^(n−k);
//   - SiLU:    (x·s)^(n) = x·s^(n) + n·s^(n−1);
//   - GELU:    Φ^(m) = φ^(m−1) = (−1)^(m−1) He_{m−1}(x) φ(x), with the Hermite
//     recurrence He_{m+1} = x·He_m − m·He_{m−1}, and (x·Φ)^(n) = x·Φ^(n) + n·Φ^(n−1);
//   - GELUTanh = x·σ(h(x)), h(x) = 2√(2/π)(x + 0.044715x³): the sigmoid's
//     derivatives at h(x0) are composed with the cubic h by Faà di Bruno in
//     explicit form, σ(h(x0+t)) = Σ_m σ^(m)(h(x0))/m! · (h(x0+t) − h(x0))^m,
//     which is exact after truncation because h(x0+t) − h(x0) has no constant term.
//
// exp, erf and π are computed from their own series with big.Float.

import (
	"math/big"
)

const (
	refPrec  = 256 // bits of the reference results
	workPrec = refPrec + 64
)

func bf(x float64) *big.Float { return new(big.Float).SetPrec(workPrec).SetFloat64(x) }
func bi(n int64) *big.Float   { return new(big.Float).SetPrec(workPrec).SetInt64(n) }
func bz() *big.Float          { return new(big.Float).SetPrec(workPrec) }

func bmul(a, b *big.Float) *big.Float { return bz().Mul(a, b) }
func badd(a, b *big.Float) *big.Float { return bz().Add(a, b) }
func bsub(a, b *big.Float) *big.Float { return bz().Sub(a, b) }
func bquo(a, b *big.Float) *big.Float { return bz().Quo(a, b) }

// bigTiny reports whether |term| < 2^-(workPrec+8)·|sum|.
func bigTiny(term, sum *big.Float) bool {
	if term.Sign() == 0 {
		return true
	}
	if sum.Sign() == 0 {
		return false
	}
	return term.MantExp(nil)+workPrec+8 < sum.MantExp(nil)
}

// bigAtanInv returns atan(1/n) = Σ_k (−1)^k / ((2k+1) n^(2k+1)).
func bigAtanInv(n int64) *big.Float {
	sum := bz()
	pow := bquo(bi(1), bi(n)) // 1/n^(2k+1)
	nn := bi(n * n)
	for k := int64(0); ; k++ {
		term := bquo(pow, bi(2*k+1))
		if k%2 == 1 {
			term.Neg(term)
		}
		if bigTiny(term, sum) {
			return sum
		}
		sum = badd(sum, term)
		pow = bquo(pow, nn)
	}
}

// bigPi returns π by Machin's formula π = 16·atan(1/5) − 4·atan(1/239).
func bigPi() *big.Float {
	return bsub(bmul(bi(16), bigAtanInv(5)), bmul(bi(4), bigAtanInv(239)))
}

// bigExp returns e^x: the Taylor series of e^(x/2^r), squared r times.
func bigExp(x *big.Float) *big.Float {
	r := 0
	y := new(big.Float).Copy(x)
	for y.MantExp(nil) > -8 && y.Sign() != 0 {
		y.SetMantExp(y, -1)
		r++
	}
	sum, term := bi(1), bi(1)
	for k := int64(1); ; k++ {
		term = bquo(bmul(term, y), bi(k))
		if bigTiny(term, sum) {
			break
		}
		sum = badd(sum, term)
	}
	for ; r > 0; r-- {
		sum = bmul(sum, sum)
	}
	return sum
}

// bigErf returns erf(x) = (2/√π)·e^(−x²)·Σ_n 2^n x^(2n+1) / (1·3·…·(2n+1)),
// a series of same-sign terms.
func bigErf(x, pi *big.Float) *big.Float {
	x2 := bmul(x, x)
	sum, term := bz(), new(big.Float).Copy(x)
	for n := int64(0); ; n++ {
		if bigTiny(term, sum) {
			break
		}
		sum = badd(sum, term)
		term = bquo(bmul(bmul(term, x2), bi(2)), bi(2*n+3))
	}
	e := bigExp(bz().Neg(x2))
	sqrtPi := bz().Sqrt(pi)
	return bquo(bmul(bmul(bi(2), e), sum), sqrtPi)
}

// binom returns C(n, k) exactly (n ≤ 60).
func binom(n, k int) *big.Float {
	c := new(big.Int).Binomial(int64(n), int64(k))
	return bz().SetInt(c)
}

// bigSigmoidDerivs returns σ^(m)(y) for m = 0..n.
func bigSigmoidDerivs(y *big.Float, n int) []*big.Float {
	s := make([]*big.Float, n+1)
	s[0] = bquo(bi(1), badd(bi(1), bigExp(bz().Neg(y))))
	for m := 0; m < n; m++ {
		sum := bz()
		for k := 0; k <= m; k++ {
			sum = badd(sum, bmul(binom(m, k), bmul(s[k], s[m-k])))
		}
		s[m+1] = bsub(s[m], sum)
	}
	return s
}

// timesXDerivs returns the derivatives of x·f(x) at x0 from those of f:
// (x·f)^(n) = x0·f^(n) + n·f^(n−1).
func timesXDerivs(x0 *big.Float, f []*big.Float) []*big.Float {
	d := make([]*big.Float, len(f))
	for n := range f {
		d[n] = bmul(x0, f[n])
		if n > 0 {
			d[n] = badd(d[n], bmul(bi(int64(n)), f[n-1]))
		}
	}
	return d
}

// derivsToCoeffs divides the n-th derivative by n! and rounds to float64.
func derivsToCoeffs(d []*big.Float) []float64 {
	c := make([]float64, len(d))
	fact := bi(1)
	for n := range d {
		if n > 0 {
			fact = bmul(fact, bi(int64(n)))
		}
		c[n], _ = bquo(d[n], fact).Float64()
	}
	return c
}

// refTaylor returns c_k = a^(k)(x0)/k!, k = 0..n, computed independently of
// Taylor (see the file comment).
func refTaylor(a Activation, x0 float64, n int) []float64 {
	x := bf(x0)
	pi := bigPi()
	switch a {
	case SiLU:
		return derivsToCoeffs(timesXDerivs(x, bigSigmoidDerivs(x, n)))
	case GELU:
		// φ(x0) = e^(−x0²/2)/√(2π); Φ(x0) = ½(1 + erf(x0/√2)).
		phi := bquo(bigExp(bquo(bmul(x, x), bi(-2))), bz().Sqrt(bmul(bi(2), pi)))
		cdf := bquo(badd(bi(1), bigErf(bquo(x, bz().Sqrt(bi(2))), pi)), bi(2))
		he := []*big.Float{bi(1), new(big.Float).Copy(x)} // He_0, He_1
		for m := 1; m < n; m++ {
			he = append(he, bsub(bmul(x, he[m]), bmul(bi(int64(m)), he[m-1])))
		}
		f := make([]*big.Float, n+1) // f[m] = Φ^(m)(x0)
		f[0] = cdf
		for m := 1; m <= n; m++ {
			f[m] = bmul(he[m-1], phi)
			if (m-1)%2 == 1 {
				f[m].Neg(f[m])
			}
		}
		return derivsToCoeffs(timesXDerivs(x, f))
	case GELUTanh:
		aa, _ := bz().SetString("0.044715")
		cc := bmul(bi(2), bz().Sqrt(bquo(bi(2), pi))) // 2√(2/π)
		x2 := bmul(x, x)
		y0 := bmul(cc, badd(x, bmul(aa, bmul(x2, x))))
		// d(t) = h(x0+t) − h(x0) = d1·t + d2·t² + d3·t³.
		d := make([]*big.Float, n+1)
		for k := range d {
			d[k] = bz()
		}
		coef := []*big.Float{
			bz(),
			bmul(cc, badd(bi(1), bmul(bmul(bi(3), aa), x2))),
			bmul(cc, bmul(bmul(bi(3), aa), x)),
			bmul(cc, aa),
		}
		for k := 1; k <= min(3, n); k++ {
			d[k] = coef[k]
		}
		sd := bigSigmoidDerivs(y0, n)
		g := make([]*big.Float, n+1) // σ(h(x0+t)) series
		pw := make([]*big.Float, n+1)
		for k := range g {
			g[k], pw[k] = bz(), bz()
		}
		pw[0] = bi(1)
		fact := bi(1)
		for m := 0; m <= n; m++ {
			if m > 0 {
				fact = bmul(fact, bi(int64(m)))
				next := make([]*big.Float, n+1)
				for k := range next {
					next[k] = bz()
					for j := 1; j <= min(3, k); j++ {
						next[k] = badd(next[k], bmul(d[j], pw[k-j]))
					}
				}
				pw = next
			}
			w := bquo(sd[m], fact)
			for k := m; k <= n; k++ {
				g[k] = badd(g[k], bmul(w, pw[k]))
			}
		}
		c := make([]float64, n+1)
		for k := range c {
			v := bmul(x, g[k])
			if k > 0 {
				v = badd(v, g[k-1])
			}
			c[k], _ = v.Float64()
		}
		return c
	}
	return nil
}
