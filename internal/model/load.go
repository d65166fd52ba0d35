package model

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/unswift/unswift/internal/gguf"
	"github.com/unswift/unswift/internal/hf"
	"github.com/unswift/unswift/internal/kernel"
	"github.com/unswift/unswift/internal/llama2c"
	"github.com/unswift/unswift/internal/tensor"
	"github.com/unswift/unswift/internal/tokenizer"
)

// Model is a loaded model: configuration, weights bound to the tensors of its
// file (memory-mapped, not copied), and tokenizer.
type Model struct {
	Config    Config
	Weights   Weights
	Tokenizer tokenizer.Tokenizer
	Format    string           // "gguf", "llama2c" or "llama2c-v2"
	Path      string           // the model file
	Tensors   []*tensor.Tensor // every tensor of the file, in file order
	GGUF      *gguf.File       // the parsed GGUF file, nil for other formats
	Taylor    *Taylor          // the TaylorMLP of a release, nil for a plain model

	order int // order a release runs at

	closer io.Closer

	ropeMu           sync.Mutex
	ropeCos, ropeSin []float32
}

// Options adjust loading.
type Options struct {
	// Tokenizer is a llama2.c tokenizer.bin path for llama2.c checkpoints. Empty
	// means: look for a single tokenizer file beside the checkpoint.
	Tokenizer string
}

// Close releases the model's file mapping. The model must not be used after.
func (m *Model) Close() error {
	if m.closer == nil {
		return nil
	}
	err := m.closer.Close()
	m.closer = nil
	return err
}

// Open loads a model, detecting its format: a Hugging Face directory
// (config.json + safetensors), or a file by its first bytes: GGUF, or a
// llama2.c checkpoint (legacy fp32 or version 2 Q8_0).
func Open(path string, opt Options) (*Model, error) {
	if hf.IsDir(path) {
		return openHF(path, opt)
	}
	head := make([]byte, 8)
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	_, err = io.ReadFull(f, head)
	f.Close()
	if err != nil {
		return nil, fmt.Errorf("%s: too short to be a model file", path)
	}
	var m *Model
	if bytes.HasPrefix(head, []byte("GGUF")) {
		m, err = openGGUF(path)
	} else {
		m, err = openLlama2c(path, opt)
		// "24ka" is the llama2.c version 2 magic "ak42" as a little-endian uint32.
		if err != nil && !bytes.HasPrefix(head, []byte("24ka")) {
			err = fmt.Errorf("%s: not a GGUF file (magic %q) and not a llama2.c checkpoint: %w", path, head[:4], err)
		}
	}
	if err != nil {
		return nil, err
	}
	m.Path = path
	return m, nil
}

func openGGUF(path string) (*Model, error) {
	f, err := gguf.Open(path)
	if err != nil {
		return nil, err
	}
	m, err := fromGGUF(f)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	m.closer = f
	return m, nil
}

// openHF loads a Hugging Face model directory: its metadata as in-memory GGUF
// keys, its tensors under GGUF names (views of the mapped safetensors, except
// Q/K, which are permuted to GGUF's RoPE pairing).
func openHF(dir string, opt Options) (*Model, error) {
	h, err := hf.Open(dir, hf.Options{Tokenizer: opt.Tokenizer})
	if err != nil {
		return nil, err
	}
	meta, err := h.MetaFile()
	var m *Model
	if err == nil {
		m, err = fromParts(meta, h.Tensors)
	}
	if err != nil {
		h.Close()
		return nil, fmt.Errorf("%s: %w", dir, err)
	}
	// The metadata (GGUF keys made from config.json and the tokenizer files)
	// stands in for a GGUF file's, so releases and conversions carry it.
	m.Tokenizer, m.Format, m.GGUF, m.closer, m.Path = h.Tokenizer, "hf", meta, h, dir
	return m, nil
}

func fromGGUF(f *gguf.File) (*Model, error) { return fromParts(f, f.Tensors) }

// fromParts builds a model from GGUF metadata and tensors under GGUF names.
func fromParts(f *gguf.File, tensors []*tensor.Tensor) (*Model, error) {
	arch := f.Architecture()
	fam, err := lookupFamily(arch)
	if err != nil {
		return nil, err
	}
	c, err := configFromGGUF(f, arch)
	c.Family = fam
	if err != nil {
		return nil, err
	}
	tok, err := tokenizer.FromGGUF(f)
	if err != nil {
		return nil, err
	}
	m := &Model{Config: c, Tokenizer: tok, Format: "gguf", Tensors: tensors, GGUF: f}
	for _, t := range tensors {
		if t.Name == "token_embd.weight" && len(t.Shape) == 2 {
			m.Config.Vocab = t.Shape[1]
		}
	}
	if err := m.Config.Validate(); err != nil {
		return nil, err
	}
	if m.Taylor, err = taylorFromGGUF(f, &m.Config); err != nil {
		return nil, err
	}
	if err := m.bind(); err != nil {
		return nil, err
	}
	if m.Taylor != nil {
		m.Format = "gguf (TaylorMLP release)"
		m.order = m.Taylor.Order
	}
	return m, nil
}

func configFromGGUF(f *gguf.File, arch string) (Config, error) {
	c := Config{Arch: arch, RopeBase: 10000, NormEps: 1e-5}
	need := func(key string, dst *int) error {
		v, ok := f.Uint(arch + "." + key)
		if !ok {
			return fmt.Errorf("missing metadata key %s.%s", arch, key)
		}
		if v > 1<<31 {
			return fmt.Errorf("metadata %s.%s = %d is out of range", arch, key, v)
		}
		*dst = int(v)
		return nil
	}
	for _, k := range []struct {
		key string
		dst *int
	}{
		{"context_length", &c.Context}, {"embedding_length", &c.Dim}, {"block_count", &c.Layers},
		{"feed_forward_length", &c.Hidden}, {"attention.head_count", &c.Heads},
	} {
		if err := need(k.key, k.dst); err != nil {
			return c, err
		}
	}
	c.KVHeads = c.Heads
	if v, ok := f.Uint(arch + ".attention.head_count_kv"); ok {
		c.KVHeads = int(v)
	}
	if v, ok := f.Float(arch + ".rope.freq_base"); ok {
		c.RopeBase = v
	}
	if v, ok := f.Float(arch + ".attention.layer_norm_rms_epsilon"); ok {
		c.NormEps = float32(v)
	}
	if v, ok := f.Float(arch + ".attention.layer_norm_epsilon"); ok {
		c.NormEps = float32(v)
	}
	if v, ok := f.Uint(arch + ".attention.sliding_window"); ok {
		if v > 1<<31 {
			return c, fmt.Errorf("metadata %s.attention.sliding_window = %d is out of range", arch, v)
		}
		c.SlidingWindow = int(v)
	}
	if c.Heads > 0 {
		c.RopeDim = c.Dim / c.Heads
	}
	if v, ok := f.Uint(arch + ".rope.dimension_count"); ok {
		c.RopeDim = int(v)
	}
	if toks, ok := f.Strings("tokenizer.ggml.tokens"); ok {
		c.Vocab = len(toks)
	}
	if v, ok := f.Uint(arch + ".vocab_size"); ok {
		c.Vocab = int(v)
	}
	return c, nil
}

func (m *Model) bind() error {
	if err := m.Config.Validate(); err != nil {
		return err
	}
	// Each block has a dozen tensors or so; a block count beyond the tensor
	// count is a corrupt header, and binding it would allocate that many.
	if c := &m.Config; c.Layers > len(m.Tensors) {
		return fmt.Errorf("block count %d is larger than the file's %d tensors", c.Layers, len(m.Tensors))
	}
	byName := make(map[string]*tensor.Tensor, len(m.Tensors))
	for _, t := range m.Tensors {
		byName[t.Name] = t
	}
	if err := bind(&m.Weights, byName, &m.Config); err != nil {
		return err
	}
	if err := m.checkFamily(); err != nil {
		return err
	}
	for _, t := range m.weightList() {
		if t.Type != tensor.F32 && (isNorm(t.Name) || isBias(t.Name)) {
			return fmt.Errorf("tensor %q: norm weights and biases must be F32, have %s", t.Name, t.Type)
		}
		if !kernel.Supported(t.Type) {
			return fmt.Errorf("tensor %q: unsupported tensor type %s", t.Name, t.Type)
		}
		if t.Type == tensor.F32 && !tensor.Aligned(t.Data, 4) {
			return fmt.Errorf("tensor %q: F32 data is not 4-byte aligned", t.Name)
		}
	}
	if f := m.Weights.RopeFreqs; f != nil && f.Type != tensor.F32 {
		return fmt.Errorf("tensor %q must be F32, have %s", f.Name, f.Type)
	}
	if m.Taylor != nil {
		return m.checkTaylor()
	}
	for l, ly := range m.Weights.Layers {
		if ly.Down == nil {
			return fmt.Errorf("layer %d: missing tensor %q", l, fmt.Sprintf("blk.%d.ffn_down.weight", l))
		}
	}
	return nil
}

func isNorm(name string) bool { return strings.HasSuffix(name, "norm.weight") }

func isBias(name string) bool { return strings.Contains(name, ".bias") }

// checkFamily splits fused projections and checks that the weights are what
// the family's forward pass needs.
func (m *Model) checkFamily() error {
	c, w := &m.Config, &m.Weights
	fam := c.Family
	if fam.Rope == RopeNone && w.PositionEmbd == nil {
		return fmt.Errorf("architecture %s needs learned positions: missing tensor \"position_embd.weight\"", c.Arch)
	}
	if fam.Rope != RopeNone && w.PositionEmbd != nil {
		return fmt.Errorf("architecture %s uses rotary positions, but the file has \"position_embd.weight\"", c.Arch)
	}
	if fam.Norm == RMSNorm && w.OutputNormB != nil {
		return fmt.Errorf("architecture %s uses RMSNorm, which has no bias, but the file has %q", c.Arch, w.OutputNormB.Name)
	}
	for l := range w.Layers {
		ly := &w.Layers[l]
		name := fmt.Sprintf("blk.%d.", l)
		if err := ly.splitQKV(c); err != nil {
			return err
		}
		for _, p := range []struct {
			t    *tensor.Tensor
			name string
		}{{ly.Q, "attn_q.weight"}, {ly.K, "attn_k.weight"}, {ly.V, "attn_v.weight"}} {
			if p.t == nil {
				return fmt.Errorf("missing tensor %q (or a fused %q)", name+p.name, name+"attn_qkv.weight")
			}
		}
		if !fam.Parallel && ly.FFNNorm == nil {
			return fmt.Errorf("missing tensor %q", name+"ffn_norm.weight")
		}
		if fam.Parallel && ly.FFNNorm != nil {
			return fmt.Errorf("architecture %s runs attention and MLP in parallel from one norm, but the file has %q", c.Arch, ly.FFNNorm.Name)
		}
		if fam.Gated && ly.Gate == nil {
			return fmt.Errorf("missing tensor %q (architecture %s has a gated MLP)", name+"ffn_gate.weight", c.Arch)
		}
		if !fam.Gated && ly.Gate != nil {
			return fmt.Errorf("architecture %s has a plain MLP, but the file has %q", c.Arch, ly.Gate.Name)
		}
		if fam.Norm == RMSNorm && (ly.AttnNormB != nil || ly.FFNNormB != nil) {
			return fmt.Errorf("architecture %s uses RMSNorm, which has no bias, but layer %d has a norm bias", c.Arch, l)
		}
	}
	return nil
}

// weightList returns every bound tensor.
func (m *Model) weightList() []*tensor.Tensor {
	w := &m.Weights
	var ts []*tensor.Tensor
	for _, t := range []*tensor.Tensor{w.TokenEmbd, w.PositionEmbd, w.OutputNorm, w.OutputNormB, w.RopeFreqs, w.Output, w.OutputB} {
		if t != nil {
			ts = append(ts, t)
		}
	}
	for _, l := range w.Layers {
		for _, t := range append([]*tensor.Tensor{l.AttnNorm, l.Q, l.K, l.V, l.O, l.FFNNorm, l.Gate, l.Up, l.Down, l.Taylor, l.Center, l.Scale, l.Slope}, l.biases()...) {
			if t != nil {
				ts = append(ts, t)
			}
		}
	}
	return ts
}

// WeightBytesPerToken is the number of weight bytes one decoded token reads:
// every matrix once (the classifier included), one embedding row.
func (m *Model) WeightBytesPerToken() int64 {
	var n int64
	w := &m.Weights
	for _, t := range m.weightList() {
		if t == w.TokenEmbd || t == w.PositionEmbd {
			n += int64(t.RowBytes())
			continue
		}
		n += int64(len(t.Data))
	}
	if tl := m.Taylor; tl != nil {
		// A release run below its order reads a prefix of each coefficient row.
		for l, ly := range w.Layers {
			full := ly.Taylor.RowBytes()
			used, _ := ly.Taylor.Type.Bytes(tl.Cols(l, m.Config.Hidden, m.order))
			n -= int64(full-used) * int64(ly.Taylor.Rows())
		}
	}
	if w.Output == nil {
		n += int64(len(w.TokenEmbd.Data))
	}
	return n
}

func openLlama2c(path string, opt Options) (*Model, error) {
	ck, err := llama2c.Open(path)
	if err != nil {
		return nil, err
	}
	fail := func(err error) (*Model, error) {
		ck.Close()
		return nil, err
	}
	cc := ck.Config
	c := Config{Arch: "llama", Family: Families["llama"], Dim: cc.Dim, Hidden: cc.HiddenDim, Layers: cc.Layers, Heads: cc.Heads,
		KVHeads: cc.KVHeads, Vocab: cc.Vocab, Context: cc.SeqLen, RopeBase: 10000, NormEps: 1e-5}
	if cc.Heads > 0 {
		c.RopeDim = cc.Dim / cc.Heads
	}
	tokPath := opt.Tokenizer
	if tokPath == "" {
		if tokPath, err = findTokenizer(path, cc.Vocab); err != nil {
			return fail(err)
		}
	}
	tok, err := tokenizer.FromLlama2c(tokPath, cc.Vocab)
	if err != nil {
		return fail(fmt.Errorf("tokenizer %s: %w", tokPath, err))
	}
	format := "llama2c"
	if ck.Version == 2 {
		format = "llama2c-v2"
	}
	m := &Model{Config: c, Tokenizer: tok, Format: format, Tensors: ck.Tensors, closer: ck}
	if err := m.bind(); err != nil {
		return fail(fmt.Errorf("%s: %w", path, err))
	}
	return m, nil
}

// findTokenizer looks beside a llama2.c checkpoint for the one tokenizer file
// whose vocabulary size matches.
func findTokenizer(model string, vocab int) (string, error) {
	dir := filepath.Dir(model)
	matches, _ := filepath.Glob(filepath.Join(dir, "*.bin"))
	var found []string
	for _, p := range matches {
		if p == model {
			continue
		}
		if _, err := llama2c.ReadTokenizer(p, vocab); err == nil {
			found = append(found, p)
		}
	}
	switch len(found) {
	case 1:
		return found[0], nil
	case 0:
		return "", errors.New("no llama2.c tokenizer file beside " + model + " matches its vocabulary; pass --tokenizer FILE")
	}
	return "", fmt.Errorf("several tokenizer files beside %s (%s); pass --tokenizer FILE", model, strings.Join(found, ", "))
}
