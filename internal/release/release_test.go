package release

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/unswift/unswift/internal/calib"
	"github.com/unswift/unswift/internal/gguf"
	"github.com/unswift/unswift/internal/kernel"
	"github.com/unswift/unswift/internal/model"
	"github.com/unswift/unswift/internal/shared"
	"github.com/unswift/unswift/internal/synth"
	"github.com/unswift/unswift/internal/tensor"
)

func seed(s uint64) *uint64 { return &s }

// tinyModel writes a random-weight model of the "tiny" shape and opens it.
func tinyModel(t *testing.T) *model.Model { return shapeModel(t, "tiny") }

// shapeModel writes a random-weight model of a synth shape and opens it.
func shapeModel(t *testing.T, shape string) *model.Model {
	t.Helper()
	path := filepath.Join(t.TempDir(), shape+".gguf")
	if err := synth.Write(path, synth.Shapes[shape], synth.Options{Type: tensor.F32, Seed: 3}); err != nil {
		t.Fatal(err)
	}
	m, err := model.Open(path, model.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

func openModel(t *testing.T, path string) *model.Model {
	t.Helper()
	m, err := model.Open(path, model.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

// secure calibrates m on text and writes its release; it returns the path.
func secure(t *testing.T, m *model.Model, text string, tokens int, opt Options) (string, *Plan) {
	t.Helper()
	pool := kernel.NewPool(0)
	defer pool.Close()
	cal, err := calib.Collect(context.Background(), m, pool, text, calib.Options{Tokens: tokens})
	if err != nil {
		t.Fatal(err)
	}
	p, err := NewPlan(m, cal, opt)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "release.gguf")
	if err := Write(path, m, p, opt); err != nil {
		t.Fatal(err)
	}
	return path, p
}

func randomText(n int) string {
	var b strings.Builder
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "%c", 'a'+(i*7919)%26)
		if i%5 == 4 {
			b.WriteByte(' ')
		}
	}
	return b.String()
}

func logitsOf(t *testing.T, m *model.Model, tokens []int) []float32 {
	t.Helper()
	pool := kernel.NewPool(1)
	defer pool.Close()
	s := m.NewState(pool, 0)
	out, err := s.ForwardAll(tokens)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestHighOrderMatchesPlain: with every channel expanded, inputs well inside
// the convergence region and N = 24, the release computes what the original
// does, to 1e-5 relative: for gated SiLU MLPs (llama; qwen2 with attention
// biases) and plain GELU MLPs with biases (GPT-2; Phi-2's parallel block).
func TestHighOrderMatchesPlain(t *testing.T) {
	for _, shape := range []string{"tiny", "tiny-qwen2", "tiny-gpt2", "tiny-phi2"} {
		t.Run(shape, func(t *testing.T) { testHighOrderMatchesPlain(t, shapeModel(t, shape)) })
	}
}

func testHighOrderMatchesPlain(t *testing.T, m *model.Model) {
	text := randomText(3000)
	path, p := secure(t, m, text, 600, Options{Order: 24, Expand: "all", DType: tensor.F32, Seed: seed(1)})
	for l, lp := range p.Layers {
		for j, h := range lp.HalfRange {
			if h > 0.5*lp.Radius[j] {
				t.Fatalf("layer %d channel %d: calibrated range %.3g is not well inside the radius %.3g", l, j, h, lp.Radius[j])
			}
		}
	}
	rel := openModel(t, path)
	tokens := m.Tokenizer.Encode(randomText(200), true)[:100]
	a, b := logitsOf(t, m, tokens), logitsOf(t, rel, tokens)
	var diff, scale float64
	for i := range a {
		diff = max(diff, math.Abs(float64(a[i])-float64(b[i])))
		scale = max(scale, math.Abs(float64(a[i])))
	}
	if diff/scale > 1e-5 {
		t.Fatalf("max |Δlogit| / max |logit| = %.3g > 1e-5", diff/scale)
	}
	t.Logf("N=24, all channels: max relative logit error %.2g", diff/scale)
	// Lower orders run from the same file and converge towards it.
	prev := math.Inf(1)
	for _, n := range []int{0, 2, 4, 8} {
		if err := rel.SetOrder(n); err != nil {
			t.Fatal(err)
		}
		b := logitsOf(t, rel, tokens)
		var d float64
		for i := range a {
			d = max(d, math.Abs(float64(a[i])-float64(b[i])))
		}
		if d >= prev {
			t.Errorf("order %d: error %.3g did not fall below order's before (%.3g)", n, d, prev)
		}
		prev = d
	}
}

// TestReleaseLacksDownProjection opens a real release as plain GGUF and checks
// that no tensor holds the original down projection of an expanded channel,
// whole or as any byte-identical column.
func TestReleaseLacksDownProjection(t *testing.T) {
	m := openModel(t, shared.Need(t, "models/stories260K/stories260K.gguf"))
	text, err := os.ReadFile(shared.Need(t, "data/tinystories_valid_prefix.txt"))
	if err != nil {
		t.Fatal(err)
	}
	for _, basis := range []string{"taylor", "chebyshev"} {
		t.Run(basis, func(t *testing.T) { checkLacksDown(t, m, string(text), basis) })
	}
}

// TestGELUReleaseLacksDownProjection is the same check for a plain GELU MLP
// (GPT-2 family, random weights): its ffn_down.bias stays, its down
// projection does not.
func TestGELUReleaseLacksDownProjection(t *testing.T) {
	checkLacksDown(t, shapeModel(t, "tiny-gpt2"), randomText(20000), "taylor")
}

func checkLacksDown(t *testing.T, m *model.Model, text, basis string) {
	path, p := secure(t, m, text, 4000, Options{Order: 8, Basis: basis, DType: tensor.F32, Seed: seed(7)})
	f, err := gguf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, rt := range f.Tensors {
		if strings.Contains(rt.Name, "ffn_down.weight") {
			t.Errorf("release has a tensor named %q", rt.Name)
		}
	}
	checked := 0
	for l, lp := range p.Layers {
		down := m.Weights.Layers[l].Down
		d, hidden := down.Rows(), down.Cols()
		w := down.F32s()
		for _, rt := range f.Tensors {
			if bytes.Equal(rt.Data, down.Data) {
				t.Fatalf("tensor %q equals blk.%d.ffn_down.weight", rt.Name, l)
			}
		}
		for _, j := range lp.Expanded {
			col := make([]float32, d)
			for i := range col {
				col[i] = w[i*hidden+j]
			}
			cb := tensor.Bytes(col)
			for _, rt := range f.Tensors {
				if bytes.Contains(rt.Data, cb) {
					t.Fatalf("layer %d channel %d: its down-projection column appears in %q", l, j, rt.Name)
				}
				if rt.Type == tensor.F32 && rt.Rows() == d { // strided columns of a d-row matrix
					rv, cols := rt.F32s(), rt.Cols()
					for c := 0; c < cols; c++ {
						same := true
						for i := 0; i < d && same; i++ {
							same = rv[i*cols+c] == col[i]
						}
						if same {
							t.Fatalf("layer %d channel %d: its down-projection column is column %d of %q", l, j, c, rt.Name)
						}
					}
				}
			}
			checked++
		}
	}
	if checked == 0 {
		t.Fatal("no channel was expanded: nothing checked")
	}
	t.Logf("checked %d expanded channels", checked)
}

func TestDeterministicWithSeed(t *testing.T) {
	m := tinyModel(t)
	text := randomText(3000)
	hash := func() [32]byte {
		path, _ := secure(t, m, text, 600, Options{Order: 4, Expand: "0.5", DType: tensor.F16, Seed: seed(42)})
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		return sha256.Sum256(b)
	}
	if hash() != hash() {
		t.Fatal("two builds with the same seed differ")
	}
}

func TestBadInput(t *testing.T) {
	m := tinyModel(t)
	pool := kernel.NewPool(1)
	defer pool.Close()
	cal, err := calib.Collect(context.Background(), m, pool, randomText(3000), calib.Options{Tokens: 600})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		opt  Options
		want string
	}{
		{"order too high", Options{Order: 33, DType: tensor.F32}, "order 33 is outside 0..32"},
		{"negative order", Options{Order: -1, DType: tensor.F32}, "order -1 is outside 0..32"},
		{"bad centre", Options{Order: 2, Center: "median", DType: tensor.F32}, "unknown centre rule"},
		{"bad expand", Options{Order: 2, Expand: "most", DType: tensor.F32}, "want auto, all"},
		{"bad fraction", Options{Order: 2, Expand: "1.5", DType: tensor.F32}, "fraction must be in (0, 1]"},
		{"too many", Options{Order: 2, Expand: "1000", DType: tensor.F32}, "has 176 channels"},
		{"bad type", Options{Order: 2, DType: tensor.Q8_0}, "coefficient type Q8_0 is not supported"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewPlan(m, cal, tc.opt)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
	t.Run("architecture without a supported MLP", func(t *testing.T) {
		m.Config.Arch = "mamba"
		defer func() { m.Config.Arch = "llama" }()
		_, err := NewPlan(m, cal, Options{Order: 2, DType: tensor.F32})
		if err == nil || !strings.Contains(err.Error(), `architecture "mamba" has no supported MLP`) {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("short calibration", func(t *testing.T) {
		_, err := calib.Collect(context.Background(), m, pool, "too short", calib.Options{Tokens: 600})
		if err == nil || !strings.Contains(err.Error(), "calibration text is too short") {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("order above released", func(t *testing.T) {
		path, _ := secure(t, m, randomText(3000), 600, Options{Order: 3, DType: tensor.F32, Seed: seed(1)})
		rel := openModel(t, path)
		if err := rel.SetOrder(4); err == nil || !strings.Contains(err.Error(), "order 4 is outside 0..3") {
			t.Fatalf("got %v", err)
		}
		if err := m.SetOrder(1); err == nil || !strings.Contains(err.Error(), "plain model") {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("metadata disagrees with tensors", func(t *testing.T) {
		path, _ := secure(t, m, randomText(3000), 600, Options{Order: 3, DType: tensor.F32, Seed: seed(1)})
		bad := rewriteMeta(t, path, model.KeyTaylorOrder, gguf.Uint32Value(5))
		_, err := model.Open(bad, model.Options{})
		if err == nil || !strings.Contains(err.Error(), "release metadata and tensors disagree") {
			t.Fatalf("got %v", err)
		}
	})
}

// rewriteMeta copies a GGUF file with one metadata value replaced.
func rewriteMeta(t *testing.T, path, key string, v gguf.Value) string {
	t.Helper()
	f, err := gguf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var meta []gguf.KV
	for _, k := range f.Keys() {
		val, _ := f.Value(k)
		if k == key {
			val = v
		}
		meta = append(meta, gguf.KV{Key: k, Value: val})
	}
	out := filepath.Join(t.TempDir(), "bad.gguf")
	if err := gguf.WriteFile(out, meta, f.Tensors); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestChebyshevMatchesPlain: a random-weight model, every channel expanded in
// the Chebyshev basis at N = 16, run on the calibration text itself (so every
// gate input lies inside its channel's interval) computes what the original
// does to 1e-6 relative (the lsq basis too).
func TestChebyshevMatchesPlain(t *testing.T) {
	for _, shape := range []string{"tiny", "tiny-gpt2"} {
		t.Run(shape, func(t *testing.T) { testChebyshevMatchesPlain(t, shapeModel(t, shape)) })
	}
}

func testChebyshevMatchesPlain(t *testing.T, m *model.Model) {
	text := randomText(3000)
	for _, basis := range []string{"chebyshev", "lsq"} {
		pool := kernel.NewPool(1)
		cal, err := calib.Collect(context.Background(), m, pool, text, calib.Options{Tokens: 600, Samples: 64})
		pool.Close()
		if err != nil {
			t.Fatal(err)
		}
		opt := Options{Order: 16, Basis: basis, DType: tensor.F32, Seed: seed(2)}
		p, err := NewPlan(m, cal, opt)
		if err != nil {
			t.Fatal(err)
		}
		if p.Share() != 1 {
			t.Fatalf("%s: default expand should be all channels, got %.2f", basis, p.Share())
		}
		path := filepath.Join(t.TempDir(), "cheb.gguf")
		if err := Write(path, m, p, opt); err != nil {
			t.Fatal(err)
		}
		rel := openModel(t, path)
		// The first calibration window, exactly as calibration ran it.
		ids := m.Tokenizer.Encode(text, false)
		tokens := append([]int{m.Tokenizer.BOS()}, ids[:m.Config.Context-1]...)
		a, b := logitsOf(t, m, tokens), logitsOf(t, rel, tokens)
		var diff, scale float64
		for i := range a {
			diff = max(diff, math.Abs(float64(a[i])-float64(b[i])))
			scale = max(scale, math.Abs(float64(a[i])))
		}
		t.Logf("%s N=16: max relative logit error %.2g", basis, diff/scale)
		if diff/scale > 1e-6 {
			t.Errorf("%s N=16: max |Δlogit| / max |logit| = %.3g > 1e-6", basis, diff/scale)
		}
	}
}

// TestExactTail: calibrated on a narrow slice of text and run on random
// tokens (gate inputs far outside the calibrated intervals), a Chebyshev
// release with the exact tail rule still computes the original to 1e-5
// relative at N = 16, and far better than the linear rule or none.
func TestExactTail(t *testing.T) {
	for _, shape := range []string{"tiny", "tiny-phi2"} {
		t.Run(shape, func(t *testing.T) { testExactTail(t, shapeModel(t, shape)) })
	}
}

func testExactTail(t *testing.T, m *model.Model) {
	rng := []int{m.Tokenizer.BOS()}
	for i := 0; i < 200; i++ {
		rng = append(rng, 3+(i*7919+13)%(m.Config.Vocab-3))
	}
	errs := map[string]float64{}
	for _, tail := range []string{"exact", "linear", "none"} {
		path, _ := secure(t, m, strings.Repeat("aaaa bbbb ", 300), 300, Options{Order: 16, Basis: "chebyshev", Tail: tail, Margin: 0, DType: tensor.F32, Seed: seed(3)})
		rel := openModel(t, path)
		a, b := logitsOf(t, m, rng), logitsOf(t, rel, rng)
		var diff, scale float64
		for i := range a {
			diff = max(diff, math.Abs(float64(a[i])-float64(b[i])))
			scale = max(scale, math.Abs(float64(a[i])))
		}
		errs[tail] = diff / scale
	}
	t.Logf("random tokens, relative logit error: exact %.2g, linear %.2g, none %.2g", errs["exact"], errs["linear"], errs["none"])
	if errs["exact"] > 1e-5 {
		t.Errorf("exact tail: relative error %.3g > 1e-5", errs["exact"])
	}
	if !(errs["exact"] < errs["linear"] && errs["linear"] < errs["none"]) {
		t.Errorf("errors not ordered exact < linear < none: %v", errs)
	}
}
