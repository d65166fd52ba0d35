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

// WriteDir writes a GGUF-style "llama" model (its metadata and tensors, as
// from a GGUF file) as a Hugging Face directory: config.json
// (LlamaForCausalLM), model.safetensors, tokenizer.json and
// tokenizer_config.json. The query and key rows are permuted back to
// rotate_half order (UnpermuteQK). The directory is written beside dir under
// a temporary name and renamed to dir when complete; dir must not exist or
// be an empty directory.
func WriteDir(dir string, meta []gguf.KV, tensors []*tensor.Tensor, opt DirOptions) error {
	if !opt.KeepType {
		if _, ok := torchDTypes[opt.Type]; !ok {
			return fmt.Errorf("hf: cannot write safetensors tensors as %s (want F32, F16 or BF16)", opt.Type)
		}
	}
	p, err := paramsFromMeta(meta, tensors)
	if err != nil {
		return err
	}
	vocab, err := VocabFromMeta(meta)
	if err != nil {
		return err
	}
	byName := map[string]*tensor.Tensor{}
	for _, t := range tensors {
		byName[t.Name] = t
	}
	p.Tied = byName["output.weight"] == nil
	specs := llamaTensors(p)
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
			return fmt.Errorf("hf: tensor %q has no Hugging Face Llama equivalent (a TaylorMLP release or rope scaling cannot be written as a Hugging Face directory)", t.Name)
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
		w.AddTensor(s.hf, types[i], t.Shape...)
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
		if s.op == permuteQ || s.op == permuteK {
			heads := p.Heads
			if s.op == permuteK {
				heads = p.KVHeads
			}
			out := make([]byte, len(data))
			if err := UnpermuteQK(out, data, heads, len(data)/t.Rows()); err != nil {
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
	cfg := map[string]any{
		"architectures":           []string{"LlamaForCausalLM"},
		"model_type":              "llama",
		"hidden_size":             p.Dim,
		"intermediate_size":       p.Hidden,
		"num_hidden_layers":       p.Layers,
		"num_attention_heads":     p.Heads,
		"num_key_value_heads":     p.KVHeads,
		"vocab_size":              p.Vocab,
		"max_position_embeddings": p.Context,
		"rms_norm_eps":            p.NormEps,
		"rope_theta":              p.RopeBase,
		"tie_word_embeddings":     p.Tied,
		"hidden_act":              "silu",
		"attention_bias":          false,
		"torch_dtype":             dtype,
	}
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

// paramsFromMeta reads the hyper-parameters of a GGUF "llama" model.
func paramsFromMeta(meta []gguf.KV, tensors []*tensor.Tensor) (*Params, error) {
	m := newMetaMap(meta)
	arch, _ := m.str(gguf.KeyArchitecture)
	if arch != "llama" {
		return nil, fmt.Errorf("hf: only llama models can be written as a Hugging Face directory; this one is %q", arch)
	}
	p := &Params{Class: "LlamaForCausalLM", Arch: "llama", RopeBase: 10000, NormEps: 1e-5}
	for _, k := range []struct {
		key string
		dst *int
	}{
		{"context_length", &p.Context}, {"embedding_length", &p.Dim}, {"block_count", &p.Layers},
		{"feed_forward_length", &p.Hidden}, {"attention.head_count", &p.Heads},
	} {
		v, ok := m.uint("llama." + k.key)
		if !ok || v == 0 || v > 1<<30 {
			return nil, fmt.Errorf("hf: metadata llama.%s is missing or invalid", k.key)
		}
		*k.dst = int(v)
	}
	p.KVHeads = p.Heads
	if v, ok := m.uint("llama.attention.head_count_kv"); ok {
		p.KVHeads = int(v)
	}
	if v, ok := m.float("llama.rope.freq_base"); ok {
		p.RopeBase = shortest(v)
	}
	if v, ok := m.float("llama.attention.layer_norm_rms_epsilon"); ok {
		p.NormEps = shortest(v)
	}
	if p.KVHeads <= 0 || p.Dim%p.Heads != 0 || p.Heads%p.KVHeads != 0 || (p.Dim/p.Heads)%2 != 0 {
		return nil, fmt.Errorf("hf: inconsistent llama metadata: %d dimensions, %d heads, %d kv heads", p.Dim, p.Heads, p.KVHeads)
	}
	p.HeadDim = p.Dim / p.Heads
	p.RopeDim = p.HeadDim
	if v, ok := m.uint("llama.rope.dimension_count"); ok && int(v) != p.HeadDim {
		return nil, fmt.Errorf("hf: llama.rope.dimension_count %d differs from the head size %d (partial rotary is not a Llama feature)", v, p.HeadDim)
	}
	if _, ok := m["llama.rope.scaling.type"]; ok {
		return nil, fmt.Errorf("hf: rope scaling (llama.rope.scaling.*) cannot be written as a Hugging Face Llama config")
	}
	for _, t := range tensors {
		if t.Name == "token_embd.weight" && len(t.Shape) == 2 {
			p.Vocab = t.Shape[1]
		}
	}
	if p.Vocab == 0 {
		return nil, fmt.Errorf("hf: the model has no token_embd.weight")
	}
	return p, nil
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
