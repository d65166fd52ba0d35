package tasks

import (
	"context"
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/unswift/unswift/internal/metrics"
)

// tableScorer returns hand-made log-likelihoods keyed by context and continuation.
type tableScorer struct {
	ll    map[[2]string]float64
	calls int
}

func (s *tableScorer) LogLik(ctx, cont string) (float64, int, error) {
	s.calls++
	v, ok := s.ll[[2]string{ctx, cont}]
	if !ok {
		return 0, 0, errors.New("no entry for " + ctx + "|" + cont)
	}
	return v, len(cont), nil
}

// build makes items and a scorer from per-item log-likelihood lists.
func build(items []Item, lls [][]float64) *tableScorer {
	s := &tableScorer{ll: map[[2]string]float64{}}
	for i, it := range items {
		for j, e := range it.Endings {
			s.ll[[2]string{it.Context, Delimiter + e}] = lls[i][j]
		}
	}
	return s
}

func near(a, b, tol float64) bool { return math.Abs(a-b) <= tol }

func wantMetric(t *testing.T, r Result, name string, value, chance float64, lo, hi float64) {
	t.Helper()
	m, ok := r.Metric(name)
	if !ok {
		t.Fatalf("no metric %q in %+v", name, r.Metrics)
	}
	if !near(m.Value, value, 1e-12) || !near(m.Chance, chance, 1e-12) || !near(m.Lo, lo, 1e-12) || !near(m.Hi, hi, 1e-12) {
		t.Errorf("%s = %v, want value %.6f [%.6f, %.6f] chance %.6f", name, m, value, lo, hi, chance)
	}
}

func TestEvalHellaSwagHandComputed(t *testing.T) {
	items := []Item{
		// acc picks "a" (−2, wrong); per character −2, −1, −1.5, −5 → "bbbb" (gold).
		{Context: "A", Endings: []string{"a", "bbbb", "cc", "d"}, Gold: 1},
		// acc picks "zz" (−0.5, gold); per character −1.5, −0.5, −0.25, −4.5 → "zz".
		{Context: "B", Endings: []string{"xx", "yy", "zz", "ww"}, Gold: 2},
		// acc picks "s" (−4, wrong); per character −5/11 ≈ −0.45 wins → gold.
		{Context: "C", Endings: []string{"long ending", "s", "t", "u"}, Gold: 0},
		// Tie between endings 0 and 1: the first wins (numpy.argmax), gold is 1.
		{Context: "D", Endings: []string{"p", "q", "r", "s"}, Gold: 1},
	}
	s := build(items, [][]float64{{-2, -4, -3, -5}, {-3, -1, -0.5, -9}, {-5, -4, -6, -7}, {-1, -1, -2, -3}})
	var seen []int
	r, err := Eval(context.Background(), HellaSwag, items, s, func(done, total int) {
		if total != 4 {
			t.Errorf("progress total %d, want 4", total)
		}
		seen = append(seen, done)
	})
	if err != nil {
		t.Fatal(err)
	}
	if r.N != 4 || s.calls != 16 || len(seen) != 4 || seen[3] != 4 {
		t.Fatalf("N=%d calls=%d progress=%v; want 4, 16, 1..4", r.N, s.calls, seen)
	}
	// acc: only B right → 1/4; acc_norm: A, B, C right → 3/4.
	lo, hi := metrics.WilsonCI(1, 4, z95)
	wantMetric(t, r, "acc", 0.25, 0.25, lo, hi)
	lo, hi = metrics.WilsonCI(3, 4, z95)
	wantMetric(t, r, "acc_norm", 0.75, 0.25, lo, hi)
	if got := []int{r.Items[0].Pred, r.Items[0].PredNorm, r.Items[3].Pred}; got[0] != 0 || got[1] != 1 || got[2] != 0 {
		t.Errorf("predictions %v, want [0 1 0]", got)
	}
	// The table scorer counts a token per byte of " "+ending: 12+12+18+8.
	if r.Tokens != 50 {
		t.Errorf("Tokens = %d, want 50", r.Tokens)
	}
}

func TestAccNormCountsCharactersNotBytes(t *testing.T) {
	// "é" is 1 character (2 bytes), "ab" 2 characters: per character −2/1 < −3/2,
	// so ending 1 wins; per byte it would be −2/2 > −3/2 and ending 0 would.
	items := []Item{{Context: "x", Endings: []string{"é", "ab"}, Gold: 1}}
	r, err := Eval(context.Background(), HellaSwag, items, build(items, [][]float64{{-2, -3}}), nil)
	if err != nil {
		t.Fatal(err)
	}
	if r.Items[0].PredNorm != 1 {
		t.Errorf("PredNorm = %d, want 1 (per character)", r.Items[0].PredNorm)
	}
}

func TestEvalTruthfulQAHandComputed(t *testing.T) {
	ln := math.Log
	items := []Item{
		// Probabilities .1 .2 | .3 .4: MC2 = (.1+.2)/1 = .3; best (.2) < .4 → MC1 wrong.
		{Context: "Q1", Endings: []string{"t0", "t1", "f2", "f3"}, Gold: 1, Correct: []bool{true, true, false, false}},
		// Probabilities .5 | .25 .125 .125, all scaled by e^−1000 (direct
		// exponentiation would give 0/0): MC2 = .5; .5 > .25 → MC1 right.
		{Context: "Q2", Endings: []string{"t", "f1", "f2", "f3"}, Gold: 0, Correct: []bool{true, false, false, false}},
		// Tie between the best and an incorrect answer: MC1 wrong; MC2 = 1/2.
		{Context: "Q3", Endings: []string{"t", "f"}, Gold: 0, Correct: []bool{true, false}},
	}
	s := build(items, [][]float64{
		{ln(.1), ln(.2), ln(.3), ln(.4)},
		{ln(.5) - 1000, ln(.25) - 1000, ln(.125) - 1000, ln(.125) - 1000},
		{-1, -1},
	})
	r, err := Eval(context.Background(), TruthfulQA, items, s, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := []bool{r.Items[0].MC1, r.Items[1].MC1, r.Items[2].MC1}; got[0] || !got[1] || got[2] {
		t.Errorf("MC1 per item %v, want [false true false]", got)
	}
	for i, want := range []float64{.3, .5, .5} {
		if !near(r.Items[i].MC2, want, 1e-12) {
			t.Errorf("item %d MC2 = %.15g, want %g", i, r.Items[i].MC2, want)
		}
	}
	lo, hi := metrics.WilsonCI(1, 3, z95)
	// MC1 chance: 1/(1+2), 1/(1+3), 1/(1+1); MC2 chance: 2/4, 1/4, 1/2.
	wantMetric(t, r, "mc1", 1.0/3, (1.0/3+1.0/4+1.0/2)/3, lo, hi)
	lo, hi = metrics.MeanCI([]float64{.3, .5, .5}, z95)
	wantMetric(t, r, "mc2", 1.3/3, (2.0/4+1.0/4+1.0/2)/3, lo, hi)
}

type failingScorer struct {
	calls, failAt int
	ll            float64
}

func (s *failingScorer) LogLik(string, string) (float64, int, error) {
	s.calls++
	if s.calls == s.failAt {
		return 0, 0, errors.New("model exploded")
	}
	return s.ll, 1, nil
}

func TestEvalErrors(t *testing.T) {
	items := []Item{
		{Context: "a", Endings: []string{"x", "y"}, Gold: 0, Line: 1},
		{Context: "b", Endings: []string{"x", "y"}, Gold: 1, Line: 7},
	}

	// A scorer failure on item 1's second ending keeps item 0's result.
	r, err := Eval(context.Background(), HellaSwag, items, &failingScorer{failAt: 4, ll: -1}, nil)
	if err == nil || !strings.Contains(err.Error(), "item 1 (line 7) ending 1: model exploded") {
		t.Errorf("error = %v, want one naming item 1, line 7, ending 1", err)
	}
	if r.N != 1 {
		t.Errorf("partial result has N = %d, want 1", r.N)
	}

	// NaN log-likelihoods are errors, not silently losing choices.
	if _, err := Eval(context.Background(), HellaSwag, items, &failingScorer{ll: math.NaN()}, nil); err == nil || !strings.Contains(err.Error(), "NaN") {
		t.Errorf("NaN log-likelihood: error = %v", err)
	}

	// Cancellation from the progress callback stops after the first item.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s := &failingScorer{ll: -1}
	r, err = Eval(ctx, HellaSwag, items, s, func(done, total int) { cancel() })
	if !errors.Is(err, context.Canceled) || r.N != 1 || s.calls != 2 {
		t.Errorf("cancelled: err=%v N=%d calls=%d; want context.Canceled, 1, 2", err, r.N, s.calls)
	}
	if m, ok := r.Metric("acc"); !ok || m.Value != 1 {
		t.Errorf("partial acc = %+v, want 1 over the one item done", m)
	}

	// Items that do not fit the task are rejected before any scoring.
	for _, tc := range []struct {
		name string
		task Task
		it   Item
		want string
	}{
		{"gold out of range", HellaSwag, Item{Endings: []string{"a", "b"}, Gold: 2, Line: 3}, "line 3): gold index 2 out of range"},
		{"one ending", HellaSwag, Item{Endings: []string{"a"}}, "1 endings"},
		{"empty ending", HellaSwag, Item{Endings: []string{"a", ""}}, "ending 1 is empty"},
		{"no flags", TruthfulQA, Item{Endings: []string{"a", "b"}}, "needs Correct"},
		{"gold not correct", TruthfulQA, Item{Endings: []string{"a", "b"}, Correct: []bool{false, true}}, "not marked correct"},
		{"no incorrect", TruthfulQA, Item{Endings: []string{"a", "b"}, Correct: []bool{true, true}}, "no incorrect"},
		{"flag count", HellaSwag, Item{Endings: []string{"a", "b"}, Correct: []bool{true}}, "1 correctness flags for 2"},
	} {
		s := &failingScorer{}
		_, err := Eval(context.Background(), tc.task, []Item{tc.it}, s, nil)
		if err == nil || !strings.Contains(err.Error(), tc.want) || s.calls != 0 {
			t.Errorf("%s: error %v after %d calls, want %q before scoring", tc.name, err, s.calls, tc.want)
		}
	}
	if _, err := Eval(context.Background(), Task(9), items, &failingScorer{}, nil); err == nil {
		t.Error("unknown task accepted")
	}
}
