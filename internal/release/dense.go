package release

import (
	"fmt"

	"github.com/unswift/unswift/internal/kernel"
	"github.com/unswift/unswift/internal/series"
	"github.com/unswift/unswift/internal/tensor"
)

// Dense is a plain (non-gated) MLP with biases, as in GPT-2 and Phi-2:
// y = W act(V x + b) + c. Matrices are row-major float32.
type Dense struct {
	Dim, Hidden int
	Act         series.Activation
	V           []float32 // Hidden × Dim
	B           []float32 // Hidden
	W           []float32 // Dim × Hidden
	C           []float32 // Dim
}

// Forward computes the plain MLP (the reference for DenseRelease).
func (d *Dense) Forward(out, x []float32) {
	h := make([]float32, d.Hidden)
	for j := range h {
		var z float64
		for k, v := range d.V[j*d.Dim : (j+1)*d.Dim] {
			z += float64(v) * float64(x[k])
		}
		h[j] = float32(d.Act.Eval(z + float64(d.B[j])))
	}
	for i := range out {
		var y float64
		for j, w := range d.W[i*d.Hidden : (i+1)*d.Hidden] {
			y += float64(w) * float64(h[j])
		}
		out[i] = float32(y + float64(d.C[i]))
	}
}

// DenseRelease is the TaylorMLP form of a Dense layer. With a = z + b the
// activation input and a0 its expansion point, act(a) = Σ_n c_n(a0)(z − z0)^n
// where z0 = a0 − b, so
//
//	y = θ_const + W_P act(z_P + b_P) + Σ_{n=1..N} Θ_n (z_S − z0)^n
//	θ_const = c + Σ_{j∈S} W[:, j] act(a0_j),   Θ_n[:, j] = W[:, j] c_n(a0_j) s_j^n
//
// The constant terms of all expanded channels collapse into θ_const, so W, b
// and c of expanded channels are not stored. Rows of V are in release order
// (expanded first, sign-perturbed), and Coef's rows hold the plain columns,
// then the blocks Θ_1..Θ_N, each padded to Pad columns: order n uses a prefix.
type DenseRelease struct {
	Dim, Hidden, Order, Expanded int
	Act                          series.Activation
	V                            *tensor.Tensor // Hidden × Dim, release order
	BPlain                       []float32      // biases of the plain channels
	Z0                           []float32      // expansion points in z (sign-perturbed), Expanded values
	Const                        []float32      // θ_const, Dim
	Coef                         *tensor.Tensor // Dim × (plain + N·term)
}

// SecureDense builds the release of d at order N, expanding the channels in
// expand (original indices) around the activation-input points a0 (one per
// hidden channel), with the secret signs sign (one per expanded channel).
func SecureDense(d *Dense, a0 []float64, expand []int, sign []float64, order int) (*DenseRelease, error) {
	if order < 1 || order > MaxOrder {
		return nil, fmt.Errorf("order %d is outside 1..%d for a plain MLP", order, MaxOrder)
	}
	if len(a0) != d.Hidden || len(sign) != len(expand) {
		return nil, fmt.Errorf("%d expansion points and %d signs for %d channels, %d expanded", len(a0), len(sign), d.Hidden, len(expand))
	}
	isExp := make([]bool, d.Hidden)
	for _, j := range expand {
		if j < 0 || j >= d.Hidden || isExp[j] {
			return nil, fmt.Errorf("bad expanded channel %d", j)
		}
		isExp[j] = true
	}
	var plain []int
	for j := 0; j < d.Hidden; j++ {
		if !isExp[j] {
			plain = append(plain, j)
		}
	}
	e := len(expand)
	pc, term := padTo(d.Hidden-e, Pad), padTo(e, Pad)
	cols := pc + order*term
	r := &DenseRelease{Dim: d.Dim, Hidden: d.Hidden, Order: order, Expanded: e, Act: d.Act,
		Z0: make([]float32, e), Const: make([]float32, d.Dim)}
	v := make([]float32, d.Hidden*d.Dim)
	for i, j := range append(append([]int(nil), expand...), plain...) {
		row := v[i*d.Dim : (i+1)*d.Dim]
		copy(row, d.V[j*d.Dim:(j+1)*d.Dim])
		if i < e && sign[i] < 0 {
			for k := range row {
				row[k] = -row[k]
			}
		}
	}
	r.V = tensor.FromF32("ffn_up", v, d.Dim, d.Hidden)
	for _, j := range plain {
		r.BPlain = append(r.BPlain, d.B[j])
	}
	coef := make([][]float64, e)
	for k, j := range expand {
		coef[k] = series.Taylor(d.Act, a0[j], order)
		r.Z0[k] = float32((a0[j] - float64(d.B[j])) * sign[k])
	}
	m := make([]float32, d.Dim*cols)
	for i := 0; i < d.Dim; i++ {
		w := d.W[i*d.Hidden : (i+1)*d.Hidden]
		row := m[i*cols : (i+1)*cols]
		for k, j := range plain {
			row[k] = w[j]
		}
		c := float64(d.C[i])
		for k, j := range expand {
			c += float64(w[j]) * coef[k][0]
			s := 1.0
			for n := 1; n <= order; n++ {
				s *= sign[k]
				row[pc+(n-1)*term+k] = float32(float64(w[j]) * coef[k][n] * s)
			}
		}
		r.Const[i] = float32(c)
	}
	r.Coef = tensor.FromF32("ffn_taylor", m, cols, d.Dim)
	return r, nil
}

// Forward runs the release at order n (1..Order) on x into out, on pool.
func (r *DenseRelease) Forward(pool *kernel.Pool, out, x []float32, n int) {
	z := make([]float32, r.Hidden)
	pool.MatVec(z, r.V, x)
	e := r.Expanded
	pc, term := padTo(r.Hidden-e, Pad), padTo(e, Pad)
	v := make([]float32, pc+n*term)
	for k := range r.BPlain {
		v[k] = float32(r.Act.Eval(float64(z[e+k] + r.BPlain[k])))
	}
	prev := make([]float32, e)
	for k := range prev {
		prev[k] = 1
	}
	for o := 1; o <= n; o++ {
		blk := v[pc+(o-1)*term:]
		for k := 0; k < e; k++ {
			prev[k] *= z[k] - r.Z0[k]
			blk[k] = prev[k]
		}
	}
	pool.MatVec(out, r.Coef, v)
	for i := range out {
		out[i] += r.Const[i]
	}
}
