package series

import (
	"math"
	"math/cmplx"
	"testing"
)

// TestChebyshevBasis checks Clenshaw evaluation of a unit coefficient vector
// against the definition T_k(t) = cos(k·acos t).
func TestChebyshevBasis(t *testing.T) {
	for k := 0; k <= 64; k++ {
		b := make([]float64, k+1)
		b[k] = 1
		for i := 0; i <= 1000; i++ {
			x := -1 + float64(i)/500
			want := math.Cos(float64(k) * math.Acos(x))
			if got := ChebyshevEval(b, x); !(math.Abs(got-want) <= 1e-12) {
				t.Fatalf("T_%d(%g) = %.17g, cos(k·acos t) = %.17g", k, x, got, want)
			}
		}
	}
	if v := ChebyshevEval(nil, 0.3); v != 0 {
		t.Errorf("ChebyshevEval(nil) = %g, want 0", v)
	}
	// Outside [−1, 1]: T_2(2) = 2·2² − 1 = 7, T_3(−3) = 4·(−27) − 3·(−3) = −99.
	if v := ChebyshevEval([]float64{0, 0, 1}, 2); v != 7 {
		t.Errorf("T_2(2) = %g, want 7", v)
	}
	if v := ChebyshevEval([]float64{0, 0, 0, 1}, -3); v != -99 {
		t.Errorf("T_3(-3) = %g, want -99", v)
	}
}

// TestChebyshevFitPolynomials checks that interpolation reproduces a
// polynomial of degree ≤ n exactly.
func TestChebyshevFitPolynomials(t *testing.T) {
	// x³ on [0, 2]: with x = 1 + t, (1+t)³ = 1 + 3t + 3t² + t³ and t² = (T_0+T_2)/2,
	// t³ = (3T_1+T_3)/4, so x³ = 2.5·T_0 + 3.75·T_1 + 1.5·T_2 + 0.25·T_3.
	want := []float64{2.5, 3.75, 1.5, 0.25, 0, 0}
	got := chebyshevFit(func(x float64) float64 { return x * x * x }, 0, 2, 5)
	for k := range want {
		if !(math.Abs(got[k]-want[k]) <= 1e-14) {
			t.Errorf("x³ on [0,2]: b_%d = %.17g, want %g", k, got[k], want[k])
		}
	}
	// T_m((x − c)/h) itself, on an off-centre interval.
	lo, hi := -5.0, 3.0
	for m := 0; m <= 12; m++ {
		f := func(x float64) float64 { return math.Cos(float64(m) * math.Acos(math.Max(-1, math.Min(1, (x+1)/4)))) }
		b := chebyshevFit(f, lo, hi, 12)
		for k, v := range b {
			w := 0.0
			if k == m {
				w = 1
			}
			if !(math.Abs(v-w) <= 1e-14) {
				t.Errorf("fit of T_%d: b_%d = %.3g, want %g", m, k, v, w)
			}
		}
	}
}

// TestChebyshevInterpolates checks the interpolant matches the activation at
// the Chebyshev nodes.
func TestChebyshevInterpolates(t *testing.T) {
	const lo, hi, n = -5.0, 3.0, 20
	for _, a := range allActivations {
		b := ChebyshevFit(a, lo, hi, n)
		for j := range n + 1 {
			tj := math.Cos(math.Pi * (float64(j) + 0.5) / float64(n+1))
			x := (lo+hi)/2 + (hi-lo)/2*tj
			if got, want := ChebyshevEval(b, tj), a.Eval(x); !(math.Abs(got-want) <= 1e-14*5) {
				t.Errorf("%v: interpolant at node %g = %.17g, activation %.17g", a, x, got, want)
			}
		}
	}
}

// maxInterpError returns the largest |interpolant − a| on a dense grid.
func maxInterpError(a Activation, lo, hi float64, n int) float64 {
	b := ChebyshevFit(a, lo, hi, n)
	worst := 0.0
	for i := 0; i <= 4000; i++ {
		tt := -1 + float64(i)/2000
		x := (lo+hi)/2 + (hi-lo)/2*tt
		worst = math.Max(worst, math.Abs(ChebyshevEval(b, tt)-a.Eval(x)))
	}
	return worst
}

func TestChebyshevActivationError(t *testing.T) {
	tests := []struct {
		lo, hi float64
		n      int
		tol    float64
	}{
		{-2, 2, 16, 1e-8},
		{-6, 6, 32, 1e-6},
		{-6, 6, 64, 1e-12},
	}
	for _, a := range allActivations {
		for _, tt := range tests {
			if e := maxInterpError(a, tt.lo, tt.hi, tt.n); !(e < tt.tol) {
				t.Errorf("%v: degree-%d interpolation error on [%g, %g] = %.3g, want < %g", a, tt.n, tt.lo, tt.hi, e, tt.tol)
			}
		}
		t.Logf("%v: degree-16 error on [-6, 6] %.2g, on [-2, 2] %.2g; degree-32 on [-6, 6] %.2g",
			a, maxInterpError(a, -6, 6, 16), maxInterpError(a, -2, 2, 16), maxInterpError(a, -6, 6, 32))
	}
}

// bernsteinRho returns the parameter ρ > 1 of the Bernstein ellipse (foci
// ±1) through the complex point t.
func bernsteinRho(t complex128) float64 {
	s := cmplx.Sqrt(t*t - 1)
	return math.Max(cmplx.Abs(t+s), cmplx.Abs(t-s))
}

// TestChebyshevConvergenceRate checks that the Chebyshev coefficients of SiLU
// and GELUTanh decay like ρ^(−k), with ρ the Bernstein ellipse through the
// nearest pole (SiLU: iπ(2m+1); GELUTanh: the poles of Radius).
func TestChebyshevConvergenceRate(t *testing.T) {
	yScale := math.Pi / sqrt2OverPi
	for _, a := range []Activation{SiLU, GELUTanh} {
		for _, iv := range [][2]float64{{-6, 6}, {-5, 3}, {-2, 6}, {-1, 9}} {
			c, h := (iv[0]+iv[1])/2, (iv[1]-iv[0])/2
			rho := math.Inf(1)
			for m := range 50 {
				var z complex128
				if a == SiLU {
					z = complex(0, math.Pi*float64(2*m+1))
				} else {
					al, be := geluTanhPole(yScale * (float64(m) + 0.5))
					rho = math.Min(rho, bernsteinRho((complex(-al, be)-complex(c, 0))/complex(h, 0)))
					z = complex(al, be)
				}
				rho = math.Min(rho, bernsteinRho((z-complex(c, 0))/complex(h, 0)))
			}
			b := ChebyshevFit(a, iv[0], iv[1], 80)
			// Window maxima over k = 15..25 and 40..50 (still far above the
			// rounding floor ~1e-15).
			j1, j2 := 15, 40
			for k := 15; k <= 25; k++ {
				if math.Abs(b[k]) > math.Abs(b[j1]) {
					j1 = k
				}
			}
			for k := 40; k <= 50; k++ {
				if math.Abs(b[k]) > math.Abs(b[j2]) {
					j2 = k
				}
			}
			est := math.Pow(math.Abs(b[j1]/b[j2]), 1/float64(j2-j1))
			if !(math.Abs(est-rho) <= 0.05*rho) {
				t.Errorf("%v on [%g, %g]: coefficients decay like %.4f^-k, nearest pole predicts %.4f", a, iv[0], iv[1], est, rho)
			}
			t.Logf("%v on [%g, %g]: decay %.4f, predicted %.4f", a, iv[0], iv[1], est, rho)
		}
	}
}

func TestChebyshevFitInputs(t *testing.T) {
	nan, inf := math.NaN(), math.Inf(1)
	tests := []struct {
		a      Activation
		lo, hi float64
		n      int
	}{
		{SiLU, -1, 1, -1},
		{SiLU, 1, 1, 4},
		{SiLU, 2, 1, 4},
		{GELU, nan, 1, 4},
		{GELU, -1, nan, 4},
		{GELU, -inf, 1, 4},
		{GELU, -1, inf, 4},
		{Activation(3), -1, 1, 4},
	}
	for _, tt := range tests {
		if b := ChebyshevFit(tt.a, tt.lo, tt.hi, tt.n); b != nil {
			t.Errorf("ChebyshevFit(%v, %g, %g, %d) = %v, want nil", tt.a, tt.lo, tt.hi, tt.n, b)
		}
	}
	if b := ChebyshevFit(SiLU, -1, 1, 0); len(b) != 1 || !(math.Abs(b[0]-SiLU.Eval(0)) <= 1e-15) {
		t.Errorf("degree-0 fit = %v, want [SiLU(0)]", b)
	}
}
