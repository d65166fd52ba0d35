// Package tasks loads multiple-choice benchmarks (HellaSwag, TruthfulQA) and scores
// a language model on them the way EleutherAI's lm-evaluation-harness does. It is
// model-agnostic: the model is reached only through the Scorer interface, which
// returns the log-probability of a continuation given a context.
//
// Every choice of an item is scored as Scorer.LogLik(item.Context, Delimiter+ending),
// the harness's request for a multiple-choice task with its default target
// delimiter " ".
package tasks

import (
	"context"
	"fmt"
	"math"
	"unicode/utf8"

	"github.com/unswift/unswift/internal/metrics"
)

// Delimiter is put between an item's context and each ending when scoring.
const Delimiter = " "

// z95 is the standard-normal quantile of a two-sided 95% interval.
const z95 = 1.959963984540054

// Item is one multiple-choice question.
type Item struct {
	Context string   // the prompt the endings continue (no trailing delimiter)
	Endings []string // the candidate continuations (no leading delimiter)
	Gold    int      // index in Endings of the correct ending (TruthfulQA: the best answer)
	// Correct marks which endings are true when several are (TruthfulQA: every
	// correct answer, the best one included); nil when only Gold is.
	Correct []bool
	Line    int // 1-based line of the source file where the item starts
}

// Scorer is a language model seen from a multiple-choice task.
type Scorer interface {
	// LogLik returns the sum of the natural-log probabilities of the tokens of
	// continuation given context, and how many tokens that was.
	LogLik(context, continuation string) (logprob float64, tokens int, err error)
}

// Task names a benchmark and thereby the metrics Eval reports for it.
type Task int

const (
	// HellaSwag reports acc (the ending with the highest summed log-likelihood is
	// the gold one) and acc_norm (the same after dividing each log-likelihood by
	// the ending's length in characters).
	HellaSwag Task = iota + 1
	// TruthfulQA reports mc1 (the best answer scores above every incorrect answer;
	// correct answers other than the best are not in the running) and mc2 (the
	// probability mass of the correct answers, normalized over all answers).
	TruthfulQA
)

// String returns the task's name.
func (t Task) String() string {
	switch t {
	case HellaSwag:
		return "hellaswag"
	case TruthfulQA:
		return "truthfulqa"
	}
	return fmt.Sprintf("Task(%d)", int(t))
}

// Metric is one aggregate score with its 95% confidence interval.
type Metric struct {
	Name   string  // "acc", "acc_norm", "mc1" or "mc2"
	Value  float64 // mean over items
	Lo, Hi float64 // 95% interval: Wilson for accuracies, normal for the mc2 mean
	// Chance is the expected value for a model that carries no information: the
	// mean over items of 1/(choices in the running) for accuracies, and of
	// (correct answers)/(all answers) for mc2 (the value when all answers are
	// equally likely).
	Chance float64
}

// String formats the metric as "acc 0.3120 [0.3030, 0.3211] chance 0.2500".
func (m Metric) String() string {
	return fmt.Sprintf("%s %.4f [%.4f, %.4f] chance %.4f", m.Name, m.Value, m.Lo, m.Hi, m.Chance)
}

// ItemResult is the outcome of one item.
type ItemResult struct {
	LogLik []float64 // per ending: summed log-probability of Delimiter+ending
	Tokens []int     // per ending: tokens scored
	// Pred and PredNorm are the chosen endings (argmax of LogLik, and of
	// LogLik/characters; the first on ties, as numpy.argmax).
	Pred, PredNorm int
	MC1            bool    // TruthfulQA: LogLik[Gold] > LogLik of every incorrect answer
	MC2            float64 // TruthfulQA: Σ_correct e^LogLik / Σ_all e^LogLik
}

// Result is the outcome of Eval.
type Result struct {
	Task    Task
	N       int // items scored
	Tokens  int // continuation tokens scored in all
	Metrics []Metric
	Items   []ItemResult // one per scored item, in order
}

// Metric returns the metric with the given name.
func (r *Result) Metric(name string) (Metric, bool) {
	for _, m := range r.Metrics {
		if m.Name == name {
			return m, true
		}
	}
	return Metric{}, false
}

// Eval scores every item with s and aggregates the task's metrics. progress, if
// not nil, is called after each item with the number done and the total. Items are
// scored one ending at a time in order; a Scorer that wants batching or parallelism
// provides it itself.
//
// On a scorer error or a NaN or +Inf log-likelihood, or when ctx is cancelled, Eval stops
// and returns the result over the items completed so far together with the error
// (ctx.Err() itself on cancellation). Items that do not suit the task are rejected
// before anything is scored.
func Eval(ctx context.Context, task Task, items []Item, s Scorer, progress func(done, total int)) (Result, error) {
	res := Result{Task: task}
	if task != HellaSwag && task != TruthfulQA {
		return res, fmt.Errorf("tasks: unknown task %v", task)
	}
	for i := range items {
		if err := items[i].check(task); err != nil {
			return res, fmt.Errorf("tasks: %v item %d (line %d): %w", task, i, items[i].Line, err)
		}
	}
	for i := range items {
		it := &items[i]
		ir := ItemResult{LogLik: make([]float64, len(it.Endings)), Tokens: make([]int, len(it.Endings))}
		for j, e := range it.Endings {
			if err := ctx.Err(); err != nil {
				res.aggregate(items)
				return res, err
			}
			ll, n, err := s.LogLik(it.Context, Delimiter+e)
			if err == nil && (math.IsNaN(ll) || math.IsInf(ll, 1)) {
				err = fmt.Errorf("scorer returned log-likelihood %v", ll)
			}
			if err != nil {
				res.aggregate(items)
				return res, fmt.Errorf("tasks: %v item %d (line %d) ending %d: %w", task, i, it.Line, j, err)
			}
			ir.LogLik[j], ir.Tokens[j] = ll, n
			res.Tokens += n
		}
		ir.score(it)
		res.Items = append(res.Items, ir)
		if progress != nil {
			progress(i+1, len(items))
		}
	}
	res.aggregate(items)
	return res, nil
}

// check reports why an item cannot be scored for task, or nil.
func (it *Item) check(task Task) error {
	if len(it.Endings) < 2 {
		return fmt.Errorf("%d endings, need at least 2", len(it.Endings))
	}
	if it.Gold < 0 || it.Gold >= len(it.Endings) {
		return fmt.Errorf("gold index %d out of range [0, %d)", it.Gold, len(it.Endings))
	}
	for j, e := range it.Endings {
		if e == "" {
			return fmt.Errorf("ending %d is empty", j)
		}
	}
	if it.Correct != nil && len(it.Correct) != len(it.Endings) {
		return fmt.Errorf("%d correctness flags for %d endings", len(it.Correct), len(it.Endings))
	}
	if task == TruthfulQA {
		if it.Correct == nil {
			return fmt.Errorf("no correctness flags (TruthfulQA needs Correct)")
		}
		if !it.Correct[it.Gold] {
			return fmt.Errorf("gold ending %d is not marked correct", it.Gold)
		}
		if it.falseCount() == 0 {
			return fmt.Errorf("no incorrect ending")
		}
	}
	return nil
}

func (it *Item) falseCount() int {
	n := 0
	for _, c := range it.Correct {
		if !c {
			n++
		}
	}
	return n
}

// score fills Pred, PredNorm, MC1 and MC2 from LogLik.
func (ir *ItemResult) score(it *Item) {
	ir.Pred, ir.PredNorm = 0, 0
	for j := range ir.LogLik {
		if ir.LogLik[j] > ir.LogLik[ir.Pred] {
			ir.Pred = j
		}
		if norm(ir.LogLik[j], it.Endings[j]) > norm(ir.LogLik[ir.PredNorm], it.Endings[ir.PredNorm]) {
			ir.PredNorm = j
		}
	}
	if it.Correct == nil {
		return
	}
	ir.MC1 = true
	m := math.Inf(-1)
	for j, ll := range ir.LogLik {
		if !it.Correct[j] && ll >= ir.LogLik[it.Gold] {
			ir.MC1 = false
		}
		m = max(m, ll)
	}
	// Normalized probability mass of the correct answers, with the largest
	// log-likelihood factored out so that nothing underflows to 0/0.
	var num, den float64
	for j, ll := range ir.LogLik {
		p := math.Exp(ll - m)
		den += p
		if it.Correct[j] {
			num += p
		}
	}
	ir.MC2 = num / den // NaN when every log-likelihood is −Inf
}

// norm is the harness's acc_norm score: log-likelihood per character (Unicode code
// point, Python's len) of the ending without the delimiter.
func norm(ll float64, ending string) float64 {
	return ll / float64(utf8.RuneCountInString(ending))
}

// aggregate computes N and Metrics over the scored items.
func (r *Result) aggregate(items []Item) {
	r.N = len(r.Items)
	r.Metrics = nil
	if r.N == 0 {
		return
	}
	acc := func(name string, ok func(i int) bool, choices func(i int) int) Metric {
		k := 0
		var chance float64
		for i := range r.Items {
			if ok(i) {
				k++
			}
			chance += 1 / float64(choices(i))
		}
		lo, hi := metrics.WilsonCI(k, r.N, z95)
		return Metric{Name: name, Value: float64(k) / float64(r.N), Lo: lo, Hi: hi, Chance: chance / float64(r.N)}
	}
	switch r.Task {
	case HellaSwag:
		all := func(i int) int { return len(items[i].Endings) }
		r.Metrics = append(r.Metrics,
			acc("acc", func(i int) bool { return r.Items[i].Pred == items[i].Gold }, all),
			acc("acc_norm", func(i int) bool { return r.Items[i].PredNorm == items[i].Gold }, all))
	case TruthfulQA:
		r.Metrics = append(r.Metrics, acc("mc1",
			func(i int) bool { return r.Items[i].MC1 },
			func(i int) int { return 1 + items[i].falseCount() }))
		vals := make([]float64, r.N)
		var chance float64
		for i := range r.Items {
			vals[i] = r.Items[i].MC2
			chance += float64(len(items[i].Endings)-items[i].falseCount()) / float64(len(items[i].Endings))
		}
		var sum float64
		for _, v := range vals {
			sum += v // a NaN item shows in the mean rather than being dropped
		}
		lo, hi := metrics.MeanCI(vals, z95)
		r.Metrics = append(r.Metrics, Metric{Name: "mc2", Value: sum / float64(r.N), Lo: lo, Hi: hi, Chance: chance / float64(r.N)})
	}
}
