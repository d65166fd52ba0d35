package train

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/unswift/unswift/internal/kernel"
	"github.com/unswift/unswift/internal/model"
)

// tinyConfig is the whole-model gradient check's llama model: 2 layers,
// grouped-query attention (4 heads, 2 key/value heads of 4 values), partial
// rotary on every dimension of a head, vocabulary 20.
func tinyConfig() model.Config {
	return model.Config{Arch: "llama", Family: model.Families["llama"], Dim: 16, Hidden: 24, Layers: 2, Heads: 4, KVHeads: 2,
		Vocab: 20, Context: 16, RopeBase: 10000, RopeDim: 4, NormEps: 1e-5}
}

// familyConfig is tinyConfig in the family of arch: qwen2 rotates half of
// each head (rotate-half), phi2 too in parallel blocks, gpt2 has learned
// positions and multi-head attention.
func familyConfig(arch string) model.Config {
	c := tinyConfig()
	c.Arch, c.Family = arch, model.Families[arch]
	switch arch {
	case "qwen2", "phi2":
		c.RopeDim = 2
	case "gpt2":
		c.KVHeads, c.RopeDim, c.RopeBase = c.Heads, 0, 0
	}
	return c
}

// families are the architectures the engine runs.
var families = []string{"llama", "qwen2", "gpt2", "phi2"}

// randomSet makes a parameter set of c (with its family's tensors, see
// NewParamSet) with random matrices (std 0.4, so that no part of the network
// is nearly linear), norm weights near one and biases near zero.
func randomSet[F Float](t testing.TB, c model.Config, untied bool, seed uint64) *ParamSet[F] {
	t.Helper()
	p, err := NewParamSet[F](c, untied)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(seed, 99))
	for _, q := range p.All() {
		for i := range q.W {
			switch {
			case isNormWeight(q):
				q.W[i] = F(1 + 0.2*rng.NormFloat64())
			case len(q.Shape) == 1:
				q.W[i] = F(0.2 * rng.NormFloat64())
			default:
				q.W[i] = F(0.4 * rng.NormFloat64())
			}
		}
	}
	return p
}

func randomTokens(rng *rand.Rand, b, l, vocab int) [][]int {
	batch := make([][]int, b)
	for i := range batch {
		batch[i] = make([]int, l)
		for j := range batch[i] {
			batch[i][j] = rng.IntN(vocab)
		}
	}
	return batch
}

// modelLoss is the whole model's float64 loss on a batch: cross-entropy of
// next tokens (teacher nil) or KL to teacher logits; the gradient is left in
// the trainable tensors when grad is set.
func modelLoss(e *engine[float64], batch [][]int, teacher []float64, grad bool) float64 {
	b, L := len(batch), len(batch[0])
	vocab := e.c.Vocab
	var in, tg []int
	l := L
	if teacher == nil {
		l = L - 1
	}
	for _, s := range batch {
		in = append(in, s[:l]...)
		if teacher == nil {
			tg = append(tg, s[1:]...)
		}
	}
	e.forward(in, b, l)
	var loss float64
	if teacher == nil {
		loss = crossEntropy(e.be, e.logits, e.logits, tg, vocab)
	} else {
		loss = klDiv(e.be, e.logits, e.logits, [][]float64{teacher}, b*l, vocab, 1)
	}
	if grad {
		e.p.ZeroGrad()
		e.backward()
	}
	return loss
}

// TestGradWholeModel checks the gradient of the whole forward pass with
// respect to sampled coordinates of every tensor, for each family, both
// losses, with tied and untied classifiers.
func TestGradWholeModel(t *testing.T) {
	pool := kernel.NewPool(2)
	defer pool.Close()
	for _, arch := range families {
		for _, tc := range []struct {
			untied, kl bool
		}{{false, false}, {true, false}, {false, true}, {true, true}} {
			name := fmt.Sprintf("%s untied=%v kl=%v", arch, tc.untied, tc.kl)
			t.Run(name, func(t *testing.T) {
				c := familyConfig(arch)
				p := randomSet[float64](t, c, tc.untied, 1)
				if err := p.SetTrainable(All); err != nil {
					t.Fatal(err)
				}
				e := newEngine(p, pool)
				rng := rand.New(rand.NewPCG(3, 4))
				const B, T = 2, 5
				var teacher []float64
				L := T + 1
				if tc.kl {
					L = T
					teacher = randVec(rng, B*T*c.Vocab, 2)
				}
				batch := randomTokens(rng, B, L, c.Vocab)
				modelLoss(e, batch, teacher, true)
				worst := 0.0
				for _, q := range p.All() {
					// four random coordinates, plus every coordinate of small tensors
					idx := []int{}
					if len(q.W) <= 16 {
						for i := range q.W {
							idx = append(idx, i)
						}
					} else {
						for k := 0; k < 4; k++ {
							idx = append(idx, rng.IntN(len(q.W)))
						}
					}
					switch q {
					case p.TokenEmbd:
						idx = append(idx, batch[0][0]*c.Dim+1) // a row that is looked up
					case p.PositionEmbd:
						idx = append(idx, 1, (T-1)*c.Dim+2) // positions in use
					}
					var an, num []float64
					for _, i := range idx {
						v := q.W[i]
						q.W[i] = v + fdStep
						lp := modelLoss(e, batch, teacher, false)
						q.W[i] = v - fdStep
						lm := modelLoss(e, batch, teacher, false)
						q.W[i] = v
						num = append(num, (lp-lm)/(2*fdStep))
						an = append(an, q.G[i])
					}
					if c.Family.Rope == model.RopeNone && q.Kind() == "attn_k.bias" {
						// Without rotation the key bias adds q·b to every
						// score of a query: softmax ignores it.
						for i := range an {
							if math.Abs(an[i]) > 1e-12 || math.Abs(num[i]) > 1e-9 {
								t.Errorf("%s: gradient %v (numeric %v), want 0", q.Name, an[i], num[i])
							}
						}
						continue
					}
					err := relErr(an, num)
					worst = max(worst, err)
					if !(err <= fdTol) {
						t.Errorf("%s: relative error %.3g > %g (analytic %v, numeric %v)", q.Name, err, fdTol, an, num)
					}
				}
				t.Logf("whole model (%s, %d tensors): worst relative error over all tensors %.2e", name, len(p.All()), worst)
			})
		}
	}
}

// TestPartialBackward checks, for each family, that training only some
// tensors (the backward pass then stops early) gives them the same gradient
// as training all.
func TestPartialBackward(t *testing.T) {
	pool := kernel.NewPool(2)
	defer pool.Close()
	type selection struct {
		name string
		s    Selector
	}
	name := func(n string) Selector { return func(s string) bool { return s == n } }
	for _, arch := range families {
		c := familyConfig(arch)
		rng := rand.New(rand.NewPCG(5, 6))
		batch := randomTokens(rng, 2, 6, c.Vocab)
		full := randomSet[float64](t, c, true, 2)
		full.SetTrainable(All)
		modelLoss(newEngine(full, pool), batch, nil, true)
		sels := []selection{
			{"ffn_down", Kinds("ffn_down")},
			{"attn_v", Kinds("attn_v")},
			{"output_norm", Kinds("output_norm")},
			{"blk.1.ffn_up.weight", name("blk.1.ffn_up.weight")},
			{"blk.0.attn_norm.weight", name("blk.0.attn_norm.weight")},
			{"blk.1.attn_output.weight", name("blk.1.attn_output.weight")},
		}
		if c.Family.Gated {
			sels = append(sels, selection{"blk.1.ffn_gate.weight", name("blk.1.ffn_gate.weight")})
		}
		for _, k := range []string{"blk.0.attn_norm.bias", "blk.1.attn_q.bias", "blk.0.ffn_up.bias", "blk.1.ffn_down.bias",
			"output_norm.bias", "output.bias", "position_embd.weight", "blk.0.ffn_norm.weight"} {
			if full.Lookup(k) != nil {
				sels = append(sels, selection{k, name(k)})
			}
		}
		for _, sel := range sels {
			part := randomSet[float64](t, c, true, 2)
			if err := part.SetTrainable(sel.s); err != nil {
				t.Fatalf("%s: %s: %v", arch, sel.name, err)
			}
			modelLoss(newEngine(part, pool), batch, nil, true)
			for i, q := range part.All() {
				if !q.Trainable() {
					continue
				}
				if e := relErr(q.G, full.All()[i].G); e > 1e-12 {
					t.Errorf("%s: %s trained alone: gradient differs from full backward by %.3g", arch, q.Name, e)
				}
			}
		}
		t.Logf("%s: %d selections", arch, len(sels))
	}
}

// TestFloat32MatchesFloat64 runs the float32 engine (kernel GEMM, AVX dot
// products, fast exp) and the float64 engine on the same weights and
// compares losses and gradients, for each family.
func TestFloat32MatchesFloat64(t *testing.T) {
	pool := kernel.NewPool(2)
	defer pool.Close()
	old := linearRowBlock
	linearRowBlock = 7 // exercise the row blocks of the classifier
	defer func() { linearRowBlock = old }()
	for _, arch := range families {
		c := familyConfig(arch)
		c.Dim, c.Hidden, c.Heads, c.KVHeads = 64, 96, 2, 1 // head size 32: the AVX paths
		switch c.Family.Rope {
		case model.RopeNone:
			c.KVHeads = 2
		case model.RopeHalves:
			c.RopeDim = 16
		default:
			c.RopeDim = 32
		}
		p64 := randomSet[float64](t, c, false, 3)
		for _, q := range p64.All() {
			if len(q.Shape) == 2 {
				for i := range q.W {
					q.W[i] *= 0.25
				}
			}
		}
		p64.SetTrainable(All)
		p32 := convert[float32](p64)
		rng := rand.New(rand.NewPCG(7, 8))
		batch := randomTokens(rng, 3, 9, c.Vocab)
		l64 := modelLoss(newEngine(p64, pool), batch, nil, true)

		tr, err := NewTrainer(p32, pool, Options{LR: 1e-3})
		if err != nil {
			t.Fatal(err)
		}
		l32, err := tr.Grad(batch, nil)
		if err != nil {
			t.Fatal(err)
		}
		if math.Abs(l32-l64) > 1e-5*l64 {
			t.Errorf("%s: float32 loss %.8g, float64 %.8g", arch, l32, l64)
		}
		worst := 0.0
		for i, q := range p64.All() {
			g32 := p32.All()[i].G
			a := make([]float64, len(g32))
			for j, v := range g32 {
				a[j] = float64(v)
			}
			if arch == "gpt2" && q.Kind() == "attn_k.bias" {
				continue // zero up to rounding (see TestGradWholeModel)
			}
			e := relErr(a, q.G)
			worst = max(worst, e)
			if e > 1e-4 {
				t.Errorf("%s: %s: float32 gradient differs from float64 by %.3g", arch, q.Name, e)
			}
		}
		t.Logf("%s: loss %.8g (float32) %.8g (float64); gradients differ by at most %.2e", arch, l32, l64, worst)
	}
}

// TestGradReset checks the deferred clearing of gradients: a backward pass
// after ZeroGrad must overwrite what an earlier one left, and two passes
// without ZeroGrad must add up.
func TestGradReset(t *testing.T) {
	pool := kernel.NewPool(2)
	defer pool.Close()
	for _, untied := range []bool{false, true} {
		c := tinyConfig()
		rng := rand.New(rand.NewPCG(8, 9))
		b1, b2 := randomTokens(rng, 2, 6, c.Vocab), randomTokens(rng, 2, 6, c.Vocab)
		ref := randomSet[float64](t, c, untied, 5)
		ref.SetTrainable(All)
		e := newEngine(ref, pool)
		modelLoss(e, b2, nil, true)
		want := make([][]float64, 0)
		for _, q := range ref.All() {
			want = append(want, append([]float64(nil), q.G...))
		}
		p := randomSet[float64](t, c, untied, 5)
		p.SetTrainable(All)
		e = newEngine(p, pool)
		modelLoss(e, b1, nil, true) // leaves b1's gradient
		modelLoss(e, b2, nil, true) // ZeroGrad, then b2's
		for i, q := range p.All() {
			if err := relErr(q.G, want[i]); err > 1e-12 {
				t.Errorf("untied=%v: %s after ZeroGrad differs from a fresh gradient by %.3g", untied, q.Name, err)
			}
		}
		modelLoss(e, b2, nil, false) // same batch again, accumulating
		e.backward()
		for i, q := range p.All() {
			twice := append([]float64(nil), want[i]...)
			for j := range twice {
				twice[j] *= 2
			}
			if err := relErr(q.G, twice); err > 1e-12 {
				t.Errorf("untied=%v: %s accumulated over two passes differs from twice the gradient by %.3g", untied, q.Name, err)
			}
		}
	}
}

// convert copies a parameter set to another element type; gradients are
// allocated for the tensors trainable in src.
func convert[G, F Float](src *ParamSet[F]) *ParamSet[G] {
	dst, err := newParamSet[G](src.Config, func(name string) bool { return src.Lookup(name) != nil })
	if err != nil {
		panic(err)
	}
	dst.Withheld = append([]int(nil), src.Withheld...)
	dst.RopeFreqs = src.RopeFreqs
	d, s := dst.All(), src.All()
	for i := range s {
		for j, v := range s[i].W {
			d[i].W[j] = G(v)
		}
		if s[i].G != nil {
			d[i].G = make([]G, len(d[i].W))
			d[i].gzero = true
		}
	}
	return dst
}
