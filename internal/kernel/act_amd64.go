//go:build amd64 && !noasm

package kernel

// Element-wise and attention kernels in act_amd64.s. Pointers must be valid
// for the lengths given; the wrappers below derive them from slices the
// drivers have validated.

//go:noescape
func expAVX2(dst, src *float32, n int)

//go:noescape
func softmaxAVX2(x *float32, n int)

//go:noescape
func siluMulAVX2(gate, up *float32, n int)

// attnScoresAVX2 needs hs to be a positive multiple of 8.
//
//go:noescape
func attnScoresAVX2(out, q, keys *float32, stride, hs, n int, scale float32)

// attnMixAVX2 needs hs to be a positive multiple of 8.
//
//go:noescape
func attnMixAVX2(out, w, vals *float32, stride, hs, n int)

// attendAVX2 needs n ≥ 8 and hs a positive multiple of 8.
//
//go:noescape
func attendAVX2(out, q, keys, vals, att *float32, stride, hs, n int, scale float32)

// vecAVX2 uses 256-bit kernels; heads whose size is not a multiple of 8, and
// fused attention over fewer than 8 positions, use the portable kernels.
var vecAVX2 = vecKernels{
	exp: func(dst, src []float32) {
		expAVX2(&dst[0], &src[0], len(src))
	},
	softmax: func(x []float32) {
		softmaxAVX2(&x[0], len(x))
	},
	siluMul: func(gate, up []float32) {
		siluMulAVX2(&gate[0], &up[0], len(gate))
	},
	scores: func(out, q, keys []float32, stride int, scale float32) {
		if len(q)%8 != 0 {
			scoresGo(out, q, keys, stride, scale)
			return
		}
		attnScoresAVX2(&out[0], &q[0], &keys[0], stride, len(q), len(out), scale)
	},
	mix: func(out, w, vals []float32, stride int) {
		if len(out)%8 != 0 {
			mixGo(out, w, vals, stride)
			return
		}
		attnMixAVX2(&out[0], &w[0], &vals[0], stride, len(out), len(w))
	},
	attend: func(out, q, keys, vals, att []float32, stride int, scale float32) {
		if len(att) < 8 || len(q)%8 != 0 {
			attendGo(out, q, keys, vals, att, stride, scale)
			return
		}
		attendAVX2(&out[0], &q[0], &keys[0], &vals[0], &att[0], stride, len(q), len(att), scale)
	},
}
