package eval

import (
	"bytes"
	"fmt"
	"math"

	"github.com/unswift/unswift/internal/model"
	"github.com/unswift/unswift/internal/tensor"
)

// CheckDerived reports, with an error naming the first difference, whether
// rel cannot be a release of orig (or, for a plain model, a copy of it):
//
//   - the hyper-parameters (architecture, sizes, context, RoPE, norm epsilon)
//     must be equal;
//   - the vocabularies must be equal token by token, with the same BOS and EOS;
//   - tensors a release copies unchanged must hold the same values: the token
//     embedding, the classifier and final norm, and the attention and norm
//     weights of the first and last layers (for a plain model: every tensor).
//
// Values are compared after dequantization to float32 when the storage types
// differ (a release made from a llama2.c Q8 checkpoint stores these tensors
// dequantized to F32), and must then be bit-for-bit equal.
func CheckDerived(orig, rel *model.Model) error {
	fail := func(format string, a ...any) error {
		return fmt.Errorf("%s is not derived from %s: %s", rel.Path, orig.Path, fmt.Sprintf(format, a...))
	}
	o, r := orig.Config, rel.Config
	for _, f := range []struct {
		name string
		a, b any
	}{
		{"architecture", o.Arch, r.Arch}, {"embedding length", o.Dim, r.Dim}, {"feed-forward length", o.Hidden, r.Hidden},
		{"block count", o.Layers, r.Layers}, {"head count", o.Heads, r.Heads}, {"kv head count", o.KVHeads, r.KVHeads},
		{"vocabulary size", o.Vocab, r.Vocab}, {"context length", o.Context, r.Context}, {"rope frequency base", o.RopeBase, r.RopeBase},
		{"rope dimension", o.RopeDim, r.RopeDim}, {"norm epsilon", o.NormEps, r.NormEps},
	} {
		if f.a != f.b {
			return fail("%s %v, the original's is %v", f.name, f.b, f.a)
		}
	}
	if orig.Taylor != nil {
		return fmt.Errorf("%s is itself a TaylorMLP release: pass the plain model it was made from as the original", orig.Path)
	}
	ot, rt := orig.Tokenizer, rel.Tokenizer
	if ot.VocabSize() != rt.VocabSize() {
		return fail("tokenizer has %d tokens, the original's %d", rt.VocabSize(), ot.VocabSize())
	}
	if ot.BOS() != rt.BOS() || ot.EOS() != rt.EOS() {
		return fail("BOS/EOS ids %d/%d, the original's %d/%d", rt.BOS(), rt.EOS(), ot.BOS(), ot.EOS())
	}
	for i := 0; i < ot.VocabSize(); i++ {
		if a, b := ot.Piece(i), rt.Piece(i); a != b {
			return fail("token %d is %q, the original's is %q", i, b, a)
		}
	}
	ow, rw := &orig.Weights, &rel.Weights
	pairs := []struct{ a, b *tensor.Tensor }{
		{ow.TokenEmbd, rw.TokenEmbd}, {ow.OutputNorm, rw.OutputNorm}, {classifier(ow), classifier(rw)},
	}
	layers := []int{0, o.Layers - 1}
	if rel.Taylor == nil {
		layers = layers[:0]
		for l := range ow.Layers {
			layers = append(layers, l)
		}
	}
	for _, l := range layers {
		a, b := &ow.Layers[l], &rw.Layers[l]
		pairs = append(pairs, []struct{ a, b *tensor.Tensor }{
			{a.AttnNorm, b.AttnNorm}, {a.Q, b.Q}, {a.K, b.K}, {a.V, b.V}, {a.O, b.O}, {a.FFNNorm, b.FFNNorm},
		}...)
		if rel.Taylor == nil {
			pairs = append(pairs, []struct{ a, b *tensor.Tensor }{{a.Gate, b.Gate}, {a.Up, b.Up}, {a.Down, b.Down}}...)
		}
	}
	for _, p := range pairs {
		if err := sameValues(p.a, p.b); err != nil {
			return fail("%v", err)
		}
	}
	return nil
}

// classifier is the output matrix, the token embedding when they are tied.
func classifier(w *model.Weights) *tensor.Tensor {
	if w.Output != nil {
		return w.Output
	}
	return w.TokenEmbd
}

// sameValues compares two tensors' shapes and values, row by row.
func sameValues(a, b *tensor.Tensor) error {
	if a == nil || b == nil {
		if a == b {
			return nil
		}
		return fmt.Errorf("one model lacks a tensor the other has")
	}
	if a.Len() != b.Len() || a.Rows() != b.Rows() {
		return fmt.Errorf("%s has shape %v, the original's %s %v", b.Name, b.Shape, a.Name, a.Shape)
	}
	if a.Type == b.Type && bytes.Equal(a.Data, b.Data) {
		return nil
	}
	cols := a.Cols()
	ra, rb := make([]float32, cols), make([]float32, cols)
	for i := 0; i < a.Rows(); i++ {
		if err := tensor.Dequantize(ra, a.Type, a.Row(i)); err != nil {
			return fmt.Errorf("%s: %w", a.Name, err)
		}
		if err := tensor.Dequantize(rb, b.Type, b.Row(i)); err != nil {
			return fmt.Errorf("%s: %w", b.Name, err)
		}
		for j := range ra {
			if math.Float32bits(ra[j]) != math.Float32bits(rb[j]) {
				return fmt.Errorf("%s differs from the original's (row %d, column %d: %g, the original's %g)", b.Name, i, j, rb[j], ra[j])
			}
		}
	}
	return nil
}
