package release

import (
	"github.com/unswift/unswift/internal/model"
	"github.com/unswift/unswift/internal/tensor"
)

// fileBytes is the size of t as a release stores it.
func fileBytes(t *tensor.Tensor) int64 {
	typ, _ := fileType(t)
	n, _ := typ.Bytes(t.Len())
	return int64(n)
}

// BytesPerToken returns the weight bytes one generated token reads from the
// original (as stored in a release file) and from the release at order n with
// plan p's channels expanded and coefficients of type typ.
func BytesPerToken(m *model.Model, p *Plan, n int, typ tensor.DType) (orig, rel int64) {
	c := &m.Config
	w := &m.Weights
	orig = m.WeightBytesPerToken()
	// Internal layouts are written as F32.
	for _, t := range m.Tensors {
		if t.Type >= 1000 {
			d := fileBytes(t) - int64(len(t.Data))
			if t == w.TokenEmbd {
				d /= int64(t.Rows())
				if w.Output == nil {
					d += fileBytes(t) - int64(len(t.Data))
				}
			}
			orig += d
		}
	}
	rel = orig
	info := p.info()
	for l, ly := range w.Layers {
		rel -= fileBytes(ly.Down)
		rb, _ := typ.Bytes(info.Cols(l, c.Hidden, n))
		rel += int64(rb) * int64(c.Dim)
	}
	return orig, rel
}

// PredictedSlowdown is the release's bytes per token over the original's: the
// slowdown of bandwidth-bound decoding (TAYLORMLP.md §2).
func PredictedSlowdown(m *model.Model, p *Plan, n int, typ tensor.DType) float64 {
	o, r := BytesPerToken(m, p, n, typ)
	return float64(r) / float64(o)
}

// OrderForSlowdown returns the smallest order whose predicted slowdown is at
// least x, and false if even MaxOrder falls short.
func OrderForSlowdown(m *model.Model, p *Plan, typ tensor.DType, x float64) (int, bool) {
	for n := 0; n <= MaxOrder; n++ {
		if PredictedSlowdown(m, p, n, typ) >= x {
			return n, true
		}
	}
	return MaxOrder, false
}
