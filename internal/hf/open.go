// Package hf reads Hugging Face model directories (config.json, safetensors
// weights, tokenizer.json) as GGUF-style models, writes models back as such
// directories, and converts models to GGUF files.
//
// Open maps a directory's weights and presents them as a GGUF file would: the
// architecture's hyper-parameters and tokenizer as GGUF metadata (the keys
// llama.cpp writes), and the tensors under GGUF names and shapes. Supported
// architectures: LlamaForCausalLM and MistralForCausalLM (GGUF "llama"),
// Qwen2ForCausalLM ("qwen2"), PhiForCausalLM ("phi2") and GPT2LMHeadModel
// ("gpt2").
//
// Most tensors are zero-copy views of the memory-mapped safetensors files.
// These are copied instead:
//
//   - the query and key projections (and biases) of "llama" models, whose
//     rows are permuted from Hugging Face's rotate_half layout to GGUF's
//     interleaved pairs (see PermuteQK). Qwen2 and Phi keep Hugging Face's
//     order, as llama.cpp's converter does: GGUF runs those architectures
//     with NeoX-style RoPE, which is rotate_half;
//   - GPT-2's Conv1D weights, stored transposed;
//   - one-dimensional tensors (norms, biases) not stored as F32, which are
//     widened to F32 as llama.cpp's converter does;
//   - data that is not aligned to its element size in memory.
//
// Llama 3.1's rope_scaling adds a tensor rope_freqs.weight, as llama.cpp's
// converter does (see Llama3RopeFactors).
package hf

import (
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"unsafe"

	"github.com/unswift/unswift/internal/gguf"
	"github.com/unswift/unswift/internal/mmap"
	"github.com/unswift/unswift/internal/safetensors"
	"github.com/unswift/unswift/internal/tensor"
	"github.com/unswift/unswift/internal/tokenizer"
)

// Options adjust Open.
type Options struct {
	// Tokenizer is the path of a tokenizer.json to use instead of the
	// directory's (its tokenizer_config.json is looked for beside it).
	Tokenizer string
	// Lazy leaves the Data of tensors that must be copied (see the package
	// documentation) nil; Model.Data computes them on demand. Conversion uses
	// it to hold one such tensor in memory at a time.
	Lazy bool
}

// Model is an open Hugging Face model directory, in GGUF terms.
type Model struct {
	// Dir is the model directory.
	Dir string
	// Config is config.json as parsed; Params its resolved hyper-parameters.
	Config *Config
	Params *Params
	// Arch is the GGUF architecture: "llama", "qwen2", "phi2" or "gpt2".
	Arch string
	// Meta is the model's GGUF metadata: general.architecture and
	// general.name, the architecture's hyper-parameters (llama.context_length,
	// llama.embedding_length, ...) and the tokenizer (tokenizer.ggml.*,
	// tokenizer.chat_template), in the order a GGUF file would hold them.
	Meta []gguf.KV
	// Tensors are the weights under GGUF names and shapes (Shape[0]
	// innermost), in GGUF order: token_embd.weight, the blocks, output_norm,
	// output (absent when the embedding is tied).
	Tensors []*tensor.Tensor
	// Vocab is the tokenizer's vocabulary, padded to the model's vocabulary
	// size; Tokenizer is built from it.
	Vocab     *Vocab
	Tokenizer tokenizer.Tokenizer
	// Copied is the number of bytes of tensor data computed at Open
	// (permuted, transposed or widened tensors; 0 when lazy). Misaligned
	// data, copied by package safetensors, is not counted.
	Copied int64

	st     *safetensors.Set
	plans  map[*tensor.Tensor]*plan
	byName map[string]*tensor.Tensor

	mu   sync.Mutex
	anon []*mmap.File // memory of the computed tensors, released by Close
}

// plan is how a GGUF tensor is made from its HF tensor.
type plan struct {
	spec tensorSpec
	src  *tensor.Tensor // the HF tensor (shape reversed), nil for generated data
	file string
	gen  []byte // generated data (rope_freqs)
	p    *Params
}

// IsDir reports whether path is a Hugging Face model directory: a directory
// with a config.json.
func IsDir(path string) bool {
	st, err := os.Stat(path)
	if err != nil || !st.IsDir() {
		return false
	}
	_, err = os.Stat(filepath.Join(path, ConfigFile))
	return err == nil
}

// Open opens the model directory dir. Errors name the file and tensor at
// fault: a config whose sizes disagree with the tensors' shapes, a missing
// shard or tensor, a tensor the architecture does not have, an unsupported
// dtype or architecture.
func Open(dir string, opt Options) (*Model, error) {
	cpath := filepath.Join(dir, ConfigFile)
	cfg, err := ReadConfig(cpath)
	if err != nil {
		return nil, err
	}
	a, err := archOf(cfg)
	if err != nil {
		return nil, fmt.Errorf("hf: %s: %w", cpath, err)
	}
	p, err := Resolve(cfg)
	if err != nil {
		return nil, fmt.Errorf("hf: %s: %w", cpath, err)
	}
	var vocab *Vocab
	if opt.Tokenizer != "" {
		vocab, err = ReadTokenizerFile(opt.Tokenizer, cfg)
	} else {
		vocab, err = ReadTokenizer(dir, cfg)
	}
	if err != nil {
		return nil, err
	}
	if err := vocab.Pad(p.Vocab); err != nil {
		return nil, fmt.Errorf("hf: %s: %w (config.json vocab_size)", dir, err)
	}
	tok, err := vocab.Tokenizer()
	if err != nil {
		return nil, fmt.Errorf("hf: %s: %w", dir, err)
	}
	st, err := safetensors.OpenDir(dir)
	if err != nil {
		return nil, fmt.Errorf("hf: %w", err)
	}
	m := &Model{Dir: dir, Config: cfg, Params: p, Arch: p.Arch, Vocab: vocab, Tokenizer: tok, st: st,
		plans: map[*tensor.Tensor]*plan{}, byName: map[string]*tensor.Tensor{}}
	err = m.build(a, opt.Lazy)
	if err == nil && !opt.Lazy {
		err = m.fill()
	}
	if err != nil {
		st.Close()
		return nil, err
	}
	name := cfg.NameOrPath
	if name == "" {
		name = filepath.Base(filepath.Clean(dir))
	}
	m.Meta = append(p.Meta(filepath.Base(name)), vocab.Meta()...)
	return m, nil
}

// build maps every HF tensor to its GGUF tensor.
func (m *Model) build(a *arch, lazy bool) error {
	p := m.Params
	prefix := ""
	for _, pre := range a.prefixes {
		for _, n := range m.st.Names() {
			if strings.HasPrefix(n, pre) {
				prefix = pre
			}
		}
	}
	used := map[string]bool{}
	for _, s := range a.tensors(p) {
		name := prefix + s.hf
		info, file, ok := m.st.Info(name)
		if !ok {
			return fmt.Errorf("hf: %s: missing tensor %q: no safetensors file has it, and a %s with this config.json needs it", m.Dir, name, p.Class)
		}
		used[name] = true
		if !equalInts(info.Shape, s.shape) {
			return fmt.Errorf("hf: %s: tensor %q has shape %v, but config.json implies %v %s", file, name, info.Shape, s.shape, s.why)
		}
		src, err := m.st.Tensor(name)
		if err != nil {
			return fmt.Errorf("hf: %w", err)
		}
		if err := m.add(&plan{spec: s, src: src, file: file, p: p}, lazy); err != nil {
			return err
		}
	}
	for _, name := range m.st.Names() {
		n := strings.TrimPrefix(name, prefix)
		if used[name] || a.ignore(n, p) {
			continue
		}
		_, file, _ := m.st.Info(name)
		return fmt.Errorf("hf: %s: unexpected tensor %q: a %s with this config.json (%d layers) has no such tensor", file, name, p.Class, p.Layers)
	}
	if r := p.RopeScaling; r != nil {
		f, err := Llama3RopeFactors(p.HeadDim, p.RopeBase, r)
		if err != nil {
			return fmt.Errorf("hf: %s: %w", filepath.Join(m.Dir, ConfigFile), err)
		}
		data := make([]byte, 4*len(f))
		for i, x := range f {
			binary.LittleEndian.PutUint32(data[4*i:], math.Float32bits(x))
		}
		s := tensorSpec{gguf: "rope_freqs.weight", shape: []int{len(f)}}
		if err := m.add(&plan{spec: s, gen: data, p: p}, false); err != nil {
			return err
		}
	}
	return nil
}

// add creates the GGUF tensor of a plan; its data is filled in by fill.
func (m *Model) add(pl *plan, lazy bool) error {
	t := &tensor.Tensor{Name: pl.spec.gguf, Type: tensor.F32, Shape: pl.spec.ggufShape()}
	if pl.src != nil {
		t.Type = pl.src.Type
		if len(t.Shape) == 1 {
			t.Type = tensor.F32
		}
	}
	m.plans[t] = pl
	if pl.direct() {
		t.Data = pl.src.Data
	}
	m.Tensors = append(m.Tensors, t)
	m.byName[t.Name] = t
	return nil
}

// fill computes the data of every tensor that is not a view, on all cores
// (the copies read the mapped file, which may have to come from disk).
func (m *Model) fill() error {
	var todo []*tensor.Tensor
	for _, t := range m.Tensors {
		if t.Data == nil {
			todo = append(todo, t)
		}
	}
	errs := make([]error, len(todo))
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), len(todo)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				todo[i].Data, errs[i] = m.plans[todo[i]].make(m.alloc)
			}
		}()
	}
	for i := range todo {
		next <- i
	}
	close(next)
	wg.Wait()
	for i, t := range todo {
		if errs[i] != nil {
			return errs[i]
		}
		m.Copied += int64(len(t.Data))
	}
	return nil
}

// direct reports whether the GGUF tensor is the HF tensor's data as it is.
func (pl *plan) direct() bool {
	return pl.src != nil && pl.spec.op == asIs && (len(pl.src.Shape) > 1 || pl.src.Type == tensor.F32)
}

// make computes the data of a GGUF tensor that is not a plain view.
func (pl *plan) make(alloc func(n int) []byte) ([]byte, error) {
	if pl.src == nil {
		return pl.gen, nil
	}
	src := pl.src
	if len(src.Shape) == 1 && src.Type != tensor.F32 {
		// Widen to F32, permuting the result if need be.
		f := make([]float32, src.Len())
		if err := tensor.Dequantize(f, src.Type, src.Data); err != nil {
			return nil, fmt.Errorf("hf: %s: tensor %q: %w", pl.file, src.Name, err)
		}
		src = tensor.FromF32(src.Name, f, src.Shape...)
		if pl.spec.op == asIs {
			return src.Data, nil
		}
	}
	if pl.spec.op == asIs {
		return safetensors.AlignedCopy(src.Data), nil // misaligned data
	}
	out := alloc(len(src.Data))
	if out == nil {
		return nil, fmt.Errorf("hf: %s: tensor %q: no memory for %d bytes", pl.file, src.Name, len(src.Data))
	}
	rowBytes := len(src.Data) / src.Rows()
	if len(src.Shape) == 1 {
		rowBytes = len(src.Data) / src.Len()
	}
	var err error
	switch pl.spec.op {
	case permuteQ:
		err = PermuteQK(out, src.Data, pl.p.Heads, rowBytes)
	case permuteK:
		err = PermuteQK(out, src.Data, pl.p.KVHeads, rowBytes)
	case transpose:
		err = transposeInto(out, src)
	}
	if err != nil {
		return nil, fmt.Errorf("hf: %s: tensor %q: %w", pl.file, src.Name, err)
	}
	return out, nil
}

// alignedBytes allocates n bytes of 8-byte-aligned memory.
func alignedBytes(n int) []byte {
	if n == 0 {
		return []byte{}
	}
	w := make([]uint64, (n+7)/8)
	return unsafe.Slice((*byte)(unsafe.Pointer(&w[0])), len(w)*8)[:n:n]
}

// transposeInto writes the transpose of the matrix src (rows of Shape[0]
// elements) into dst.
func transposeInto(dst []byte, src *tensor.Tensor) error {
	es, err := src.Type.Bytes(1)
	if err != nil || len(src.Shape) != 2 {
		return fmt.Errorf("cannot transpose a %s %v tensor", src.Type, src.Shape)
	}
	cols, rows := src.Shape[0], src.Shape[1]
	for r := 0; r < rows; r++ {
		for c := 0; c < cols; c++ {
			copy(dst[(c*rows+r)*es:(c*rows+r+1)*es], src.Data[(r*cols+c)*es:(r*cols+c+1)*es])
		}
	}
	return nil
}

// Data returns the data of one of the model's tensors, computing it when the
// model was opened lazily (the result is not kept).
func (m *Model) Data(t *tensor.Tensor) ([]byte, error) {
	if t.Data != nil {
		return t.Data, nil
	}
	pl := m.plans[t]
	if pl == nil {
		return nil, fmt.Errorf("hf: tensor %q is not one of the model's", t.Name)
	}
	return pl.make(alignedBytes)
}

// Tensor returns the tensor with the GGUF name name, or nil.
func (m *Model) Tensor(name string) *tensor.Tensor { return m.byName[name] }

// SourceName returns the Hugging Face name of the tensor with GGUF name
// name, and the file that holds it ("" for generated tensors).
func (m *Model) SourceName(name string) (hfName, file string) {
	t := m.byName[name]
	if t == nil || m.plans[t].src == nil {
		return "", ""
	}
	return m.plans[t].src.Name, m.plans[t].file
}

// alloc returns n bytes for a computed tensor that lives until Close, or nil.
func (m *Model) alloc(n int) []byte {
	f, err := mmap.Anon(n)
	if err != nil {
		return nil
	}
	m.mu.Lock()
	m.anon = append(m.anon, f)
	m.mu.Unlock()
	return f.Data
}

// Close unmaps the safetensors files and frees the computed tensors; the
// model's tensors become invalid.
func (m *Model) Close() error {
	for _, f := range m.anon {
		f.Close()
	}
	m.anon = nil
	if m.st == nil {
		return nil
	}
	err := m.st.Close()
	m.st = nil
	return err
}

// MetaFile returns a GGUF file, held in memory, that has the model's
// metadata and no tensors, so that code written for GGUF files can read the
// hyper-parameters and tokenizer of a Hugging Face model.
func (m *Model) MetaFile() (*gguf.File, error) { return metaFile(m.Meta) }

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
