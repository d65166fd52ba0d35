package attack

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/unswift/unswift/internal/calib"
	"github.com/unswift/unswift/internal/gguf"
	"github.com/unswift/unswift/internal/kernel"
	"github.com/unswift/unswift/internal/model"
	"github.com/unswift/unswift/internal/release"
	"github.com/unswift/unswift/internal/series"
	"github.com/unswift/unswift/internal/synth"
	"github.com/unswift/unswift/internal/tensor"
)

// fixture is a random-weight model of the "tiny" shape and its calibration,
// shared by the tests (made once).
type fixture struct {
	dir  string
	orig string
	m    *model.Model
	cal  *calib.Calibration
	text string
}

// fixtures are the models of each synth shape the tests use (made once).
var fixtures = map[string]*fixture{}

func TestMain(m *testing.M) {
	code := m.Run()
	for _, f := range fixtures {
		f.m.Close()
		os.RemoveAll(f.dir)
	}
	os.Exit(code)
}

// getFixture returns the fixture of the "tiny" (llama) shape.
func getFixture(t *testing.T) *fixture { return shapeFixture(t, "tiny") }

// shapeFixture returns the fixture of a synth shape.
func shapeFixture(t *testing.T, shape string) *fixture {
	t.Helper()
	if f := fixtures[shape]; f != nil {
		return f
	}
	dir, err := os.MkdirTemp("", "attack-test-")
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{dir: dir, orig: filepath.Join(dir, shape+".gguf"), text: randomText(6000)}
	if err := synth.Write(f.orig, synth.Shapes[shape], synth.Options{Type: tensor.F32, Seed: 3}); err != nil {
		t.Fatal(err)
	}
	if f.m, err = model.Open(f.orig, model.Options{}); err != nil {
		t.Fatal(err)
	}
	pool := kernel.NewPool(0)
	defer pool.Close()
	if f.cal, err = calib.Collect(context.Background(), f.m, pool, f.text, calib.Options{Tokens: 600, Samples: 64}); err != nil {
		t.Fatal(err)
	}
	fixtures[shape] = f
	return f
}

// randomText is pseudo-random letters and spaces (fixed seed).
func randomText(n int) string {
	rng := rand.New(rand.NewPCG(5, 7))
	var b strings.Builder
	for i := 0; i < n; i++ {
		b.WriteByte(byte('a' + rng.IntN(26)))
		if rng.IntN(6) == 0 {
			b.WriteByte(' ')
		}
	}
	return b.String()
}

// makeRelease writes a release of the "tiny" fixture with opt and opens it.
func makeRelease(t *testing.T, opt release.Options) *model.Model {
	t.Helper()
	return makeShapeRelease(t, "tiny", opt)
}

// makeShapeRelease writes a release of a shape's fixture with opt and opens it.
func makeShapeRelease(t *testing.T, shape string, opt release.Options) *model.Model {
	t.Helper()
	f := shapeFixture(t, shape)
	if opt.Seed == nil {
		s := uint64(11)
		opt.Seed = &s
	}
	if opt.DType == 0 {
		opt.DType = tensor.F32
	}
	p, err := release.NewPlan(f.m, f.cal, opt)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "release.gguf")
	if err := release.Write(path, f.m, p, opt); err != nil {
		t.Fatal(err)
	}
	rel, err := model.Open(path, model.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rel.Close() })
	return rel
}

func score(t *testing.T, rel *model.Model, rec *Recovery) Score {
	t.Helper()
	return scoreAgainst(t, getFixture(t).m, rel, rec)
}

func scoreAgainst(t *testing.T, orig, rel *model.Model, rec *Recovery) Score {
	t.Helper()
	tr, err := NewTruth(orig, rel)
	if err != nil {
		t.Fatal(err)
	}
	sc, err := tr.Score(rec)
	if err != nil {
		t.Fatal(err)
	}
	return sc
}

// TestAlgebraicRecovers: from every kind of release the algebraic attack
// gets every protected column back, with its secret sign, to 1e-5 relative
// (to 1e-3 where the coefficients follow a rule the attacker does not know).
func TestAlgebraicRecovers(t *testing.T) {
	for _, tc := range []struct {
		name   string
		opt    release.Options
		method string
		tol    float64
	}{
		{"taylor N=8", release.Options{Order: 8, Basis: "taylor", Expand: "all"}, MethodFormula, 1e-5},
		{"taylor N=8 half", release.Options{Order: 8, Basis: "taylor", Expand: "0.5"}, MethodFormula, 1e-5},
		{"taylor N=3 f16", release.Options{Order: 3, Basis: "taylor", Expand: "all", DType: tensor.F16}, MethodFormula, 1e-3},
		{"chebyshev N=8 no tail", release.Options{Order: 8, Basis: "chebyshev", Tail: "none"}, MethodFormula, 1e-5},
		{"chebyshev N=8 linear tail", release.Options{Order: 8, Basis: "chebyshev", Tail: "linear"}, MethodTail, 1e-5},
		{"chebyshev N=8 exact tail", release.Options{Order: 8, Basis: "chebyshev", Tail: "exact"}, MethodTail, 1e-5},
		{"lsq N=8 exact tail", release.Options{Order: 8, Basis: "lsq", Tail: "exact"}, MethodTail, 1e-5},
		{"lsq N=8 no tail", release.Options{Order: 8, Basis: "lsq", Tail: "none"}, "", 1e-3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rel := makeRelease(t, tc.opt)
			rec, err := Algebraic(rel, Options{})
			if err != nil {
				t.Fatal(err)
			}
			sc := score(t, rel, rec)
			if sc.RelativeError > tc.tol || sc.SignAccuracy != 1 || rec.Confident() != 1 {
				t.Fatalf("relative error %.3g (want ≤ %g), signs right %.3f, confident %.3f", sc.RelativeError, tc.tol, sc.SignAccuracy, rec.Confident())
			}
			if sc.RelativeErrorAll > tc.tol {
				t.Errorf("relative error over all columns %.3g", sc.RelativeErrorAll)
			}
			if tc.method != "" {
				for l, lr := range rec.Layers {
					if n := lr.methods()[tc.method]; n != lr.Expanded {
						t.Errorf("layer %d: %d of %d channels by %s: %v", l, n, lr.Expanded, tc.method, lr.methods())
					}
				}
			}
			t.Logf("relative error %.3g, %v", sc.RelativeError, rec.Layers[0].methods())
		})
	}
}

// TestFunctionFit: a column whose coefficients follow a rule the attacker
// does not know (here: interpolation on a slightly different interval than
// the released one, as the lsq basis's fit differs from Chebyshev
// interpolation) is recovered to the accuracy of the polynomial, with its sign.
func TestFunctionFit(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, tc := range []struct {
		c, h, s float64
	}{{0.3, 2, 1}, {0.3, 2, -1}, {-1.2, 3.5, -1}, {2.5, 4, 1}, {0.05, 3, -1}} {
		w := make([]float64, 16)
		for i := range w {
			w[i] = rng.NormFloat64()
		}
		// The builder fits on [c−1.05h, c+0.95h]; the release says [c−h, c+h].
		b := chebyshevOn(tc.c-1.05*tc.h, tc.c+0.95*tc.h, tc.c, tc.h, 10)
		cols := make([][]float64, len(b))
		p := 1.0
		for n := range cols {
			cols[n] = make([]float64, len(w))
			for i := range w {
				cols[n][i] = w[i] * b[n] * p
			}
			p *= tc.s
		}
		center := tc.s * tc.c
		f := formulaFit(cols, series.SiLU, "chebyshev", center, tc.h, tc.s)
		hp, hm := functionFit(cols, series.SiLU, "chebyshev", center, tc.h, 1), functionFit(cols, series.SiLU, "chebyshev", center, tc.h, -1)
		got, other := hp, hm
		if tc.s < 0 {
			got, other = hm, hp
		}
		var num, den float64
		for i := range w {
			num += (got.w[i] - w[i]) * (got.w[i] - w[i])
			den += w[i] * w[i]
		}
		if e := math.Sqrt(num / den); e > 1e-3 || other.res < 100*got.res {
			t.Errorf("%+v: relative error %.3g, residuals %.3g (right sign) %.3g (wrong)", tc, e, got.res, other.res)
		}
		if f.res < formulaTolerance(0x1p-24) {
			t.Errorf("%+v: the formula fits a rule it does not know (residual %.3g): the case tests nothing", tc, f.res)
		}
	}
}

// chebyshevOn interpolates SiLU at Chebyshev nodes of [lo, hi] and returns
// the coefficients of that polynomial in the basis T_k((x − c)/h).
func chebyshevOn(lo, hi, c, h float64, n int) []float64 {
	m := 4 * (n + 1)
	b := make([]float64, n+1)
	for j := 0; j < m; j++ { // project p(c + h·t) on T_k at many nodes
		t := math.Cos(math.Pi * (float64(j) + 0.5) / float64(m))
		x := c + h*t
		u := (x - (lo+hi)/2) / ((hi - lo) / 2)
		v := series.ChebyshevEval(series.ChebyshevFit(series.SiLU, lo, hi, n), u)
		for k := range b {
			b[k] += v * math.Cos(float64(k)*math.Acos(t)) * 2 / float64(m)
		}
	}
	b[0] /= 2
	return b
}

// TestRecoveredModelMatchesOriginal: the recovered GGUF is a plain model whose
// logits are the original's.
func TestRecoveredModelMatchesOriginal(t *testing.T) {
	f := getFixture(t)
	for _, basis := range []string{"taylor", "chebyshev"} {
		t.Run(basis, func(t *testing.T) {
			rel := makeRelease(t, release.Options{Order: 6, Basis: basis, Expand: "all"})
			rec, err := Algebraic(rel, Options{})
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(t.TempDir(), "recovered.gguf")
			if err := WriteRecovered(path, rel, rec); err != nil {
				t.Fatal(err)
			}
			got, err := model.Open(path, model.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer got.Close()
			if got.Taylor != nil {
				t.Fatal("the recovered model is still a release")
			}
			for _, k := range got.GGUF.Keys() {
				if strings.HasPrefix(k, "unswift.") {
					t.Errorf("recovered model keeps metadata key %s", k)
				}
			}
			tokens := f.m.Tokenizer.Encode(randomText(300), true)[:120]
			a, b := logits(t, f.m, tokens), logits(t, got, tokens)
			var diff, scale float64
			for i := range a {
				diff = max(diff, math.Abs(float64(a[i])-float64(b[i])))
				scale = max(scale, math.Abs(float64(a[i])))
			}
			if diff > 1e-5*scale {
				t.Fatalf("max |Δlogit| %.3g (max |logit| %.3g)", diff, scale)
			}
			c := logits(t, rel, tokens)
			var relDiff float64
			for i := range a {
				relDiff = max(relDiff, math.Abs(float64(a[i])-float64(c[i])))
			}
			t.Logf("max |Δlogit|: recovered %.2g, release %.2g", diff, relDiff)
		})
	}
}

func logits(t *testing.T, m *model.Model, tokens []int) []float32 {
	t.Helper()
	pool := kernel.NewPool(1)
	defer pool.Close()
	out, err := m.NewState(pool, 0).ForwardAll(tokens)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestOrderZero: with N = 0 and no tail, each column is still recovered up to
// the secret sign, which the file cannot decide; with the exact tail
// everything is recovered.
func TestOrderZero(t *testing.T) {
	rel := makeRelease(t, release.Options{Order: 0, Basis: "taylor", Expand: "all"})
	rec, err := Algebraic(rel, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if rec.Confident() != 0 || len(rec.Notes) == 0 {
		t.Fatalf("order 0: confident %.2f, notes %q: the attack must say it cannot decide the sign", rec.Confident(), rec.Notes)
	}
	tr, err := NewTruth(getFixture(t).m, rel)
	if err != nil {
		t.Fatal(err)
	}
	sc, err := tr.Score(rec)
	if err != nil {
		t.Fatal(err)
	}
	// Where the guessed sign is right, the column is exact.
	for l, lr := range rec.Layers {
		for k := 0; k < lr.Expanded; k++ {
			if lr.Method[k] != MethodPrior {
				t.Fatalf("layer %d channel %d: method %s", l, k, lr.Method[k])
			}
			if lr.Sign[k] != tr.Sign[l][k] {
				continue
			}
			var num, den float64
			for r := 0; r < lr.Dim; r++ {
				w := tr.Down[l][r*lr.Hidden+tr.Perm[l][k]]
				e := lr.Down[r*lr.Hidden+k] - w
				num += e * e
				den += w * w
			}
			if math.Sqrt(num/den) > 1e-5 {
				t.Fatalf("layer %d channel %d: right sign, column error %.3g", l, k, math.Sqrt(num/den))
			}
		}
	}
	t.Logf("order 0 taylor: signs guessed right %.3f, recovered %.3f", sc.SignAccuracy, sc.FractionRecovered)

	rel = makeRelease(t, release.Options{Order: 0, Basis: "chebyshev", Tail: "exact"})
	if rec, err = Algebraic(rel, Options{}); err != nil {
		t.Fatal(err)
	}
	if sc := score(t, rel, rec); sc.RelativeError > 1e-5 || sc.FractionRecovered != 1 {
		t.Fatalf("order 0, exact tail: relative error %.3g, recovered %.3f", sc.RelativeError, sc.FractionRecovered)
	}
}

// TestRegressionErrorFalls: the regression attack's error falls with the
// number of tokens, from useless below the number of unknowns to the
// release's own approximation error above it.
func TestRegressionErrorFalls(t *testing.T) {
	f := getFixture(t)
	rel := makeRelease(t, release.Options{Order: 12, Basis: "chebyshev", Expand: "all"})
	tokens := rel.Tokenizer.Encode(f.text, false)
	e := maxExpanded(rel)
	pts := []int{e / 4, e, 2*e + e/2, 4 * e}
	recs, err := Regression(context.Background(), rel, tokens, RegressionOptions{Points: pts})
	if err != nil {
		t.Fatal(err)
	}
	var errs []float64
	for _, rec := range recs {
		errs = append(errs, score(t, rel, rec).RelativeError)
	}
	t.Logf("tokens %v: relative error %.3g", pts, errs)
	// Below 2E tokens (the unknowns per output) the system is underdetermined.
	if !(errs[0] > 0.3 && errs[1] > 0.3 && errs[2] < 0.1*errs[1] && errs[3] < errs[2] && errs[3] < 1e-3) {
		t.Fatalf("relative errors %v do not fall from > 0.3 to < 1e-3", errs)
	}
	if sc := score(t, rel, recs[3]); sc.SignAccuracy != 1 {
		t.Errorf("signs right %.3f with %d tokens", sc.SignAccuracy, pts[3])
	}
	if _, err := Regression(context.Background(), rel, tokens[:100], RegressionOptions{Points: []int{500}}); err == nil {
		t.Error("no error for too little text")
	}
	if _, err := Regression(context.Background(), rel, tokens, RegressionOptions{Points: []int{50, 20}}); err == nil {
		t.Error("no error for descending points")
	}
}

// rewrite copies a GGUF file, letting edit change its metadata and tensors.
func rewrite(t *testing.T, src string, edit func(meta []gguf.KV, ts []*tensor.Tensor) ([]gguf.KV, []*tensor.Tensor)) string {
	t.Helper()
	f, err := gguf.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var meta []gguf.KV
	for _, k := range f.Keys() {
		if k == gguf.KeyAlignment {
			continue
		}
		v, _ := f.Value(k)
		meta = append(meta, gguf.KV{Key: k, Value: v})
	}
	var ts []*tensor.Tensor
	for _, x := range f.Tensors {
		c := *x
		c.Data = append([]byte(nil), x.Data...)
		ts = append(ts, &c)
	}
	meta, ts = edit(meta, ts)
	out := filepath.Join(t.TempDir(), "edited.gguf")
	if err := gguf.WriteFile(out, meta, ts); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestBadInput(t *testing.T) {
	f := getFixture(t)
	rel := makeRelease(t, release.Options{Order: 4, Basis: "taylor", Expand: "50"})
	// A plain model is not a release.
	if _, err := Algebraic(f.m, Options{}); !errors.Is(err, ErrNotRelease) {
		t.Errorf("plain model: %v, want ErrNotRelease", err)
	}
	if _, err := Regression(context.Background(), f.m, nil, RegressionOptions{Points: []int{10}}); !errors.Is(err, ErrNotRelease) {
		t.Errorf("plain model, regression: %v", err)
	}
	// One more expanded channel in the metadata than in the tensors (the
	// padding hides it from the shape check).
	edited := rewrite(t, rel.Path, func(meta []gguf.KV, ts []*tensor.Tensor) ([]gguf.KV, []*tensor.Tensor) {
		for i, kv := range meta {
			if kv.Key == model.KeyTaylorExpanded {
				meta[i].Value = gguf.Int32sValue([]int32{49, 50})
			}
		}
		return meta, ts
	})
	if m, err := model.Open(edited, model.Options{}); err == nil {
		_, err := Algebraic(m, Options{})
		m.Close()
		if err == nil || !strings.Contains(err.Error(), "inconsistent release") {
			t.Errorf("inconsistent expanded count: %v", err)
		}
	}
	// A non-finite expansion point.
	edited = rewrite(t, rel.Path, func(meta []gguf.KV, ts []*tensor.Tensor) ([]gguf.KV, []*tensor.Tensor) {
		for _, x := range ts {
			if x.Name == "blk.1.ffn_taylor_center.weight" {
				x.F32s()[3] = float32(math.NaN())
			}
		}
		return meta, ts
	})
	m, err := model.Open(edited, model.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if _, err := Algebraic(m, Options{}); err == nil || !strings.Contains(err.Error(), "expansion point") {
		t.Errorf("NaN expansion point: %v", err)
	}
	// Scoring against a model the release was not made from.
	other := filepath.Join(t.TempDir(), "other.gguf")
	if err := synth.Write(other, synth.Shapes["tiny"], synth.Options{Type: tensor.F32, Seed: 4}); err != nil {
		t.Fatal(err)
	}
	om, err := model.Open(other, model.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer om.Close()
	if _, err := NewTruth(om, rel); err == nil || !strings.Contains(err.Error(), "matches no gate row") {
		t.Errorf("wrong original: %v", err)
	}
	if _, err := NewTruth(rel, rel); err == nil {
		t.Error("a release accepted as the original")
	}
	// Run's configuration errors.
	out := t.TempDir()
	garbage := filepath.Join(out, "garbage.gguf")
	if err := os.WriteFile(garbage, []byte("this is not a model file at all"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		cfg  Config
		want string
	}{
		{Config{Out: out, Kinds: []string{"algebraic"}}, "no release"},
		{Config{Release: rel.Path, Kinds: []string{"algebraic"}}, "no output directory"},
		{Config{Release: rel.Path, Out: out, Kinds: []string{"magic"}}, "unknown attack"},
		{Config{Release: rel.Path, Out: out, Kinds: []string{"regression"}}, "--data"},
		{Config{Release: f.orig, Out: out, Kinds: []string{"algebraic"}}, "not an unswift TaylorMLP release"},
		{Config{Release: garbage, Out: out, Kinds: []string{"algebraic"}}, "not a GGUF file"},
		{Config{Release: rel.Path, Out: out, Kinds: []string{"finetune"}, Data: "x", Steps: 2}, "at least 3 steps"},
	} {
		if _, err := Run(context.Background(), tc.cfg); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: error %v, want it to mention %q", tc.cfg, err, tc.want)
		}
	}
}

// TestRun: the algebraic and regression attacks end to end, with the keys
// other tools read from results.json.
func TestRun(t *testing.T) {
	f := getFixture(t)
	rel := makeRelease(t, release.Options{Order: 8, Basis: "taylor", Expand: "all"})
	data := filepath.Join(t.TempDir(), "data.txt")
	if err := os.WriteFile(data, []byte(f.text), 0o644); err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	res, err := Run(context.Background(), Config{Release: rel.Path, Original: f.orig, Data: data, Kinds: []string{"algebraic", "regression"},
		Out: out, EvalTokens: 300, Prompt: "abc", GenTokens: 16, Threads: 2})
	if err != nil {
		t.Fatal(err)
	}
	if a := res.Algebraic; a == nil || !(float64(a.RelativeError) < 1e-5) || !(float64(a.KLToOriginal) < 1e-8) || a.GreedyIdentical == nil || !*a.GreedyIdentical {
		t.Fatalf("algebraic result %+v", res.Algebraic)
	}
	b, err := os.ReadFile(filepath.Join(out, "results.json"))
	if err != nil {
		t.Fatal(err)
	}
	var raw map[string]any
	if err := json.Unmarshal(b, &raw); err != nil {
		t.Fatal(err)
	}
	alg, _ := raw["algebraic"].(map[string]any)
	for _, k := range []string{"relative_error", "fraction_recovered", "seconds", "kl_to_original"} {
		if _, ok := alg[k].(float64); !ok {
			t.Errorf("results.json: algebraic.%s missing or not a number", k)
		}
	}
	reg, _ := raw["regression"].(map[string]any)
	pts, _ := reg["points"].([]any)
	if len(pts) < 3 {
		t.Fatalf("results.json: regression.points has %d entries", len(pts))
	}
	for i, p := range pts {
		pm, _ := p.(map[string]any)
		if _, ok := pm["tokens"].(float64); !ok {
			t.Errorf("regression.points[%d].tokens missing", i)
		}
		if _, ok := pm["relative_error"].(float64); !ok {
			t.Errorf("regression.points[%d].relative_error missing", i)
		}
	}
	for _, name := range []string{"report.md", "recovered.gguf", "regression.svg"} {
		if _, err := os.Stat(filepath.Join(out, name)); err != nil {
			t.Error(err)
		}
	}
	md, _ := os.ReadFile(filepath.Join(out, "report.md"))
	if !strings.Contains(string(md), "## Algebraic recovery") || !strings.Contains(string(md), "## Regression recovery") {
		t.Errorf("report.md lacks a section:\n%s", md)
	}
	left, _ := filepath.Glob(filepath.Join(out, ".*"))
	if len(left) > 0 {
		t.Errorf("temporary files left in the output: %v", left)
	}
}

// TestRunTraining: the fine-tuning and distillation attacks end to end on the
// tiny model: three budgets per phase, the loss curves kept, and training
// that improves on the random start.
func TestRunTraining(t *testing.T) {
	f := getFixture(t)
	rel := makeRelease(t, release.Options{Order: 4, Basis: "taylor", Expand: "all"})
	data := filepath.Join(t.TempDir(), "data.txt")
	if err := os.WriteFile(data, []byte(f.text), 0o644); err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	const steps = 9
	res, err := Run(context.Background(), Config{Release: rel.Path, Original: f.orig, Data: data, Kinds: []string{"finetune", "distill"},
		Out: out, EvalTokens: 256, Steps: steps, Threads: 2})
	if err != nil {
		t.Fatal(err)
	}
	ti := res.Training
	if ti == nil || len(ti.FinetuneLoss) != steps || len(ti.FinetuneAll) != steps || len(ti.DistillLoss) != steps {
		t.Fatalf("loss curves missing: %+v", ti)
	}
	check := func(name string, pts []TrainPoint, phases ...string) {
		for _, phase := range phases {
			var got []int
			for _, p := range pts {
				if p.Phase == phase {
					got = append(got, p.Steps)
				}
			}
			if fmt.Sprint(got) != fmt.Sprint([]int{0, 1, 3, 9}) {
				t.Errorf("%s/%s: budgets %v, want [0 1 3 9]", name, phase, got)
			}
		}
	}
	// The random model is no language model: check that each attack learns
	// what it is trained for (its own loss, the release's predictions).
	for name, loss := range map[string][]float64{"finetune/down": ti.FinetuneLoss, "finetune/all": ti.FinetuneAll, "distill": ti.DistillLoss} {
		if !(loss[steps-1] < loss[0]) {
			t.Errorf("%s: loss %v did not fall", name, loss)
		}
	}
	if d := res.Distill; !(float64(d[len(d)-1].KLToRelease) < float64(d[0].KLToRelease)) {
		t.Errorf("distillation: KL to the release %v after %d steps, %v at the start", d[len(d)-1].KLToRelease, steps, d[0].KLToRelease)
	}
	check("finetune", res.Finetune, "down", "all")
	check("distill", res.Distill, "down")
	for _, name := range []string{"loss.svg", "ppl.svg", "report.md"} {
		if _, err := os.Stat(filepath.Join(out, name)); err != nil {
			t.Error(err)
		}
	}
	b, _ := os.ReadFile(filepath.Join(out, "results.json"))
	var raw map[string]any
	if err := json.Unmarshal(b, &raw); err != nil {
		t.Fatal(err)
	}
	for _, kind := range []string{"finetune", "distill"} {
		pts, _ := raw[kind].([]any)
		for i, p := range pts {
			pm, _ := p.(map[string]any)
			for _, k := range []string{"steps", "ppl", "kl_to_original"} {
				if _, ok := pm[k].(float64); !ok {
					t.Errorf("results.json: %s[%d].%s missing or not a number", kind, i, k)
				}
			}
		}
	}
}
