package kernel

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/unswift/unswift/internal/tensor"
)

// packImpls returns the implementations that have a packed MatMul path.
func packImpls(t *testing.T) []*impl {
	var l []*impl
	for _, im := range impls() {
		if im.pack != nil {
			l = append(l, im)
		}
	}
	if len(l) == 0 {
		t.Skip("no implementation with a packed path on this CPU")
	}
	return l
}

func TestUsePacked(t *testing.T) {
	saved := cur
	defer func() { cur = saved }()
	cur = goImpl
	if usePacked(128) {
		t.Errorf("the portable implementation has no packed path, but usePacked(128) is true")
	}
	for _, im := range packImpls(t) {
		cur = im
		for _, c := range []struct {
			n    int
			want bool
		}{
			{1, false}, {9, false}, {13, false}, {14, true}, {16, true}, {17, false},
			{24, false}, {28, true}, {32, true}, {40, false}, {44, true}, {128, true}, {129, true},
		} {
			if got := usePacked(c.n); got != c.want {
				t.Errorf("%s: usePacked(%d) = %v, want %v", im.name, c.n, got, c.want)
			}
		}
	}
}

// TestPackTile checks the tile kernel against a float64 reference, with
// several token groups, columns that are not a multiple of the unroll,
// accumulation, and prefetch hints.
func TestPackTile(t *testing.T) {
	r := rand.New(rand.NewPCG(6, 6))
	for _, im := range packImpls(t) {
		for _, k := range []int{1, 7, 16, 17, 40, 256} {
			for _, groups := range []int{1, 3} {
				for _, acc := range []bool{false, true} {
					ldw, xgs, ldc := k+5, packT*k+16, groups*packT+3
					w := randVec(r, packR*ldw)
					xp := randVec(r, groups*xgs)
					ct := randVec(r, packR*ldc)
					before := append([]float32(nil), ct...)
					wb := floatBytes(w)
					im.pack.tile(ct, ldc, wb, 4*ldw, xp, xgs, k, acc, groups, wb, 4*ldw, 3)
					for i := 0; i < packR; i++ {
						for j := 0; j < groups*packT; j++ {
							g, tt := j/packT, j%packT
							var want, mag float64
							for c := 0; c < k; c++ {
								p := float64(w[i*ldw+c]) * float64(xp[g*xgs+c*packT+tt])
								want += p
								mag += math.Abs(p)
							}
							if acc {
								want += float64(before[i*ldc+j])
								mag += math.Abs(float64(before[i*ldc+j]))
							}
							if got := ct[i*ldc+j]; !close32(got, want, mag) {
								t.Fatalf("%s k=%d groups=%d acc=%v: row %d token %d = %v, want %v", im.name, k, groups, acc, i, j, got, want)
							}
						}
						for j := groups * packT; j < ldc; j++ {
							if ct[i*ldc+j] != before[i*ldc+j] {
								t.Fatalf("%s k=%d groups=%d: row %d column %d past the tokens was written", im.name, k, groups, i, j)
							}
						}
					}
				}
			}
		}
	}
}

func TestPackTranspose(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 7))
	for _, im := range packImpls(t) {
		for _, c := range []struct{ rb, cb, lds, ldd int }{{1, 1, 8, 8}, {1, 3, 29, 8}, {2, 1, 9, 21}, {3, 4, 40, 27}} {
			src := randVec(r, 8*c.rb*c.lds)
			dst := randVec(r, 8*c.cb*c.ldd)
			before := append([]float32(nil), dst...)
			im.pack.transpose(dst, c.ldd, src, c.lds, c.rb, c.cb)
			for j := 0; j < 8*c.cb; j++ {
				for i := 0; i < c.ldd; i++ {
					want := before[j*c.ldd+i]
					if i < 8*c.rb {
						want = src[i*c.lds+j]
					}
					if dst[j*c.ldd+i] != want {
						t.Fatalf("%s %+v: dst[%d][%d] = %v, want %v", im.name, c, j, i, dst[j*c.ldd+i], want)
					}
				}
			}
		}
	}
}

// TestMatMulPacked covers the packed path of MatMul: token counts around
// whole groups, rows around tiles, row blocks and thread units, columns
// around the unroll and k-blocks, every kind of weights, and threads.
func TestMatMulPacked(t *testing.T) {
	forceThreads(t)
	saved := cur
	defer func() { cur = saved }()
	r := rand.New(rand.NewPCG(8, 8))
	type shape struct{ rows, cols, k int }
	f32 := []shape{{1, 9, 9}, {6, 16, 16}, {7, 40, 33}, {25, 300, 300}, {50, 64, 64}, {200, 17, 17}}
	blocked := []shape{{5, 64, 64}, {13, 512, 512}, {30, 256, 256}}
	ns := []int{14, 16, 31, 32, 47, 48, 64}
	if raceEnabled {
		ns = []int{16, 47}
	}
	for _, im := range packImpls(t) {
		cur = im
		for _, threads := range []int{1, 2, 3} {
			p := NewPool(threads)
			for _, typ := range allTypes {
				shapes := f32
				if typ.BlockSize() > 1 {
					shapes = blocked
				}
				if typ == tensor.Q4_K || typ == tensor.Q6_K {
					shapes = []shape{{5, 256, 256}, {13, 512, 512}}
				}
				for _, s := range shapes {
					w, deq := weights(t, r, typ, s.rows, s.cols)
					for _, n := range ns {
						if !usePacked(n) {
							t.Fatalf("%s: %d tokens do not take the packed path", im.name, n)
						}
						x := randVec(r, n*s.k)
						out := make([]float32, n*s.rows)
						for i := range out {
							out[i] = float32(math.NaN()) // every output must be written
						}
						p.MatMul(out, w, x, n)
						for tok := 0; tok < n; tok++ {
							checkRows(t, fmt.Sprintf("%s %s %dx%d k=%d n=%d token %d threads=%d", im.name, typ, s.rows, s.cols, s.k, n, tok, threads),
								out[tok*s.rows:(tok+1)*s.rows], deq, s.cols, s.k, x[tok*s.k:(tok+1)*s.k])
						}
					}
				}
			}
			p.Close()
		}
		// Activations too many for one token block (packXMax).
		if !raceEnabled {
			const rows, k, n = 7, 8200, 140
			if n*k <= packXMax {
				t.Fatalf("%d tokens of %d fit one token block", n, k)
			}
			w, deq := weights(t, r, tensor.F32, rows, k)
			x := randVec(r, n*k)
			out := make([]float32, n*rows)
			p := NewPool(2)
			p.MatMul(out, w, x, n)
			p.Close()
			for tok := 0; tok < n; tok++ {
				checkRows(t, fmt.Sprintf("%s token blocks: token %d", im.name, tok), out[tok*rows:(tok+1)*rows], deq, k, k, x[tok*k:(tok+1)*k])
			}
		}
		// Unaligned F32 data is decoded rather than read in place.
		w, deq := weights(t, r, tensor.F32, 13, 37)
		buf := make([]byte, len(w.Data)+1)
		copy(buf[1:], w.Data)
		w.Data = buf[1:]
		x := randVec(r, 16*37)
		out := make([]float32, 16*13)
		var p *Pool
		p.MatMul(out, w, x, 16)
		for tok := 0; tok < 16; tok++ {
			checkRows(t, "unaligned packed MatMul", out[tok*13:(tok+1)*13], deq, 37, 37, x[tok*37:(tok+1)*37])
		}
	}
}
