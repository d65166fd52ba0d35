package attack

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/unswift/unswift/internal/model"
	"github.com/unswift/unswift/internal/release"
)

// geluShapes are the synthetic plain-MLP (GELU-tanh) shapes: sequential
// blocks with learned positions, and parallel blocks with rotate-half RoPE.
var geluShapes = []string{"tiny-gpt2", "tiny-phi2"}

// TestAlgebraicGELU: on releases of plain GELU MLPs (the up projection and
// its bias in the gate's place, u = 1) the algebraic attack gets every
// protected column and sign back to the precision it reaches on SiLU
// releases (TestAlgebraicRecovers), and the recovered model — up rows and
// bias entries un-flipped, ffn_down restored, the down bias kept — computes
// the original's logits.
func TestAlgebraicGELU(t *testing.T) {
	for _, shape := range geluShapes {
		f := shapeFixture(t, shape)
		for _, tc := range []struct {
			name   string
			opt    release.Options
			method string
		}{
			{"taylor N=8", release.Options{Order: 8, Basis: "taylor", Expand: "all"}, MethodFormula},
			{"taylor N=8 half", release.Options{Order: 8, Basis: "taylor", Expand: "0.5"}, MethodFormula},
			{"chebyshev N=8 no tail", release.Options{Order: 8, Basis: "chebyshev", Tail: "none"}, MethodFormula},
			{"chebyshev N=8 linear tail", release.Options{Order: 8, Basis: "chebyshev", Tail: "linear"}, MethodTail},
			{"chebyshev N=8 exact tail", release.Options{Order: 8, Basis: "chebyshev", Tail: "exact"}, MethodTail},
		} {
			t.Run(shape+"/"+tc.name, func(t *testing.T) {
				rel := makeShapeRelease(t, shape, tc.opt)
				if rel.Config.Family.Gated || rel.Taylor.Activation != "gelu_tanh" {
					t.Fatalf("%s release: gated %v, activation %q: not a plain GELU MLP", shape, rel.Config.Family.Gated, rel.Taylor.Activation)
				}
				rec, err := Algebraic(rel, Options{})
				if err != nil {
					t.Fatal(err)
				}
				sc := scoreAgainst(t, f.m, rel, rec)
				const tol = 1e-5
				if sc.RelativeError > tol || sc.SignAccuracy != 1 || rec.Confident() != 1 {
					t.Fatalf("relative error %.3g (want ≤ %g), signs right %.3f, confident %.3f", sc.RelativeError, tol, sc.SignAccuracy, rec.Confident())
				}
				if sc.RelativeErrorAll > tol {
					t.Errorf("relative error over all columns %.3g", sc.RelativeErrorAll)
				}
				for l, lr := range rec.Layers {
					if n := lr.methods()[tc.method]; n != lr.Expanded {
						t.Errorf("layer %d: %d of %d channels by %s: %v", l, n, lr.Expanded, tc.method, lr.methods())
					}
				}
				diff, relDiff := recoveredLogits(t, f, rel, rec)
				t.Logf("relative error %.3g (all columns %.3g); max |Δlogit|: recovered %.2g, release %.2g", sc.RelativeError, sc.RelativeErrorAll, diff, relDiff)
			})
		}
	}
}

// recoveredLogits writes rec as a plain model, checks that it is one of the
// release's architecture with the down bias kept, and that its logits are
// the original's to 1e-5 of the largest; it returns the largest logit
// difference to the original of the recovered model and of the release.
func recoveredLogits(t *testing.T, f *fixture, rel *model.Model, rec *Recovery) (recovered, released float64) {
	t.Helper()
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
	if got.Config.Arch != f.m.Config.Arch {
		t.Fatalf("recovered architecture %s, original %s", got.Config.Arch, f.m.Config.Arch)
	}
	for l, ly := range got.Weights.Layers {
		if ly.Down == nil || (f.m.Weights.Layers[l].DownB != nil) != (ly.DownB != nil) || (f.m.Weights.Layers[l].UpB != nil) != (ly.UpB != nil) {
			t.Fatalf("layer %d: ffn_down %v, down bias %v, up bias %v: not the original's tensors", l, ly.Down != nil, ly.DownB != nil, ly.UpB != nil)
		}
	}
	tokens := f.m.Tokenizer.Encode(randomText(300), true)[:120]
	a, b, c := logits(t, f.m, tokens), logits(t, got, tokens), logits(t, rel, tokens)
	var scale float64
	for i := range a {
		recovered = max(recovered, math.Abs(float64(a[i])-float64(b[i])))
		released = max(released, math.Abs(float64(a[i])-float64(c[i])))
		scale = max(scale, math.Abs(float64(a[i])))
	}
	if recovered > 1e-5*scale {
		t.Fatalf("max |Δlogit| %.3g (max |logit| %.3g)", recovered, scale)
	}
	return recovered, released
}

// TestRegressionGELU: the regression attack on plain GELU releases, whose
// gate values include the released (sign-perturbed) up bias and whose
// sign-carrying features g' are affine in the input, reaches the release's
// own approximation error with enough tokens, signs right. In a parallel
// block (phi2) layer 0 sees each token alone, so the text needs more
// distinct tokens than unknowns; with fewer, the attack says so.
func TestRegressionGELU(t *testing.T) {
	for _, tc := range []struct {
		shape, text string
		limited     bool // too few distinct tokens for layer 0
	}{
		{"tiny-gpt2", randomText(6000), false},
		{"tiny-phi2", richText(4000), false},
		{"tiny-phi2", randomText(6000), true},
	} {
		t.Run(fmt.Sprintf("%s/limited=%v", tc.shape, tc.limited), func(t *testing.T) {
			f := shapeFixture(t, tc.shape)
			rel := makeShapeRelease(t, tc.shape, release.Options{Order: 12, Basis: "chebyshev", Expand: "0.5"})
			tokens := rel.Tokenizer.Encode(tc.text, false)
			e := maxExpanded(rel)
			pts := []int{e, 4 * e}
			recs, err := Regression(context.Background(), rel, tokens, RegressionOptions{Points: pts})
			if err != nil {
				t.Fatal(err)
			}
			lo, hi := scoreAgainst(t, f.m, rel, recs[0]), scoreAgainst(t, f.m, rel, recs[1])
			t.Logf("tokens %v (%d distinct): relative error %.3g, %.3g; signs right %.3f, %.3f; notes %q",
				pts, distinct(tokens[:pts[1]]), lo.RelativeError, hi.RelativeError, lo.SignAccuracy, hi.SignAccuracy, recs[1].Notes)
			said := len(recs[1].Notes) == 1 && strings.Contains(recs[1].Notes[0], "fewer than its")
			if tc.limited {
				if !said || hi.RelativeError < 1e-3 {
					t.Fatalf("too few distinct tokens: relative error %.3g, notes %q: want the limit said (and seen)", hi.RelativeError, recs[1].Notes)
				}
				return
			}
			if said || !(lo.RelativeError > 0.3 && hi.RelativeError < 1e-3 && hi.SignAccuracy == 1) {
				t.Fatalf("relative errors %.3g (%d tokens), %.3g (%d tokens), signs right %.3f, notes %q: want > 0.3, then < 1e-3 with every sign",
					lo.RelativeError, pts[0], hi.RelativeError, pts[1], hi.SignAccuracy, recs[1].Notes)
			}
			diff, _ := recoveredLogits(t, f, rel, recs[1])
			t.Logf("regression-recovered model: max |Δlogit| %.2g", diff)
		})
	}
}

// TestRunGELU: --kind all on a GELU release (GPT-2) runs every attack: the
// algebraic and regression attacks recover the protected columns, and the
// fine-tuning and distillation attacks train a few steps on the train
// package's engine with falling losses; nothing is reported as not run.
// (Phi-2's parallel blocks: TestAlgebraicGELU and TestRegressionGELU here,
// and the train package's tests of its forward, backward and training.)
func TestRunGELU(t *testing.T) {
	const shape = "tiny-gpt2"
	f := shapeFixture(t, shape)
	rel := makeShapeRelease(t, shape, release.Options{Order: 8, Basis: "chebyshev", Tail: "exact", Expand: "0.25"})
	data := filepath.Join(t.TempDir(), "data.txt")
	if err := os.WriteFile(data, []byte(richText(8000)), 0o644); err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	const steps = 9
	cfg := Config{Release: rel.Path, Original: f.orig, Data: data, Kinds: []string{"all"}, Steps: steps,
		Out: out, EvalTokens: 200, Prompt: "abc", GenTokens: 8, Threads: 2}
	res, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if a := res.Algebraic; a == nil || !(float64(a.RelativeError) < 1e-5) || !(float64(a.KLToOriginal) < 1e-8) || a.GreedyIdentical == nil || !*a.GreedyIdentical {
		t.Fatalf("algebraic result %+v", res.Algebraic)
	}
	if res.Regression == nil || len(res.Regression.Points) < 3 {
		t.Fatalf("regression result %+v", res.Regression)
	}
	last := res.Regression.Points[len(res.Regression.Points)-1]
	if !(float64(last.RelativeError) < 1e-3) || last.SignAccuracy != 1 {
		t.Errorf("regression with %d tokens: relative error %v, signs right %v", last.Tokens, last.RelativeError, last.SignAccuracy)
	}
	t.Logf("algebraic: relative error %.3g, KL %.3g; regression with %d tokens: relative error %.3g, KL %.3g",
		float64(res.Algebraic.RelativeError), float64(res.Algebraic.KLToOriginal), last.Tokens, float64(last.RelativeError), float64(last.KLToOriginal))
	if len(res.NotRun) != 0 {
		t.Fatalf("not run: %v", res.NotRun)
	}
	ti := res.Training
	if ti == nil || len(res.Finetune) == 0 || len(res.Distill) == 0 {
		t.Fatalf("training attacks did not run: finetune %v, distill %v, info %+v", res.Finetune, res.Distill, ti)
	}
	for name, loss := range map[string][]float64{"finetune/down": ti.FinetuneLoss, "finetune/all": ti.FinetuneAll, "distill": ti.DistillLoss} {
		if len(loss) != steps || !(loss[steps-1] < loss[0]) {
			t.Errorf("%s: loss %v did not fall over %d steps", name, loss, steps)
		}
		t.Logf("%s: loss %.4g → %.4g in %d steps", name, loss[0], loss[len(loss)-1], len(loss))
	}
	if d := res.Distill; !(float64(d[len(d)-1].KLToRelease) < float64(d[0].KLToRelease)) {
		t.Errorf("distillation: KL to the release %v after %d steps, %v at the start", d[len(d)-1].KLToRelease, steps, d[0].KLToRelease)
	}
	md, _ := os.ReadFile(filepath.Join(out, "report.md"))
	if strings.Contains(string(md), "was not run") {
		t.Error("report.md says an attack was not run")
	}
}

// TestTruthGELU: scoring maps release channels through the up rows of a
// plain MLP, and refuses an original of another architecture.
func TestTruthGELU(t *testing.T) {
	rel := makeShapeRelease(t, "tiny-gpt2", release.Options{Order: 4, Basis: "taylor", Expand: "all"})
	tr, err := NewTruth(shapeFixture(t, "tiny-gpt2").m, rel)
	if err != nil {
		t.Fatal(err)
	}
	var neg int
	for _, s := range tr.Sign {
		for _, v := range s {
			if v < 0 {
				neg++
			}
		}
	}
	if neg == 0 {
		t.Error("no release channel is sign-flipped: the truth's signs test nothing")
	}
	if _, err := NewTruth(shapeFixture(t, "tiny-phi2").m, rel); err == nil {
		t.Error("a phi2 model accepted as the original of a gpt2 release")
	}
	// The premise: a plain-MLP release keeps both biases and has no ffn_down.
	if g := rel.GGUF; g.Tensor("blk.0.ffn_up.bias") == nil || g.Tensor("blk.0.ffn_down.bias") == nil || g.Tensor("blk.0.ffn_down.weight") != nil {
		t.Fatal("the gpt2 release does not have the plain-MLP release layout")
	}
}

// richText is pseudo-random printable ASCII and two-byte UTF-8 characters
// (fixed seed): about 190 distinct byte tokens, where randomText has 27.
func richText(n int) string {
	rng := rand.New(rand.NewPCG(9, 7))
	var b strings.Builder
	for i := 0; i < n; i++ {
		if rng.IntN(2) == 0 {
			b.WriteByte(byte(' ' + rng.IntN(95)))
		} else {
			b.WriteRune(rune(0xa0 + rng.IntN(0x800-0xa0)))
		}
	}
	return b.String()
}
