package kernel

import (
	"flag"
	"fmt"
	"testing"
	"time"

	"github.com/unswift/unswift/internal/tensor"
)

var reportFlag = flag.Bool("report", false, "run TestReport, a manual best-of measurement of the kernels")

// bestOf returns the shortest of rounds timings of f (after one warm-up
// call): on a shared machine the minimum is the measurement least disturbed
// by other processes.
func bestOf(rounds int, f func()) time.Duration {
	f()
	best := time.Duration(1 << 62)
	for i := 0; i < rounds; i++ {
		t0 := time.Now()
		f()
		best = min(best, time.Since(t0))
	}
	return best
}

// TestReport prints best-of timings of the main kernels; it is a manual
// measurement (go test -run Report -v -report), to be read next to the streaming
// bandwidth of ../shared/tools/bw.c measured just before and after.
func TestReport(t *testing.T) {
	if !*reportFlag {
		t.Skip("manual measurement; pass -report")
	}
	fmt.Printf("kernels: %s\n", Implementation())
	pools := map[int]*Pool{1: NewPool(1), 2: NewPool(2)}
	defer pools[1].Close()
	defer pools[2].Close()
	// Every measurement is repeated in three passes over the whole list and
	// the best is kept, so that a burst of activity of other processes does
	// not spoil one configuration.
	type result struct {
		d      time.Duration
		format string
		val    func(time.Duration) float64
	}
	var order []string
	res := map[string]*result{}
	record := func(label, format string, d time.Duration, val func(time.Duration) float64) {
		r, ok := res[label]
		if !ok {
			r = &result{d: d, format: format, val: val}
			res[label] = r
			order = append(order, label)
		}
		r.d = min(r.d, d)
	}
	for pass := 0; pass < 3; pass++ {
		runReport(t, pools, record)
	}
	for _, l := range order {
		r := res[l]
		fmt.Printf("%-36s "+r.format+"\n", l, r.val(r.d))
	}
}

func runReport(t *testing.T, pools map[int]*Pool, record func(label, format string, d time.Duration, val func(time.Duration) float64)) {
	for _, c := range []struct {
		typ tensor.DType
		s   shape
	}{
		{tensor.F32, shape{4096, 11008}}, {tensor.F32, shape{32000, 768}},
		{tensor.F16, shape{4096, 11008}}, {tensor.BF16, shape{4096, 11008}},
		{tensor.Q8_0, shape{4096, 11008}}, {tensor.Q8F32, shape{4096, 11008}},
		{tensor.Q8_0, shape{32000, 768}},
		{tensor.F32, shape{768, 768}}, {tensor.F32, shape{2048, 768}}, {tensor.F32, shape{768, 2048}},
		{tensor.F32, shape{64, 64}}, {tensor.F32, shape{172, 64}},
	} {
		w := benchWeights(t, c.typ, c.s.rows, c.s.cols)
		x := benchVec(c.s.cols)
		out := make([]float32, c.s.rows)
		for _, th := range []int{1, 2} {
			rounds := max(5, min(2000, (1<<28)/len(w.Data)))
			d := bestOf(rounds, func() { pools[th].MatVec(out, w, x) })
			nbytes := float64(len(w.Data))
			record(fmt.Sprintf("MatVec %s %s t%d", c.typ, c.s, th), "%6.1f GB/s", d, func(d time.Duration) float64 { return nbytes / d.Seconds() / 1e9 })
		}
	}
	for _, m := range []model{{"stories110M", 768, 2048, 12, 768, 32000}, {"stories260K", 64, 172, 5, 32, 512}} {
		for _, typ := range []tensor.DType{tensor.F32, tensor.F16, tensor.Q8_0, tensor.Q8F32} {
			if m.dim == 64 && typ.BlockSize() > 1 {
				continue
			}
			var ws []*tensor.Tensor
			for _, s := range m.shapes() {
				ws = append(ws, benchWeights(t, typ, s.rows, s.cols))
			}
			outs, xs := make([][]float32, len(ws)), make([][]float32, len(ws))
			for i, w := range ws {
				outs[i], xs[i] = make([]float32, w.Rows()), benchVec(w.Cols())
			}
			for _, th := range []int{1, 2} {
				rounds := 10
				if m.dim == 64 {
					rounds = 2000
				}
				d := bestOf(rounds, func() {
					for i, w := range ws {
						pools[th].MatVec(outs[i], w, xs[i])
					}
				})
				record(fmt.Sprintf("Decode %s %s t%d", m.name, typ, th), "%8.1f tok/s (matvecs only)", d, func(d time.Duration) float64 { return 1 / d.Seconds() })
			}
		}
	}
	for _, c := range []struct {
		typ tensor.DType
		s   shape
		n   int
	}{
		{tensor.F32, shape{768, 768}, 128}, {tensor.F32, shape{2048, 768}, 128}, {tensor.F32, shape{768, 2048}, 128},
		{tensor.F32, shape{4096, 4096}, 128}, {tensor.F32, shape{768, 768}, 7},
		{tensor.F16, shape{2048, 768}, 128}, {tensor.BF16, shape{2048, 768}, 128},
		{tensor.Q8_0, shape{2048, 768}, 128}, {tensor.Q8F32, shape{2048, 768}, 128}, {tensor.Q4_K, shape{2048, 768}, 128},
	} {
		w := benchWeights(t, c.typ, c.s.rows, c.s.cols)
		x := benchVec(c.n * c.s.cols)
		out := make([]float32, c.n*c.s.rows)
		for _, th := range []int{1, 2} {
			d := bestOf(max(3, min(50, int(2e9/float64(c.s.rows*c.s.cols*c.n)))), func() { pools[th].MatMul(out, w, x, c.n) })
			fl := 2 * float64(c.s.rows*c.s.cols*c.n)
			record(fmt.Sprintf("MatMul %s %s n=%d t%d", c.typ, c.s, c.n, th), "%6.1f GFLOP/s", d, func(d time.Duration) float64 { return fl / d.Seconds() / 1e9 })
		}
	}
}
