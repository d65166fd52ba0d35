package series

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
)

var allActivations = []Activation{SiLU, GELU, GELUTanh}

// expansionPoints is the grid of x0 the coefficient tests use: [−8, 8] in
// steps of ½ (which includes 0, where every odd coefficient from c_3 on
// vanishes, and −3, where GELU's c_5 vanishes exactly), plus a few points off
// the grid.
func expansionPoints() []float64 {
	var xs []float64
	for i := -16; i <= 16; i++ {
		xs = append(xs, float64(i)/2)
	}
	return append(xs, -math.Pi, -0.1, 0.1, math.E, 1/math.Sqrt2, 6.283, -7.77)
}

// localRadius is the r in coeffScale: the radius of convergence for SiLU and
// GELUTanh, and √(k+1) for the entire GELU, whose Cauchy estimate
// |c_k| ≤ max_{|z−x0|=r}|f(z)|/r^k is tightest near r = √k because |f| grows
// like e^{r²/2} off the real axis.
func localRadius(a Activation, x0 float64, k int) float64 {
	if a == GELU {
		return math.Sqrt(float64(k + 1))
	}
	return Radius(a, x0)
}

// coeffScale returns the magnitude coefficient k "should" have, judged from
// its neighbours: max over 0 < |j−k| ≤ 2 of |ref_j|·r^(j−k). Coefficients of
// these activations decay like r^(−k) times an oscillating factor (a pair of
// complex-conjugate poles gives c_k ∝ R^(−k)·cos(kθ+φ)), so individual
// coefficients can be arbitrarily close to zero (exactly zero at x0 = 0 for
// odd k ≥ 3, and GELU's c_5 at x0 = −3). A relative error is meaningless
// there: what matters downstream is the error of the term c_k·Δ^k against
// the neighbouring terms of the series, which is what comparing against
// the neighbours' size rescaled by r measures. For typical coefficients the
// scale is about |ref_k| (the test logs the median of scale/|ref_k|, about
// 1.5, and the plain relative error wherever |ref_k| ≥ 10⁻³·scale), so the
// test stays essentially a relative test there.
func coeffScale(a Activation, x0 float64, ref []float64, k int) float64 {
	r := localRadius(a, x0, k)
	var s float64
	for j := max(0, k-2); j <= min(len(ref)-1, k+2); j++ {
		if j != k {
			s = math.Max(s, math.Abs(ref[j])*math.Pow(r, float64(j-k)))
		}
	}
	return s
}

// TestTaylorMatchesReference compares every coefficient up to order 32 with
// the independent 256-bit reference of bigref_test.go:
// |got − ref| ≤ 1e-10·max(|ref|, coeffScale).
func TestTaylorMatchesReference(t *testing.T) {
	const n, tol = 32, 1e-10
	bands := [][2]int{{0, 8}, {9, 16}, {17, 24}, {25, 32}}
	var report strings.Builder
	for _, a := range allActivations {
		worst := make([]float64, len(bands))    // |got−ref| / max(|ref|, scale)
		worstRel := make([]float64, len(bands)) // |got−ref| / |ref| where |ref| ≥ 1e-3·scale
		worstAt := make([]string, len(bands))
		var ratios []float64 // scale/|ref|
		for _, x0 := range expansionPoints() {
			got, ref := Taylor(a, x0, n), refTaylor(a, x0, n)
			if len(got) != n+1 {
				t.Fatalf("Taylor(%v, %g, %d) returned %d coefficients", a, x0, n, len(got))
			}
			for k := range got {
				d := math.Abs(got[k] - ref[k])
				sc := coeffScale(a, x0, ref, k)
				e := d / math.Max(math.Abs(ref[k]), sc)
				if !(e <= tol) {
					t.Errorf("%v x0=%g c_%d = %.17g, reference %.17g (|diff| %.3g, scale %.3g)",
						a, x0, k, got[k], ref[k], d, sc)
				}
				b := 0
				for k > bands[b][1] {
					b++
				}
				if e > worst[b] {
					worst[b], worstAt[b] = e, fmt.Sprintf("x0=%g k=%d", x0, k)
				}
				if math.Abs(ref[k]) >= 1e-3*sc {
					worstRel[b] = math.Max(worstRel[b], d/math.Abs(ref[k]))
				}
				ratios = append(ratios, sc/math.Abs(ref[k]))
			}
		}
		for b, band := range bands {
			fmt.Fprintf(&report, "%-9v k=%2d..%2d  scaled %.2e (%s)  plain relative %.2e\n",
				a, band[0], band[1], worst[b], worstAt[b], worstRel[b])
		}
		slices.Sort(ratios)
		fmt.Fprintf(&report, "%-9v median scale/|ref| %.2f\n", a, ratios[len(ratios)/2])
	}
	t.Logf("max disagreement with the 256-bit reference over %d expansion points:\n%s",
		len(expansionPoints()), report.String())
}

// TestTaylorOddSymmetry checks a(x) − a(−x) = x, which holds for all three
// activations (each is x·F(x) with F(x) + F(−x) = 1). In coefficients:
// c_0(−x0) = c_0(x0) − x0, c_1(−x0) = 1 − c_1(x0), c_k(−x0) = (−1)^k c_k(x0).
func TestTaylorOddSymmetry(t *testing.T) {
	const n = 24
	for _, a := range allActivations {
		for _, x0 := range []float64{0.25, 1, 2.5, 4, 7} {
			p, m := Taylor(a, x0, n), Taylor(a, -x0, n)
			ref := refTaylor(a, x0, n)
			for k := range m {
				want, size := p[k], math.Max(math.Abs(ref[k]), coeffScale(a, x0, ref, k))
				switch {
				case k == 0:
					want, size = p[0]-x0, math.Max(size, math.Abs(x0))
				case k == 1:
					want, size = 1-p[1], math.Max(size, 1)
				case k%2 == 1:
					want = -p[k]
				}
				if d := math.Abs(m[k] - want); !(d <= 1e-12*size) {
					t.Errorf("%v: c_%d(%g) = %.17g, symmetry wants %.17g", a, k, -x0, m[k], want)
				}
			}
		}
	}
}

// TestTaylorSumsToActivation checks Σ c_k Δ^k ≈ a(x0+Δ) well inside the
// radius of convergence (|Δ| ≤ R/2, so the truncation error at order 100 is
// below 2^−100 of the series' scale) and, for the entire GELU, at |Δ| ≤ 3.
func TestTaylorSumsToActivation(t *testing.T) {
	const n = 100
	for _, a := range allActivations {
		for _, x0 := range []float64{-8, -4.5, -1, 0, 0.3, 2, 5, 8} {
			c := Taylor(a, x0, n)
			r := Radius(a, x0) / 2
			if a == GELU {
				r = 3
			}
			for _, f := range []float64{-1, -0.6, -0.2, 0.2, 0.6, 1} {
				delta := f * r
				var sum, abs float64
				for k := n; k >= 0; k-- {
					sum = sum*delta + c[k]
					abs = abs*math.Abs(delta) + math.Abs(c[k])
				}
				want := a.Eval(x0 + delta)
				if d := math.Abs(sum - want); !(d <= 1e-13*abs) {
					t.Errorf("%v: Taylor about %g summed at Δ=%g gives %.17g, want %.17g (|diff| %.3g, Σ|c_k Δ^k| %.3g)",
						a, x0, delta, sum, want, d, abs)
				}
			}
		}
	}
}

func TestTaylorInputs(t *testing.T) {
	if c := Taylor(SiLU, 1, -1); c != nil {
		t.Errorf("Taylor(n=-1) = %v, want nil", c)
	}
	if c := Taylor(Activation(7), 1, 4); c != nil {
		t.Errorf("Taylor(unknown activation) = %v, want nil", c)
	}
	for _, x0 := range []float64{math.NaN(), math.Inf(1), math.Inf(-1)} {
		c := Taylor(GELU, x0, 3)
		if len(c) != 4 {
			t.Fatalf("Taylor(x0=%g) returned %d coefficients, want 4", x0, len(c))
		}
		for k, v := range c {
			if !math.IsNaN(v) {
				t.Errorf("Taylor(x0=%g) c_%d = %g, want NaN", x0, k, v)
			}
		}
	}
	// Far from the origin every coefficient stays finite and c_0 = a(x0).
	for _, a := range allActivations {
		for _, x0 := range []float64{-math.MaxFloat64, -1e200, -1e103, -1000, -40, -22, 22, 40, 1000, 1e103, 1e200, math.MaxFloat64} {
			c := Taylor(a, x0, 32)
			for k, v := range c {
				if math.IsNaN(v) || math.IsInf(v, 0) {
					t.Errorf("Taylor(%v, %g) c_%d = %g", a, x0, k, v)
				}
			}
			if c[0] != a.Eval(x0) {
				t.Errorf("Taylor(%v, %g) c_0 = %g, Eval = %g", a, x0, c[0], a.Eval(x0))
			}
		}
		if c := Taylor(a, 0.7, 0); len(c) != 1 || c[0] != a.Eval(0.7) {
			t.Errorf("Taylor(%v, 0.7, 0) = %v, want [%g]", a, c, a.Eval(0.7))
		}
	}
}

// TestReferenceMachinery checks the big-float building blocks of the
// reference against the standard library, and the reference's first two
// coefficients against closed-form values and derivatives.
func TestReferenceMachinery(t *testing.T) {
	if p, _ := bigPi().Float64(); p != math.Pi {
		t.Errorf("bigPi = %.17g", p)
	}
	pi := bigPi()
	for _, x := range []float64{-50, -8, -1, -1e-3, 0, 0.5, 3, 40} {
		if e, _ := bigExp(bf(x)).Float64(); !(math.Abs(e-math.Exp(x)) <= 1e-15*math.Exp(x)) {
			t.Errorf("bigExp(%g) = %.17g, math.Exp %.17g", x, e, math.Exp(x))
		}
		if e, _ := bigErf(bf(x/8), pi).Float64(); !(math.Abs(e-math.Erf(x/8)) <= 2e-16) {
			t.Errorf("bigErf(%g) = %.17g, math.Erf %.17g", x/8, e, math.Erf(x/8))
		}
	}
	for _, x := range []float64{-6, -2, -0.5, 0.4, 1.5, 6} {
		s := 1 / (1 + math.Exp(-x))
		phi := math.Exp(-x*x/2) / math.Sqrt(2*math.Pi)
		cdf := 0.5 * math.Erfc(-x/math.Sqrt2)
		c := sqrt2OverPi
		q := c * (x + geluTanhA*x*x*x)
		th := math.Tanh(q)
		want := map[Activation][2]float64{
			SiLU: {x * s, s + x*s*(1-s)},
			GELU: {x * cdf, cdf + x*phi},
			GELUTanh: {0.5 * x * (1 + th),
				0.5*(1+th) + 0.5*x*(1-th*th)*c*(1+3*geluTanhA*x*x)},
		}
		for a, w := range want {
			ref := refTaylor(a, x, 1)
			for k := range 2 {
				if !(math.Abs(ref[k]-w[k]) <= 1e-14*math.Max(1, math.Abs(w[k]))) {
					t.Errorf("reference %v c_%d(%g) = %.17g, closed form %.17g", a, k, x, ref[k], w[k])
				}
			}
		}
	}
}

func BenchmarkTaylor(b *testing.B) {
	for _, a := range allActivations {
		b.Run(a.String(), func(b *testing.B) {
			x0 := 0.37
			for b.Loop() {
				Taylor(a, x0, 24)
			}
		})
	}
}
