package eval

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/unswift/unswift/internal/calib"
	"github.com/unswift/unswift/internal/kernel"
	"github.com/unswift/unswift/internal/model"
	"github.com/unswift/unswift/internal/release"
	"github.com/unswift/unswift/internal/sample"
	"github.com/unswift/unswift/internal/shared"
	"github.com/unswift/unswift/internal/tensor"
)

func greedy(t *testing.T, m *model.Model, pool *kernel.Pool, prompt string, n int) string {
	t.Helper()
	smp, _ := sample.New(0, 0, 1, 0)
	var b strings.Builder
	_, err := m.NewState(pool, 0).Generate(context.Background(), m.Tokenizer.Encode(prompt, true), model.GenerateOptions{
		Positions: n, Sampler: smp, Emit: func(s string) error { b.WriteString(s); return nil }})
	if err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// TestFidelityRealModels secures the shared real models at N = 12 with the
// default policy (calibrated on the first 20,000 tokens of a text, measured on
// its last 2,000) and checks, at every order from 8 up, a mean KL below 1e-3
// and greedy text identical to the original's on the reference prompt.
func TestFidelityRealModels(t *testing.T) {
	if testing.Short() {
		t.Skip("skipping in -short mode")
	}
	for _, tc := range []struct {
		model, text, prompt string
		n                   int
	}{
		{"models/stories260K/stories260K.gguf", "data/tinystories_valid_prefix.txt", "Once upon a time", 64},
		{"models/shakespeare2M-q80/shakespeare_q80.bin", "data/tinyshakespeare_input.txt", "ROMEO:", 200},
	} {
		t.Run(filepath.Base(tc.model), func(t *testing.T) {
			orig, err := model.Open(shared.Need(t, tc.model), model.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer orig.Close()
			raw, err := os.ReadFile(shared.Need(t, tc.text))
			if err != nil {
				t.Fatal(err)
			}
			pool := kernel.NewPool(0)
			defer pool.Close()
			ctx := context.Background()
			cal, err := calib.Collect(ctx, orig, pool, string(raw), calib.Options{Tokens: 20000})
			if err != nil {
				t.Fatal(err)
			}
			held, err := HeldOut(orig.Tokenizer.Encode(string(raw), false), 20000, 2000)
			if err != nil {
				t.Fatal(err)
			}
			windows := Windows(held, orig.Config.Context, orig.Tokenizer.BOS())
			want := greedy(t, orig, pool, tc.prompt, tc.n)
			for _, expand := range []string{"auto", "all"} {
				s := uint64(1)
				opt := release.Options{Order: 12, Expand: expand, DType: tensor.F32, Seed: &s}
				plan, err := release.NewPlan(orig, cal, opt)
				if err != nil {
					t.Fatal(err)
				}
				path := filepath.Join(t.TempDir(), "rel.gguf")
				if err := release.Write(path, orig, plan, opt); err != nil {
					t.Fatal(err)
				}
				rel, err := model.Open(path, model.Options{})
				if err != nil {
					t.Fatal(err)
				}
				var table strings.Builder
				fmt.Fprintf(&table, "expand=%s (%.1f%% of channels), %d held-out tokens\n  N  mean KL     p99 KL      top-1    greedy\n", expand, 100*plan.Share(), len(held))
				for n := 0; n <= 12; n++ {
					if expand == "all" && n%4 != 0 {
						continue // enough to show that it does not converge
					}
					if err := rel.SetOrder(n); err != nil {
						t.Fatal(err)
					}
					f, err := Compare(ctx, orig, rel, pool, windows, nil)
					if err != nil {
						t.Fatal(err)
					}
					same := greedy(t, rel, pool, tc.prompt, tc.n) == want
					fmt.Fprintf(&table, "%3d  %.3e  %.3e  %.4f  %v\n", n, f.KL.Mean, f.KL.P99, f.Top1, same)
					if expand == "auto" && n >= 8 {
						if f.KL.Mean >= 1e-3 {
							t.Errorf("expand=auto N=%d: mean KL %.3g ≥ 1e-3", n, f.KL.Mean)
						}
						if !same {
							t.Errorf("expand=auto N=%d: greedy text differs from the original's", n)
						}
					}
				}
				rel.Close()
				t.Log("\n" + table.String())
			}
		})
	}
}
