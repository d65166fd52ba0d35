package model

import (
	"bufio"
	"context"
	"math"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/unswift/unswift/internal/kernel"
	"github.com/unswift/unswift/internal/sample"
	"github.com/unswift/unswift/internal/shared"
)

// generate returns what `unswift run --temp 0` prints: the prompt, the
// continuation and a newline.
func generate(t testing.TB, m *Model, pool *kernel.Pool, prompt string, n int) string {
	t.Helper()
	smp, _ := sample.New(0, 0, 1, 0)
	var b strings.Builder
	s := m.NewState(pool, 0)
	_, err := s.Generate(context.Background(), m.Tokenizer.Encode(prompt, true), GenerateOptions{
		Positions: n, Sampler: smp,
		Emit: func(text string) error { b.WriteString(text); return nil },
	})
	if err != nil {
		t.Fatal(err)
	}
	return b.String() + "\n"
}

func open(t testing.TB, rel string) *Model {
	t.Helper()
	m, err := Open(shared.Need(t, rel), Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

// TestGreedyMatchesReference checks greedy generation byte for byte against the
// outputs of an independent C implementation, from every file format.
func TestGreedyMatchesReference(t *testing.T) {
	for _, tc := range []struct {
		model, ref, prompt string
		n                  int
	}{
		{"models/stories260K/stories260K.bin", "reference/stories260K_greedy_n64_once_upon_a_time.txt", "Once upon a time", 64},
		{"models/stories260K/stories260K.gguf", "reference/stories260K_greedy_n64_once_upon_a_time.txt", "Once upon a time", 64},
		{"models/shakespeare2M-q80/shakespeare_q80.bin", "reference/shakespeare_dequantized_fp32_run_greedy_n200_ROMEO.txt", "ROMEO:", 200},
	} {
		t.Run(tc.model, func(t *testing.T) {
			want, err := os.ReadFile(shared.Need(t, tc.ref))
			if err != nil {
				t.Fatal(err)
			}
			m := open(t, tc.model)
			for _, threads := range []int{1, 2} {
				pool := kernel.NewPool(threads)
				got := generate(t, m, pool, tc.prompt, tc.n)
				pool.Close()
				if got != string(want) {
					t.Errorf("%d threads: greedy output differs from %s\n got: %q\nwant: %q", threads, tc.ref, got, want)
				}
			}
		})
	}
}

// readLogits parses a reference logits file: a header naming the prompt token
// ids, then "id value" lines.
func readLogits(t *testing.T, path string) (prompt []int, logits []float64) {
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") {
			if _, ids, ok := strings.Cut(line, "):"); ok && strings.Contains(line, "prompt tokens") {
				for _, s := range strings.Fields(ids) {
					id, err := strconv.Atoi(s)
					if err != nil {
						t.Fatalf("bad header %q", line)
					}
					prompt = append(prompt, id)
				}
			}
			continue
		}
		f := strings.Fields(line)
		if len(f) != 2 {
			t.Fatalf("bad line %q", line)
		}
		id, _ := strconv.Atoi(f[0])
		v, err := strconv.ParseFloat(f[1], 64)
		if err != nil || id != len(logits) {
			t.Fatalf("bad line %q", line)
		}
		logits = append(logits, v)
	}
	return prompt, logits
}

func TestLogitsMatchReference(t *testing.T) {
	for _, tc := range []struct{ model, ref string }{
		{"models/stories260K/stories260K.bin", "reference/logits_stories260K_once.txt"},
		{"models/stories260K/stories260K.gguf", "reference/logits_stories260K_once.txt"},
		{"models/shakespeare2M-q80/shakespeare_q80.bin", "reference/logits_shakespeare_deqf32_once.txt"},
	} {
		t.Run(tc.model, func(t *testing.T) {
			prompt, want := readLogits(t, shared.Need(t, tc.ref))
			m := open(t, tc.model)
			got := m.Tokenizer.Encode("Once upon a time", true)
			if !equalInts(got, prompt) {
				t.Fatalf("prompt tokens %v, reference %v", got, prompt)
			}
			for _, batch := range []bool{true, false} {
				pool := kernel.NewPool(0)
				s := m.NewState(pool, 0)
				var logits []float32
				var err error
				if batch {
					logits, err = s.Forward(prompt)
				} else {
					for _, id := range prompt {
						logits, err = s.Forward([]int{id})
					}
				}
				pool.Close()
				if err != nil {
					t.Fatal(err)
				}
				if len(logits) != len(want) {
					t.Fatalf("%d logits, reference has %d", len(logits), len(want))
				}
				var worst float64
				for i := range want {
					worst = max(worst, math.Abs(float64(logits[i])-want[i]))
				}
				t.Logf("batch=%v: max |logit − reference| = %.2g", batch, worst)
				if worst > 1e-4 {
					t.Errorf("batch=%v: max |logit − reference| = %g > 1e-4", batch, worst)
				}
			}
		})
	}
}

func TestPromptLongerThanContext(t *testing.T) {
	m := open(t, "models/stories260K/stories260K.gguf")
	pool := kernel.NewPool(1)
	defer pool.Close()
	s := m.NewState(pool, 16)
	prompt := m.Tokenizer.Encode(strings.Repeat("Once upon a time. ", 10), true)
	smp, _ := sample.New(0, 0, 1, 0)
	_, err := s.Generate(context.Background(), prompt, GenerateOptions{Sampler: smp})
	if err == nil || !strings.Contains(err.Error(), "longer than the context length 16") {
		t.Fatalf("got %v, want an error about the context length", err)
	}
}
