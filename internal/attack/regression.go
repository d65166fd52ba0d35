package attack

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/unswift/unswift/internal/eval"
	"github.com/unswift/unswift/internal/kernel"
	"github.com/unswift/unswift/internal/model"
	"github.com/unswift/unswift/internal/series"
)

// MethodRegression marks channels recovered by regression.
const MethodRegression = "regression"

// RegressionOptions control Regression.
type RegressionOptions struct {
	Points   []int        // token counts M to solve at, ascending (each > 0)
	Pool     *kernel.Pool // runs the release and the solves (nil: a private one)
	Progress func(done, total int)
}

// Regression recovers the down projections from the release's behaviour
// instead of its coefficients (TAYLORMLP.md §5.2). It runs the release on
// tokens (public text, BOS-prefixed windows of the context) and keeps, per
// layer, the MLP inputs of the first max(Points) positions that are not BOS.
// For each input x it evaluates what the release's MLP outputs for x, y, and
// solves by least squares
//
//	y − W_plain·(act(g'_P) ⊙ u_P) = A·(act(g') ⊙ u) + B·(g' ⊙ u)   (expanded channels)
//
// where g' = V'_g x (+ b'_g) is the released (sign-perturbed) gate; for a
// plain (GELU) MLP the up projection and its bias play the gate's part and
// u = 1. Because act(−g) = act(g) − g for SiLU and GELU, the original MLP is
// exactly of this form
// whatever the secret signs: A = W, and B = 0 where s_j = +1, B = −W where
// s_j = −1. So the attacker needs no sign: it reads W from A and s_j from
// whether B[:, j] is nearer 0 or −A[:, j]. That is 2E unknowns per output, so
// M ≥ 2E tokens are needed; below that the ridge-regularised solution is
// used as it is. With the signs decided, W is refitted on act(s·g') ⊙ u alone
// (E unknowns, better conditioned). The fit can be no better than the
// release's own approximation of the activation on the inputs.
//
// For a plain MLP (u = 1) the features g'_j = V'_j x + b'_j are affine in x,
// so B is not identifiable once E > dim + 1: B·g' is only C·x̃ with
// x̃ = [x; 1] and C = B·Ṽ, Ṽ = [V'_E | b'_E]. The attack then solves
// y = A·act(g') + C·x̃ (E + dim + 1 unknowns per output) and reads the signs
// from C = −A·diag(δ)·Ṽ, δ_j = [s_j < 0]: a least-squares system in the E
// values δ_j with dim·(dim + 1) equations per output, rounded to 0 or 1.
//
// The MLP input x of each position is read back from the gate values the
// runtime computes (model.State.Hook), less the released gate bias, by least
// squares on V'_g, which has full column rank; g', u and y are then
// recomputed from x in float64.
//
// It returns one Recovery per point.
func Regression(ctx context.Context, rel *model.Model, tokens []int, opt RegressionOptions) ([]*Recovery, error) {
	if err := checkRelease(rel); err != nil {
		return nil, err
	}
	if len(opt.Points) == 0 {
		return nil, fmt.Errorf("regression: no token counts to solve at")
	}
	for i, m := range opt.Points {
		if m <= 0 || (i > 0 && m <= opt.Points[i-1]) {
			return nil, fmt.Errorf("regression: token counts %v must be positive and ascending", opt.Points)
		}
	}
	pool := opt.Pool
	if pool == nil {
		pool = kernel.NewPool(0)
		defer pool.Close()
	}
	c := &rel.Config
	want := opt.Points[len(opt.Points)-1]
	gates, err := collectGates(ctx, rel, pool, tokens, want)
	if err != nil {
		return nil, err
	}
	recs := make([]*Recovery, len(opt.Points))
	for i := range recs {
		recs[i] = &Recovery{Kind: "regression"}
	}
	for l := 0; l < c.Layers; l++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		start := time.Now()
		lrs, err := regressLayer(rel, l, gates[l], opt.Points, pool)
		if err != nil {
			return nil, err
		}
		el := time.Since(start)
		for i, lr := range lrs {
			lr.Duration = el
			recs[i].Layers = append(recs[i].Layers, lr)
			recs[i].Duration += el
		}
		if opt.Progress != nil {
			opt.Progress(l+1, c.Layers)
		}
	}
	parallel := c.Family.Parallel && rel.Weights.PositionEmbd == nil
	for i, m := range opt.Points {
		e := unknowns(rel)
		if m < e {
			recs[i].Notes = append(recs[i].Notes, fmt.Sprintf("%d tokens are fewer than the %d unknowns per output: underdetermined, ridge solution", m, e))
		}
		// In a parallel block without learned positions the first layer's
		// MLP input is the normalised embedding: the token alone.
		n := distinct(tokens[:min(m, len(tokens))])
		e0, u0 := rel.Taylor.Expanded[0], layerUnknowns(rel, 0)
		switch {
		case !parallel || m < e:
		case n < e0:
			recs[i].Notes = append(recs[i].Notes, fmt.Sprintf("layer 0 of a parallel-block model sees each token alone: the %d distinct tokens are fewer than its %d protected channels, so its solution is underdetermined whatever the token count", n, e0))
		case n < u0:
			recs[i].Notes = append(recs[i].Notes, fmt.Sprintf("layer 0 of a parallel-block model sees each token alone: the %d distinct tokens are fewer than the %d unknowns of its sign stage, so its signs rest on the ridge solution", n, u0))
		}
	}
	return recs, nil
}

// distinct counts the distinct values of xs.
func distinct(xs []int) int {
	seen := map[int]bool{}
	for _, x := range xs {
		seen[x] = true
	}
	return len(seen)
}

// unknowns is the number of unknowns per output of the regression's first
// stage: 2E for a gated MLP, E + dim + 1 for a plain one (E the most expanded
// channels of a layer).
func unknowns(rel *model.Model) int {
	if rel.Config.Family.Gated {
		return 2 * maxExpanded(rel)
	}
	return maxExpanded(rel) + rel.Config.Dim + 1
}

// layerUnknowns is unknowns for layer l.
func layerUnknowns(rel *model.Model, l int) int {
	e := rel.Taylor.Expanded[l]
	if rel.Config.Family.Gated {
		return 2 * e
	}
	return e + rel.Config.Dim + 1
}

func maxExpanded(rel *model.Model) int {
	e := 0
	for _, v := range rel.Taylor.Expanded {
		e = max(e, v)
	}
	return e
}

// collectGates runs tokens through the release in windows and returns, per
// layer, the released gate values of the first n non-BOS positions
// (n × hidden, float32).
func collectGates(ctx context.Context, rel *model.Model, pool *kernel.Pool, tokens []int, n int) ([][]float32, error) {
	c := &rel.Config
	bos := rel.Tokenizer.BOS()
	windows := eval.Windows(tokens, c.Context, bos)
	gates := make([][]float32, c.Layers)
	s := rel.NewState(pool, 0)
	have := 0
	skip := 0
	if bos >= 0 {
		skip = 1
	}
	var take int
	s.Hook = func(l int, g []float32, rows int) {
		gates[l] = append(gates[l], g[skip*c.Hidden:(skip+take)*c.Hidden]...)
	}
	for _, w := range windows {
		if have >= n {
			break
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		take = min(len(w)-skip, n-have)
		s.Reset(0)
		if _, err := s.Forward(w[:skip+take]); err != nil {
			return nil, err
		}
		have += take
	}
	if have < n {
		return nil, fmt.Errorf("regression needs %d tokens of text, the data has %d", n, have)
	}
	return gates, nil
}

// regressLayer solves layer l at every point.
func regressLayer(rel *model.Model, l int, gates []float32, points []int, pool *kernel.Pool) ([]LayerRecovery, error) {
	c := &rel.Config
	t := rel.Taylor
	d, err := readLayer(rel, l)
	if err != nil {
		return nil, err
	}
	gt, bt := gateOf(rel, l)
	gw, err := matrix(gt)
	if err != nil {
		return nil, err
	}
	var gb, uw []float64 // gate bias, up matrix: nil for none, u = 1
	if bt != nil {
		if gb, err = values(bt); err != nil {
			return nil, err
		}
	}
	if c.Family.Gated {
		if uw, err = matrix(rel.Weights.Layers[l].Up); err != nil {
			return nil, err
		}
	}
	dim, hidden, e := c.Dim, c.Hidden, d.e
	// Normal equations of x from g' = V'_g x.
	gtg := make([]float64, dim*dim)
	for a := 0; a < dim; a++ {
		for b := 0; b <= a; b++ {
			var s float64
			for j := 0; j < hidden; j++ {
				s += gw[j*dim+a] * gw[j*dim+b]
			}
			gtg[a*dim+b] = s
		}
	}
	if err := cholesky(gtg, dim, nil); err != nil {
		return nil, fmt.Errorf("layer %d: the released gate matrix does not have full column rank: %w", l, err)
	}
	// Features: [act(g')⊙u, g'⊙u] (gated) or [act(g'), x, 1] (plain).
	n2 := 2 * e
	var lin []float64 // plain: Ṽ = [V'_E | b'_E], e × (dim+1)
	if !c.Family.Gated {
		n2 = e + dim + 1
		lin = make([]float64, e*(dim+1))
		for k := 0; k < e; k++ {
			copy(lin[k*(dim+1):], gw[k*dim:(k+1)*dim])
			if gb != nil {
				lin[k*(dim+1)+dim] = gb[k]
			}
		}
	}
	ata := make([]float64, n2*n2)
	aty := make([]float64, n2*dim)
	const chunk = 128
	ft := make([]float64, n2*chunk) // features, feature-major
	yt := make([]float64, chunk*dim)
	var out []LayerRecovery
	pi := 0
	total := points[len(points)-1]
	for t0 := 0; t0 < total; {
		nb := min(chunk, points[pi]-t0) // chunks end at every point
		pool.For(nb, 1, func(lo, hi int) {
			x := make([]float64, dim)
			g := make([]float64, hidden)
			u := make([]float64, hidden)
			terms := make([]float64, d.cols-d.plain)
			for i := lo; i < hi; i++ {
				row := gates[(t0+i)*hidden : (t0+i+1)*hidden]
				for a := 0; a < dim; a++ {
					var s float64
					for j, v := range row {
						gv := float64(v)
						if gb != nil {
							gv -= gb[j]
						}
						s += gw[j*dim+a] * gv
					}
					x[a] = s
				}
				cholSolve(gtg, dim, x)
				for j := 0; j < hidden; j++ {
					g[j] = dot(gw[j*dim:(j+1)*dim], x)
					if gb != nil {
						g[j] += gb[j]
					}
					u[j] = 1
					if uw != nil {
						u[j] = dot(uw[j*dim:(j+1)*dim], x)
					}
				}
				for k := 0; k < e; k++ {
					ft[k*chunk+i] = d.act.Eval(g[k]) * u[k]
					if lin == nil {
						ft[(e+k)*chunk+i] = g[k] * u[k]
					}
				}
				if lin != nil {
					for a, v := range x {
						ft[(e+a)*chunk+i] = v
					}
					ft[(e+dim)*chunk+i] = 1
				}
				d.expandedTerms(g[:e], u[:e], t.Basis, t.Order, terms)
				for r := 0; r < dim; r++ {
					yt[i*dim+r] = dot(d.theta[r*d.cols+d.plain:(r+1)*d.cols], terms)
				}
			}
		})
		// Accumulate the normal equations of this chunk.
		pool.For(n2, 8, func(lo, hi int) {
			for a := lo; a < hi; a++ {
				fa := ft[a*chunk : a*chunk+nb]
				for b := 0; b <= a; b++ {
					ata[a*n2+b] += dot(fa, ft[b*chunk:b*chunk+nb])
				}
				for r := 0; r < dim; r++ {
					var s float64
					for i, v := range fa {
						s += v * yt[i*dim+r]
					}
					aty[a*dim+r] += s
				}
			}
		})
		t0 += nb
		if t0 == points[pi] {
			solve := solveRegression
			if lin != nil {
				solve = func(d *layerData, ata, aty []float64, pool *kernel.Pool) (LayerRecovery, error) {
					return solvePlainRegression(d, lin, ata, aty, pool)
				}
			}
			lr, err := solve(d, ata, aty, pool)
			if err != nil {
				return nil, fmt.Errorf("layer %d, %d tokens: %w", l, t0, err)
			}
			out = append(out, lr)
			pi++
		}
	}
	return out, nil
}

// solveRegression solves the gated MLP's accumulated normal equations
// (copied) and builds the layer's recovery.
func solveRegression(d *layerData, ata, aty []float64, pool *kernel.Pool) (LayerRecovery, error) {
	e, dim, hidden := d.e, d.dim, d.hidden
	n2 := 2 * e
	lr := newRegressionLayer(d)
	if e == 0 {
		return lr, nil
	}
	a := append([]float64(nil), ata...)
	x := append([]float64(nil), aty...)
	if err := ridgeSolve(a, n2, x, dim, 1e-9, pool); err != nil {
		return lr, err
	}
	// Stage 1: the signs, from whether B[:, k] is nearer 0 or −A[:, k].
	flip := make([]bool, e)
	for k := 0; k < e; k++ {
		var bb, ab float64 // ‖B_k‖², ‖B_k + A_k‖²
		for r := 0; r < dim; r++ {
			av, bv := x[k*dim+r], x[(e+k)*dim+r]
			bb += bv * bv
			ab += (av + bv) * (av + bv)
		}
		lr.Method[k] = MethodRegression
		lr.Sign[k] = 1
		lr.Residual[k], lr.Other[k] = bb, ab
		if ab < bb {
			lr.Sign[k], flip[k] = -1, true
			lr.Residual[k], lr.Other[k] = ab, bb
		}
		lr.Confident[k] = lr.Other[k] > 100*lr.Residual[k]
	}
	// Stage 2: with the signs known, refit W alone on the features
	// act(s·g')⊙u = act(g')⊙u − [s < 0]·g'⊙u: half the unknowns, and none of
	// the near-collinearity of act(g') with g'.
	at := func(i, j int) float64 {
		if j > i {
			i, j = j, i
		}
		return ata[i*n2+j]
	}
	del := func(k int) float64 {
		if flip[k] {
			return 1
		}
		return 0
	}
	g := make([]float64, e*e)
	for k := 0; k < e; k++ {
		for l := 0; l <= k; l++ {
			g[k*e+l] = at(k, l) - del(l)*at(k, e+l) - del(k)*at(e+k, l) + del(k)*del(l)*at(e+k, e+l)
		}
	}
	w := make([]float64, e*dim)
	for k := 0; k < e; k++ {
		for r := 0; r < dim; r++ {
			w[k*dim+r] = aty[k*dim+r] - del(k)*aty[(e+k)*dim+r]
		}
	}
	return lr, solveDown(&lr, g, w, e, dim, hidden, pool)
}

// solveDown solves the e×e normal equations g (lower triangle) for the e×dim
// right-hand sides w (one row per expanded channel, overwritten) and writes
// the solution into the expanded columns of lr.Down (dim × hidden).
func solveDown(lr *LayerRecovery, g, w []float64, e, dim, hidden int, pool *kernel.Pool) error {
	if err := ridgeSolve(g, e, w, dim, 1e-9, pool); err != nil {
		return err
	}
	for k := 0; k < e; k++ {
		for r := 0; r < dim; r++ {
			lr.Down[r*hidden+k] = w[k*dim+r]
		}
	}
	return nil
}

// newRegressionLayer is a layer recovery with the plain channels copied from
// the release.
func newRegressionLayer(d *layerData) LayerRecovery {
	e, dim, hidden := d.e, d.dim, d.hidden
	lr := LayerRecovery{Dim: dim, Hidden: hidden, Expanded: e, Down: make([]float64, dim*hidden),
		Sign: make([]float64, e), Confident: make([]bool, e), Method: make([]string, e),
		Residual: make([]float64, e), Other: make([]float64, e), MinScale: math.NaN()}
	for i := 0; i < hidden-e; i++ {
		for r := 0; r < dim; r++ {
			lr.Down[r*hidden+e+i] = d.theta[r*d.cols+i]
		}
	}
	return lr
}

// solvePlainRegression solves the plain-MLP system y = A·act(g') + C·x̃ from
// its accumulated normal equations (n = e + dim + 1 features, copied), reads
// the signs δ from C = −A·diag(δ)·Ṽ, and refits W on act(s·g') = act(g') −
// δ·Ṽx̃ alone.
func solvePlainRegression(d *layerData, lin, ata, aty []float64, pool *kernel.Pool) (LayerRecovery, error) {
	e, dim, hidden := d.e, d.dim, d.hidden
	lr := newRegressionLayer(d)
	if e == 0 {
		return lr, nil
	}
	n, m := e+dim+1, dim+1
	a := append([]float64(nil), ata...)
	x := append([]float64(nil), aty...)
	if err := ridgeSolve(a, n, x, dim, 1e-9, pool); err != nil {
		return lr, err
	}
	// Stage 1: δ from min ‖C + A·diag(δ)·Ṽ‖², whose normal equations are
	// ((AᵀA) ∘ (ṼṼᵀ))·δ = −diag(Aᵀ·C·Ṽᵀ).
	aCol := func(k int) []float64 { return x[k*dim : (k+1)*dim] } // A[:, k]
	gs := make([]float64, e*e)
	rhs := make([]float64, e)
	pool.For(e, 4, func(lo, hi int) {
		cv := make([]float64, dim) // C·Ṽ_k
		for k := lo; k < hi; k++ {
			vk := lin[k*m : (k+1)*m]
			for l := 0; l <= k; l++ {
				gs[k*e+l] = dot(aCol(k), aCol(l)) * dot(vk, lin[l*m:(l+1)*m])
			}
			clear(cv)
			for b, v := range vk {
				for r, cr := range x[(e+b)*dim : (e+b+1)*dim] {
					cv[r] += cr * v
				}
			}
			rhs[k] = -dot(aCol(k), cv)
		}
	})
	if err := ridgeSolve(gs, e, rhs, 1, 1e-9, pool); err != nil {
		return lr, err
	}
	delta := make([]float64, e)
	for k, v := range rhs {
		lr.Method[k], lr.Sign[k] = MethodRegression, 1
		lr.Residual[k], lr.Other[k] = v*v, (1-v)*(1-v)
		if v > 0.5 {
			lr.Sign[k], delta[k] = -1, 1
			lr.Residual[k], lr.Other[k] = lr.Other[k], lr.Residual[k]
		}
		lr.Confident[k] = lr.Other[k] > 100*lr.Residual[k]
	}
	// Stage 2: the features act(s·g') = T·f with T = [I | −diag(δ)·Ṽ].
	at := func(i, j int) float64 {
		if j > i {
			i, j = j, i
		}
		return ata[i*n+j]
	}
	ta := make([]float64, e*n) // T·ata
	pool.For(e, 4, func(lo, hi int) {
		for k := lo; k < hi; k++ {
			row := ta[k*n : (k+1)*n]
			for j := range row {
				v := at(k, j)
				if delta[k] != 0 {
					for b, w := range lin[k*m : (k+1)*m] {
						v -= w * at(e+b, j)
					}
				}
				row[j] = v
			}
		}
	})
	g := make([]float64, e*e)
	w := make([]float64, e*dim)
	for k := 0; k < e; k++ {
		for l := 0; l <= k; l++ {
			v := ta[k*n+l]
			if delta[l] != 0 {
				for b, wt := range lin[l*m : (l+1)*m] {
					v -= wt * ta[k*n+e+b]
				}
			}
			g[k*e+l] = v
		}
		copy(w[k*dim:(k+1)*dim], aty[k*dim:(k+1)*dim])
		if delta[k] != 0 {
			for b, wt := range lin[k*m : (k+1)*m] {
				for r := 0; r < dim; r++ {
					w[k*dim+r] -= wt * aty[(e+b)*dim+r]
				}
			}
		}
	}
	return lr, solveDown(&lr, g, w, e, dim, hidden, pool)
}

// expandedTerms fills v with what the runtime multiplies the expanded
// coefficient columns by (tail block, then one block per order), in float64,
// for released gate values g and up values u of the expanded channels.
func (d *layerData) expandedTerms(g, u []float64, basis string, order int, v []float64) {
	clear(v)
	if basis == "taylor" {
		for k := range g {
			p := u[k]
			dx := g[k] - d.center[k]
			for n := 0; n <= order; n++ {
				v[n*d.term+k] = p
				p *= dx
			}
		}
		return
	}
	for k := range g {
		t := (g[k] - d.center[k]) * d.invH[k]
		if d.tail > 0 && (t > 1 || t < -1) {
			edge := 1.0
			if t < -1 {
				edge = -1
			}
			switch d.tailRule {
			case "linear":
				sl := d.slopeHi[k]
				if edge < 0 {
					sl = d.slopeLo[k]
				}
				v[k] = (t - edge) * sl * u[k]
			case "exact":
				ge := d.center[k] + edge/d.invH[k]
				v[k] = (actEven(d.act, g[k]) - actEven(d.act, ge)) * d.invH[k] * u[k]
				v[d.term+k] = (t - edge) * u[k]
			}
			t = edge
		}
		b := v[d.tail:]
		p0, p1 := u[k], t*u[k]
		b[k] = p0
		if order >= 1 {
			b[d.term+k] = p1
		}
		for n := 2; n <= order; n++ {
			p0, p1 = p1, 2*t*p1-p0
			b[n*d.term+k] = p1
		}
	}
}

// actEven is the activation's even part, act(x) − x/2.
func actEven(act series.Activation, x float64) float64 { return act.Eval(x) - x/2 }
