package gguf

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
)

// ValueType is the type of a metadata value, as encoded in the file.
type ValueType uint32

// Metadata value types.
const (
	TypeUint8   ValueType = 0
	TypeInt8    ValueType = 1
	TypeUint16  ValueType = 2
	TypeInt16   ValueType = 3
	TypeUint32  ValueType = 4
	TypeInt32   ValueType = 5
	TypeFloat32 ValueType = 6
	TypeBool    ValueType = 7
	TypeString  ValueType = 8
	TypeArray   ValueType = 9
	TypeUint64  ValueType = 10
	TypeInt64   ValueType = 11
	TypeFloat64 ValueType = 12
)

var typeNames = [...]string{"uint8", "int8", "uint16", "int16", "uint32", "int32", "float32", "bool", "string", "array", "uint64", "int64", "float64"}

// String returns the GGUF name of the type, or "type(N)" for an unknown one.
func (t ValueType) String() string {
	if int(t) < len(typeNames) {
		return typeNames[t]
	}
	return fmt.Sprintf("type(%d)", uint32(t))
}

// size is the encoded size of a fixed-size type, or 0 for strings, arrays
// and unknown types.
func (t ValueType) size() int {
	switch t {
	case TypeUint8, TypeInt8, TypeBool:
		return 1
	case TypeUint16, TypeInt16:
		return 2
	case TypeUint32, TypeInt32, TypeFloat32:
		return 4
	case TypeUint64, TypeInt64, TypeFloat64:
		return 8
	}
	return 0
}

func (t ValueType) valid() bool { return t <= TypeFloat64 }

func (t ValueType) isInt() bool {
	switch t {
	case TypeUint8, TypeInt8, TypeUint16, TypeInt16, TypeUint32, TypeInt32, TypeUint64, TypeInt64:
		return true
	}
	return false
}

func (t ValueType) signed() bool {
	return t == TypeInt8 || t == TypeInt16 || t == TypeInt32 || t == TypeInt64
}

// Value is a metadata value: a scalar, a string or an array. The zero Value
// is the uint8 0. Values are immutable and remain valid after the File they
// came from is closed.
type Value struct {
	// Type is the value's type.
	Type ValueType

	num uint64 // fixed-size scalar, as its little-endian bits zero-extended
	str string // TypeString
	arr *array // TypeArray
}

// emptyArray stands in for the elements of a Value{Type: TypeArray} literal.
var emptyArray = &array{elem: TypeUint8}

// elems returns the elements of an array value.
func (v Value) elems() *array {
	if v.arr == nil {
		return emptyArray
	}
	return v.arr
}

// array holds the elements of an array value.
type array struct {
	elem ValueType
	n    int
	raw  []byte   // fixed-size elements, little endian
	strs []string // string elements
	vals []Value  // array elements (nested arrays)
}

// Constructors for metadata values.

// Uint8Value returns a uint8 value.
func Uint8Value(v uint8) Value { return Value{Type: TypeUint8, num: uint64(v)} }

// Int8Value returns an int8 value.
func Int8Value(v int8) Value { return Value{Type: TypeInt8, num: uint64(uint8(v))} }

// Uint16Value returns a uint16 value.
func Uint16Value(v uint16) Value { return Value{Type: TypeUint16, num: uint64(v)} }

// Int16Value returns an int16 value.
func Int16Value(v int16) Value { return Value{Type: TypeInt16, num: uint64(uint16(v))} }

// Uint32Value returns a uint32 value.
func Uint32Value(v uint32) Value { return Value{Type: TypeUint32, num: uint64(v)} }

// Int32Value returns an int32 value.
func Int32Value(v int32) Value { return Value{Type: TypeInt32, num: uint64(uint32(v))} }

// Uint64Value returns a uint64 value.
func Uint64Value(v uint64) Value { return Value{Type: TypeUint64, num: v} }

// Int64Value returns an int64 value.
func Int64Value(v int64) Value { return Value{Type: TypeInt64, num: uint64(v)} }

// Float32Value returns a float32 value.
func Float32Value(v float32) Value {
	return Value{Type: TypeFloat32, num: uint64(math.Float32bits(v))}
}

// Float64Value returns a float64 value.
func Float64Value(v float64) Value { return Value{Type: TypeFloat64, num: math.Float64bits(v)} }

// BoolValue returns a bool value.
func BoolValue(v bool) Value {
	if v {
		return Value{Type: TypeBool, num: 1}
	}
	return Value{Type: TypeBool}
}

// StringValue returns a string value.
func StringValue(s string) Value { return Value{Type: TypeString, str: s} }

// StringsValue returns an array of strings.
func StringsValue(s []string) Value {
	return Value{Type: TypeArray, arr: &array{elem: TypeString, n: len(s), strs: append([]string(nil), s...)}}
}

// Float32sValue returns an array of float32.
func Float32sValue(v []float32) Value {
	raw := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(raw[4*i:], math.Float32bits(x))
	}
	return Value{Type: TypeArray, arr: &array{elem: TypeFloat32, n: len(v), raw: raw}}
}

// Int32sValue returns an array of int32.
func Int32sValue(v []int32) Value {
	raw := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(raw[4*i:], uint32(x))
	}
	return Value{Type: TypeArray, arr: &array{elem: TypeInt32, n: len(v), raw: raw}}
}

// ArrayValue returns an array of elements of type elem, which may be any
// type including TypeArray (arrays of arrays need not have equal lengths or
// element types). It fails if an element's type is not elem.
func ArrayValue(elem ValueType, elems ...Value) (Value, error) {
	if !elem.valid() {
		return Value{}, fmt.Errorf("invalid array element type %v", elem)
	}
	a := &array{elem: elem, n: len(elems)}
	sz := elem.size()
	if sz > 0 {
		a.raw = make([]byte, 0, sz*len(elems))
	}
	for i, e := range elems {
		if e.Type != elem {
			return Value{}, fmt.Errorf("array of %v: element %d is a %v", elem, i, e.Type)
		}
		switch elem {
		case TypeString:
			a.strs = append(a.strs, e.str)
		case TypeArray:
			a.vals = append(a.vals, e)
		default:
			a.raw = appendScalar(a.raw, elem, e.num)
		}
	}
	return Value{Type: TypeArray, arr: a}, nil
}

// scalar decodes a fixed-size little-endian value.
func scalar(t ValueType, b []byte) uint64 {
	switch t.size() {
	case 1:
		return uint64(b[0])
	case 2:
		return uint64(binary.LittleEndian.Uint16(b))
	case 4:
		return uint64(binary.LittleEndian.Uint32(b))
	default:
		return binary.LittleEndian.Uint64(b)
	}
}

// appendScalar appends the little-endian encoding of a fixed-size value.
func appendScalar(b []byte, t ValueType, n uint64) []byte {
	switch t.size() {
	case 1:
		return append(b, byte(n))
	case 2:
		return binary.LittleEndian.AppendUint16(b, uint16(n))
	case 4:
		return binary.LittleEndian.AppendUint32(b, uint32(n))
	default:
		return binary.LittleEndian.AppendUint64(b, n)
	}
}

// Accessors. Each reports false, with a zero result, when the value is not of
// a suitable type.

// AsString returns the value of a string.
func (v Value) AsString() (string, bool) { return v.str, v.Type == TypeString }

// AsBool returns the value of a bool.
func (v Value) AsBool() (bool, bool) {
	if v.Type != TypeBool {
		return false, false
	}
	return v.num != 0, true
}

// AsInt returns the value of any integer type; it reports false for a
// uint64 larger than math.MaxInt64.
func (v Value) AsInt() (int64, bool) { return intOf(v.Type, v.num) }

// AsUint returns the value of any integer type that is not negative.
func (v Value) AsUint() (uint64, bool) {
	if !v.Type.isInt() {
		return 0, false
	}
	if v.Type == TypeUint64 {
		return v.num, true
	}
	i, _ := intOf(v.Type, v.num)
	if i < 0 {
		return 0, false
	}
	return uint64(i), true
}

// AsFloat returns the value of a float32, float64 or integer.
func (v Value) AsFloat() (float64, bool) { return floatOf(v.Type, v.num) }

func intOf(t ValueType, n uint64) (int64, bool) {
	switch t {
	case TypeUint8, TypeUint16, TypeUint32:
		return int64(n), true
	case TypeUint64:
		if n > math.MaxInt64 {
			return 0, false
		}
		return int64(n), true
	case TypeInt8:
		return int64(int8(n)), true
	case TypeInt16:
		return int64(int16(n)), true
	case TypeInt32:
		return int64(int32(n)), true
	case TypeInt64:
		return int64(n), true
	}
	return 0, false
}

func floatOf(t ValueType, n uint64) (float64, bool) {
	switch t {
	case TypeFloat32:
		return float64(math.Float32frombits(uint32(n))), true
	case TypeFloat64:
		return math.Float64frombits(n), true
	case TypeUint64:
		return float64(n), true
	}
	i, ok := intOf(t, n)
	return float64(i), ok
}

// Len returns the number of elements of an array, or 0 for other values.
func (v Value) Len() int {
	if v.Type != TypeArray {
		return 0
	}
	return v.elems().n
}

// ElemType returns the element type of an array.
func (v Value) ElemType() ValueType {
	if v.Type != TypeArray {
		return 0
	}
	return v.elems().elem
}

// Index returns element i of an array. It panics if v is not an array or i
// is out of range, like a slice index.
func (v Value) Index(i int) Value {
	if v.Type != TypeArray {
		panic("gguf: Index of non-array value of type " + v.Type.String())
	}
	a := v.elems()
	if i < 0 || i >= a.n {
		panic(fmt.Sprintf("gguf: array index %d out of range [0:%d]", i, a.n))
	}
	switch a.elem {
	case TypeString:
		return StringValue(a.strs[i])
	case TypeArray:
		return a.vals[i]
	}
	sz := a.elem.size()
	return Value{Type: a.elem, num: scalar(a.elem, a.raw[i*sz:])}
}

// AsStrings returns the elements of an array of strings.
func (v Value) AsStrings() ([]string, bool) {
	if v.Type != TypeArray || v.elems().elem != TypeString {
		return nil, false
	}
	return append(make([]string, 0, v.elems().n), v.elems().strs...), true
}

// AsFloat32s returns the elements of an array of float32 (or of float64,
// converted).
func (v Value) AsFloat32s() ([]float32, bool) {
	if v.Type != TypeArray || (v.elems().elem != TypeFloat32 && v.elems().elem != TypeFloat64) {
		return nil, false
	}
	a := v.elems()
	out := make([]float32, a.n)
	sz := a.elem.size()
	for i := range out {
		f, _ := floatOf(a.elem, scalar(a.elem, a.raw[i*sz:]))
		out[i] = float32(f)
	}
	return out, true
}

// AsInts returns the elements of an array of any integer type. It reports
// false if a uint64 element exceeds math.MaxInt64.
func (v Value) AsInts() ([]int64, bool) {
	if v.Type != TypeArray || !v.elems().elem.isInt() {
		return nil, false
	}
	a := v.elems()
	out := make([]int64, a.n)
	sz := a.elem.size()
	for i := range out {
		x, ok := intOf(a.elem, scalar(a.elem, a.raw[i*sz:]))
		if !ok {
			return nil, false
		}
		out[i] = x
	}
	return out, true
}

// String formats the value for display. Long strings and arrays are
// abbreviated.
func (v Value) String() string {
	var b strings.Builder
	v.format(&b, 8)
	return b.String()
}

func (v Value) format(b *strings.Builder, maxElems int) {
	switch v.Type {
	case TypeString:
		s := v.str
		if len(s) > 120 {
			s = s[:120] + "..."
		}
		b.WriteString(strconv.Quote(s))
	case TypeBool:
		b.WriteString(strconv.FormatBool(v.num != 0))
	case TypeFloat32:
		b.WriteString(strconv.FormatFloat(float64(math.Float32frombits(uint32(v.num))), 'g', -1, 32))
	case TypeFloat64:
		b.WriteString(strconv.FormatFloat(math.Float64frombits(v.num), 'g', -1, 64))
	case TypeUint64:
		b.WriteString(strconv.FormatUint(v.num, 10))
	case TypeArray:
		fmt.Fprintf(b, "[%d × %v]", v.elems().n, v.elems().elem)
		if v.elems().n == 0 {
			return
		}
		b.WriteString(" [")
		for i := 0; i < v.elems().n && i < maxElems; i++ {
			if i > 0 {
				b.WriteString(", ")
			}
			v.Index(i).format(b, 3)
		}
		if v.elems().n > maxElems {
			b.WriteString(", ...")
		}
		b.WriteString("]")
	default:
		i, _ := intOf(v.Type, v.num)
		b.WriteString(strconv.FormatInt(i, 10))
	}
}

// Equal reports whether v and u have the same type and value (floats are
// compared bit for bit).
func (v Value) Equal(u Value) bool {
	if v.Type != u.Type {
		return false
	}
	switch v.Type {
	case TypeString:
		return v.str == u.str
	case TypeArray:
		x, y := v.elems(), u.elems()
		if x.elem != y.elem || x.n != y.n {
			return false
		}
		switch x.elem {
		case TypeString:
			return slices.Equal(x.strs, y.strs)
		case TypeArray:
			return slices.EqualFunc(x.vals, y.vals, Value.Equal)
		}
		return bytes.Equal(x.raw, y.raw)
	}
	return v.num == u.num
}
