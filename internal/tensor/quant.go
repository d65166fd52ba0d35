package tensor

import (
	"encoding/binary"
	"fmt"
	"math"
)

// Dequantize decodes the first len(dst) elements stored in src as type t into dst.
// len(dst) must be a whole number of blocks of t and src must hold at least
// t.Bytes(len(dst)) bytes; extra bytes are ignored, so a row may be decoded in part.
// Supported types: F32, F16, BF16, Q8_0, Q8F32, Q4_0, Q4_K and Q6_K.
func Dequantize(dst []float32, t DType, src []byte) error {
	need, err := t.Bytes(len(dst))
	if err != nil {
		return fmt.Errorf("dequantize: %v", err)
	}
	if len(src) < need {
		return fmt.Errorf("dequantize: %d %s elements need %d bytes, have %d", len(dst), t, need, len(src))
	}
	src = src[:need]
	switch t {
	case F32:
		for i := range dst {
			dst[i] = math.Float32frombits(binary.LittleEndian.Uint32(src[4*i:]))
		}
	case F16:
		for i := range dst {
			dst[i] = F16ToF32(binary.LittleEndian.Uint16(src[2*i:]))
		}
	case BF16:
		for i := range dst {
			dst[i] = BF16ToF32(binary.LittleEndian.Uint16(src[2*i:]))
		}
	case Q8_0:
		for b := 0; len(src) > 0; b++ {
			d := F16ToF32(binary.LittleEndian.Uint16(src))
			q := src[2:34]
			y := dst[32*b : 32*b+32]
			for j := range y {
				y[j] = d * float32(int8(q[j]))
			}
			src = src[34:]
		}
	case Q8F32:
		for b := 0; len(src) > 0; b++ {
			d := math.Float32frombits(binary.LittleEndian.Uint32(src))
			q := src[4:36]
			y := dst[32*b : 32*b+32]
			for j := range y {
				y[j] = d * float32(int8(q[j]))
			}
			src = src[36:]
		}
	case Q4_0:
		for b := 0; len(src) > 0; b++ {
			dequantQ4_0(dst[32*b:32*b+32], src[:18])
			src = src[18:]
		}
	case Q4_K:
		for b := 0; len(src) > 0; b++ {
			dequantQ4K(dst[256*b:256*b+256], src[:144])
			src = src[144:]
		}
	case Q6_K:
		for b := 0; len(src) > 0; b++ {
			dequantQ6K(dst[256*b:256*b+256], src[:210])
			src = src[210:]
		}
	default:
		return fmt.Errorf("dequantize: type %s is not supported", t)
	}
	return nil
}

// dequantQ4_0 decodes one Q4_0 block: an f16 scale d, then 16 bytes whose low
// nibbles are elements 0..15 and high nibbles elements 16..31, each (q-8)·d.
func dequantQ4_0(y []float32, b []byte) {
	d := F16ToF32(binary.LittleEndian.Uint16(b))
	q := b[2:18]
	for j, v := range q {
		y[j] = d * float32(int(v&0xf)-8)
		y[j+16] = d * float32(int(v>>4)-8)
	}
}

// q4KScaleMin returns the 6-bit scale and min of sub-block j (0..7) from the
// 12 packed bytes of a Q4_K block.
func q4KScaleMin(j int, s []byte) (sc, m uint8) {
	if j < 4 {
		return s[j] & 63, s[j+4] & 63
	}
	return s[j+4]&0xf | (s[j-4]>>6)<<4, s[j+4]>>4 | (s[j]>>6)<<4
}

// dequantQ4K decodes one Q4_K super-block (256 elements): f16 d, f16 dmin,
// 12 bytes of packed 6-bit scales and mins for 8 sub-blocks of 32, then 128
// bytes of 4-bit quants. Each group of 64 elements takes its first 32 from the
// low nibbles and its second 32 from the high nibbles of 32 bytes.
func dequantQ4K(y []float32, b []byte) {
	d := F16ToF32(binary.LittleEndian.Uint16(b))
	dmin := F16ToF32(binary.LittleEndian.Uint16(b[2:]))
	scales := b[4:16]
	qs := b[16:144]
	for g := 0; g < 4; g++ {
		sc1, m1 := q4KScaleMin(2*g, scales)
		sc2, m2 := q4KScaleMin(2*g+1, scales)
		d1, min1 := d*float32(sc1), dmin*float32(m1)
		d2, min2 := d*float32(sc2), dmin*float32(m2)
		q := qs[32*g : 32*g+32]
		out := y[64*g : 64*g+64]
		for l, v := range q {
			out[l] = d1*float32(v&0xf) - min1
			out[l+32] = d2*float32(v>>4) - min2
		}
	}
}

// dequantQ6K decodes one Q6_K super-block (256 elements): 128 bytes of low
// nibbles (ql), 64 bytes of high 2-bit pairs (qh), 16 int8 scales (one per 16
// elements) and an f16 super-scale d. Each half of 128 elements uses 64 ql
// bytes, 32 qh bytes and 8 scales.
func dequantQ6K(y []float32, b []byte) {
	ql := b[0:128]
	qh := b[128:192]
	sc := b[192:208]
	d := F16ToF32(binary.LittleEndian.Uint16(b[208:]))
	for h := 0; h < 2; h++ {
		l4 := ql[64*h : 64*h+64]
		h2 := qh[32*h : 32*h+32]
		s := sc[8*h : 8*h+8]
		out := y[128*h : 128*h+128]
		for l := 0; l < 32; l++ {
			is := l / 16
			q1 := int(l4[l]&0xf|(h2[l]&3)<<4) - 32
			q2 := int(l4[l+32]&0xf|(h2[l]>>2&3)<<4) - 32
			q3 := int(l4[l]>>4|(h2[l]>>4&3)<<4) - 32
			q4 := int(l4[l+32]>>4|(h2[l]>>6&3)<<4) - 32
			out[l] = d * float32(int8(s[is])) * float32(q1)
			out[l+32] = d * float32(int8(s[is+2])) * float32(q2)
			out[l+64] = d * float32(int8(s[is+4])) * float32(q3)
			out[l+96] = d * float32(int8(s[is+6])) * float32(q4)
		}
	}
}

// Quantize encodes src as type t into dst, which must hold at least
// t.Bytes(len(src)) bytes; exactly that many are written. len(src) must be a
// whole number of blocks. Supported types: F32, F16, BF16 (round to nearest
// even), Q8_0 and Q8F32.
//
// Q8_0 follows llama.cpp's reference quantize_row_q8_0: per block of 32,
// d = max|x|/127, stored as f16, and q = round(x·(1/d)) with halves rounded
// away from zero (the float32 d is used, not its f16 rounding).
// Q8F32 follows llama2.c's runtime quantizer: a float32 scale s = max|x|/127
// and q = round(x/s), halves away from zero. An all-zero block gets scale 0.
// Quantizing a NaN or an infinity into Q8_0 or Q8F32 is an error.
func Quantize(dst []byte, t DType, src []float32) error {
	need, err := t.Bytes(len(src))
	if err != nil {
		return fmt.Errorf("quantize: %v", err)
	}
	if len(dst) < need {
		return fmt.Errorf("quantize: %d %s elements need %d bytes, have %d", len(src), t, need, len(dst))
	}
	dst = dst[:need]
	switch t {
	case F32:
		for i, v := range src {
			binary.LittleEndian.PutUint32(dst[4*i:], math.Float32bits(v))
		}
	case F16:
		for i, v := range src {
			binary.LittleEndian.PutUint16(dst[2*i:], F32ToF16(v))
		}
	case BF16:
		for i, v := range src {
			binary.LittleEndian.PutUint16(dst[2*i:], F32ToBF16(v))
		}
	case Q8_0:
		for b := 0; b < len(src)/32; b++ {
			x := src[32*b : 32*b+32]
			amax, err := absMax(x)
			if err != nil {
				return fmt.Errorf("quantize: block %d: %v", b, err)
			}
			d := amax / 127
			var id float32
			if d != 0 {
				id = 1 / d
			}
			o := dst[34*b : 34*b+34]
			binary.LittleEndian.PutUint16(o, F32ToF16(d))
			for j, v := range x {
				o[2+j] = byte(int8(math.Round(float64(v * id))))
			}
		}
	case Q8F32:
		for b := 0; b < len(src)/32; b++ {
			x := src[32*b : 32*b+32]
			amax, err := absMax(x)
			if err != nil {
				return fmt.Errorf("quantize: block %d: %v", b, err)
			}
			s := amax / 127
			o := dst[36*b : 36*b+36]
			binary.LittleEndian.PutUint32(o, math.Float32bits(s))
			for j, v := range x {
				var q int8
				if s != 0 {
					q = int8(math.Round(float64(v / s)))
				}
				o[4+j] = byte(q)
			}
		}
	default:
		return fmt.Errorf("quantize: type %s is not supported", t)
	}
	return nil
}

// absMax returns max |x|, or an error when x holds a NaN or an infinity.
func absMax(x []float32) (float32, error) {
	var m float32
	for i, v := range x {
		a := float32(math.Abs(float64(v)))
		if !(a <= math.MaxFloat32) {
			return 0, fmt.Errorf("element %d is %v", i, v)
		}
		if a > m {
			m = a
		}
	}
	return m, nil
}
