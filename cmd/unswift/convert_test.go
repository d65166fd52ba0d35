package main

import (
	"bytes"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/unswift/unswift/internal/gguf"
	"github.com/unswift/unswift/internal/kernel"
	"github.com/unswift/unswift/internal/model"
	"github.com/unswift/unswift/internal/shared"
	"github.com/unswift/unswift/internal/tensor"
)

// convertOK runs `unswift convert` and fails the test on a non-zero exit.
func convertOK(t *testing.T, args ...string) {
	t.Helper()
	code, out, errs := run(append([]string{"convert"}, args...)...)
	if code != 0 {
		t.Fatalf("convert %v: exit %d\nstdout %s\nstderr %s", args, code, out, errs)
	}
}

// readRefLogits reads a reference logits file: a header naming the prompt
// ids, then "id value" lines.
func readRefLogits(t *testing.T, path string) (prompt []int, logits []float64) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		var id int
		var v float64
		if strings.HasPrefix(line, "#") {
			if i := strings.Index(line, "):"); i >= 0 && prompt == nil {
				for _, f := range strings.Fields(line[i+2:]) {
					var n int
					if _, err := fmt.Sscan(f, &n); err == nil {
						prompt = append(prompt, n)
					}
				}
			}
			continue
		}
		if _, err := fmt.Sscan(line, &id, &v); err != nil || id != len(logits) {
			t.Fatalf("%s: bad line %q", path, line)
		}
		logits = append(logits, v)
	}
	return prompt, logits
}

// TestConvertStories260K: the GGUF converted from the llama2.c checkpoint
// generates the reference text and reproduces the reference logits.
func TestConvertStories260K(t *testing.T) {
	src := shared.Need(t, "models/stories260K/stories260K.bin")
	wantText, err := os.ReadFile(shared.Need(t, "reference/stories260K_greedy_n64_once_upon_a_time.txt"))
	if err != nil {
		t.Fatal(err)
	}
	prompt, wantLogits := readRefLogits(t, shared.Need(t, "reference/logits_stories260K_once.txt"))
	dir := t.TempDir()
	out := filepath.Join(dir, "stories260K.gguf")
	convertOK(t, "-m", src, "-o", out)

	code, text, errs := run("run", "-m", out, "--temp", "0", "-n", "64", "-p", "Once upon a time")
	if code != 0 || text != string(wantText) {
		t.Fatalf("run on the converted GGUF: exit %d, stderr %q\n got %q\nwant %q", code, errs, text, wantText)
	}

	m, err := model.Open(out, model.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if m.Format != "gguf" || m.Weights.Output != nil {
		t.Errorf("format %q, output.weight present: %v (the checkpoint shares its classifier)", m.Format, m.Weights.Output != nil)
	}
	ids := m.Tokenizer.Encode("Once upon a time", true)
	if !slices.Equal(ids, prompt) {
		t.Fatalf("prompt tokens %v, reference %v", ids, prompt)
	}
	pool := kernel.NewPool(1)
	defer pool.Close()
	logits, err := m.NewState(pool, 0).Forward(ids)
	if err != nil {
		t.Fatal(err)
	}
	if len(logits) != len(wantLogits) {
		t.Fatalf("%d logits, reference %d", len(logits), len(wantLogits))
	}
	var worst float64
	for i, w := range wantLogits {
		worst = math.Max(worst, math.Abs(float64(logits[i])-w))
	}
	t.Logf("max |logit − reference| = %.2g", worst)
	if worst > 1e-4 {
		t.Errorf("logits differ from the reference by %g > 1e-4", worst)
	}
	// The vocabulary is written with ▁ for spaces, as GGUF tools expect.
	if toks, _ := m.GGUF.Strings("tokenizer.ggml.tokens"); !slices.Contains(toks, "▁the") {
		t.Errorf("converted vocabulary has no \"▁the\"")
	}
}

// ggufTensors opens a GGUF file and returns it with its tensors by name.
func ggufTensors(t *testing.T, path string) (*gguf.File, map[string]*tensor.Tensor) {
	t.Helper()
	f, err := gguf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	m := map[string]*tensor.Tensor{}
	for _, x := range f.Tensors {
		m[x.Name] = x
	}
	return f, m
}

// TestConvertRoundTrip: GGUF → Hugging Face directory → GGUF gives back every
// tensor bit for bit, the same hyper-parameters and the same tokenization.
func TestConvertRoundTrip(t *testing.T) {
	bin := shared.Need(t, "models/stories260K/stories260K.bin")
	fromBin := filepath.Join(t.TempDir(), "from-bin.gguf")
	convertOK(t, "-m", bin, "-o", fromBin)
	for _, src := range []string{shared.Need(t, "models/stories260K/stories260K.gguf"), fromBin} {
		t.Run(filepath.Base(src), func(t *testing.T) {
			dir := t.TempDir()
			hfDir := filepath.Join(dir, "hf")
			back := filepath.Join(dir, "back.gguf")
			convertOK(t, "-m", src, "-o", hfDir, "--to", "hf")
			for _, name := range []string{"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"} {
				if _, err := os.Stat(filepath.Join(hfDir, name)); err != nil {
					t.Error(err)
				}
			}
			convertOK(t, "-m", hfDir, "-o", back)

			a, ta := ggufTensors(t, src)
			b, tb := ggufTensors(t, back)
			if len(a.Tensors) != len(b.Tensors) {
				t.Errorf("%d tensors, back %d", len(a.Tensors), len(b.Tensors))
			}
			for name, x := range ta {
				y := tb[name]
				switch {
				case y == nil:
					t.Errorf("tensor %s lost", name)
				case x.Type != tensor.F32 || y.Type != x.Type || !slices.Equal(x.Shape, y.Shape):
					t.Errorf("%s: %s %v came back as %s %v", name, x.Type, x.Shape, y.Type, y.Shape)
				case !bytes.Equal(x.Data, y.Data):
					t.Errorf("%s: data changed", name)
				}
			}

			ma, err := model.Open(src, model.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer ma.Close()
			mb, err := model.Open(back, model.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer mb.Close()
			if ma.Config != mb.Config {
				t.Errorf("config %+v came back as %+v", ma.Config, mb.Config)
			}
			for i := 0; i < ma.Tokenizer.VocabSize(); i++ {
				if ma.Tokenizer.Piece(i) != mb.Tokenizer.Piece(i) {
					t.Fatalf("token %d: %q came back as %q", i, ma.Tokenizer.Piece(i), mb.Tokenizer.Piece(i))
				}
			}
			text := "Once upon a time, a tiny robot named Zed found 3 shiny stones. \"Wow!\" he said."
			if x, y := ma.Tokenizer.Encode(text, true), mb.Tokenizer.Encode(text, true); !slices.Equal(x, y) {
				t.Errorf("tokenization changed:\n%v\n%v", x, y)
			}
		})
	}
}

// TestConvertTypes: --dtype sets the matrices' type; norms stay F32.
func TestConvertTypes(t *testing.T) {
	bin := shared.Need(t, "models/stories260K/stories260K.bin")
	dir := t.TempDir()
	for _, tc := range []struct {
		dtype string
		want  tensor.DType
	}{{"f16", tensor.F16}, {"bf16", tensor.BF16}, {"q8_0", tensor.Q8_0}} {
		out := filepath.Join(dir, tc.dtype+".gguf")
		convertOK(t, "-m", bin, "-o", out, "--dtype", tc.dtype)
		f, ts := ggufTensors(t, out)
		for name, x := range ts {
			want := tc.want
			if len(x.Shape) == 1 || x.Shape[0]%want.BlockSize() != 0 {
				want = tensor.F32 // norms; rows of 172 cannot hold Q8_0 blocks
			}
			if x.Type != want {
				t.Errorf("%s: %s is %s, want %s", tc.dtype, name, x.Type, want)
			}
		}
		if ft, _ := f.Uint("general.file_type"); ft != map[tensor.DType]uint64{tensor.F16: 1, tensor.BF16: 32, tensor.Q8_0: 7}[tc.want] {
			t.Errorf("%s: general.file_type %d", tc.dtype, ft)
		}
		code, text, errs := run("run", "-m", out, "--temp", "0", "-n", "20", "-p", "Once upon a time")
		if code != 0 || !strings.HasPrefix(text, "Once upon a time") {
			t.Errorf("%s: run: exit %d %q %q", tc.dtype, code, text, errs)
		}
	}
	hfDir := filepath.Join(dir, "hf16")
	convertOK(t, "-m", bin, "-o", hfDir, "--to", "hf", "--dtype", "bf16")
	back := filepath.Join(dir, "hf16.gguf")
	convertOK(t, "-m", hfDir, "-o", back)
	_, ts := ggufTensors(t, back)
	if x := ts["blk.0.attn_q.weight"]; x == nil || x.Type != tensor.BF16 {
		t.Errorf("bf16 directory converted back with the source type: attn_q is %v", x)
	}
}

func TestConvertBadInput(t *testing.T) {
	bin := shared.Need(t, "models/stories260K/stories260K.bin")
	dir := t.TempDir()
	full := filepath.Join(dir, "full")
	os.Mkdir(full, 0o755)
	os.WriteFile(filepath.Join(full, "x"), nil, 0o644)
	hfDir := filepath.Join(dir, "hf")
	convertOK(t, "-m", bin, "-o", hfDir, "--to", "hf")
	for _, tc := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"no source", []string{"-o", "x.gguf"}, 1, "no source"},
		{"no output", []string{"-m", bin}, 1, "no output"},
		{"bad format", []string{"-m", bin, "-o", "x", "--to", "onnx"}, 1, `--to "onnx"`},
		{"bad dtype", []string{"-m", bin, "-o", filepath.Join(dir, "x.gguf"), "--dtype", "f8"}, 1, `"f8"`},
		{"hf q8_0", []string{"-m", bin, "-o", filepath.Join(dir, "q"), "--to", "hf", "--dtype", "q8_0"}, 1, "Q8_0"},
		{"missing source", []string{"-m", filepath.Join(dir, "nope.bin"), "-o", filepath.Join(dir, "x.gguf")}, 1, "nope.bin"},
		{"non-empty output dir", []string{"-m", bin, "-o", full, "--to", "hf"}, 1, "not empty"},
		{"hf to hf", []string{"-m", hfDir, "-o", filepath.Join(dir, "again"), "--to", "hf"}, 1, "already a Hugging Face directory"},
		{"same file", []string{"-m", bin, "-o", bin}, 1, "is the source"},
		{"stray argument", []string{"-m", bin, "-o", "x.gguf", "extra"}, 1, "unexpected argument"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, errs := run(append([]string{"convert"}, tc.args...)...)
			if code != tc.code || !strings.Contains(errs, tc.want) {
				t.Errorf("exit %d (want %d), stderr %q (want %q)", code, tc.code, errs, tc.want)
			}
		})
	}
	if _, err := os.Stat(filepath.Join(dir, "x.gguf")); err == nil {
		t.Error("a failed conversion left its output")
	}
}
