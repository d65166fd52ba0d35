package calib

import (
	"context"
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/unswift/unswift/internal/kernel"
	"github.com/unswift/unswift/internal/model"
	"github.com/unswift/unswift/internal/synth"
	"github.com/unswift/unswift/internal/tensor"
)

func tiny(t *testing.T) *model.Model {
	t.Helper()
	p := filepath.Join(t.TempDir(), "tiny.gguf")
	if err := synth.Write(p, synth.Shapes["tiny"], synth.Options{Type: tensor.F32, Seed: 5}); err != nil {
		t.Fatal(err)
	}
	m, err := model.Open(p, model.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

// TestStatistics checks Collect's per-channel statistics against values
// computed directly from every gate pre-activation of the same windows.
func TestStatistics(t *testing.T) {
	m := tiny(t)
	pool := kernel.NewPool(1)
	defer pool.Close()
	text := strings.Repeat("the cat sat on the mat, and then it ran away! ", 40)
	const tokens, window = 700, 100
	cal, err := Collect(context.Background(), m, pool, text, Options{Tokens: tokens, Window: window, Samples: 50})
	if err != nil {
		t.Fatal(err)
	}
	// Direct: run the same windows and keep every value.
	c := m.Config
	all := make([][][]float64, c.Layers) // layer, channel, values
	for l := range all {
		all[l] = make([][]float64, c.Hidden)
	}
	s := m.NewState(pool, window)
	s.Hook = func(l int, g []float32, n int) {
		for i := 0; i < n; i++ {
			for j := 0; j < c.Hidden; j++ {
				all[l][j] = append(all[l][j], float64(g[i*c.Hidden+j]))
			}
		}
	}
	ids := m.Tokenizer.Encode(text, false)[:tokens]
	for off := 0; off < len(ids); off += window - 1 {
		s.Reset(0)
		w := append([]int{m.Tokenizer.BOS()}, ids[off:min(off+window-1, len(ids))]...)
		if _, err := s.Forward(w); err != nil {
			t.Fatal(err)
		}
	}
	for l := range all {
		cl := &cal.Layers[l]
		for j, vals := range all[l] {
			lo, hi, sum := math.Inf(1), math.Inf(-1), 0.0
			for _, v := range vals {
				lo, hi, sum = min(lo, v), max(hi, v), sum+v
			}
			mean := sum / float64(len(vals))
			var ss float64
			for _, v := range vals {
				ss += (v - mean) * (v - mean)
			}
			std := math.Sqrt(ss / float64(len(vals)))
			if cl.N != len(vals) || cl.Min[j] != lo || cl.Max[j] != hi ||
				math.Abs(cl.Mean(j)-mean) > 1e-9 || math.Abs(cl.Std(j)-std) > 1e-6*max(std, 1e-3) {
				t.Fatalf("layer %d channel %d: got n=%d min %g max %g mean %g std %g; want n=%d %g %g %g %g",
					l, j, cl.N, cl.Min[j], cl.Max[j], cl.Mean(j), cl.Std(j), len(vals), lo, hi, mean, std)
			}
			if len(cl.Samples[j]) == 0 || len(cl.Samples[j]) > 50 {
				t.Fatalf("layer %d channel %d: %d samples, want 1..50", l, j, len(cl.Samples[j]))
			}
		}
	}
	if cal.Tokens != cal.Layers[0].N {
		t.Errorf("Tokens %d, values per channel %d", cal.Tokens, cal.Layers[0].N)
	}
}

func TestErrors(t *testing.T) {
	m := tiny(t)
	pool := kernel.NewPool(1)
	defer pool.Close()
	for _, tc := range []struct {
		text   string
		tokens int
		want   string
	}{
		{"short text", 300, "calibration text is too short"},
		{strings.Repeat("x", 5000), 10, "at least 256 tokens"},
	} {
		_, err := Collect(context.Background(), m, pool, tc.text, Options{Tokens: tc.tokens})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("got %v, want %q", err, tc.want)
		}
	}
}
