package eval

import (
	"bufio"
	"bytes"
	"compress/bzip2"
	"context"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/unswift/unswift/internal/calib"
	"github.com/unswift/unswift/internal/gguf"
	"github.com/unswift/unswift/internal/kernel"
	"github.com/unswift/unswift/internal/metrics"
	"github.com/unswift/unswift/internal/model"
	"github.com/unswift/unswift/internal/release"
	"github.com/unswift/unswift/internal/shared"
	"github.com/unswift/unswift/internal/tensor"
)

const (
	storiesGGUF = "models/stories260K/stories260K.gguf"
	shakespeare = "models/shakespeare2M-q80/shakespeare_q80.bin"
	storiesText = "data/tinystories_valid_prefix.txt"
	shakesText  = "data/tinyshakespeare_input.txt"
	hellaswag   = "data/hellaswag_val_full.txt.bz2"
	truthfulqa  = "data/TruthfulQA.csv"
)

// quickCalib is the calibration slice of the test releases: small, for speed.
const quickCalib = 2000

func openModel(t *testing.T, rel string) *model.Model {
	t.Helper()
	m, err := model.Open(shared.Need(t, rel), model.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

// secureQuick writes a release of m at order n calibrated on the first
// quickCalib tokens of the shared text file, and returns its path.
func secureQuick(t *testing.T, m *model.Model, text string, n int) string {
	t.Helper()
	raw, err := os.ReadFile(shared.Need(t, text))
	if err != nil {
		t.Fatal(err)
	}
	cal, err := calib.Collect(context.Background(), m, nil, string(raw), calib.Options{Tokens: quickCalib})
	if err != nil {
		t.Fatal(err)
	}
	seed := uint64(1)
	opt := release.Options{Order: n, DType: tensor.F32, Seed: &seed}
	plan, err := release.NewPlan(m, cal, opt)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "release.gguf")
	if err := release.Write(path, m, plan, opt); err != nil {
		t.Fatal(err)
	}
	return path
}

// quickOptions are options for a fast run on stories260K.
func quickOptions(t *testing.T) Options {
	return Options{
		Original: shared.Need(t, storiesGGUF), Data: shared.Need(t, storiesText),
		CalibTokens: quickCalib, HeldOutTokens: 384, NumPrompts: 2, GenTokens: 24, BenchRounds: 1,
		Tasks: []string{"hellaswag", "truthfulqa"}, HellaSwagPath: smallHellaSwag(t), TruthfulQAPath: shared.Need(t, truthfulqa),
		Limit: 3, Seed: 1,
	}
}

// smallHellaSwag writes the first 40 HellaSwag tasks, uncompressed, to a
// temporary file (decompressing all 10,042 would dominate the quick runs).
func smallHellaSwag(t *testing.T) string {
	t.Helper()
	f, err := os.Open(shared.Need(t, hellaswag))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(bzip2.NewReader(f))
	sc.Buffer(nil, 1<<20)
	var b strings.Builder
	for i := 0; i < 40*6 && sc.Scan(); i++ {
		b.WriteString(sc.Text() + "\n")
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "hellaswag40.txt")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestScorerMatchesDirectSum checks the scorer's log-likelihood against the
// log-softmax of one plain forward pass over context and continuation, the
// token boundary (the continuation keeps its space as the joint encoding
// has it), and that the context cache changes nothing.
func TestScorerMatchesDirectSum(t *testing.T) {
	m := openModel(t, storiesGGUF)
	tok := m.Tokenizer
	cases := []struct{ ctx, cont string }{
		{"Once upon a time, there was a little girl named", " Lily"},
		{"Once upon a time, there was a little girl named", " Tom. He liked to play"},
		{"Once upon a time, there was a little", " dog"},
		{"The cat sat on the mat. ", "It was happy."}, // trailing space moves to the continuation
	}
	cached := NewScorer(m, nil)
	for _, c := range cases {
		trimmed := strings.TrimRight(c.ctx, " ")
		moved := c.ctx[len(trimmed):]
		ctxTok := tok.Encode(trimmed, true)
		whole := tok.Encode(trimmed+moved+c.cont, true)
		contTok := whole[len(ctxTok):]
		if !slices.Equal(whole[:len(ctxTok)], ctxTok) {
			t.Fatalf("%q: the joint encoding does not start with the context's tokens", c.ctx)
		}
		// Independent sum: one forward pass over the whole sequence.
		s := m.NewState(nil, 0)
		logits, err := s.ForwardAll(whole)
		if err != nil {
			t.Fatal(err)
		}
		want := 0.0
		v := m.Config.Vocab
		for i := len(ctxTok); i < len(whole); i++ {
			want += metrics.LogSoftmax(logits[(i-1)*v : i*v])[whole[i]]
		}
		for name, sc := range map[string]*Scorer{"fresh": NewScorer(m, nil), "cached": cached} {
			got, n, err := sc.LogLik(c.ctx, c.cont)
			if err != nil {
				t.Fatal(err)
			}
			if n != len(contTok) {
				t.Errorf("%s %q+%q: %d tokens, want %d", name, c.ctx, c.cont, n, len(contTok))
			}
			if math.Abs(got-want) > 1e-4*math.Max(1, math.Abs(want)) {
				t.Errorf("%s %q+%q: log-likelihood %.6f, direct sum %.6f", name, c.ctx, c.cont, got, want)
			}
		}
	}
	// " Lily" after "named" is the word with its space, as in the joint text.
	_, conts, err := cached.encode("Once upon a time, there was a little girl named", []string{" Lily"})
	if err != nil {
		t.Fatal(err)
	}
	if got := tok.Decode(conts[0]); got != " Lily" {
		t.Errorf("continuation tokens decode to %q, want %q", got, " Lily")
	}
}

// TestScorerTruncation: a context longer than the model's is cut from the
// start (BOS kept), once for the longest continuation.
func TestScorerTruncation(t *testing.T) {
	m := openModel(t, storiesGGUF)
	long := strings.Repeat("Once upon a time there was a dog. ", 40)
	sc := NewScorer(m, nil)
	ll, n, err := sc.LogLiks(long, []string{" The dog ran.", " The dog ran away to the big park to play."})
	if err != nil {
		t.Fatal(err)
	}
	if len(sc.cached)+n[1] != m.Config.Context {
		t.Errorf("context of %d tokens + longest continuation %d ≠ the context length %d", len(sc.cached), n[1], m.Config.Context)
	}
	if sc.cached[0] != m.Tokenizer.BOS() {
		t.Errorf("truncated context starts with %d, not BOS", sc.cached[0])
	}
	for _, x := range ll {
		if math.IsNaN(x) || x >= 0 {
			t.Errorf("log-likelihood %v", x)
		}
	}
	if _, _, err := sc.LogLik("Hi", strings.Repeat(" word", 400)); err == nil {
		t.Error("a continuation longer than the context was scored")
	}
}

// TestSelfEvaluation evaluates the original against itself: KL exactly 0,
// ROUGE exactly 1, identical generations and equal task scores; and checks
// the results.json keys other tools rely on.
func TestSelfEvaluation(t *testing.T) {
	opt := quickOptions(t)
	opt.Releases = []string{opt.Original}
	res, err := Run(context.Background(), opt)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Orders) != 1 || res.Releases[0].Basis != "plain" {
		t.Fatalf("want one plain comparison, got %+v", res.Orders)
	}
	o := res.Orders[0]
	if o.KLMean != 0 || o.KLMax != 0 || o.Top1 != 1 {
		t.Errorf("self KL mean %v max %v top-1 %v, want 0, 0, 1", o.KLMean, o.KLMax, o.Top1)
	}
	if o.Rouge1 != 1 || o.RougeL != 1 || o.Identical != len(res.Prompts) {
		t.Errorf("self ROUGE-1 %v ROUGE-L %v identical %d/%d, want 1, 1, all", o.Rouge1, o.RougeL, o.Identical, len(res.Prompts))
	}
	if o.PPL != res.Original.PPL {
		t.Errorf("self perplexity %v, original %v", o.PPL, res.Original.PPL)
	}
	for k, s := range res.Original.Tasks {
		if o.Tasks[k].Acc != s.Acc {
			t.Errorf("task %s: %v vs the original's %v", k, o.Tasks[k].Acc, s.Acc)
		}
	}
	var buf bytes.Buffer
	if err := res.WriteJSON(&buf); err != nil {
		t.Fatal(err)
	}
	var js map[string]any
	if err := json.Unmarshal(buf.Bytes(), &js); err != nil {
		t.Fatal(err)
	}
	orig := js["original"].(map[string]any)
	for _, k := range []string{"ppl", "bits_per_byte", "tasks", "gen_ms_per_token"} {
		if _, ok := orig[k]; !ok {
			t.Errorf("results.json: original.%s missing", k)
		}
	}
	ord := js["orders"].([]any)[0].(map[string]any)
	for _, k := range []string{"order", "kl_mean", "kl_p99", "top1_agreement", "rouge1", "rougeL", "ppl", "bits_per_byte",
		"gen_ms_per_token", "slowdown", "predicted_slowdown", "tasks"} {
		if _, ok := ord[k]; !ok {
			t.Errorf("results.json: orders[0].%s missing", k)
		}
	}
	for _, tasks := range []map[string]any{orig["tasks"].(map[string]any), ord["tasks"].(map[string]any)} {
		hs := tasks["hellaswag"].(map[string]any)
		for _, k := range []string{"acc", "acc_norm"} {
			if _, ok := hs[k].(float64); !ok {
				t.Errorf("results.json: tasks.hellaswag.%s missing or not a number", k)
			}
		}
		for _, k := range []string{"truthfulqa_mc1", "truthfulqa_mc2"} {
			if _, ok := tasks[k].(map[string]any)["acc"].(float64); !ok {
				t.Errorf("results.json: tasks.%s.acc missing", k)
			}
		}
	}
	for _, k := range []string{"settings", "machine", "timings"} {
		if _, ok := js[k]; !ok {
			t.Errorf("results.json: %s missing", k)
		}
	}
	if f := js["original"].(map[string]any)["file"].(map[string]any)["sha256"].(string); len(f) != 64 {
		t.Errorf("original sha256 %q", f)
	}
}

// TestEndToEnd secures stories260K at order 4 and runs a quick evaluation at
// three orders through the report: fidelity improves with N, cost grows,
// every file is written.
func TestEndToEnd(t *testing.T) {
	m := openModel(t, storiesGGUF)
	opt := quickOptions(t)
	opt.Releases = []string{secureQuick(t, m, storiesText, 4)}
	opt.Orders = []int{0, 2, 4, 6} // 6 is above the release's N: skipped
	res, err := Run(context.Background(), opt)
	if err != nil {
		t.Fatal(err)
	}
	if got := len(res.Orders); got != 3 || !slices.Equal(res.Releases[0].SkippedOrders, []int{6}) {
		t.Fatalf("%d orders, skipped %v; want 3 and [6]", got, res.Releases[0].SkippedOrders)
	}
	o := res.Orders
	if !(o[0].KLMean > o[1].KLMean && o[1].KLMean > o[2].KLMean && o[2].KLMean > 0) {
		t.Errorf("mean KL at N = 0, 2, 4: %v %v %v, want strictly decreasing and positive", o[0].KLMean, o[1].KLMean, o[2].KLMean)
	}
	if o[2].KLMean > 1e-2 {
		t.Errorf("mean KL at N = 4 is %v", o[2].KLMean)
	}
	if !(o[0].PredictedSlowdown < o[1].PredictedSlowdown && o[1].PredictedSlowdown < o[2].PredictedSlowdown) {
		t.Errorf("predicted slowdowns %v %v %v, want increasing", o[0].PredictedSlowdown, o[1].PredictedSlowdown, o[2].PredictedSlowdown)
	}
	for _, x := range o {
		if !(x.GenMsPerToken > 0) || !(x.Slowdown > 0) || len(x.Generations) != 2 {
			t.Errorf("N=%d: latency %v, slowdown %v, %d generations", x.Order, x.GenMsPerToken, x.Slowdown, len(x.Generations))
		}
		if x.Tasks["hellaswag"].N+res.Settings.TaskSkipped["hellaswag"] != 3 || x.Tasks["truthfulqa_mc1"].N != 3 {
			t.Errorf("N=%d: task items %+v", x.Order, x.Tasks)
		}
	}
	dir := t.TempDir()
	if err := res.WriteReport(dir); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"report.md", "results.json", "fig5.png", "fig5.svg", "latency.png", "latency.svg",
		"tasks-hellaswag.png", "tasks-truthfulqa.svg", "frontier.png", "frontier.svg"} {
		if st, err := os.Stat(filepath.Join(dir, f)); err != nil || st.Size() == 0 {
			t.Errorf("%s not written: %v", f, err)
		}
	}
	md, _ := os.ReadFile(filepath.Join(dir, "report.md"))
	for _, want := range []string{"## Table 1", "| cost | CPU time per token (slowdown) |", "![", "## Time"} {
		if !bytes.Contains(md, []byte(want)) {
			t.Errorf("report.md lacks %q", want)
		}
	}
}

// TestOnlyOriginal evaluates the original alone with the paragraph protocol.
func TestOnlyOriginal(t *testing.T) {
	opt := quickOptions(t)
	opt.OnlyOriginal, opt.PPLProtocol, opt.Tasks = true, "paragraphs", nil
	// The first 40 stories: fewer than the protocol's 200 paragraphs, so all
	// of them count, and enough tokens for the held-out slice.
	raw, err := os.ReadFile(opt.Data)
	if err != nil {
		t.Fatal(err)
	}
	opt.Data = filepath.Join(t.TempDir(), "stories.txt")
	if err := os.WriteFile(opt.Data, []byte(strings.Join(metrics.Paragraphs(string(raw), 40), "\n\n")), 0o644); err != nil {
		t.Fatal(err)
	}
	res, err := Run(context.Background(), opt)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Orders) != 0 || !(res.Original.PPL > 1) || !(res.Original.BitsPerByte > 0) {
		t.Errorf("orders %d, ppl %v, bits/byte %v", len(res.Orders), res.Original.PPL, res.Original.BitsPerByte)
	}
	// The protocol's numbers, recomputed from the protocol's text directly.
	raw, _ = os.ReadFile(opt.Data)
	m := openModel(t, storiesGGUF)
	var sum metrics.PPL
	for _, p := range metrics.Paragraphs(string(raw), ParagraphPieces) {
		ids := m.Tokenizer.Encode(p, true)
		ids = ids[:min(len(ids), m.Config.Context)]
		s := m.NewState(nil, 0)
		lg, err := s.ForwardAll(ids)
		if err != nil {
			t.Fatal(err)
		}
		for i := 1; i < len(ids); i++ {
			sum.NLL -= metrics.LogSoftmax(lg[(i-1)*m.Config.Vocab : i*m.Config.Vocab])[ids[i]]
		}
		sum.Tokens += len(ids) - 1
		sum.Bytes += len(p)
	}
	if sum.Tokens != res.Original.PPLTokens || math.Abs(sum.PPL()-float64(res.Original.PPL)) > 1e-6*sum.PPL() {
		t.Errorf("paragraph protocol: %d tokens, ppl %v; direct: %d tokens, ppl %v", res.Original.PPLTokens, res.Original.PPL, sum.Tokens, sum.PPL())
	}
	if math.Abs(sum.BitsPerByte()-float64(res.Original.BitsPerByte)) > 1e-6 {
		t.Errorf("bits/byte %v, direct %v", res.Original.BitsPerByte, sum.BitsPerByte())
	}
}

// TestCheckDerived: a release passes against its original, also when the
// original is a llama2.c Q8 checkpoint whose tensors the release stores as
// F32; another model, or the same architecture with one weight changed, is
// refused with an error naming the difference.
func TestCheckDerived(t *testing.T) {
	stories := openModel(t, storiesGGUF)
	shakes := openModel(t, shakespeare)
	open := func(path string) *model.Model {
		m, err := model.Open(path, model.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { m.Close() })
		return m
	}
	relStories := open(secureQuick(t, stories, storiesText, 2))
	relShakes := open(secureQuick(t, shakes, shakesText, 2))
	if err := CheckDerived(stories, relStories); err != nil {
		t.Errorf("stories260K release: %v", err)
	}
	if err := CheckDerived(shakes, relShakes); err != nil {
		t.Errorf("shakespeare (Q8) release: %v", err)
	}
	// A copy of stories260K with one attention weight changed, and its release.
	changed := filepath.Join(t.TempDir(), "changed.gguf")
	var meta []gguf.KV
	for _, k := range stories.GGUF.Keys() {
		if k == gguf.KeyAlignment {
			continue
		}
		v, _ := stories.GGUF.Value(k)
		meta = append(meta, gguf.KV{Key: k, Value: v})
	}
	var tensors []*tensor.Tensor
	for _, x := range stories.Tensors {
		c := *x
		if x.Name == "blk.0.attn_q.weight" {
			c.Data = slices.Clone(x.Data)
			c.Data[100] ^= 1 // one low mantissa bit
		}
		tensors = append(tensors, &c)
	}
	if err := gguf.WriteFile(changed, meta, tensors); err != nil {
		t.Fatal(err)
	}
	other := open(changed)
	relOther := open(secureQuick(t, other, storiesText, 2))
	for _, tc := range []struct {
		name      string
		orig, rel *model.Model
		want      string
	}{
		{"another architecture", stories, relShakes, "embedding length"},
		{"another architecture, reversed", shakes, relStories, "embedding length"},
		{"one weight changed", stories, relOther, "blk.0.attn_q.weight differs"},
		{"plain model with one weight changed", stories, other, "blk.0.attn_q.weight differs"},
		{"release as original", relStories, relStories, "is itself a TaylorMLP release"},
	} {
		err := CheckDerived(tc.orig, tc.rel)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one containing %q", tc.name, err, tc.want)
		}
	}
}

// TestRunBadInput: bad options give errors that name the problem.
func TestRunBadInput(t *testing.T) {
	base := quickOptions(t)
	base.Releases = []string{base.Original}
	shakes := shared.Need(t, shakespeare)
	for _, tc := range []struct {
		name string
		edit func(*Options)
		want string
	}{
		{"unreadable data", func(o *Options) { o.Data = filepath.Join(t.TempDir(), "missing.txt") }, "reading the held-out data"},
		{"unknown task", func(o *Options) { o.Tasks = []string{"hellaswag", "mmlu"} }, `unknown task "mmlu"`},
		{"unreadable task file", func(o *Options) { o.HellaSwagPath = filepath.Join(t.TempDir(), "none.bz2") }, "none.bz2"},
		{"release of another model", func(o *Options) { o.Releases = []string{shakes} }, "is not derived from"},
		{"missing release", func(o *Options) { o.Releases = []string{filepath.Join(t.TempDir(), "r.gguf")} }, "r.gguf"},
		{"no release", func(o *Options) { o.Releases = nil }, "no release"},
		{"unknown protocol", func(o *Options) { o.PPLProtocol = "wiki" }, "unknown perplexity protocol"},
		{"negative order", func(o *Options) { o.Orders = []int{-1, 2} }, "negative"},
		{"held-out overlaps calibration", func(o *Options) { o.CalibTokens = 1 << 30 }, "too few"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opt := base
			tc.edit(&opt)
			_, err := Run(context.Background(), opt)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

// TestCompareAllDeterministic: spreading windows over workers changes no
// number, and Compare agrees with CompareAll.
func TestCompareAllDeterministic(t *testing.T) {
	m := openModel(t, storiesGGUF)
	rel, err := model.Open(secureQuick(t, m, storiesText, 4), model.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer rel.Close()
	raw, _ := os.ReadFile(shared.Need(t, storiesText))
	held, err := HeldOut(m.Tokenizer.Encode(string(raw[len(raw)-20000:]), false), 0, 600)
	if err != nil {
		t.Fatal(err)
	}
	w := Windows(held, m.Config.Context, m.Tokenizer.BOS())
	one, err := CompareAll(context.Background(), m, []*model.Model{rel, m}, w, Exec{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	pool := kernel.NewPool(2)
	defer pool.Close()
	par, err := CompareAll(context.Background(), m, []*model.Model{rel, m}, w, Exec{Workers: 3}, nil)
	if err != nil {
		t.Fatal(err)
	}
	single, err := Compare(context.Background(), m, rel, nil, w, nil)
	if err != nil {
		t.Fatal(err)
	}
	if one[0].KL != par[0].KL || one[0].RelNLL != par[0].RelNLL || one[0].Top1 != par[0].Top1 || one[0].KL != single.KL {
		t.Errorf("1 worker %+v\n3 workers %+v\nCompare %+v", one[0], par[0], single)
	}
	if one[1].KL.Max != 0 || one[1].Top1 != 1 || one[1].RelNLL != one[1].OrigNLL {
		t.Errorf("original against itself: %+v", one[1])
	}
	if one[0].Tokens != len(held) || one[0].Bytes == 0 {
		t.Errorf("%d predictions of %d held-out tokens, %d bytes", one[0].Tokens, len(held), one[0].Bytes)
	}
}

func TestOpenings(t *testing.T) {
	text := "First story starts here and goes on for a while.\n\n" +
		"Short one.\n\n" +
		"ROMEO:\nBut soft, what light through yonder window breaks?\n\n" +
		"  Once upon a time there was a little girl named Lily.  \n\n" +
		"The end.\n"
	for _, tc := range []struct {
		k, words int
		want     []string
	}{
		{2, 4, []string{"ROMEO:\nBut soft, what", "Once upon a time"}},
		{1, 4, []string{"Once upon a time"}},
		{9, 4, []string{"First story starts here", "ROMEO:\nBut soft, what", "Once upon a time"}},
		{9, 10, []string{"Once upon a time there was a little girl named"}},
		{3, 11, nil},
	} {
		if got := Openings(text, tc.k, tc.words); !slices.Equal(got, tc.want) {
			t.Errorf("Openings(k=%d, words=%d) = %q, want %q", tc.k, tc.words, got, tc.want)
		}
	}
}

func TestCompareGenerations(t *testing.T) {
	orig := []Generation{{Tokens: []int{1, 2, 3, 4}, Text: "the cat sat down"}, {Tokens: []int{5, 6}, Text: "a dog"}}
	same := CompareGenerations(orig, orig)
	if same.Rouge1 != 1 || same.RougeL != 1 || same.Identical != 2 || same.MeanAgreeing != 3 || !slices.Equal(same.FirstDivergence, []int{-1, -1}) {
		t.Errorf("identical: %+v", same)
	}
	rel := []Generation{{Tokens: []int{1, 2, 9, 4}, Text: "the cat ran down"}, {Tokens: []int{7}, Text: "cats"}}
	got := CompareGenerations(orig, rel)
	// ROUGE-1: 3 of 4 words shared (F1 0.75), then nothing shared (0): mean 0.375.
	// ROUGE-L: LCS "the cat down" = 3 of 4 (0.75), then 0.
	if got.Rouge1 != 0.375 || got.RougeL != 0.375 || got.Identical != 0 || !slices.Equal(got.FirstDivergence, []int{2, 0}) || got.MeanAgreeing != 1 {
		t.Errorf("different: %+v", got)
	}
}

func TestNumJSON(t *testing.T) {
	b, err := json.Marshal([]Num{1.5, Num(math.NaN()), Num(math.Inf(1)), 1e-7})
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != "[1.5,null,null,1e-07]" {
		t.Errorf("got %s", b)
	}
	var back []Num
	if err := json.Unmarshal(b, &back); err != nil || back[0] != 1.5 || !math.IsNaN(float64(back[1])) {
		t.Errorf("read back %v, %v", back, err)
	}
}

func TestMedianSpread(t *testing.T) {
	for _, tc := range []struct {
		xs          []float64
		med, lo, hi float64
	}{
		{[]float64{3, 1, 2}, 2, 1, 3},
		{[]float64{4, 1, 3, 2}, 2.5, 1, 4},
		{[]float64{7}, 7, 7, 7},
	} {
		lo, hi := spread(tc.xs)
		if m := median(tc.xs); m != tc.med || lo != tc.lo || hi != tc.hi {
			t.Errorf("%v: median %v [%v, %v], want %v [%v, %v]", tc.xs, m, lo, hi, tc.med, tc.lo, tc.hi)
		}
	}
	if !math.IsNaN(median(nil)) {
		t.Error("median of nothing is not NaN")
	}
}

// TestMeasureCost: the same model measured against itself has a slowdown
// near 1, and every measurement is recorded.
func TestMeasureCost(t *testing.T) {
	m := openModel(t, storiesGGUF)
	const rounds = 3
	c, err := MeasureCost(context.Background(), []*model.Model{m, m}, nil, CostOptions{Rounds: rounds, PromptTokens: 16, GenTokens: 16, MinMillis: 5, Seed: 1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(c) != 2 || len(c[1].Ratio) != rounds || len(c[1].GenMs) != rounds || len(c[0].GenMs) != 2*rounds {
		t.Fatalf("measurements: %d models, %d ratios, %d and %d latencies", len(c), len(c[1].Ratio), len(c[1].GenMs), len(c[0].GenMs))
	}
	if c[0].Slowdown != 1 || !(c[1].GenMsMedian > 0) || !(c[1].PromptPerSMedian > 0) {
		t.Errorf("reference slowdown %v, latency %v ms, prompt %v tokens/s", c[0].Slowdown, c[1].GenMsMedian, c[1].PromptPerSMedian)
	}
	// CPU time is immune to waiting for a core; the same work costs the same.
	if len(c[1].CPURatio) == rounds && !(c[1].SlowdownCPU > 0.5 && c[1].SlowdownCPU < 2) {
		t.Errorf("the model against itself: CPU-time slowdown %v", c[1].SlowdownCPU)
	}
	if _, err := MeasureCost(context.Background(), []*model.Model{m}, nil, CostOptions{}, nil); err == nil {
		t.Error("zero rounds accepted")
	}
}

// TestScorerHistoryIndependent: with a shared prefix, a request's numbers do
// not depend on what was scored before (what makes parallel task scoring
// deterministic), and they agree with scoring without the prefix.
func TestScorerHistoryIndependent(t *testing.T) {
	m := openModel(t, storiesGGUF)
	qs := []string{"What is the sky?", "Why do cats purr?", "What is the sky made of?"}
	var ctxs []string
	for _, q := range qs {
		ctxs = append(ctxs, "Q: Where do fish live?\nA: In water.\n\nQ: "+q+"\nA:")
	}
	conts := []string{" It is blue.", " They are happy."}
	score := func(sc *Scorer, order []int) map[int][]float64 {
		out := map[int][]float64{}
		for _, i := range order {
			ll, _, err := sc.LogLiks(ctxs[i], conts)
			if err != nil {
				t.Fatal(err)
			}
			out[i] = ll
		}
		return out
	}
	a, b := NewScorer(m, nil), NewScorer(m, nil)
	a.SharePrefix(ctxs)
	b.SharePrefix(ctxs)
	if len(a.prefix) < 10 {
		t.Fatalf("shared prefix of %d tokens", len(a.prefix))
	}
	first, second := score(a, []int{0, 1, 2}), score(b, []int{2, 0, 1, 1})
	plain := score(NewScorer(m, nil), []int{0, 1, 2})
	for i := range ctxs {
		if !slices.Equal(first[i], second[i]) {
			t.Errorf("context %d: %v scored after others, %v in another order", i, first[i], second[i])
		}
		for j := range conts {
			if math.Abs(first[i][j]-plain[i][j]) > 1e-4*math.Max(1, math.Abs(plain[i][j])) {
				t.Errorf("context %d ending %d: %v with the shared prefix, %v without", i, j, first[i][j], plain[i][j])
			}
		}
	}
}
