package hf

import (
	"bytes"
	"math"
	"math/rand/v2"
	"testing"
)

func TestPermuteRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	for _, heads := range []int{1, 2, 4} {
		for _, hd := range []int{2, 4, 8} {
			for _, rowBytes := range []int{1, 4, 6} {
				src := make([]byte, heads*hd*rowBytes)
				for i := range src {
					src[i] = byte(rng.Uint32())
				}
				perm := make([]byte, len(src))
				back := make([]byte, len(src))
				if err := PermuteQK(perm, src, heads, rowBytes); err != nil {
					t.Fatal(err)
				}
				if err := UnpermuteQK(back, perm, heads, rowBytes); err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(back, src) {
					t.Errorf("heads %d, head size %d, row %d bytes: Unpermute(Permute(x)) != x", heads, hd, rowBytes)
				}
				if hd >= 4 && bytes.Equal(perm, src) {
					t.Errorf("heads %d, head size %d: Permute is the identity", heads, hd)
				}
			}
		}
	}
	// One head of four rows a b c d: HF rotates (a, c) and (b, d); GGUF
	// rotates adjacent pairs, so the rows become a c b d.
	got := make([]byte, 4)
	PermuteQK(got, []byte("abcd"), 1, 1)
	if string(got) != "acbd" {
		t.Errorf("Permute(abcd) = %s, want acbd", got)
	}
	for _, tc := range []struct {
		n, heads, row int
	}{{12, 2, 4}, {8, 3, 1}, {6, 1, 2}, {8, 0, 1}} {
		if err := PermuteQK(make([]byte, tc.n), make([]byte, tc.n), tc.heads, tc.row); err == nil {
			t.Errorf("%d bytes as %d heads of %d-byte rows: no error", tc.n, tc.heads, tc.row)
		}
	}
}

// TestPermuteRoPE checks, in float64, that rotate_half RoPE on the outputs of
// HF weights equals interleaved-pair RoPE on the outputs of the permuted
// weights (up to the same permutation), and that attention scores agree.
func TestPermuteRoPE(t *testing.T) {
	rng := rand.New(rand.NewPCG(2, 2))
	const heads, hd, dim = 3, 8, 5
	half := hd / 2
	w := make([]float64, heads*hd*dim)
	wk := make([]float64, heads*hd*dim)
	for i := range w {
		w[i], wk[i] = rng.NormFloat64(), rng.NormFloat64()
	}
	x := make([]float64, dim)
	for i := range x {
		x[i] = rng.NormFloat64()
	}
	matvec := func(w []float64) []float64 {
		out := make([]float64, heads*hd)
		for r := range out {
			for c := 0; c < dim; c++ {
				out[r] += w[r*dim+c] * x[c]
			}
		}
		return out
	}
	permute := func(w []float64) []float64 {
		src := make([]byte, 8*len(w))
		for i, v := range w {
			putF64(src[8*i:], v)
		}
		dst := make([]byte, len(src))
		if err := PermuteQK(dst, src, heads, 8*dim); err != nil {
			t.Fatal(err)
		}
		out := make([]float64, len(w))
		for i := range out {
			out[i] = getF64(dst[8*i:])
		}
		return out
	}
	theta := func(i, pos int) float64 { return float64(pos) * math.Pow(10000, -float64(2*i)/hd) }
	rotateHalf := func(v []float64, pos int) []float64 {
		out := append([]float64(nil), v...)
		for h := 0; h < heads; h++ {
			for i := 0; i < half; i++ {
				a, b := v[h*hd+i], v[h*hd+i+half]
				c, s := math.Cos(theta(i, pos)), math.Sin(theta(i, pos))
				out[h*hd+i] = a*c - b*s
				out[h*hd+i+half] = b*c + a*s
			}
		}
		return out
	}
	interleaved := func(v []float64, pos int) []float64 {
		out := append([]float64(nil), v...)
		for h := 0; h < heads; h++ {
			for i := 0; i < half; i++ {
				a, b := v[h*hd+2*i], v[h*hd+2*i+1]
				c, s := math.Cos(theta(i, pos)), math.Sin(theta(i, pos))
				out[h*hd+2*i] = a*c - b*s
				out[h*hd+2*i+1] = b*c + a*s
			}
		}
		return out
	}
	for _, pos := range []int{0, 1, 7, 100} {
		qHF := rotateHalf(matvec(w), pos)
		kHF := rotateHalf(matvec(wk), pos+3)
		qGG := interleaved(matvecWith(permute(w), x, heads*hd, dim), pos)
		kGG := interleaved(matvecWith(permute(wk), x, heads*hd, dim), pos+3)
		for h := 0; h < heads; h++ {
			for i := 0; i < half; i++ {
				for j := 0; j < 2; j++ {
					if d := math.Abs(qGG[h*hd+2*i+j] - qHF[h*hd+j*half+i]); d > 1e-12 {
						t.Fatalf("pos %d head %d pair %d: permuted and rotated differ by %g", pos, h, i, d)
					}
				}
			}
			var sHF, sGG float64
			for i := 0; i < hd; i++ {
				sHF += qHF[h*hd+i] * kHF[h*hd+i]
				sGG += qGG[h*hd+i] * kGG[h*hd+i]
			}
			if math.Abs(sHF-sGG) > 1e-10 {
				t.Errorf("pos %d head %d: attention score %g (HF) vs %g (GGUF)", pos, h, sHF, sGG)
			}
		}
		// Without the permutation the rotation is a different one.
		if pos > 0 {
			qBad := interleaved(matvec(w), pos)
			var diff float64
			for i := range qBad {
				diff = math.Max(diff, math.Abs(qBad[i]-qHF[i]))
			}
			if diff < 1e-3 {
				t.Errorf("pos %d: interleaved RoPE on unpermuted rows matches rotate_half (diff %g)", pos, diff)
			}
		}
	}
}

func matvecWith(w, x []float64, rows, cols int) []float64 {
	out := make([]float64, rows)
	for r := range out {
		for c := 0; c < cols; c++ {
			out[r] += w[r*cols+c] * x[c]
		}
	}
	return out
}

func putF64(b []byte, v float64) {
	u := math.Float64bits(v)
	for i := 0; i < 8; i++ {
		b[i] = byte(u >> (8 * i))
	}
}

func getF64(b []byte) float64 {
	var u uint64
	for i := 0; i < 8; i++ {
		u |= uint64(b[i]) << (8 * i)
	}
	return math.Float64frombits(u)
}

// TestLlama3RopeFactors compares the factors with Hugging Face's "llama3"
// inverse frequencies, computed here as transformers does: scale every
// low-frequency inv_freq by 1/factor, then blend the medium ones.
func TestLlama3RopeFactors(t *testing.T) {
	r := &RopeScaling{RopeType: "llama3", Factor: 8, LowFreqFactor: 1, HighFreqFactor: 4, OriginalMaxPositionEmbeddings: 8192}
	const hd, base = 128, 500000.0
	got, err := Llama3RopeFactors(hd, base, r)
	if err != nil {
		t.Fatal(err)
	}
	regimes := map[string]int{}
	for i := 0; i < hd/2; i++ {
		inv := 1 / math.Pow(base, float64(2*i)/hd)
		wavelen := 2 * math.Pi / inv
		lowWave := 8192.0 / 1
		highWave := 8192.0 / 4
		scaled := inv
		if wavelen > lowWave {
			scaled = inv / 8
		}
		smooth := (8192/wavelen - 1) / (4 - 1)
		smoothed := (1-smooth)*scaled/8 + smooth*scaled
		medium := !(wavelen < highWave) && !(wavelen > lowWave)
		if medium {
			scaled = smoothed
			regimes["medium"]++
		} else if wavelen > lowWave {
			regimes["low"]++
		} else {
			regimes["high"]++
		}
		want := inv / scaled
		if math.Abs(float64(got[i])-want) > 1e-6*want {
			t.Errorf("factor %d = %v, want %v", i, got[i], want)
		}
	}
	if len(regimes) != 3 {
		t.Errorf("the test covers only the regimes %v", regimes)
	}
	if _, err := Llama3RopeFactors(hd, base, &RopeScaling{Factor: 8, LowFreqFactor: 4, HighFreqFactor: 1, OriginalMaxPositionEmbeddings: 8192}); err == nil {
		t.Error("high_freq_factor below low_freq_factor accepted")
	}
}
