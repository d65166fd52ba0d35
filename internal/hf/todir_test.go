package hf_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/unswift/unswift/internal/gguf"
	"github.com/unswift/unswift/internal/hf"
	"github.com/unswift/unswift/internal/synth"
	"github.com/unswift/unswift/internal/tensor"
)

// synthModel writes a random tiny llama GGUF and returns its metadata and
// tensors.
func synthModel(t *testing.T, typ tensor.DType) ([]gguf.KV, []*tensor.Tensor) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "tiny.gguf")
	if err := synth.Write(path, synth.Shapes["tiny"], synth.Options{Type: typ, Seed: 3}); err != nil {
		t.Fatal(err)
	}
	f, err := gguf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	meta := f.Meta()
	return meta, f.Tensors
}

// TestWriteDirRoundTrip: a model written as a directory and opened again has
// the same tensors; Q8_0 matrices come back as F32 (their dequantized values).
func TestWriteDirRoundTrip(t *testing.T) {
	meta32, ts32 := synthModel(t, tensor.F32)
	for _, typ := range []tensor.DType{tensor.F32, tensor.BF16, tensor.Q8_0} {
		path := filepath.Join(t.TempDir(), "m.gguf")
		if err := hf.WriteGGUF(path, meta32, ts32, hf.GGUFOptions{Type: typ}); err != nil {
			t.Fatal(err)
		}
		f, err := gguf.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		meta, ts := meta32, f.Tensors
		dir := filepath.Join(t.TempDir(), "hf")
		if err := hf.WriteDir(dir, meta, ts, hf.DirOptions{KeepType: true}); err != nil {
			t.Fatal(err)
		}
		m, err := hf.Open(dir, hf.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if len(m.Tensors) != len(ts) {
			t.Errorf("%s: %d tensors came back as %d", typ, len(ts), len(m.Tensors))
		}
		for _, x := range ts {
			y := m.Tensor(x.Name)
			if y == nil {
				t.Errorf("%s: %s lost", typ, x.Name)
				continue
			}
			want := x.Data
			if x.Type == tensor.Q8_0 {
				f := make([]float32, x.Len())
				tensor.Dequantize(f, x.Type, x.Data)
				want = tensor.Bytes(f)
			} else if y.Type != x.Type {
				t.Errorf("%s: %s came back as %s", typ, x.Name, y.Type)
			}
			if !bytes.Equal(y.Data, want) {
				t.Errorf("%s: %s data changed", typ, x.Name)
			}
		}
		m.Close()
	}
}

func TestWriteDirErrors(t *testing.T) {
	meta, ts := synthModel(t, tensor.F32)
	with := func(key string, v gguf.Value) []gguf.KV {
		out := append([]gguf.KV(nil), meta...)
		for i := range out {
			if out[i].Key == key {
				out[i].Value = v
			}
		}
		return out
	}
	file := filepath.Join(t.TempDir(), "file")
	os.WriteFile(file, nil, 0o644)
	extra := append(append([]*tensor.Tensor(nil), ts...), tensor.FromF32("blk.0.ffn_taylor.weight", make([]float32, 4), 4))
	for _, tc := range []struct {
		name string
		dir  string
		meta []gguf.KV
		ts   []*tensor.Tensor
		opt  hf.DirOptions
		want string
	}{
		{"other arch", "", with(gguf.KeyArchitecture, gguf.StringValue("mamba")), ts, hf.DirOptions{}, `architecture "mamba" cannot be written`},
		{"metadata of another arch", "", with(gguf.KeyArchitecture, gguf.StringValue("phi2")), ts, hf.DirOptions{}, `metadata phi2.context_length is missing`},
		{"release tensor", "", meta, extra, hf.DirOptions{}, `"blk.0.ffn_taylor.weight" has no Hugging Face LlamaForCausalLM equivalent`},
		{"missing tensor", "", meta, without(ts, "blk.1.ffn_up.weight"), hf.DirOptions{}, `no tensor "blk.1.ffn_up.weight"`},
		{"partial rotary", "", append(append([]gguf.KV(nil), meta...), gguf.KV{Key: "llama.rope.dimension_count", Value: gguf.Uint32Value(8)}), ts, hf.DirOptions{}, "partial rotary"},
		{"bad type", "", meta, ts, hf.DirOptions{Type: tensor.Q8_0}, "Q8_0"},
		{"file in the way", file, meta, ts, hf.DirOptions{}, "not a directory"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := tc.dir
			if dir == "" {
				dir = filepath.Join(t.TempDir(), "out")
			}
			err := hf.WriteDir(dir, tc.meta, tc.ts, tc.opt)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error containing %q", err, tc.want)
			}
			if tc.dir == "" {
				if _, err := os.Stat(dir); err == nil {
					t.Error("a failed WriteDir left its directory")
				}
			}
		})
	}
}

func without(ts []*tensor.Tensor, name string) []*tensor.Tensor {
	var out []*tensor.Tensor
	for _, t := range ts {
		if t.Name != name {
			out = append(out, t)
		}
	}
	return out
}
