package train

import (
	"context"
	"fmt"
	"math"
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
	"github.com/unswift/unswift/internal/synth"
	"github.com/unswift/unswift/internal/tensor"
)

func openModel(t testing.TB, path string) *model.Model {
	t.Helper()
	m, err := model.Open(path, model.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

// synthModel writes a random model of a synth shape and type and opens it.
func synthModel(t testing.TB, shape string, typ tensor.DType) *model.Model {
	t.Helper()
	path := filepath.Join(t.TempDir(), shape+".gguf")
	if err := synth.Write(path, synth.Shapes[shape], synth.Options{Type: typ, Seed: 5}); err != nil {
		t.Fatal(err)
	}
	return openModel(t, path)
}

// engineLogits runs each sequence through model.State.ForwardAll.
func engineLogits(t testing.TB, m *model.Model, pool *kernel.Pool, batch [][]int) []float32 {
	t.Helper()
	var out []float32
	for _, s := range batch {
		st := m.NewState(pool, len(s))
		l, err := st.ForwardAll(s)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, l...)
	}
	return out
}

func maxAbsDiff(a, b []float32) float64 {
	var d float64
	for i := range a {
		d = max(d, math.Abs(float64(a[i])-float64(b[i])))
	}
	return d
}

// TestLogitsMatchEngine checks the training forward pass against the
// inference engine's on the same weights, for every family: the synth
// files as written (small weights; GPT-2's fused QKV), and models whose
// parameters were re-drawn large enough for every non-linearity to bend
// (norm weights and biases too), written by WriteGGUF and loaded back.
func TestLogitsMatchEngine(t *testing.T) {
	pool := kernel.NewPool(0)
	defer pool.Close()
	synthOf := func(shape string) func(t *testing.T) *model.Model {
		return func(t *testing.T) *model.Model { return synthModel(t, shape, tensor.F32) }
	}
	type tc struct {
		name string
		m    func(t *testing.T) *model.Model
	}
	cases := []tc{
		{"stories260K", func(t *testing.T) *model.Model {
			return openModel(t, shared.Need(t, "models/stories260K/stories260K.gguf"))
		}},
		{"synth tiny f32 (GQA, untied)", synthOf("tiny")},
		{"synth tiny f16", func(t *testing.T) *model.Model { return synthModel(t, "tiny", tensor.F16) }},
		{"shakespeare q8 (llama2.c v2)", func(t *testing.T) *model.Model {
			return openModel(t, shared.Need(t, "models/shakespeare2M-q80/shakespeare_q80.bin"))
		}},
		{"synth tiny-gpt2", synthOf("tiny-gpt2")},
		{"synth tiny-phi2", synthOf("tiny-phi2")},
		{"tiny-gpt2 redrawn", func(t *testing.T) *model.Model { return redrawn(t, synthModel(t, "tiny-gpt2", tensor.F32), "", nil) }},
		{"tiny-phi2 redrawn", func(t *testing.T) *model.Model { return redrawn(t, synthModel(t, "tiny-phi2", tensor.F32), "", nil) }},
		{"tiny as qwen2 (q/k/v biases, partial rotate-half)", func(t *testing.T) *model.Model {
			return redrawn(t, synthModel(t, "tiny", tensor.F32), "qwen2", nil)
		}},
		{"tiny with rope_freqs", func(t *testing.T) *model.Model {
			return redrawn(t, synthModel(t, "tiny", tensor.F32), "", []float32{1, 1, 1.5, 2, 3, 5, 8, 8})
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := c.m(t)
			p, err := FromModel(m)
			if err != nil {
				t.Fatal(err)
			}
			tr, err := NewTrainer(p, pool, Options{LR: 1e-3})
			if err != nil {
				t.Fatal(err)
			}
			rng := rand.New(rand.NewPCG(1, 2))
			batch := randomTokens(rng, 3, 64, m.Config.Vocab)
			got, err := tr.Logits(batch)
			if err != nil {
				t.Fatal(err)
			}
			want := engineLogits(t, m, pool, batch)
			var scale, spread float64
			for _, v := range want {
				scale = max(scale, math.Abs(float64(v)))
			}
			for i := range want {
				spread = max(spread, math.Abs(float64(want[i]-want[i%m.Config.Vocab])))
			}
			d := maxAbsDiff(got, want)
			t.Logf("%s (%s): max |Δlogit| %.2e = %.2e of the largest |logit| %.3g (logits vary by %.3g) over %d×%d positions",
				c.name, m.Config.Arch, d, d/scale, scale, spread, len(batch), len(batch[0]))
			if !(d <= 1e-5*scale) {
				t.Errorf("training forward differs from model.State.ForwardAll by %.3g > 1e-5 × %.3g", d, scale)
			}
		})
	}
}

// redrawn re-draws the parameters of m (matrices N(0, 0.15²) — 0.3 for the
// embeddings —, norm weights 1 + N(0, 0.2²), biases N(0, 0.1²)), writes
// them as a model with WriteGGUF and opens it. arch, when not empty, makes
// it a model of that family with the family's tensors (NewParamSet) and
// half of each head rotated; factors, when not nil, are its RoPE frequency
// divisors.
func redrawn(t *testing.T, m *model.Model, arch string, factors []float32) *model.Model {
	t.Helper()
	src, c := m, m.Config
	if arch != "" {
		c.Arch, c.Family, c.RopeDim = arch, model.Families[arch], c.HeadSize()/2
		src = &model.Model{Config: c, Tokenizer: m.Tokenizer, Path: "redrawn-" + arch}
	}
	p, err := NewParamSet[float32](c, m.Weights.Output != nil)
	if err != nil {
		t.Fatal(err)
	}
	if arch == "" {
		if p, err = FromModel(m); err != nil {
			t.Fatal(err)
		}
	}
	p.RopeFreqs = factors
	rng := rand.New(rand.NewPCG(21, 22))
	for _, q := range p.All() {
		for i := range q.W {
			switch {
			case isNormWeight(q):
				q.W[i] = float32(1 + 0.2*rng.NormFloat64())
			case len(q.Shape) == 1:
				q.W[i] = float32(0.1 * rng.NormFloat64())
			case strings.HasSuffix(q.Kind(), "_embd"):
				q.W[i] = float32(0.3 * rng.NormFloat64())
			default:
				q.W[i] = float32(0.15 * rng.NormFloat64())
			}
		}
	}
	path := filepath.Join(t.TempDir(), "redrawn.gguf")
	if err := WriteGGUF(path, src, p); err != nil {
		t.Fatal(err)
	}
	out := openModel(t, path)
	if out.Config.Family != c.Family || (factors != nil) != (out.Weights.RopeFreqs != nil) {
		t.Fatalf("written model is %s (%s), rope_freqs %v: want %s", out.Config.Arch, out.Config.Family, out.Weights.RopeFreqs != nil, c.Family)
	}
	return out
}

// TestWriteGGUF writes parameters as a model, reloads it and checks that it
// computes what the parameters compute; for a GGUF source (metadata copied)
// and a llama2.c source (metadata made).
func TestWriteGGUF(t *testing.T) {
	pool := kernel.NewPool(0)
	defer pool.Close()
	for _, src := range []string{"models/stories260K/stories260K.gguf", "models/stories260K/stories260K.bin"} {
		t.Run(filepath.Ext(src), func(t *testing.T) {
			m := openModel(t, shared.Need(t, src))
			p, err := FromModel(m)
			if err != nil {
				t.Fatal(err)
			}
			// Change the weights so that the file written is not the original.
			rng := rand.New(rand.NewPCG(3, 3))
			p.RandomInit(rng, Kinds("ffn_down"), 0.02)
			path := filepath.Join(t.TempDir(), "out.gguf")
			if err := WriteGGUF(path, m, p); err != nil {
				t.Fatal(err)
			}
			m2 := openModel(t, path)
			if m2.Taylor != nil || m2.Format != "gguf" {
				t.Fatalf("written model is %q", m2.Format)
			}
			if m2.Config != m.Config {
				t.Errorf("config %+v, want %+v", m2.Config, m.Config)
			}
			if got, want := m2.Tokenizer.Encode("Once upon a time", true), m.Tokenizer.Encode("Once upon a time", true); fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("tokenizer encodes %v, the source's %v", got, want)
			}
			tr, _ := NewTrainer(p, pool, Options{LR: 1e-3})
			batch := randomTokens(rng, 2, 32, m.Config.Vocab)
			want, err := tr.Logits(batch)
			if err != nil {
				t.Fatal(err)
			}
			if d := maxAbsDiff(engineLogits(t, m2, pool, batch), want); d > 1e-4 {
				t.Errorf("reloaded model's logits differ from the parameters' by %.3g", d)
			}
		})
	}
}

func TestWriteGGUFShapeMismatch(t *testing.T) {
	m := synthModel(t, "tiny", tensor.F32)
	c := tinyConfig()
	p, err := NewParamSet[float32](c, false)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "x.gguf")
	err = WriteGGUF(path, m, p)
	if err == nil || !strings.Contains(err.Error(), "differs from the model's") {
		t.Fatalf("err = %v, want a shape mismatch", err)
	}
	if _, err := os.Stat(path); err == nil {
		t.Error("a file was left behind")
	}
}

// TestFromRelease makes a TaylorMLP release of a gated (llama) and plain
// GELU (gpt2, phi2) MLPs and checks what FromModel takes from it: the plain
// channels' down-projection columns come from the release, the withheld
// (expanded) ones are zero, the up rows (and a plain MLP's up bias) are in
// release order, the down bias is the original's, and the result writes a
// plain model.
func TestFromRelease(t *testing.T) {
	for _, shape := range []string{"tiny", "tiny-gpt2", "tiny-phi2"} {
		t.Run(shape, func(t *testing.T) { testFromRelease(t, shape) })
	}
}

func testFromRelease(t *testing.T, shape string) {
	m := synthModel(t, shape, tensor.F32)
	pool := kernel.NewPool(0)
	defer pool.Close()
	var text strings.Builder
	for i := 0; text.Len() < 6000; i++ {
		fmt.Fprintf(&text, "word%d and %c ", i*7919%1000, 'a'+i%26)
	}
	cal, err := calib.Collect(context.Background(), m, pool, text.String(), calib.Options{Tokens: 600})
	if err != nil {
		t.Fatal(err)
	}
	seed := uint64(1)
	opt := release.Options{Order: 4, Expand: "0.5", DType: tensor.F32, Seed: &seed}
	plan, err := release.NewPlan(m, cal, opt)
	if err != nil {
		t.Fatal(err)
	}
	relPath := filepath.Join(t.TempDir(), "release.gguf")
	if err := release.Write(relPath, m, plan, opt); err != nil {
		t.Fatal(err)
	}
	rel := openModel(t, relPath)
	if rel.Taylor == nil {
		t.Fatal("release has no TaylorMLP")
	}
	p, err := FromModel(rel)
	if err != nil {
		t.Fatal(err)
	}
	orig, err := FromModel(m)
	if err != nil {
		t.Fatal(err)
	}
	c := m.Config
	for l, lp := range plan.Layers {
		e := len(lp.Expanded)
		if e == 0 || e == c.Hidden {
			t.Fatalf("layer %d expands %d of %d channels; the test needs both kinds", l, e, c.Hidden)
		}
		if p.Withheld[l] != e {
			t.Errorf("layer %d: Withheld %d, release expands %d", l, p.Withheld[l], e)
		}
		down, od := p.Layers[l].Down, orig.Layers[l].Down
		for i := 0; i < c.Dim; i++ {
			for j := 0; j < e; j++ {
				if v := down.W[i*c.Hidden+j]; v != 0 {
					t.Fatalf("layer %d: withheld column %d row %d is %v, want 0", l, j, i, v)
				}
			}
			for k, j := range lp.Plain {
				if got, want := down.W[i*c.Hidden+e+k], od.W[i*c.Hidden+j]; got != want {
					t.Fatalf("layer %d: plain column %d (original %d) row %d is %v, want %v", l, e+k, j, i, got, want)
				}
			}
		}
		// The release's up rows (and biases) are the original's, in release order.
		up, ou := p.Layers[l].Up, orig.Layers[l].Up
		ub, oub := p.Layers[l].UpB, orig.Layers[l].UpB
		for k, j := range lp.Plain {
			if up.W[(e+k)*c.Dim] != ou.W[j*c.Dim] {
				t.Fatalf("layer %d: up row %d is not the original's row %d", l, e+k, j)
			}
			if ub != nil && ub.W[e+k] != oub.W[j] {
				t.Fatalf("layer %d: up bias %d is not the original's %d", l, e+k, j)
			}
		}
		if (ub == nil) != c.Family.Gated {
			t.Fatalf("layer %d: up bias %v in a %s model", l, ub != nil, c.Arch)
		}
		if db, odb := p.Layers[l].DownB, orig.Layers[l].DownB; (db == nil) != (odb == nil) || db != nil && fmt.Sprint(db.W) != fmt.Sprint(odb.W) {
			t.Fatalf("layer %d: down bias differs from the original's", l)
		}
	}
	// Random re-initialisation of the withheld columns only.
	before := append([]float32(nil), p.Layers[0].Down.W...)
	p.RandomInitWithheld(rand.New(rand.NewPCG(1, 1)), 0)
	changed, kept := 0, 0
	for i, v := range p.Layers[0].Down.W {
		if i%c.Hidden < p.Withheld[0] {
			if v != 0 {
				changed++
			}
		} else if v == before[i] {
			kept++
		}
	}
	if changed != c.Dim*p.Withheld[0] || kept != c.Dim*(c.Hidden-p.Withheld[0]) {
		t.Errorf("RandomInitWithheld changed %d withheld values and kept %d plain ones", changed, kept)
	}
	out := filepath.Join(t.TempDir(), "recovered.gguf")
	if err := WriteGGUF(out, rel, p); err != nil {
		t.Fatal(err)
	}
	m2 := openModel(t, out)
	if m2.Taylor != nil {
		t.Fatal("the written model is still a release")
	}
	if m2.Weights.Layers[0].Down == nil {
		t.Fatal("the written model has no ffn_down")
	}
}

func TestFromModelSelectors(t *testing.T) {
	p, err := NewParamSet[float32](tinyConfig(), false)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.SetTrainable(Kinds("ffn_down")); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, q := range p.All() {
		if q.Trainable() {
			names = append(names, q.Name)
		}
	}
	if fmt.Sprint(names) != "[blk.0.ffn_down.weight blk.1.ffn_down.weight]" {
		t.Errorf("Kinds(ffn_down) selects %v", names)
	}
	total, trainable := p.Count()
	c := tinyConfig()
	if trainable != 2*c.Dim*c.Hidden || total <= trainable {
		t.Errorf("Count = %d, %d", total, trainable)
	}
	if err := p.SetTrainable(Kinds("ffn_dwn")); err == nil {
		t.Error("a selector matching nothing was accepted")
	}
	if k := p.Lookup("output_norm.weight").Kind(); k != "output_norm" {
		t.Errorf("Kind = %q", k)
	}
}
