package synth_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/unswift/unswift/internal/kernel"
	"github.com/unswift/unswift/internal/model"
	"github.com/unswift/unswift/internal/synth"
	"github.com/unswift/unswift/internal/tensor"
)

// TestShapesLoad writes the small shapes of every family in every type and
// checks that the engine opens them as the shape says and runs them.
func TestShapesLoad(t *testing.T) {
	for _, name := range []string{"tiny", "tiny-qwen2", "tiny-gpt2", "tiny-phi2"} {
		for _, typ := range []tensor.DType{tensor.F32, tensor.F16, tensor.Q8_0} {
			s := synth.Shapes[name]
			t.Run(name+"/"+typ.String(), func(t *testing.T) {
				path := filepath.Join(t.TempDir(), "m.gguf")
				err := synth.Write(path, s, synth.Options{Type: typ, Seed: 1})
				if typ == tensor.Q8_0 && s.Hidden%32 != 0 {
					// Rows of ffn_down are Hidden long: not whole Q8_0 blocks.
					if err == nil || !strings.Contains(err.Error(), "not a multiple of the Q8_0 block size") {
						t.Fatalf("hidden %d in Q8_0: got %v, want a block-size error", s.Hidden, err)
					}
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				st, err := os.Stat(path)
				if err != nil {
					t.Fatal(err)
				}
				if b := synth.Bytes(s, typ); b > st.Size() || st.Size()-b > 1<<16 {
					t.Errorf("file is %d bytes, Bytes says %d of tensor data", st.Size(), b)
				}
				m, err := model.Open(path, model.Options{})
				if err != nil {
					t.Fatal(err)
				}
				defer m.Close()
				c := m.Config
				arch := s.Arch
				if arch == "" {
					arch = "llama"
				}
				if c.Arch != arch || c.Dim != s.Dim || c.Hidden != s.Hidden || c.Layers != s.Layers || c.Heads != s.Heads || c.KVHeads != s.KVHeads || c.Vocab != s.Vocab || c.Context != s.Context {
					t.Errorf("opened as %+v, shape is %+v", c, s)
				}
				pool := kernel.NewPool(1)
				defer pool.Close()
				logits, err := m.NewState(pool, 0).Forward(m.Tokenizer.Encode("hello", true))
				if err != nil {
					t.Fatal(err)
				}
				for _, v := range logits {
					if v != v {
						t.Fatal("NaN logit")
					}
				}
			})
		}
	}
}
