package model

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/unswift/unswift/internal/gguf"
	"github.com/unswift/unswift/internal/synth"
	"github.com/unswift/unswift/internal/tensor"
)

// synthFile writes a random-weight model of a synth shape and returns its
// metadata and tensors, for rewriting.
func synthFile(t *testing.T, shape string) ([]gguf.KV, []*tensor.Tensor) {
	t.Helper()
	path := filepath.Join(t.TempDir(), shape+".gguf")
	if err := synth.Write(path, synth.Shapes[shape], synth.Options{Type: tensor.F32, Seed: 1}); err != nil {
		t.Fatal(err)
	}
	f, err := gguf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f.Meta(), f.Tensors
}

// TestFamilyErrors: a file whose tensors do not fit its architecture's
// forward pass is refused with a message naming the tensor or the rule.
func TestFamilyErrors(t *testing.T) {
	without := func(ts []*tensor.Tensor, names ...string) []*tensor.Tensor {
		var out []*tensor.Tensor
		for _, x := range ts {
			if !strings.Contains(strings.Join(names, " "), x.Name) {
				out = append(out, x)
			}
		}
		return out
	}
	with := func(ts []*tensor.Tensor, extra ...*tensor.Tensor) []*tensor.Tensor {
		return append(append([]*tensor.Tensor(nil), ts...), extra...)
	}
	gptMeta, gpt := synthFile(t, "tiny-gpt2")
	phiMeta, phi := synthFile(t, "tiny-phi2")
	llamaMeta, llama := synthFile(t, "tiny")
	vec := func(name string, n int) *tensor.Tensor { return tensor.FromF32(name, make([]float32, n), n) }
	gpt2Dim, phiDim := synth.Shapes["tiny-gpt2"].Dim, synth.Shapes["tiny-phi2"].Dim
	for _, tc := range []struct {
		name string
		meta []gguf.KV
		ts   []*tensor.Tensor
		want string
	}{
		{"gpt2 without positions", gptMeta, without(gpt, "position_embd.weight"), `needs learned positions: missing tensor "position_embd.weight"`},
		{"gpt2 without qkv", gptMeta, without(gpt, "blk.1.attn_qkv.weight", "blk.1.attn_qkv.bias"), `missing tensor "blk.1.attn_q.weight" (or a fused "blk.1.attn_qkv.weight")`},
		{"qkv bias alone", gptMeta, without(gpt, "blk.0.attn_qkv.weight"), `blk.0.attn_qkv.bias without attn_qkv.weight`},
		{"gpt2 without ffn_norm", gptMeta, without(gpt, "blk.0.ffn_norm.weight"), `missing tensor "blk.0.ffn_norm.weight"`},
		{"phi2 with ffn_norm", phiMeta, with(phi, vec("blk.0.ffn_norm.weight", phiDim)), `in parallel from one norm`},
		{"phi2 with a gate", phiMeta, with(phi, tensor.FromF32("blk.0.ffn_gate.weight", make([]float32, phiDim*256), phiDim, 256)), `has a plain MLP`},
		{"llama without a gate", llamaMeta, without(llama, "blk.1.ffn_gate.weight"), `missing tensor "blk.1.ffn_gate.weight" (architecture llama has a gated MLP)`},
		{"llama with a norm bias", llamaMeta, with(llama, vec("blk.0.attn_norm.bias", 64)), `uses RMSNorm, which has no bias`},
		{"llama with learned positions", llamaMeta, with(llama, tensor.FromF32("position_embd.weight", make([]float32, 64*256), 64, 256)), `uses rotary positions`},
		{"gpt2 bias of the wrong type", gptMeta, append(without(gpt, "blk.0.ffn_up.bias"), &tensor.Tensor{Name: "blk.0.ffn_up.bias", Type: tensor.F16, Shape: []int{256}, Data: make([]byte, 512)}), `biases must be F32`},
		{"gpt2 bias of the wrong size", gptMeta, append(without(gpt, "blk.0.attn_output.bias"), vec("blk.0.attn_output.bias", gpt2Dim+1)), `"blk.0.attn_output.bias" has shape [65]`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "m.gguf")
			if err := gguf.WriteFile(path, tc.meta, tc.ts); err != nil {
				t.Fatal(err)
			}
			m, err := Open(path, Options{})
			if err == nil {
				m.Close()
				t.Fatalf("opened; want an error containing %q", tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %q, want it to contain %q", err, tc.want)
			}
		})
	}
}

// TestHugeBlockCount: a header that claims a billion blocks is refused before
// anything is allocated for them (found by mutating files: it ran out of
// memory).
func TestHugeBlockCount(t *testing.T) {
	meta, ts := synthFile(t, "tiny-gpt2")
	for i := range meta {
		if meta[i].Key == "gpt2.block_count" {
			meta[i].Value = gguf.Uint32Value(1 << 30)
		}
	}
	path := filepath.Join(t.TempDir(), "m.gguf")
	if err := gguf.WriteFile(path, meta, ts); err != nil {
		t.Fatal(err)
	}
	_, err := Open(path, Options{})
	if err == nil || !strings.Contains(err.Error(), "block count 1073741824 is larger than the file's") {
		t.Fatalf("got %v", err)
	}
}
