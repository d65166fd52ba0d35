package release

import (
	"fmt"
	"math"
	"strings"

	"github.com/unswift/unswift/internal/gguf"
	"github.com/unswift/unswift/internal/model"
	"github.com/unswift/unswift/internal/tensor"
)

// Write streams the release of m under plan to path: layer by layer, atomically
// (temp file + rename). Peak memory beyond the mapped model is about one
// layer's gate, up and coefficient rows.
func Write(path string, m *model.Model, p *Plan, opt Options) error {
	if err := opt.check(); err != nil {
		return err
	}
	c := &m.Config
	w, err := gguf.Create(path)
	if err != nil {
		return err
	}
	defer w.Abort()
	if err := addMetadata(w, m); err != nil {
		return err
	}
	w.AddUint32(model.KeyTaylorVersion, model.TaylorVersion)
	w.AddUint32(model.KeyTaylorOrder, uint32(p.Order))
	w.AddString(model.KeyTaylorActivation, p.Activation.String())
	w.AddString(model.KeyTaylorBasis, p.runtimeBasis())
	if p.Tail != "" {
		w.AddString(model.KeyTaylorTail, p.Tail)
	}
	w.AddString(model.KeyTaylorCenter, p.Center)
	w.AddString(model.KeyTaylorExpandRule, p.Expand)
	exp := make([]int32, len(p.Layers))
	for l, n := range p.Expanded() {
		exp[l] = int32(n)
	}
	w.AddInt32s(model.KeyTaylorExpanded, exp)
	w.AddUint32(model.KeyTaylorPad, Pad)
	downType, _ := fileType(m.Weights.Layers[0].Down)
	w.AddUint32(model.KeyTaylorDownType, uint32(downType))

	// Declare every tensor: the original's in file order, with each layer's
	// MLP replaced.
	type job struct {
		name  string
		write func() ([]byte, error)
	}
	var jobs []job
	info := p.info()
	gated := c.Family.Gated
	for _, t := range m.Tensors {
		t := t
		layer, part := mlpPart(t.Name, gated)
		if layer >= c.Layers {
			return fmt.Errorf("tensor %q: layer %d beyond the model's %d", t.Name, layer, c.Layers)
		}
		switch part {
		case "":
			typ, data := fileType(t)
			w.AddTensorInfo(t.Name, typ, t.Shape...)
			jobs = append(jobs, job{t.Name, data})
		case "gate", "up", "gate bias":
			lp := &p.Layers[layer]
			typ, _ := fileType(t)
			w.AddTensorInfo(t.Name, typ, t.Shape...)
			sign := lp.Sign
			if part == "up" {
				sign = nil
			}
			jobs = append(jobs, job{t.Name, func() ([]byte, error) { return permuteRows(t, lp, sign) }})
		case "down":
			lp := &p.Layers[layer]
			prefix := fmt.Sprintf("blk.%d.", layer)
			cols := info.Cols(layer, c.Hidden, p.Order)
			w.AddTensorInfo(prefix+"ffn_taylor.weight", opt.DType, cols, c.Dim)
			w.AddTensorInfo(prefix+"ffn_taylor_center.weight", tensor.F32, info.TermCols(layer))
			term := info.TermCols(layer)
			jobs = append(jobs,
				job{prefix + "ffn_taylor.weight", func() ([]byte, error) {
					return coefficients(t, lp, p.Order, c.Hidden, p.Tail, opt.DType)
				}},
				job{prefix + "ffn_taylor_center.weight", func() ([]byte, error) {
					z := make([]float32, term)
					for i := range lp.Z0 {
						z[i] = float32(lp.Z0[i] * lp.Sign[i])
					}
					return tensor.Bytes(z), nil
				}})
			if p.Basis != "taylor" {
				w.AddTensorInfo(prefix+"ffn_taylor_scale.weight", tensor.F32, term)
				jobs = append(jobs, job{prefix + "ffn_taylor_scale.weight", func() ([]byte, error) {
					z := make([]float32, term)
					for i, h := range lp.H {
						z[i] = float32(1 / h)
					}
					return tensor.Bytes(z), nil
				}})
			}
			if p.Tail == "linear" {
				w.AddTensorInfo(prefix+"ffn_taylor_slope.weight", tensor.F32, term, 2)
				jobs = append(jobs, job{prefix + "ffn_taylor_slope.weight", func() ([]byte, error) {
					// Row 0: act'(low edge), row 1: act'(high edge), in released
					// coordinates: a negative sign swaps the edges. (The factor h
					// of g − g_edge = h·(t − t_edge) is in the tail block.)
					z := make([]float32, 2*term)
					for i, sl := range lp.Slope {
						lo, hi := sl[0], sl[1]
						if lp.Sign[i] < 0 {
							lo, hi = hi, lo
						}
						z[i] = float32(lo)
						z[term+i] = float32(hi)
					}
					return tensor.Bytes(z), nil
				}})
			}
		}
	}
	if err := w.WriteHeader(); err != nil {
		return err
	}
	for i, j := range jobs {
		data, err := j.write()
		if err != nil {
			return fmt.Errorf("%s: %w", j.name, err)
		}
		if err := w.WriteTensorData(j.name, data); err != nil {
			return err
		}
		if opt.Progress != nil {
			opt.Progress(i+1, len(jobs))
		}
	}
	return w.Close()
}

// mlpPart returns the layer and MLP part of a tensor name ("gate", "up",
// "down"; for a plain MLP, whose up projection plays the gate's part: "gate",
// "gate bias", "down"), or "" for tensors copied unchanged (the down
// projection's bias among them).
func mlpPart(name string, gated bool) (int, string) {
	var l int
	var rest string
	if _, err := fmt.Sscanf(name, "blk.%d.%s", &l, &rest); err != nil {
		return -1, ""
	}
	switch rest {
	case "ffn_gate.weight":
		return l, "gate"
	case "ffn_up.weight":
		if !gated {
			return l, "gate"
		}
		return l, "up"
	case "ffn_up.bias":
		if !gated {
			return l, "gate bias"
		}
	case "ffn_down.weight":
		return l, "down"
	}
	return l, ""
}

// fileType returns the type a tensor is written as and a function giving its
// bytes: as it is, or dequantized to F32 for unswift-internal layouts.
func fileType(t *tensor.Tensor) (tensor.DType, func() ([]byte, error)) {
	if t.Type < 1000 {
		return t.Type, func() ([]byte, error) { return t.Data, nil }
	}
	return tensor.F32, func() ([]byte, error) {
		f := make([]float32, t.Len())
		if err := tensor.Dequantize(f, t.Type, t.Data); err != nil {
			return nil, err
		}
		return tensor.Bytes(f), nil
	}
}

// permuteRows reorders the rows (channels) of a gate or up matrix, or the
// entries of a gate bias, to release order, multiplying expanded rows by their
// sign when sign is not nil.
func permuteRows(t *tensor.Tensor, lp *LayerPlan, sign []float64) ([]byte, error) {
	typ, data := fileType(t)
	src, err := data()
	if err != nil {
		return nil, err
	}
	rb, _ := typ.Bytes(t.Cols())
	if len(t.Shape) == 1 { // a bias: one value per channel
		rb, _ = typ.Bytes(1)
	}
	out := make([]byte, 0, len(src))
	order := append(append([]int(nil), lp.Expanded...), lp.Plain...)
	for i, j := range order {
		row := src[j*rb : (j+1)*rb]
		start := len(out)
		out = append(out, row...)
		if sign != nil && i < len(sign) && sign[i] < 0 {
			if err := negate(out[start:], typ); err != nil {
				return nil, fmt.Errorf("%s: %w", t.Name, err)
			}
		}
	}
	return out, nil
}

// negate flips the sign of a row in place, exactly: the sign bit of each
// element, or of each block's scale for Q8_0.
func negate(row []byte, typ tensor.DType) error {
	switch typ {
	case tensor.F32:
		for i := 3; i < len(row); i += 4 {
			row[i] ^= 0x80
		}
	case tensor.F16, tensor.BF16:
		for i := 1; i < len(row); i += 2 {
			row[i] ^= 0x80
		}
	case tensor.Q8_0:
		for i := 1; i < len(row); i += 34 {
			row[i] ^= 0x80
		}
	default:
		return fmt.Errorf("cannot negate %s rows", typ)
	}
	return nil
}

// coefficients builds the release's down matrix for one layer: row i is the
// plain columns W[i, Plain], zero padding, the tail blocks (linear:
// W[i, Expanded[j]]·s_j·h_j; exact: W·h_j and W·s_j·h_j/2), then for n = 0..N the block
// Θ_n[i, j] = W[i, Expanded[j]] · b_n(j) · s_j^n, each zero padded, where b_n
// are the channel's basis coefficients (act^(n)(z0)/n! for the Taylor basis).
func coefficients(down *tensor.Tensor, lp *LayerPlan, order, hidden int, tail string, typ tensor.DType) ([]byte, error) {
	dim := down.Rows()
	e := len(lp.Expanded)
	plain := padTo(hidden-e, Pad)
	term := padTo(e, Pad)
	tailCols := 0
	switch tail {
	case "linear":
		tailCols = term
	case "exact":
		tailCols = 2 * term
	}
	cols := plain + tailCols + (order+1)*term
	// coef[n*e + j] = b_n(j) · s_j^n
	coef := make([]float64, (order+1)*e)
	for j := 0; j < e; j++ {
		s := 1.0
		for n := 0; n <= order; n++ {
			coef[n*e+j] = lp.Coef[j][n] * s
			s *= lp.Sign[j]
		}
	}
	src := make([]float32, hidden)
	row := make([]float32, cols)
	rb, _ := typ.Bytes(cols)
	out := make([]byte, dim*rb)
	for i := 0; i < dim; i++ {
		if err := tensor.Dequantize(src, down.Type, down.Row(i)); err != nil {
			return nil, err
		}
		clear(row)
		for k, j := range lp.Plain {
			row[k] = src[j]
		}
		switch tail {
		case "linear":
			for k, j := range lp.Expanded {
				row[plain+k] = float32(float64(src[j]) * lp.Sign[k] * lp.H[k])
			}
		case "exact": // even part W·h, odd part W·s·h/2
			for k, j := range lp.Expanded {
				row[plain+k] = float32(float64(src[j]) * lp.H[k])
				row[plain+term+k] = float32(float64(src[j]) * lp.Sign[k] * lp.H[k] / 2)
			}
		}
		for n := 0; n <= order; n++ {
			blk := row[plain+tailCols+n*term:]
			for k, j := range lp.Expanded {
				v := float64(src[j]) * coef[n*e+k]
				if math.IsInf(v, 0) || math.IsNaN(v) {
					return nil, fmt.Errorf("coefficient Θ_%d[%d, %d] is not finite", n, i, j)
				}
				blk[k] = float32(v)
			}
		}
		if err := tensor.Quantize(out[i*rb:(i+1)*rb], typ, row); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// runtimeBasis is the basis name a release records: lsq coefficients are
// evaluated like Chebyshev ones.
func (p *Plan) runtimeBasis() string {
	if p.Basis == "lsq" {
		return "chebyshev"
	}
	return p.Basis
}

// info is the release's Taylor description, for column counts.
func (p *Plan) info() model.Taylor {
	return model.Taylor{Order: p.Order, Expanded: p.Expanded(), Pad: Pad, Basis: p.runtimeBasis(), Tail: p.Tail}
}

func padTo(n, p int) int { return (n + p - 1) / p * p }

// addMetadata copies the original's metadata (GGUF) or writes llama metadata
// for a llama2.c checkpoint.
func addMetadata(w *gguf.Writer, m *model.Model) error {
	if m.GGUF != nil {
		for _, k := range m.GGUF.Keys() {
			if strings.HasPrefix(k, "unswift.") || k == gguf.KeyAlignment {
				continue
			}
			v, _ := m.GGUF.Value(k)
			w.Add(k, v)
		}
		return nil
	}
	return model.AddGGUFMetadata(w, m)
}
