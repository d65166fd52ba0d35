package train

import (
	"fmt"
	"strings"

	"github.com/unswift/unswift/internal/gguf"
	"github.com/unswift/unswift/internal/model"
	"github.com/unswift/unswift/internal/tensor"
)

// WriteGGUF writes p as a plain (non-release) GGUF model with F32 tensors
// at path, atomically, that model.Open loads. The metadata is m's: copied
// from its GGUF file without the unswift.* release keys, or made from its
// config and tokenizer for a model from another format. p must have m's
// shape.
func WriteGGUF(path string, m *model.Model, p *Params) error {
	if err := sameShape(&m.Config, &p.Config); err != nil {
		return fmt.Errorf("train: writing %s: %w", path, err)
	}
	w, err := gguf.Create(path)
	if err != nil {
		return fmt.Errorf("train: %w", err)
	}
	defer w.Abort()
	if m.GGUF != nil {
		for _, k := range m.GGUF.Keys() {
			if strings.HasPrefix(k, "unswift.") || k == gguf.KeyAlignment {
				continue
			}
			v, _ := m.GGUF.Value(k)
			w.Add(k, v)
		}
	} else if err := model.AddGGUFMetadata(w, m); err != nil {
		return fmt.Errorf("train: writing %s: %w", path, err)
	}
	type blob struct {
		name string
		data []float32
	}
	var blobs []blob
	for _, t := range p.All() {
		w.AddTensorInfo(t.Name, tensor.F32, t.Shape...)
		blobs = append(blobs, blob{t.Name, t.W})
	}
	if f := p.RopeFreqs; f != nil {
		w.AddTensorInfo(ropeFreqsName, tensor.F32, len(f))
		blobs = append(blobs, blob{ropeFreqsName, f})
	}
	if err := w.WriteHeader(); err != nil {
		return fmt.Errorf("train: writing %s: %w", path, err)
	}
	for _, b := range blobs {
		if err := w.WriteTensorData(b.name, tensor.Bytes(b.data)); err != nil {
			return fmt.Errorf("train: writing %s: %w", path, err)
		}
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("train: writing %s: %w", path, err)
	}
	return nil
}

// ropeFreqsName is the GGUF name of the RoPE frequency divisors.
const ropeFreqsName = "rope_freqs.weight"

// sameShape reports whether two configs describe the same architecture.
func sameShape(a, b *model.Config) error {
	if a.Family != b.Family {
		return fmt.Errorf("parameter family (%s: %s) differs from the model's (%s: %s)", b.Arch, b.Family, a.Arch, a.Family)
	}
	if a.Family.Rope == model.RopeNone && a.Context != b.Context {
		return fmt.Errorf("parameter context %d (learned positions) differs from the model's %d", b.Context, a.Context)
	}
	if a.Dim != b.Dim || a.Hidden != b.Hidden || a.Layers != b.Layers || a.Heads != b.Heads ||
		a.KVHeads != b.KVHeads || a.Vocab != b.Vocab || a.RopeDim != b.RopeDim {
		return fmt.Errorf("parameter shape (dim %d, hidden %d, layers %d, heads %d/%d, vocab %d) differs from the model's (dim %d, hidden %d, layers %d, heads %d/%d, vocab %d)",
			b.Dim, b.Hidden, b.Layers, b.Heads, b.KVHeads, b.Vocab, a.Dim, a.Hidden, a.Layers, a.Heads, a.KVHeads, a.Vocab)
	}
	return nil
}
