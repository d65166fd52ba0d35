package eval

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/unswift/unswift/internal/calib"
	"github.com/unswift/unswift/internal/kernel"
	"github.com/unswift/unswift/internal/model"
	"github.com/unswift/unswift/internal/release"
	"github.com/unswift/unswift/internal/shared"
	"github.com/unswift/unswift/internal/tensor"
)

type basisCase struct {
	name, model, text, other, prompt string
	n                                int
	maxKL8                           float64 // chebyshev at N = 8
}

var basisCases = []basisCase{
	{"stories260K", "models/stories260K/stories260K.gguf", "data/tinystories_valid_prefix.txt", "data/wikitext2_test.txt", "Once upon a time", 64, 1e-4},
	{"shakespeare", "models/shakespeare2M-q80/shakespeare_q80.bin", "data/tinyshakespeare_input.txt", "data/tinystories_valid_prefix.txt", "ROMEO:", 200, 1e-6},
}

// bench holds one model's calibration and evaluation data.
type bench struct {
	orig                *model.Model
	pool                *kernel.Pool
	cal                 *calib.Calibration
	held, other, random [][]int
	want                string
	dir                 string
}

func newBench(t *testing.T, tc basisCase) *bench {
	t.Helper()
	orig, err := model.Open(shared.Need(t, tc.model), model.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { orig.Close() })
	raw, err := os.ReadFile(shared.Need(t, tc.text))
	if err != nil {
		t.Fatal(err)
	}
	other, err := os.ReadFile(shared.Need(t, tc.other))
	if err != nil {
		t.Fatal(err)
	}
	b := &bench{orig: orig, pool: kernel.NewPool(0), dir: t.TempDir()}
	t.Cleanup(b.pool.Close)
	if b.cal, err = calib.Collect(context.Background(), orig, b.pool, string(raw), calib.Options{Tokens: 20000, Samples: 512}); err != nil {
		t.Fatal(err)
	}
	held, err := HeldOut(orig.Tokenizer.Encode(string(raw), false), 20000, 2000)
	if err != nil {
		t.Fatal(err)
	}
	ctx, bos := orig.Config.Context, orig.Tokenizer.BOS()
	b.held = Windows(held, ctx, bos)
	ot := orig.Tokenizer.Encode(string(other[:min(len(other), 40000)]), false)
	b.other = Windows(ot[len(ot)-2000:], ctx, bos)
	rng := rand.New(rand.NewPCG(9, 9))
	rt := make([]int, 2000)
	for i := range rt {
		rt[i] = 3 + rng.IntN(orig.Config.Vocab-3)
	}
	b.random = Windows(rt, ctx, bos)
	b.want = greedy(t, orig, b.pool, tc.prompt, tc.n)
	return b
}

func (b *bench) release(t *testing.T, opt release.Options) *model.Model {
	t.Helper()
	s := uint64(1)
	opt.Seed, opt.DType = &s, tensor.F32
	plan, err := release.NewPlan(b.orig, b.cal, opt)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(b.dir, fmt.Sprintf("%s-%d-%s.gguf", opt.Basis, opt.Order, opt.Tail))
	if err := release.Write(path, b.orig, plan, opt); err != nil {
		t.Fatal(err)
	}
	rel, err := model.Open(path, model.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rel.Close() })
	return rel
}

func (b *bench) kl(t *testing.T, rel *model.Model, w [][]int) float64 {
	t.Helper()
	f, err := Compare(context.Background(), b.orig, rel, b.pool, w, nil)
	if err != nil {
		t.Fatal(err)
	}
	return f.KL.Mean
}

// TestChebyshevBasis: with every channel expanded, the Chebyshev basis at N = 8
// reaches the fidelity on both real models with identical greedy text
// (which stays identical at larger N), and its exact tail rule keeps the
// release well-behaved off-distribution (random tokens, another domain).
func TestChebyshevBasis(t *testing.T) {
	if testing.Short() {
		t.Skip("skipping in -short mode")
	}
	for _, tc := range basisCases {
		t.Run(tc.name, func(t *testing.T) {
			b := newBench(t, tc)
			var log strings.Builder
			fmt.Fprintf(&log, "%s, chebyshev, all channels; KL in-distribution / other domain / random tokens\n", tc.name)
			for _, n := range []int{8, 12, 16} {
				rel := b.release(t, release.Options{Order: n, Basis: "chebyshev"})
				in := b.kl(t, rel, b.held)
				same := greedy(t, rel, b.pool, tc.prompt, tc.n) == b.want
				if n == 8 && in >= tc.maxKL8 {
					t.Errorf("N=8: mean KL %.3g ≥ %.0e", in, tc.maxKL8)
				}
				if !same {
					t.Errorf("N=%d: greedy text differs from the original's", n)
				}
				line := fmt.Sprintf("N=%2d  %.3e  greedy same: %v", n, in, same)
				if n <= 12 {
					for _, tail := range []string{"exact", "linear", "none"} {
						r := rel
						if tail != "exact" {
							r = b.release(t, release.Options{Order: n, Basis: "chebyshev", Tail: tail})
						}
						od, rnd := b.kl(t, r, b.other), b.kl(t, r, b.random)
						if tail == "exact" {
							base := max(in, 1e-12)
							if od > 10*base || rnd > 10*base {
								t.Errorf("N=%d tail=exact: off-distribution KL %.3g (other) %.3g (random) > 10× in-distribution %.3g", n, od, rnd, in)
							}
						}
						line += fmt.Sprintf("  | tail=%s: other %.3e random %.3e", tail, od, rnd)
					}
				}
				fmt.Fprintln(&log, line)
			}
			t.Log("\n" + log.String())
		})
	}
}

// TestBasisSweep (UNSWIFT_SWEEP=1) compares the bases over N = 2..16 on both
// real models and reports, per basis, the smallest N whose mean KL is below
// 1e-3 with greedy text identical to the original's.
func TestBasisSweep(t *testing.T) {
	if os.Getenv("UNSWIFT_SWEEP") == "" {
		t.Skip("set UNSWIFT_SWEEP=1 to run the basis sweep (minutes)")
	}
	policies := []struct {
		name string
		opt  release.Options
	}{
		{"taylor auto", release.Options{Basis: "taylor"}},
		{"taylor narrowest-70%", release.Options{Basis: "taylor", Expand: "0.7"}},
		{"chebyshev", release.Options{Basis: "chebyshev"}},
		{"lsq", release.Options{Basis: "lsq"}},
	}
	for _, tc := range basisCases {
		t.Run(tc.name, func(t *testing.T) {
			b := newBench(t, tc)
			var log strings.Builder
			for _, p := range policies {
				fmt.Fprintf(&log, "%s / %s:", tc.name, p.name)
				smallest := -1
				for n := 2; n <= 16; n++ {
					opt := p.opt
					opt.Order = n
					rel := b.release(t, opt)
					kl := b.kl(t, rel, b.held)
					same := greedy(t, rel, b.pool, tc.prompt, tc.n) == b.want
					mark := ""
					if same {
						mark = "="
					}
					fmt.Fprintf(&log, " %d:%.1e%s", n, kl, mark)
					if kl < 1e-3 && same && smallest < 0 {
						smallest = n
					}
					rel.Close()
				}
				fmt.Fprintf(&log, "\n  smallest N with KL < 1e-3 and identical greedy text: %d\n", smallest)
			}
			t.Log("\n" + log.String())
		})
	}
}
