package kernel

import (
	"encoding/binary"
	"math"
	"sync"

	"github.com/unswift/unswift/internal/tensor"
)

// goImpl is the portable implementation, used where no assembly exists and
// as the reference the assembly is tested against.
var goImpl = &impl{
	name:  "go",
	dot:   dotGo,
	axpy:  axpyGo,
	scale: scaleGo,
	rows: [numKinds]rowsFunc{
		kF32:   rowsF32Go,
		kF16:   rowsF16Go,
		kBF16:  rowsBF16Go,
		kQ8_0:  rowsQ8_0Go,
		kQ8F32: rowsQ8F32Go,
		kDeq:   rowsDeq,
	},
	gemm:       gemmGo,
	gemmR:      goTileR,
	gemmT:      goTileT,
	gemmKAlign: 1,
	vec:        vecGo,
}

func dotGo(a, b []float32) float32 {
	b = b[:len(a)]
	var s0, s1, s2, s3, s4, s5, s6, s7 float32
	i := 0
	for ; i+8 <= len(a); i += 8 {
		aa, bb := a[i:i+8:i+8], b[i:i+8:i+8]
		s0 += aa[0] * bb[0]
		s1 += aa[1] * bb[1]
		s2 += aa[2] * bb[2]
		s3 += aa[3] * bb[3]
		s4 += aa[4] * bb[4]
		s5 += aa[5] * bb[5]
		s6 += aa[6] * bb[6]
		s7 += aa[7] * bb[7]
	}
	for ; i < len(a); i++ {
		s0 += a[i] * b[i]
	}
	return ((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7))
}

func axpyGo(a float32, x, y []float32) {
	y = y[:len(x)]
	for i, v := range x {
		y[i] += a * v
	}
}

func scaleGo(a float32, x []float32) {
	for i := range x {
		x[i] *= a
	}
}

func rowsF32Go(out []float32, w []byte, stride int, x []float32, _ tensor.DType, _ []float32) {
	k := len(x)
	if tensor.Aligned(w, 4) && stride%4 == 0 {
		for i := range out {
			out[i] = dotGo(tensor.Float32s(w[i*stride:i*stride+4*k]), x)
		}
		return
	}
	for i := range out {
		row := w[i*stride : i*stride+4*k]
		var s0, s1, s2, s3 float32
		j := 0
		for ; j+4 <= k; j += 4 {
			s0 += math.Float32frombits(binary.LittleEndian.Uint32(row[4*j:])) * x[j]
			s1 += math.Float32frombits(binary.LittleEndian.Uint32(row[4*j+4:])) * x[j+1]
			s2 += math.Float32frombits(binary.LittleEndian.Uint32(row[4*j+8:])) * x[j+2]
			s3 += math.Float32frombits(binary.LittleEndian.Uint32(row[4*j+12:])) * x[j+3]
		}
		for ; j < k; j++ {
			s0 += math.Float32frombits(binary.LittleEndian.Uint32(row[4*j:])) * x[j]
		}
		out[i] = (s0 + s1) + (s2 + s3)
	}
}

// f16Table maps every half-precision bit pattern to its float32 value; it is
// built on first use by the portable F16 kernel.
var f16Table = sync.OnceValue(func() *[1 << 16]float32 {
	var t [1 << 16]float32
	for i := range t {
		t[i] = tensor.F16ToF32(uint16(i))
	}
	return &t
})

func rowsF16Go(out []float32, w []byte, stride int, x []float32, _ tensor.DType, _ []float32) {
	tab := f16Table()
	k := len(x)
	for i := range out {
		row := w[i*stride : i*stride+2*k]
		var s0, s1, s2, s3 float32
		j := 0
		for ; j+4 <= k; j += 4 {
			s0 += tab[binary.LittleEndian.Uint16(row[2*j:])] * x[j]
			s1 += tab[binary.LittleEndian.Uint16(row[2*j+2:])] * x[j+1]
			s2 += tab[binary.LittleEndian.Uint16(row[2*j+4:])] * x[j+2]
			s3 += tab[binary.LittleEndian.Uint16(row[2*j+6:])] * x[j+3]
		}
		for ; j < k; j++ {
			s0 += tab[binary.LittleEndian.Uint16(row[2*j:])] * x[j]
		}
		out[i] = (s0 + s1) + (s2 + s3)
	}
}

func rowsBF16Go(out []float32, w []byte, stride int, x []float32, _ tensor.DType, _ []float32) {
	k := len(x)
	bf := func(b []byte) float32 { return math.Float32frombits(uint32(binary.LittleEndian.Uint16(b)) << 16) }
	for i := range out {
		row := w[i*stride : i*stride+2*k]
		var s0, s1, s2, s3 float32
		j := 0
		for ; j+4 <= k; j += 4 {
			s0 += bf(row[2*j:]) * x[j]
			s1 += bf(row[2*j+2:]) * x[j+1]
			s2 += bf(row[2*j+4:]) * x[j+2]
			s3 += bf(row[2*j+6:]) * x[j+3]
		}
		for ; j < k; j++ {
			s0 += bf(row[2*j:]) * x[j]
		}
		out[i] = (s0 + s1) + (s2 + s3)
	}
}

// dotQ8 returns Σ q[j]·x[j] over one block of 32 int8 values.
func dotQ8(q []byte, x []float32) float32 {
	q, x = q[:32:32], x[:32:32]
	var s0, s1, s2, s3 float32
	for j := 0; j < 32; j += 4 {
		s0 += float32(int8(q[j])) * x[j]
		s1 += float32(int8(q[j+1])) * x[j+1]
		s2 += float32(int8(q[j+2])) * x[j+2]
		s3 += float32(int8(q[j+3])) * x[j+3]
	}
	return (s0 + s1) + (s2 + s3)
}

func rowsQ8_0Go(out []float32, w []byte, stride int, x []float32, _ tensor.DType, _ []float32) {
	tab := f16Table()
	nb := len(x) / 32
	for i := range out {
		row := w[i*stride : i*stride+34*nb]
		var s float32
		for b := 0; b < nb; b++ {
			blk := row[34*b : 34*b+34]
			s += tab[binary.LittleEndian.Uint16(blk)] * dotQ8(blk[2:], x[32*b:])
		}
		out[i] = s
	}
}

func rowsQ8F32Go(out []float32, w []byte, stride int, x []float32, _ tensor.DType, _ []float32) {
	nb := len(x) / 32
	for i := range out {
		row := w[i*stride : i*stride+36*nb]
		var s float32
		for b := 0; b < nb; b++ {
			blk := row[36*b : 36*b+36]
			s += math.Float32frombits(binary.LittleEndian.Uint32(blk)) * dotQ8(blk[4:], x[32*b:])
		}
		out[i] = s
	}
}

// rowsDeq handles the types without a fused kernel: each row is dequantized
// into buf and dotted with x by the current implementation's dot.
func rowsDeq(out []float32, w []byte, stride int, x []float32, t tensor.DType, buf []float32) {
	buf = buf[:len(x)]
	for i := range out {
		if err := tensor.Dequantize(buf, t, w[i*stride:]); err != nil {
			panic("kernel: " + err.Error()) // unreachable: the driver validated the sizes
		}
		out[i] = cur.dot(buf, x)
	}
}
