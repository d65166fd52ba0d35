package release

import (
	"fmt"
	"math"

	"github.com/unswift/unswift/internal/calib"
	"github.com/unswift/unswift/internal/series"
)

// fit computes the basis coefficients of original channel j, expanded around
// z0 (taylor) or on its widened calibrated interval centred at c (chebyshev,
// lsq), and appends them to the plan.
func (lp *LayerPlan) fit(opt Options, act series.Activation, cl *calib.Layer, j int, c float64) error {
	if opt.Basis == "taylor" {
		lp.Coef = append(lp.Coef, series.Taylor(act, c, opt.Order))
		return nil
	}
	r := cl.Range(j)
	h := r/2 + opt.Margin*r/2
	if h < 1e-3 { // a (nearly) constant channel
		h = 1e-3
	}
	lo, hi := c-h, c+h
	var b []float64
	if opt.Basis == "chebyshev" {
		b = series.ChebyshevFit(act, lo, hi, opt.Order)
	} else {
		var err error
		if b, err = lsqFit(act, c, h, opt.Order, cl.Samples[j]); err != nil {
			return err
		}
	}
	if b == nil {
		return fmt.Errorf("cannot fit the activation on [%g, %g]", lo, hi)
	}
	lp.H = append(lp.H, h)
	lp.Coef = append(lp.Coef, b)
	lp.Slope = append(lp.Slope, [2]float64{series.Taylor(act, lo, 1)[1], series.Taylor(act, hi, 1)[1]})
	return nil
}

// lsqFit returns the coefficients b_0..b_n of the polynomial Σ b_k T_k(t),
// t = (x − c)/h, that fits the activation best in least squares over the
// calibration samples (clamped to the interval), regularised by the
// interpolation points so that the whole interval stays well fitted: the
// Chebyshev nodes carry 5% of the total weight.
func lsqFit(act series.Activation, c, h float64, n int, samples []float32) ([]float64, error) {
	if len(samples) == 0 {
		return nil, fmt.Errorf("no calibration samples for the lsq basis")
	}
	m := n + 1
	ata := make([]float64, m*m)
	atb := make([]float64, m)
	tk := make([]float64, m)
	add := func(t, w float64) {
		t = max(-1, min(1, t))
		tk[0] = 1
		if m > 1 {
			tk[1] = t
		}
		for k := 2; k < m; k++ {
			tk[k] = 2*t*tk[k-1] - tk[k-2]
		}
		y := act.Eval(c + h*t)
		for a := 0; a < m; a++ {
			atb[a] += w * tk[a] * y
			for b := 0; b < m; b++ {
				ata[a*m+b] += w * tk[a] * tk[b]
			}
		}
	}
	for _, x := range samples {
		add((float64(x)-c)/h, 1/float64(len(samples)))
	}
	nodes := 2 * m
	for i := 0; i < nodes; i++ {
		add(math.Cos(math.Pi*(float64(i)+0.5)/float64(nodes)), 0.05/float64(nodes))
	}
	return solveSPD(ata, atb, m)
}

// solveSPD solves the symmetric positive definite system A x = b by Cholesky
// factorisation (with a tiny ridge for conditioning).
func solveSPD(a, b []float64, m int) ([]float64, error) {
	l := make([]float64, m*m)
	for i := 0; i < m; i++ {
		for j := 0; j <= i; j++ {
			s := a[i*m+j]
			if i == j {
				s += 1e-13
			}
			for k := 0; k < j; k++ {
				s -= l[i*m+k] * l[j*m+k]
			}
			if i == j {
				if s <= 0 {
					return nil, fmt.Errorf("least-squares system is singular")
				}
				l[i*m+i] = math.Sqrt(s)
			} else {
				l[i*m+j] = s / l[j*m+j]
			}
		}
	}
	y := make([]float64, m)
	for i := 0; i < m; i++ {
		s := b[i]
		for k := 0; k < i; k++ {
			s -= l[i*m+k] * y[k]
		}
		y[i] = s / l[i*m+i]
	}
	x := make([]float64, m)
	for i := m - 1; i >= 0; i-- {
		s := y[i]
		for k := i + 1; k < m; k++ {
			s -= l[k*m+i] * x[k]
		}
		x[i] = s / l[i*m+i]
	}
	return x, nil
}
