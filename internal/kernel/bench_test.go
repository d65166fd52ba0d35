package kernel

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/unswift/unswift/internal/tensor"
)

// Benchmarks report weight bytes read per second (SetBytes: the MB/s column,
// and GB/s) and GFLOP/s. Speed does not depend on the values, so the weights
// are a cheap deterministic pattern rather than random numbers. Compare the
// GB/s of matrices larger than the 32 MiB L3 with the streaming bandwidth of
// ../shared/tools/bw.c measured in the same run.

// benchWeights makes a rows×cols tensor of type typ filled with a pattern.
func benchWeights(b testing.TB, typ tensor.DType, rows, cols int) *tensor.Tensor {
	src := make([]float32, cols)
	for i := range src {
		src[i] = float32(i%17-8) * 0.01
	}
	rb, err := typ.Bytes(cols)
	if err != nil {
		panic(err)
	}
	row := make([]byte, rb)
	fillWeights(b, rand.New(rand.NewPCG(1, 1)), typ, row, src)
	data := make([]byte, rows*rb)
	for r := 0; r < rows; r++ {
		copy(data[r*rb:], row)
	}
	return &tensor.Tensor{Name: "bench", Type: typ, Shape: []int{cols, rows}, Data: data}
}

func benchVec(n int) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(i%13-6) * 0.1
	}
	return x
}

// measure runs f b.N times and reports, per call, the rates of bytes and
// flops both per wall-clock second and per CPU second of the process (the
// latter is robust when other processes share the cores; for several threads
// it includes the workers' spinning).
func measure(b *testing.B, bytes, flops float64, f func()) {
	b.Helper()
	if bytes > 0 {
		b.SetBytes(int64(bytes))
	}
	c0 := cpuTime()
	for b.Loop() {
		f()
	}
	cpu := (cpuTime() - c0).Seconds() / float64(b.N)
	sec := b.Elapsed().Seconds() / float64(b.N)
	if bytes > 0 {
		b.ReportMetric(bytes/sec/1e9, "GB/s")
	}
	if flops > 0 {
		b.ReportMetric(flops/sec/1e9, "GFLOP/s")
		if cpu > 0 {
			b.ReportMetric(flops/cpu/1e9, "GFLOP/cpu-s")
		}
	}
}

type shape struct{ rows, cols int }

func (s shape) String() string { return fmt.Sprintf("%dx%d", s.rows, s.cols) }

func BenchmarkMatVec(b *testing.B) {
	f32 := []shape{{64, 64}, {172, 64}, {512, 64}, {768, 768}, {2048, 768}, {768, 2048}, {32000, 768}, {4096, 11008}}
	quant := []shape{{64, 64}, {768, 768}, {2048, 768}, {768, 2048}, {32000, 768}, {4096, 11008}}
	cases := []struct {
		typ    tensor.DType
		shapes []shape
	}{
		{tensor.F32, f32},
		{tensor.F16, quant},
		{tensor.BF16, quant},
		{tensor.Q8_0, quant},
		{tensor.Q8F32, quant},
		{tensor.Q4_K, []shape{{768, 768}, {4096, 11008 / 256 * 256}}},
	}
	for _, c := range cases {
		for _, s := range c.shapes {
			w := benchWeights(b, c.typ, s.rows, s.cols)
			x := benchVec(s.cols)
			out := make([]float32, s.rows)
			for _, threads := range []int{1, 2} {
				b.Run(fmt.Sprintf("%s/%s/t%d", c.typ, s, threads), func(b *testing.B) {
					p := NewPool(threads)
					defer p.Close()
					measure(b, float64(len(w.Data)), 2*float64(s.rows*s.cols), func() { p.MatVec(out, w, x) })
				})
			}
		}
	}
}

func BenchmarkMatMul(b *testing.B) {
	cases := []struct {
		typ tensor.DType
		s   shape
		n   int
	}{
		{tensor.F32, shape{768, 768}, 128},
		{tensor.F32, shape{2048, 768}, 128},
		{tensor.F32, shape{768, 2048}, 128},
		{tensor.F32, shape{4096, 4096}, 128},
		{tensor.F32, shape{768, 768}, 7},
		{tensor.F16, shape{2048, 768}, 128},
		{tensor.BF16, shape{2048, 768}, 128},
		{tensor.Q8_0, shape{2048, 768}, 128},
		{tensor.Q8F32, shape{2048, 768}, 128},
		{tensor.Q4_K, shape{2048, 768}, 128},
	}
	for _, c := range cases {
		w := benchWeights(b, c.typ, c.s.rows, c.s.cols)
		x := benchVec(c.n * c.s.cols)
		out := make([]float32, c.n*c.s.rows)
		for _, threads := range []int{1, 2} {
			b.Run(fmt.Sprintf("%s/%s/n%d/t%d", c.typ, c.s, c.n, threads), func(b *testing.B) {
				p := NewPool(threads)
				defer p.Close()
				measure(b, 0, 2*float64(c.s.rows*c.s.cols*c.n), func() { p.MatMul(out, w, x, c.n) })
			})
		}
	}
}

// model is the matrix shapes read per decoded token by a Llama-family model.
type model struct {
	name                          string
	dim, hidden, layers, kvDim, v int
}

func (m model) shapes() []shape {
	var l []shape
	for i := 0; i < m.layers; i++ {
		l = append(l, shape{m.dim, m.dim}, shape{m.kvDim, m.dim}, shape{m.kvDim, m.dim}, shape{m.dim, m.dim},
			shape{m.hidden, m.dim}, shape{m.hidden, m.dim}, shape{m.dim, m.hidden})
	}
	return append(l, shape{m.v, m.dim})
}

// BenchmarkDecode runs the matrix-vector products of one decoded token of
// stories260K and of a stories110M-shaped model, in tokens per second of
// matvec work alone (the rest of a forward pass comes on top).
func BenchmarkDecode(b *testing.B) {
	models := []model{
		{"stories260K", 64, 172, 5, 32, 512},
		{"stories110M", 768, 2048, 12, 768, 32000},
	}
	for _, m := range models {
		for _, typ := range []tensor.DType{tensor.F32, tensor.F16, tensor.Q8_0, tensor.Q8F32} {
			if m.dim%32 != 0 || m.hidden%32 != 0 {
				if typ.BlockSize() > 1 {
					continue
				}
			}
			var ws []*tensor.Tensor
			var bytes int64
			for _, s := range m.shapes() {
				w := benchWeights(b, typ, s.rows, s.cols)
				ws = append(ws, w)
				bytes += int64(len(w.Data))
			}
			outs := make([][]float32, len(ws))
			xs := make([][]float32, len(ws))
			for i, w := range ws {
				outs[i] = make([]float32, w.Rows())
				xs[i] = benchVec(w.Cols())
			}
			for _, threads := range []int{1, 2} {
				b.Run(fmt.Sprintf("%s/%s/t%d", m.name, typ, threads), func(b *testing.B) {
					p := NewPool(threads)
					defer p.Close()
					b.SetBytes(bytes)
					c0 := cpuTime()
					for b.Loop() {
						for i, w := range ws {
							p.MatVec(outs[i], w, xs[i])
						}
					}
					cpu := (cpuTime() - c0).Seconds() / float64(b.N)
					sec := b.Elapsed().Seconds() / float64(b.N)
					b.ReportMetric(1/sec, "tok/s")
					if cpu > 0 {
						b.ReportMetric(1/cpu, "tok/cpu-s")
					}
					b.ReportMetric(float64(bytes)/sec/1e9, "GB/s")
				})
			}
		}
	}
}

func BenchmarkDot(b *testing.B) {
	for _, n := range []int{64, 768, 4096} {
		x, y := benchVec(n), benchVec(n)
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			b.SetBytes(int64(8 * n))
			var s float32
			for b.Loop() {
				s += Dot(x, y)
			}
			_ = s
		})
	}
}

// BenchmarkAttend runs the fused attention of the 12 heads of 64 of a 110M
// model for one query over a cache of n positions (rows of 768 floats).
func BenchmarkAttend(b *testing.B) {
	for _, n := range []int{64, 128, 512} {
		const heads, hs, stride = 12, 64, 768
		keys, vals := benchVec(n*stride), benchVec(n*stride)
		q, out, att := benchVec(hs), make([]float32, hs), make([]float32, n)
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			measure(b, 0, 4*float64(heads*n*hs), func() {
				for h := 0; h < heads; h++ {
					Attend(out, q, keys[h*hs:], vals[h*hs:], att, stride, 0.125)
				}
			})
		})
	}
}
