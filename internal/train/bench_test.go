package train

import (
	"math/rand/v2"
	"os"
	"testing"
	"time"

	"github.com/unswift/unswift/internal/kernel"
	"github.com/unswift/unswift/internal/model"
	"github.com/unswift/unswift/internal/shared"
)

// matmulParams is the number of weights that take part in a product per
// token: every layer matrix and the classifier (not the embedding lookup).
func matmulParams(c model.Config) float64 {
	kv := c.KVDim()
	per := 2*c.Dim*c.Dim + 2*c.Dim*kv + 3*c.Dim*c.Hidden
	return float64(c.Layers*per + c.Vocab*c.Dim)
}

// benchStep measures, in the same run, a training step (forward, loss,
// backward, AdamW on every tensor) on b sequences of t tokens and the
// inference engine's forward pass (model.State.ForwardAll) over the same
// tokens, and reports both FLOP rates counting 6·P·tokens per step and
// 2·P·tokens per forward pass (P: matmulParams; attention not counted),
// and their ratio from wall-clock time and from the process's CPU time.
func benchStep(bb *testing.B, m *model.Model, b, t int) {
	pool := kernel.NewPool(0)
	defer pool.Close()
	p, err := FromModel(m)
	if err != nil {
		bb.Fatal(err)
	}
	p.SetTrainable(All)
	tr, err := NewTrainer(p, pool, Options{LR: 1e-5})
	if err != nil {
		bb.Fatal(err)
	}
	batch := randomTokens(rand.New(rand.NewPCG(1, 1)), b, t+1, m.Config.Vocab)
	st := m.NewState(pool, t)
	// timed returns the wall-clock and CPU time of fn.
	timed := func(fn func()) (wall, cpu time.Duration) {
		t0, c0 := time.Now(), cpuTime()
		fn()
		return time.Since(t0), cpuTime() - c0
	}
	fwd := func() {
		for _, s := range batch {
			st.Reset(0)
			if _, err := st.ForwardAll(s[:t]); err != nil {
				bb.Fatal(err)
			}
		}
	}
	step := func() {
		if _, err := tr.Step(batch, nil); err != nil {
			bb.Fatal(err)
		}
	}
	fwd() // warm up: page in the weights, size the buffers
	step()
	var tf, ts, cf, cs time.Duration
	bb.ResetTimer()
	for i := 0; i < bb.N; i++ {
		w, c := timed(fwd)
		tf, cf = tf+w, cf+c
		w, c = timed(step)
		ts, cs = ts+w, cs+c
	}
	tokens := float64(b * t)
	P := matmulParams(m.Config)
	fr := 2 * P * tokens * float64(bb.N) / tf.Seconds() / 1e9
	sr := 6 * P * tokens * float64(bb.N) / ts.Seconds() / 1e9
	bb.ReportMetric(ts.Seconds()/float64(bb.N)*1e3, "ms/step")
	bb.ReportMetric(sr, "train-GFLOP/s")
	bb.ReportMetric(fr, "fwd-GFLOP/s")
	bb.ReportMetric(sr/fr, "train/fwd")
	if cf > 0 && cs > 0 {
		// The same ratio from CPU time: steadier on a shared machine.
		bb.ReportMetric(3*cf.Seconds()/cs.Seconds(), "train/fwd-cpu")
	}
}

// BenchmarkStep260K: stories260K, 8 sequences of 64 tokens.
func BenchmarkStep260K(b *testing.B) {
	m := openModel(b, shared.Need(b, "models/stories260K/stories260K.gguf"))
	benchStep(b, m, 8, 64)
}

// BenchmarkStep110M: the stories110m shape (random weights), 2 sequences of
// 128 tokens and 8 sequences of 64. Make the model with
//
//	go run ./cmd/unswift synth --shape stories110m -o /tmp/s110.gguf
//
// and point UNSWIFT_S110 at it.
func BenchmarkStep110M(b *testing.B) {
	path := os.Getenv("UNSWIFT_S110")
	if path == "" {
		b.Skip("set UNSWIFT_S110 to a stories110m-shaped GGUF (unswift synth --shape stories110m)")
	}
	m := openModel(b, path)
	b.Run("2x128", func(b *testing.B) { benchStep(b, m, 2, 128) })
	b.Run("8x64", func(b *testing.B) { benchStep(b, m, 8, 64) })
}
