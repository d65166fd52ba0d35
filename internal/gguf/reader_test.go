package gguf

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"
	"unsafe"

	"github.com/unswift/unswift/internal/shared"
	"github.com/unswift/unswift/internal/tensor"
)

// The llama2.c header of stories260K.bin (see ../shared/README.md): the GGUF
// conversion must describe the same model.
const (
	storiesDim     = 64
	storiesHidden  = 172
	storiesLayers  = 5
	storiesHeads   = 8
	storiesKVHeads = 4
	storiesVocab   = 512
	storiesKVDim   = storiesDim * storiesKVHeads / storiesHeads
)

func TestStories260K(t *testing.T) {
	path := shared.Need(t, "models/stories260K/stories260K.gguf")
	f, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()

	if f.Version != 3 || f.Alignment != 32 {
		t.Errorf("version %d, alignment %d; want 3, 32", f.Version, f.Alignment)
	}
	if a := f.Architecture(); a != "llama" {
		t.Errorf("Architecture() = %q, want llama", a)
	}
	for _, c := range []struct {
		key  string
		want uint64
	}{
		{"llama.embedding_length", storiesDim},
		{"llama.feed_forward_length", storiesHidden},
		{"llama.block_count", storiesLayers},
		{"llama.attention.head_count", storiesHeads},
		{"llama.attention.head_count_kv", storiesKVHeads},
		{"llama.rope.dimension_count", storiesDim / storiesHeads},
		{"tokenizer.ggml.bos_token_id", 1},
		{"tokenizer.ggml.eos_token_id", 2},
	} {
		if got, ok := f.Uint(c.key); !ok || got != c.want {
			t.Errorf("Uint(%q) = %d, %v; want %d", c.key, got, ok, c.want)
		}
		if got, ok := f.Int(c.key); !ok || got != int64(c.want) {
			t.Errorf("Int(%q) = %d, %v; want %d", c.key, got, ok, c.want)
		}
	}
	if eps, ok := f.Float("llama.attention.layer_norm_rms_epsilon"); !ok || float32(eps) != 1e-5 {
		t.Errorf("rms epsilon = %g, %v; want 1e-5", eps, ok)
	}
	toks, ok := f.Strings("tokenizer.ggml.tokens")
	if !ok || len(toks) != storiesVocab || toks[0] != "<unk>" || toks[1] != "<s>" || toks[2] != "</s>" || toks[3] != "<0x00>" {
		t.Errorf("tokens: ok=%v len=%d first=%q", ok, len(toks), toks[:min(4, len(toks))])
	}
	if scores, ok := f.Float32s("tokenizer.ggml.scores"); !ok || len(scores) != storiesVocab {
		t.Errorf("scores: ok=%v len=%d", ok, len(scores))
	}
	if types, ok := f.Ints("tokenizer.ggml.token_type"); !ok || len(types) != storiesVocab {
		t.Errorf("token types: ok=%v len=%d", ok, len(types))
	}

	want := map[string][]int{
		"token_embd.weight":  {storiesDim, storiesVocab},
		"output_norm.weight": {storiesDim},
		"output.weight":      {storiesDim, storiesVocab},
	}
	for l := range storiesLayers {
		for name, shape := range map[string][]int{
			"attn_norm":   {storiesDim},
			"attn_q":      {storiesDim, storiesDim},
			"attn_k":      {storiesDim, storiesKVDim},
			"attn_v":      {storiesDim, storiesKVDim},
			"attn_output": {storiesDim, storiesDim},
			"ffn_norm":    {storiesDim},
			"ffn_gate":    {storiesDim, storiesHidden},
			"ffn_up":      {storiesDim, storiesHidden},
			"ffn_down":    {storiesHidden, storiesDim},
		} {
			want[fmt.Sprintf("blk.%d.%s.weight", l, name)] = shape
		}
	}
	if len(f.Tensors) != len(want) {
		t.Errorf("%d tensors, want %d", len(f.Tensors), len(want))
	}
	base := uintptr(unsafe.Pointer(&f.m.Data[0]))
	for _, tt := range f.Tensors {
		shape, ok := want[tt.Name]
		if !ok {
			t.Errorf("unexpected tensor %q", tt.Name)
			continue
		}
		if tt.Type != tensor.F32 || fmt.Sprint(tt.Shape) != fmt.Sprint(shape) {
			t.Errorf("%s: %v %v, want F32 %v", tt.Name, tt.Type, tt.Shape, shape)
		}
		if err := tt.Check(); err != nil {
			t.Error(err)
		}
		if f.Tensor(tt.Name) != tt {
			t.Errorf("Tensor(%q) does not return the listed tensor", tt.Name)
		}
		p := uintptr(unsafe.Pointer(&tt.Data[0]))
		if p < base || p+uintptr(len(tt.Data)) > base+uintptr(len(f.m.Data)) {
			t.Errorf("%s: data is not a view of the mapped file", tt.Name)
		}
		if (p-base)%32 != 0 || !tensor.Aligned(tt.Data, 32) {
			t.Errorf("%s: data at file offset %d is not 32-byte aligned", tt.Name, p-base)
		}
	}
	if f.Tensor("no.such.tensor") != nil {
		t.Error("Tensor of a missing name is not nil")
	}
	var desc bytes.Buffer
	if err := f.Describe(&desc); err != nil || !strings.Contains(desc.String(), "blk.4.ffn_down.weight") {
		t.Errorf("Describe: %v\n%s", err, desc.String())
	}
}

func TestVocabFiles(t *testing.T) {
	for _, c := range []struct {
		file    string
		arch    string
		vocab   int
		first   string
		merges  int
		bos     uint64
		scores  bool
		addBOS  bool
		hasBool bool
	}{
		// Sizes from ../shared/README.md; the first GPT-2 token is "!" (byte 33).
		{file: "ggml-vocab-llama-spm.gguf", arch: "llama", vocab: 32000, first: "<unk>", bos: 1, scores: true, addBOS: true, hasBool: true},
		{file: "ggml-vocab-gpt-2.gguf", arch: "gpt2", vocab: 50257, first: "!", merges: 50000, bos: 50256},
	} {
		t.Run(c.file, func(t *testing.T) {
			f, err := Open(shared.Need(t, "tokenizers/"+c.file))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if len(f.Tensors) != 0 {
				t.Errorf("%d tensors, want none", len(f.Tensors))
			}
			if f.Architecture() != c.arch {
				t.Errorf("architecture %q, want %q", f.Architecture(), c.arch)
			}
			toks, ok := f.Strings("tokenizer.ggml.tokens")
			if !ok || len(toks) != c.vocab || toks[0] != c.first {
				t.Errorf("tokens: ok=%v, %d tokens, first %q; want %d, %q", ok, len(toks), toks[:min(1, len(toks))], c.vocab, c.first)
			}
			types, ok := f.Ints("tokenizer.ggml.token_type")
			if !ok || len(types) != c.vocab {
				t.Errorf("token types: ok=%v, %d", ok, len(types))
			}
			scores, ok := f.Float32s("tokenizer.ggml.scores")
			if ok != c.scores || (ok && len(scores) != c.vocab) {
				t.Errorf("scores: ok=%v, %d", ok, len(scores))
			}
			merges, _ := f.Strings("tokenizer.ggml.merges")
			if len(merges) != c.merges {
				t.Errorf("%d merges, want %d", len(merges), c.merges)
			}
			if bos, ok := f.Uint("tokenizer.ggml.bos_token_id"); !ok || bos != c.bos {
				t.Errorf("bos = %d, %v; want %d", bos, ok, c.bos)
			}
			add, ok := f.Bool("tokenizer.ggml.add_bos_token")
			if ok != c.hasBool || add != c.addBOS {
				t.Errorf("add_bos_token = %v, %v; want %v, %v", add, ok, c.addBOS, c.hasBool)
			}
			// Metadata stays valid after Close.
			f.Close()
			if s, _ := f.Strings("tokenizer.ggml.tokens"); len(s) != c.vocab {
				t.Errorf("after Close: %d tokens", len(s))
			}
		})
	}
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	missing := dir + "/missing.gguf"
	if _, err := Open(missing); err == nil || !strings.Contains(err.Error(), missing) {
		t.Errorf("Open(missing) = %v, want an error naming the path", err)
	}
	bad := dir + "/bad.gguf"
	writeFile(t, bad, []byte("GGML\x03\x00\x00\x00"))
	_, err := Open(bad)
	if err == nil || !strings.Contains(err.Error(), bad) || !errors.Is(err, ErrNotGGUF) {
		t.Errorf("Open(bad magic) = %v, want ErrNotGGUF naming the path", err)
	}
}

func BenchmarkOpenStories260K(b *testing.B) {
	path := shared.Need(b, "models/stories260K/stories260K.gguf")
	for b.Loop() {
		f, err := Open(path)
		if err != nil {
			b.Fatal(err)
		}
		f.Close()
	}
}

func BenchmarkOpenGPT2Vocab(b *testing.B) {
	path := shared.Need(b, "tokenizers/ggml-vocab-gpt-2.gguf")
	for b.Loop() {
		f, err := Open(path)
		if err != nil {
			b.Fatal(err)
		}
		f.Close()
	}
}
