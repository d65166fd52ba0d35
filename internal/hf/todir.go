package hf

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"

	"github.com/unswift/unswift/internal/gguf"
	"github.com/unswift/unswift/internal/safefile"
	"github.com/unswift/unswift/internal/safetensors"
	"github.com/unswift/unswift/internal/tensor"
)

// DirOptions control WriteDir.
type DirOptions struct {
	// Type is the safetensors type of the matrices: F32, F16 or BF16.
	// One-dimensional tensors are written as F32.
	Type tensor.DType
	// KeepType writes each matrix in its own type instead of Type when
	// safetensors can hold it, and as F32 otherwise (quantized types).
	KeepType bool
	// Progress is called after each tensor with the tensors done and the total.
	Progress func(done, total int)
}

var torchDTypes = map[tensor.DType]string{tensor.F32: "float32", tensor.F16: "float16", tensor.BF16: "bfloat16"}

// WriteDir writes a GGUF model (its metadata and tensors, as from a GGUF
// file) of a supported architecture (llama, qwen2, phi2, gpt2) as a Hugging
// Face directory: config.json, model.safetensors, tokenizer.json and
// tokenizer_config.json. Each tensor takes the way back of its way in:
// llama's query and key rows are permuted back to rotate_half order
// (UnpermuteQK), GPT-2's Conv1D weights are transposed back. The directory is
// written beside dir under a temporary name and renamed to dir when
// complete; dir must not exist or be an empty directory.
func WriteDir(dir string, meta []gguf.KV, tensors []*tensor.Tensor, opt DirOptions) error {
	if !opt.KeepType {
		if _, ok := torchDTypes[opt.Type]; !ok {
			return fmt.Errorf("hf: cannot write safetensors tensors as %s (want F32, F16 or BF16)", opt.Type)
		}
	}
	byName := map[string]*tensor.Tensor{}
	for _, t := range tensors {
		byName[t.Name] = t
	}
	p, err := paramsFromMeta(meta, byName)
	if err != nil {
		return err
	}
	vocab, err := VocabFromMeta(meta)
	if err != nil {
		return err
	}
	a, err := archOf(&Config{Architectures: []string{p.Class}})
	if err != nil {
		return err
	}
	specs := a.tensors(p)
	used := map[string]bool{}
	for _, s := range specs {
		t := byName[s.gguf]
		if t == nil {
			return fmt.Errorf("hf: the model has no tensor %q", s.gguf)
		}
		if !equalInts(t.Shape, s.ggufShape()) {
			return fmt.Errorf("hf: tensor %q has shape %v, the metadata implies %v", s.gguf, t.Shape, s.ggufShape())
		}
		used[s.gguf] = true
	}
	for _, t := range tensors {
		if !used[t.Name] {
			return fmt.Errorf("hf: tensor %q has no Hugging Face %s equivalent (a TaylorMLP release, rope scaling or a fused attn_qkv outside GPT-2 cannot be written as a Hugging Face directory)", t.Name, p.Class)
		}
	}

	if err := checkTarget(dir); err != nil {
		return err
	}
	parent := filepath.Dir(filepath.Clean(dir))
	tmp, err := os.MkdirTemp(parent, "."+filepath.Base(filepath.Clean(dir))+".tmp-*")
	if err != nil {
		return fmt.Errorf("hf: %w", err)
	}
	defer os.RemoveAll(tmp)
	if err := os.Chmod(tmp, 0o755); err != nil {
		return fmt.Errorf("hf: %w", err)
	}

	// Weights.
	w, err := safetensors.Create(filepath.Join(tmp, safetensors.SingleFile))
	if err != nil {
		return err
	}
	defer w.Abort()
	w.Metadata = map[string]string{"format": "pt"}
	types := make([]tensor.DType, len(specs))
	for i, s := range specs {
		t := byName[s.gguf]
		types[i] = opt.Type
		switch {
		case len(t.Shape) == 1:
			types[i] = tensor.F32
		case opt.KeepType:
			if _, ok := torchDTypes[t.Type]; ok {
				types[i] = t.Type
			} else {
				types[i] = tensor.F32
			}
		}
		shape := t.Shape
		if s.op == transpose {
			shape = []int{t.Shape[1], t.Shape[0]}
		}
		w.AddTensor(s.hf, types[i], shape...)
	}
	if err := w.WriteHeader(); err != nil {
		return err
	}
	for i, s := range specs {
		t := byName[s.gguf]
		data := t.Data
		if types[i] != t.Type {
			size, err := types[i].Bytes(t.Len())
			if err != nil {
				return fmt.Errorf("hf: tensor %q: %w", t.Name, err)
			}
			data = make([]byte, size)
			if err := convert(data, types[i], t.Data, t); err != nil {
				return err
			}
		}
		switch s.op {
		case permuteQ, permuteK:
			heads := p.Heads
			if s.op == permuteK {
				heads = p.KVHeads
			}
			rowBytes := len(data) / t.Rows()
			if len(t.Shape) == 1 { // a bias: one element per row
				rowBytes = len(data) / t.Len()
			}
			out := make([]byte, len(data))
			if err := UnpermuteQK(out, data, heads, rowBytes); err != nil {
				return fmt.Errorf("hf: tensor %q: %w", t.Name, err)
			}
			data = out
		case transpose:
			out := make([]byte, len(data))
			if err := transposeInto(out, &tensor.Tensor{Name: t.Name, Type: types[i], Shape: t.Shape, Data: data}); err != nil {
				return fmt.Errorf("hf: tensor %q: %w", t.Name, err)
			}
			data = out
		}
		if err := w.WriteTensorData(s.hf, data); err != nil {
			return err
		}
		if opt.Progress != nil {
			opt.Progress(i+1, len(specs))
		}
	}
	if err := w.Close(); err != nil {
		return err
	}

	// Configuration and tokenizer.
	dtype := torchDTypes[opt.Type]
	if opt.KeepType {
		dtype = torchDTypes[types[0]]
		for i, s := range specs {
			if i > 0 && len(s.shape) > 1 {
				dtype = torchDTypes[types[i]] // the first matrix of the blocks
				break
			}
		}
	}
	cfg := p.config()
	cfg["torch_dtype"] = dtype
	if vocab.BOS >= 0 {
		cfg["bos_token_id"] = vocab.BOS
	}
	if vocab.EOS >= 0 {
		cfg["eos_token_id"] = vocab.EOS
	}
	cj, err := marshalIndent(cfg)
	if err != nil {
		return err
	}
	tj, err := vocab.MarshalTokenizerJSON()
	if err != nil {
		return err
	}
	tc, err := vocab.MarshalTokenizerConfig(p.Context)
	if err != nil {
		return err
	}
	for _, f := range []struct {
		name string
		data []byte
	}{{ConfigFile, cj}, {TokenizerFile, tj}, {TokenizerConfigFile, tc}} {
		if err := writeFile(filepath.Join(tmp, f.name), f.data); err != nil {
			return err
		}
	}
	if err := os.Rename(tmp, dir); err != nil {
		return fmt.Errorf("hf: %w", err)
	}
	return nil
}

// checkTarget refuses to replace anything but an empty directory.
func checkTarget(dir string) error {
	st, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil
	case err != nil:
		return fmt.Errorf("hf: %w", err)
	case !st.IsDir():
		return fmt.Errorf("hf: %s exists and is not a directory", dir)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("hf: %w", err)
	}
	if len(entries) > 0 {
		return fmt.Errorf("hf: %s exists and is not empty; remove it or choose another output directory", dir)
	}
	return nil
}

func marshalIndent(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return nil, fmt.Errorf("hf: %w", err)
	}
	return b.Bytes(), nil
}

func writeFile(path string, data []byte) error {
	f, err := safefile.Create(path)
	if err != nil {
		return fmt.Errorf("hf: %w", err)
	}
	defer f.Abort()
	if _, err := f.Write(data); err != nil {
		return fmt.Errorf("hf: %w", err)
	}
	if err := f.Commit(); err != nil {
		return fmt.Errorf("hf: %w", err)
	}
	return nil
}

// classOf returns the Hugging Face class WriteDir writes for a GGUF
// architecture: the first in the arches table that maps to it.
func classOf(arch string) (string, bool) {
	for _, a := range arches {
		if a.gguf == arch {
			return a.class, true
		}
	}
	return "", false
}

// paramsFromMeta reads the hyper-parameters of a GGUF model.
func paramsFromMeta(meta []gguf.KV, byName map[string]*tensor.Tensor) (*Params, error) {
	m := newMetaMap(meta)
	arch, _ := m.str(gguf.KeyArchitecture)
	class, ok := classOf(arch)
	if !ok {
		return nil, fmt.Errorf("hf: architecture %q cannot be written as a Hugging Face directory (supported: gpt2, llama, phi2, qwen2)", arch)
	}
	p := &Params{Class: class, Arch: arch, RopeBase: 10000, NormEps: 1e-5}
	for _, k := range []struct {
		key string
		dst *int
	}{
		{"context_length", &p.Context}, {"embedding_length", &p.Dim}, {"block_count", &p.Layers},
		{"feed_forward_length", &p.Hidden}, {"attention.head_count", &p.Heads},
	} {
		v, ok := m.uint(arch + "." + k.key)
		if !ok || v == 0 || v > 1<<30 {
			return nil, fmt.Errorf("hf: metadata %s.%s is missing or invalid", arch, k.key)
		}
		*k.dst = int(v)
	}
	p.KVHeads = p.Heads
	if v, ok := m.uint(arch + ".attention.head_count_kv"); ok {
		p.KVHeads = int(v)
	}
	if v, ok := m.float(arch + ".rope.freq_base"); ok {
		p.RopeBase = shortest(v)
	}
	epsKey := ".attention.layer_norm_rms_epsilon"
	if arch == "phi2" || arch == "gpt2" {
		epsKey = ".attention.layer_norm_epsilon"
	}
	if v, ok := m.float(arch + epsKey); ok {
		p.NormEps = shortest(v)
	}
	if v, ok := m.uint(arch + ".attention.sliding_window"); ok {
		p.SlidingWindow = int(v)
	}
	if p.KVHeads <= 0 || p.Dim%p.Heads != 0 || p.Heads%p.KVHeads != 0 || (p.Dim/p.Heads)%2 != 0 {
		return nil, fmt.Errorf("hf: inconsistent %s metadata: %d dimensions, %d heads, %d kv heads", arch, p.Dim, p.Heads, p.KVHeads)
	}
	p.HeadDim = p.Dim / p.Heads
	p.RopeDim = p.HeadDim
	if v, ok := m.uint(arch + ".rope.dimension_count"); ok {
		p.RopeDim = int(v)
	}
	switch arch {
	case "gpt2":
		p.RopeDim = 0
		p.Act = "gelu_new"
		if p.KVHeads != p.Heads {
			return nil, fmt.Errorf("hf: GPT-2 has no grouped-query attention (%d heads, %d kv heads)", p.Heads, p.KVHeads)
		}
	case "phi2":
		p.Act, p.Bias = "gelu_new", true
		if p.RopeDim <= 0 || p.RopeDim > p.HeadDim || p.RopeDim%2 != 0 {
			return nil, fmt.Errorf("hf: %s.rope.dimension_count %d does not fit a head of %d", arch, p.RopeDim, p.HeadDim)
		}
	default:
		p.Act = "silu"
		p.Bias = byName["blk.0.attn_q.bias"] != nil
		if p.RopeDim != p.HeadDim {
			return nil, fmt.Errorf("hf: %s.rope.dimension_count %d differs from the head size %d (partial rotary is not a %s feature)", arch, p.RopeDim, p.HeadDim, class)
		}
		if arch == "llama" && p.SlidingWindow > 0 {
			p.Class = "MistralForCausalLM"
		}
	}
	if _, ok := m[arch+".rope.scaling.type"]; ok {
		return nil, fmt.Errorf("hf: rope scaling (%s.rope.scaling.*) cannot be written as a Hugging Face config", arch)
	}
	if t := byName["token_embd.weight"]; t != nil && len(t.Shape) == 2 {
		p.Vocab = t.Shape[1]
	}
	if p.Vocab == 0 {
		return nil, fmt.Errorf("hf: the model has no token_embd.weight")
	}
	p.Tied = byName["output.weight"] == nil
	if arch == "gpt2" && !p.Tied {
		return nil, fmt.Errorf("hf: a GPT-2 model with its own output.weight cannot be written as GPT2LMHeadModel, whose classifier is the token embedding")
	}
	return p, nil
}

// config returns the config.json of the hyper-parameters.
func (p *Params) config() map[string]any {
	if p.Arch == "gpt2" {
		return map[string]any{
			"architectures": []string{p.Class}, "model_type": "gpt2",
			"n_embd": p.Dim, "n_inner": p.Hidden, "n_layer": p.Layers, "n_head": p.Heads,
			"vocab_size": p.Vocab, "n_positions": p.Context, "n_ctx": p.Context,
			"layer_norm_epsilon": p.NormEps, "activation_function": p.Act, "tie_word_embeddings": true,
		}
	}
	cfg := map[string]any{
		"architectures":           []string{p.Class},
		"hidden_size":             p.Dim,
		"intermediate_size":       p.Hidden,
		"num_hidden_layers":       p.Layers,
		"num_attention_heads":     p.Heads,
		"num_key_value_heads":     p.KVHeads,
		"vocab_size":              p.Vocab,
		"max_position_embeddings": p.Context,
		"rope_theta":              p.RopeBase,
		"tie_word_embeddings":     p.Tied,
		"hidden_act":              p.Act,
	}
	switch p.Arch {
	case "phi2":
		cfg["model_type"] = "phi"
		cfg["layer_norm_eps"] = p.NormEps
		cfg["partial_rotary_factor"] = float64(p.RopeDim) / float64(p.HeadDim)
	case "qwen2":
		cfg["model_type"] = "qwen2"
		cfg["rms_norm_eps"] = p.NormEps
		if p.SlidingWindow > 0 {
			cfg["use_sliding_window"], cfg["sliding_window"] = true, p.SlidingWindow
		}
	default:
		cfg["model_type"] = "llama"
		cfg["rms_norm_eps"] = p.NormEps
		cfg["attention_bias"] = p.Bias
		if p.SlidingWindow > 0 {
			cfg["model_type"], cfg["sliding_window"] = "mistral", p.SlidingWindow
		}
	}
	return cfg
}

// shortest returns the float64 whose decimal form is the shortest one of v
// as a float32 (GGUF stores 1e-5 as the float32 nearest it, 9.99999974e-06).
func shortest(v float64) float64 {
	if float64(float32(v)) != v {
		return v
	}
	r, err := strconv.ParseFloat(strconv.FormatFloat(v, 'g', -1, 32), 64)
	if err != nil {
		return v
	}
	return r
}
