// Package train is a small reverse-mode training engine for the model
// families the model package runs, computing exactly what model.State
// computes: token embedding (plus learned positions, GPT-2), RMSNorm or
// LayerNorm, rotary position embedding on consecutive pairs or on halves
// (partial rotary included), grouped-query causal attention, a gated SiLU
// MLP (Llama, Qwen2) or a plain GELU-tanh one (GPT-2, Phi-2), sequential or
// parallel (Phi-2) blocks, biases wherever the model has them, a final norm
// and a classifier (tied to the embedding when the model has no output
// matrix).
//
// A [Params] holds trainable float32 copies of a model's weights, made by
// [FromModel] from a plain model or from a TaylorMLP release (whose withheld
// down-projection columns start at zero); [Supports] says whether a model is
// one the engine runs. A [Trainer] runs mini-batches of token sequences
// through a teacher-forced forward pass, back-propagates a next-token
// cross-entropy or a distillation KL loss, and updates the trainable
// parameters with AdamW, gradient clipping and a warm-up + cosine
// learning-rate schedule. Trainer checkpoints hold the parameters and the
// optimizer state; [WriteGGUF] writes the parameters as a plain GGUF model
// that [model.Open] loads.
//
// Compute is float32 with float64 accumulation of norms, softmax sums,
// bias gradients, losses and the gradient norm. The large products run on
// the kernel package's GEMM over a [kernel.Pool]; the backward pass's
// transposed products reuse it through explicit transposes. Every operation
// is generic over [Float] so that the same forward and backward code also
// runs in float64, which is how the tests check every gradient against
// central finite differences.
package train

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"

	"github.com/unswift/unswift/internal/model"
	"github.com/unswift/unswift/internal/series"
	"github.com/unswift/unswift/internal/tensor"
)

// Float is the element type the engine computes in: float32 for training,
// float64 for gradient checks.
type Float interface{ float32 | float64 }

// Param is one weight tensor with its gradient.
type Param[F Float] struct {
	Name  string // GGUF tensor name, e.g. "blk.0.ffn_down.weight"
	Shape []int  // GGUF order: [cols, rows] for a matrix, [n] for a vector
	W     []F    // values, row by row
	// G is the gradient (same layout), nil when the tensor is frozen. It
	// holds the gradient accumulated by the backward passes since the last
	// ZeroGrad or optimizer update; in between, its contents are undefined
	// (clearing is deferred to the next backward pass, which overwrites).
	G []F

	gzero bool // G is logically zero: the next contribution overwrites it
}

// Trainable reports whether the tensor receives gradients and updates
// (false for a nil tensor: one the model does not have).
func (p *Param[F]) Trainable() bool { return p != nil && p.G != nil }

// Cols is the length of a row (Shape[0]).
func (p *Param[F]) Cols() int { return p.Shape[0] }

// Rows is the number of rows (1 for a vector).
func (p *Param[F]) Rows() int { return len(p.W) / p.Shape[0] }

// Kind is the tensor's name without the layer prefix and the ".weight"
// suffix: "token_embd", "attn_q", "ffn_down", "output_norm", ...; a bias
// keeps its suffix: "attn_q.bias", "ffn_down.bias", ...
func (p *Param[F]) Kind() string { return kindOf(p.Name) }

func kindOf(name string) string {
	name = strings.TrimSuffix(name, ".weight")
	if rest, ok := strings.CutPrefix(name, "blk."); ok {
		if _, k, ok := strings.Cut(rest, "."); ok {
			return k
		}
	}
	return name
}

func newParam[F Float](name string, shape ...int) *Param[F] {
	n := 1
	for _, d := range shape {
		n *= d
	}
	return &Param[F]{Name: name, Shape: shape, W: make([]F, n)}
}

// Layer is the parameters of one transformer block. Biases are nil where
// the model has none; FFNNorm is nil in a parallel block (Phi-2), whose MLP
// reads the attention's normalised input; Gate is nil in a plain MLP
// (GPT-2, Phi-2: down(act(up·x + b)) + c), and UpB is nil in a gated one
// (the inference engine applies none there).
type Layer[F Float] struct {
	AttnNorm, AttnNormB *Param[F] // AttnNormB: LayerNorm bias
	Q, QB, K, KB, V, VB *Param[F]
	O, OB               *Param[F]
	FFNNorm, FFNNormB   *Param[F]
	Gate                *Param[F]
	Up, UpB             *Param[F]
	Down, DownB         *Param[F]
}

// ParamSet is the parameters of a whole model, with the structure of
// [model.Weights] (a fused QKV projection held as its three parts). Use
// [Params] (float32) for training.
type ParamSet[F Float] struct {
	Config       model.Config
	TokenEmbd    *Param[F] // vocab × dim
	PositionEmbd *Param[F] // context × dim learned positions (GPT-2); nil: rotary positions
	OutputNorm   *Param[F]
	OutputNormB  *Param[F] // LayerNorm bias; nil: none
	Output       *Param[F] // vocab × dim; nil: the classifier is TokenEmbd
	OutputB      *Param[F] // classifier bias; nil: none
	Layers       []Layer[F]

	// RopeFreqs is the model's per-pair RoPE frequency divisors
	// (rope_freqs.weight, Llama 3.1), nil when it has none. It is not a
	// parameter: it is never trained, and WriteGGUF writes it as it is.
	RopeFreqs []float32

	// Withheld is, per layer, the number of leading hidden channels whose
	// down-projection columns the source file did not contain: 0 for a plain
	// model; for a TaylorMLP release, its expanded (protected) channels, in
	// the release's channel order. FromModel leaves those columns zero.
	Withheld []int
}

// Params is the float32 parameter set used for training.
type Params = ParamSet[float32]

// NewParamSet allocates zero parameters for config c (norm weights are one,
// biases zero) with the tensors its family has: LayerNorm families (gpt2,
// phi2) a bias on every norm and projection, qwen2 on the query, key and
// value projections, the llama family none. untied adds a separate output
// matrix (and, with LayerNorm, its bias).
func NewParamSet[F Float](c model.Config, untied bool) (*ParamSet[F], error) {
	ln := c.Family.Norm == model.LayerNorm
	return newParamSet[F](c, func(name string) bool {
		switch kindOf(name) {
		case "output":
			return untied
		case "output.bias":
			return untied && ln
		case "attn_q.bias", "attn_k.bias", "attn_v.bias":
			return ln || c.Arch == "qwen2"
		}
		return ln && strings.HasSuffix(name, ".bias")
	})
}

// newParamSet allocates zero parameters for config c. The tensors of c's
// family are always made; has says which optional ones (the output matrix,
// biases) to add.
func newParamSet[F Float](c model.Config, has func(name string) bool) (*ParamSet[F], error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	if err := supportsFamily(&c); err != nil {
		return nil, err
	}
	fam := c.Family
	p := &ParamSet[F]{Config: c, Withheld: make([]int, c.Layers)}
	kv := c.KVDim()
	opt := func(name string, shape ...int) *Param[F] {
		if !has(name) {
			return nil
		}
		return newParam[F](name, shape...)
	}
	// norm returns a norm's weight and, with LayerNorm, its optional bias.
	norm := func(pre string) (w, b *Param[F]) {
		w = newParam[F](pre+".weight", c.Dim)
		if fam.Norm == model.LayerNorm {
			b = opt(pre+".bias", c.Dim)
		}
		return w, b
	}
	p.TokenEmbd = newParam[F]("token_embd.weight", c.Dim, c.Vocab)
	if fam.Rope == model.RopeNone {
		p.PositionEmbd = newParam[F]("position_embd.weight", c.Dim, c.Context)
	}
	p.Layers = make([]Layer[F], c.Layers)
	for l := range p.Layers {
		pre := fmt.Sprintf("blk.%d.", l)
		ly := &p.Layers[l]
		ly.AttnNorm, ly.AttnNormB = norm(pre + "attn_norm")
		ly.Q, ly.QB = newParam[F](pre+"attn_q.weight", c.Dim, c.Dim), opt(pre+"attn_q.bias", c.Dim)
		ly.K, ly.KB = newParam[F](pre+"attn_k.weight", c.Dim, kv), opt(pre+"attn_k.bias", kv)
		ly.V, ly.VB = newParam[F](pre+"attn_v.weight", c.Dim, kv), opt(pre+"attn_v.bias", kv)
		ly.O, ly.OB = newParam[F](pre+"attn_output.weight", c.Dim, c.Dim), opt(pre+"attn_output.bias", c.Dim)
		if !fam.Parallel {
			ly.FFNNorm, ly.FFNNormB = norm(pre + "ffn_norm")
		}
		ly.Up = newParam[F](pre+"ffn_up.weight", c.Dim, c.Hidden)
		if fam.Gated {
			// The inference engine applies no bias in a gated MLP.
			ly.Gate = newParam[F](pre+"ffn_gate.weight", c.Dim, c.Hidden)
		} else {
			ly.UpB = opt(pre+"ffn_up.bias", c.Hidden)
		}
		ly.Down, ly.DownB = newParam[F](pre+"ffn_down.weight", c.Hidden, c.Dim), opt(pre+"ffn_down.bias", c.Dim)
	}
	p.OutputNorm, p.OutputNormB = norm("output_norm")
	p.Output = opt("output.weight", c.Dim, c.Vocab)
	p.OutputB = opt("output.bias", c.Vocab)
	for _, t := range p.All() {
		if isNormWeight(t) {
			for i := range t.W {
				t.W[i] = 1
			}
		}
	}
	return p, nil
}

// isNormWeight reports whether t is a norm's weight vector (not a bias).
func isNormWeight[F Float](t *Param[F]) bool {
	return len(t.Shape) == 1 && strings.HasSuffix(t.Name, ".weight")
}

// All returns every tensor in GGUF file order: the embeddings, each layer's
// attn_norm, q, k, v, output, ffn_norm, gate, up and down (each followed by
// its bias), then output_norm and output; absent tensors are left out.
func (p *ParamSet[F]) All() []*Param[F] {
	var ts []*Param[F]
	add := func(xs ...*Param[F]) {
		for _, x := range xs {
			if x != nil {
				ts = append(ts, x)
			}
		}
	}
	add(p.TokenEmbd, p.PositionEmbd)
	for _, l := range p.Layers {
		add(l.AttnNorm, l.AttnNormB, l.Q, l.QB, l.K, l.KB, l.V, l.VB, l.O, l.OB,
			l.FFNNorm, l.FFNNormB, l.Gate, l.Up, l.UpB, l.Down, l.DownB)
	}
	add(p.OutputNorm, p.OutputNormB, p.Output, p.OutputB)
	return ts
}

// Lookup returns the tensor called name, or nil.
func (p *ParamSet[F]) Lookup(name string) *Param[F] {
	for _, t := range p.All() {
		if t.Name == name {
			return t
		}
	}
	return nil
}

// Count returns the number of parameters, and of those trainable.
func (p *ParamSet[F]) Count() (total, trainable int) {
	for _, t := range p.All() {
		total += len(t.W)
		if t.Trainable() {
			trainable += len(t.W)
		}
	}
	return total, trainable
}

// Selector picks tensors by GGUF name.
type Selector func(name string) bool

// All selects every tensor.
func All(string) bool { return true }

// Kinds selects the tensors of the given kinds (see [Param.Kind]), e.g.
// Kinds("ffn_down") for every layer's down projection.
func Kinds(kinds ...string) Selector {
	return func(name string) bool {
		k := kindOf(name)
		for _, want := range kinds {
			if k == want {
				return true
			}
		}
		return false
	}
}

// SetTrainable makes the selected tensors trainable (allocating zero
// gradients) and freezes the others (dropping their gradients). It returns
// an error when sel selects nothing.
func (p *ParamSet[F]) SetTrainable(sel Selector) error {
	n := 0
	for _, t := range p.All() {
		if sel(t.Name) {
			n++
			if t.G == nil {
				t.G = make([]F, len(t.W))
				t.gzero = true
			}
		} else {
			t.G = nil
		}
	}
	if n == 0 {
		return fmt.Errorf("train: the selector matches none of the model's tensors")
	}
	return nil
}

// ZeroGrad resets the gradients of the trainable tensors to zero. The
// buffers are overwritten by the next backward pass rather than cleared now.
func (p *ParamSet[F]) ZeroGrad() {
	for _, t := range p.All() {
		t.gzero = t.G != nil
	}
}

// grad returns t's gradient buffer (nil when frozen or t is nil) and
// whether it is logically zero (the caller must overwrite it, not add to
// it), and marks it as holding a gradient.
func (t *Param[F]) grad() (g []F, zero bool) {
	if t == nil || t.G == nil {
		return nil, false
	}
	zero = t.gzero
	t.gzero = false
	return t.G, zero
}

// gradient returns G with a deferred clearing applied.
func (t *Param[F]) gradient() []F {
	if t.gzero {
		clear(t.G)
		t.gzero = false
	}
	return t.G
}

// RandomInit re-initialises the selected tensors: norm weights to one,
// biases to zero, matrices to normal values with standard deviation std, or,
// when std <= 0, 1/sqrt(fan-in) with fan-in the row length (LeCun-normal:
// unit output variance for unit-variance inputs). GPT-style models use std
// 0.02.
func (p *ParamSet[F]) RandomInit(rng *rand.Rand, sel Selector, std float64) {
	for _, t := range p.All() {
		if sel(t.Name) {
			initRandom(rng, t, std)
		}
	}
}

// RandomInitWithheld re-initialises only the withheld down-projection
// columns (see Withheld), as RandomInit does for whole matrices.
func (p *ParamSet[F]) RandomInitWithheld(rng *rand.Rand, std float64) {
	for l, ly := range p.Layers {
		e := p.Withheld[l]
		if e == 0 {
			continue
		}
		s := std
		if s <= 0 {
			s = 1 / math.Sqrt(float64(ly.Down.Cols()))
		}
		h := ly.Down.Cols()
		for i := 0; i < ly.Down.Rows(); i++ {
			for j := 0; j < e; j++ {
				ly.Down.W[i*h+j] = F(rng.NormFloat64() * s)
			}
		}
	}
}

func initRandom[F Float](rng *rand.Rand, t *Param[F], std float64) {
	if len(t.Shape) == 1 {
		v := F(0) // a bias
		if isNormWeight(t) {
			v = 1
		}
		for i := range t.W {
			t.W[i] = v
		}
		return
	}
	if std <= 0 {
		std = 1 / math.Sqrt(float64(t.Shape[0]))
	}
	for i := range t.W {
		t.W[i] = F(rng.NormFloat64() * std)
	}
}

// Supports reports whether the engine implements m's forward pass. It runs
// every family the model package runs — RMSNorm or LayerNorm (with or
// without biases), RoPE on pairs or on halves (partial rotary included) or
// learned positions, sequential or parallel blocks, biases on any
// projection — with a gated SiLU MLP or a plain GELU-tanh one. It returns an
// error naming what differs otherwise.
func Supports(m *model.Model) error {
	c := &m.Config
	if err := supportsFamily(c); err != nil {
		return err
	}
	if c.Family.Rope == model.RopeNone && m.Weights.PositionEmbd == nil {
		return fmt.Errorf("train: architecture %s has learned positions, but the model has no position_embd.weight", c.Arch)
	}
	return nil
}

// supportsFamily reports whether the engine implements c's family.
func supportsFamily(c *model.Config) error {
	fam := c.Family
	switch {
	case fam.Gated && fam.Act != series.SiLU || !fam.Gated && fam.Act != series.GELUTanh:
		return fmt.Errorf("train: the engine implements gated silu and plain gelu_tanh MLPs; architecture %s has %s", c.Arch, fam)
	case fam.Norm != model.RMSNorm && fam.Norm != model.LayerNorm:
		return fmt.Errorf("train: architecture %s has a normalisation the engine does not implement (%s)", c.Arch, fam)
	case fam.Rope != model.RopePairs && fam.Rope != model.RopeHalves && fam.Rope != model.RopeNone:
		return fmt.Errorf("train: architecture %s has a position encoding the engine does not implement (%s)", c.Arch, fam)
	}
	return nil
}

// sourceTensors maps the GGUF name of each parameter tensor m has to the
// tensor (the parts of a fused QKV projection under the names of separate
// ones).
func sourceTensors(m *model.Model) map[string]*tensor.Tensor {
	w := &m.Weights
	src := map[string]*tensor.Tensor{}
	add := func(name string, t *tensor.Tensor) {
		if t != nil {
			src[name] = t
		}
	}
	add("token_embd.weight", w.TokenEmbd)
	add("position_embd.weight", w.PositionEmbd)
	add("output_norm.weight", w.OutputNorm)
	add("output_norm.bias", w.OutputNormB)
	add("output.weight", w.Output)
	add("output.bias", w.OutputB)
	for l := range w.Layers {
		ly := &w.Layers[l]
		pre := fmt.Sprintf("blk.%d.", l)
		for _, s := range []struct {
			name string
			t    *tensor.Tensor
		}{
			{"attn_norm.weight", ly.AttnNorm}, {"attn_norm.bias", ly.AttnNormB},
			{"attn_q.weight", ly.Q}, {"attn_q.bias", ly.QB},
			{"attn_k.weight", ly.K}, {"attn_k.bias", ly.KB},
			{"attn_v.weight", ly.V}, {"attn_v.bias", ly.VB},
			{"attn_output.weight", ly.O}, {"attn_output.bias", ly.OB},
			{"ffn_norm.weight", ly.FFNNorm}, {"ffn_norm.bias", ly.FFNNormB},
			{"ffn_gate.weight", ly.Gate},
			{"ffn_up.weight", ly.Up}, {"ffn_up.bias", ly.UpB},
			{"ffn_down.weight", ly.Down}, {"ffn_down.bias", ly.DownB},
		} {
			add(pre+s.name, s.t)
		}
	}
	return src
}

// FromModel copies m's weights, dequantized to float32, into a new
// parameter set with every tensor frozen (see SetTrainable). It fails for a
// model the engine cannot run (see Supports). A fused QKV projection (and
// its bias) becomes separate query, key and value tensors.
//
// m may be a TaylorMLP release: its layers lack ffn_down, so each Down
// starts at zero except the columns of the channels the release keeps plain,
// which are copied from the release's coefficient matrix; Withheld records
// how many leading (expanded) channels were absent. Gate and up rows (in a
// plain MLP the up rows and bias, which play the gate's part) are in the
// release's channel order, with its sign perturbation, as released; the
// down bias of a plain MLP is released as it is.
func FromModel(m *model.Model) (*Params, error) {
	if err := Supports(m); err != nil {
		return nil, err
	}
	w := &m.Weights
	if len(w.Layers) != m.Config.Layers {
		return nil, fmt.Errorf("train: model has %d layers, its config %d", len(w.Layers), m.Config.Layers)
	}
	src := sourceTensors(m)
	p, err := newParamSet[float32](m.Config, func(name string) bool { return src[name] != nil })
	if err != nil {
		return nil, err
	}
	if f := w.RopeFreqs; f != nil {
		p.RopeFreqs = make([]float32, f.Len())
		if err := tensor.Dequantize(p.RopeFreqs, f.Type, f.Data); err != nil {
			return nil, fmt.Errorf("train: tensor %s: %w", f.Name, err)
		}
	}
	for l, ly := range w.Layers {
		if ly.Down != nil {
			continue
		}
		if ly.Taylor == nil || m.Taylor == nil {
			return nil, fmt.Errorf("train: layer %d has neither ffn_down nor ffn_taylor", l)
		}
		if err := plainDown(p.Layers[l].Down, ly.Taylor, m.Taylor.Expanded[l], m.Config.Hidden); err != nil {
			return nil, fmt.Errorf("train: layer %d: %w", l, err)
		}
		p.Withheld[l] = m.Taylor.Expanded[l]
	}
	for _, d := range p.All() {
		s := src[d.Name]
		if s == nil {
			if d.Kind() == "ffn_down" { // a release's, filled above
				continue
			}
			return nil, fmt.Errorf("train: model lacks tensor %s", d.Name)
		}
		if s.Len() != len(d.W) {
			return nil, fmt.Errorf("train: tensor %s has %d elements (shape %v), want %d (shape %v)", s.Name, s.Len(), s.Shape, len(d.W), d.Shape)
		}
		if err := tensor.Dequantize(d.W, s.Type, s.Data); err != nil {
			return nil, fmt.Errorf("train: tensor %s: %w", s.Name, err)
		}
	}
	return p, nil
}

// plainDown fills the columns e..hidden-1 of down from the plain block at
// the start of each row of a release's coefficient matrix taylor.
func plainDown(down *Param[float32], taylor *tensor.Tensor, e, hidden int) error {
	if taylor.Rows() != down.Rows() {
		return fmt.Errorf("%s has %d rows, the down projection %d", taylor.Name, taylor.Rows(), down.Rows())
	}
	row := make([]float32, taylor.Cols())
	for i := 0; i < down.Rows(); i++ {
		if err := tensor.Dequantize(row, taylor.Type, taylor.Row(i)); err != nil {
			return fmt.Errorf("%s: %w", taylor.Name, err)
		}
		copy(down.W[i*hidden+e:(i+1)*hidden], row[:hidden-e])
	}
	return nil
}
