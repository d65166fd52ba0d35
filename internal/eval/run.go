package eval

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/unswift/unswift/internal/kernel"
	"github.com/unswift/unswift/internal/metrics"
	"github.com/unswift/unswift/internal/model"
	"github.com/unswift/unswift/internal/tasks"
)

// DefaultOrders are the orders evaluated when Options.Orders is empty.
var DefaultOrders = []int{0, 1, 2, 4, 6, 8, 10, 12}

// TaskNames are the tasks Options.Tasks may name.
var TaskNames = []string{"hellaswag", "truthfulqa"}

// DefaultLimits are the items scored per task when Options.Limit is 0
// (negative: all), chosen so that the default evaluation of stories260K (all
// default orders) fits in a few minutes on two cores.
var DefaultLimits = map[string]int{"hellaswag": 300, "truthfulqa": -1}

// Defaults of the Options fields left zero.
const (
	DefaultCalibTokens   = 20000
	DefaultHeldOutTokens = 4096
	DefaultPrompts       = 8
	DefaultPromptWords   = 8
	DefaultGenTokens     = 128
	DefaultBenchRounds   = 5
)

// Options describe an evaluation.
type Options struct {
	Original     string   // the plain model
	Tokenizer    string   // llama2.c tokenizer.bin for a llama2.c original ("" finds it)
	Releases     []string // releases of Original (a plain model must equal Original)
	Orders       []int    // orders to run each release at (empty: DefaultOrders); orders above a release's N are skipped
	OnlyOriginal bool     // evaluate Original alone (no releases)

	// Data is the held-out text. A release's calibration used the FIRST
	// CalibTokens tokens of its calibration file; evaluation uses the LAST
	// HeldOutTokens tokens of Data, and an error is returned when the two
	// would overlap (when Data is the calibration file).
	Data          string
	CalibTokens   int    // default DefaultCalibTokens
	HeldOutTokens int    // default DefaultHeldOutTokens
	PPLProtocol   string // "heldout" (default: the held-out windows) or "paragraphs" (see ParagraphPPL)

	Tasks          []string // names from TaskNames
	HellaSwagPath  string
	TruthfulQAPath string
	// Limit is the number of items per task: a seeded random sample, in file
	// order (0: DefaultLimits; negative: every item).
	Limit int

	Prompts     []string // generation prompts (nil: Openings of the data after the calibration slice)
	NumPrompts  int      // default DefaultPrompts
	PromptWords int      // default DefaultPromptWords
	GenTokens   int      // new tokens per prompt, default DefaultGenTokens (capped by the context)

	BenchRounds int // interleaved cost rounds, default DefaultBenchRounds
	// CostThreads is the number of threads latency is measured on (0: one for
	// a model small enough for NewExec to run independent workers, whose
	// decoding does not get faster with more, else Threads).
	CostThreads int
	Seed        uint64 // task sampling and benchmark prompts
	Threads     int    // 0: all cores

	// Command is the command line that asked for the evaluation, recorded
	// in the results and the report ("" for none).
	Command string
	// Note is free text for the report, such as how the releases were made.
	Note string

	// Progress, if not nil, is called (never concurrently) as work is done in
	// each phase; phases follow one another.
	Progress func(phase string, done, total int)
}

// variant is one model the evaluation runs: the original, or a release at
// one order.
type variant struct {
	m       *model.Model
	release int // index in Options.Releases, −1 for the original
	order   int // −1 for a plain model
	slot    int // index in the release's Orders
}

// Run evaluates the releases against the original.
func Run(ctx context.Context, opt Options) (res *Results, err error) {
	start, cpu0 := time.Now(), cpuTime()
	if err := opt.defaults(); err != nil {
		return nil, err
	}
	res = &Results{Machine: machineInfo(), Orders: []OrderResult{}, Releases: []ReleaseResult{}}
	res.Settings = opt.settings()
	var opened []*model.Model
	defer func() {
		for _, m := range opened {
			m.Close()
		}
	}()
	open := func(path, tok string) (*model.Model, error) {
		m, err := model.Open(path, model.Options{Tokenizer: tok})
		if err != nil {
			return nil, err
		}
		opened = append(opened, m)
		return m, nil
	}
	timer := res.timer("load and check")

	// Data first: a missing file should not cost a model load.
	raw, err := os.ReadFile(opt.Data)
	if err != nil {
		return nil, fmt.Errorf("reading the held-out data: %w", err)
	}
	text := string(raw)
	if res.Data, err = fileInfo(opt.Data); err != nil {
		return nil, err
	}
	orig, err := open(opt.Original, opt.Tokenizer)
	if err != nil {
		return nil, fmt.Errorf("original: %w", err)
	}
	if orig.Taylor != nil {
		return nil, fmt.Errorf("%s is a TaylorMLP release: pass the plain model it was made from as --original", opt.Original)
	}
	res.Original.File, err = fileInfo(opt.Original)
	if err != nil {
		return nil, err
	}
	res.Original.describe(orig)
	variants := []variant{{m: orig, release: -1, order: -1}}
	for ri, path := range opt.Releases {
		rel, err := open(path, "")
		if err != nil {
			return nil, fmt.Errorf("release: %w", err)
		}
		if err := CheckDerived(orig, rel); err != nil {
			return nil, err
		}
		rr := ReleaseResult{}
		if rr.File, err = fileInfo(path); err != nil {
			return nil, err
		}
		rr.describe(rel)
		if rel.Taylor == nil {
			variants = append(variants, variant{m: rel, release: ri, order: -1, slot: 0})
		} else {
			for _, n := range opt.Orders {
				if n > rel.Taylor.Order {
					rr.SkippedOrders = append(rr.SkippedOrders, n)
					continue
				}
				m := rel
				if len(rr.Orders) > 0 { // one handle per order: the order is a property of the model
					if m, err = open(path, ""); err != nil {
						return nil, err
					}
				}
				if err := m.SetOrder(n); err != nil {
					return nil, err
				}
				variants = append(variants, variant{m: m, release: ri, order: n, slot: len(rr.Orders)})
				rr.Orders = append(rr.Orders, OrderResult{Order: n})
			}
			if len(rr.Orders) == 0 {
				return nil, fmt.Errorf("%s was released at order %d: none of the orders %v can be run", path, rel.Taylor.Order, opt.Orders)
			}
		}
		if rel.Taylor == nil {
			rr.Orders = append(rr.Orders, OrderResult{Order: -1})
		}
		res.Releases = append(res.Releases, rr)
	}
	items, err := opt.loadTasks()
	if err != nil {
		return nil, err
	}
	models := make([]*model.Model, len(variants))
	for i, v := range variants {
		models[i] = v.m
	}

	// The held-out slice.
	tokens := orig.Tokenizer.Encode(text, false)
	held, err := HeldOut(tokens, opt.CalibTokens, opt.HeldOutTokens)
	if err != nil {
		return nil, fmt.Errorf("%s: %w (pass --heldout-tokens or --calib-tokens smaller, or a longer --data)", opt.Data, err)
	}
	win := min(orig.Config.Context, model.DefaultContext) // what a state made without a context holds
	windows := Windows(held, win, orig.Tokenizer.BOS())
	calibBytes := min(len(text), len(orig.Tokenizer.Decode(tokens[:opt.CalibTokens])))
	res.Settings.DataTokens = len(tokens)
	res.Settings.HeldOut = fmt.Sprintf("the last %d of the %d tokens of %s (tokens %d..%d), in %d windows of at most %d tokens with BOS; a release calibrated on the first %d tokens never saw them",
		len(held), len(tokens), opt.Data, len(tokens)-len(held), len(tokens)-1, len(windows), win, opt.CalibTokens)
	pool := kernel.NewPool(opt.Threads)
	defer pool.Close()
	ex := NewExec(orig, pool, opt.Threads)
	res.Machine.Threads, res.Machine.Workers = ex.threads(), max(ex.Workers, 1)
	timer.stop()

	progress := func(phase string) func(done, total int) {
		if opt.Progress == nil {
			return nil
		}
		return func(done, total int) { opt.Progress(phase, done, total) }
	}

	// 1. Distribution fidelity, teacher-forced on the held-out windows.
	timer = res.timer("fidelity (teacher-forced KL, perplexity)")
	origNLL, nBytes, nTok, fids, err := compareAll(ctx, orig, models[1:], windows, ex, progress("fidelity"))
	if err != nil {
		return nil, err
	}
	timer.stop()

	// 2. Generation fidelity.
	timer = res.timer("generation (greedy continuations)")
	prompts := opt.Prompts
	if prompts == nil {
		prompts = Openings(text[calibBytes:], opt.NumPrompts, opt.PromptWords)
		res.Settings.PromptSource = fmt.Sprintf("openings (first %d words) of the last %d paragraphs of %s", opt.PromptWords, len(prompts), opt.Data)
	} else {
		res.Settings.PromptSource = "given"
	}
	if len(prompts) == 0 {
		return nil, fmt.Errorf("no generation prompts: %s has no paragraph of more than %d words after its calibration slice", opt.Data, opt.PromptWords)
	}
	res.Prompts = prompts
	gens := make([][]Generation, len(variants)) // [variant][prompt]
	for i := range gens {
		gens[i] = make([]Generation, len(prompts))
	}
	var st states
	err = ex.each(ctx, len(prompts), func(w int, p *kernel.Pool, i int) error {
		for v, vr := range variants {
			g, err := Greedy(ctx, st.get(w, vr.m, p), vr.m.Tokenizer, prompts[i], opt.GenTokens)
			if err != nil {
				return fmt.Errorf("prompt %d: %w", i+1, err)
			}
			gens[v][i] = g
		}
		return nil
	}, progress("generation"))
	if err != nil {
		return nil, err
	}
	timer.stop()

	// 3. Tasks.
	taskScores := make([]map[string]TaskScore, len(variants))
	for i := range taskScores {
		taskScores[i] = map[string]TaskScore{}
	}
	for _, name := range opt.Tasks {
		timer = res.timer("task " + name)
		scores, skipped, err := runTask(ctx, name, items[name], variants, ex, progress(name))
		if err != nil {
			return nil, err
		}
		res.Settings.TaskSkipped[name] = skipped
		for v := range variants {
			for k, s := range scores[v] {
				taskScores[v][k] = s
			}
		}
		timer.stop()
	}

	// 4. Perplexity by the paragraph protocol.
	var para []metrics.PPL
	if opt.PPLProtocol == "paragraphs" {
		timer = res.timer("perplexity (paragraph protocol)")
		if para, err = ParagraphPPL(ctx, models, text, ex, progress("perplexity")); err != nil {
			return nil, err
		}
		timer.stop()
	}

	// 5. Cost, interleaved.
	timer = res.timer("cost (interleaved latency)")
	co := CostOptions{Rounds: opt.BenchRounds, PromptTokens: 64, GenTokens: 64, MinMillis: 50, Seed: opt.Seed}
	costPool := pool
	if opt.CostThreads == 0 && ex.Workers > 1 || opt.CostThreads == 1 {
		costPool = nil // one thread: a small model decodes no faster on more, and its CPU time is exact
	} else if opt.CostThreads > 1 && opt.CostThreads != pool.Threads() {
		costPool = kernel.NewPool(opt.CostThreads)
		defer costPool.Close()
	}
	co.Threads = costPool.Threads()
	res.Settings.Cost = co.capped(orig.Config.Context)
	costs, err := MeasureCost(ctx, models, costPool, co, progress("cost"))
	if err != nil {
		return nil, err
	}
	timer.stop()

	// Assemble.
	o := &res.Original
	if para != nil {
		o.PPL, o.BitsPerByte, o.PPLTokens = Num(para[0].PPL()), Num(para[0].BitsPerByte()), para[0].Tokens
	} else {
		p := metrics.PPL{NLL: origNLL, Tokens: nTok, Bytes: nBytes}
		o.PPL, o.BitsPerByte, o.PPLTokens = Num(p.PPL()), Num(p.BitsPerByte()), p.Tokens
	}
	o.Tasks = taskScores[0]
	o.setCost(costs[0])
	o.Generations = texts(gens[0])
	o.WeightBytesPerToken = orig.WeightBytesPerToken()
	for v := 1; v < len(variants); v++ {
		vr := variants[v]
		or := &res.Releases[vr.release].Orders[vr.slot]
		f := fids[v-1]
		or.KLMean, or.KLP50, or.KLP99, or.KLMax = Num(f.KL.Mean), Num(f.KL.P50), Num(f.KL.P99), Num(f.KL.Max)
		or.Top1 = Num(f.Top1)
		or.HeldOutTokens = f.Tokens
		if para != nil {
			or.PPL, or.BitsPerByte = Num(para[v].PPL()), Num(para[v].BitsPerByte())
		} else {
			p := metrics.PPL{NLL: f.RelNLL, Tokens: f.Tokens, Bytes: f.Bytes}
			or.PPL, or.BitsPerByte = Num(p.PPL()), Num(p.BitsPerByte())
		}
		g := CompareGenerations(gens[0], gens[v])
		or.Rouge1, or.RougeL = Num(g.Rouge1), Num(g.RougeL)
		or.Identical, or.FirstDivergence, or.MeanAgreeing = g.Identical, g.FirstDivergence, Num(g.MeanAgreeing)
		or.Generations = texts(gens[v])
		or.Tasks = taskScores[v]
		or.setCost(costs[v])
		or.Slowdown, or.SlowdownCPU = Num(costs[v].Slowdown), Num(costs[v].SlowdownCPU)
		lo, hi := spread(costs[v].Ratio)
		or.SlowdownRange = [2]Num{Num(lo), Num(hi)}
		lo, hi = spread(costs[v].CPURatio)
		or.SlowdownCPURange = [2]Num{Num(lo), Num(hi)}
		or.PredictedSlowdown = Num(vr.m.PredictedSlowdown())
		or.PredictedSlowdownFile = Num(float64(vr.m.WeightBytesPerToken()) / float64(orig.WeightBytesPerToken()))
		or.WeightBytesPerToken = vr.m.WeightBytesPerToken()
	}
	if len(res.Releases) > 0 {
		res.Orders = res.Releases[0].Orders
	}
	res.Machine.LoadEnd = loadAvg()
	res.Machine.WallTotalS = Num(time.Since(start).Seconds())
	res.Machine.CPUTotalS = Num((cpuTime() - cpu0).Seconds())
	return res, nil
}

// defaults fills in zero fields and checks the options.
func (o *Options) defaults() error {
	if o.Original == "" {
		return errors.New("no original model given")
	}
	if o.OnlyOriginal && len(o.Releases) > 0 {
		return errors.New("only-original and releases exclude each other")
	}
	if !o.OnlyOriginal && len(o.Releases) == 0 {
		return errors.New("no release given (or ask for the original only)")
	}
	if o.Data == "" {
		return errors.New("no held-out data file given")
	}
	if len(o.Orders) == 0 {
		o.Orders = DefaultOrders
	}
	o.Orders = slices.Clone(o.Orders)
	slices.Sort(o.Orders)
	o.Orders = slices.Compact(o.Orders)
	if o.Orders[0] < 0 {
		return fmt.Errorf("order %d is negative", o.Orders[0])
	}
	setDefault := func(v *int, d int, name string) error {
		if *v == 0 {
			*v = d
		}
		if *v < 0 {
			return fmt.Errorf("%s %d must be positive", name, *v)
		}
		return nil
	}
	for _, f := range []struct {
		v    *int
		d    int
		name string
	}{
		{&o.CalibTokens, DefaultCalibTokens, "calibration tokens"}, {&o.HeldOutTokens, DefaultHeldOutTokens, "held-out tokens"},
		{&o.NumPrompts, DefaultPrompts, "prompt count"}, {&o.PromptWords, DefaultPromptWords, "prompt words"},
		{&o.GenTokens, DefaultGenTokens, "generated tokens"}, {&o.BenchRounds, DefaultBenchRounds, "bench rounds"},
	} {
		if err := setDefault(f.v, f.d, f.name); err != nil {
			return err
		}
	}
	if o.Threads < 0 || o.CostThreads < 0 {
		return fmt.Errorf("threads %d, %d must be ≥ 0", o.Threads, o.CostThreads)
	}
	switch o.PPLProtocol {
	case "":
		o.PPLProtocol = "heldout"
	case "heldout", "paragraphs":
	default:
		return fmt.Errorf("unknown perplexity protocol %q (heldout or paragraphs)", o.PPLProtocol)
	}
	seen := map[string]bool{}
	for _, t := range o.Tasks {
		if !slices.Contains(TaskNames, t) {
			return fmt.Errorf("unknown task %q (known: %s)", t, strings.Join(TaskNames, ", "))
		}
		if seen[t] {
			return fmt.Errorf("task %q named twice", t)
		}
		seen[t] = true
	}
	for _, p := range o.Prompts {
		if strings.TrimSpace(p) == "" {
			return errors.New("empty generation prompt")
		}
	}
	return nil
}

// loadTasks reads and samples every task's items.
func (o *Options) loadTasks() (map[string][]tasks.Item, error) {
	out := map[string][]tasks.Item{}
	for ti, name := range o.Tasks {
		var items []tasks.Item
		var err error
		switch name {
		case "hellaswag":
			if o.HellaSwagPath == "" {
				return nil, errors.New("hellaswag: no data file given")
			}
			items, err = tasks.LoadHellaSwag(o.HellaSwagPath, 0)
		case "truthfulqa":
			if o.TruthfulQAPath == "" {
				return nil, errors.New("truthfulqa: no data file given")
			}
			items, err = tasks.LoadTruthfulQA(o.TruthfulQAPath, 0)
		}
		if err != nil {
			return nil, err
		}
		limit := o.Limit
		if limit == 0 {
			limit = DefaultLimits[name]
		}
		if limit > 0 && limit < len(items) {
			rng := rand.New(rand.NewPCG(o.Seed, uint64(ti)+1))
			pick := rng.Perm(len(items))[:limit]
			slices.Sort(pick)
			sub := make([]tasks.Item, limit)
			for i, j := range pick {
				sub[i] = items[j]
			}
			items = sub
		}
		out[name] = items
	}
	return out, nil
}

// runTask scores items on every variant and aggregates each variant's metrics
// under the names results use: hellaswag (acc, acc_norm), truthfulqa_mc1 and
// truthfulqa_mc2 (acc).
func runTask(ctx context.Context, name string, items []tasks.Item, variants []variant, ex Exec, progress func(done, total int)) (scores []map[string]TaskScore, skipped int, err error) {
	task := tasks.HellaSwag
	if name == "truthfulqa" {
		task = tasks.TruthfulQA
	}
	// Drop the items with an ending longer than the context: no model can
	// score them whole.
	check := NewScorer(variants[0].m, nil)
	var kept []tasks.Item
	for i := range items {
		it := &items[i]
		ok, err := check.fits(it.Context, continuations(it))
		if err != nil {
			return nil, 0, fmt.Errorf("%s item %d (line %d): %w", name, i, it.Line, err)
		}
		if ok {
			kept = append(kept, *it)
		}
	}
	skipped = len(items) - len(kept)
	items = kept
	ll := make([][][]float64, len(variants)) // [variant][item][ending]
	nt := make([][][]int, len(variants))
	for v := range variants {
		ll[v] = make([][]float64, len(items))
		nt[v] = make([][]int, len(items))
	}
	var ctxs []string
	for i := range items {
		ctxs = append(ctxs, items[i].Context)
	}
	sc := scorers{prefix: commonPrefix(variants[0].m, ctxs)}
	err = ex.each(ctx, len(items), func(w int, pool *kernel.Pool, i int) error {
		it := &items[i]
		conts := continuations(it)
		for v, vr := range variants {
			l, n, err := sc.get(w, vr.m, pool).LogLiks(it.Context, conts)
			if err != nil {
				return fmt.Errorf("%s item %d (line %d): %w", name, i, it.Line, err)
			}
			ll[v][i], nt[v][i] = l, n
		}
		return nil
	}, progress)
	if err != nil {
		return nil, 0, err
	}
	out := make([]map[string]TaskScore, len(variants))
	for v := range variants {
		r, err := tasks.Eval(ctx, task, items, &replay{items: items, ll: ll[v], n: nt[v]}, nil)
		if err != nil {
			return nil, 0, err
		}
		out[v] = map[string]TaskScore{}
		switch task {
		case tasks.HellaSwag:
			acc, _ := r.Metric("acc")
			norm, _ := r.Metric("acc_norm")
			s := scoreOf(r.N, acc)
			ns := scoreOf(r.N, norm)
			s.AccNorm, s.AccNormCI, s.AccNormChance = &ns.Acc, &ns.AccCI, &ns.Chance
			out[v]["hellaswag"] = s
		case tasks.TruthfulQA:
			mc1, _ := r.Metric("mc1")
			mc2, _ := r.Metric("mc2")
			out[v]["truthfulqa_mc1"] = scoreOf(r.N, mc1)
			out[v]["truthfulqa_mc2"] = scoreOf(r.N, mc2)
		}
	}
	return out, skipped, nil
}

// continuations are the strings an item's endings are scored as.
func continuations(it *tasks.Item) []string {
	conts := make([]string, len(it.Endings))
	for j, e := range it.Endings {
		conts[j] = tasks.Delimiter + e
	}
	return conts
}

func scoreOf(n int, m tasks.Metric) TaskScore {
	return TaskScore{N: n, Acc: Num(m.Value), AccCI: [2]Num{Num(m.Lo), Num(m.Hi)}, Chance: Num(m.Chance)}
}

// replay is a tasks.Scorer that returns precomputed log-likelihoods in the
// order tasks.Eval asks for them.
type replay struct {
	items []tasks.Item
	ll    [][]float64
	n     [][]int
	i, j  int
}

func (r *replay) LogLik(context, continuation string) (float64, int, error) {
	if r.i >= len(r.items) {
		return 0, 0, errors.New("replay: more requests than items")
	}
	it := &r.items[r.i]
	if context != it.Context || continuation != tasks.Delimiter+it.Endings[r.j] {
		return 0, 0, fmt.Errorf("replay: request %d/%d out of order", r.i, r.j)
	}
	ll, n := r.ll[r.i][r.j], r.n[r.i][r.j]
	if r.j++; r.j == len(it.Endings) {
		r.i, r.j = r.i+1, 0
	}
	return ll, n, nil
}

// compareAll is CompareAll that also returns the original's summed NLL, the
// bytes and the number of predicted tokens (for the original alone when rels
// is empty).
func compareAll(ctx context.Context, orig *model.Model, rels []*model.Model, windows [][]int, ex Exec, progress func(done, total int)) (nll float64, bytes, tokens int, f []Fidelity, err error) {
	if len(rels) > 0 {
		f, err = CompareAll(ctx, orig, rels, windows, ex, progress)
		if err != nil {
			return 0, 0, 0, nil, err
		}
		return f[0].OrigNLL, f[0].Bytes, f[0].Tokens, f, nil
	}
	parts := make([]metrics.PPL, len(windows))
	var st states
	err = ex.each(ctx, len(windows), func(w int, pool *kernel.Pool, wi int) error {
		win := windows[wi]
		s := st.get(w, orig, pool)
		s.Reset(0)
		logits, err := s.ForwardAll(win)
		if err != nil {
			return err
		}
		v := orig.Config.Vocab
		for i := 0; i+1 < len(win); i++ {
			parts[wi].NLL += metrics.NLL(logits[i*v:(i+1)*v], win[i+1])
		}
		parts[wi].Tokens = len(win) - 1
		parts[wi].Bytes = len(orig.Tokenizer.Decode(win[1:]))
		return nil
	}, progress)
	var sum metrics.PPL
	for _, p := range parts {
		sum.Add(p)
	}
	return sum.NLL, sum.Bytes, sum.Tokens, nil, err
}

func texts(gs []Generation) []string {
	out := make([]string, len(gs))
	for i, g := range gs {
		out[i] = g.Text
	}
	return out
}

// timer measures one phase's wall and CPU time into a Results.
type timer struct {
	r     *Results
	name  string
	start time.Time
	cpu   time.Duration
}

func (r *Results) timer(name string) *timer {
	return &timer{r: r, name: name, start: time.Now(), cpu: cpuTime()}
}

func (t *timer) stop() {
	t.r.Timings = append(t.r.Timings, Timing{Phase: t.name,
		WallS: Num(time.Since(t.start).Seconds()), CPUS: Num((cpuTime() - t.cpu).Seconds())})
}
