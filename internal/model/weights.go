package model

import (
	"fmt"
	"reflect"
	"strings"

	"github.com/unswift/unswift/internal/tensor"
)

// Weights are the tensors of a Llama-architecture model. Each field is bound to
// a tensor by the GGUF name in its tag; `shape` names the expected dimensions
// (innermost first) in terms of the config, and `optional` marks tensors a file
// may omit.
type Weights struct {
	TokenEmbd  *tensor.Tensor `gguf:"token_embd.weight" shape:"dim,vocab"`
	OutputNorm *tensor.Tensor `gguf:"output_norm.weight" shape:"dim"`
	Output     *tensor.Tensor `gguf:"output.weight,optional" shape:"dim,vocab"`    // nil: tied to TokenEmbd
	RopeFreqs  *tensor.Tensor `gguf:"rope_freqs.weight,optional" shape:"ropehalf"` // per-pair frequency divisors (Llama 3.1)
	Layers     []Layer        `gguf:"blk.%d"`
}

// Layer is one transformer block.
type Layer struct {
	AttnNorm *tensor.Tensor `gguf:"attn_norm.weight" shape:"dim"`
	Q        *tensor.Tensor `gguf:"attn_q.weight" shape:"dim,dim"`
	K        *tensor.Tensor `gguf:"attn_k.weight" shape:"dim,kvdim"`
	V        *tensor.Tensor `gguf:"attn_v.weight" shape:"dim,kvdim"`
	O        *tensor.Tensor `gguf:"attn_output.weight" shape:"dim,dim"`
	FFNNorm  *tensor.Tensor `gguf:"ffn_norm.weight" shape:"dim"`
	Gate     *tensor.Tensor `gguf:"ffn_gate.weight" shape:"dim,hidden"`
	Up       *tensor.Tensor `gguf:"ffn_up.weight" shape:"dim,hidden"`
	Down     *tensor.Tensor `gguf:"ffn_down.weight,optional" shape:"hidden,dim"`

	// A TaylorMLP release replaces Down by Taylor (the plain down-projection
	// columns of unexpanded channels, then the coefficients Θ_0..Θ_N of the
	// expanded ones, one row per output) and Center (the expansion points).
	Taylor *tensor.Tensor `gguf:"ffn_taylor.weight,optional"`
	Center *tensor.Tensor `gguf:"ffn_taylor_center.weight,optional"`
	// A Chebyshev-basis release adds 1/h per expanded channel (Scale) and, with
	// the linear tail rule, the activation's slope at the low and high interval
	// edges (Slope, 2 rows).
	Scale *tensor.Tensor `gguf:"ffn_taylor_scale.weight,optional"`
	Slope *tensor.Tensor `gguf:"ffn_taylor_slope.weight,optional"`
}

// bind fills the tensor fields of dst (a pointer to a struct such as Weights)
// from tensors by name, checking shapes against the config. Slices of structs
// are filled with one element per layer, named by the printf pattern in the tag.
func bind(dst any, tensors map[string]*tensor.Tensor, c *Config) error {
	return bindStruct(reflect.ValueOf(dst).Elem(), "", tensors, c)
}

var tensorType = reflect.TypeOf((*tensor.Tensor)(nil))

func bindStruct(v reflect.Value, prefix string, tensors map[string]*tensor.Tensor, c *Config) error {
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag, ok := f.Tag.Lookup("gguf")
		if !ok {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		switch {
		case f.Type == tensorType:
			full := prefix + name
			tt := tensors[full]
			if tt == nil {
				if opts == "optional" {
					continue
				}
				return fmt.Errorf("missing tensor %q", full)
			}
			if err := checkShape(tt, f.Tag.Get("shape"), c); err != nil {
				return err
			}
			v.Field(i).Set(reflect.ValueOf(tt))
		case f.Type.Kind() == reflect.Slice && f.Type.Elem().Kind() == reflect.Struct:
			s := reflect.MakeSlice(f.Type, c.Layers, c.Layers)
			for l := 0; l < c.Layers; l++ {
				if err := bindStruct(s.Index(l), prefix+fmt.Sprintf(name, l)+".", tensors, c); err != nil {
					return err
				}
			}
			v.Field(i).Set(s)
		default:
			return fmt.Errorf("model: cannot bind field %s of type %s", f.Name, f.Type)
		}
	}
	return nil
}

func checkShape(t *tensor.Tensor, spec string, c *Config) error {
	if spec == "" {
		return nil
	}
	dims := c.dims()
	names := strings.Split(spec, ",")
	want := make([]int, len(names))
	for i, n := range names {
		d, ok := dims[n]
		if !ok {
			return fmt.Errorf("model: unknown dimension %q in shape tag", n)
		}
		want[i] = d
	}
	got := t.Shape
	// Trailing dimensions of size one are the same shape.
	for len(got) > len(want) && got[len(got)-1] == 1 {
		got = got[:len(got)-1]
	}
	if !equalInts(got, want) {
		return fmt.Errorf("tensor %q has shape %v, the model header implies %v (%s)", t.Name, t.Shape, want, spec)
	}
	if err := t.Check(); err != nil {
		return err
	}
	return nil
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
