package metrics

import (
	"math"
	"math/rand/v2"
	"testing"
)

func near(a, b, rel float64) bool {
	if a == b {
		return true
	}
	return math.Abs(a-b) <= rel*math.Max(math.Abs(a), math.Abs(b))
}

// bernoulliKL is the textbook closed form p ln(p/q) + (1−p) ln((1−p)/(1−q)).
func bernoulliKL(p, q float64) float64 {
	return p*math.Log(p/q) + (1-p)*math.Log((1-p)/(1-q))
}

func sigmoid(x float64) float64 { return 1 / (1 + math.Exp(-x)) }

func TestKLBernoulli(t *testing.T) {
	// Two-token logits [0, a] give a Bernoulli distribution with P(token 1) = σ(a).
	for _, tc := range []struct{ a, b float32 }{
		{0, 1}, {1, 0}, {2.5, -1}, {-3, 4}, {0.3, 0.31}, {7, 6},
	} {
		p, q := sigmoid(float64(tc.a)), sigmoid(float64(tc.b))
		want := bernoulliKL(p, q)
		got := KL([]float32{0, tc.a}, []float32{0, tc.b})
		if !near(got, want, 1e-9) {
			t.Errorf("KL(Bern(σ(%g)) ‖ Bern(σ(%g))) = %.15g, want %.15g", tc.a, tc.b, got, want)
		}
		// Adding a constant to all logits changes nothing but float32 rounding.
		ps, qs := []float32{5, 5 + tc.a}, []float32{-2, -2 + tc.b}
		want = bernoulliKL(sigmoid(float64(ps[1])-float64(ps[0])), sigmoid(float64(qs[1])-float64(qs[0])))
		if got := KL(ps, qs); !near(got, want, 1e-9) {
			t.Errorf("shifted logits: KL = %.15g, want %.15g", got, want)
		}
	}
}

func TestKLSelfIsExactlyZero(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, n := range []int{1, 2, 7, 512, 32000} {
		p := make([]float32, n)
		for i := range p {
			p[i] = float32(r.NormFloat64() * 8)
		}
		if got := KL(p, p); got != 0 {
			t.Errorf("n=%d: KL(p,p) = %g, want exactly 0", n, got)
		}
	}
}

func TestKLAgainstDirectSum(t *testing.T) {
	// The plain definition Σ P ln(P/Q), computed term by term from normalized
	// probabilities, is accurate for divergences that are not tiny.
	r := rand.New(rand.NewPCG(3, 4))
	for trial := 0; trial < 20; trial++ {
		n := 2 + r.IntN(300)
		p, q := make([]float32, n), make([]float32, n)
		for i := range p {
			p[i] = float32(r.NormFloat64() * 3)
			q[i] = p[i] + float32(r.NormFloat64()*0.5)
		}
		var zp, zq float64
		for i := range p {
			zp += math.Exp(float64(p[i]))
			zq += math.Exp(float64(q[i]))
		}
		var want float64
		for i := range p {
			pi, qi := math.Exp(float64(p[i]))/zp, math.Exp(float64(q[i]))/zq
			want += pi * math.Log(pi/qi)
		}
		if got := KL(p, q); !near(got, want, 1e-10) {
			t.Errorf("trial %d (n=%d): KL = %.15g, direct sum %.15g", trial, n, got, want)
		}
	}
}

func TestKLSmallPerturbation(t *testing.T) {
	// KL(Bern(σ(δ)) ‖ Bern(1/2)) = ln 2 − H(σ(δ)). With σ(δ) = 1/2 + ε,
	// 2ε = δ/2 − δ³/24 + O(δ⁵) and ln 2 − H(1/2 + ε) = (2ε)²/2 + (2ε)⁴/12 + O(ε⁶),
	// so KL = δ²/8 − δ⁴/48 + δ⁴/192 + O(δ⁶) = δ²/8 − δ⁴/64 + O(δ⁶).
	for _, d := range []float32{1e-2, 1e-3, 1e-4, 1e-5} {
		x := float64(d)
		want := x*x/8 - x*x*x*x/64
		got := KL([]float32{0, d}, []float32{0, 0})
		if !near(got, want, 1e-9) {
			t.Errorf("δ=%g: KL = %.15g, want %.15g", d, got, want)
		}
	}
}

func TestKLEdgeCases(t *testing.T) {
	inf := float32(math.Inf(1))
	for _, tc := range []struct {
		name string
		p, q []float32
		want float64
	}{
		{"huge logits, no overflow", []float32{1000, 0}, []float32{0, 1000}, 1000},
		{"P has a zero", []float32{0, -inf}, []float32{0, 0}, math.Ln2},
		{"Q has a zero P does not", []float32{0, 0}, []float32{0, -inf}, math.Inf(1)},
		{"length mismatch", []float32{0, 1}, []float32{0}, math.NaN()},
		{"empty", nil, nil, math.NaN()},
		{"NaN logit", []float32{0, float32(math.NaN())}, []float32{0, 0}, math.NaN()},
		{"all -Inf", []float32{-inf, -inf}, []float32{0, 0}, math.NaN()},
	} {
		got := KL(tc.p, tc.q)
		if math.IsNaN(tc.want) != math.IsNaN(got) || !math.IsNaN(got) && !near(got, tc.want, 1e-12) {
			t.Errorf("%s: KL = %g, want %g", tc.name, got, tc.want)
		}
	}
}

func TestLogSoftmaxAndNLL(t *testing.T) {
	logits := []float32{1, 2, 3, -1}
	z := math.Exp(1) + math.Exp(2) + math.Exp(3) + math.Exp(-1)
	ls := LogSoftmax(logits)
	for i, v := range logits {
		want := math.Log(math.Exp(float64(v)) / z)
		if !near(ls[i], want, 1e-14) {
			t.Errorf("LogSoftmax[%d] = %.16g, want %.16g", i, ls[i], want)
		}
		if got := NLL(logits, i); !near(got, -want, 1e-14) {
			t.Errorf("NLL(target %d) = %.16g, want %.16g", i, got, -want)
		}
	}
	// Large logits must not overflow.
	if got := NLL([]float32{1e4, 1e4}, 0); !near(got, math.Ln2, 1e-14) {
		t.Errorf("NLL of two equal large logits = %g, want ln 2", got)
	}
	for _, target := range []int{-1, 4} {
		if got := NLL(logits, target); !math.IsNaN(got) {
			t.Errorf("NLL(target %d) = %g, want NaN", target, got)
		}
	}
}

func TestTop1Agree(t *testing.T) {
	for _, tc := range []struct {
		p, q []float32
		want bool
	}{
		{[]float32{1, 3, 2}, []float32{0, 9, 1}, true},
		{[]float32{1, 3, 2}, []float32{0, 1, 9}, false},
		{[]float32{3, 3, 1}, []float32{3, 2, 3}, true}, // ties go to the first index
		{[]float32{1, 2}, []float32{1, 2, 3}, false},
		{nil, nil, false},
	} {
		if got := Top1Agree(tc.p, tc.q); got != tc.want {
			t.Errorf("Top1Agree(%v, %v) = %v, want %v", tc.p, tc.q, got, tc.want)
		}
	}
}

func TestFirstDivergence(t *testing.T) {
	for _, tc := range []struct {
		a, b []int
		want int
	}{
		{[]int{1, 2, 3}, []int{1, 2, 3}, -1},
		{nil, nil, -1},
		{[]int{1, 2, 3}, []int{1, 5, 3}, 1},
		{[]int{9}, []int{1}, 0},
		{[]int{1, 2}, []int{1, 2, 3}, 2},
		{[]int{1, 2, 3}, []int{1}, 1},
	} {
		if got := FirstDivergence(tc.a, tc.b); got != tc.want {
			t.Errorf("FirstDivergence(%v, %v) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
	}
}
