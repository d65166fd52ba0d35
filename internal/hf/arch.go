package hf

import (
	"fmt"
	"sort"
	"strings"

	"github.com/unswift/unswift/internal/gguf"
)

// Params are the hyper-parameters of a model, resolved from config.json with
// each architecture's defaults.
type Params struct {
	Class   string // Hugging Face class: "LlamaForCausalLM", ...
	Arch    string // GGUF architecture: "llama", "qwen2", "phi2" or "gpt2"
	Dim     int    // embedding length
	Hidden  int    // MLP hidden length
	Layers  int
	Heads   int
	KVHeads int
	HeadDim int
	Vocab   int
	Context int
	// RopeDim is the number of rotated dimensions per head (0 for GPT-2,
	// which has learned positions instead).
	RopeDim  int
	RopeBase float64
	// NormEps is the RMSNorm epsilon (llama, qwen2) or the LayerNorm epsilon
	// (phi2, gpt2).
	NormEps float64
	Tied    bool // the classifier is the token embedding
	// Bias marks query/key/value projections with biases (Qwen2, Phi, or
	// Llama with attention_bias).
	Bias bool
	// SlidingWindow is the attention window (0: none).
	SlidingWindow int
	// Act is the MLP activation ("silu", "gelu_new", ...).
	Act string
	// RopeScaling is the Llama 3.1 scaling (nil: none).
	RopeScaling *RopeScaling
}

// arch describes one supported Hugging Face architecture.
type arch struct {
	class  string
	gguf   string
	params func(c *Config) (*Params, error)
	// tensors lists the tensors of a model, in GGUF file order.
	tensors func(p *Params) []tensorSpec
	// prefixes are name prefixes a checkpoint may add to every tensor name
	// (GPT-2 checkpoints saved from GPT2LMHeadModel add "transformer.").
	prefixes []string
	// ignore reports HF tensors that are not weights (buffers) and are skipped.
	ignore func(name string, p *Params) bool
}

// xform is the transformation that takes an HF tensor to its GGUF form.
type xform int

const (
	asIs      xform = iota // same data (1-D tensors are widened to F32)
	permuteQ               // rows permuted for RoPE, over the query heads
	permuteK               // rows permuted for RoPE, over the key/value heads
	transpose              // GPT-2 Conv1D: [in, out] becomes out rows of in
)

// tensorSpec maps one HF tensor to its GGUF name.
type tensorSpec struct {
	hf, gguf string
	// shape is the HF shape, outermost first, as config.json implies it;
	// why says how, in config.json's terms, for messages.
	shape []int
	why   string
	op    xform
}

// ggufShape is the tensor's GGUF shape (innermost first).
func (s *tensorSpec) ggufShape() []int {
	if s.op == transpose {
		return append([]int(nil), s.shape...)
	}
	out := make([]int, len(s.shape))
	for i, d := range s.shape {
		out[len(out)-1-i] = d
	}
	return out
}

var arches = []*arch{
	{class: "LlamaForCausalLM", gguf: "llama", params: llamaParams, tensors: llamaTensors, ignore: ignoreRotary},
	{class: "MistralForCausalLM", gguf: "llama", params: llamaParams, tensors: llamaTensors, ignore: ignoreRotary},
	{class: "Qwen2ForCausalLM", gguf: "qwen2", params: llamaParams, tensors: llamaTensors, ignore: ignoreRotary},
	{class: "PhiForCausalLM", gguf: "phi2", params: phiParams, tensors: phiTensors, ignore: ignoreRotary},
	{class: "GPT2LMHeadModel", gguf: "gpt2", params: gpt2Params, tensors: gpt2Tensors, prefixes: []string{"transformer."}, ignore: ignoreGPT2},
}

// SupportedClasses lists the Hugging Face architectures Open supports.
func SupportedClasses() []string {
	var s []string
	for _, a := range arches {
		s = append(s, a.class)
	}
	sort.Strings(s)
	return s
}

func archOf(c *Config) (*arch, error) {
	if len(c.Architectures) == 0 {
		return nil, fmt.Errorf("no \"architectures\" entry (supported: %s)", strings.Join(SupportedClasses(), ", "))
	}
	for _, a := range arches {
		if a.class == c.Architectures[0] {
			return a, nil
		}
	}
	return nil, fmt.Errorf("architecture %q is not supported (supported: %s)", c.Architectures[0], strings.Join(SupportedClasses(), ", "))
}

// Resolve returns the hyper-parameters of a config.
func Resolve(c *Config) (*Params, error) {
	a, err := archOf(c)
	if err != nil {
		return nil, err
	}
	p, err := a.params(c)
	if err != nil {
		return nil, err
	}
	p.Class, p.Arch = a.class, a.gguf
	return p, nil
}

func positive(fields ...any) error {
	for i := 0; i+1 < len(fields); i += 2 {
		if v := fields[i+1].(int); v <= 0 {
			return fmt.Errorf("%s is %d (absent?), must be positive", fields[i], v)
		}
	}
	return nil
}

func orInt(p *int, def int) int {
	if p == nil {
		return def
	}
	return *p
}

func orFloat(p *float64, def float64) float64 {
	if p == nil {
		return def
	}
	return *p
}

func orBool(p *bool, def bool) bool {
	if p == nil {
		return def
	}
	return *p
}

// headsParams fills and checks the attention geometry.
func headsParams(p *Params, c *Config) error {
	p.KVHeads = orInt(c.NumKeyValueHeads, p.Heads)
	if err := positive("num_key_value_heads", p.KVHeads); err != nil {
		return err
	}
	if p.Dim%p.Heads != 0 {
		return fmt.Errorf("hidden_size %d is not a multiple of num_attention_heads %d", p.Dim, p.Heads)
	}
	if p.Heads%p.KVHeads != 0 {
		return fmt.Errorf("num_attention_heads %d is not a multiple of num_key_value_heads %d", p.Heads, p.KVHeads)
	}
	p.HeadDim = p.Dim / p.Heads
	if c.HeadDim != nil && *c.HeadDim != p.HeadDim {
		return fmt.Errorf("head_dim %d differs from hidden_size/num_attention_heads = %d, which is not supported", *c.HeadDim, p.HeadDim)
	}
	if p.HeadDim%2 != 0 {
		return fmt.Errorf("head size %d (hidden_size/num_attention_heads) is odd; rotary embeddings need it even", p.HeadDim)
	}
	return nil
}

func llamaParams(c *Config) (*Params, error) {
	p := &Params{Dim: c.HiddenSize, Hidden: c.IntermediateSize, Layers: c.NumHiddenLayers, Heads: c.NumAttentionHeads,
		Vocab: c.VocabSize, Context: c.MaxPositionEmbeddings, RopeBase: orFloat(c.RopeTheta, 10000),
		NormEps: orFloat(c.RMSNormEps, 1e-6), Tied: orBool(c.TieWordEmbeddings, false), Act: c.HiddenAct}
	if err := positive("hidden_size", p.Dim, "intermediate_size", p.Hidden, "num_hidden_layers", p.Layers,
		"num_attention_heads", p.Heads, "vocab_size", p.Vocab, "max_position_embeddings", p.Context); err != nil {
		return nil, err
	}
	if err := headsParams(p, c); err != nil {
		return nil, err
	}
	p.RopeDim = p.HeadDim
	if p.Act == "" {
		p.Act = "silu"
	}
	if p.Act != "silu" {
		return nil, fmt.Errorf("hidden_act %q is not supported for %s (want \"silu\")", p.Act, c.Architectures[0])
	}
	if c.MLPBias {
		return nil, fmt.Errorf("mlp_bias is not supported")
	}
	if !(p.RopeBase > 0) || !(p.NormEps > 0) {
		return nil, fmt.Errorf("rope_theta %v and rms_norm_eps %v must be positive", p.RopeBase, p.NormEps)
	}
	switch c.Architectures[0] {
	case "Qwen2ForCausalLM":
		p.Bias = true
		if orBool(c.UseSlidingWindow, false) {
			p.SlidingWindow = orInt(c.SlidingWindow, 0)
		}
	case "MistralForCausalLM":
		p.SlidingWindow = orInt(c.SlidingWindow, 0)
		p.Bias = c.AttentionBias
	default:
		p.Bias = c.AttentionBias
	}
	if r := c.RopeScaling; r != nil {
		switch r.Kind() {
		case "llama3":
			if c.Architectures[0] == "Qwen2ForCausalLM" {
				return nil, fmt.Errorf("rope_scaling %q is not supported for Qwen2", r.Kind())
			}
			if _, err := Llama3RopeFactors(p.HeadDim, p.RopeBase, r); err != nil {
				return nil, err
			}
			p.RopeScaling = r
		case "default", "":
		default:
			return nil, fmt.Errorf("rope_scaling type %q is not supported (supported: llama3)", r.Kind())
		}
	}
	return p, nil
}

func phiParams(c *Config) (*Params, error) {
	p := &Params{Dim: c.HiddenSize, Hidden: c.IntermediateSize, Layers: c.NumHiddenLayers, Heads: c.NumAttentionHeads,
		Vocab: c.VocabSize, Context: c.MaxPositionEmbeddings, RopeBase: orFloat(c.RopeTheta, 10000),
		NormEps: orFloat(c.LayerNormEps, 1e-5), Tied: orBool(c.TieWordEmbeddings, false), Act: c.HiddenAct, Bias: true}
	if err := positive("hidden_size", p.Dim, "intermediate_size", p.Hidden, "num_hidden_layers", p.Layers,
		"num_attention_heads", p.Heads, "vocab_size", p.Vocab, "max_position_embeddings", p.Context); err != nil {
		return nil, err
	}
	if err := headsParams(p, c); err != nil {
		return nil, err
	}
	if err := tanhGELU(p, "hidden_act"); err != nil {
		return nil, err
	}
	if c.QKLayerNorm {
		return nil, fmt.Errorf("qk_layernorm is not supported")
	}
	f := orFloat(c.PartialRotaryFactor, 0.5)
	p.RopeDim = int(float64(p.HeadDim) * f)
	if p.RopeDim <= 0 || p.RopeDim > p.HeadDim || p.RopeDim%2 != 0 {
		return nil, fmt.Errorf("partial_rotary_factor %v gives %d rotated dimensions of a head of %d; want an even number from 2 to the head size", f, p.RopeDim, p.HeadDim)
	}
	if c.RopeScaling != nil {
		return nil, fmt.Errorf("rope_scaling is not supported for Phi")
	}
	return p, nil
}

func gpt2Params(c *Config) (*Params, error) {
	p := &Params{Dim: c.NEmbd, Layers: c.NLayer, Heads: c.NHead, Vocab: c.VocabSize, Context: c.NPositions,
		NormEps: orFloat(c.LayerNormEpsilon, 1e-5), Tied: true, Act: c.ActivationFunction}
	if p.Context == 0 {
		p.Context = c.NCtx
	}
	p.Hidden = orInt(c.NInner, 4*p.Dim)
	if err := positive("n_embd", p.Dim, "n_layer", p.Layers, "n_head", p.Heads, "vocab_size", p.Vocab,
		"n_positions", p.Context, "n_inner", p.Hidden); err != nil {
		return nil, err
	}
	if p.Dim%p.Heads != 0 {
		return nil, fmt.Errorf("n_embd %d is not a multiple of n_head %d", p.Dim, p.Heads)
	}
	p.KVHeads, p.HeadDim, p.Bias = p.Heads, p.Dim/p.Heads, true
	if err := tanhGELU(p, "activation_function"); err != nil {
		return nil, err
	}
	if c.TieWordEmbeddings != nil && !*c.TieWordEmbeddings {
		return nil, fmt.Errorf("GPT-2 with tie_word_embeddings false is not supported")
	}
	return p, nil
}

// tanhGELU checks that a GELU family uses the tanh approximation, which
// its GGUF architecture implies (the default when the key is absent).
func tanhGELU(p *Params, key string) error {
	switch p.Act {
	case "":
		p.Act = "gelu_new"
	case "gelu_new", "gelu_pytorch_tanh", "gelu_fast":
	default:
		return fmt.Errorf("%s %q is not supported (want the tanh-approximated GELU: gelu_new, gelu_pytorch_tanh or gelu_fast)", key, p.Act)
	}
	return nil
}

func ignoreRotary(name string, p *Params) bool {
	return strings.HasSuffix(name, ".rotary_emb.inv_freq") || p.Tied && name == "lm_head.weight"
}

func ignoreGPT2(name string, p *Params) bool {
	return strings.HasSuffix(name, ".attn.bias") || strings.HasSuffix(name, ".attn.masked_bias") || name == "lm_head.weight"
}

func llamaTensors(p *Params) []tensorSpec {
	q, kv := p.Heads*p.HeadDim, p.KVHeads*p.HeadDim
	qOp, kOp := permuteQ, permuteK
	if p.Arch != "llama" {
		// Qwen2 keeps the rotate_half layout: llama.cpp runs it in NeoX
		// mode and does not permute.
		qOp, kOp = asIs, asIs
	}
	ts := []tensorSpec{{"model.embed_tokens.weight", "token_embd.weight", []int{p.Vocab, p.Dim}, "[vocab_size, hidden_size]", asIs}}
	for l := 0; l < p.Layers; l++ {
		hf := fmt.Sprintf("model.layers.%d.", l)
		gg := fmt.Sprintf("blk.%d.", l)
		ts = append(ts,
			tensorSpec{hf + "input_layernorm.weight", gg + "attn_norm.weight", []int{p.Dim}, "[hidden_size]", asIs},
			tensorSpec{hf + "self_attn.q_proj.weight", gg + "attn_q.weight", []int{q, p.Dim}, "[num_attention_heads·head_dim, hidden_size]", qOp},
			tensorSpec{hf + "self_attn.k_proj.weight", gg + "attn_k.weight", []int{kv, p.Dim}, "[num_key_value_heads·head_dim, hidden_size]", kOp},
			tensorSpec{hf + "self_attn.v_proj.weight", gg + "attn_v.weight", []int{kv, p.Dim}, "[num_key_value_heads·head_dim, hidden_size]", asIs},
		)
		if p.Bias {
			ts = append(ts,
				tensorSpec{hf + "self_attn.q_proj.bias", gg + "attn_q.bias", []int{q}, "[num_attention_heads·head_dim]", qOp},
				tensorSpec{hf + "self_attn.k_proj.bias", gg + "attn_k.bias", []int{kv}, "[num_key_value_heads·head_dim]", kOp},
				tensorSpec{hf + "self_attn.v_proj.bias", gg + "attn_v.bias", []int{kv}, "[num_key_value_heads·head_dim]", asIs},
			)
		}
		ts = append(ts,
			tensorSpec{hf + "self_attn.o_proj.weight", gg + "attn_output.weight", []int{p.Dim, q}, "[hidden_size, num_attention_heads·head_dim]", asIs},
			tensorSpec{hf + "post_attention_layernorm.weight", gg + "ffn_norm.weight", []int{p.Dim}, "[hidden_size]", asIs},
			tensorSpec{hf + "mlp.gate_proj.weight", gg + "ffn_gate.weight", []int{p.Hidden, p.Dim}, "[intermediate_size, hidden_size]", asIs},
			tensorSpec{hf + "mlp.up_proj.weight", gg + "ffn_up.weight", []int{p.Hidden, p.Dim}, "[intermediate_size, hidden_size]", asIs},
			tensorSpec{hf + "mlp.down_proj.weight", gg + "ffn_down.weight", []int{p.Dim, p.Hidden}, "[hidden_size, intermediate_size]", asIs},
		)
	}
	ts = append(ts, tensorSpec{"model.norm.weight", "output_norm.weight", []int{p.Dim}, "[hidden_size]", asIs})
	if !p.Tied {
		ts = append(ts, tensorSpec{"lm_head.weight", "output.weight", []int{p.Vocab, p.Dim}, "[vocab_size, hidden_size]", asIs})
	}
	return ts
}

func phiTensors(p *Params) []tensorSpec {
	q, kv := p.Heads*p.HeadDim, p.KVHeads*p.HeadDim
	wb := func(hf, gg string, rows, cols int, why string) []tensorSpec {
		return []tensorSpec{
			{hf + ".weight", gg + ".weight", []int{rows, cols}, why, asIs},
			{hf + ".bias", gg + ".bias", []int{rows}, why + " (bias)", asIs},
		}
	}
	norm := func(hf, gg string) []tensorSpec {
		return []tensorSpec{
			{hf + ".weight", gg + ".weight", []int{p.Dim}, "[hidden_size]", asIs},
			{hf + ".bias", gg + ".bias", []int{p.Dim}, "[hidden_size]", asIs},
		}
	}
	ts := []tensorSpec{{"model.embed_tokens.weight", "token_embd.weight", []int{p.Vocab, p.Dim}, "[vocab_size, hidden_size]", asIs}}
	for l := 0; l < p.Layers; l++ {
		hf := fmt.Sprintf("model.layers.%d.", l)
		gg := fmt.Sprintf("blk.%d.", l)
		ts = append(ts, norm(hf+"input_layernorm", gg+"attn_norm")...)
		ts = append(ts, wb(hf+"self_attn.q_proj", gg+"attn_q", q, p.Dim, "[num_attention_heads·head_dim, hidden_size]")...)
		ts = append(ts, wb(hf+"self_attn.k_proj", gg+"attn_k", kv, p.Dim, "[num_key_value_heads·head_dim, hidden_size]")...)
		ts = append(ts, wb(hf+"self_attn.v_proj", gg+"attn_v", kv, p.Dim, "[num_key_value_heads·head_dim, hidden_size]")...)
		ts = append(ts, wb(hf+"self_attn.dense", gg+"attn_output", p.Dim, q, "[hidden_size, num_attention_heads·head_dim]")...)
		ts = append(ts, wb(hf+"mlp.fc1", gg+"ffn_up", p.Hidden, p.Dim, "[intermediate_size, hidden_size]")...)
		ts = append(ts, wb(hf+"mlp.fc2", gg+"ffn_down", p.Dim, p.Hidden, "[hidden_size, intermediate_size]")...)
	}
	ts = append(ts, norm("model.final_layernorm", "output_norm")...)
	if p.Tied {
		return ts
	}
	return append(ts, wb("lm_head", "output", p.Vocab, p.Dim, "[vocab_size, hidden_size]")...)
}

func gpt2Tensors(p *Params) []tensorSpec {
	d := p.Dim
	norm := func(hf, gg string) []tensorSpec {
		return []tensorSpec{
			{hf + ".weight", gg + ".weight", []int{d}, "[n_embd]", asIs},
			{hf + ".bias", gg + ".bias", []int{d}, "[n_embd]", asIs},
		}
	}
	// conv maps a Conv1D layer: its weight is stored [in, out] and
	// transposed to out rows of in; its bias has out entries.
	conv := func(hf, gg string, in, out int, why string) []tensorSpec {
		return []tensorSpec{
			{hf + ".weight", gg + ".weight", []int{in, out}, why, transpose},
			{hf + ".bias", gg + ".bias", []int{out}, why + " (bias)", asIs},
		}
	}
	ts := []tensorSpec{
		{"wte.weight", "token_embd.weight", []int{p.Vocab, d}, "[vocab_size, n_embd]", asIs},
		{"wpe.weight", "position_embd.weight", []int{p.Context, d}, "[n_positions, n_embd]", asIs},
	}
	for l := 0; l < p.Layers; l++ {
		hf := fmt.Sprintf("h.%d.", l)
		gg := fmt.Sprintf("blk.%d.", l)
		ts = append(ts, norm(hf+"ln_1", gg+"attn_norm")...)
		ts = append(ts, conv(hf+"attn.c_attn", gg+"attn_qkv", d, 3*d, "[n_embd, 3·n_embd]")...)
		ts = append(ts, conv(hf+"attn.c_proj", gg+"attn_output", d, d, "[n_embd, n_embd]")...)
		ts = append(ts, norm(hf+"ln_2", gg+"ffn_norm")...)
		ts = append(ts, conv(hf+"mlp.c_fc", gg+"ffn_up", d, p.Hidden, "[n_embd, n_inner]")...)
		ts = append(ts, conv(hf+"mlp.c_proj", gg+"ffn_down", p.Hidden, d, "[n_inner, n_embd]")...)
	}
	return append(ts, norm("ln_f", "output_norm")...)
}

// Meta returns the GGUF metadata of the hyper-parameters, under the keys
// llama.cpp writes for the architecture.
func (p *Params) Meta(name string) []gguf.KV {
	a := p.Arch + "."
	u := func(k string, v int) gguf.KV { return gguf.KV{Key: a + k, Value: gguf.Uint32Value(uint32(v))} }
	f := func(k string, v float64) gguf.KV { return gguf.KV{Key: a + k, Value: gguf.Float32Value(float32(v))} }
	kv := []gguf.KV{
		{Key: gguf.KeyArchitecture, Value: gguf.StringValue(p.Arch)},
		{Key: "general.name", Value: gguf.StringValue(name)},
		u("context_length", p.Context),
		u("embedding_length", p.Dim),
		u("block_count", p.Layers),
		u("feed_forward_length", p.Hidden),
		u("attention.head_count", p.Heads),
		u("attention.head_count_kv", p.KVHeads),
		u("vocab_size", p.Vocab),
	}
	if p.RopeDim > 0 {
		kv = append(kv, f("rope.freq_base", p.RopeBase), u("rope.dimension_count", p.RopeDim))
	}
	switch p.Arch {
	case "llama", "qwen2":
		kv = append(kv, f("attention.layer_norm_rms_epsilon", p.NormEps))
	default:
		kv = append(kv, f("attention.layer_norm_epsilon", p.NormEps))
	}
	if p.SlidingWindow > 0 {
		kv = append(kv, u("attention.sliding_window", p.SlidingWindow))
	}
	return kv
}
