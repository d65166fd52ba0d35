package attack

import (
	"fmt"
	"strings"

	"github.com/unswift/unswift/internal/gguf"
	"github.com/unswift/unswift/internal/model"
	"github.com/unswift/unswift/internal/tensor"
)

// WriteRecovered writes the recovered model as a plain GGUF file (atomically):
// the release's metadata without its unswift.* keys, every tensor but the
// TaylorMLP ones as it is, each layer's gate rows multiplied by the recovered
// signs (for a plain MLP: the up rows and up-bias entries), and
// blk.L.ffn_down.weight (F32) from the recovery, in the release's channel
// order (the down bias, of a plain MLP, is kept). Any runtime of the
// architecture loads it as an ordinary model.
func WriteRecovered(path string, rel *model.Model, rec *Recovery) error {
	if err := checkRelease(rel); err != nil {
		return err
	}
	if rel.GGUF == nil {
		return fmt.Errorf("%s: a release is a GGUF file", rel.Path)
	}
	if err := rec.check(); err != nil {
		return err
	}
	c := &rel.Config
	if len(rec.Layers) != c.Layers {
		return fmt.Errorf("recovery has %d layers, the release %d", len(rec.Layers), c.Layers)
	}
	for l, lr := range rec.Layers {
		if lr.Dim != c.Dim || lr.Hidden != c.Hidden || lr.Expanded != rel.Taylor.Expanded[l] {
			return fmt.Errorf("recovery of layer %d does not fit the release", l)
		}
	}
	w, err := gguf.Create(path)
	if err != nil {
		return err
	}
	defer w.Abort()
	for _, k := range rel.GGUF.Keys() {
		if strings.HasPrefix(k, "unswift.") || k == gguf.KeyAlignment {
			continue
		}
		v, _ := rel.GGUF.Value(k)
		w.Add(k, v)
	}
	type job struct {
		name string
		data func() ([]byte, error)
	}
	var jobs []job
	gate, gateBias := "ffn_gate.weight", ""
	if !c.Family.Gated {
		gate, gateBias = "ffn_up.weight", "ffn_up.bias"
	}
	for _, t := range rel.Tensors {
		t := t
		var l int
		var part string
		if _, err := fmt.Sscanf(t.Name, "blk.%d.%s", &l, &part); err != nil || l < 0 || l >= c.Layers {
			w.AddTensorInfo(t.Name, t.Type, t.Shape...)
			jobs = append(jobs, job{t.Name, func() ([]byte, error) { return t.Data, nil }})
			continue
		}
		lr := &rec.Layers[l]
		switch part {
		case "ffn_taylor.weight":
			name := fmt.Sprintf("blk.%d.ffn_down.weight", l)
			w.AddTensorInfo(name, tensor.F32, c.Hidden, c.Dim)
			jobs = append(jobs, job{name, func() ([]byte, error) {
				f := make([]float32, len(lr.Down))
				for i, v := range lr.Down {
					f[i] = float32(v)
				}
				return tensor.Bytes(f), nil
			}})
		case "ffn_taylor_center.weight", "ffn_taylor_scale.weight", "ffn_taylor_slope.weight":
		case gate, gateBias:
			w.AddTensorInfo(t.Name, t.Type, t.Shape...)
			jobs = append(jobs, job{t.Name, func() ([]byte, error) { return unflip(t, lr.Sign) }})
		default:
			w.AddTensorInfo(t.Name, t.Type, t.Shape...)
			jobs = append(jobs, job{t.Name, func() ([]byte, error) { return t.Data, nil }})
		}
	}
	if err := w.WriteHeader(); err != nil {
		return err
	}
	for _, j := range jobs {
		data, err := j.data()
		if err != nil {
			return fmt.Errorf("%s: %w", j.name, err)
		}
		if err := w.WriteTensorData(j.name, data); err != nil {
			return err
		}
	}
	return w.Close()
}

// unflip returns a copy of a gate matrix with row k negated where sign[k] < 0,
// or of a gate bias with entry k negated.
func unflip(t *tensor.Tensor, sign []float64) ([]byte, error) {
	out := append([]byte(nil), t.Data...)
	rb := t.RowBytes()
	if len(t.Shape) == 1 {
		var err error
		if rb, err = t.Type.Bytes(1); err != nil {
			return nil, fmt.Errorf("cannot negate entries of a %s vector", t.Type)
		}
	}
	for k, s := range sign {
		if s >= 0 {
			continue
		}
		row := out[k*rb : (k+1)*rb]
		switch t.Type {
		case tensor.F32:
			for i := 3; i < len(row); i += 4 {
				row[i] ^= 0x80
			}
		case tensor.F16, tensor.BF16:
			for i := 1; i < len(row); i += 2 {
				row[i] ^= 0x80
			}
		case tensor.Q8_0: // negate each block's f16 scale
			for i := 1; i < len(row); i += t.Type.BlockBytes() {
				row[i] ^= 0x80
			}
		default:
			return nil, fmt.Errorf("cannot negate rows of type %s", t.Type)
		}
	}
	return out, nil
}
