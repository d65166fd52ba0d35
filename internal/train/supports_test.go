package train

import (
	"strings"
	"testing"

	"github.com/unswift/unswift/internal/tensor"
)

// TestSupports: the engine takes llama models and refuses the GELU families
// (LayerNorm, biases, plain MLP, other position encodings) with an error
// that names the architecture, from Supports and from FromModel alike.
func TestSupports(t *testing.T) {
	for _, tc := range []struct {
		shape string
		want  string // "" when supported
	}{
		{"tiny", ""},
		{"tiny-gpt2", "architecture gpt2 has LayerNorm, plain gelu_tanh MLP"},
		{"tiny-phi2", "architecture phi2 has LayerNorm, plain gelu_tanh MLP"},
	} {
		t.Run(tc.shape, func(t *testing.T) {
			m := synthModel(t, tc.shape, tensor.F32)
			err := Supports(m)
			_, ferr := FromModel(m)
			if tc.want == "" {
				if err != nil || ferr != nil {
					t.Fatalf("Supports: %v, FromModel: %v", err, ferr)
				}
				return
			}
			for _, e := range []error{err, ferr} {
				if e == nil || !strings.Contains(e.Error(), tc.want) {
					t.Errorf("error %v, want it to mention %q", e, tc.want)
				}
			}
		})
	}
}
