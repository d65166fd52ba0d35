package kernel

import (
	"fmt"
	"math"
)

// vecKernels are the element-wise and attention kernels of an implementation.
// The drivers below validate the operands; the kernels may assume them valid.
type vecKernels struct {
	// exp sets dst[i] = e^src[i]; len(dst) == len(src).
	exp func(dst, src []float32)
	// softmax replaces x by softmax(x); len(x) > 0.
	softmax func(x []float32)
	// siluMul sets gate[i] = silu(gate[i])·up[i]; len(gate) == len(up).
	siluMul func(gate, up []float32)
	// scores sets out[t] = scale·Σ_{i<len(q)} q[i]·keys[t·stride+i].
	scores func(out, q, keys []float32, stride int, scale float32)
	// mix sets out[i] = Σ_{t<len(w)} w[t]·vals[t·stride+i].
	mix func(out, w, vals []float32, stride int)
	// attend is one attention head over len(att) > 0 positions with
	// len(out) == len(q) > 0; att is scratch.
	attend func(out, q, keys, vals, att []float32, stride int, scale float32)
}

// vecGo is the portable set, the reference for the others.
var vecGo = vecKernels{
	exp:     expGo,
	softmax: softmaxGo,
	siluMul: siluMulGo,
	scores:  scoresGo,
	mix:     mixGo,
	attend:  attendGo,
}

// Constants of the exponential: Cody–Waite reduction x = k·ln2 + r with
// ln2 = expC1 + expC2 split so that k·expC1 is exact, and the Cephes expf
// polynomial for e^r on |r| ≤ ln2/2. The assembly uses the same values.
const (
	expLog2e = 1.44269504088896341
	expC1    = 0.693359375
	expC2    = -2.12194440e-4
	expP0    = 1.9875691500e-4
	expP1    = 1.3981999507e-3
	expP2    = 8.3334519073e-3
	expP3    = 4.1665795894e-2
	expP4    = 1.6666665459e-1
	expP5    = 5.0000001201e-1
	// Arguments are clamped to [expLo, expHi]: e^expLo rounds to zero and
	// e^expHi overflows to +Inf, and the clamp keeps k within [-150, 128].
	expLo = -104
	expHi = 89
)

// Expf returns e^x in float32 with an error of about 1 ulp (2 at most):
// several times faster than math.Exp. It returns +Inf for x ≥ ln(MaxFloat32),
// rounds to a subnormal or zero below ln(SmallestNormal), and returns NaN for
// NaN. [Exp] is the same function on a slice, vectorised.
func Expf(x float32) float32 {
	if x != x {
		return x
	}
	x = min(max(x, expLo), expHi)
	// k = round(x·log2e) to nearest even, by the float32 magic-number trick
	// (|x·log2e| < 2^22).
	const magic = 0x1.8p23
	kf := x*expLog2e + magic
	kf -= magic
	k := int32(kf)
	r := x - kf*expC1
	r -= kf * expC2
	p := float32(expP0)
	p = p*r + expP1
	p = p*r + expP2
	p = p*r + expP3
	p = p*r + expP4
	p = p*r + expP5
	p = p*(r*r) + r
	p += 1
	// Scale by 2^k in two exact steps, 2^k1 then 2^k2 with k1+k2 = k, both
	// within the normal exponent range, so that results in the subnormal
	// range and overflow are rounded once, correctly.
	k1 := k >> 1
	k2 := k - k1
	p *= math.Float32frombits(uint32(k1+127) << 23)
	return p * math.Float32frombits(uint32(k2+127)<<23)
}

// Exp sets dst[i] = e^src[i] as [Expf] does. dst may be src. It panics if
// the lengths differ.
func Exp(dst, src []float32) {
	if len(dst) != len(src) {
		panic(fmt.Sprintf("kernel.Exp: length mismatch %d != %d", len(dst), len(src)))
	}
	if len(src) > 0 {
		cur.vec.exp(dst, src)
	}
}

// Softmax replaces x by softmax(x): e^(x[i]−max x) / Σ_j e^(x[j]−max x).
// An empty x is left alone.
func Softmax(x []float32) {
	if len(x) > 0 {
		cur.vec.softmax(x)
	}
}

// SiLUMul sets gate[i] = silu(gate[i])·up[i], where silu(g) = g/(1+e^−g): the
// SwiGLU activation. It panics if the lengths differ.
func SiLUMul(gate, up []float32) {
	if len(gate) != len(up) {
		panic(fmt.Sprintf("kernel.SiLUMul: length mismatch %d != %d", len(gate), len(up)))
	}
	if len(gate) > 0 {
		cur.vec.siluMul(gate, up)
	}
}

func expGo(dst, src []float32) {
	dst = dst[:len(src)]
	for i, v := range src {
		dst[i] = Expf(v)
	}
}

func softmaxGo(x []float32) {
	m := x[0]
	for _, v := range x[1:] {
		m = max(m, v)
	}
	var sum float32
	for i, v := range x {
		e := Expf(v - m)
		x[i] = e
		sum += e
	}
	inv := 1 / sum
	for i := range x {
		x[i] *= inv
	}
}

func siluMulGo(gate, up []float32) {
	up = up[:len(gate)]
	for i, g := range gate {
		gate[i] = g / (1 + Expf(-g)) * up[i]
	}
}
