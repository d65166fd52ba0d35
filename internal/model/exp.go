package model

import "math"

// expf is a float32 exponential accurate to about 2 ulp, several times faster
// than math.Exp: Cody–Waite reduction x = k·ln2 + r with |r| ≤ ln2/2, then a
// degree-6 polynomial for e^r (Cephes expf), scaled by 2^k.
func expf(x float32) float32 {
	const (
		hi = 88.72283905206835
		lo = -103.97207708
	)
	if !(x < hi) { // also NaN
		if x != x {
			return x
		}
		return float32(math.Inf(1))
	}
	if x < lo {
		return 0
	}
	t := x * 1.44269504088896341
	if t < 0 {
		t -= 0.5
	} else {
		t += 0.5
	}
	ki := int32(t) // round to nearest
	k := float32(ki)
	r := x - k*0.693359375
	r -= k * -2.12194440e-4
	p := float32(1.9875691500e-4)
	p = p*r + 1.3981999507e-3
	p = p*r + 8.3334519073e-3
	p = p*r + 4.1665795894e-2
	p = p*r + 1.6666665459e-1
	p = p*r + 5.0000001201e-1
	p = p*r*r + r + 1
	if ki > 127 {
		return p * 2 * math.Float32frombits(uint32(ki-1+127)<<23)
	}
	if ki < -126 { // subnormal result: scale in two steps
		return p * math.Float32frombits(uint32(ki+126+127)<<23) * math.Float32frombits(1<<23)
	}
	return p * math.Float32frombits(uint32(ki+127)<<23)
}
