package series

import (
	"math"
	"math/cmplx"
	"testing"
)

// rootTestRadius estimates the radius of convergence from coefficients
// lo..hi of a long Taylor expansion (Cauchy–Hadamard): the smallest
// |c_k|^(−1/k) over the window. With simple poles, c_k ≈ A·R^(−k)·(an
// oscillating factor), so the estimate is off by a factor A^(1/k), about 1%
// at k ≈ 140.
func rootTestRadius(c []float64, lo, hi int) float64 {
	est := math.Inf(1)
	for k := lo; k <= hi; k++ {
		if c[k] != 0 {
			est = math.Min(est, math.Pow(math.Abs(c[k]), -1/float64(k)))
		}
	}
	return est
}

// TestRadiusFromCoefficientGrowth checks Radius against the growth of the
// Taylor coefficients themselves at order 120..160.
func TestRadiusFromCoefficientGrowth(t *testing.T) {
	for _, a := range []Activation{SiLU, GELUTanh} {
		for _, x0 := range []float64{-8, -5, -3, -1, 0, 0.5, 2, 3.5, 5, 8} {
			c := Taylor(a, x0, 160)
			est, r := rootTestRadius(c, 120, 160), Radius(a, x0)
			if !(math.Abs(est-r) <= 0.03*r) {
				t.Errorf("%v x0=%g: Radius = %.4f, coefficient growth says %.4f", a, x0, r, est)
			}
		}
	}
	// GELU is entire: |c_k|^(−1/k) keeps growing (like √k). (Far from 0 the
	// factor e^(−x0²/2) in every coefficient slows the visible growth, hence
	// the moderate x0.)
	for _, x0 := range []float64{-4, -2, 0, 1, 3} {
		c := Taylor(GELU, x0, 160)
		lo, hi := rootTestRadius(c, 30, 40), rootTestRadius(c, 150, 160)
		if !(hi > 1.5*lo) || !math.IsInf(Radius(GELU, x0), 1) {
			t.Errorf("GELU x0=%g: root-test radius %.3g at k≈35 and %.3g at k≈155, Radius %g; want growth and +Inf",
				x0, lo, hi, Radius(GELU, x0))
		}
	}
}

func TestSiLURadiusPole(t *testing.T) {
	// The nearest singularities of x·σ(x) are ±iπ: 1 + e^{−z} vanishes there.
	if v := cmplx.Abs(1 + cmplx.Exp(complex(0, -math.Pi))); !(v <= 1e-15) {
		t.Errorf("|1 + e^{−iπ}| = %g", v)
	}
	for _, x0 := range []float64{-3, 0, 0.5, 10} {
		if got, want := SiLURadius(x0), cmplx.Abs(complex(0, math.Pi)-complex(x0, 0)); !(math.Abs(got-want) <= 1e-15*want) {
			t.Errorf("SiLURadius(%g) = %.17g, distance to iπ %.17g", x0, got, want)
		}
		if Radius(SiLU, x0) != SiLURadius(x0) {
			t.Errorf("Radius(SiLU, %g) = %g, SiLURadius %g", x0, Radius(SiLU, x0), SiLURadius(x0))
		}
	}
}

// geluTanhQ returns √(2/π)(z + 0.044715z³).
func geluTanhQ(z complex128) complex128 {
	return complex(sqrt2OverPi, 0) * (z + complex(geluTanhA, 0)*z*z*z)
}

// TestGELUTanhPoles checks that the closed-form poles solve q(z) = iπ(m+½),
// i.e. that cosh q vanishes there, up to huge m.
func TestGELUTanhPoles(t *testing.T) {
	yScale := math.Pi / sqrt2OverPi
	for _, m := range []float64{0, 1, 2, 3, 10, 57, 300, 1e4, 1e8, 1e12} {
		al, be := geluTanhPole(yScale * (m + 0.5))
		z := complex(al, be)
		q := geluTanhQ(z)
		want := complex(0, math.Pi*(m+0.5))
		if d := cmplx.Abs(q - want); !(d <= 1e-14*cmplx.Abs(want)) {
			t.Errorf("m=%g: pole %v has q = %v, want %v", m, z, q, want)
		}
		if m < 100 {
			if c, s := cmplx.Abs(cmplx.Cosh(q)), cmplx.Abs(cmplx.Sinh(q)); !(c <= 1e-12*s) {
				t.Errorf("m=%g: |cosh q(%v)| = %g (|sinh| %g), want 0", m, z, c, s)
			}
		}
	}
}

// cubicRoots returns the roots of z³ + p·z + q by Durand–Kerner iteration
// followed by Newton polishing.
func cubicRoots(p, q complex128) [3]complex128 {
	f := func(z complex128) complex128 { return z*z*z + p*z + q }
	scale := complex(1+math.Cbrt(cmplx.Abs(q))+math.Sqrt(cmplx.Abs(p)), 0)
	z := [3]complex128{scale * 0.4i, scale * (0.4 + 0.9i), scale * (-0.7 - 0.3i)}
	for range 500 {
		step := 0.0
		for i := range z {
			den := complex(1, 0)
			for j := range z {
				if j != i {
					den *= z[i] - z[j]
				}
			}
			d := f(z[i]) / den
			z[i] -= d
			step = math.Max(step, cmplx.Abs(d)/cmplx.Abs(scale))
		}
		if step < 1e-15 {
			break
		}
	}
	for i := range z {
		for range 3 {
			z[i] -= f(z[i]) / (3*z[i]*z[i] + p)
		}
	}
	return z
}

// bruteGELUTanhRadius finds the nearest zero of cosh q(z) to x0 by solving
// a·z³ + z = ±iπ(m+½)/√(2/π) for every m until the roots are provably
// farther away than the best one found (|z| ≥ r with a·r³ + r = |y|).
func bruteGELUTanhRadius(t *testing.T, x0 float64) float64 {
	const a = geluTanhA
	best := math.Inf(1)
	for m := 0; ; m++ {
		y := math.Pi * (float64(m) + 0.5) / sqrt2OverPi
		// Lower bound on |z|: bisect a·r³ + r = y.
		lo, hi := 0.0, y
		for range 100 {
			mid := (lo + hi) / 2
			if a*mid*mid*mid+mid < y {
				lo = mid
			} else {
				hi = mid
			}
		}
		if lo-math.Abs(x0) > best {
			return best
		}
		for _, s := range []float64{1, -1} { // q = ±iπ(m+½)
			for _, z := range cubicRoots(complex(1/a, 0), complex(0, -s*y/a)) {
				if res := cmplx.Abs(a*z*z*z + z - complex(0, s*y)); !(res <= 1e-10*y) {
					t.Fatalf("m=%d: root %v has residual %g", m, z, res)
				}
				best = math.Min(best, cmplx.Abs(z-complex(x0, 0)))
			}
		}
	}
}

func TestGELUTanhRadiusBruteForce(t *testing.T) {
	for i := -40; i <= 40; i++ {
		x0 := float64(i)*0.75 + 0.1
		got, want := Radius(GELUTanh, x0), bruteGELUTanhRadius(t, x0)
		if !(math.Abs(got-want) <= 1e-12*want) {
			t.Errorf("Radius(GELUTanh, %g) = %.17g, brute force %.17g", x0, got, want)
		}
	}
	// Far out the nearest poles hug the ray arg z = π/6, at distance |x0|/2.
	for _, x0 := range []float64{1e4, -1e7, 1e30, 1e200, math.MaxFloat64} {
		if got := Radius(GELUTanh, x0); !(math.Abs(got-math.Abs(x0)/2) <= 1e-3*math.Abs(x0)) {
			t.Errorf("Radius(GELUTanh, %g) = %g, want about %g", x0, got, math.Abs(x0)/2)
		}
	}
}

func TestRadiusInputs(t *testing.T) {
	tests := []struct {
		a    Activation
		x0   float64
		want float64
	}{
		{GELU, 0, math.Inf(1)},
		{GELU, -3, math.Inf(1)},
		{SiLU, math.Inf(1), math.Inf(1)},
		{GELUTanh, math.Inf(-1), math.Inf(1)},
		{SiLU, math.NaN(), math.NaN()},
		{GELUTanh, math.NaN(), math.NaN()},
		{Activation(5), 1, math.NaN()},
	}
	for _, tt := range tests {
		got := Radius(tt.a, tt.x0)
		if got != tt.want && !(math.IsNaN(got) && math.IsNaN(tt.want)) {
			t.Errorf("Radius(%v, %g) = %g, want %g", tt.a, tt.x0, got, tt.want)
		}
	}
	// Symmetry: the poles come in pairs ±α + iβ.
	for _, x0 := range []float64{0.3, 2, 7.5} {
		if Radius(GELUTanh, x0) != Radius(GELUTanh, -x0) {
			t.Errorf("Radius(GELUTanh) not even at %g", x0)
		}
	}
}
