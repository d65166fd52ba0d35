package train

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/unswift/unswift/internal/kernel"
)

// Gradient checks: every operation's backward code, run in float64, against
// central finite differences of its forward code.

const (
	fdStep = 1e-5 // central-difference step
	fdTol  = 1e-6 // largest relative error accepted
)

func randVec(rng *rand.Rand, n int, scale float64) []float64 {
	v := make([]float64, n)
	for i := range v {
		v[i] = rng.NormFloat64() * scale
	}
	return v
}

// relErr is ‖a − b‖₂ / max(‖a‖₂, ‖b‖₂); 0 when both are zero.
func relErr(a, b []float64) float64 {
	var d, na, nb float64
	for i := range a {
		d += (a[i] - b[i]) * (a[i] - b[i])
		na += a[i] * a[i]
		nb += b[i] * b[i]
	}
	den := math.Sqrt(max(na, nb))
	if den == 0 {
		return 0
	}
	return math.Sqrt(d) / den
}

// numGrad returns the central finite differences of loss with respect to
// every element of x (x is restored afterwards).
func numGrad(loss func() float64, x []float64) []float64 {
	g := make([]float64, len(x))
	for i := range x {
		v := x[i]
		x[i] = v + fdStep
		lp := loss()
		x[i] = v - fdStep
		lm := loss()
		x[i] = v
		g[i] = (lp - lm) / (2 * fdStep)
	}
	return g
}

// opCase is one operation under test: named inputs, a forward function
// returning the output, and a backward function returning each input's
// gradient for an output gradient dy. The checked loss is Σ c·y with a
// fixed random c (or the output itself when it is a scalar loss).
type opCase struct {
	name     string
	inputs   map[string][]float64
	forward  func() []float64
	backward func(dy []float64) map[string][]float64
}

func checkOp(t *testing.T, c opCase) {
	t.Helper()
	rng := rand.New(rand.NewPCG(7, 7))
	y := c.forward()
	coef := randVec(rng, len(y), 1)
	if len(y) == 1 { // a loss: check it as is
		coef[0] = 1
	}
	loss := func() float64 {
		var s float64
		for i, v := range c.forward() {
			s += coef[i] * v
		}
		return s
	}
	c.forward()
	grads := c.backward(append([]float64(nil), coef...))
	for name, x := range c.inputs {
		g, ok := grads[name]
		if !ok {
			t.Fatalf("%s: no gradient for input %s", c.name, name)
		}
		num := numGrad(loss, x)
		e := relErr(g, num)
		var norm float64
		for _, v := range num {
			norm = max(norm, math.Abs(v))
		}
		t.Logf("%-28s d/d%-6s rel. error %.2e (max |grad| %.3g)", c.name, name, e, norm)
		if norm == 0 {
			t.Errorf("%s: gradient with respect to %s is identically zero; the check is vacuous", c.name, name)
		}
		if !(e <= fdTol) {
			t.Errorf("%s: gradient with respect to %s: relative error %.3g > %g", c.name, name, e, fdTol)
		}
	}
}

func testBackend(t *testing.T) *backend[float64] {
	pool := kernel.NewPool(2)
	t.Cleanup(pool.Close)
	return newBackend[float64](pool)
}

func TestGradEmbedding(t *testing.T) {
	be := testBackend(t)
	rng := rand.New(rand.NewPCG(1, 1))
	const vocab, dim = 20, 8
	tokens := []int{3, 7, 3, 19, 0, 7, 7}
	table := randVec(rng, vocab*dim, 1)
	checkOp(t, opCase{
		name:   "embedding",
		inputs: map[string][]float64{"table": table},
		forward: func() []float64 {
			out := make([]float64, len(tokens)*dim)
			embedFwd(out, table, dim, tokens)
			return out
		},
		backward: func(dy []float64) map[string][]float64 {
			g := make([]float64, len(table))
			embedBwd(be, g, dy, dim, tokens, false)
			return map[string][]float64{"table": g}
		},
	})
}

func TestGradRMSNorm(t *testing.T) {
	be := testBackend(t)
	for _, n := range []int{5, 40} { // 40 rows split over two threads
		rng := rand.New(rand.NewPCG(2, uint64(n)))
		const dim = 12
		x := randVec(rng, n*dim, 1)
		w := randVec(rng, dim, 1)
		rinv := make([]float64, n)
		checkOp(t, opCase{
			name:   fmt.Sprintf("rmsnorm (%d rows)", n),
			inputs: map[string][]float64{"x": x, "w": w},
			forward: func() []float64 {
				out := make([]float64, n*dim)
				rmsnormFwd(be, out, rinv, x, w, dim, 1e-5)
				return out
			},
			backward: func(dy []float64) map[string][]float64 {
				dx, dw := make([]float64, len(x)), make([]float64, dim)
				rmsnormBwd(be, dx, dw, dy, x, w, rinv, dim, false)
				return map[string][]float64{"x": dx, "w": dw}
			},
		})
	}
}

func TestGradLinear(t *testing.T) {
	be := testBackend(t)
	cases := []struct {
		name    string
		n, k, m int
		block   int
		acc     bool
	}{
		{"matmul", 5, 8, 6, 4096, false},
		{"matmul acc", 5, 8, 6, 4096, true},
		{"matmul row blocks", 5, 8, 11, 4, false},
		{"matmul row blocks acc", 4, 6, 9, 4, true},
	}
	for _, c := range cases {
		old := linearRowBlock
		linearRowBlock = c.block
		rng := rand.New(rand.NewPCG(3, uint64(c.m)))
		x := randVec(rng, c.n*c.k, 1)
		w := randVec(rng, c.m*c.k, 1)
		// contents of dx and dW before an accumulating call
		priorX, priorW := randVec(rng, c.n*c.k, 1), randVec(rng, c.m*c.k, 1)
		checkOp(t, opCase{
			name:   c.name,
			inputs: map[string][]float64{"x": x, "W": w},
			forward: func() []float64 {
				y := make([]float64, c.n*c.m)
				be.linearFwd(y, x, w, c.n, c.k, c.m)
				return y
			},
			backward: func(dy []float64) map[string][]float64 {
				dx, dw := make([]float64, len(x)), make([]float64, len(w))
				// dW is stored when the call is told it is zero, else added to
				copy(dw, priorW)
				if c.acc {
					copy(dx, priorX)
				}
				be.linearBwd(dx, dw, dy, x, nil, w, c.n, c.k, c.m, c.acc, !c.acc)
				if c.acc {
					for i := range dx {
						dx[i] -= priorX[i]
					}
					for i := range dw {
						dw[i] -= priorW[i]
					}
				}
				return map[string][]float64{"x": dx, "W": dw}
			},
		})
		linearRowBlock = old
	}
}

func TestGradRoPE(t *testing.T) {
	be := testBackend(t)
	const b, tt, hs, heads = 2, 5, 8, 3
	for _, tc := range []struct {
		ropeDim int
		halves  bool
		factors []float32
	}{
		{hs, false, nil}, {4, false, nil}, // full and partial rotary on pairs
		{hs, true, nil}, {4, true, nil}, // full and partial rotate-half
		{hs, false, []float32{1, 2.5, 8, 40}}, // frequency divisors
	} {
		rng := rand.New(rand.NewPCG(4, uint64(tc.ropeDim)))
		width := heads * hs
		x := randVec(rng, b*tt*width, 1)
		cos, sin := ropeTables[float64](tt, tc.ropeDim, 10000, tc.factors)
		checkOp(t, opCase{
			name:   fmt.Sprintf("rope %d/%d halves=%v factors=%v", tc.ropeDim, hs, tc.halves, tc.factors != nil),
			inputs: map[string][]float64{"x": x},
			forward: func() []float64 {
				y := append([]float64(nil), x...)
				ropeFwd(be, y, cos, sin, width, hs, tc.ropeDim, tt, tc.halves)
				return y
			},
			backward: func(dy []float64) map[string][]float64 {
				ropeBwd(be, dy, cos, sin, width, hs, tc.ropeDim, tt, tc.halves)
				return map[string][]float64{"x": dy}
			},
		})
	}
}

// TestRoPEPairing checks which values rope rotates together, independently
// of the gradients: at position 1 with one pair frequency, rotating a head
// whose only non-zero value is v[j] moves it to v[j+1] (pairs) or to
// v[j+ropeDim/2] (halves), and leaves the values past ropeDim alone.
func TestRoPEPairing(t *testing.T) {
	be := testBackend(t)
	const hs, ropeDim = 8, 4
	cos, sin := ropeTables[float64](2, ropeDim, 10000, nil)
	for _, tc := range []struct {
		halves    bool
		from, to  int
		unrotated int
	}{{false, 0, 1, 5}, {false, 2, 3, 6}, {true, 0, 2, 5}, {true, 1, 3, 7}} {
		v := make([]float64, 2*hs) // rows: positions 0 and 1
		v[hs+tc.from] = 1
		v[hs+tc.unrotated] = 1
		ropeFwd(be, v, cos, sin, hs, hs, ropeDim, 2, tc.halves)
		i := tc.from / 2 // the pair's frequency
		if tc.halves {
			i = tc.from % (ropeDim / 2)
		}
		c, s := cos[ropeDim/2+i], sin[ropeDim/2+i]
		if math.Abs(v[hs+tc.from]-c) > 1e-15 || math.Abs(v[hs+tc.to]-s) > 1e-15 || v[hs+tc.unrotated] != 1 {
			t.Errorf("halves=%v: e_%d rotated to %v, want cos %v at %d and sin %v at %d", tc.halves, tc.from, v[hs:], c, tc.from, s, tc.to)
		}
	}
}

func TestGradLayerNorm(t *testing.T) {
	be := testBackend(t)
	for _, n := range []int{5, 40} { // 40 rows split over two threads
		for _, bias := range []bool{true, false} {
			rng := rand.New(rand.NewPCG(13, uint64(n)))
			const dim = 12
			x := randVec(rng, n*dim, 1)
			for i := range x {
				x[i] += 0.5 // a mean to remove
			}
			w := randVec(rng, dim, 1)
			var b []float64
			inputs := map[string][]float64{"x": x, "w": w}
			if bias {
				b = randVec(rng, dim, 1)
				inputs["b"] = b
			}
			rinv, mean := make([]float64, n), make([]float64, n)
			checkOp(t, opCase{
				name:   fmt.Sprintf("layernorm (%d rows, bias %v)", n, bias),
				inputs: inputs,
				forward: func() []float64 {
					out := make([]float64, n*dim)
					layernormFwd(be, out, rinv, mean, x, w, b, dim, 1e-5)
					return out
				},
				backward: func(dy []float64) map[string][]float64 {
					dx, dw := make([]float64, len(x)), randVec(rng, dim, 1)
					var db []float64
					if bias {
						db = randVec(rng, dim, 1) // cleared: zero flag set
					}
					layernormBwd(be, dx, dw, db, dy, x, w, rinv, mean, dim, true, true)
					return map[string][]float64{"x": dx, "w": dw, "b": db}
				},
			})
		}
	}
}

// TestLayerNormValues checks layernormFwd against a direct float64
// evaluation: zero mean and unit variance before the affine part.
func TestLayerNormValues(t *testing.T) {
	be := testBackend(t)
	rng := rand.New(rand.NewPCG(14, 14))
	const n, dim = 3, 10
	x := randVec(rng, n*dim, 2)
	w, b := make([]float64, dim), make([]float64, dim)
	for j := range w {
		w[j] = 1
	}
	out, rinv, mean := make([]float64, n*dim), make([]float64, n), make([]float64, n)
	layernormFwd(be, out, rinv, mean, x, w, b, dim, 0x1p-60)
	for i := 0; i < n; i++ {
		var s, ss float64
		for _, v := range out[i*dim : (i+1)*dim] {
			s += v
			ss += v * v
		}
		if math.Abs(s/dim) > 1e-14 || math.Abs(ss/dim-1) > 1e-12 {
			t.Errorf("row %d: mean %g, variance %g after the norm", i, s/dim, ss/dim)
		}
	}
}

func TestGradBias(t *testing.T) {
	be := testBackend(t)
	for _, m := range []int{7, 600} { // 600 columns split over threads
		rng := rand.New(rand.NewPCG(15, uint64(m)))
		const n = 5
		y0 := randVec(rng, n*m, 1)
		b := randVec(rng, m, 1)
		prior := randVec(rng, m, 1)
		checkOp(t, opCase{
			name:   fmt.Sprintf("bias (%d columns)", m),
			inputs: map[string][]float64{"b": b},
			forward: func() []float64 {
				y := append([]float64(nil), y0...)
				biasFwd(be, y, b)
				return y
			},
			backward: func(dy []float64) map[string][]float64 {
				db := append([]float64(nil), prior...)
				biasBwd(be, db, dy, false) // added to what is there
				for j := range db {
					db[j] -= prior[j]
				}
				return map[string][]float64{"b": db}
			},
		})
	}
}

func TestGradGELU(t *testing.T) {
	be := testBackend(t)
	rng := rand.New(rand.NewPCG(16, 16))
	const n = 600 // more than a block of geluBwd's scratch
	g := randVec(rng, n, 2)
	checkOp(t, opCase{
		name:   "gelu_tanh",
		inputs: map[string][]float64{"g": g},
		forward: func() []float64 {
			h := make([]float64, n)
			geluFwd(be, h, g)
			return h
		},
		backward: func(dy []float64) map[string][]float64 {
			geluBwd(be, dy, dy, g) // in place, as the engine does
			return map[string][]float64{"g": dy}
		},
	})
	// the values: ½x(1 + tanh(√(2/π)(x + 0.044715x³)))
	h := make([]float64, n)
	geluFwd(be, h, g)
	for i, x := range g {
		want := 0.5 * x * (1 + math.Tanh(math.Sqrt(2/math.Pi)*(x+0.044715*x*x*x)))
		if math.Abs(h[i]-want) > 1e-15*max(1, math.Abs(want)) {
			t.Fatalf("gelu_tanh(%v) = %v, want %v", x, h[i], want)
		}
	}
}

func TestGradPositions(t *testing.T) {
	be := testBackend(t)
	rng := rand.New(rand.NewPCG(17, 17))
	const b, tt, ctx, dim = 3, 4, 6, 5 // two positions of the table unused
	x0 := randVec(rng, b*tt*dim, 1)
	table := randVec(rng, ctx*dim, 1)
	checkOp(t, opCase{
		name:   "position embedding",
		inputs: map[string][]float64{"table": table[:tt*dim]},
		forward: func() []float64 {
			x := append([]float64(nil), x0...)
			positionFwd(be, x, table, dim, tt)
			return x
		},
		backward: func(dy []float64) map[string][]float64 {
			g := randVec(rng, ctx*dim, 1)
			positionBwd(be, g, dy, dim, tt, true)
			for _, v := range g[tt*dim:] {
				if v != 0 {
					t.Errorf("gradient of an unused position is %v", v)
				}
			}
			return map[string][]float64{"table": g[:tt*dim]}
		},
	})
}

func TestGradAttention(t *testing.T) {
	be := testBackend(t)
	for _, s := range []attnShape{
		{b: 2, t: 5, heads: 4, kvHeads: 2, hs: 4}, // grouped-query
		{b: 1, t: 6, heads: 2, kvHeads: 2, hs: 6}, // multi-head
		{b: 2, t: 4, heads: 3, kvHeads: 1, hs: 4}, // multi-query
	} {
		rng := rand.New(rand.NewPCG(5, uint64(s.heads*10+s.kvHeads)))
		n := s.b * s.t
		q := randVec(rng, n*s.dim(), 1)
		k := randVec(rng, n*s.kvdim(), 1)
		v := randVec(rng, n*s.kvdim(), 1)
		out := make([]float64, n*s.dim())
		lse := make([]float64, s.b*s.heads*s.t)
		checkOp(t, opCase{
			name:   "attention",
			inputs: map[string][]float64{"q": q, "k": k, "v": v},
			forward: func() []float64 {
				attnFwd(be, s, out, lse, q, k, v)
				return append([]float64(nil), out...)
			},
			backward: func(dy []float64) map[string][]float64 {
				dq, dk, dv := make([]float64, len(q)), make([]float64, len(k)), make([]float64, len(v))
				attnBwd(be, s, dq, dk, dv, dy, q, k, v, out, lse)
				return map[string][]float64{"q": dq, "k": dk, "v": dv}
			},
		})
	}
}

// TestAttentionCausal checks the mask independently of the gradients: the
// output at a position must not change when a later key or value does.
func TestAttentionCausal(t *testing.T) {
	be := testBackend(t)
	s := attnShape{b: 1, t: 6, heads: 4, kvHeads: 2, hs: 4}
	rng := rand.New(rand.NewPCG(6, 6))
	n := s.t
	q := randVec(rng, n*s.dim(), 1)
	k := randVec(rng, n*s.kvdim(), 1)
	v := randVec(rng, n*s.kvdim(), 1)
	out1 := make([]float64, n*s.dim())
	out2 := make([]float64, n*s.dim())
	lse := make([]float64, s.heads*s.t)
	attnFwd(be, s, out1, lse, q, k, v)
	const p = 3 // change keys and values at positions > p
	for i := (p + 1) * s.kvdim(); i < len(k); i++ {
		k[i] += 1
		v[i] -= 1
	}
	attnFwd(be, s, out2, lse, q, k, v)
	for i := 0; i < (p+1)*s.dim(); i++ {
		if out1[i] != out2[i] {
			t.Fatalf("output %d (position %d) changed when only later keys and values changed", i, i/s.dim())
		}
	}
	if out1[len(out1)-1] == out2[len(out2)-1] {
		t.Fatal("the last position's output did not change with its own key and value")
	}
}

func TestGradSwiGLU(t *testing.T) {
	be := testBackend(t)
	rng := rand.New(rand.NewPCG(8, 8))
	const n = 30
	g := randVec(rng, n, 2)
	u := randVec(rng, n, 1)
	checkOp(t, opCase{
		name:   "swiglu",
		inputs: map[string][]float64{"g": g, "u": u},
		forward: func() []float64 {
			h := make([]float64, n)
			swigluFwd(be, h, g, u)
			return h
		},
		backward: func(dy []float64) map[string][]float64 {
			dg, du := make([]float64, n), make([]float64, n)
			swigluBwd(be, dg, du, dy, g, u)
			return map[string][]float64{"g": dg, "u": du}
		},
	})
}

func TestGradResidual(t *testing.T) {
	be := testBackend(t)
	rng := rand.New(rand.NewPCG(9, 9))
	const n = 24
	x := randVec(rng, n, 1)
	y := randVec(rng, n, 1)
	checkOp(t, opCase{
		name:   "residual",
		inputs: map[string][]float64{"x": x, "y": y},
		forward: func() []float64 {
			out := append([]float64(nil), x...)
			residualFwd(be, out, y)
			return out
		},
		backward: func(dy []float64) map[string][]float64 {
			dx, dyy := make([]float64, n), make([]float64, n)
			residualBwd(be, dx, dyy, dy)
			return map[string][]float64{"x": dx, "y": dyy}
		},
	})
}

func TestGradCrossEntropy(t *testing.T) {
	be := testBackend(t)
	rng := rand.New(rand.NewPCG(10, 10))
	const n, vocab = 7, 20
	z := randVec(rng, n*vocab, 2)
	targets := []int{0, 5, 19, 5, 3, 3, 11}
	checkOp(t, opCase{
		name:   "cross-entropy",
		inputs: map[string][]float64{"logits": z},
		forward: func() []float64 {
			g := make([]float64, len(z))
			return []float64{crossEntropy(be, g, z, targets, vocab)}
		},
		backward: func(dy []float64) map[string][]float64 {
			g := append([]float64(nil), z...) // in place, as the engine does
			crossEntropy(be, g, g, targets, vocab)
			return map[string][]float64{"logits": g}
		},
	})
}

func TestGradKL(t *testing.T) {
	be := testBackend(t)
	for _, temp := range []float64{1, 2.5} {
		rng := rand.New(rand.NewPCG(11, uint64(temp*10)))
		const n, vocab = 6, 20
		z := randVec(rng, n*vocab, 2)
		teacher := randVec(rng, n*vocab, 3)
		checkOp(t, opCase{
			name:   "KL(teacher||student)",
			inputs: map[string][]float64{"logits": z},
			forward: func() []float64 {
				g := make([]float64, len(z))
				return []float64{klDiv(be, g, z, [][]float64{teacher[:3*vocab], teacher[3*vocab:]}, 3, vocab, temp)}
			},
			backward: func(dy []float64) map[string][]float64 {
				g := append([]float64(nil), z...)
				klDiv(be, g, g, [][]float64{teacher[:3*vocab], teacher[3*vocab:]}, 3, vocab, temp)
				return map[string][]float64{"logits": g}
			},
		})
	}
}

// TestKLValues checks the distillation loss itself: zero against itself,
// and equal to a direct float64 evaluation of Σ p log(p/q) otherwise.
func TestKLValues(t *testing.T) {
	be := testBackend(t)
	rng := rand.New(rand.NewPCG(12, 12))
	const n, vocab = 3, 9
	z := randVec(rng, n*vocab, 2)
	g := make([]float64, len(z))
	if kl := klDiv(be, g, z, [][]float64{z}, n, vocab, 1); math.Abs(kl) > 1e-15 {
		t.Errorf("KL of a distribution with itself = %g, want 0", kl)
	}
	te := randVec(rng, n*vocab, 2)
	var want float64
	for i := 0; i < n; i++ {
		p, q := softmax64(te[i*vocab:(i+1)*vocab]), softmax64(z[i*vocab:(i+1)*vocab])
		for j := range p {
			want += p[j] * math.Log(p[j]/q[j])
		}
	}
	want /= n
	if got := klDiv(be, g, z, [][]float64{te}, n, vocab, 1); math.Abs(got-want) > 1e-12*want {
		t.Errorf("KL = %.15g, direct evaluation %.15g", got, want)
	}
}

func softmax64(z []float64) []float64 {
	var s float64
	p := make([]float64, len(z))
	for j, v := range z {
		p[j] = math.Exp(v)
		s += p[j]
	}
	for j := range p {
		p[j] /= s
	}
	return p
}
