package series

import "math"

// SiLURadius returns the radius of convergence of the SiLU Taylor series about
// the real point x0: √(x0² + π²), the distance to the sigmoid's nearest poles
// at ±iπ (σ(z) = 1/(1 + e^{−z}) has poles at iπ(2m+1) for integer m).
func SiLURadius(x0 float64) float64 {
	return math.Hypot(x0, math.Pi)
}

// Radius returns the radius of convergence of the Taylor series of a about the
// real point x0, i.e. the distance from x0 to the nearest complex singularity:
//
//   - SiLU: SiLURadius(x0).
//   - GELU: +Inf (x·Φ(x) is entire).
//   - GELUTanh: the distance to the nearest zero of cosh q(z), where
//     q(z) = √(2/π)(z + 0.044715z³); see below.
//
// Radius returns +Inf for infinite x0 and NaN for NaN x0 or an unknown
// activation.
//
// The poles of GELUTanh solve q(z) = iπ(m+½), i.e. a·z³ + z = i·y_m with
// a = 0.044715 and y_m = π(m+½)/√(2/π). For every m ≥ 0 (m < 0 gives the
// complex conjugates) y_m exceeds 2/(3√(3a)), and the cubic then has one root
// on the negative imaginary axis and a pair ±α_m + iβ_m, where matching real
// and imaginary parts gives 8aβ_m³ − 2β_m = y_m and α_m² = 3β_m² − 1/a. The
// imaginary root is never the nearest one (it lies at −2iβ_m). Along the
// branch, the squared distance (|x0| − α)² + β² to x0 decreases while
// α < ¾|x0| and increases after, so the nearest pole has one of the two
// integers m next to the continuous minimiser α = ¾|x0|. Radius is thus
// computed in closed form; for large |x0| it approaches |x0|/2.
func Radius(a Activation, x0 float64) float64 {
	switch {
	case !a.valid() || math.IsNaN(x0):
		return math.NaN()
	case math.IsInf(x0, 0):
		return math.Inf(1)
	}
	switch a {
	case SiLU:
		return SiLURadius(x0)
	case GELU:
		return math.Inf(1)
	}
	return geluTanhRadius(x0)
}

// geluTanhPole returns the pole α + iβ (α, β > 0) of GELUTanh with
// q(α+iβ) = iπ(m+½), given y = π(m+½)/√(2/π) > 2/(3√(3a)).
func geluTanhPole(y float64) (alpha, beta float64) {
	const a = geluTanhA
	// β is the only positive root of β³ − β/(4a) − y/(8a) = 0 (Cardano, one
	// real root because y is above the critical value).
	d := y*y/(256*a*a) - 1/(1728*a*a*a)
	u := math.Cbrt(y/(16*a) + math.Sqrt(max(d, 0)))
	beta = u + 1/(12*a*u)
	// One Newton step on 8aβ³ − 2β − y removes Cardano's rounding error.
	beta -= (8*a*beta*beta*beta - 2*beta - y) / (24*a*beta*beta - 2)
	alpha = math.Sqrt(max(3*beta*beta-1/a, 0))
	return alpha, beta
}

// geluTanhRadius returns the distance from the finite real x0 to the nearest
// pole of GELUTanh (see Radius).
func geluTanhRadius(x0 float64) float64 {
	const a = geluTanhA
	x := math.Abs(x0)
	yScale := math.Pi / sqrt2OverPi // y_m = yScale·(m + ½)

	// Continuous minimiser along the branch: α = ¾x.
	as := 0.75 * x
	bs := math.Hypot(as, 1/math.Sqrt(a)) / math.Sqrt(3) // β² = (α² + 1/a)/3
	ys := 8*a*bs*bs*bs - 2*bs
	ms := ys/yScale - 0.5
	if math.IsInf(ms, 0) || ms > 1<<52 {
		// Poles are so dense along the branch (spacing ~1/x²) that the
		// continuous minimum is the answer to float64 precision.
		return math.Hypot(x-as, bs)
	}
	m0 := math.Max(0, math.Floor(ms))
	best := math.Inf(1)
	for _, m := range []float64{m0, m0 + 1} {
		al, be := geluTanhPole(yScale * (m + 0.5))
		best = math.Min(best, math.Hypot(x-al, be))
	}
	return best
}
