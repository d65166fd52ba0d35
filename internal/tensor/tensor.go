// Package tensor defines the element types and the tensor value shared by the
// model file formats, the kernels and the model: a named, typed, shaped view of
// bytes (usually a slice of a memory-mapped file).
//
// Shapes follow GGUF: Shape[0] is the innermost (contiguous) dimension. A weight
// matrix with R rows of C columns has Shape = [C, R] and is stored row by row.
package tensor

import (
	"fmt"
	"math"
	"unsafe"
)

// DType is an element type. Values below 1000 equal the GGML type ids used in
// GGUF files; larger values are unswift-internal layouts that never appear in a file.
type DType uint32

// Element types.
const (
	F32  DType = 0
	F16  DType = 1
	Q4_0 DType = 2
	Q4_1 DType = 3
	Q5_0 DType = 6
	Q5_1 DType = 7
	Q8_0 DType = 8
	Q8_1 DType = 9
	Q2_K DType = 10
	Q3_K DType = 11
	Q4_K DType = 12
	Q5_K DType = 13
	Q6_K DType = 14
	Q8_K DType = 15
	I8   DType = 24
	I16  DType = 25
	I32  DType = 26
	I64  DType = 27
	F64  DType = 28
	BF16 DType = 30

	// Q8F32 is unswift's in-memory layout for llama2.c "version 2" weights:
	// blocks of a float32 scale followed by 32 int8 values (36 bytes). It is
	// exact for any llama2.c group size that is a multiple of 32.
	Q8F32 DType = 1000
)

type typeInfo struct {
	name       string
	blockSize  int // elements per block
	blockBytes int // bytes per block
}

var types = map[DType]typeInfo{
	F32:   {"F32", 1, 4},
	F16:   {"F16", 1, 2},
	BF16:  {"BF16", 1, 2},
	F64:   {"F64", 1, 8},
	I8:    {"I8", 1, 1},
	I16:   {"I16", 1, 2},
	I32:   {"I32", 1, 4},
	I64:   {"I64", 1, 8},
	Q4_0:  {"Q4_0", 32, 18},
	Q4_1:  {"Q4_1", 32, 20},
	Q5_0:  {"Q5_0", 32, 22},
	Q5_1:  {"Q5_1", 32, 24},
	Q8_0:  {"Q8_0", 32, 34},
	Q8_1:  {"Q8_1", 32, 36},
	Q2_K:  {"Q2_K", 256, 84},
	Q3_K:  {"Q3_K", 256, 110},
	Q4_K:  {"Q4_K", 256, 144},
	Q5_K:  {"Q5_K", 256, 176},
	Q6_K:  {"Q6_K", 256, 210},
	Q8_K:  {"Q8_K", 256, 292},
	Q8F32: {"Q8F32", 32, 36},
}

// Known reports whether t is a type whose size is known (it may still lack kernels).
func (t DType) Known() bool { _, ok := types[t]; return ok }

// String returns the GGML name of the type, or "type(N)" for an unknown id.
func (t DType) String() string {
	if i, ok := types[t]; ok {
		return i.name
	}
	return fmt.Sprintf("type(%d)", uint32(t))
}

// BlockSize is the number of elements in one block (1 for plain types).
func (t DType) BlockSize() int { return types[t].blockSize }

// BlockBytes is the number of bytes in one block.
func (t DType) BlockBytes() int { return types[t].blockBytes }

// Bytes returns the storage size of n elements of type t. It fails for an
// unknown type or when n is not a whole number of blocks.
func (t DType) Bytes(n int) (int, error) {
	i, ok := types[t]
	if !ok {
		return 0, fmt.Errorf("unknown tensor type %s", t)
	}
	if n < 0 || n%i.blockSize != 0 {
		return 0, fmt.Errorf("%d elements is not a whole number of %s blocks (%d)", n, i.name, i.blockSize)
	}
	return n / i.blockSize * i.blockBytes, nil
}

// ParseDType parses a type name such as "f32", "F16", "bf16" or "q8_0".
func ParseDType(s string) (DType, error) {
	for t, i := range types {
		if t < 1000 && equalFold(i.name, s) {
			return t, nil
		}
	}
	return 0, fmt.Errorf("unknown tensor type %q", s)
}

func equalFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// Tensor is a named, typed, shaped view of bytes.
type Tensor struct {
	Name  string
	Type  DType
	Shape []int // Shape[0] is the innermost dimension
	Data  []byte
}

// Len is the number of elements.
func (t *Tensor) Len() int {
	n := 1
	for _, d := range t.Shape {
		n *= d
	}
	return n
}

// Rows is the number of rows of a matrix view: the product of all dimensions but the first.
func (t *Tensor) Rows() int {
	if len(t.Shape) == 0 {
		return 1
	}
	return t.Len() / t.Shape[0]
}

// Cols is the length of one row (Shape[0]).
func (t *Tensor) Cols() int {
	if len(t.Shape) == 0 {
		return 1
	}
	return t.Shape[0]
}

// RowBytes is the storage size of one row.
func (t *Tensor) RowBytes() int {
	n, _ := t.Type.Bytes(t.Cols())
	return n
}

// Row returns the bytes of row r.
func (t *Tensor) Row(r int) []byte {
	rb := t.RowBytes()
	return t.Data[r*rb : (r+1)*rb]
}

// Check verifies that the data length agrees with the type and shape.
func (t *Tensor) Check() error {
	for _, d := range t.Shape {
		if d <= 0 {
			return fmt.Errorf("tensor %q: bad shape %v", t.Name, t.Shape)
		}
	}
	if !t.Type.Known() {
		return fmt.Errorf("tensor %q: unsupported tensor type %s", t.Name, t.Type)
	}
	if t.Type.BlockSize() > 1 && t.Cols()%t.Type.BlockSize() != 0 {
		return fmt.Errorf("tensor %q: row length %d is not a multiple of the %s block size %d", t.Name, t.Cols(), t.Type, t.Type.BlockSize())
	}
	n, err := t.Type.Bytes(t.Len())
	if err != nil {
		return fmt.Errorf("tensor %q: %v", t.Name, err)
	}
	if len(t.Data) != n {
		return fmt.Errorf("tensor %q: %s %v needs %d bytes, have %d", t.Name, t.Type, t.Shape, n, len(t.Data))
	}
	return nil
}

// F32s views the data of an F32 tensor as []float32 without copying.
// The data must be 4-byte aligned (GGUF guarantees it; others are copied by the loaders).
func (t *Tensor) F32s() []float32 {
	if t.Type != F32 {
		panic("tensor: F32s on " + t.Type.String())
	}
	return Float32s(t.Data)
}

// Float32s views b as []float32 without copying. len(b) must be a multiple of 4.
func Float32s(b []byte) []float32 {
	if len(b) == 0 {
		return nil
	}
	return unsafe.Slice((*float32)(unsafe.Pointer(&b[0])), len(b)/4)
}

// Bytes views f as []byte without copying.
func Bytes(f []float32) []byte {
	if len(f) == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(&f[0])), len(f)*4)
}

// Aligned reports whether b starts on an n-byte boundary.
func Aligned(b []byte, n uintptr) bool {
	return len(b) == 0 || uintptr(unsafe.Pointer(&b[0]))%n == 0
}

// FromF32 makes an F32 tensor that shares the memory of data.
func FromF32(name string, data []float32, shape ...int) *Tensor {
	return &Tensor{Name: name, Type: F32, Shape: shape, Data: Bytes(data)}
}

// F16ToF32 converts an IEEE half-precision value.
func F16ToF32(h uint16) float32 {
	sign := uint32(h>>15) << 31
	exp := uint32(h>>10) & 0x1f
	mant := uint32(h) & 0x3ff
	switch {
	case exp == 0x1f:
		return math.Float32frombits(sign | 0x7f800000 | mant<<13)
	case exp != 0:
		return math.Float32frombits(sign | (exp+112)<<23 | mant<<13)
	case mant == 0:
		return math.Float32frombits(sign)
	}
	// subnormal: normalise
	e := uint32(113)
	for mant&0x400 == 0 {
		mant <<= 1
		e--
	}
	mant &= 0x3ff
	return math.Float32frombits(sign | e<<23 | mant<<13)
}

// F32ToF16 converts to IEEE half precision with round-to-nearest-even.
func F32ToF16(f float32) uint16 {
	b := math.Float32bits(f)
	sign := uint16(b>>16) & 0x8000
	exp := int32(b>>23) & 0xff
	mant := b & 0x7fffff
	if exp == 0xff { // inf or nan
		if mant != 0 {
			return sign | 0x7e00
		}
		return sign | 0x7c00
	}
	e := exp - 127 + 15
	if e >= 0x1f {
		return sign | 0x7c00
	}
	if e <= 0 {
		if e < -10 {
			return sign
		}
		mant |= 0x800000
		shift := uint32(14 - e)
		half := uint32(1) << (shift - 1)
		r := mant >> shift
		rem := mant & (1<<shift - 1)
		if rem > half || (rem == half && r&1 == 1) {
			r++
		}
		return sign | uint16(r)
	}
	r := uint32(e)<<10 | mant>>13
	rem := mant & 0x1fff
	if rem > 0x1000 || (rem == 0x1000 && r&1 == 1) {
		r++ // may carry into the exponent, which is correct rounding
	}
	return sign | uint16(r)
}

// BF16ToF32 converts a bfloat16 value.
func BF16ToF32(h uint16) float32 { return math.Float32frombits(uint32(h) << 16) }

// F32ToBF16 converts to bfloat16 with round-to-nearest-even (NaN stays NaN).
func F32ToBF16(f float32) uint16 {
	b := math.Float32bits(f)
	if b&0x7fffffff > 0x7f800000 {
		return uint16(b>>16) | 0x40
	}
	b += 0x7fff + (b>>16)&1
	return uint16(b >> 16)
}
