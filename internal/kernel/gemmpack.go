package kernel

import (
	"unsafe"

	"github.com/unswift/unswift/internal/tensor"
)

// The packed MatMul path, for batches of packMinTokens tokens or more.
//
// The activations of a block of tokens are transposed once per call into
// groups of packT tokens, column by column ("xp": group g holds, for each
// column c, the packT activations of its tokens at xp[g*packT*k + c*packT:]).
// The tile kernel then broadcasts one weight of each of packR rows at a time
// and multiplies it with the packT activations of its column, so it reads the
// weights in place (F32) or from a small decoded buffer (other types), and
// each weight, once in L1, serves every group of tokens of the block. The
// tiles accumulate a row block of the transposed result ("ct": row r, token t
// at ct[r*ldc+t]), which is transposed into out when the row block is done.
//
// Loop order: token blocks (all tokens at once unless k is very large), row
// blocks of packRB rows, k-blocks of packKC columns, groups of packR rows,
// groups of tokens. The packR×packKC weights of a row group (6 KiB) stay in L1
// while every token group passes by, the packed activations stream from L2
// (from L3 once per row block), and the result of a row block (packRB ×
// tokens, 96 KiB for 128 tokens) stays in L2 until it is transposed out.
// While a row group is multiplied the kernel prefetches the weights of the
// next one, spread over the call, so that the weights never stall on memory.
// (Rows 2048 floats apart, which fall on few cache sets, measured no slower
// in place than copied to a padded buffer.)
const (
	packR  = 6   // rows of a tile
	packT  = 16  // tokens of a tile
	packKC = 256 // columns of a k-block: a multiple of every block size
	// packRB is the rows of a row block (a multiple of packR and of 8).
	packRB = 192
	// packUnit is the rows of a unit of work for the threads: a multiple of
	// packR and of 8, so that only the last unit of a matrix has a tail.
	packUnit = 24
	// packXMax bounds the packed activations of a token block (floats, 4 MiB):
	// every token block reads all the weights again.
	packXMax = 1 << 20
	// packMinTokens is the least batch that takes the packed path.
	packMinTokens = 14
)

// packKernels are an implementation's kernels for the packed path.
type packKernels struct {
	// tile computes, for each of groups groups j of packT tokens, i < packR
	// rows and t < packT tokens,
	// ct[i*ldc+j*packT+t] (+= when acc) Σ_{c<k} W[i,c]·xp[j*xgs+c*packT+t],
	// where W[i,c] is the float32 at byte i*ldw+4c of w. Along the way it
	// prefetches the first pfn cache lines of each of packR rows pfs bytes
	// apart from pf on (pfn may be 0).
	tile func(ct []float32, ldc int, w []byte, ldw int, xp []float32, xgs, k int, acc bool, groups int, pf []byte, pfs, pfn int)
	// transpose sets dst[j*ldd+i] = src[i*lds+j] for i < 8·rb, j < 8·cb.
	transpose func(dst []float32, ldd int, src []float32, lds int, rb, cb int)
}

// usePacked reports whether MatMul of n tokens takes the packed path: when
// the implementation has one and padding the tokens to whole groups wastes
// at most 14% of the work (beyond that the tile path is faster).
func usePacked(n int) bool {
	pad := (n + packT - 1) / packT * packT
	return cur.pack != nil && n >= packMinTokens && 100*n >= 86*pad
}

// floatBytes views f as bytes.
func floatBytes(f []float32) []byte {
	return unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(f))), 4*len(f))
}

// runPacked computes rows [r0, r1) of the product for all tokens with the
// packed kernels pk; thread id owns scratch id.
func (m *matmulTask) runPacked(p *Pool, id, r0, r1 int, pk *packKernels) {
	k, n := m.k, m.n
	// Token blocks: whole groups, balanced, within packXMax.
	groups := (n + packT - 1) / packT
	maxG := max(1, packXMax/(packT*k))
	nb := n
	if groups > maxG {
		blocks := (groups + maxG - 1) / maxG
		nb = ((n+blocks-1)/blocks + packT - 1) / packT * packT
	}
	gb := (nb + packT - 1) / packT // groups per token block
	ldc := gb * packT
	kc := min(k, packKC)
	ldwb := (kc+15)&^15 + 16 // decoded weights: padded stride (floats)
	nxp, nct, nwb := gb*packT*k, packRB*ldc, packR*ldwb
	size := nxp + nct + nwb
	buf := scratch64(p, id, size)
	xp, ct, wb := buf[:nxp], buf[nxp:nxp+nct], buf[nxp+nct:nxp+nct+nwb]
	wbb := floatBytes(wb)
	inPlace := m.t == tensor.F32 && tensor.Aligned(m.w, 4)
	// bytesOf is m.t.Bytes without its per-call table lookup: column counts
	// here are whole blocks (packKC and k are multiples of the block size).
	bs, bb := m.t.BlockSize(), m.t.BlockBytes()
	bytesOf := func(cols int) int { return cols / bs * bb }
	deq := deqFor(cur, m.t)

	for t0 := 0; t0 < n; t0 += nb {
		t1 := min(n, t0+nb)
		g := (t1 - t0 + packT - 1) / packT
		m.packX(pk, xp, t0, t1)
		for rb := r0; rb < r1; rb += packRB {
			re := min(r1, rb+packRB)
			for c0 := 0; c0 < k; c0 += kc {
				kk := min(kc, k-c0)
				off, nbytes := bytesOf(c0), bytesOf(kk)
				for r := rb; r < re; r += packR {
					nr := min(packR, re-r)
					w, ldw := wbb, 4*ldwb
					if inPlace && nr == packR {
						w, ldw = m.w[r*m.stride+off:], m.stride
					} else {
						// Decode (F32: copy) the rows, padded with zero rows.
						for i := 0; i < packR; i++ {
							if i < nr {
								deq(wb[i*ldwb:i*ldwb+kk], m.w[(r+i)*m.stride+off:][:nbytes])
							} else {
								clear(wb[i*ldwb : i*ldwb+kk])
							}
						}
					}
					// While it runs, the kernel prefetches the weights of the
					// next row group (rows past the end are harmless to hint).
					rn, cn := r+packR, c0
					if rn >= re {
						rn, cn = rb, c0+kc
						if cn >= k {
							rn, cn = rb+packRB, 0
						}
					}
					var pf []byte
					lines := 0
					if rn < r1 {
						offn, nbn := bytesOf(cn), bytesOf(min(kc, k-cn))
						pf, lines = m.w[rn*m.stride+offn:], (nbn+63)/64+1
					}
					pk.tile(ct[(r-rb)*ldc:], ldc, w, ldw, xp[c0*packT:], packT*k, kk, c0 > 0, g, pf, m.stride, lines)
				}
			}
			m.unpackC(pk, ct, ldc, rb, re, t0, t1)
		}
	}
}

// packX transposes the activations of tokens [t0, t1) into groups of packT
// (xp[g*packT*k + c*packT + t]), padding the last group with zeros.
func (m *matmulTask) packX(pk *packKernels, xp []float32, t0, t1 int) {
	k := m.k
	k8 := k &^ 7
	for tb := t0; tb < t1; tb += 8 {
		g, h := (tb-t0)/packT, (tb-t0)%packT
		dst := xp[g*packT*k+h:]
		cnt := min(8, t1-tb)
		c := 0
		if cnt == 8 {
			pk.transpose(dst, packT, m.x[tb*k:], k, 1, k8/8)
			c = k8
		}
		for ; c < k; c++ {
			d := dst[c*packT : c*packT+8]
			for j := range d {
				if j < cnt {
					d[j] = m.x[(tb+j)*k+c]
				} else {
					d[j] = 0
				}
			}
		}
	}
	if h := (t1 - t0) % packT; h > 0 && h <= 8 { // zero the last half group
		dst := xp[(t1-t0)/packT*packT*k+8:]
		for c := 0; c < k; c++ {
			clear(dst[c*packT : c*packT+8])
		}
	}
}

// unpackC transposes rows [rb, re) × tokens [t0, t1) of the result from ct
// into out.
func (m *matmulTask) unpackC(pk *packKernels, ct []float32, ldc, rb, re, t0, t1 int) {
	nr, nt := re-rb, t1-t0
	nr8, nt8 := nr&^7, nt&^7
	out := m.out[t0*m.rows+rb:]
	pk.transpose(out, m.rows, ct, ldc, nr8/8, nt8/8)
	for t := 0; t < nt; t++ {
		i := nr8
		if t >= nt8 {
			i = 0
		}
		o := out[t*m.rows:]
		for ; i < nr; i++ {
			o[i] = ct[i*ldc+t]
		}
	}
}
