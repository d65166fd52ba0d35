package hf

import (
	"bytes"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/unswift/unswift/internal/gguf"
	"github.com/unswift/unswift/internal/tensor"
	"github.com/unswift/unswift/internal/tokenizer"
)

// TestWriteGGUFTypes converts tensors large enough to be converted in several
// pieces and compares them with a whole-tensor conversion.
func TestWriteGGUFTypes(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 3))
	big := tensor.FromF32("big.weight", randF32(rng, 64*9000, 1), 64, 9000)
	odd := tensor.FromF32("odd.weight", randF32(rng, 20*3, 1), 20, 3)
	norm := &tensor.Tensor{Name: "norm.weight", Type: tensor.BF16, Shape: []int{64}, Data: bf16le(randF32(rng, 64, 1))}
	q8f32 := &tensor.Tensor{Name: "q.weight", Type: tensor.Q8F32, Shape: []int{64, 2}, Data: make([]byte, 4*36)}
	if err := tensor.Quantize(q8f32.Data, tensor.Q8F32, randF32(rng, 128, 1)); err != nil {
		t.Fatal(err)
	}
	all := []*tensor.Tensor{big, odd, norm, q8f32}
	meta := []gguf.KV{{Key: "general.architecture", Value: gguf.StringValue("llama")}}
	for _, tc := range []struct {
		opt      GGUFOptions
		want     map[string]tensor.DType
		fileType uint64
	}{
		{GGUFOptions{Type: tensor.Q8_0}, map[string]tensor.DType{"big.weight": tensor.Q8_0, "odd.weight": tensor.F32, "norm.weight": tensor.F32, "q.weight": tensor.Q8_0}, 7},
		{GGUFOptions{Type: tensor.F16}, map[string]tensor.DType{"big.weight": tensor.F16, "odd.weight": tensor.F16, "norm.weight": tensor.F32, "q.weight": tensor.F16}, 1},
		{GGUFOptions{Type: tensor.BF16}, map[string]tensor.DType{"big.weight": tensor.BF16, "odd.weight": tensor.BF16, "norm.weight": tensor.F32, "q.weight": tensor.BF16}, 32},
		{GGUFOptions{KeepType: true}, map[string]tensor.DType{"big.weight": tensor.F32, "odd.weight": tensor.F32, "norm.weight": tensor.F32, "q.weight": tensor.F32}, 0},
	} {
		path := filepath.Join(t.TempDir(), "m.gguf")
		var calls int
		tc.opt.Progress = func(done, total int) { calls++ }
		if err := WriteGGUF(path, meta, all, tc.opt); err != nil {
			t.Fatal(err)
		}
		f, err := gguf.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		if ft, _ := f.Uint("general.file_type"); ft != tc.fileType {
			t.Errorf("%+v: general.file_type %d, want %d", tc.opt, ft, tc.fileType)
		}
		if _, ok := f.Uint("general.quantization_version"); ok != (tc.fileType == 7) {
			t.Errorf("%+v: quantization_version present: %v", tc.opt, ok)
		}
		if calls != len(all) {
			t.Errorf("%d progress calls for %d tensors", calls, len(all))
		}
		for _, src := range all {
			got := f.Tensor(src.Name)
			if got == nil || got.Type != tc.want[src.Name] || !slices.Equal(got.Shape, src.Shape) {
				t.Errorf("%+v: %s is %v, want type %s", tc.opt, src.Name, got, tc.want[src.Name])
				continue
			}
			x := make([]float32, src.Len())
			if err := tensor.Dequantize(x, src.Type, src.Data); err != nil {
				t.Fatal(err)
			}
			size, _ := got.Type.Bytes(len(x))
			want := make([]byte, size)
			if err := tensor.Quantize(want, got.Type, x); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got.Data, want) {
				t.Errorf("%+v: %s data differs from a whole-tensor conversion", tc.opt, src.Name)
			}
		}
		f.Close()
	}
	if err := WriteGGUF(filepath.Join(t.TempDir(), "x.gguf"), meta, all, GGUFOptions{Type: tensor.Q4_0}); err == nil || !strings.Contains(err.Error(), "Q4_0") {
		t.Errorf("Q4_0: %v", err)
	}
	lazy := &tensor.Tensor{Name: "lazy", Type: tensor.F32, Shape: []int{4}}
	if err := WriteGGUF(filepath.Join(t.TempDir(), "x.gguf"), meta, []*tensor.Tensor{lazy}, GGUFOptions{}); err == nil || !strings.Contains(err.Error(), "no data") {
		t.Errorf("tensor without data: %v", err)
	}
}

func TestCaptureAndEscape(t *testing.T) {
	meta, err := CaptureMeta(func(w *gguf.Writer) error {
		w.AddString(tokenizer.KeyModel, "llama")
		w.AddStrings(tokenizer.KeyTokens, []string{"<unk>", " the", "a b"})
		w.AddUint32("x", 7)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(meta) != 3 || meta[2].Key != "x" {
		t.Fatalf("captured %v", meta)
	}
	esc := EscapeSPMSpaces(meta)
	toks, _ := esc[1].Value.AsStrings()
	if !slices.Equal(toks, []string{"<unk>", "▁the", "a▁b"}) {
		t.Errorf("escaped tokens %q", toks)
	}
	if orig, _ := meta[1].Value.AsStrings(); orig[1] != " the" {
		t.Error("EscapeSPMSpaces changed its input")
	}
	// Already escaped, or not SentencePiece: unchanged.
	for _, m := range [][]gguf.KV{esc, {{Key: tokenizer.KeyModel, Value: gguf.StringValue("gpt2")}, {Key: tokenizer.KeyTokens, Value: gguf.StringsValue([]string{" x"})}}} {
		again := EscapeSPMSpaces(m)
		for i := range m {
			if !again[i].Value.Equal(m[i].Value) {
				t.Errorf("EscapeSPMSpaces changed %s", m[i].Key)
			}
		}
	}
}
