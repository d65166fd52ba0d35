package model

import (
	"fmt"
	"sort"
	"strings"

	"github.com/unswift/unswift/internal/series"
)

// Norm is a normalisation layer kind.
type Norm int

// The normalisations.
const (
	RMSNorm   Norm = iota // x/rms(x)·w (Llama, Qwen2)
	LayerNorm             // (x − mean)/std·w + b (GPT-2, Phi-2)
)

// Rope is how a model encodes positions.
type Rope int

// The position encodings.
const (
	// RopePairs rotates consecutive pairs (2i, 2i+1) of each head: llama2.c,
	// and GGUF llama files (llama.cpp permutes Hugging Face's Q/K rows into it).
	RopePairs Rope = iota
	// RopeHalves rotates dimension i with i + RopeDim/2 (Hugging Face's
	// rotate_half, GGUF's "NeoX" mode: Qwen2, Phi-2).
	RopeHalves
	// RopeNone has no rotation: positions are learned embeddings (GPT-2).
	RopeNone
)

// Family is what distinguishes one model family's forward pass. Everything else
// (sizes, which weights exist, biases) comes from the file.
type Family struct {
	Norm  Norm
	Rope  Rope
	Gated bool              // MLP is down(act(gate·x) ⊙ up·x) (SwiGLU); else down(act(up·x + b)) + b
	Act   series.Activation // the MLP activation
	// Parallel blocks feed one normalised input to attention and MLP and
	// add both to the residual (Phi-2).
	Parallel bool
}

// Families are the forward passes of the GGUF general.architecture values
// the engine runs.
var Families = map[string]Family{
	"llama": {Norm: RMSNorm, Rope: RopePairs, Gated: true, Act: series.SiLU},
	"qwen2": {Norm: RMSNorm, Rope: RopeHalves, Gated: true, Act: series.SiLU},
	"phi2":  {Norm: LayerNorm, Rope: RopeHalves, Act: series.GELUTanh, Parallel: true},
	"gpt2":  {Norm: LayerNorm, Rope: RopeNone, Act: series.GELUTanh},
}

// archNames lists the supported architectures for messages.
func archNames() string {
	var s []string
	for k := range Families {
		s = append(s, k)
	}
	sort.Strings(s)
	return strings.Join(s, ", ")
}

func lookupFamily(name string) (Family, error) {
	a, ok := Families[name]
	if !ok {
		return a, fmt.Errorf("unsupported architecture %q (supported: %s)", name, archNames())
	}
	return a, nil
}

// String describes the family, as in "LayerNorm, plain gelu_tanh MLP,
// rotate-half RoPE, parallel blocks".
func (f Family) String() string {
	parts := []string{"RMSNorm"}
	if f.Norm == LayerNorm {
		parts[0] = "LayerNorm"
	}
	mlp := "plain " + f.Act.String() + " MLP"
	if f.Gated {
		mlp = "gated " + f.Act.String() + " MLP"
	}
	parts = append(parts, mlp, [...]string{RopePairs: "RoPE on pairs", RopeHalves: "rotate-half RoPE", RopeNone: "learned positions"}[f.Rope])
	if f.Parallel {
		parts = append(parts, "parallel blocks")
	}
	return strings.Join(parts, ", ")
}
