package kernel

import (
	"fmt"
	"testing"

	"github.com/unswift/unswift/internal/tensor"
)

// BenchmarkTile runs the tile kernel alone on L1-resident data: the ceiling
// MatMul can reach.
func BenchmarkTile(b *testing.B) {
	for _, im := range impls() {
		for _, k := range []int{256, 768, 1024} {
			R, T := im.gemmR, im.gemmT
			w, x, out := benchVec(R*k), benchVec(T*k), make([]float32, R*T)
			b.Run(fmt.Sprintf("%s/k%d", im.name, k), func(b *testing.B) {
				measure(b, 0, 2*float64(R*T*k), func() { im.gemm(out, R, w, k, x, k, k, false, 1, nil) })
			})
		}
	}
}

// BenchmarkPanel runs the kernel over a panel of tokens, x in L2 and the W
// slab in L1, as MatMul does.
func BenchmarkPanel(b *testing.B) {
	for _, im := range impls()[1:] {
		for _, k := range []int{768, 1024} {
			for _, ntok := range []int{12, 48, 84} {
				R, T := im.gemmR, im.gemmT
				tiles := ntok / T
				w, x, out := benchVec(R*k), benchVec(tiles*T*k), make([]float32, R*T*tiles)
				b.Run(fmt.Sprintf("%s/k%d/n%d", im.name, k, ntok), func(b *testing.B) {
					measure(b, 0, 2*float64(R*T*tiles*k), func() { im.gemm(out, R, w, k, x, k, k, false, tiles, nil) })
				})
			}
		}
	}
}

// BenchmarkRowsL1 runs the row kernels on an L1-resident matrix: their
// compute ceiling, in ns per 32 elements.
func BenchmarkRowsL1(b *testing.B) {
	for _, im := range impls()[1:] {
		for _, typ := range []tensor.DType{tensor.F32, tensor.F16, tensor.BF16, tensor.Q8_0, tensor.Q8F32} {
			const rows, k = 8, 512
			w := benchWeights(b, typ, rows, k)
			x, out := benchVec(k), make([]float32, rows)
			kd, _ := kindOf(typ)
			b.Run(fmt.Sprintf("%s/%s", im.name, typ), func(b *testing.B) {
				for b.Loop() {
					im.rows[kd](out, w.Data, w.RowBytes(), x, typ, nil)
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/(rows*k/32), "ns/block32")
			})
		}
	}
}

// BenchmarkPackTile runs the packed path's tile kernel alone on L1-resident
// data (k columns of 6 rows and 16 tokens): the ceiling of that path.
func BenchmarkPackTile(b *testing.B) {
	for _, im := range impls() {
		if im.pack == nil {
			continue
		}
		for _, k := range []int{256, 512} {
			w, x, ct := benchVec(packR*k), benchVec(packT*k), make([]float32, packR*packT)
			wb := floatBytes(w)
			b.Run(fmt.Sprintf("%s/k%d", im.name, k), func(b *testing.B) {
				measure(b, 0, 2*float64(packR*packT*k), func() { im.pack.tile(ct, packT, wb, 4*k, x, packT*k, k, true, 1, nil, 0, 0) })
			})
		}
	}
}
