package train

import (
	"strings"
	"testing"

	"github.com/unswift/unswift/internal/model"
	"github.com/unswift/unswift/internal/series"
	"github.com/unswift/unswift/internal/tensor"
)

// TestSupports: the engine takes every family the model package runs, from
// Supports and FromModel alike, and refuses a family it does not implement
// with an error that names the architecture and what it has.
func TestSupports(t *testing.T) {
	for _, shape := range []string{"tiny", "tiny-gpt2", "tiny-phi2"} {
		t.Run(shape, func(t *testing.T) {
			m := synthModel(t, shape, tensor.F32)
			if err := Supports(m); err != nil {
				t.Fatalf("Supports: %v", err)
			}
			if _, err := FromModel(m); err != nil {
				t.Fatalf("FromModel: %v", err)
			}
		})
	}
	gelu := model.Family{Norm: model.RMSNorm, Rope: model.RopePairs, Gated: true, Act: series.GELUTanh}
	for _, tc := range []struct {
		name string
		m    *model.Model
		want string
	}{
		{"gated gelu", &model.Model{Config: model.Config{Arch: "gemma", Family: gelu}},
			"architecture gemma has RMSNorm, gated gelu_tanh MLP"},
		{"plain erf gelu", &model.Model{Config: model.Config{Arch: "bert", Family: model.Family{Norm: model.LayerNorm, Rope: model.RopeNone, Act: series.GELU}}},
			"architecture bert has LayerNorm, plain gelu MLP"},
		{"learned positions missing", &model.Model{Config: model.Config{Arch: "gpt2", Family: model.Families["gpt2"]}},
			"no position_embd.weight"},
	} {
		if err := Supports(tc.m); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want it to mention %q", tc.name, err, tc.want)
		}
	}
	c := tinyConfig()
	c.Family = gelu
	if _, err := NewParamSet[float32](c, false); err == nil || !strings.Contains(err.Error(), "gated gelu_tanh") {
		t.Errorf("NewParamSet of a gated GELU config: error %v", err)
	}
}
