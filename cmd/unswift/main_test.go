package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/unswift/unswift/internal/gguf"
	"github.com/unswift/unswift/internal/shared"
	"github.com/unswift/unswift/internal/synth"
	"github.com/unswift/unswift/internal/tensor"
)

// run runs the command line and returns its exit status, stdout and stderr.
func run(args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	code := Main(args, &out, &errb)
	return code, out.String(), errb.String()
}

// TestRunMatchesReference: `unswift run` prints exactly the reference text.
func TestRunMatchesReference(t *testing.T) {
	want, err := os.ReadFile(shared.Need(t, "reference/stories260K_greedy_n64_once_upon_a_time.txt"))
	if err != nil {
		t.Fatal(err)
	}
	model := shared.Need(t, "models/stories260K/stories260K.bin")
	code, out, errs := run("run", "-m", model, "--temp", "0", "-n", "64", "-p", "Once upon a time")
	if code != 0 || out != string(want) {
		t.Fatalf("exit %d, stderr %q\n got %q\nwant %q", code, errs, out, want)
	}
}

// writeBad writes a copy of a small model with one thing broken.
func tinyGGUF(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "tiny.gguf")
	if err := synth.Write(p, synth.Shapes["tiny"], synth.Options{Type: tensor.F32, Seed: 1}); err != nil {
		t.Fatal(err)
	}
	return p
}

// rewrite copies a GGUF file, letting edit change its metadata and tensors.
func rewrite(t *testing.T, src string, edit func(meta []gguf.KV, ts []*tensor.Tensor) ([]gguf.KV, []*tensor.Tensor)) string {
	t.Helper()
	f, err := gguf.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	meta := f.Meta()
	var ts []*tensor.Tensor
	for _, x := range f.Tensors {
		c := *x
		ts = append(ts, &c)
	}
	meta, ts = edit(meta, ts)
	out := filepath.Join(t.TempDir(), "bad.gguf")
	if err := gguf.WriteFile(out, meta, ts); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestBadInput(t *testing.T) {
	good := tinyGGUF(t)
	data, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	truncated := write("truncated.gguf", data[:len(data)/2])
	badMagic := write("magic.gguf", append([]byte("GGUX"), data[4:]...))
	wrongShape := rewrite(t, good, func(meta []gguf.KV, ts []*tensor.Tensor) ([]gguf.KV, []*tensor.Tensor) {
		for i, kv := range meta {
			if kv.Key == "llama.embedding_length" {
				meta[i].Value = gguf.Uint32Value(128)
			}
		}
		return meta, ts
	})
	unknownArch := rewrite(t, good, func(meta []gguf.KV, ts []*tensor.Tensor) ([]gguf.KV, []*tensor.Tensor) {
		for i, kv := range meta {
			if kv.Key == "general.architecture" {
				meta[i].Value = gguf.StringValue("mamba")
			}
		}
		return meta, ts
	})
	// An unknown tensor type: patch the type id of the first tensor info in the file.
	unknownType := func() string {
		f, err := gguf.Open(good)
		if err != nil {
			t.Fatal(err)
		}
		name := f.Tensors[0].Name
		f.Close()
		b := append([]byte(nil), data...)
		i := bytes.Index(b, []byte(name))
		// name, then n_dims (u32), dims (u64 each), then the type (u32).
		at := i + len(name) + 4 + 8*2
		b[at], b[at+1] = 99, 0
		return write("type.gguf", b)
	}()
	long := strings.Repeat("a long prompt ", 100)
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"truncated", []string{"run", "-m", truncated, "-p", "x"}, "truncated"},
		{"bad magic", []string{"run", "-m", badMagic, "-p", "x"}, "not a GGUF file"},
		{"wrong tensor shape", []string{"run", "-m", wrongShape, "-p", "x"}, `has shape [64 320], the model header implies [128 320]`},
		{"unknown tensor type", []string{"run", "-m", unknownType, "-p", "x"}, "tensor type id 99"},
		{"unknown architecture", []string{"run", "-m", unknownArch, "-p", "x"}, `unsupported architecture "mamba"`},
		{"prompt longer than context", []string{"run", "-m", good, "-p", long, "--ctx", "64"}, "longer than the context length 64"},
		{"missing file", []string{"run", "-m", filepath.Join(dir, "nope.gguf"), "-p", "x"}, "no such file"},
		{"bad temperature", []string{"run", "-m", good, "-p", "x", "--temp", "-1"}, "temperature -1"},
		{"unknown shape", []string{"synth", "--shape", "gpt5", "-o", filepath.Join(dir, "x.gguf")}, `unknown shape "gpt5"`},
		{"order on plain model", []string{"run", "-m", good, "-p", "x", "--order", "2"}, "plain model"},
		{"secure order range", []string{"secure", "-m", good, "--calib", good, "--order", "40", "-o", filepath.Join(dir, "r.gguf")}, "order 40 is outside 0..32"},
		{"secure without calib", []string{"secure", "-m", good, "-o", filepath.Join(dir, "r.gguf")}, "no calibration text"},
		{"stray argument", []string{"run", "-m", good, "extra"}, `unexpected argument "extra"`},
		{"unknown command", []string{"fly"}, `unknown command "fly"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, errs := run(tc.args...)
			if code == 0 {
				t.Fatalf("exit status 0, want failure")
			}
			if !strings.HasPrefix(errs, "error: ") || !strings.Contains(errs, tc.want) || strings.Count(errs, "\n") != 1 {
				t.Fatalf("stderr %q, want one line `error: ...` containing %q", errs, tc.want)
			}
		})
	}
	t.Run("bad flag", func(t *testing.T) {
		if code, _, _ := run("run", "--no-such-flag"); code != 2 {
			t.Fatalf("exit %d, want 2", code)
		}
	})
}
