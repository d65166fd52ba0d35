package kernel

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

// ulps returns the distance between got and want in units in the last place
// of float32, counting subnormals, with NaN only matching NaN; sign changes
// and NaN mismatches count as infinitely far.
func ulps(got float32, want float64) float64 {
	w := float32(want)
	if math.IsNaN(want) || got != got {
		if math.IsNaN(want) && got != got {
			return 0
		}
		return math.Inf(1)
	}
	if got == w {
		return 0
	}
	if math.Signbit(float64(got)) != math.Signbit(float64(w)) {
		return math.Inf(1)
	}
	// Measure from the exact value: a correctly rounded result is within 0.5.
	ulp := float64(math.Nextafter32(float32(math.Abs(float64(w))), float32(math.Inf(1)))) - math.Abs(float64(w))
	if math.IsInf(float64(w), 0) {
		return math.Inf(1)
	}
	return math.Abs(float64(got)-want) / ulp
}

// expInputs returns arguments covering the float32 line: a dense sweep of the
// range where e^x is finite and nonzero, a sample of every 1237th bit pattern
// (all exponents, both signs, NaNs), and the special and boundary values.
func expInputs() []float32 {
	var x []float32
	for v := float32(-105); v < 90; v += 0.00097 {
		x = append(x, v)
	}
	for b := uint64(0); b < 1<<32; b += 1237 {
		x = append(x, math.Float32frombits(uint32(b)))
	}
	inf := float32(math.Inf(1))
	x = append(x, 0, float32(math.Copysign(0, -1)), inf, -inf, float32(math.NaN()),
		math.MaxFloat32, -math.MaxFloat32, math.SmallestNonzeroFloat32, -math.SmallestNonzeroFloat32,
		88.72283, 88.72284, 88.7228, -87.33654, -87.33655, -103.27893, -103.97208, -103.97209, -104, -1e-30, 1e-30)
	return x
}

func TestExp(t *testing.T) {
	in := expInputs()
	check := func(t *testing.T, what string, got []float32) {
		t.Helper()
		worst, at := 0.0, float32(0)
		for i, x := range in {
			if e := ulps(got[i], math.Exp(float64(x))); e > worst {
				worst, at = e, x
			}
		}
		// Two ulps is the bound promised; the polynomial and the scaling
		// keep it near one.
		if worst > 2 {
			t.Errorf("%s: worst error %.3g ulp at x = %v (got %v, want %v)", what, worst, at, got[indexOf(in, at)], math.Exp(float64(at)))
		}
		t.Logf("%s: worst error %.3g ulp over %d arguments", what, worst, len(in))
	}
	got := make([]float32, len(in))
	for i, x := range in {
		got[i] = Expf(x)
	}
	check(t, "Expf", got)
	eachImpl(t, func(t *testing.T) {
		out := make([]float32, len(in))
		Exp(out, in)
		check(t, "Exp", out)
		for i := range out {
			if out[i] != got[i] && !(out[i] != out[i] && got[i] != got[i]) {
				// Paths may differ by rounding, not more.
				if ulps(out[i], float64(got[i])) > 2 {
					t.Fatalf("Exp(%v) = %v, Expf gives %v", in[i], out[i], got[i])
				}
			}
		}
		// Every tail length, in place, without touching the next element.
		for n := 0; n <= 17; n++ {
			buf := make([]float32, n+1)
			for i := range buf {
				buf[i] = float32(i) - 3.5
			}
			Exp(buf[:n], buf[:n])
			for i := 0; i < n; i++ {
				if w := Expf(float32(i) - 3.5); ulps(buf[i], float64(w)) > 2 {
					t.Errorf("n=%d: in-place Exp element %d = %v, want %v", n, i, buf[i], w)
				}
			}
			if buf[n] != float32(n)-3.5 {
				t.Errorf("n=%d: Exp wrote past the end", n)
			}
		}
	})
}

func indexOf(x []float32, v float32) int {
	for i, u := range x {
		if u == v || (u != u && v != v) {
			return i
		}
	}
	return 0
}

func TestSoftmax(t *testing.T) {
	eachImpl(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(2, 2))
		for _, n := range []int{1, 2, 3, 7, 8, 9, 15, 16, 17, 31, 64, 65, 100, 1000} {
			for _, spread := range []float64{0.1, 10, 200} {
				x := make([]float32, n+1)
				for i := range x {
					x[i] = float32(spread * r.NormFloat64())
				}
				if n > 4 {
					x[3] = float32(math.Inf(-1)) // a masked position
				}
				const sentinel = 12345
				x[n] = sentinel
				want := make([]float64, n)
				m := math.Inf(-1)
				for _, v := range x[:n] {
					m = math.Max(m, float64(v))
				}
				var sum float64
				for i, v := range x[:n] {
					want[i] = math.Exp(float64(v) - m)
					sum += want[i]
				}
				Softmax(x[:n])
				var got float64
				for i := range want {
					want[i] /= sum
					got += float64(x[i])
					if math.Abs(float64(x[i])-want[i]) > 1e-6*want[i]+1e-7 {
						t.Fatalf("n=%d spread %g: element %d = %v, want %v", n, spread, i, x[i], want[i])
					}
				}
				if math.Abs(got-1) > 1e-5 {
					t.Errorf("n=%d spread %g: weights sum to %v", n, spread, got)
				}
				if x[n] != sentinel {
					t.Errorf("n=%d: Softmax wrote past the end", n)
				}
			}
		}
		Softmax(nil)
	})
}

func TestSiLUMul(t *testing.T) {
	eachImpl(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(3, 3))
		for _, n := range []int{0, 1, 5, 8, 13, 16, 172, 1000} {
			gate, up := make([]float32, n+1), make([]float32, n)
			for i := range up {
				gate[i] = float32(4 * r.NormFloat64())
				up[i] = float32(r.NormFloat64())
			}
			if n > 3 {
				gate[0], gate[1], gate[2] = -100, 100, 0
			}
			const sentinel = -777
			gate[n] = sentinel
			want := make([]float64, n)
			for i := range want {
				g := float64(gate[i])
				want[i] = g / (1 + math.Exp(-g)) * float64(up[i])
			}
			SiLUMul(gate[:n], up)
			for i, w := range want {
				if math.Abs(float64(gate[i])-w) > 1e-6*math.Abs(w)+1e-30 {
					t.Fatalf("n=%d: element %d = %v, want %v", n, i, gate[i], w)
				}
			}
			if gate[n] != sentinel {
				t.Errorf("n=%d: SiLUMul wrote past the end", n)
			}
		}
	})
}

// attnCase is a cache of n positions whose rows are stride floats apart, the
// head's hs floats at offset off of each row.
type attnCase struct{ n, hs, stride, off int }

func attnCases() []attnCase {
	var l []attnCase
	for _, n := range []int{1, 2, 7, 8, 9, 16, 17, 63, 64, 65, 130} {
		for _, hs := range []int{1, 5, 8, 16, 24, 64, 72, 128} {
			l = append(l, attnCase{n, hs, hs, 0}, attnCase{n, hs, 4*hs + 3, 2 * hs})
		}
	}
	return l
}

func TestAttnScores(t *testing.T) {
	eachImpl(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(4, 4))
		for _, c := range attnCases() {
			cache := randVec(r, c.off+(c.n-1)*c.stride+c.hs)
			keys := cache[c.off:]
			q := randVec(r, c.hs)
			out := make([]float32, c.n+1)
			out[c.n] = 99
			AttnScores(out[:c.n], q, keys, c.stride, 0.25)
			for p := 0; p < c.n; p++ {
				want, mag := dotRef(q, keys[p*c.stride:p*c.stride+c.hs])
				if !close32(out[p], 0.25*want, 0.25*mag) {
					t.Fatalf("%+v: position %d = %v, want %v", c, p, out[p], 0.25*want)
				}
			}
			if out[c.n] != 99 {
				t.Fatalf("%+v: wrote past the end", c)
			}
		}
	})
}

func TestAttnMix(t *testing.T) {
	eachImpl(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(5, 5))
		for _, c := range attnCases() {
			cache := randVec(r, c.off+(c.n-1)*c.stride+c.hs)
			vals := cache[c.off:]
			w := randVec(r, c.n)
			out := make([]float32, c.hs+1)
			for i := range out {
				out[i] = 99
			}
			AttnMix(out[:c.hs], w, vals, c.stride)
			for i := 0; i < c.hs; i++ {
				var want, mag float64
				for p := range w {
					v := float64(w[p]) * float64(vals[p*c.stride+i])
					want += v
					mag += math.Abs(v)
				}
				if !close32(out[i], want, mag) {
					t.Fatalf("%+v: element %d = %v, want %v", c, i, out[i], want)
				}
			}
			if out[c.hs] != 99 {
				t.Fatalf("%+v: wrote past the end", c)
			}
		}
		out := []float32{1, 2}
		AttnMix(out, nil, nil, 2)
		if out[0] != 0 || out[1] != 0 {
			t.Errorf("AttnMix over no positions = %v, want zeros", out)
		}
	})
}

func TestAttend(t *testing.T) {
	eachImpl(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(6, 6))
		for _, c := range attnCases() {
			size := c.off + (c.n-1)*c.stride + c.hs
			keys, vals := randVec(r, size)[c.off:], randVec(r, size)[c.off:]
			q := randVec(r, c.hs)
			for i := range q {
				q[i] *= 3 // spread the weights
			}
			att := make([]float32, c.n)
			out := make([]float32, c.hs+1)
			out[c.hs] = 99
			Attend(out[:c.hs], q, keys, vals, att, c.stride, 0.5)
			s := make([]float64, c.n)
			m, mag := math.Inf(-1), 0.0
			for p := range s {
				d, dm := dotRef(q, keys[p*c.stride:p*c.stride+c.hs])
				s[p] = 0.5 * d
				m = math.Max(m, s[p])
				mag = math.Max(mag, 0.5*dm)
			}
			// A score's float32 rounding error, bounded by hs·ε·Σ|terms|, is
			// a relative error of a weight; the values are of size 1.
			tol := 2e-6 + float64(c.hs)*0x1p-24*mag
			var sum float64
			for p := range s {
				s[p] = math.Exp(s[p] - m)
				sum += s[p]
			}
			for i := 0; i < c.hs; i++ {
				var want float64
				for p := range s {
					want += s[p] / sum * float64(vals[p*c.stride+i])
				}
				if math.Abs(float64(out[i])-want) > tol {
					t.Fatalf("%+v: element %d = %v, want %v", c, i, out[i], want)
				}
			}
			if out[c.hs] != 99 {
				t.Fatalf("%+v: wrote past the end", c)
			}
		}
		out := []float32{1, 2}
		Attend(out, []float32{1, 1}, nil, nil, nil, 2, 1)
		if out[0] != 0 || out[1] != 0 {
			t.Errorf("Attend over no positions = %v, want zeros", out)
		}
	})
}

func TestActMisusePanics(t *testing.T) {
	tests := []struct {
		name string
		f    func()
		want string
	}{
		{"exp lengths", func() { Exp(make([]float32, 3), make([]float32, 4)) }, "length mismatch 3 != 4"},
		{"silu lengths", func() { SiLUMul(make([]float32, 3), make([]float32, 2)) }, "length mismatch 3 != 2"},
		{"short keys", func() { AttnScores(make([]float32, 3), make([]float32, 8), make([]float32, 39), 16, 1) }, "do not hold 3 positions of 8"},
		{"negative stride", func() { AttnScores(make([]float32, 3), make([]float32, 8), make([]float32, 64), -1, 1) }, "stride -1"},
		{"short values", func() { AttnMix(make([]float32, 8), make([]float32, 2), make([]float32, 20), 16) }, "do not hold 2 positions of 8"},
		{"attend lengths", func() { Attend(make([]float32, 4), make([]float32, 8), nil, nil, nil, 8, 1) }, "output length 4 != query length 8"},
		{"attend cache", func() {
			Attend(make([]float32, 8), make([]float32, 8), make([]float32, 40), make([]float32, 39), make([]float32, 3), 16, 1)
		}, "40 keys and 39 values (stride 16) do not hold 3 positions of 8"},
	}
	for _, tt := range tests {
		func() {
			defer func() {
				v := recover()
				if v == nil || !strings.Contains(fmt.Sprint(v), tt.want) {
					t.Errorf("%s: panic %v, want one containing %q", tt.name, v, tt.want)
				}
			}()
			tt.f()
		}()
	}
}

// eachImplB runs f as a sub-benchmark per implementation.
func eachImplB(b *testing.B, f func(b *testing.B)) {
	saved := cur
	defer func() { cur = saved }()
	for _, im := range impls() {
		cur = im
		b.Run(im.name, f)
	}
}

func BenchmarkExp(b *testing.B) {
	x := make([]float32, 1024)
	for i := range x {
		x[i] = float32(i%200) * -0.1
	}
	y := make([]float32, len(x))
	eachImplB(b, func(b *testing.B) {
		for b.Loop() {
			Exp(y, x)
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(x)), "ns/exp")
	})
}

func BenchmarkSoftmax(b *testing.B) {
	eachImplB(b, func(b *testing.B) {
		for _, n := range []int{64, 1024} {
			src := benchVec(n)
			x := make([]float32, n)
			b.Run(fmt.Sprint(n), func(b *testing.B) {
				for b.Loop() {
					copy(x, src)
					Softmax(x)
				}
			})
		}
	})
}

func BenchmarkSiLUMul(b *testing.B) {
	eachImplB(b, func(b *testing.B) {
		for _, n := range []int{172, 11008} {
			gate, up := benchVec(n), benchVec(n)
			b.Run(fmt.Sprint(n), func(b *testing.B) {
				for b.Loop() {
					SiLUMul(gate, up)
				}
			})
		}
	})
}

// BenchmarkAttn times one head's scores, weighted sum, both with the softmax
// in between, and Attend, over n positions:
// heads of 8 in rows of 32 as in stories260K, and heads of 64 in rows of 768.
func BenchmarkAttn(b *testing.B) {
	eachImplB(b, func(b *testing.B) {
		for _, c := range []attnCase{{64, 8, 32, 8}, {128, 8, 32, 8}, {512, 64, 768, 64}} {
			cache := benchVec(c.n*c.stride + c.off)
			kv := cache[c.off:]
			q := benchVec(c.hs)
			att := make([]float32, c.n)
			out := make([]float32, c.hs)
			b.Run(fmt.Sprintf("n=%d/hs=%d/scores", c.n, c.hs), func(b *testing.B) {
				for b.Loop() {
					AttnScores(att, q, kv, c.stride, 0.125)
				}
			})
			b.Run(fmt.Sprintf("n=%d/hs=%d/mix", c.n, c.hs), func(b *testing.B) {
				for b.Loop() {
					AttnMix(out, att, kv, c.stride)
				}
			})
			b.Run(fmt.Sprintf("n=%d/hs=%d/separate", c.n, c.hs), func(b *testing.B) {
				for b.Loop() {
					AttnScores(att, q, kv, c.stride, 0.125)
					Softmax(att)
					AttnMix(out, att, kv, c.stride)
				}
			})
			b.Run(fmt.Sprintf("n=%d/hs=%d/fused", c.n, c.hs), func(b *testing.B) {
				for b.Loop() {
					Attend(out, q, kv, kv, att, c.stride, 0.125)
				}
			})
		}
	})
}
