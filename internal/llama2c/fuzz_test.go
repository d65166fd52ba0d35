package llama2c

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

var writeSeeds = flag.Bool("write-seeds", false, "rewrite the fuzz seed corpora in testdata/fuzz")

// Small configurations for fuzz seeds. Version 2 needs rows of 32 values.
var (
	small   = Config{Dim: 4, HiddenDim: 6, Layers: 1, Heads: 2, KVHeads: 1, Vocab: 3, SeqLen: 2}
	smallQ8 = Config{Dim: 32, HiddenDim: 32, Layers: 1, Heads: 2, KVHeads: 1, Vocab: 2, SeqLen: 2}
)

// checkpointSeeds returns the seeds of FuzzParse; the large ones are only
// added in code, not written to testdata.
func checkpointSeeds() map[string][]byte {
	s := map[string][]byte{}
	s["legacy"], _ = legacyFile(small, true, true)
	s["legacy-unshared"], _ = legacyFile(small, false, false)
	s["v2"], _ = v2File(smallQ8, true, 32)
	s["v2-unshared"], _ = v2File(smallQ8, false, 32)
	b := bytes.Clone(s["legacy"])
	b[12] = 3 // n_heads 3
	s["legacy-bad-heads"] = b
	s["v2-truncated"] = s["v2"][:300]
	return s
}

func tokenizerSeeds() map[string][]byte {
	return map[string][]byte{
		"three": tokFile(3, "a", "bb", "ccc"),
		"empty": tokFile(1, "", "", ""),
		"long":  tokFile(2, "a", "bbb", "c"),
	}
}

func TestWriteFuzzSeeds(t *testing.T) {
	if !*writeSeeds {
		t.Skip("run with -write-seeds to regenerate testdata/fuzz")
	}
	write := func(target, name, body string) {
		dir := filepath.Join("testdata", "fuzz", target)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "seed-"+name), []byte("go test fuzz v1\n"+body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for name, b := range checkpointSeeds() {
		if len(b) > 4096 {
			continue
		}
		write("FuzzParse", name, fmt.Sprintf("[]byte(%q)\n", b))
	}
	for name, b := range tokenizerSeeds() {
		write("FuzzParseTokenizer", name, fmt.Sprintf("[]byte(%q)\nint(3)\n", b))
	}
}

// FuzzParse checks that Parse never panics and that what it accepts is
// consistent.
func FuzzParse(f *testing.F) {
	for _, b := range checkpointSeeds() {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := Parse(data)
		if err != nil {
			return
		}
		if err := m.Config.check(); err != nil {
			t.Fatalf("accepted a bad config: %v", err)
		}
		for _, tt := range m.Tensors {
			if err := tt.Check(); err != nil {
				t.Fatalf("accepted tensor fails Check: %v", err)
			}
		}
		if len(m.Tensors) != 3+9*m.Config.Layers {
			t.Fatalf("%d tensors for %d layers", len(m.Tensors), m.Config.Layers)
		}
	})
}

// FuzzParseTokenizer checks that ParseTokenizer never panics.
func FuzzParseTokenizer(f *testing.F) {
	for _, b := range tokenizerSeeds() {
		f.Add(b, 3)
	}
	f.Fuzz(func(t *testing.T, data []byte, vocab int) {
		v, err := ParseTokenizer(data, vocab)
		if err != nil {
			return
		}
		if len(v.Tokens) != vocab || len(v.Scores) != vocab {
			t.Fatalf("%d tokens, %d scores for vocabulary %d", len(v.Tokens), len(v.Scores), vocab)
		}
		for i, s := range v.Tokens {
			if len(s) > v.MaxTokenLength {
				t.Fatalf("token %d is longer than MaxTokenLength", i)
			}
		}
	})
}
