package eval

import (
	"encoding/json"
	"io"

	"github.com/unswift/unswift/internal/model"
)

// Results is everything an evaluation measured, as written to results.json.
type Results struct {
	Settings Settings        `json:"settings"`
	Machine  Machine         `json:"machine"`
	Data     FileInfo        `json:"data"`
	Original OriginalResult  `json:"original"`
	Orders   []OrderResult   `json:"orders"`   // the first release's (the same slice as Releases[0].Orders)
	Releases []ReleaseResult `json:"releases"` // every release, with its own orders
	Prompts  []string        `json:"prompts"`  // the generation prompts
	Timings  []Timing        `json:"timings"`  // per phase, in order
}

// Settings are the options an evaluation ran with, after defaults.
type Settings struct {
	Command       string         `json:"command,omitempty"`
	Note          string         `json:"note,omitempty"`
	Orders        []int          `json:"orders"`
	CalibTokens   int            `json:"calib_tokens"`
	HeldOutTokens int            `json:"heldout_tokens"`
	DataTokens    int            `json:"data_tokens"`
	HeldOut       string         `json:"heldout"` // which tokens, in words
	PPLProtocol   string         `json:"ppl_protocol"`
	Tasks         []string       `json:"tasks"`
	TaskLimits    map[string]int `json:"task_limits"`  // items sampled per task (−1: all)
	TaskSkipped   map[string]int `json:"task_skipped"` // items dropped: an ending longer than the context
	TaskFiles     []FileInfo     `json:"task_files"`
	NumPrompts    int            `json:"num_prompts"`
	PromptWords   int            `json:"prompt_words"`
	PromptSource  string         `json:"prompt_source"`
	GenTokens     int            `json:"gen_tokens"`
	BenchRounds   int            `json:"bench_rounds"`
	Cost          CostOptions    `json:"cost"` // as run, token counts capped by the context
	Seed          uint64         `json:"seed"`
	OnlyOriginal  bool           `json:"only_original"`
}

func (o *Options) settings() Settings {
	s := Settings{Command: o.Command, Note: o.Note, Orders: o.Orders, CalibTokens: o.CalibTokens, HeldOutTokens: o.HeldOutTokens, PPLProtocol: o.PPLProtocol,
		Tasks: o.Tasks, TaskLimits: map[string]int{}, TaskSkipped: map[string]int{}, NumPrompts: o.NumPrompts, PromptWords: o.PromptWords,
		GenTokens: o.GenTokens, BenchRounds: o.BenchRounds, Seed: o.Seed, OnlyOriginal: o.OnlyOriginal}
	if s.Tasks == nil {
		s.Tasks = []string{}
	}
	for _, t := range o.Tasks {
		l := o.Limit
		if l == 0 {
			l = DefaultLimits[t]
		}
		s.TaskLimits[t] = max(l, -1)
		path := o.HellaSwagPath
		if t == "truthfulqa" {
			path = o.TruthfulQAPath
		}
		if fi, err := fileInfo(path); err == nil {
			s.TaskFiles = append(s.TaskFiles, fi)
		}
	}
	return s
}

// ModelInfo describes a model file's architecture.
type ModelInfo struct {
	Format  string `json:"format"`
	Dim     int    `json:"dim"`
	Hidden  int    `json:"hidden"`
	Layers  int    `json:"layers"`
	Heads   int    `json:"heads"`
	KVHeads int    `json:"kv_heads"`
	Vocab   int    `json:"vocab"`
	Context int    `json:"context"`
}

func modelInfo(m *model.Model) ModelInfo {
	c := m.Config
	return ModelInfo{Format: m.Format, Dim: c.Dim, Hidden: c.Hidden, Layers: c.Layers, Heads: c.Heads, KVHeads: c.KVHeads, Vocab: c.Vocab, Context: c.Context}
}

// Cost fields shared by the original and each order.
type costFields struct {
	GenMsPerToken    Num    `json:"gen_ms_per_token"`     // wall time, median over measurements
	GenMsRange       [2]Num `json:"gen_ms_range"`         // smallest and largest measurement
	GenCPUMsPerToken Num    `json:"gen_cpu_ms_per_token"` // CPU time, median over measurements
	GenCPUMsRange    [2]Num `json:"gen_cpu_ms_range"`
	PromptTokensPerS Num    `json:"prompt_tokens_per_s"` // median over measurements
	PromptRange      [2]Num `json:"prompt_tokens_per_s_range"`
}

func (c *costFields) setCost(k Cost) {
	c.GenMsPerToken, c.GenCPUMsPerToken, c.PromptTokensPerS = Num(k.GenMsMedian), Num(k.GenCPUMsMedian), Num(k.PromptPerSMedian)
	lo, hi := spread(k.GenMs)
	c.GenMsRange = [2]Num{Num(lo), Num(hi)}
	lo, hi = spread(k.GenCPUMs)
	c.GenCPUMsRange = [2]Num{Num(lo), Num(hi)}
	lo, hi = spread(k.PromptPerS)
	c.PromptRange = [2]Num{Num(lo), Num(hi)}
}

// OriginalResult is what was measured on the original alone.
type OriginalResult struct {
	File  FileInfo  `json:"file"`
	Model ModelInfo `json:"model"`
	// PPL and BitsPerByte are on the held-out windows, or by the paragraph
	// protocol when Settings.PPLProtocol says so.
	PPL                 Num                  `json:"ppl"`
	BitsPerByte         Num                  `json:"bits_per_byte"`
	PPLTokens           int                  `json:"ppl_tokens"`
	Tasks               map[string]TaskScore `json:"tasks"`
	WeightBytesPerToken int64                `json:"weight_bytes_per_token"`
	costFields
	Generations []string `json:"generations"`
}

func (o *OriginalResult) describe(m *model.Model) { o.Model = modelInfo(m) }

// ReleaseResult is one release and its orders.
type ReleaseResult struct {
	File          FileInfo      `json:"file"`
	Model         ModelInfo     `json:"model"`
	Basis         string        `json:"basis"` // "taylor", "chebyshev"; "plain" for a plain model
	Tail          string        `json:"tail,omitempty"`
	Center        string        `json:"center,omitempty"`
	ExpandRule    string        `json:"expand_rule,omitempty"`
	ReleasedOrder int           `json:"released_order"` // N the file was built at (−1: plain)
	ExpandedShare Num           `json:"expanded_share"` // fraction of MLP channels expanded
	Orders        []OrderResult `json:"orders"`
	SkippedOrders []int         `json:"skipped_orders,omitempty"` // asked for but above ReleasedOrder
}

func (r *ReleaseResult) describe(m *model.Model) {
	r.Model = modelInfo(m)
	t := m.Taylor
	if t == nil {
		r.Basis, r.ReleasedOrder = "plain", -1
		return
	}
	r.Basis, r.Tail, r.Center, r.ExpandRule, r.ReleasedOrder = t.Basis, t.Tail, t.Center, t.ExpandRule, t.Order
	e := 0
	for _, n := range t.Expanded {
		e += n
	}
	r.ExpandedShare = Num(float64(e) / float64(m.Config.Layers*m.Config.Hidden))
}

// Label names a release in tables and legends: its file name and basis.
func (r *ReleaseResult) Label() string {
	return baseName(r.File.Path) + " (" + r.Basis + ")"
}

// OrderResult is one release run at one order, compared with the original.
type OrderResult struct {
	Order int `json:"order"` // −1: a plain model
	// Distribution fidelity on the held-out windows: per-token
	// KL(original ‖ release) in nats, and top-1 agreement.
	KLMean        Num `json:"kl_mean"`
	KLP50         Num `json:"kl_p50"`
	KLP99         Num `json:"kl_p99"`
	KLMax         Num `json:"kl_max"`
	Top1          Num `json:"top1_agreement"`
	HeldOutTokens int `json:"heldout_tokens"`
	// PPL and BitsPerByte are the release's, measured like the original's.
	PPL         Num `json:"ppl"`
	BitsPerByte Num `json:"bits_per_byte"`
	// Generation fidelity: mean ROUGE F1 of the release's greedy text against
	// the original's, identical continuations, and where they first differ.
	Rouge1          Num      `json:"rouge1"`
	RougeL          Num      `json:"rougeL"`
	Identical       int      `json:"identical_generations"`
	FirstDivergence []int    `json:"first_divergence"` // per prompt, −1 when identical
	MeanAgreeing    Num      `json:"mean_agreeing_tokens"`
	Generations     []string `json:"generations"`
	// Task accuracy.
	Tasks map[string]TaskScore `json:"tasks"`
	// Cost.
	costFields
	Slowdown         Num    `json:"slowdown"`           // median of per-round wall-latency ratios to the original
	SlowdownRange    [2]Num `json:"slowdown_range"`     // smallest and largest per-round ratio
	SlowdownCPU      Num    `json:"slowdown_cpu"`       // the same from CPU time per token
	SlowdownCPURange [2]Num `json:"slowdown_cpu_range"` // smallest and largest
	// PredictedSlowdown is the release's weight bytes per token over those
	// of the same file with the original down projections back (what the
	// TaylorMLP adds); PredictedSlowdownFile is over the original file's own,
	// which differs when the release stores tensors in another type (a
	// llama2.c Q8 original's unchanged tensors are released as F32).
	PredictedSlowdown     Num   `json:"predicted_slowdown"`
	PredictedSlowdownFile Num   `json:"predicted_slowdown_file"`
	WeightBytesPerToken   int64 `json:"weight_bytes_per_token"`
}

// TaskScore is one task metric: accuracy with its 95% interval and the
// chance level (for TruthfulQA MC2, "acc" is the MC2 score).
type TaskScore struct {
	N      int    `json:"n"`
	Acc    Num    `json:"acc"`
	AccCI  [2]Num `json:"acc_ci95"`
	Chance Num    `json:"acc_chance"`
	// HellaSwag only: the length-normalized accuracy.
	AccNorm       *Num    `json:"acc_norm,omitempty"`
	AccNormCI     *[2]Num `json:"acc_norm_ci95,omitempty"`
	AccNormChance *Num    `json:"acc_norm_chance,omitempty"`
}

// Timing is the time one phase took.
type Timing struct {
	Phase string `json:"phase"`
	WallS Num    `json:"wall_s"`
	CPUS  Num    `json:"cpu_s"` // CPU time of the process: wall time an idle machine would need ≈ CPUS / threads for parallel phases
}

// WriteJSON writes r as indented JSON.
func (r *Results) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}
