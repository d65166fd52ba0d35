package tensor

import (
	"encoding/binary"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

func TestDequantizeKnownValues(t *testing.T) {
	// Bit patterns from the IEEE 754 binary16 and bfloat16 definitions.
	f16 := []byte{0x00, 0x3c, 0x00, 0xc0, 0xff, 0x7b, 0x00, 0x38, 0x01, 0x00}
	bf16 := []byte{0x80, 0x3f, 0x00, 0xc0, 0x49, 0x40}
	f32 := []byte{0x00, 0x00, 0x80, 0x3f, 0x00, 0x00, 0x20, 0xc1}
	// Q4_0: d = 1.0, byte j holds j (low nibble) and 15-j (high nibble).
	q40 := []byte{0x00, 0x3c}
	var q40want []float32
	for j := 0; j < 16; j++ {
		q40 = append(q40, byte(j|(15-j)<<4))
	}
	for j := 0; j < 32; j++ {
		if j < 16 {
			q40want = append(q40want, float32(j-8))
		} else {
			q40want = append(q40want, float32(15-(j-16)-8))
		}
	}
	// Q8_0: d = 0.5 (f16 0x3800), q = -16..15.
	q80 := []byte{0x00, 0x38}
	var q80want []float32
	for j := 0; j < 32; j++ {
		q80 = append(q80, byte(int8(j-16)))
		q80want = append(q80want, float32(j-16)*0.5)
	}
	// Q8F32: s = 0.25, q = 15..-16.
	q8f := []byte{0x00, 0x00, 0x80, 0x3e}
	var q8fwant []float32
	for j := 0; j < 32; j++ {
		q8f = append(q8f, byte(int8(15-j)))
		q8fwant = append(q8fwant, float32(15-j)*0.25)
	}
	tests := []struct {
		typ  DType
		src  []byte
		want []float32
	}{
		{F16, f16, []float32{1, -2, 65504, 0.5, 0x1p-24}},
		{BF16, bf16, []float32{1, -2, 3.140625}},
		{F32, f32, []float32{1, -10}},
		{Q4_0, q40, q40want},
		{Q8_0, q80, q80want},
		{Q8F32, q8f, q8fwant},
	}
	for _, tt := range tests {
		got := make([]float32, len(tt.want))
		if err := Dequantize(got, tt.typ, tt.src); err != nil {
			t.Fatalf("%s: %v", tt.typ, err)
		}
		for i := range got {
			if got[i] != tt.want[i] {
				t.Errorf("%s: element %d = %v, want %v", tt.typ, i, got[i], tt.want[i])
			}
		}
	}
}

func TestQuantizeQ8_0Rounding(t *testing.T) {
	// max|x| = 127 makes d = 1 exactly, so q = roundf(x): halves go away from zero.
	x := make([]float32, 32)
	copy(x, []float32{127, 0.5, -0.5, 1.5, -2.5, 2.4999, -126.5, 3.5})
	want := []int8{127, 1, -1, 2, -3, 2, -127, 4}
	dst := make([]byte, 34)
	if err := Quantize(dst, Q8_0, x); err != nil {
		t.Fatal(err)
	}
	if d := binary.LittleEndian.Uint16(dst); d != 0x3c00 {
		t.Errorf("scale = %#04x, want 0x3c00 (1.0)", d)
	}
	for i, w := range want {
		if got := int8(dst[2+i]); got != w {
			t.Errorf("q[%d] = %d for x = %v, want %d", i, got, x[i], w)
		}
	}
	// Same for Q8F32: s = 1, q = round(x/1).
	dst = make([]byte, 36)
	if err := Quantize(dst, Q8F32, x); err != nil {
		t.Fatal(err)
	}
	if s := math.Float32frombits(binary.LittleEndian.Uint32(dst)); s != 1 {
		t.Errorf("Q8F32 scale = %v, want 1", s)
	}
	for i, w := range want {
		if got := int8(dst[4+i]); got != w {
			t.Errorf("Q8F32 q[%d] = %d for x = %v, want %d", i, got, x[i], w)
		}
	}
}

func TestQuantizeRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	const n = 32 * 40
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(r.NormFloat64()) * float32(math.Pow(10, float64(i/32%7-3)))
	}
	for i := 0; i < 32; i++ {
		x[5*32+i] = 0 // an all-zero block
	}
	tests := []struct {
		typ DType
		// bound returns the allowed |error| for element i given the block's max|x|.
		bound func(v, amax float32) float64
	}{
		{F32, func(v, _ float32) float64 { return 0 }},
		{F16, func(v, _ float32) float64 { return math.Max(math.Abs(float64(v))*0x1p-11, 0x1p-25) }},
		{BF16, func(v, _ float32) float64 { return math.Abs(float64(v)) * 0x1p-8 }},
		// Half a quantization step, plus the f16 rounding of the scale times |q| ≤ 127.
		{Q8_0, func(_, amax float32) float64 { d := float64(amax) / 127; return d/2 + 127*d*0x1p-11 + 1e-7*d }},
		{Q8F32, func(_, amax float32) float64 { d := float64(amax) / 127; return d/2 + 1e-6*d }},
	}
	for _, tt := range tests {
		nb, _ := tt.typ.Bytes(n)
		buf := make([]byte, nb)
		if err := Quantize(buf, tt.typ, x); err != nil {
			t.Fatalf("%s: %v", tt.typ, err)
		}
		y := make([]float32, n)
		if err := Dequantize(y, tt.typ, buf); err != nil {
			t.Fatalf("%s: %v", tt.typ, err)
		}
		for b := 0; b < n/32; b++ {
			var amax float32
			for _, v := range x[32*b : 32*b+32] {
				amax = max(amax, float32(math.Abs(float64(v))))
			}
			for i := 32 * b; i < 32*b+32; i++ {
				if e := math.Abs(float64(y[i]) - float64(x[i])); e > tt.bound(x[i], amax) {
					t.Errorf("%s: element %d: %v → %v, error %g > %g", tt.typ, i, x[i], y[i], e, tt.bound(x[i], amax))
				}
			}
		}
	}
}

// packQ4KScales packs 6-bit scales and mins of 8 sub-blocks into 12 bytes the
// way llama.cpp's Q4_K quantizer does: entries 0..3 take the low 6 bits of bytes
// 0..3 (scales) and 4..7 (mins); entries 4..7 split into a low nibble in bytes
// 8..11 (scale low, min high) and 2 high bits in the top bits of bytes 0..7.
func packQ4KScales(sc, m [8]uint8) [12]byte {
	var s [12]byte
	for j := 0; j < 8; j++ {
		if j < 4 {
			s[j] |= sc[j]
			s[j+4] |= m[j]
		} else {
			s[j+4] = sc[j]&0xf | (m[j]&0xf)<<4
			s[j-4] |= (sc[j] >> 4) << 6
			s[j] |= (m[j] >> 4) << 6
		}
	}
	return s
}

func TestDequantizeQ4K(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	const nb = 3
	src := make([]byte, 0, nb*144)
	want := make([]float32, 0, nb*256)
	for b := 0; b < nb; b++ {
		d := float32(r.IntN(200)+1) / 512
		dmin := float32(r.IntN(200)) / 1024
		var sc, m [8]uint8
		for j := range sc {
			sc[j], m[j] = uint8(r.IntN(64)), uint8(r.IntN(64))
		}
		var q [256]uint8
		for i := range q {
			q[i] = uint8(r.IntN(16))
		}
		blk := make([]byte, 144)
		binary.LittleEndian.PutUint16(blk, F32ToF16(d))
		binary.LittleEndian.PutUint16(blk[2:], F32ToF16(dmin))
		s := packQ4KScales(sc, m)
		copy(blk[4:], s[:])
		// Element i lives in group g = i/64: byte 16+32g+i%32, low nibble for the
		// first 32 of the group, high nibble for the second 32.
		for i, v := range q {
			g, o := i/64, i%64
			if o < 32 {
				blk[16+32*g+o] |= v
			} else {
				blk[16+32*g+o-32] |= v << 4
			}
		}
		src = append(src, blk...)
		for i, v := range q {
			j := i / 32
			want = append(want, d*float32(sc[j])*float32(v)-dmin*float32(m[j]))
		}
	}
	got := make([]float32, nb*256)
	if err := Dequantize(got, Q4_K, src); err != nil {
		t.Fatal(err)
	}
	for i := range got {
		if e := math.Abs(float64(got[i] - want[i])); e > 1e-6*math.Max(1, math.Abs(float64(want[i]))) {
			t.Fatalf("element %d = %v, want %v", i, got[i], want[i])
		}
	}
}

func TestDequantizeQ6K(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	const nb = 2
	src := make([]byte, 0, nb*210)
	want := make([]float32, 0, nb*256)
	for b := 0; b < nb; b++ {
		d := float32(r.IntN(200)+1) / 4096
		var sc [16]int8
		for j := range sc {
			sc[j] = int8(r.IntN(256) - 128)
		}
		var q [256]uint8
		for i := range q {
			q[i] = uint8(r.IntN(64))
		}
		blk := make([]byte, 210)
		// Element i: half h = i/128, quarter u = (i%128)/32, lane l = i%32.
		// Low 4 bits: ql[64h + l + 32(u&1)], low nibble for u < 2, high for u ≥ 2.
		// High 2 bits: qh[32h + l] bits 2u..2u+1. Scale: scales[8h + 2u + l/16].
		for i, v := range q {
			h, u, l := i/128, i%128/32, i%32
			lo := 64*h + l + 32*(u&1)
			if u < 2 {
				blk[lo] |= v & 0xf
			} else {
				blk[lo] |= (v & 0xf) << 4
			}
			blk[128+32*h+l] |= (v >> 4) << (2 * u)
		}
		for j, s := range sc {
			blk[192+j] = byte(s)
		}
		binary.LittleEndian.PutUint16(blk[208:], F32ToF16(d))
		src = append(src, blk...)
		for i, v := range q {
			h, u, l := i/128, i%128/32, i%32
			want = append(want, d*float32(sc[8*h+2*u+l/16])*float32(int(v)-32))
		}
	}
	got := make([]float32, nb*256)
	if err := Dequantize(got, Q6_K, src); err != nil {
		t.Fatal(err)
	}
	for i := range got {
		if e := math.Abs(float64(got[i] - want[i])); e > 1e-6*math.Max(1, math.Abs(float64(want[i]))) {
			t.Fatalf("element %d = %v, want %v", i, got[i], want[i])
		}
	}
}

func TestQuantErrors(t *testing.T) {
	nan := make([]float32, 32)
	nan[7] = float32(math.NaN())
	inf := make([]float32, 32)
	inf[3] = float32(math.Inf(-1))
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"partial block", Dequantize(make([]float32, 31), Q8_0, make([]byte, 34)), "whole number"},
		{"short src", Dequantize(make([]float32, 64), Q8_0, make([]byte, 34)), "need 68 bytes"},
		{"partial super-block", Dequantize(make([]float32, 32), Q4_K, make([]byte, 144)), "not a whole number"},
		{"unsupported K-quant", Dequantize(make([]float32, 256), Q5_K, make([]byte, 176)), "not supported"},
		{"unsupported dequantize type", Dequantize(make([]float32, 32), Q4_1, make([]byte, 20)), "not supported"},
		{"unknown type", Dequantize(make([]float32, 1), DType(77), make([]byte, 4)), "unknown"},
		{"unsupported quantize", Quantize(make([]byte, 18), Q4_0, make([]float32, 32)), "not supported"},
		{"short dst", Quantize(make([]byte, 3), F32, make([]float32, 1)), "need 4 bytes"},
		{"nan", Quantize(make([]byte, 34), Q8_0, nan), "element 7"},
		{"inf", Quantize(make([]byte, 36), Q8F32, inf), "element 3"},
	}
	for _, tt := range tests {
		if tt.err == nil || !strings.Contains(tt.err.Error(), tt.want) {
			t.Errorf("%s: error %v, want one containing %q", tt.name, tt.err, tt.want)
		}
	}
}
