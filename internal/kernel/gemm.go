package kernel

import (
	"github.com/unswift/unswift/internal/tensor"
)

// The tile path of MatMul, for implementations without a packed path (see
// gemmpack.go) and for batches too small for it. Cache blocking: a k-block of
// kc columns of the tile's rows of W (a "slab", at most 16 KiB once decoded
// to f32) stays in L1 while it meets every tile of tokens of the current
// token block; the token block (nb tokens × kc columns, packed, at most
// 256 KiB) stays in L2 while the slabs of all the thread's rows pass by.
const (
	gemmKC     = 1024     // columns per k-block; a multiple of every block size (256)
	gemmXBlock = 64 << 10 // floats of x per token block (256 KiB)
)

// gemmFunc computes a panel of tiles of R rows × T tokens (the
// implementation's gemmR and gemmT): for i < R and t < tiles·T,
// s = Σ_{c<k} w[i*ldw+c]·x[t*ldx+c] is stored to out[t*ldo+i], or added to it
// when acc is set. k must be a multiple of the implementation's gemmKAlign;
// the slices must hold every element read or written. Along the way the
// kernel may hint the bytes of pf into the caches (the next slab of W).
type gemmFunc func(out []float32, ldo int, w []float32, ldw int, x []float32, ldx int, k int, acc bool, tiles int, pf []byte)

// deqFunc decodes len(dst) elements of a row segment src (a whole number of
// blocks) to float32.
type deqFunc func(dst []float32, src []byte)

// The portable tile: 4 rows × 3 tokens.
const goTileR, goTileT = 4, 3

func gemmGo(out []float32, ldo int, w []float32, ldw int, x []float32, ldx int, k int, acc bool, tiles int, _ []byte) {
	for t := 0; t < goTileT*tiles; t++ {
		xt := x[t*ldx : t*ldx+k]
		for i := 0; i < goTileR; i++ {
			s := dotGo(w[i*ldw:i*ldw+k], xt)
			if acc {
				out[t*ldo+i] += s
			} else {
				out[t*ldo+i] = s
			}
		}
	}
}

// deqGo decodes with the tensor package.
func deqGo(t tensor.DType) deqFunc {
	return func(dst []float32, src []byte) {
		if err := tensor.Dequantize(dst, t, src); err != nil {
			panic("kernel: " + err.Error()) // unreachable: the driver validated the sizes
		}
	}
}

// deqF32 copies F32 data, in place when it is 4-byte aligned.
func deqF32(dst []float32, src []byte) {
	if tensor.Aligned(src, 4) {
		copy(dst, tensor.Float32s(src[:4*len(dst)]))
		return
	}
	deqGo(tensor.F32)(dst, src)
}

// deqFor returns the row decoder of type t for implementation im.
func deqFor(im *impl, t tensor.DType) deqFunc {
	if t == tensor.F32 {
		return deqF32
	}
	if kd, ok := kindOf(t); ok && im.deq[kd] != nil {
		return im.deq[kd]
	}
	return deqGo(t)
}

// panel runs the implementation's tile kernel over tiles tiles of tokens,
// then adds the columns past the last multiple of its k alignment in Go.
func panel(im *impl, out []float32, ldo int, w []float32, ldw int, x []float32, ldx int, k int, acc bool, tiles int, pf []byte) {
	ka := k - k%im.gemmKAlign
	im.gemm(out, ldo, w, ldw, x, ldx, ka, acc, tiles, pf)
	if ka == k {
		return
	}
	for t := 0; t < im.gemmT*tiles; t++ {
		for i := 0; i < im.gemmR; i++ {
			var s float32
			for c := ka; c < k; c++ {
				s += w[i*ldw+c] * x[t*ldx+c]
			}
			out[t*ldo+i] += s
		}
	}
}

// runTiles computes rows [r0, r1) of the product for all tokens with the
// tile kernel; thread id owns scratch id.
//
// Each token block is first packed into scratch with a padded, 64-byte
// aligned stride so that the rows of a tile do not all fall into the same L1
// cache sets (rows of 1024 or 2048 floats would be 4 KiB apart), and so that
// tail tokens have room for a whole tile.
func (m *matmulTask) runTiles(p *Pool, id, r0, r1 int) {
	im := cur
	R, T := im.gemmR, im.gemmT
	k, n, rows := m.k, m.n, m.rows
	kc := min(k, gemmKC)
	ld := (kc+15)&^15 + 16 // packed stride: whole cache lines, plus one
	nb := max(T, gemmXBlock/ld/T*T)
	if blocks := (n + nb - 1) / nb; blocks > 1 { // balance the blocks
		nb = ((n+blocks-1)/blocks + T - 1) / T * T
	}
	nbt := min(nb, (n+T-1)/T*T) // token rows of the packed block
	size := R*ld + nbt*ld + R*T
	buf := scratch64(p, id, size)
	slab, xb, opad := buf[:R*ld], buf[R*ld:R*ld+nbt*ld], buf[R*ld+nbt*ld:R*ld+nbt*ld+R*T]
	deq := deqFor(im, m.t)
	for c0 := 0; c0 < k; c0 += kc {
		kk := min(kc, k-c0)
		off, _ := m.t.Bytes(c0)
		nbytes, _ := m.t.Bytes(kk)
		acc := c0 > 0
		for t0 := 0; t0 < n; t0 += nb {
			t1 := min(n, t0+nb)
			for t := t0; t < t1; t++ {
				copy(xb[(t-t0)*ld:(t-t0)*ld+kk], m.x[t*k+c0:t*k+c0+kk])
			}
			tiles := (t1 - t0) / T
			tFull := t0 + tiles*T
			for r := r0; r < r1; r += R {
				nr := min(R, r1-r)
				// The slab is decoded (F32: copied) into L1-sized scratch with
				// the padded stride; reading W in place was slower, its rows
				// falling on few cache sets.
				ws, ldw := slab, ld
				for i := 0; i < nr; i++ {
					row := m.w[(r+i)*m.stride+off:]
					deq(slab[i*ld:i*ld+kk], row[:nbytes])
				}
				// The panel is split in calls, each of which hints part of
				// the next slab into the caches as it goes, so that reading
				// the slab does not wait on memory.
				parts := 0
				if tiles > 0 {
					parts = tiles // one tile per call, through opad
					if nr == R {
						parts = min(tiles, R)
					}
				}
				calls := parts
				if tFull < t1 {
					calls++
				}
				nxt0, nxt1 := r+R, min(r+2*R, r1)
				pf := func(i int) []byte {
					if nxt0 >= nxt1 {
						return nil
					}
					a, b := nxt0+i*(nxt1-nxt0)/calls, nxt0+(i+1)*(nxt1-nxt0)/calls
					if a >= b {
						return nil
					}
					if off == 0 && nbytes == m.stride { // whole rows: contiguous
						return m.w[a*m.stride : b*m.stride]
					}
					return m.w[a*m.stride+off:][:nbytes]
				}
				for j := 0; j < parts; j++ {
					if nr == R {
						a, b := j*tiles/parts, (j+1)*tiles/parts
						panel(im, m.out[(t0+a*T)*rows+r:], rows, ws, ldw, xb[a*T*ld:], ld, kk, acc, b-a, pf(j))
					} else {
						panel(im, opad, R, ws, ldw, xb[j*T*ld:], ld, kk, false, 1, pf(j))
						m.merge(opad, R, t0+j*T, r, T, nr, acc)
					}
				}
				if tFull < t1 {
					panel(im, opad, R, ws, ldw, xb[tiles*T*ld:], ld, kk, false, 1, pf(parts))
					m.merge(opad, R, tFull, r, t1-tFull, nr, acc)
				}
			}
		}
	}
}

// merge stores (or adds, when acc) nt tokens × nr rows of a tile computed
// into o (leading dimension ldo) to the output at token t, row r.
func (m *matmulTask) merge(o []float32, ldo, t, r, nt, nr int, acc bool) {
	for j := 0; j < nt; j++ {
		dst := m.out[(t+j)*m.rows+r : (t+j)*m.rows+r+nr]
		src := o[j*ldo : j*ldo+nr]
		if acc {
			for i, v := range src {
				dst[i] += v
			}
		} else {
			copy(dst, src)
		}
	}
}
