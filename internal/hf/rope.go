package hf

import (
	"fmt"
	"math"
)

// Rotary layouts.
//
// Hugging Face Llama applies RoPE with rotate_half: in each head of size d,
// dimension i (i < d/2) is rotated together with dimension i + d/2. GGUF's
// llama architecture (like the original Llama code and llama2.c) rotates
// interleaved pairs: dimension 2i together with 2i+1, by the same angle as
// HF's pair i. The two are the same model once the rows of the query and key
// projections are reordered, which is what llama.cpp's converter does:
// viewing the rows of each head as (2, d/2), swap the two axes. Row
// h·d + j·d/2 + i of the HF weight becomes row h·d + 2i + j.

// PermuteQK reorders the rows of a query or key projection (or its bias) from
// Hugging Face's rotate_half layout to GGUF's interleaved-pair layout. src
// holds rows of rowBytes bytes each, nHead heads of rows each; dst receives
// the permuted rows and must not overlap src.
func PermuteQK(dst, src []byte, nHead, rowBytes int) error {
	return permuteRows(dst, src, nHead, rowBytes, false)
}

// UnpermuteQK is the inverse of PermuteQK (GGUF to Hugging Face).
func UnpermuteQK(dst, src []byte, nHead, rowBytes int) error {
	return permuteRows(dst, src, nHead, rowBytes, true)
}

func permuteRows(dst, src []byte, nHead, rowBytes int, inverse bool) error {
	if nHead <= 0 || rowBytes <= 0 || len(src)%rowBytes != 0 {
		return fmt.Errorf("hf: cannot permute %d bytes as %d heads of %d-byte rows", len(src), nHead, rowBytes)
	}
	rows := len(src) / rowBytes
	if rows%nHead != 0 || (rows/nHead)%2 != 0 {
		return fmt.Errorf("hf: cannot permute %d rows as %d heads of an even size", rows, nHead)
	}
	if len(dst) != len(src) {
		return fmt.Errorf("hf: permute: destination is %d bytes, source %d", len(dst), len(src))
	}
	d := rows / nHead
	half := d / 2
	for h := 0; h < nHead; h++ {
		for j := 0; j < 2; j++ {
			for i := 0; i < half; i++ {
				hfRow := h*d + j*half + i
				ggRow := h*d + 2*i + j
				from, to := hfRow, ggRow
				if inverse {
					from, to = ggRow, hfRow
				}
				copy(dst[to*rowBytes:(to+1)*rowBytes], src[from*rowBytes:(from+1)*rowBytes])
			}
		}
	}
	return nil
}

// Llama3RopeFactors returns the per-frequency divisors of Llama 3.1's RoPE
// scaling, as llama.cpp's converter stores them in the tensor
// rope_freqs.weight (headDim/2 float32 values). The rotation frequency of
// pair i becomes
//
//	θ_i = base^(-2i/headDim) / factors[i]
//
// which equals Hugging Face's "llama3" rope_type: with wavelength
// λ_i = 2π·base^(2i/headDim), L = original_max_position_embeddings,
// factors[i] is 1 when λ_i < L/high_freq_factor, factor when
// λ_i > L/low_freq_factor, and otherwise 1/((1−s)/factor + s) with
// s = (L/λ_i − low_freq_factor)/(high_freq_factor − low_freq_factor).
func Llama3RopeFactors(headDim int, base float64, r *RopeScaling) ([]float32, error) {
	if r.Factor <= 0 || r.LowFreqFactor <= 0 || r.HighFreqFactor <= r.LowFreqFactor || r.OriginalMaxPositionEmbeddings <= 0 {
		return nil, fmt.Errorf("rope_scaling llama3 needs factor > 0, 0 < low_freq_factor < high_freq_factor and original_max_position_embeddings > 0; have %+v", *r)
	}
	L := float64(r.OriginalMaxPositionEmbeddings)
	lowWave := L / r.LowFreqFactor
	highWave := L / r.HighFreqFactor
	out := make([]float32, headDim/2)
	for i := range out {
		freq := 1 / math.Pow(base, float64(2*i)/float64(headDim))
		wave := 2 * math.Pi / freq
		switch {
		case wave < highWave:
			out[i] = 1
		case wave > lowWave:
			out[i] = float32(r.Factor)
		default:
			s := (L/wave - r.LowFreqFactor) / (r.HighFreqFactor - r.LowFreqFactor)
			out[i] = float32(1 / ((1-s)/r.Factor + s))
		}
	}
	return out, nil
}
