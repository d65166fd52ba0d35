package kernel

import (
	"fmt"

	"github.com/unswift/unswift/internal/tensor"
)

// Thresholds below which a product runs on one thread: the hand-off to the
// workers costs more than it saves. Variables so that tests can force threading.
var (
	// parallelBytes is the least weight data (bytes) of one chunk of a
	// matrix-vector product.
	parallelBytes = 96 << 10
	// parallelFlops is the least multiply-adds of one chunk of a
	// matrix-matrix product.
	parallelFlops = 1 << 20
)

// checkMat validates the operands of a product with n tokens of k columns and
// returns the number of rows, k, the row stride and the kernel kind.
func checkMat(op string, out []float32, w *tensor.Tensor, xlen, n int) (rows, k, stride, kbytes int, kd kind) {
	if w == nil {
		panic("kernel." + op + ": nil weight tensor")
	}
	kd, ok := kindOf(w.Type)
	if !ok {
		panic(fmt.Sprintf("kernel.%s: tensor %q: type %s is not supported", op, w.Name, w.Type))
	}
	if n < 1 || xlen%n != 0 {
		panic(fmt.Sprintf("kernel.%s: tensor %q: %d activations do not split into %d tokens", op, w.Name, xlen, n))
	}
	k = xlen / n
	cols, rows := 1, 1
	if len(w.Shape) > 0 {
		cols = w.Shape[0]
		for _, d := range w.Shape[1:] {
			rows *= d
		}
	}
	if k > cols {
		panic(fmt.Sprintf("kernel.%s: tensor %q: %d activations per token exceed the %d columns", op, w.Name, k, cols))
	}
	bs, bb := blockOf(w.Type)
	if k%bs != 0 {
		panic(fmt.Sprintf("kernel.%s: tensor %q: %d columns used is not a multiple of the %s block size %d", op, w.Name, k, w.Type, bs))
	}
	if len(out) != n*rows {
		panic(fmt.Sprintf("kernel.%s: tensor %q: output length %d, want %d (%d tokens × %d rows)", op, w.Name, len(out), n*rows, n, rows))
	}
	stride = cols / bs * bb
	if len(w.Data) < rows*stride {
		panic(fmt.Sprintf("kernel.%s: tensor %q: %d bytes of data, shape %v of %s needs %d", op, w.Name, len(w.Data), w.Shape, w.Type, rows*stride))
	}
	return rows, k, stride, k / bs * bb, kd
}

// MatVec computes out[r] = Σ_{c<k} W[r,c]·x[c] for every row r of w, with
// k = len(x): only the first k columns of each row are used, so k may be less
// than w.Cols() but must be a multiple of the type's block size.
// len(out) must equal w.Rows(). Rows are split over the pool's threads in
// contiguous chunks when the matrix is large enough to pay for it.
func (p *Pool) MatVec(out []float32, w *tensor.Tensor, x []float32) {
	rows, k, stride, rowBytes, kd := checkMat("MatVec", out, w, len(x), 1)
	if rows == 0 || k == 0 {
		clear(out)
		return
	}
	// Two chunks per thread: when a worker is late (the machine may be
	// shared), the caller takes over the chunks it has not claimed.
	c := 1
	if p.Threads() > 1 {
		c = min(2*p.Threads(), rows*rowBytes/max(parallelBytes, 1), rows)
	}
	fn := cur.rows[kd]
	if !p.acquire() {
		var buf []float32
		if kd == kDeq {
			buf = make([]float32, k)
		}
		fn(out, w.Data, stride, x, w.Type, buf)
		return
	}
	defer p.mu.Unlock()
	if c <= 1 {
		var buf []float32
		if kd == kDeq {
			buf = p.buf(0, k)
		}
		fn(out, w.Data, stride, x, w.Type, buf)
		return
	}
	p.mv = matvecTask{fn: fn, out: out, w: w.Data, stride: stride, x: x, t: w.Type, deq: kd == kDeq}
	p.run(&p.mv, rows, c)
	p.mv = matvecTask{}
}

type matvecTask struct {
	fn     rowsFunc
	out    []float32
	w      []byte
	stride int
	x      []float32
	t      tensor.DType
	deq    bool
}

func (m *matvecTask) run(p *Pool, id, lo, hi int) {
	var buf []float32
	if m.deq {
		buf = p.buf(id, len(m.x))
	}
	m.fn(m.out[lo:hi], m.w[lo*m.stride:], m.stride, m.x, m.t, buf)
}

// MatMul computes, for every token t < n and row r of w,
// out[t*rows + r] = Σ_{c<k} W[r,c]·x[t*k + c], with k = len(x)/n: x holds n
// tokens of k activations each and, as in MatVec, only the first k columns of
// each row are used. len(out) must equal n·w.Rows().
func (p *Pool) MatMul(out []float32, w *tensor.Tensor, x []float32, n int) {
	rows, k, stride, _, kd := checkMat("MatMul", out, w, len(x), n)
	if n == 1 {
		p.MatVec(out, w, x)
		return
	}
	if rows == 0 || k == 0 {
		clear(out)
		return
	}
	m := matmulTask{out: out, w: w.Data, stride: stride, x: x, k: k, n: n, rows: rows, t: w.Type, kd: kd}
	units := m.units()
	c := min(p.Threads(), rows*k*n/max(parallelFlops, 1), units)
	if !p.acquire() {
		m.run(nil, -1, 0, units)
		return
	}
	defer p.mu.Unlock()
	if c <= 1 {
		m.run(p, 0, 0, units)
		return
	}
	p.mm = m
	p.run(&p.mm, units, c)
	p.mm = matmulTask{}
}

type matmulTask struct {
	out    []float32
	w      []byte
	stride int
	x      []float32
	k, n   int
	rows   int
	t      tensor.DType
	kd     kind
}

// unit is the number of rows of a unit of work of the product.
func (m *matmulTask) unit() int {
	if usePacked(m.n) {
		return packUnit
	}
	return cur.gemmR
}

// units is the number of units of work the product is split into.
func (m *matmulTask) units() int {
	return (m.rows + m.unit() - 1) / m.unit()
}

func (m *matmulTask) run(p *Pool, id, lo, hi int) {
	u := m.unit()
	r0, r1 := lo*u, min(hi*u, m.rows)
	if usePacked(m.n) {
		m.runPacked(p, id, r0, r1, cur.pack)
		return
	}
	m.runTiles(p, id, r0, r1)
}
