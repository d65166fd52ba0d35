//go:build amd64 && !noasm

package kernel

import (
	"unsafe"

	"github.com/unswift/unswift/internal/tensor"
)

// Assembly routines. Pointers must be valid for the lengths given; the Go
// wrappers below derive them from slices the drivers have validated.

//go:noescape
func dotAVX512(a, b *float32, n int) float32

//go:noescape
func axpyAVX512(a float32, x, y *float32, n int)

//go:noescape
func scaleAVX512(a float32, x *float32, n int)

// Row kernels: out[i] = Σ_{c<k} W[i,c]·x[c] for i < rows, row i at w+i*stride.
// The Q8 kernels take k in blocks of 32.

//go:noescape
func matvecF32AVX512(out *float32, w *byte, stride int, x *float32, k, rows int)

//go:noescape
func matvecF16AVX512(out *float32, w *byte, stride int, x *float32, k, rows int)

//go:noescape
func matvecBF16AVX512(out *float32, w *byte, stride int, x *float32, k, rows int)

//go:noescape
func matvecQ8_0AVX512(out *float32, w *byte, stride int, x *float32, k, rows int)

//go:noescape
func matvecQ8F32AVX512(out *float32, w *byte, stride int, x *float32, k, rows int)

//go:noescape
func gemm4x6AVX512(out *float32, ldo int, w *float32, ldw int, x *float32, ldx int, k int, acc bool, tiles int, pf *byte, pfn int)

//go:noescape
func dotAVX2(a, b *float32, n int) float32

//go:noescape
func axpyAVX2(a float32, x, y *float32, n int)

//go:noescape
func scaleAVX2(a float32, x *float32, n int)

//go:noescape
func matvecF32AVX2(out *float32, w *byte, stride int, x *float32, k, rows int)

//go:noescape
func matvecF32x4AVX2(out *float32, w *byte, stride int, x *float32, k, rows int)

//go:noescape
func matvecF16x4AVX2(out *float32, w *byte, stride int, x *float32, k, rows int)

//go:noescape
func matvecBF16x4AVX2(out *float32, w *byte, stride int, x *float32, k, rows int)

//go:noescape
func matvecQ8_0x4AVX2(out *float32, w *byte, stride int, x *float32, k, rows int)

//go:noescape
func matvecQ8F32x4AVX2(out *float32, w *byte, stride int, x *float32, k, rows int)

//go:noescape
func matvecF16AVX2(out *float32, w *byte, stride int, x *float32, k, rows int)

//go:noescape
func matvecBF16AVX2(out *float32, w *byte, stride int, x *float32, k, rows int)

//go:noescape
func matvecQ8_0AVX2(out *float32, w *byte, stride int, x *float32, k, rows int)

//go:noescape
func matvecQ8F32AVX2(out *float32, w *byte, stride int, x *float32, k, rows int)

//go:noescape
func gemm4x3AVX2(out *float32, ldo int, w *float32, ldw int, x *float32, ldx int, k int, acc bool, tiles int, pf *byte, pfn int)

//go:noescape
func gemm6x16AVX2(ct *float32, ldc int, w *byte, ldw int, xp *float32, xgs int, k int, acc bool, groups int, pf *byte, pfs int, pfn int, pfe int)

//go:noescape
func transpose8AVX2(dst *float32, ldd int, src *float32, lds int, rb, cb int)

//go:noescape
func deqF16AVX2(dst *float32, src *byte, n int)

//go:noescape
func deqBF16AVX2(dst *float32, src *byte, n int)

//go:noescape
func deqQ8_0AVX2(dst *float32, src *byte, nb int)

//go:noescape
func deqQ8F32AVX2(dst *float32, src *byte, nb int)

// avx2Impl uses 256-bit kernels: four-row matrix-vector kernels (one-row ones
// for the remainder) and a 4-row × 3-token tile.
var avx2Impl = &impl{
	name: "avx2",
	dot: func(a, b []float32) float32 {
		if len(a) == 0 {
			return 0
		}
		return dotAVX2(&a[0], &b[0], len(a))
	},
	axpy: func(a float32, x, y []float32) {
		if len(x) > 0 {
			axpyAVX2(a, &x[0], &y[0], len(x))
		}
	},
	scale: func(a float32, x []float32) {
		if len(x) > 0 {
			scaleAVX2(a, &x[0], len(x))
		}
	},
	rows: [numKinds]rowsFunc{
		kF32:   rowsF32AVX2,
		kF16:   rowsX4(matvecF16x4AVX2, matvecF16AVX2, 1, 8, tensor.F16),
		kBF16:  rowsX4(matvecBF16x4AVX2, matvecBF16AVX2, 1, 8, tensor.BF16),
		kQ8_0:  rowsX4(matvecQ8_0x4AVX2, matvecQ8_0AVX2, 32, 1, tensor.Q8_0),
		kQ8F32: rowsX4(matvecQ8F32x4AVX2, matvecQ8F32AVX2, 32, 1, tensor.Q8F32),
		kDeq:   rowsDeq,
	},
	deq: [numKinds]deqFunc{
		kF16:   deqAsm(deqF16AVX2, 1),
		kBF16:  deqAsm(deqBF16AVX2, 1),
		kQ8_0:  deqAsm(deqQ8_0AVX2, 32),
		kQ8F32: deqAsm(deqQ8F32AVX2, 32),
	},
	gemm: func(out []float32, ldo int, w []float32, ldw int, x []float32, ldx int, k int, acc bool, tiles int, pf []byte) {
		gemm4x3AVX2(&out[0], ldo, &w[0], ldw, &x[0], ldx, k, acc, tiles, unsafe.SliceData(pf), len(pf)/64)
	},
	gemmR:      4,
	gemmT:      3,
	gemmKAlign: 8,
	pack:       packAVX2,
	vec:        vecAVX2,
}

// packAVX2 holds the kernels of the packed MatMul path.
var packAVX2 = &packKernels{
	tile: func(ct []float32, ldc int, w []byte, ldw int, xp []float32, xgs, k int, acc bool, groups int, pf []byte, pfs, pfn int) {
		pfe := 1
		if pfn > 0 {
			pfe = max(1, groups*(k/16)/pfn)
		}
		gemm6x16AVX2(&ct[0], ldc, &w[0], ldw, &xp[0], 4*xgs, k, acc, groups, unsafe.SliceData(pf), pfs, pfn, pfe)
	},
	transpose: func(dst []float32, ldd int, src []float32, lds int, rb, cb int) {
		if rb > 0 && cb > 0 {
			transpose8AVX2(&dst[0], ldd, &src[0], lds, rb, cb)
		}
	},
}

// avx512Impl uses 512-bit kernels with masked tails: one-row matrix-vector
// kernels and a 4-row × 6-token tile. Note: the development machines are Zen 3
// without AVX-512, so these kernels have been assembled and their encodings
// inspected but not yet run; like every assembly level they are only used
// after selfCheck passes, and the tests run them wherever the CPU has AVX-512.
var avx512Impl = &impl{
	name: "avx512",
	dot: func(a, b []float32) float32 {
		if len(a) == 0 {
			return 0
		}
		return dotAVX512(&a[0], &b[0], len(a))
	},
	axpy: func(a float32, x, y []float32) {
		if len(x) > 0 {
			axpyAVX512(a, &x[0], &y[0], len(x))
		}
	},
	scale: func(a float32, x []float32) {
		if len(x) > 0 {
			scaleAVX512(a, &x[0], len(x))
		}
	},
	rows: [numKinds]rowsFunc{
		kF32:   rowsAsm(matvecF32AVX512, 1),
		kF16:   rowsAsm(matvecF16AVX512, 1),
		kBF16:  rowsAsm(matvecBF16AVX512, 1),
		kQ8_0:  rowsAsm(matvecQ8_0AVX512, 32),
		kQ8F32: rowsAsm(matvecQ8F32AVX512, 32),
		kDeq:   rowsDeq,
	},
	deq: avx2Impl.deq, // decoding is not the bottleneck; AVX2 suffices
	gemm: func(out []float32, ldo int, w []float32, ldw int, x []float32, ldx int, k int, acc bool, tiles int, pf []byte) {
		gemm4x6AVX512(&out[0], ldo, &w[0], ldw, &x[0], ldx, k, acc, tiles, unsafe.SliceData(pf), len(pf)/64)
	},
	gemmR:      4,
	gemmT:      6,
	gemmKAlign: 1,
	pack:       packAVX2, // measured on AVX2 machines; a 512-bit tile is yet to be written
	vec:        vecAVX2,  // 512-bit versions would not pay for such short vectors
}

// rowsAsm adapts an assembly row kernel whose length argument counts units
// of unit elements.
func rowsAsm(f func(out *float32, w *byte, stride int, x *float32, k, rows int), unit int) rowsFunc {
	return func(out []float32, w []byte, stride int, x []float32, _ tensor.DType, _ []float32) {
		if len(out) == 0 {
			return
		}
		if len(x) == 0 {
			clear(out)
			return
		}
		f(&out[0], &w[0], stride, &x[0], len(x)/unit, len(out))
	}
}

// deqAsm adapts an assembly row-segment decoder whose length argument counts
// units of unit elements.
func deqAsm(f func(dst *float32, src *byte, n int), unit int) deqFunc {
	return func(dst []float32, src []byte) {
		if len(dst) > 0 {
			f(&dst[0], &src[0], len(dst)/unit)
		}
	}
}

// rowsF32AVX2 runs the four-row kernel on all but the last rows%4 rows: it
// shares each load of x and the final reductions, and its four streams keep
// more memory requests in flight than one.
func rowsF32AVX2(out []float32, w []byte, stride int, x []float32, _ tensor.DType, _ []float32) {
	if len(out) == 0 {
		return
	}
	if len(x) == 0 {
		clear(out)
		return
	}
	n4 := len(out) &^ 3
	if n4 > 0 {
		matvecF32x4AVX2(&out[0], &w[0], stride, &x[0], len(x), n4)
	}
	if n4 < len(out) {
		matvecF32AVX2(&out[n4], &w[n4*stride], stride, &x[0], len(x), len(out)-n4)
	}
}

// shortRow is the longest row (bytes) that rowsX4 runs through its one-row
// kernel: the one-row kernel reads a matrix of short rows as one sequential
// stream, which the hardware prefetcher follows, while the four-row kernel
// reads four streams that end every few hundred bytes. Measured on the 110M
// shape (768- and 2048-wide rows) from memory, 1 / 2 threads: Q8_0 decode
// 49 → 68 / 87 → 110 tokens/s, F16 28 → 50 / 51 → 78, BF16 30 → 45 / 52 →
// 73; on the 1.1B shape the 5632-wide Q8_0 rows (5984 bytes) are faster four
// at a time. F32 rows are long enough in bytes for either.
const shortRow = 4096

// rowsX4 combines a four-row kernel x4, run on all but the last rows%4 rows,
// with a one-row kernel x1 for those, and for every row of a matrix whose
// rows are at most shortRow bytes. Both take k in units of unit elements;
// x4 handles only a multiple of align units, and the columns past it are
// added here from the decoded weights.
func rowsX4(x4, x1 func(out *float32, w *byte, stride int, x *float32, k, rows int), unit, align int, t tensor.DType) rowsFunc {
	return func(out []float32, w []byte, stride int, x []float32, _ tensor.DType, _ []float32) {
		if len(out) == 0 {
			return
		}
		if len(x) == 0 {
			clear(out)
			return
		}
		k := len(x) / unit
		n4 := len(out) &^ 3
		if stride <= shortRow {
			n4 = 0
		}
		if n4 > 0 {
			ka := k - k%align
			x4(&out[0], &w[0], stride, &x[0], ka, n4)
			if ka < k {
				addTail(out[:n4], w, stride, x, ka*unit, t)
			}
		}
		if n4 < len(out) {
			x1(&out[n4], &w[n4*stride], stride, &x[0], k, len(out)-n4)
		}
	}
}

// addTail adds Σ_{c ≥ from} W[i,c]·x[c] to out[i] for a plain 16-bit type.
func addTail(out []float32, w []byte, stride int, x []float32, from int, t tensor.DType) {
	var dec [8]float32
	n := len(x) - from
	for i := range out {
		row := w[i*stride+2*from:]
		if err := tensor.Dequantize(dec[:n], t, row); err != nil {
			panic("kernel: " + err.Error()) // unreachable: the driver validated the sizes
		}
		var s float32
		for j, v := range dec[:n] {
			s += v * x[from+j]
		}
		out[i] += s
	}
}
