package attack

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/unswift/unswift/internal/eval"
	"github.com/unswift/unswift/internal/kernel"
	"github.com/unswift/unswift/internal/model"
	"github.com/unswift/unswift/internal/train"
)

// Kinds lists the attacks Run knows, in the order "all" runs them.
var Kinds = []string{"algebraic", "regression", "finetune", "distill"}

// Config is one run of the attack lab (the `unswift attack` command).
type Config struct {
	Release   string   // the release file (all the attacker has, besides public text)
	Original  string   // the original model, to score the results only (optional)
	Tokenizer string   // llama2.c tokenizer for an original checkpoint (default: beside it)
	Data      string   // public text: the attacker's (its start) and the evaluation's (its last EvalTokens tokens)
	Kinds     []string // attacks to run (see Kinds)
	Steps     int      // finetune, distill: the largest step budget (default 300)
	Threads   int      // cores to use (0: all)
	Out       string   // directory for report.md, results.json, recovered.gguf and plots
	// EvalTokens is the number of held-out tokens (the end of Data) on which
	// the recovered models are compared with the original (default 2000).
	// Without Data, as many pseudo-random tokens are used.
	EvalTokens int
	Prompt     string // greedy comparison prompt (default "Once upon a time")
	GenTokens  int    // tokens generated greedily from Prompt (default 64)
	Seed       uint64 // random initialisation and data order of the training attacks
	Tasks      string // HellaSwag file: the training attacks also report acc_norm (optional)
	TaskItems  int    // HellaSwag items scored (default 200)
	Command    string // the command line, recorded in the report
	Log        io.Writer

	named []string // the kinds asked for by name (not through "all")
}

// Results is what results.json holds.
type Results struct {
	Command     string            `json:"command,omitempty"`
	Release     ReleaseInfo       `json:"release"`
	Original    string            `json:"original,omitempty"`
	Data        string            `json:"data,omitempty"`
	EvalText    string            `json:"eval_text"` // "held-out end of the data" or "random tokens"
	EvalTokens  int               `json:"eval_tokens"`
	ReleaseKL   eval.Num          `json:"release_kl_to_original"` // the release itself at its order
	ReleaseTop1 eval.Num          `json:"release_top1_agreement"`
	Algebraic   *AlgebraicResult  `json:"algebraic,omitempty"`
	Regression  *RegressionResult `json:"regression,omitempty"`
	Finetune    []TrainPoint      `json:"finetune,omitempty"`
	Distill     []TrainPoint      `json:"distill,omitempty"`
	Training    *TrainingInfo     `json:"training,omitempty"`
	NotRun      map[string]string `json:"not_run,omitempty"` // attacks of --kind all skipped for this release, and why
	Notes       []string          `json:"notes,omitempty"`
	Seconds     float64           `json:"seconds"`
}

// ReleaseInfo describes the attacked release.
type ReleaseInfo struct {
	Path     string  `json:"path"`
	Arch     string  `json:"arch"`   // GGUF general.architecture
	Family   string  `json:"family"` // its forward pass, as model.Family describes it
	Order    int     `json:"order"`
	Basis    string  `json:"basis"`
	Tail     string  `json:"tail,omitempty"`
	Layers   int     `json:"layers"`
	Dim      int     `json:"dim"`
	Hidden   int     `json:"hidden"`
	Expanded []int   `json:"expanded"`
	Share    float64 `json:"expanded_share"`
}

// AlgebraicResult is the algebraic attack's outcome. FractionRecovered is
// measured against the original (column within ColumnTolerance and sign
// right) when one is given, else it is the attacker's own confidence.
type AlgebraicResult struct {
	RelativeError     eval.Num         `json:"relative_error"` // expanded columns, all layers; null without the original
	FractionRecovered float64          `json:"fraction_recovered"`
	FractionConfident float64          `json:"fraction_confident"`
	SignAccuracy      eval.Num         `json:"sign_accuracy"`
	Seconds           float64          `json:"seconds"`
	KLToOriginal      eval.Num         `json:"kl_to_original"` // mean per token, recovered model vs original
	KLMax             eval.Num         `json:"kl_max"`
	Top1Agreement     eval.Num         `json:"top1_agreement"`
	GreedyIdentical   *bool            `json:"greedy_identical,omitempty"`
	GreedyOriginal    string           `json:"greedy_original,omitempty"`
	GreedyRecovered   string           `json:"greedy_recovered,omitempty"`
	Recovered         string           `json:"recovered_model"`
	Layers            []AlgebraicLayer `json:"layers"`
	Notes             []string         `json:"notes,omitempty"`
}

// AlgebraicLayer is one layer of AlgebraicResult.
type AlgebraicLayer struct {
	Layer             int            `json:"layer"`
	Expanded          int            `json:"expanded"`
	Seconds           float64        `json:"seconds"`
	Methods           map[string]int `json:"methods"`
	FractionConfident float64        `json:"fraction_confident"`
	RelativeError     eval.Num       `json:"relative_error"`
	FractionRecovered eval.Num       `json:"fraction_recovered"`
	SignAccuracy      eval.Num       `json:"sign_accuracy"`
	MinScale          eval.Num       `json:"min_order0_scale"` // smallest |b_0| of the kept hypotheses
	MaxResidual       eval.Num       `json:"max_residual"`
}

// RegressionResult is the regression attack's error against the number of tokens.
type RegressionResult struct {
	Unknowns int               `json:"unknowns_per_output"` // 2E (plain MLP: E + dim + 1), E the most expanded channels of a layer
	Points   []RegressionPoint `json:"points"`
	Seconds  float64           `json:"seconds"`
	Notes    []string          `json:"notes,omitempty"` // what limits the solution at the largest token count
}

// RegressionPoint is one token count of RegressionResult.
type RegressionPoint struct {
	Tokens            int      `json:"tokens"`
	RelativeError     eval.Num `json:"relative_error"`
	SignAccuracy      eval.Num `json:"sign_accuracy"`
	FractionRecovered eval.Num `json:"fraction_recovered"`
	KLToOriginal      eval.Num `json:"kl_to_original"`
	Top1Agreement     eval.Num `json:"top1_agreement"`
}

// Run runs the attacks of cfg and writes DIR/results.json, DIR/report.md,
// DIR/recovered.gguf (the algebraic attack's model) and plots.
func Run(ctx context.Context, cfg Config) (*Results, error) {
	start := time.Now()
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	logf := func(format string, a ...any) {
		if cfg.Log != nil {
			fmt.Fprintf(cfg.Log, format+"\n", a...)
		}
	}
	rel, err := model.Open(cfg.Release, model.Options{})
	if err != nil {
		return nil, err
	}
	defer rel.Close()
	if err := checkRelease(rel); err != nil {
		return nil, err
	}
	if rel.GGUF == nil {
		return nil, fmt.Errorf("%s: a release is a GGUF file", cfg.Release)
	}
	res := &Results{Command: cfg.Command, Release: releaseInfo(rel), Original: cfg.Original, Data: cfg.Data,
		ReleaseKL: eval.Num(math.NaN()), ReleaseTop1: eval.Num(math.NaN())}
	if err := train.Supports(rel); err != nil {
		// The training engine does not run this release's forward pass:
		// refuse a training attack asked for by name, skip one that "all"
		// brought in.
		var kinds []string
		for _, k := range cfg.Kinds {
			if k != "finetune" && k != "distill" {
				kinds = append(kinds, k)
				continue
			}
			why := fmt.Sprintf("the training engine does not run this %s release (%v)", rel.Config.Arch, err)
			if slices.Contains(cfg.named, k) {
				return nil, fmt.Errorf("%s attack: %s", k, why)
			}
			if res.NotRun == nil {
				res.NotRun = map[string]string{}
			}
			res.NotRun[k] = why
			res.Notes = append(res.Notes, fmt.Sprintf("the %s attack was not run: %s", k, why))
			logf("%s: not run: %s", k, why)
		}
		cfg.Kinds = kinds
	}
	if rel.Taylor.Order == 0 {
		res.Notes = append(res.Notes, "the release has order N = 0: only Θ_0 = W·b_0 is in the file")
	}
	var orig *model.Model
	var truth *Truth
	if cfg.Original != "" {
		if orig, err = model.Open(cfg.Original, model.Options{Tokenizer: cfg.Tokenizer}); err != nil {
			return nil, fmt.Errorf("original: %w", err)
		}
		defer orig.Close()
		if truth, err = NewTruth(orig, rel); err != nil {
			return nil, err
		}
	}
	pool := kernel.NewPool(cfg.Threads)
	defer pool.Close()
	if err := os.MkdirAll(cfg.Out, 0o755); err != nil {
		return nil, err
	}

	// Text: the attacker's part and the held-out end.
	var attackTokens, evalTokens []int
	if cfg.Data != "" {
		raw, err := os.ReadFile(cfg.Data)
		if err != nil {
			return nil, fmt.Errorf("reading the data: %w", err)
		}
		ids := rel.Tokenizer.Encode(string(raw), false)
		if len(ids) < 2*cfg.EvalTokens {
			return nil, fmt.Errorf("%s has %d tokens: too few for %d held-out tokens and at least as many to attack with", cfg.Data, len(ids), cfg.EvalTokens)
		}
		attackTokens, evalTokens = ids[:len(ids)-cfg.EvalTokens], ids[len(ids)-cfg.EvalTokens:]
		res.EvalText = "held-out end of the data"
	} else {
		rng := rand.New(rand.NewPCG(cfg.Seed, 1))
		evalTokens = make([]int, cfg.EvalTokens)
		for i := range evalTokens {
			evalTokens[i] = rng.IntN(rel.Config.Vocab)
		}
		res.EvalText = "random tokens (no --data)"
	}
	res.EvalTokens = len(evalTokens)
	windows := eval.Windows(evalTokens, rel.Config.Context, rel.Tokenizer.BOS())
	ex := eval.NewExec(rel, pool, cfg.Threads)
	compare := func(ms ...*model.Model) ([]eval.Fidelity, error) {
		return eval.CompareAll(ctx, orig, ms, windows, ex, nil)
	}
	if orig != nil {
		f, err := compare(rel)
		if err != nil {
			return nil, err
		}
		res.ReleaseKL, res.ReleaseTop1 = eval.Num(f[0].KL.Mean), eval.Num(f[0].Top1)
		logf("release vs original: mean KL %.3g, top-1 agreement %.4f on %d tokens", f[0].KL.Mean, f[0].Top1, f[0].Tokens)
	}

	for _, kind := range cfg.Kinds {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		logf("attack: %s", kind)
		switch kind {
		case "algebraic":
			if res.Algebraic, err = runAlgebraic(ctx, cfg, rel, orig, truth, compare, pool); err != nil {
				return nil, fmt.Errorf("algebraic attack: %w", err)
			}
			a := res.Algebraic
			logf("algebraic: relative error %s, %.1f%% recovered, KL %s, %.3f s", num(a.RelativeError, "%.3g"), 100*a.FractionRecovered, num(a.KLToOriginal, "%.3g"), a.Seconds)
		case "regression":
			if res.Regression, err = runRegression(ctx, cfg, rel, truth, attackTokens, compare, pool, logf); err != nil {
				return nil, fmt.Errorf("regression attack: %w", err)
			}
		case "finetune", "distill":
			pts, info, err := runTraining(ctx, kind, cfg, rel, orig, attackTokens, evalTokens, pool, logf)
			if err != nil {
				return nil, fmt.Errorf("%s attack: %w", kind, err)
			}
			if kind == "finetune" {
				res.Finetune = pts
			} else {
				res.Distill = pts
			}
			if res.Training == nil {
				res.Training = info
			} else {
				res.Training.DistillLoss = info.DistillLoss
			}
		}
	}
	res.Seconds = time.Since(start).Seconds()
	if err := writeResults(cfg.Out, res); err != nil {
		return nil, err
	}
	return res, nil
}

func (cfg *Config) defaults() error {
	if cfg.Release == "" {
		return fmt.Errorf("no release: pass --release RELEASE.gguf")
	}
	if cfg.Out == "" {
		return fmt.Errorf("no output directory: pass --out DIR")
	}
	if len(cfg.Kinds) == 0 {
		return fmt.Errorf("no attack: pass --kind %s or all", strings.Join(Kinds, "|"))
	}
	var kinds []string
	for _, k := range cfg.Kinds {
		switch {
		case k == "all":
			kinds = append(kinds, Kinds...)
		case slices.Contains(Kinds, k):
			kinds = append(kinds, k)
			cfg.named = append(cfg.named, k)
		default:
			return fmt.Errorf("unknown attack %q (%s or all)", k, strings.Join(Kinds, ", "))
		}
	}
	cfg.Kinds = nil
	for _, k := range Kinds { // canonical order, no repeats
		if slices.Contains(kinds, k) {
			cfg.Kinds = append(cfg.Kinds, k)
		}
	}
	for _, k := range cfg.Kinds {
		if k != "algebraic" && cfg.Data == "" {
			return fmt.Errorf("the %s attack needs public text: pass --data FILE", k)
		}
	}
	if cfg.Steps == 0 {
		cfg.Steps = 300
	}
	if cfg.Steps < 3 {
		return fmt.Errorf("--steps %d: the training attacks need at least 3 steps (three budgets)", cfg.Steps)
	}
	if cfg.Threads < 0 {
		return fmt.Errorf("--threads %d must be ≥ 0", cfg.Threads)
	}
	if cfg.EvalTokens == 0 {
		cfg.EvalTokens = 2000
	}
	if cfg.EvalTokens < 16 {
		return fmt.Errorf("evaluation needs at least 16 tokens, asked for %d", cfg.EvalTokens)
	}
	if cfg.Prompt == "" {
		cfg.Prompt = "Once upon a time"
	}
	if cfg.GenTokens == 0 {
		cfg.GenTokens = 64
	}
	if cfg.TaskItems == 0 {
		cfg.TaskItems = 200
	}
	return nil
}

func releaseInfo(rel *model.Model) ReleaseInfo {
	t, c := rel.Taylor, &rel.Config
	ri := ReleaseInfo{Path: rel.Path, Arch: c.Arch, Family: c.Family.String(), Order: t.Order, Basis: t.Basis, Tail: t.Tail, Layers: c.Layers, Dim: c.Dim, Hidden: c.Hidden, Expanded: t.Expanded}
	for _, e := range t.Expanded {
		ri.Share += float64(e)
	}
	ri.Share /= float64(c.Layers * c.Hidden)
	return ri
}

type compareFunc func(ms ...*model.Model) ([]eval.Fidelity, error)

func runAlgebraic(ctx context.Context, cfg Config, rel, orig *model.Model, truth *Truth, compare compareFunc, pool *kernel.Pool) (*AlgebraicResult, error) {
	rec, err := Algebraic(rel, Options{})
	if err != nil {
		return nil, err
	}
	nan := eval.Num(math.NaN())
	a := &AlgebraicResult{Seconds: rec.Duration.Seconds(), FractionConfident: rec.Confident(), Notes: rec.Notes,
		RelativeError: nan, SignAccuracy: nan, KLToOriginal: nan, KLMax: nan, Top1Agreement: nan, Recovered: "recovered.gguf"}
	a.FractionRecovered = a.FractionConfident
	var sc Score
	if truth != nil {
		if sc, err = truth.Score(rec); err != nil {
			return nil, err
		}
		a.RelativeError, a.FractionRecovered, a.SignAccuracy = eval.Num(sc.RelativeError), sc.FractionRecovered, eval.Num(sc.SignAccuracy)
	}
	for l, lr := range rec.Layers {
		conf := 0
		maxRes := 0.0
		for k, ok := range lr.Confident {
			if ok {
				conf++
			}
			maxRes = max(maxRes, lr.Residual[k])
		}
		al := AlgebraicLayer{Layer: l, Expanded: lr.Expanded, Seconds: lr.Duration.Seconds(), Methods: lr.methods(),
			FractionConfident: float64(conf) / math.Max(1, float64(lr.Expanded)), RelativeError: nan, FractionRecovered: nan,
			SignAccuracy: nan, MinScale: eval.Num(lr.MinScale), MaxResidual: eval.Num(maxRes)}
		if lr.Expanded == 0 {
			al.MaxResidual = nan
		}
		if truth != nil {
			ls := sc.Layers[l]
			al.RelativeError, al.FractionRecovered, al.SignAccuracy = eval.Num(ls.RelativeError), eval.Num(ls.FractionRecovered), eval.Num(ls.SignAccuracy)
		}
		a.Layers = append(a.Layers, al)
	}
	path := filepath.Join(cfg.Out, a.Recovered)
	if err := WriteRecovered(path, rel, rec); err != nil {
		return nil, err
	}
	if orig == nil {
		return a, nil
	}
	recm, err := model.Open(path, model.Options{})
	if err != nil {
		return nil, fmt.Errorf("the recovered model does not load: %w", err)
	}
	defer recm.Close()
	f, err := compare(recm)
	if err != nil {
		return nil, err
	}
	a.KLToOriginal, a.KLMax, a.Top1Agreement = eval.Num(f[0].KL.Mean), eval.Num(f[0].KL.Max), eval.Num(f[0].Top1)
	gOrig, err := eval.Greedy(ctx, orig.NewState(pool, 0), orig.Tokenizer, cfg.Prompt, cfg.GenTokens)
	if err != nil {
		return nil, err
	}
	gRec, err := eval.Greedy(ctx, recm.NewState(pool, 0), recm.Tokenizer, cfg.Prompt, cfg.GenTokens)
	if err != nil {
		return nil, err
	}
	same := slices.Equal(gOrig.Tokens, gRec.Tokens)
	a.GreedyIdentical, a.GreedyOriginal, a.GreedyRecovered = &same, gOrig.Text, gRec.Text
	return a, nil
}

// regressionPoints are the token counts M: d_ff/4 … 4·d_ff, then 8 and 16·d_ff
// to show where the error levels off.
func regressionPoints(hidden int) []int {
	var pts []int
	for _, f := range []float64{0.25, 0.5, 1, 1.5, 2, 3, 4, 8, 16} {
		m := int(math.Round(f * float64(hidden)))
		if len(pts) == 0 || m > pts[len(pts)-1] {
			pts = append(pts, m)
		}
	}
	return pts
}

func runRegression(ctx context.Context, cfg Config, rel *model.Model, truth *Truth, tokens []int, compare compareFunc, pool *kernel.Pool, logf func(string, ...any)) (*RegressionResult, error) {
	start := time.Now()
	pts := regressionPoints(rel.Config.Hidden)
	recs, err := Regression(ctx, rel, tokens, RegressionOptions{Points: pts, Pool: pool})
	if err != nil {
		return nil, err
	}
	rr := &RegressionResult{Unknowns: unknowns(rel)}
	tmp, err := os.MkdirTemp(cfg.Out, ".regression-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	nan := eval.Num(math.NaN())
	rr.Notes = recs[len(recs)-1].Notes
	for i, rec := range recs {
		p := RegressionPoint{Tokens: pts[i], RelativeError: nan, SignAccuracy: nan, FractionRecovered: nan, KLToOriginal: nan, Top1Agreement: nan}
		if truth != nil {
			sc, err := truth.Score(rec)
			if err != nil {
				return nil, err
			}
			p.RelativeError, p.SignAccuracy, p.FractionRecovered = eval.Num(sc.RelativeError), eval.Num(sc.SignAccuracy), eval.Num(sc.FractionRecovered)
			path := filepath.Join(tmp, fmt.Sprintf("m%d.gguf", pts[i]))
			if err := WriteRecovered(path, rel, rec); err != nil {
				return nil, err
			}
			m, err := model.Open(path, model.Options{})
			if err != nil {
				return nil, err
			}
			f, err := compare(m)
			m.Close()
			if err != nil {
				return nil, err
			}
			p.KLToOriginal, p.Top1Agreement = eval.Num(f[0].KL.Mean), eval.Num(f[0].Top1)
		}
		logf("regression: %d tokens: relative error %s, signs right %s, KL %s", p.Tokens, num(p.RelativeError, "%.3g"), pct(p.SignAccuracy), num(p.KLToOriginal, "%.3g"))
		rr.Points = append(rr.Points, p)
	}
	rr.Seconds = time.Since(start).Seconds()
	return rr, nil
}

// writeResults writes results.json, report.md and the plots.
func writeResults(dir string, res *Results) error {
	b, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return err
	}
	if err := writeFile(filepath.Join(dir, "results.json"), append(b, '\n')); err != nil {
		return err
	}
	plots, err := writePlots(dir, res)
	if err != nil {
		return err
	}
	var sb strings.Builder
	writeReport(&sb, res, plots)
	return writeFile(filepath.Join(dir, "report.md"), []byte(sb.String()))
}
