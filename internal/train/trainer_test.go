package train

import (
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/unswift/unswift/internal/kernel"
	"github.com/unswift/unswift/internal/shared"
	"github.com/unswift/unswift/internal/tensor"
)

func TestSchedule(t *testing.T) {
	o := Options{LR: 1, MinLR: 0.1, Warmup: 4, Steps: 14}
	cases := []struct {
		step int
		want float64
	}{
		{0, 0.25}, {1, 0.5}, {3, 1}, // linear warm-up
		{4, 1},                // cosine starts at LR
		{9, 0.55},             // half way: (LR+MinLR)/2
		{14, 0.1}, {100, 0.1}, // ends at MinLR and stays there
	}
	for _, c := range cases {
		if got := o.LRAt(c.step); math.Abs(got-c.want) > 1e-12 {
			t.Errorf("LRAt(%d) = %v, want %v", c.step, got, c.want)
		}
	}
	flat := Options{LR: 2}
	if got := flat.LRAt(50); got != 2 {
		t.Errorf("constant schedule: LRAt(50) = %v", got)
	}
}

func TestOptionsErrors(t *testing.T) {
	p, _ := NewParamSet[float32](tinyConfig(), false)
	for _, o := range []Options{
		{},
		{LR: -1},
		{LR: 1, MinLR: 2},
		{LR: 1, Beta1: 1},
		{LR: 1, Beta2: -0.5},
		{LR: 1, WeightDecay: -1},
		{LR: 1, ClipNorm: math.NaN()},
		{LR: 1, Warmup: -3},
		{LR: 1, Temperature: -1},
	} {
		if _, err := NewTrainer(p, nil, o); err == nil {
			t.Errorf("options %+v accepted", o)
		}
	}
}

// TestAdamW checks two updates of one tensor against the AdamW formulas
// evaluated here, with clipping and decoupled weight decay, and that norm
// weights are not decayed.
func TestAdamW(t *testing.T) {
	p, _ := NewParamSet[float32](tinyConfig(), false)
	sel := func(n string) bool { return n == "blk.0.attn_q.weight" || n == "blk.0.ffn_norm.weight" }
	p.SetTrainable(sel)
	o := Options{LR: 0.01, Beta1: 0.8, Beta2: 0.9, Eps: 1e-6, WeightDecay: 0.1, ClipNorm: 0.5}
	tr, err := NewTrainer(p, nil, o)
	if err != nil {
		t.Fatal(err)
	}
	q, nw := p.Lookup("blk.0.attn_q.weight"), p.Lookup("blk.0.ffn_norm.weight")
	rng := rand.New(rand.NewPCG(1, 1))
	for i := range q.W {
		q.W[i] = float32(rng.NormFloat64())
	}
	type ref struct{ w, m, v float64 }
	refs := map[*Param[float32]][]ref{}
	for _, x := range []*Param[float32]{q, nw} {
		for _, w := range x.W {
			refs[x] = append(refs[x], ref{w: float64(w)})
		}
	}
	for step := 1; step <= 2; step++ {
		var ss float64
		for _, x := range []*Param[float32]{q, nw} {
			x.gzero = false // G is written here, not by a backward pass
			for i := range x.G {
				x.G[i] = float32(rng.NormFloat64())
				ss += float64(x.G[i]) * float64(x.G[i])
			}
		}
		scale := math.Min(1, o.ClipNorm/math.Sqrt(ss))
		for _, x := range []*Param[float32]{q, nw} {
			wd := o.WeightDecay
			if x == nw {
				wd = 0
			}
			for i := range x.W {
				r := &refs[x][i]
				g := float64(x.G[i]) * scale
				r.m = o.Beta1*r.m + (1-o.Beta1)*g
				r.v = o.Beta2*r.v + (1-o.Beta2)*g*g
				mh := r.m / (1 - math.Pow(o.Beta1, float64(step)))
				vh := r.v / (1 - math.Pow(o.Beta2, float64(step)))
				r.w = r.w - o.LR*wd*r.w - o.LR*mh/(math.Sqrt(vh)+o.Eps)
			}
		}
		if err := tr.Update(); err != nil {
			t.Fatal(err)
		}
		if math.Abs(tr.GradNorm()-math.Sqrt(ss)) > 1e-9*math.Sqrt(ss) {
			t.Errorf("GradNorm %v, want %v", tr.GradNorm(), math.Sqrt(ss))
		}
		for _, x := range []*Param[float32]{q, nw} {
			for i, w := range x.W {
				if want := refs[x][i].w; math.Abs(float64(w)-want) > 1e-6*math.Max(1, math.Abs(want)) {
					t.Fatalf("step %d: %s[%d] = %v, want %v", step, x.Name, i, w, want)
				}
			}
			if slices.ContainsFunc(x.gradient(), func(g float32) bool { return g != 0 }) {
				t.Fatalf("gradients of %s not reset by Update", x.Name)
			}
		}
	}
	if tr.StepCount() != 2 {
		t.Errorf("StepCount %d", tr.StepCount())
	}
}

// TestBatchErrors checks that bad batches are refused with an error.
func TestBatchErrors(t *testing.T) {
	c := tinyConfig()
	p := randomSet[float32](t, c, false, 1)
	p.SetTrainable(All)
	tr, _ := NewTrainer(p, nil, Options{LR: 1e-3})
	good := []int{1, 2, 3, 4}
	cases := []struct {
		name    string
		batch   [][]int
		teacher [][]float32
		want    string
	}{
		{"empty", nil, nil, "empty batch"},
		{"ragged", [][]int{good, {1, 2}}, nil, "equal lengths"},
		{"token range", [][]int{{1, 2, 20}}, nil, "outside the vocabulary"},
		{"negative token", [][]int{{1, -1, 3}}, nil, "outside the vocabulary"},
		{"too short", [][]int{{1}}, nil, "too short"},
		{"too long", [][]int{make([]int, c.Context+2)}, nil, "exceed the context"},
		{"teacher count", [][]int{good}, [][]float32{{}, {}}, "teacher logit sets"},
		{"teacher size", [][]int{good}, [][]float32{make([]float32, 3)}, "teacher logits of sequence 0"},
	}
	for _, c := range cases {
		_, err := tr.Step(c.batch, c.teacher)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want one mentioning %q", c.name, err, c.want)
		}
	}
	// A sliding window (Mistral, Qwen2) bounds the sequences the engine takes.
	c.SlidingWindow = 3
	pw := randomSet[float32](t, c, false, 1)
	pw.SetTrainable(All)
	trw, _ := NewTrainer(pw, nil, Options{LR: 1e-3})
	if _, err := trw.Step([][]int{good}, nil); err != nil {
		t.Errorf("3 tokens in a window of 3: %v", err)
	}
	if _, err := trw.Step([][]int{{1, 2, 3, 4, 5}}, nil); err == nil || !strings.Contains(err.Error(), "sliding attention window 3") {
		t.Errorf("4 tokens in a window of 3: err = %v", err)
	}
	p.SetTrainable(func(string) bool { return false })
	if _, err := tr.Step([][]int{good}, nil); err == nil || !strings.Contains(err.Error(), "no tensor is trainable") {
		t.Errorf("nothing trainable: err = %v", err)
	}
}

// TestCheckpoint interrupts training with a checkpoint and checks that
// resuming from it continues exactly as the uninterrupted run.
func TestCheckpoint(t *testing.T) {
	pool := kernel.NewPool(2)
	defer pool.Close()
	c := tinyConfig()
	rng := rand.New(rand.NewPCG(2, 2))
	batches := [][][]int{}
	for i := 0; i < 4; i++ {
		batches = append(batches, randomTokens(rng, 2, 7, c.Vocab))
	}
	opt := Options{LR: 1e-2, Warmup: 2, Steps: 10, WeightDecay: 0.01, ClipNorm: 1}
	newT := func() *Trainer {
		p := randomSet[float32](t, c, false, 4)
		p.SetTrainable(All)
		tr, err := NewTrainer(p, pool, opt)
		if err != nil {
			t.Fatal(err)
		}
		return tr
	}
	a := newT()
	for _, b := range batches[:2] {
		if _, err := a.Step(b, nil); err != nil {
			t.Fatal(err)
		}
	}
	path := filepath.Join(t.TempDir(), "ckpt.gguf")
	if err := a.Save(path); err != nil {
		t.Fatal(err)
	}
	b := newT()
	if err := b.Load(path); err != nil {
		t.Fatal(err)
	}
	if b.StepCount() != 2 {
		t.Fatalf("loaded step count %d, want 2", b.StepCount())
	}
	for _, batch := range batches[2:] {
		la, err1 := a.Step(batch, nil)
		lb, err2 := b.Step(batch, nil)
		if err1 != nil || err2 != nil {
			t.Fatal(err1, err2)
		}
		if la != lb {
			t.Errorf("loss after resuming %v, uninterrupted %v", lb, la)
		}
	}
	pa, pb := a.Params().All(), b.Params().All()
	for i := range pa {
		if !slices.Equal(pa[i].W, pb[i].W) {
			t.Errorf("%s differs between the resumed and the uninterrupted run", pa[i].Name)
		}
	}

	// Bad checkpoints leave the trainer unchanged.
	before := slices.Clone(b.Params().TokenEmbd.W)
	other := tinyConfig()
	other.Hidden = 32
	po := randomSet[float32](t, other, false, 1)
	po.SetTrainable(All)
	to, _ := NewTrainer(po, nil, opt)
	wrong := filepath.Join(t.TempDir(), "other.gguf")
	if err := to.Save(wrong); err != nil {
		t.Fatal(err)
	}
	garbage := filepath.Join(t.TempDir(), "garbage.gguf")
	os.WriteFile(garbage, []byte("not a checkpoint at all"), 0o644)
	model := synthModel(t, "tiny", tensor.F32).Path
	for _, c := range []struct{ path, want string }{
		{wrong, "differs"},
		{garbage, "checkpoint"},
		{model, "not a training checkpoint"},
		{filepath.Join(t.TempDir(), "missing"), "no such file"},
	} {
		err := b.Load(c.path)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Load(%s): err = %v, want one mentioning %q", filepath.Base(c.path), err, c.want)
		}
	}
	if !slices.Equal(before, b.Params().TokenEmbd.W) || b.StepCount() != 4 {
		t.Error("a failed Load changed the trainer")
	}
}

// TestOverfit trains a small random model on one short text: the loss must
// fall far below its starting value within 50 steps.
func TestOverfit(t *testing.T) {
	pool := kernel.NewPool(0)
	defer pool.Close()
	for _, shape := range []string{"tiny", "tiny-gpt2", "tiny-phi2"} {
		m := synthModel(t, shape, tensor.F32)
		p, err := FromModel(m)
		if err != nil {
			t.Fatal(err)
		}
		p.SetTrainable(All)
		tr, err := NewTrainer(p, pool, Options{LR: 3e-3, Warmup: 5, Steps: 50, ClipNorm: 1})
		if err != nil {
			t.Fatal(err)
		}
		ids := m.Tokenizer.Encode("The quick brown fox jumps over the lazy dog. The quick brown fox jumps again.", true)
		batch := [][]int{ids}
		first, last := 0.0, 0.0
		for i := 0; i < 50; i++ {
			loss, err := tr.Step(batch, nil)
			if err != nil {
				t.Fatal(err)
			}
			if i == 0 {
				first = loss
			}
			last = loss
		}
		final, _ := tr.Eval(batch, nil)
		t.Logf("%s: overfit %d tokens: loss %.3f → %.3f (after the last step %.3f)", shape, len(ids), first, last, final)
		if !(final < 0.2*first) {
			t.Errorf("%s: loss fell only from %.3f to %.3f", shape, first, final)
		}
	}
}

// tinyStories returns token sequences of length L from the shared
// TinyStories text: train from the start, held-out from the end.
func tinyStories(t testing.TB, enc func(string) []int, L, train, held int) (tr, ho [][]int) {
	t.Helper()
	b, err := os.ReadFile(shared.Need(t, "data/tinystories_valid_prefix.txt"))
	if err != nil {
		t.Fatal(err)
	}
	ids := enc(string(b))
	if len(ids) < (train+held)*L {
		t.Fatalf("TinyStories text has %d tokens, need %d", len(ids), (train+held)*L)
	}
	for i := 0; i < train; i++ {
		tr = append(tr, ids[i*L:(i+1)*L])
	}
	for i := 0; i < held; i++ {
		off := len(ids) - (i+1)*L
		ho = append(ho, ids[off:off+L])
	}
	return tr, ho
}

// TestRetrainDown re-initialises stories260K's down projections (as the
// fine-tuning attack does with a release) and trains only them on
// TinyStories: the held-out loss must fall well below the re-initialised
// model's. UNSWIFT_TRAIN_LONG=1 (without -short) runs longer and reports the
// gap to the original model.
func TestRetrainDown(t *testing.T) {
	path := shared.Need(t, "models/stories260K/stories260K.gguf")
	long := os.Getenv("UNSWIFT_TRAIN_LONG") != "" && !testing.Short()
	pool := kernel.NewPool(0)
	defer pool.Close()
	m := openModel(t, path)
	p, err := FromModel(m)
	if err != nil {
		t.Fatal(err)
	}
	steps, B := 30, 8
	if long {
		steps = 600
	}
	enc := func(s string) []int { return m.Tokenizer.Encode(s, true) }
	train, held := tinyStories(t, enc, 65, steps*B/4, 16)
	orig, _ := NewTrainer(p, pool, Options{LR: 1})
	origLoss, err := orig.Eval(held, nil)
	if err != nil {
		t.Fatal(err)
	}
	p.RandomInit(rand.New(rand.NewPCG(1, 2)), Kinds("ffn_down"), 0.02)
	if err := p.SetTrainable(Kinds("ffn_down")); err != nil {
		t.Fatal(err)
	}
	tr, err := NewTrainer(p, pool, Options{LR: 1e-2, MinLR: 1e-3, Warmup: 5, Steps: steps, ClipNorm: 1})
	if err != nil {
		t.Fatal(err)
	}
	start, _ := tr.Eval(held, nil)
	t0 := time.Now()
	for i := 0; i < steps; i++ {
		j := (i * B) % (len(train) - B + 1)
		if _, err := tr.Step(train[j:j+B], nil); err != nil {
			t.Fatal(err)
		}
	}
	end, _ := tr.Eval(held, nil)
	t.Logf("stories260K, down projections re-initialised, %d steps of %d×64 tokens in %v: held-out loss %.3f → %.3f (original model %.3f)",
		steps, B, time.Since(t0).Round(time.Millisecond), start, end, origLoss)
	if !(start-end > 0.5*(start-origLoss)) {
		t.Errorf("held-out loss fell from %.3f only to %.3f (original %.3f)", start, end, origLoss)
	}
}

// TestDistill trains a student whose down projections were re-initialised
// to match a teacher's logits (what the distillation attack does with a
// release): the KL must fall well below its start, and the teacher's own
// weights must score KL ≈ 0 against its logits.
func TestDistill(t *testing.T) {
	pool := kernel.NewPool(0)
	defer pool.Close()
	m := openModel(t, shared.Need(t, "models/stories260K/stories260K.gguf"))
	enc := func(s string) []int { return m.Tokenizer.Encode(s, true) }
	train, held := tinyStories(t, enc, 32, 64, 4)
	logits := func(batch [][]int) [][]float32 {
		var out [][]float32
		for _, s := range batch {
			out = append(out, engineLogits(t, m, pool, [][]int{s}))
		}
		return out
	}
	heldT := logits(held)
	p, err := FromModel(m)
	if err != nil {
		t.Fatal(err)
	}
	tr, err := NewTrainer(p, pool, Options{LR: 3e-3, Warmup: 3, Steps: 40, ClipNorm: 1})
	if err != nil {
		t.Fatal(err)
	}
	self, err := tr.Eval(held, heldT)
	if err != nil {
		t.Fatal(err)
	}
	if self > 1e-6 {
		t.Errorf("KL of the teacher's own weights to its logits = %g, want ≈ 0", self)
	}
	p.RandomInit(rand.New(rand.NewPCG(4, 4)), Kinds("ffn_down"), 0.02)
	p.SetTrainable(Kinds("ffn_down"))
	start, _ := tr.Eval(held, heldT)
	const B = 8
	for i := 0; i < 40; i++ {
		j := (i * B) % (len(train) - B + 1)
		batch := train[j : j+B]
		if _, err := tr.Step(batch, logits(batch)); err != nil {
			t.Fatal(err)
		}
	}
	end, _ := tr.Eval(held, heldT)
	t.Logf("distillation of stories260K's re-initialised down projections, 40 steps of %d×32 tokens: held-out KL %.4f → %.4f (teacher's own weights %.2g)", B, start, end, self)
	if !(end < 0.5*start) {
		t.Errorf("held-out KL fell only from %.4f to %.4f", start, end)
	}
}
