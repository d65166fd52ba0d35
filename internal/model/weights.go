package model

import (
	"fmt"
	"reflect"
	"strings"

	"github.com/unswift/unswift/internal/tensor"
)

// Weights are the tensors of a model. Each field is bound to a tensor by the
// GGUF name in its tag; `shape` names the expected dimensions (innermost
// first) in terms of the config, and `optional` marks tensors a file may omit.
// One struct serves every family: a family uses the fields it needs, and
// absent biases are zero.
type Weights struct {
	TokenEmbd    *tensor.Tensor `gguf:"token_embd.weight" shape:"dim,vocab"`
	PositionEmbd *tensor.Tensor `gguf:"position_embd.weight,optional" shape:"dim,context"` // learned positions (GPT-2)
	OutputNorm   *tensor.Tensor `gguf:"output_norm.weight" shape:"dim"`
	OutputNormB  *tensor.Tensor `gguf:"output_norm.bias,optional" shape:"dim"`
	Output       *tensor.Tensor `gguf:"output.weight,optional" shape:"dim,vocab"` // nil: tied to TokenEmbd
	OutputB      *tensor.Tensor `gguf:"output.bias,optional" shape:"vocab"`
	RopeFreqs    *tensor.Tensor `gguf:"rope_freqs.weight,optional" shape:"ropehalf"` // per-pair frequency divisors (Llama 3.1)
	Layers       []Layer        `gguf:"blk.%d"`
}

// Layer is one transformer block.
type Layer struct {
	AttnNorm  *tensor.Tensor `gguf:"attn_norm.weight" shape:"dim"`
	AttnNormB *tensor.Tensor `gguf:"attn_norm.bias,optional" shape:"dim"`
	// QKV is a fused query/key/value projection (GPT-2, some Phi-2 files);
	// binding splits it into row views Q, K and V (and QKVB into the biases).
	QKV  *tensor.Tensor `gguf:"attn_qkv.weight,optional" shape:"dim,qkv"`
	QKVB *tensor.Tensor `gguf:"attn_qkv.bias,optional" shape:"qkv"`
	Q    *tensor.Tensor `gguf:"attn_q.weight,optional" shape:"dim,dim"`
	K    *tensor.Tensor `gguf:"attn_k.weight,optional" shape:"dim,kvdim"`
	V    *tensor.Tensor `gguf:"attn_v.weight,optional" shape:"dim,kvdim"`
	QB   *tensor.Tensor `gguf:"attn_q.bias,optional" shape:"dim"`
	KB   *tensor.Tensor `gguf:"attn_k.bias,optional" shape:"kvdim"`
	VB   *tensor.Tensor `gguf:"attn_v.bias,optional" shape:"kvdim"`
	O    *tensor.Tensor `gguf:"attn_output.weight" shape:"dim,dim"`
	OB   *tensor.Tensor `gguf:"attn_output.bias,optional" shape:"dim"`
	// FFNNorm is absent in parallel blocks (Phi-2).
	FFNNorm  *tensor.Tensor `gguf:"ffn_norm.weight,optional" shape:"dim"`
	FFNNormB *tensor.Tensor `gguf:"ffn_norm.bias,optional" shape:"dim"`
	Gate     *tensor.Tensor `gguf:"ffn_gate.weight,optional" shape:"dim,hidden"` // gated families only
	Up       *tensor.Tensor `gguf:"ffn_up.weight" shape:"dim,hidden"`
	UpB      *tensor.Tensor `gguf:"ffn_up.bias,optional" shape:"hidden"`
	Down     *tensor.Tensor `gguf:"ffn_down.weight,optional" shape:"hidden,dim"`
	DownB    *tensor.Tensor `gguf:"ffn_down.bias,optional" shape:"dim"`

	// A TaylorMLP release replaces Down by Taylor (the plain down-projection
	// columns of unexpanded channels, then the coefficients Θ_0..Θ_N of the
	// expanded ones, one row per output) and Center (the expansion points).
	// In a plain (GELU) MLP the activation's input is up·x + b, and the
	// "gate" of the expansion is that projection; the factor u is 1.
	Taylor *tensor.Tensor `gguf:"ffn_taylor.weight,optional"`
	Center *tensor.Tensor `gguf:"ffn_taylor_center.weight,optional"`
	// A Chebyshev-basis release adds 1/h per expanded channel (Scale) and, with
	// the linear tail rule, the activation's slope at the low and high interval
	// edges (Slope, 2 rows).
	Scale *tensor.Tensor `gguf:"ffn_taylor_scale.weight,optional"`
	Slope *tensor.Tensor `gguf:"ffn_taylor_slope.weight,optional"`
}

// biases returns the layer's bias vectors (nil where absent).
func (l *Layer) biases() []*tensor.Tensor {
	return []*tensor.Tensor{l.AttnNormB, l.QB, l.KB, l.VB, l.OB, l.FFNNormB, l.UpB, l.DownB}
}

// splitQKV replaces a fused QKV projection by row views Q, K and V.
func (l *Layer) splitQKV(c *Config) error {
	if l.QKV == nil {
		if l.QKVB != nil {
			return fmt.Errorf("%s without attn_qkv.weight", l.QKVB.Name)
		}
		return nil
	}
	if l.Q != nil || l.K != nil || l.V != nil {
		return fmt.Errorf("%s and separate attn_q/attn_k/attn_v tensors in one layer", l.QKV.Name)
	}
	dim, kv := c.Dim, c.KVDim()
	l.Q, l.K, l.V = rows(l.QKV, 0, dim, "q"), rows(l.QKV, dim, dim+kv, "k"), rows(l.QKV, dim+kv, dim+2*kv, "v")
	if b := l.QKVB; b != nil {
		if b.Type != tensor.F32 {
			return fmt.Errorf("tensor %q: biases must be F32, have %s", b.Name, b.Type)
		}
		l.QB, l.KB, l.VB = rows(b, 0, dim, "q"), rows(b, dim, dim+kv, "k"), rows(b, dim+kv, dim+2*kv, "v")
	}
	return nil
}

// rows returns a view of rows lo..hi of a matrix (entries of a vector).
func rows(t *tensor.Tensor, lo, hi int, part string) *tensor.Tensor {
	v := &tensor.Tensor{Name: t.Name + "[" + part + "]", Type: t.Type}
	if len(t.Shape) == 1 {
		v.Shape = []int{hi - lo}
		v.Data = t.Data[lo*4 : hi*4]
		return v
	}
	rb := t.RowBytes()
	v.Shape = []int{t.Shape[0], hi - lo}
	v.Data = t.Data[lo*rb : hi*rb]
	return v
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
