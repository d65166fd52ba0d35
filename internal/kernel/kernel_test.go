package kernel

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/unswift/unswift/internal/tensor"
)

// eachImpl runs f once per implementation this build and CPU can run (the
// portable Go one, and the assembly levels), with cur set to it.
func eachImpl(t *testing.T, f func(t *testing.T)) {
	t.Helper()
	saved := cur
	defer func() { cur = saved }()
	for _, im := range impls() {
		cur = im
		t.Run(im.name, f)
	}
}

// forceThreads lowers the size thresholds so that small test products are
// split over the pool, and restores them when the test ends.
func forceThreads(t *testing.T) {
	pb, pf := parallelBytes, parallelFlops
	parallelBytes, parallelFlops = 0, 0
	t.Cleanup(func() { parallelBytes, parallelFlops = pb, pf })
}

func randVec(r *rand.Rand, n int) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(r.NormFloat64())
	}
	return v
}

// dotRef returns Σ a·b in float64 and the magnitude Σ|a·b| that bounds its
// float32 rounding error.
func dotRef(a, b []float32) (sum, mag float64) {
	for i := range a {
		p := float64(a[i]) * float64(b[i])
		sum += p
		mag += math.Abs(p)
	}
	return sum, mag
}

// close32 reports whether got is within the float32 accumulation error of the
// float64 reference: a relative tolerance of 1e-5 of the magnitude of the terms.
func close32(got float32, want, mag float64) bool {
	return math.Abs(float64(got)-want) <= 1e-5*mag+1e-30
}

func TestDotAxpyScale(t *testing.T) {
	eachImpl(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(1, 1))
		for _, n := range []int{0, 1, 3, 7, 8, 15, 16, 17, 31, 33, 63, 64, 65, 100, 127, 128, 129, 1000, 4099} {
			a, b := randVec(r, n), randVec(r, n)
			want, mag := dotRef(a, b)
			if got := Dot(a, b); !close32(got, want, mag) {
				t.Errorf("Dot n=%d = %v, want %v", n, got, want)
			}
			y := append([]float32(nil), b...)
			Axpy(0.75, a, y)
			for i := range y {
				w := float64(b[i]) + 0.75*float64(a[i])
				if math.Abs(float64(y[i])-w) > 1e-6*(math.Abs(float64(b[i]))+math.Abs(float64(a[i]))) {
					t.Fatalf("Axpy n=%d: y[%d] = %v, want %v", n, i, y[i], w)
				}
			}
			x := append([]float32(nil), a...)
			Scale(-1.5, x)
			for i := range x {
				if x[i] != -1.5*a[i] {
					t.Fatalf("Scale n=%d: x[%d] = %v, want %v", n, i, x[i], -1.5*a[i])
				}
			}
			// Guard the ends: a kernel must not write past the slice it is given.
			if n > 2 {
				y := append([]float32(nil), b...)
				Axpy(2, a[1:n-1], y[1:n-1])
				Scale(3, y[1:n-1])
				if y[0] != b[0] || y[n-1] != b[n-1] {
					t.Fatalf("n=%d: Axpy/Scale wrote outside their slices", n)
				}
			}
		}
	})
}

// weights makes a rows×cols tensor of type typ with random contents, and its
// dequantized values (the reference the kernels are checked against).
func weights(t testing.TB, r *rand.Rand, typ tensor.DType, rows, cols int) (*tensor.Tensor, []float32) {
	t.Helper()
	n := rows * cols
	nb, err := typ.Bytes(n)
	if err != nil {
		t.Fatal(err)
	}
	data := make([]byte, nb)
	fillWeights(t, r, typ, data, randVec(r, n))
	w := &tensor.Tensor{Name: "w", Type: typ, Shape: []int{cols, rows}, Data: data}
	if err := w.Check(); err != nil {
		t.Fatal(err)
	}
	deq := make([]float32, n)
	if err := tensor.Dequantize(deq, typ, data); err != nil {
		t.Fatal(err)
	}
	return w, deq
}

// fillWeights encodes src as typ into data, or for the types Quantize does
// not produce, fills data with random bytes whose scales are small and finite.
func fillWeights(t testing.TB, r *rand.Rand, typ tensor.DType, data []byte, src []float32) {
	t.Helper()
	switch typ {
	case tensor.Q4_0, tensor.Q4_K, tensor.Q6_K:
		for i := range data {
			data[i] = byte(r.Uint32())
		}
		bs := typ.BlockBytes()
		for b := 0; b < len(data)/bs; b++ {
			blk := data[b*bs : (b+1)*bs]
			d := tensor.F32ToF16(float32(r.Float64()*0.02 + 0.001))
			switch typ {
			case tensor.Q4_0:
				binary.LittleEndian.PutUint16(blk, d)
			case tensor.Q4_K:
				binary.LittleEndian.PutUint16(blk, d)
				binary.LittleEndian.PutUint16(blk[2:], tensor.F32ToF16(float32(r.Float64()*0.01)))
			case tensor.Q6_K:
				binary.LittleEndian.PutUint16(blk[208:], d)
			}
		}
	default:
		if err := tensor.Quantize(data, typ, src); err != nil {
			t.Fatal(err)
		}
	}
}

var allTypes = []tensor.DType{tensor.F32, tensor.F16, tensor.BF16, tensor.Q8_0, tensor.Q8F32, tensor.Q4_0, tensor.Q4_K, tensor.Q6_K}

// shapes returns test shapes (rows, cols, k) for a type: odd sizes, prefixes
// k < cols, and sizes around the vector widths.
func shapes(typ tensor.DType) [][3]int {
	if bs := typ.BlockSize(); bs > 1 {
		return [][3]int{
			{1, bs, bs}, {3, 2 * bs, bs}, {5, 3 * bs, 3 * bs}, {17, 4 * bs, 2 * bs},
			{13, 5 * bs, 5 * bs}, {64, 7 * bs, 7 * bs}, {31, 24 * bs, 23 * bs},
			// Rows longer than shortRow bytes take the four-row kernels.
			{9, 160 * bs, 157 * bs}, {8, 160 * bs, 160 * bs},
		}
	}
	return [][3]int{
		{1, 1, 1}, {1, 17, 17}, {2, 15, 15}, {3, 16, 16}, {5, 33, 31}, {7, 64, 64},
		{9, 100, 65}, {17, 127, 127}, {33, 128, 128}, {64, 64, 64}, {172, 64, 64},
		{13, 1000, 999}, {6, 770, 768}, {40, 260, 257},
		{4, 10, 2}, {8, 3, 3}, {12, 50, 43}, {8, 21, 21}, {4, 100, 92}, {9, 40, 38}, {8, 14, 14},
		{9, 2100, 2099}, {8, 2304, 2304}, // rows over shortRow bytes in 16-bit types
	}
}

func checkRows(t *testing.T, what string, got []float32, deq []float32, cols, k int, x []float32) {
	t.Helper()
	for r := range got {
		want, mag := dotRef(deq[r*cols:r*cols+k], x)
		if !close32(got[r], want, mag) {
			t.Fatalf("%s: row %d = %v, want %v (Σ|w·x| %v)", what, r, got[r], want, mag)
		}
	}
}

func TestMatVec(t *testing.T) {
	forceThreads(t)
	eachImpl(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(2, 2))
		for _, threads := range []int{1, 2, 3} {
			p := NewPool(threads)
			for _, typ := range allTypes {
				for _, s := range shapes(typ) {
					rows, cols, k := s[0], s[1], s[2]
					w, deq := weights(t, r, typ, rows, cols)
					x := randVec(r, k)
					out := make([]float32, rows)
					p.MatVec(out, w, x)
					checkRows(t, fmt.Sprintf("%s %dx%d k=%d threads=%d", typ, rows, cols, k, threads), out, deq, cols, k, x)
				}
			}
			p.Close()
		}
	})
}

func TestMatMul(t *testing.T) {
	forceThreads(t)
	eachImpl(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(3, 3))
		for _, threads := range []int{1, 2} {
			p := NewPool(threads)
			for _, typ := range allTypes {
				for _, s := range shapes(typ) {
					rows, cols, k := s[0], s[1], s[2]
					w, deq := weights(t, r, typ, rows, cols)
					for n := 1; n <= 9; n++ {
						if raceEnabled && n != 1 && n != 4 && n != 7 {
							continue
						}
						x := randVec(r, n*k)
						out := make([]float32, n*rows)
						for i := range out {
							out[i] = float32(math.NaN()) // every output must be written
						}
						p.MatMul(out, w, x, n)
						for tok := 0; tok < n; tok++ {
							checkRows(t, fmt.Sprintf("%s %dx%d k=%d n=%d token %d threads=%d", typ, rows, cols, k, n, tok, threads),
								out[tok*rows:(tok+1)*rows], deq, cols, k, x[tok*k:(tok+1)*k])
						}
					}
				}
			}
			p.Close()
		}
	})
}

// TestMatMulBlocks covers products large enough to need several cache blocks
// along k and along the tokens.
func TestMatMulBlocks(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("large product")
	}
	eachImpl(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(4, 4))
		p := NewPool(2)
		defer p.Close()
		for _, c := range []struct {
			typ              tensor.DType
			rows, cols, k, n int
		}{
			{tensor.F32, 37, 2600, 2593, 131},
			{tensor.F32, 70, 1030, 1030, 200},
			{tensor.Q8_0, 21, 2560, 2560, 67},
			{tensor.F16, 10, 1536, 1536, 140},
		} {
			w, deq := weights(t, r, c.typ, c.rows, c.cols)
			x := randVec(r, c.n*c.k)
			out := make([]float32, c.n*c.rows)
			p.MatMul(out, w, x, c.n)
			for tok := 0; tok < c.n; tok++ {
				checkRows(t, fmt.Sprintf("%s %dx%d k=%d n=%d token %d", c.typ, c.rows, c.cols, c.k, c.n, tok),
					out[tok*c.rows:(tok+1)*c.rows], deq, c.cols, c.k, x[tok*c.k:(tok+1)*c.k])
			}
		}
	})
}

// TestUnaligned checks F32 weights whose data does not start on a 4-byte boundary.
func TestUnaligned(t *testing.T) {
	eachImpl(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(5, 5))
		w, deq := weights(t, r, tensor.F32, 9, 37)
		buf := make([]byte, len(w.Data)+1)
		copy(buf[1:], w.Data)
		w.Data = buf[1:]
		x := randVec(r, 37)
		out := make([]float32, 9)
		var p *Pool
		p.MatVec(out, w, x)
		checkRows(t, "unaligned MatVec", out, deq, 37, 37, x)
		x2 := randVec(r, 3*37)
		out2 := make([]float32, 3*9)
		p.MatMul(out2, w, x2, 3)
		for tok := 0; tok < 3; tok++ {
			checkRows(t, "unaligned MatMul", out2[tok*9:(tok+1)*9], deq, 37, 37, x2[tok*37:(tok+1)*37])
		}
	})
}

func TestSupported(t *testing.T) {
	for _, typ := range allTypes {
		if !Supported(typ) {
			t.Errorf("Supported(%s) = false", typ)
		}
	}
	for _, typ := range []tensor.DType{tensor.Q4_1, tensor.Q5_K, tensor.I8, tensor.F64, tensor.DType(12345)} {
		if Supported(typ) {
			t.Errorf("Supported(%s) = true", typ)
		}
	}
}

func TestMisusePanics(t *testing.T) {
	r := rand.New(rand.NewPCG(6, 6))
	w, _ := weights(t, r, tensor.Q8_0, 4, 64)
	bad := &tensor.Tensor{Name: "q5", Type: tensor.Q5_K, Shape: []int{256, 1}, Data: make([]byte, 176)}
	var p *Pool
	tests := []struct {
		name string
		f    func()
		want string
	}{
		{"dot lengths", func() { Dot(make([]float32, 3), make([]float32, 4)) }, "length mismatch"},
		{"axpy lengths", func() { Axpy(1, make([]float32, 3), make([]float32, 4)) }, "length mismatch"},
		{"out length", func() { p.MatVec(make([]float32, 3), w, make([]float32, 64)) }, "output length 3, want 4"},
		{"k too big", func() { p.MatVec(make([]float32, 4), w, make([]float32, 96)) }, "exceed the 64 columns"},
		{"partial block", func() { p.MatVec(make([]float32, 4), w, make([]float32, 48)) }, "block size 32"},
		{"unsupported", func() { p.MatVec(make([]float32, 1), bad, make([]float32, 256)) }, "not supported"},
		{"nil tensor", func() { p.MatVec(nil, nil, nil) }, "nil weight"},
		{"tokens", func() { p.MatMul(make([]float32, 8), w, make([]float32, 100), 3) }, "do not split into 3 tokens"},
		{"short data", func() {
			p.MatVec(make([]float32, 4), &tensor.Tensor{Name: "s", Type: tensor.F32, Shape: []int{8, 4}, Data: make([]byte, 64)}, make([]float32, 8))
		}, "needs 128"},
	}
	for _, tt := range tests {
		func() {
			defer func() {
				v := recover()
				if v == nil || !strings.Contains(fmt.Sprint(v), tt.want) {
					t.Errorf("%s: panic %v, want one containing %q", tt.name, v, tt.want)
				}
			}()
			tt.f()
		}()
	}
}

func TestPoolFor(t *testing.T) {
	for _, threads := range []int{1, 2, 3, 5} {
		p := NewPool(threads)
		if p.Threads() != threads {
			t.Fatalf("Threads() = %d, want %d", p.Threads(), threads)
		}
		for _, n := range []int{0, 1, 2, 5, 16, 97, 1000} {
			for _, grain := range []int{0, 1, 7, 64} {
				hits := make([]int32, n)
				var calls atomic.Int32
				p.For(n, grain, func(lo, hi int) {
					calls.Add(1)
					if lo >= hi {
						t.Errorf("empty range [%d,%d)", lo, hi)
					}
					for i := lo; i < hi; i++ {
						atomic.AddInt32(&hits[i], 1)
					}
				})
				for i, h := range hits {
					if h != 1 {
						t.Fatalf("threads=%d n=%d grain=%d: index %d covered %d times", threads, n, grain, i, h)
					}
				}
				maxCalls := max(1, min(threads, n/max(grain, 1)))
				if n > 0 && int(calls.Load()) > maxCalls {
					t.Errorf("threads=%d n=%d grain=%d: %d calls, want at most %d", threads, n, grain, calls.Load(), maxCalls)
				}
			}
		}
		p.Close()
		p.Close() // idempotent
		// A closed pool still works, inline.
		var sum atomic.Int64
		p.For(100, 1, func(lo, hi int) { sum.Add(int64(hi - lo)) })
		if sum.Load() != 100 {
			t.Errorf("closed pool covered %d of 100", sum.Load())
		}
	}
	if NewPool(0).Threads() < 1 {
		t.Error("NewPool(0) has no threads")
	}
	var nilPool *Pool
	if nilPool.Threads() != 1 {
		t.Error("nil pool does not have 1 thread")
	}
	done := false
	nilPool.For(10, 1, func(lo, hi int) { done = lo == 0 && hi == 10 })
	if !done {
		t.Error("nil pool did not run [0,10)")
	}
}

func TestPoolNestedAndConcurrent(t *testing.T) {
	p := NewPool(2)
	defer p.Close()
	var total atomic.Int64
	p.For(4, 1, func(lo, hi int) {
		p.For(10, 1, func(lo, hi int) { total.Add(int64(hi - lo)) }) // runs inline
	})
	if total.Load() != 20 {
		t.Errorf("nested For covered %d, want 20", total.Load())
	}
	r := rand.New(rand.NewPCG(7, 7))
	w, deq := weights(t, r, tensor.Q4_K, 50, 512)
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		x := randVec(r, 512)
		wg.Add(1)
		go func() {
			defer wg.Done()
			out := make([]float32, 50)
			for i := 0; i < 20; i++ {
				p.MatVec(out, w, x)
			}
			for row := range out {
				want, mag := dotRef(deq[row*512:(row+1)*512], x)
				if !close32(out[row], want, mag) {
					t.Errorf("concurrent MatVec row %d = %v, want %v", row, out[row], want)
					return
				}
			}
		}()
	}
	wg.Wait()
}

func TestPoolPanic(t *testing.T) {
	p := NewPool(2)
	defer p.Close()
	for _, bad := range []int{0, 99} { // in the caller's chunk, in the worker's chunk
		func() {
			defer func() {
				if v := recover(); v == nil || !strings.Contains(fmt.Sprint(v), "boom") {
					t.Errorf("panic in chunk holding %d: recovered %v", bad, v)
				}
			}()
			p.For(100, 1, func(lo, hi int) {
				if lo <= bad && bad < hi {
					panic("boom")
				}
			})
		}()
	}
	// The pool still works afterwards.
	var sum atomic.Int64
	p.For(100, 1, func(lo, hi int) { sum.Add(int64(hi - lo)) })
	if sum.Load() != 100 {
		t.Errorf("after panics: covered %d of 100", sum.Load())
	}
}
