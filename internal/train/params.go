// Package train is a small reverse-mode training engine for the Llama
// architecture exactly as the model package runs it: token embedding, RMSNorm,
// rotary position embedding on consecutive pairs, grouped-query causal
// attention, SwiGLU MLP, final norm and a classifier (tied to the embedding
// when the model has no output matrix).
//
// A [Params] holds trainable float32 copies of a model's weights, made by
// [FromModel] from a plain model or from a TaylorMLP release (whose withheld
// down-projection columns start at zero); [Supports] says whether a model is
// one the engine runs (other families — LayerNorm, biases, plain GELU MLPs,
// learned or rotate-half positions, parallel blocks — are refused). A [Trainer] runs mini-batches of
// token sequences through a teacher-forced forward pass, back-propagates a
// next-token cross-entropy or a distillation KL loss, and updates the
// trainable parameters with AdamW, gradient clipping and a warm-up + cosine
// learning-rate schedule. Trainer checkpoints hold the parameters and the
// optimizer state; [WriteGGUF] writes the parameters as a plain GGUF model
// that [model.Open] loads.
//
// Compute is float32 with float64 accumulation of norms, softmax sums,
// losses and the gradient norm. The large products run on the kernel
// package's GEMM over a [kernel.Pool]; the backward pass's transposed
// products reuse it through explicit transposes. Every operation is generic
// over [Float] so that the same forward and backward code also runs in
// float64, which is how the tests check every gradient against central
// finite differences.
package train

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"

	"github.com/unswift/unswift/internal/model"
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

// Trainable reports whether the tensor receives gradients and updates.
func (p *Param[F]) Trainable() bool { return p.G != nil }

// Cols is the length of a row (Shape[0]).
func (p *Param[F]) Cols() int { return p.Shape[0] }

// Rows is the number of rows (1 for a vector).
func (p *Param[F]) Rows() int { return len(p.W) / p.Shape[0] }

// Kind is the tensor's name without the layer prefix and the ".weight"
// suffix: "token_embd", "attn_q", "ffn_down", "output_norm", ...
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

// Layer is the parameters of one transformer block.
type Layer[F Float] struct {
	AttnNorm, Q, K, V, O, FFNNorm, Gate, Up, Down *Param[F]
}

// ParamSet is the parameters of a whole model, with the structure of
// [model.Weights]. Use [Params] (float32) for training.
type ParamSet[F Float] struct {
	Config     model.Config
	TokenEmbd  *Param[F] // vocab × dim
	OutputNorm *Param[F]
	Output     *Param[F] // vocab × dim; nil: the classifier is TokenEmbd
	Layers     []Layer[F]

	// Withheld is, per layer, the number of leading hidden channels whose
	// down-projection columns the source file did not contain: 0 for a plain
	// model; for a TaylorMLP release, its expanded (protected) channels, in
	// the release's channel order. FromModel leaves those columns zero.
	Withheld []int
}

// Params is the float32 parameter set used for training.
type Params = ParamSet[float32]

// NewParamSet allocates zero parameters for config c (norm weights are one).
// untied adds a separate output matrix.
func NewParamSet[F Float](c model.Config, untied bool) (*ParamSet[F], error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	p := &ParamSet[F]{Config: c, Withheld: make([]int, c.Layers)}
	kv := c.KVDim()
	p.TokenEmbd = newParam[F]("token_embd.weight", c.Dim, c.Vocab)
	p.OutputNorm = newParam[F]("output_norm.weight", c.Dim)
	if untied {
		p.Output = newParam[F]("output.weight", c.Dim, c.Vocab)
	}
	p.Layers = make([]Layer[F], c.Layers)
	for l := range p.Layers {
		pre := fmt.Sprintf("blk.%d.", l)
		p.Layers[l] = Layer[F]{
			AttnNorm: newParam[F](pre+"attn_norm.weight", c.Dim),
			Q:        newParam[F](pre+"attn_q.weight", c.Dim, c.Dim),
			K:        newParam[F](pre+"attn_k.weight", c.Dim, kv),
			V:        newParam[F](pre+"attn_v.weight", c.Dim, kv),
			O:        newParam[F](pre+"attn_output.weight", c.Dim, c.Dim),
			FFNNorm:  newParam[F](pre+"ffn_norm.weight", c.Dim),
			Gate:     newParam[F](pre+"ffn_gate.weight", c.Dim, c.Hidden),
			Up:       newParam[F](pre+"ffn_up.weight", c.Dim, c.Hidden),
			Down:     newParam[F](pre+"ffn_down.weight", c.Hidden, c.Dim),
		}
	}
	for _, t := range p.All() {
		if len(t.Shape) == 1 {
			for i := range t.W {
				t.W[i] = 1
			}
		}
	}
	return p, nil
}

// All returns every tensor in GGUF file order: the embedding, each layer's
// attn_norm, q, k, v, output, ffn_norm, gate, up, down, then output_norm and
// output (when untied).
func (p *ParamSet[F]) All() []*Param[F] {
	ts := []*Param[F]{p.TokenEmbd}
	for _, l := range p.Layers {
		ts = append(ts, l.AttnNorm, l.Q, l.K, l.V, l.O, l.FFNNorm, l.Gate, l.Up, l.Down)
	}
	ts = append(ts, p.OutputNorm)
	if p.Output != nil {
		ts = append(ts, p.Output)
	}
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

// grad returns t's gradient buffer (nil when frozen) and whether it is
// logically zero (the caller must overwrite it, not add to it), and marks
// it as holding a gradient.
func (t *Param[F]) grad() (g []F, zero bool) {
	if t.G == nil {
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

// RandomInit re-initialises the selected tensors: norm weights (vectors) to
// one, matrices to normal values with standard deviation std, or, when
// std <= 0, 1/sqrt(fan-in) with fan-in the row length (LeCun-normal: unit
// output variance for unit-variance inputs). GPT-style models use std 0.02.
func (p *ParamSet[F]) RandomInit(rng *rand.Rand, sel Selector, std float64) {
	for _, t := range p.All() {
		if sel(t.Name) {
			initRandom(rng, t.W, t.Shape, std)
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

func initRandom[F Float](rng *rand.Rand, w []F, shape []int, std float64) {
	if len(shape) == 1 {
		for i := range w {
			w[i] = 1
		}
		return
	}
	if std <= 0 {
		std = 1 / math.Sqrt(float64(shape[0]))
	}
	for i := range w {
		w[i] = F(rng.NormFloat64() * std)
	}
}

// Supports reports whether the engine implements m's forward pass: the
// llama family (RMSNorm, gated SiLU MLP, RoPE on consecutive pairs) without
// bias vectors. It returns an error naming what differs otherwise.
func Supports(m *model.Model) error {
	c := &m.Config
	if c.Family != model.Families["llama"] {
		return fmt.Errorf("train: the engine implements the llama architecture only (%s); architecture %s has %s",
			model.Families["llama"], c.Arch, c.Family)
	}
	w := &m.Weights
	if w.PositionEmbd != nil || w.OutputNormB != nil || w.OutputB != nil {
		return fmt.Errorf("train: %s has position embeddings or output biases, which the engine does not implement", c.Arch)
	}
	for l, ly := range w.Layers {
		for _, b := range []*tensor.Tensor{ly.AttnNormB, ly.QB, ly.KB, ly.VB, ly.OB, ly.FFNNormB, ly.UpB, ly.DownB} {
			if b != nil {
				return fmt.Errorf("train: layer %d has bias %s, which the engine does not implement", l, b.Name)
			}
		}
	}
	return nil
}

// FromModel copies m's weights, dequantized to float32, into a new
// parameter set with every tensor frozen (see SetTrainable). It fails for a
// model the engine cannot run (see Supports).
//
// m may be a TaylorMLP release: its layers lack ffn_down, so each Down
// starts at zero except the columns of the channels the release keeps plain,
// which are copied from the release's coefficient matrix; Withheld records
// how many leading (expanded) channels were absent. Gate and up rows are in
// the release's channel order (with its sign perturbation), as released.
func FromModel(m *model.Model) (*Params, error) {
	if err := Supports(m); err != nil {
		return nil, err
	}
	w := &m.Weights
	p, err := NewParamSet[float32](m.Config, w.Output != nil)
	if err != nil {
		return nil, err
	}
	src := map[*Param[float32]]*tensor.Tensor{p.TokenEmbd: w.TokenEmbd, p.OutputNorm: w.OutputNorm}
	if w.Output != nil {
		src[p.Output] = w.Output
	}
	if len(w.Layers) != len(p.Layers) {
		return nil, fmt.Errorf("train: model has %d layers, its config %d", len(w.Layers), len(p.Layers))
	}
	for l, ly := range w.Layers {
		pl := &p.Layers[l]
		for d, s := range map[*Param[float32]]*tensor.Tensor{pl.AttnNorm: ly.AttnNorm, pl.Q: ly.Q, pl.K: ly.K,
			pl.V: ly.V, pl.O: ly.O, pl.FFNNorm: ly.FFNNorm, pl.Gate: ly.Gate, pl.Up: ly.Up} {
			src[d] = s
		}
		switch {
		case ly.Down != nil:
			src[pl.Down] = ly.Down
		case ly.Taylor != nil && m.Taylor != nil:
			if err := plainDown(pl.Down, ly.Taylor, m.Taylor.Expanded[l], m.Config.Hidden); err != nil {
				return nil, fmt.Errorf("train: layer %d: %w", l, err)
			}
			p.Withheld[l] = m.Taylor.Expanded[l]
		default:
			return nil, fmt.Errorf("train: layer %d has neither ffn_down nor ffn_taylor", l)
		}
	}
	for d, s := range src {
		if s == nil {
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
