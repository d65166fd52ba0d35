package kernel

import (
	"fmt"
	"math"
)

// AttnScores sets, for every position t < len(out),
//
//	out[t] = scale · Σ_{i<len(q)} q[i]·keys[t·stride + i]:
//
// the attention scores of one head's query q against the keys of positions
// 0..len(out)-1 of a cache whose rows are stride floats apart (the head's keys
// starting at keys[0]). It panics if stride < 0 or keys is too short.
func AttnScores(out, q, keys []float32, stride int, scale float32) {
	n, hs := len(out), len(q)
	if n == 0 {
		return
	}
	if stride < 0 || len(keys) < (n-1)*stride+hs {
		panic(fmt.Sprintf("kernel.AttnScores: %d keys (stride %d) do not hold %d positions of %d", len(keys), stride, n, hs))
	}
	if hs == 0 {
		clear(out)
		return
	}
	cur.vec.scores(out, q, keys, stride, scale)
}

// AttnMix sets, for every i < len(out),
//
//	out[i] = Σ_{t<len(w)} w[t]·vals[t·stride + i]:
//
// one head's sum of the cached values of positions 0..len(w)-1 weighted by
// its attention weights w, rows stride floats apart (the head's values
// starting at vals[0]). It panics if stride < 0 or vals is too short.
func AttnMix(out, w, vals []float32, stride int) {
	n, hs := len(w), len(out)
	if hs == 0 {
		return
	}
	if n == 0 {
		clear(out)
		return
	}
	if stride < 0 || len(vals) < (n-1)*stride+hs {
		panic(fmt.Sprintf("kernel.AttnMix: %d values (stride %d) do not hold %d positions of %d", len(vals), stride, n, hs))
	}
	cur.vec.mix(out, w, vals, stride)
}

// Attend computes one attention head over the positions 0..len(att)-1 of a
// key and value cache whose rows are stride floats apart (the head's keys
// and values starting at keys[0] and vals[0]):
//
//	out = Σ_t a_t·vals[t·stride:][:len(out)],  a = softmax(s),
//	s_t = scale · Σ_{i<len(q)} q[i]·keys[t·stride + i].
//
// It is AttnScores, Softmax and AttnMix in one pass over the cache, except
// that the weights are normalised after the sum rather than before (so the
// results differ by rounding). att is scratch, one float per position; its
// contents afterwards are unspecified. With no positions out is zeroed. It
// panics if len(out) != len(q), stride < 0 or the cache is too short.
func Attend(out, q, keys, vals, att []float32, stride int, scale float32) {
	n, hs := len(att), len(q)
	if len(out) != hs {
		panic(fmt.Sprintf("kernel.Attend: output length %d != query length %d", len(out), hs))
	}
	if hs == 0 {
		return
	}
	if n == 0 {
		clear(out)
		return
	}
	if stride < 0 || len(keys) < (n-1)*stride+hs || len(vals) < (n-1)*stride+hs {
		panic(fmt.Sprintf("kernel.Attend: %d keys and %d values (stride %d) do not hold %d positions of %d", len(keys), len(vals), stride, n, hs))
	}
	cur.vec.attend(out, q, keys, vals, att, stride, scale)
}

func attendGo(out, q, keys, vals, att []float32, stride int, scale float32) {
	scoresGo(att, q, keys, stride, scale)
	m := att[0]
	for _, v := range att[1:] {
		m = max(m, v)
	}
	var sum float32
	for i, v := range att {
		e := Expf(v - m)
		att[i] = e
		sum += e
	}
	mixGo(out, att, vals, stride)
	inv := 1 / sum
	for i := range out {
		out[i] *= inv
	}
}

func scoresGo(out, q, keys []float32, stride int, scale float32) {
	hs := len(q)
	for t := range out {
		out[t] = dotGo(q, keys[t*stride:t*stride+hs]) * scale
	}
}

func mixGo(out, w, vals []float32, stride int) {
	hs := len(out)
	clear(out)
	for t, a := range w {
		v := vals[t*stride : t*stride+hs]
		for i := range out {
			out[i] += a * v[i]
		}
	}
}

// checkVec compares the element-wise and attention kernels of im with the
// portable ones (part of selfCheck).
func checkVec(im *impl, rnd func() float32) error {
	// near reports whether a is within tol of b, relative to mag.
	near := func(a, b float32, tol, mag float64) bool {
		return math.Abs(float64(a-b)) <= tol*mag+1e-7
	}
	abs := func(v float32) float64 { return math.Abs(float64(v)) }
	for _, n := range []int{1, 7, 8, 13, 35} {
		x := make([]float32, n)
		for i := range x {
			x[i] = 8 * rnd()
		}
		got, want := make([]float32, n), make([]float32, n)
		im.vec.exp(got, x)
		vecGo.exp(want, x)
		for i := range got {
			if !near(got[i], want[i], 1e-6, abs(want[i])) {
				return fmt.Errorf("%s exp(%v) = %v, want %v", im.name, x[i], got[i], want[i])
			}
		}
		copy(got, x)
		copy(want, x)
		im.vec.softmax(got)
		vecGo.softmax(want)
		for i := range got {
			if !near(got[i], want[i], 1e-5, abs(want[i])) {
				return fmt.Errorf("%s softmax n=%d: element %d = %v, want %v", im.name, n, i, got[i], want[i])
			}
		}
		up := make([]float32, n)
		for i := range up {
			up[i] = rnd()
		}
		copy(got, x)
		copy(want, x)
		im.vec.siluMul(got, up)
		vecGo.siluMul(want, up)
		for i := range got {
			if !near(got[i], want[i], 1e-5, abs(want[i])) {
				return fmt.Errorf("%s silu·up n=%d: element %d = %v, want %v", im.name, n, i, got[i], want[i])
			}
		}
		for _, hs := range []int{8, 16, 5} {
			const stride = 37
			q, kv := make([]float32, hs), make([]float32, n*stride)
			for i := range q {
				q[i] = rnd()
			}
			for i := range kv {
				kv[i] = rnd()
			}
			var qmag float64
			for _, v := range q {
				qmag += abs(v)
			}
			im.vec.scores(got, q, kv, stride, 0.5)
			vecGo.scores(want, q, kv, stride, 0.5)
			for i := range got {
				if !near(got[i], want[i], 1e-5, qmag) {
					return fmt.Errorf("%s scores n=%d hs=%d: position %d = %v, want %v", im.name, n, hs, i, got[i], want[i])
				}
			}
			var wmag float64
			for _, v := range x {
				wmag += abs(v)
			}
			g, w := make([]float32, hs), make([]float32, hs)
			im.vec.mix(g, x, kv, stride)
			vecGo.mix(w, x, kv, stride)
			for i := range g {
				if !near(g[i], w[i], 1e-5, wmag) {
					return fmt.Errorf("%s mix n=%d hs=%d: element %d = %v, want %v", im.name, n, hs, i, g[i], w[i])
				}
			}
			im.vec.attend(g, q, kv, kv[1:], got, stride, 0.5)
			vecGo.attend(w, q, kv, kv[1:], want, stride, 0.5)
			for i := range g {
				if !near(g[i], w[i], 1e-5, 1) {
					return fmt.Errorf("%s attend n=%d hs=%d: element %d = %v, want %v", im.name, n, hs, i, g[i], w[i])
				}
			}
		}
	}
	return nil
}
