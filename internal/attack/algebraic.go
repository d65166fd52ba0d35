package attack

import (
	"fmt"
	"math"
	"sort"
	"time"

	"github.com/unswift/unswift/internal/model"
	"github.com/unswift/unswift/internal/series"
)

// How the algebraic attack recovered a channel.
const (
	// MethodTail: the tail blocks give the column directly. Linear tail: the
	// block is W[:, j]·s_j·h_j with h_j released, and the tail slopes (act' at
	// the interval edges, swapped by a negative sign) decide s_j. Exact tail:
	// the even block is W[:, j]·h_j and the odd block W[:, j]·s_j·h_j/2.
	MethodTail = "tail"
	// MethodFormula: Θ_n[:, j] = W[:, j]·b_n·s^n with b_n recomputed from the
	// released expansion point (and interval) for both signs; least squares
	// over the orders, lower residual wins.
	MethodFormula = "formula"
	// MethodFunction: for coefficients of an unknown rule (the lsq basis): the
	// columns' common direction, scaled so that the release's per-channel
	// polynomial best matches act(±g) on the released interval.
	MethodFunction = "function"
	// MethodPrior: the file cannot tell the sign (order 0 without a tail);
	// the candidate whose column norm is closer to the layer's typical
	// column norm is kept.
	MethodPrior = "norm-prior"
)

// Recovery is a down projection recovered from a release, per layer, in the
// release's channel order (expanded channels first), for the MLP with the
// release's gate rows multiplied by Sign (un-flipped); for a plain MLP the up
// rows and up-bias entries play the gate's part.
type Recovery struct {
	Kind     string // "algebraic" or "regression"
	Layers   []LayerRecovery
	Duration time.Duration
	Notes    []string // what the attack could not do
}

// LayerRecovery is one layer's recovered down projection.
type LayerRecovery struct {
	Dim, Hidden int
	Expanded    int
	Down        []float64 // Dim × Hidden, row-major, release channel order
	Sign        []float64 // per expanded channel: ±1, the recovered s_j (gate row k of the plain model is Sign[k]·released row k)
	Confident   []bool    // per expanded channel: the release file decided the column and its sign
	Method      []string  // per expanded channel: MethodTail, MethodFormula, MethodFunction or MethodPrior
	Residual    []float64 // per expanded channel: relative residual of the kept hypothesis
	Other       []float64 // per expanded channel: relative residual of the rejected hypothesis
	MinScale    float64   // smallest |b_0| (the order-0 scale) of the kept hypotheses
	Duration    time.Duration
}

// Confident returns the share of expanded channels the attack decided from
// the file alone.
func (r *Recovery) Confident() float64 {
	var n, c int
	for _, l := range r.Layers {
		for _, ok := range l.Confident {
			n++
			if ok {
				c++
			}
		}
	}
	if n == 0 {
		return 0
	}
	return float64(c) / float64(n)
}

// Options tune the algebraic attack. The zero value is the default.
type Options struct {
	// Progress, when set, is called after each layer.
	Progress func(done, total int)
}

// Algebraic recovers every layer's down projection from the release's
// coefficient tensors and expansion points alone (TAYLORMLP.md §5.1): no
// text, no original. Plain channels are copied from the file.
func Algebraic(rel *model.Model, opt Options) (*Recovery, error) {
	if err := checkRelease(rel); err != nil {
		return nil, err
	}
	t0 := time.Now()
	rec := &Recovery{Kind: "algebraic"}
	t := rel.Taylor
	for l := range rel.Weights.Layers {
		start := time.Now()
		d, err := readLayer(rel, l)
		if err != nil {
			return nil, err
		}
		lr := recoverLayer(d, t.Basis, t.Order, coefEps(rel.Weights.Layers[l].Taylor.Type))
		lr.Duration = time.Since(start)
		rec.Layers = append(rec.Layers, lr)
		if opt.Progress != nil {
			opt.Progress(l+1, len(rel.Weights.Layers))
		}
	}
	rec.Duration = time.Since(t0)
	if t.Order == 0 && (t.Tail == "" || t.Tail == "none") {
		rec.Notes = append(rec.Notes, "order 0 without a tail: Θ_0[:, j] = W[:, j]·b_0 gives each column exactly once b_0 is known, "+
			"but one order cannot tell the secret sign: both signs fit with zero residual and the release computes the same function "+
			"either way; the sign was guessed from column norms ("+MethodPrior+")")
	}
	return rec, nil
}

// hypothesis is one sign's candidate column.
type hypothesis struct {
	w      []float64
	res    float64 // relative squared residual
	scale0 float64 // the order-0 scalar used
}

// recoverLayer runs the per-channel attack on one layer.
func recoverLayer(d *layerData, basis string, order int, eps float64) LayerRecovery {
	lr := LayerRecovery{Dim: d.dim, Hidden: d.hidden, Expanded: d.e, Down: make([]float64, d.dim*d.hidden),
		Sign: make([]float64, d.e), Confident: make([]bool, d.e), Method: make([]string, d.e),
		Residual: make([]float64, d.e), Other: make([]float64, d.e)}
	scale0 := make([]float64, d.e)
	// Plain channels are in the clear.
	for i := 0; i < d.hidden-d.e; i++ {
		for r := 0; r < d.dim; r++ {
			lr.Down[r*d.hidden+d.e+i] = d.theta[r*d.cols+i]
		}
	}
	fitTol := formulaTolerance(eps)
	cols := make([][]float64, order+1)
	for n := range cols {
		cols[n] = make([]float64, d.dim)
	}
	tail := make([]float64, d.dim)
	odd := make([]float64, d.dim)
	var undecided []int
	cand := map[int][2]hypothesis{}
	for k := 0; k < d.e; k++ {
		for n := range cols {
			d.column(d.col(n, k), cols[n])
		}
		var h float64
		if d.invH != nil {
			h = 1 / d.invH[k]
		}
		f := [2]hypothesis{formulaFit(cols, d.act, basis, d.center[k], h, +1), formulaFit(cols, d.act, basis, d.center[k], h, -1)}
		best := 0
		if f[1].res < f[0].res {
			best = 1
		}
		sign := []float64{+1, -1}
		choose := func(hyp hypothesis, s float64, method string, conf bool, other float64) {
			lr.Sign[k], lr.Method[k], lr.Confident[k] = s, method, conf
			lr.Residual[k], lr.Other[k] = hyp.res, other
			scale0[k] = hyp.scale0
			for r := 0; r < d.dim; r++ {
				lr.Down[r*d.hidden+k] = hyp.w[r]
			}
		}
		decided := func(a, b, tol float64) bool { return a < tol && b > 100*a }
		switch {
		case d.tailRule == "linear":
			// The tail block is W·s·h; the slopes act'(s·(c' ∓ h)) tell s.
			d.column(d.plain+k, tail)
			rs := [2]float64{slopeResidual(d, k, h, +1), slopeResidual(d, k, h, -1)}
			sb := 0
			if rs[1] < rs[0] {
				sb = 1
			}
			w := make([]float64, d.dim)
			for r := range w {
				w[r] = sign[sb] * tail[r] / h
			}
			choose(hypothesis{w: w, res: rs[sb], scale0: f[sb].scale0}, sign[sb], MethodTail, decided(rs[sb], rs[1-sb], 1e-6), rs[1-sb])
		case d.tailRule == "exact":
			// The tail blocks are W·h (even part) and W·s·h/2 (odd part).
			d.column(d.plain+k, tail)
			d.column(d.plain+d.term+k, odd)
			var rs [2]float64
			var ee float64
			for r := range tail {
				ee += tail[r] * tail[r]
				for i, s := range sign {
					e := 2*odd[r] - s*tail[r]
					rs[i] += e * e
				}
			}
			rs[0], rs[1] = rs[0]/max(ee, 1e-300), rs[1]/max(ee, 1e-300)
			sb := 0
			if rs[1] < rs[0] {
				sb = 1
			}
			w := make([]float64, d.dim)
			for r := range w {
				w[r] = tail[r] / h
			}
			choose(hypothesis{w: w, res: rs[sb], scale0: f[sb].scale0}, sign[sb], MethodTail, decided(rs[sb], rs[1-sb], 1e-6), rs[1-sb])
		case decided(f[best].res, f[1-best].res, fitTol):
			choose(f[best], sign[best], MethodFormula, true, f[1-best].res)
		case order >= 1:
			// Coefficients of an unknown rule: match the release's polynomial
			// to the activation instead.
			g := [2]hypothesis{functionFit(cols, d.act, basis, d.center[k], h, +1), functionFit(cols, d.act, basis, d.center[k], h, -1)}
			gb := 0
			if g[1].res < g[0].res {
				gb = 1
			}
			choose(g[gb], sign[gb], MethodFunction, decided(g[gb].res, g[1-gb].res, 1e-2), g[1-gb].res)
		default:
			choose(f[best], sign[best], MethodPrior, false, f[1-best].res)
			undecided = append(undecided, k)
			cand[k] = f
		}
	}
	if len(undecided) > 0 {
		for k, b := range normPrior(d, undecided, cand) {
			f := cand[k]
			lr.Sign[k] = []float64{+1, -1}[b]
			lr.Residual[k], lr.Other[k], scale0[k] = f[b].res, f[1-b].res, f[b].scale0
			for r := 0; r < d.dim; r++ {
				lr.Down[r*d.hidden+k] = f[b].w[r]
			}
		}
	}
	lr.MinScale = math.NaN()
	for k, v := range scale0 {
		if k == 0 || math.Abs(v) < lr.MinScale {
			lr.MinScale = math.Abs(v)
		}
	}
	return lr
}

// formulaTolerance is the largest relative squared residual of the formula
// fit that counts as exact for coefficients stored with relative rounding
// eps: the residual of exact coefficients is at the rounding of the type.
func formulaTolerance(eps float64) float64 { return max(1e-10, 1e4*eps*eps) }

// basisScalars are the per-order scalars a_n with Θ_n[:, j] = W[:, j]·a_n
// under the hypothesis that the secret sign is s: b_n(s·released centre)·s^n.
func basisScalars(act series.Activation, basis string, order int, center, h, s float64) []float64 {
	var b []float64
	c := s * center
	if basis == "taylor" {
		b = series.Taylor(act, c, order)
	} else {
		b = series.ChebyshevFit(act, c-h, c+h, order)
	}
	if b == nil {
		return make([]float64, order+1)
	}
	p := 1.0
	for n := range b {
		b[n] *= p
		p *= s
	}
	return b
}

// formulaFit fits W from the columns under sign hypothesis s by least squares
// over the orders, for activation act.
func formulaFit(cols [][]float64, act series.Activation, basis string, center, h, s float64) hypothesis {
	a := basisScalars(act, basis, len(cols)-1, center, h, s)
	dim := len(cols[0])
	w := make([]float64, dim)
	var aa, cc float64
	for n, c := range cols {
		aa += a[n] * a[n]
		for r, v := range c {
			w[r] += a[n] * v
			cc += v * v
		}
	}
	hyp := hypothesis{w: w, scale0: a[0]}
	if aa == 0 || cc == 0 {
		hyp.res = math.Inf(1)
		if cc == 0 {
			hyp.res = 0
		}
		clear(w)
		return hyp
	}
	for r := range w {
		w[r] /= aa
	}
	var res float64
	for n, c := range cols {
		for r, v := range c {
			e := v - a[n]*w[r]
			res += e * e
		}
	}
	hyp.res = res / cc
	return hyp
}

// slopeResidual compares the released tail slopes of channel k with
// act'(s·(c' ∓ h)), the values the builder wrote if the sign was s.
func slopeResidual(d *layerData, k int, h, s float64) float64 {
	c := d.center[k]
	lo := series.Taylor(d.act, s*(c-h), 1)[1]
	hi := series.Taylor(d.act, s*(c+h), 1)[1]
	a, b := d.slopeLo[k], d.slopeHi[k]
	return ((a-lo)*(a-lo) + (b-hi)*(b-hi)) / max(a*a+b*b, 1e-300)
}

// functionFit recovers a column without knowing how the coefficients were
// fitted: the columns of all orders share W's direction d; with r_n = Θ_n·d
// the release computes, for this channel, the polynomial p = Σ r_n·basis_n,
// which approximates w·act(s·g) where W = w·d. The scale w is fitted on 64
// points of the released interval (chebyshev) or of a quarter of the
// convergence radius (taylor; 1 for the entire GELU); the residual of that
// fit decides s.
func functionFit(cols [][]float64, act series.Activation, basis string, center, h, s float64) hypothesis {
	dir := direction(cols)
	r := make([]float64, len(cols))
	for n, c := range cols {
		r[n] = dot(c, dir)
	}
	const points = 64
	var pf, ff, pp float64
	var p, f []float64
	for i := 0; i < points; i++ {
		t := math.Cos(math.Pi * (float64(i) + 0.5) / points)
		var pv, x float64
		if basis == "taylor" {
			rho := 0.25 * series.Radius(act, center)
			if math.IsInf(rho, 0) {
				rho = 1
			}
			dx := rho * t
			pw := 1.0
			for _, rn := range r {
				pv += rn * pw
				pw *= dx
			}
			x = center + dx
		} else {
			pv = series.ChebyshevEval(r, t)
			x = center + h*t
		}
		fv := act.Eval(s * x)
		p, f = append(p, pv), append(f, fv)
		pf += pv * fv
		ff += fv * fv
		pp += pv * pv
	}
	hyp := hypothesis{w: make([]float64, len(dir))}
	if ff == 0 || pp == 0 {
		hyp.res = math.Inf(1)
		return hyp
	}
	alpha := pf / ff
	var res float64
	for i := range p {
		e := p[i] - alpha*f[i]
		res += e * e
	}
	hyp.res = res / pp
	for i, v := range dir {
		hyp.w[i] = alpha * v
	}
	hyp.scale0 = r[0] / alpha
	return hyp
}

// direction returns the unit vector that best spans the columns (the top
// left singular vector of [c_0 … c_N]), by power iteration on their Gram matrix.
func direction(cols [][]float64) []float64 {
	m := len(cols)
	g := make([]float64, m*m)
	v := make([]float64, m)
	for a := range cols {
		for b := range cols {
			g[a*m+b] = dot(cols[a], cols[b])
		}
		v[a] = math.Sqrt(g[a*m+a])
	}
	nv := make([]float64, m)
	for it := 0; it < 200; it++ {
		var norm float64
		for a := range nv {
			nv[a] = dot(g[a*m:(a+1)*m], v)
			norm += nv[a] * nv[a]
		}
		norm = math.Sqrt(norm)
		if norm == 0 {
			break
		}
		var change float64
		for a := range v {
			x := nv[a] / norm
			change += (x - v[a]) * (x - v[a])
			v[a] = x
		}
		if change < 1e-30 {
			break
		}
	}
	dir := make([]float64, len(cols[0]))
	for n, c := range cols {
		for i, x := range c {
			dir[i] += v[n] * x
		}
	}
	var norm float64
	for _, x := range dir {
		norm += x * x
	}
	if norm > 0 {
		norm = 1 / math.Sqrt(norm)
		for i := range dir {
			dir[i] *= norm
		}
	}
	return dir
}

// normPrior picks, for channels whose sign the file does not decide, the
// candidate (0: s = +1, 1: s = −1) whose log column norm is closer to the
// layer's typical one: the median over the plain columns when the layer has
// at least 8, else over both candidates of every undecided channel.
func normPrior(d *layerData, undecided []int, cand map[int][2]hypothesis) map[int]int {
	norm := func(w []float64) float64 { return math.Log(math.Sqrt(dot(w, w)) + 1e-300) }
	var ref []float64
	col := make([]float64, d.dim)
	if plain := d.hidden - d.e; plain >= 8 {
		for i := 0; i < plain; i++ {
			d.column(i, col)
			ref = append(ref, norm(col))
		}
	} else {
		for _, k := range undecided {
			ref = append(ref, norm(cand[k][0].w), norm(cand[k][1].w))
		}
	}
	sort.Float64s(ref)
	med := ref[len(ref)/2]
	pick := make(map[int]int, len(undecided))
	for _, k := range undecided {
		f := cand[k]
		if math.Abs(norm(f[1].w)-med) < math.Abs(norm(f[0].w)-med) {
			pick[k] = 1
		} else {
			pick[k] = 0
		}
	}
	return pick
}

// methods counts a layer's channels by recovery method.
func (l *LayerRecovery) methods() map[string]int {
	m := map[string]int{}
	for _, s := range l.Method {
		m[s]++
	}
	return m
}

func (r *Recovery) check() error {
	for l, lr := range r.Layers {
		if len(lr.Down) != lr.Dim*lr.Hidden || len(lr.Sign) != lr.Expanded {
			return fmt.Errorf("recovery of layer %d is malformed", l)
		}
	}
	return nil
}
