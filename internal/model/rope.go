package model

import "math"

// ropeTables returns the cosines and sines of the RoPE angles of positions
// 0..n−1 (n × RopeDim/2 each), computed once per model for the longest n
// asked for. The frequency of pair i is base^(−2i/RopeDim), divided by the
// i-th factor of rope_freqs.weight when the model has one (Llama 3.1's
// long-context scaling, as GGUF stores it).
func (m *Model) ropeTables(n int) (cos, sin []float32) {
	m.ropeMu.Lock()
	defer m.ropeMu.Unlock()
	c := &m.Config
	half := c.RopeDim / 2
	if len(m.ropeCos) >= n*half {
		return m.ropeCos[:n*half], m.ropeSin[:n*half]
	}
	var factors []float32
	if f := m.Weights.RopeFreqs; f != nil {
		factors = f.F32s()
	}
	m.ropeCos = make([]float32, n*half)
	m.ropeSin = make([]float32, n*half)
	for i := 0; i < half; i++ {
		freq := 1 / math.Pow(c.RopeBase, float64(2*i)/float64(c.RopeDim))
		if factors != nil {
			freq /= float64(factors[i])
		}
		for p := 0; p < n; p++ {
			a := float64(p) * freq
			m.ropeCos[p*half+i] = float32(math.Cos(a))
			m.ropeSin[p*half+i] = float32(math.Sin(a))
		}
	}
	return m.ropeCos, m.ropeSin
}

// Llama3RopeFactors returns the per-pair frequency divisors of Llama 3.1's
// "llama3" RoPE scaling (what GGUF stores as rope_freqs.weight): pairs whose
// wavelength is shorter than originalContext/highFreqFactor keep their
// frequency, longer than originalContext/lowFreqFactor are divided by factor,
// and those between are interpolated smoothly.
func Llama3RopeFactors(base float64, ropeDim int, factor, lowFreqFactor, highFreqFactor float64, originalContext int) []float32 {
	half := ropeDim / 2
	out := make([]float32, half)
	lowWave := float64(originalContext) / lowFreqFactor
	highWave := float64(originalContext) / highFreqFactor
	for i := range out {
		freq := 1 / math.Pow(base, float64(2*i)/float64(ropeDim))
		wave := 2 * math.Pi / freq
		switch {
		case wave < highWave:
			out[i] = 1
		case wave > lowWave:
			out[i] = float32(factor)
		default:
			smooth := (float64(originalContext)/wave - lowFreqFactor) / (highFreqFactor - lowFreqFactor)
			// new freq = (1−smooth)·freq/factor + smooth·freq
			out[i] = float32(1 / ((1-smooth)/factor + smooth))
		}
	}
	return out
}
