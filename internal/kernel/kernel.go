// Package kernel implements the numeric kernels of the runtime: dot products,
// vector updates, and matrix-vector and matrix-matrix products of a weight
// tensor (F32, F16, BF16, Q8_0, Q8F32 and, through a dequantizing fallback,
// Q4_0, Q4_K and Q6_K) with float32 activations, spread over a [Pool] of
// persistent worker goroutines; and the exponential, softmax, SwiGLU and
// attention-head kernels of a transformer layer ([Exp], [Softmax], [SiLUMul],
// [Attend]).
//
// On amd64 the hot loops are hand-written assembly, AVX-512 where the CPU has
// it and AVX2+FMA otherwise, chosen at run time; elsewhere, or when built with
// the tag noasm, portable Go is used. All paths compute in float32 with
// float32 accumulators; they differ from one another only by rounding.
//
// The environment variable UNSWIFT_KERNEL=go|avx2|avx512 restricts the
// choice to one implementation (for diagnosis and benchmarks); every
// assembly implementation must also pass a quick self-check against the
// portable one at start-up before it is used. [Implementation] tells which
// one runs.
//
// Misuse of the API (mismatched lengths, an unsupported type) is a programming
// error and panics with a message that names the problem; use [Supported] to
// check a tensor type before use.
package kernel

import (
	"fmt"

	"github.com/unswift/unswift/internal/tensor"
)

// kind indexes the per-type row kernels of an implementation.
type kind int

const (
	kF32 kind = iota
	kF16
	kBF16
	kQ8_0
	kQ8F32
	kDeq // any other supported type: dequantize a row, then an F32 dot
	numKinds
)

// blockOf returns the elements and bytes per block of a supported type
// without the map lookup of tensor.DType's methods (MatVec runs on every
// matrix of every token).
func blockOf(t tensor.DType) (elems, bytes int) {
	switch t {
	case tensor.F32:
		return 1, 4
	case tensor.F16, tensor.BF16:
		return 1, 2
	case tensor.Q8_0:
		return 32, 34
	case tensor.Q8F32:
		return 32, 36
	}
	return t.BlockSize(), t.BlockBytes()
}

func kindOf(t tensor.DType) (kind, bool) {
	switch t {
	case tensor.F32:
		return kF32, true
	case tensor.F16:
		return kF16, true
	case tensor.BF16:
		return kBF16, true
	case tensor.Q8_0:
		return kQ8_0, true
	case tensor.Q8F32:
		return kQ8F32, true
	case tensor.Q4_0, tensor.Q4_K, tensor.Q6_K:
		return kDeq, true
	}
	return 0, false
}

// Supported reports whether MatVec and MatMul accept weights of type t.
func Supported(t tensor.DType) bool {
	_, ok := kindOf(t)
	return ok
}

// rowsFunc computes out[i] = Σ_{c<len(x)} W[i,c]·x[c] for i < len(out), where
// row i of W starts at w[i*stride:]. buf is scratch of at least len(x) floats,
// used only by kernels that dequantize a row first. The driver guarantees
// that w holds every byte read.
type rowsFunc func(out []float32, w []byte, stride int, x []float32, t tensor.DType, buf []float32)

// impl is one complete set of kernels.
type impl struct {
	name  string
	dot   func(a, b []float32) float32
	axpy  func(a float32, x, y []float32)
	scale func(a float32, x []float32)
	rows  [numKinds]rowsFunc
	// deq decodes row segments into f32 for MatMul; nil entries fall back
	// to tensor.Dequantize.
	deq [numKinds]deqFunc
	// gemm computes a gemmR×gemmT tile of an f32 product over a multiple of
	// gemmKAlign columns.
	gemm                     gemmFunc
	gemmR, gemmT, gemmKAlign int
	// pack holds the kernels of the packed MatMul path, used for batches of
	// packMinTokens tokens or more; nil where the implementation has none.
	pack *packKernels
	// vec holds the element-wise and attention kernels.
	vec vecKernels
}

// cur is the implementation in use; set at init by choose.
var cur *impl

// Dot returns Σ a[i]·b[i]. It panics if the lengths differ.
func Dot(a, b []float32) float32 {
	if len(a) != len(b) {
		panic(fmt.Sprintf("kernel.Dot: length mismatch %d != %d", len(a), len(b)))
	}
	if len(a) <= smallVec {
		var s float32
		for i, v := range a {
			s += v * b[i]
		}
		return s
	}
	return cur.dot(a, b)
}

// smallVec is the length up to which Dot and Axpy loop inline: for tiny
// vectors (attention heads of 8) the call into assembly costs more than the
// arithmetic.
const smallVec = 16

// Axpy computes y[i] += a·x[i]. It panics if the lengths differ.
func Axpy(a float32, x, y []float32) {
	if len(x) != len(y) {
		panic(fmt.Sprintf("kernel.Axpy: length mismatch %d != %d", len(x), len(y)))
	}
	if len(x) <= smallVec {
		y = y[:len(x)]
		for i, v := range x {
			y[i] += a * v
		}
		return
	}
	cur.axpy(a, x, y)
}

// Scale computes x[i] *= a.
func Scale(a float32, x []float32) {
	cur.scale(a, x)
}
