package hf

import (
	"bytes"
	"fmt"
	"strings"

	"github.com/unswift/unswift/internal/gguf"
	"github.com/unswift/unswift/internal/tensor"
	"github.com/unswift/unswift/internal/tokenizer"
)

// GGUFOptions control WriteGGUF.
type GGUFOptions struct {
	// Type is the storage type of matrices (tensors of two or more
	// dimensions): F32, F16, BF16 or Q8_0. One-dimensional tensors (norms,
	// biases) are always written as F32, and a matrix whose rows cannot be
	// split into Q8_0 blocks stays F32.
	Type tensor.DType
	// KeepType writes each matrix in its own type instead of Type, or as F32
	// when GGUF cannot hold its type (llama2.c's Q8F32).
	KeepType bool
	// Data returns the data of a tensor whose Data is nil (a tensor of a
	// lazily opened Model: pass Model.Data).
	Data func(t *tensor.Tensor) ([]byte, error)
	// Progress is called after each tensor with the tensors done and the total.
	Progress func(done, total int)
}

// llama.cpp's general.file_type values.
var fileTypes = map[tensor.DType]uint32{tensor.F32: 0, tensor.F16: 1, tensor.Q8_0: 7, tensor.BF16: 32}

// WriteGGUF writes a GGUF file atomically with the given metadata and
// tensors, converting tensor types as opt says. Tensors are converted and
// written one at a time. general.file_type (and, for Q8_0,
// general.quantization_version) are added unless meta has them.
func WriteGGUF(path string, meta []gguf.KV, tensors []*tensor.Tensor, opt GGUFOptions) error {
	if !opt.KeepType {
		if _, ok := fileTypes[opt.Type]; !ok {
			return fmt.Errorf("hf: cannot write GGUF tensors as %s (want F32, F16, BF16 or Q8_0)", opt.Type)
		}
	}
	types := make([]tensor.DType, len(tensors))
	counts := map[tensor.DType]int{}
	for i, t := range tensors {
		types[i] = targetType(t, opt)
		if len(t.Shape) > 1 {
			counts[types[i]]++
		}
	}
	w, err := gguf.Create(path)
	if err != nil {
		return err
	}
	defer w.Abort()
	has := map[string]bool{}
	for _, kv := range meta {
		w.Add(kv.Key, kv.Value)
		has[kv.Key] = true
	}
	if !has["general.file_type"] {
		ft, most := tensor.F32, 0
		for _, typ := range []tensor.DType{tensor.F32, tensor.F16, tensor.BF16, tensor.Q8_0} {
			if counts[typ] > most {
				ft, most = typ, counts[typ]
			}
		}
		w.AddUint32("general.file_type", fileTypes[ft])
	}
	if counts[tensor.Q8_0] > 0 && !has["general.quantization_version"] {
		w.AddUint32("general.quantization_version", 2)
	}
	for i, t := range tensors {
		w.AddTensorInfo(t.Name, types[i], t.Shape...)
	}
	if err := w.WriteHeader(); err != nil {
		return err
	}
	var buf []byte
	for i, t := range tensors {
		data := t.Data
		if data == nil {
			if opt.Data == nil {
				return fmt.Errorf("hf: tensor %q has no data", t.Name)
			}
			if data, err = opt.Data(t); err != nil {
				return err
			}
		}
		if types[i] != t.Type {
			size, err := types[i].Bytes(t.Len())
			if err != nil {
				return fmt.Errorf("hf: tensor %q: %w", t.Name, err)
			}
			if cap(buf) < size {
				buf = make([]byte, size)
			}
			if err := convert(buf[:size], types[i], data, t); err != nil {
				return err
			}
			data = buf[:size]
		}
		if err := w.WriteTensorData(t.Name, data); err != nil {
			return err
		}
		if opt.Progress != nil {
			opt.Progress(i+1, len(tensors))
		}
	}
	return w.Close()
}

// convert writes the data of t (src, of type t.Type) into dst as type typ,
// a few rows at a time so that only a small float32 buffer is needed.
func convert(dst []byte, typ tensor.DType, src []byte, t *tensor.Tensor) error {
	cols := t.Cols()
	rows := t.Len() / cols
	step := max(1, (1<<18)/cols)
	f32 := make([]float32, min(rows, step)*cols)
	srcRow, err := t.Type.Bytes(cols)
	if err != nil {
		return fmt.Errorf("hf: tensor %q: %w", t.Name, err)
	}
	dstRow, err := typ.Bytes(cols)
	if err != nil {
		return fmt.Errorf("hf: tensor %q: %w", t.Name, err)
	}
	for r := 0; r < rows; r += step {
		k := min(step, rows-r)
		x := f32[:k*cols]
		if err := tensor.Dequantize(x, t.Type, src[r*srcRow:(r+k)*srcRow]); err != nil {
			return fmt.Errorf("hf: tensor %q: %w", t.Name, err)
		}
		if err := tensor.Quantize(dst[r*dstRow:(r+k)*dstRow], typ, x); err != nil {
			return fmt.Errorf("hf: tensor %q: %w", t.Name, err)
		}
	}
	return nil
}

// targetType is the type a tensor is written as.
func targetType(t *tensor.Tensor, opt GGUFOptions) tensor.DType {
	if len(t.Shape) <= 1 {
		return tensor.F32
	}
	typ := opt.Type
	if opt.KeepType {
		typ = t.Type
		if !t.Type.Known() || t.Type >= 1000 {
			typ = tensor.F32
		}
	}
	if typ.BlockSize() > 1 && t.Shape[0]%typ.BlockSize() != 0 {
		return tensor.F32
	}
	return typ
}

// CaptureMeta returns the metadata that add writes to a GGUF writer (for
// example model.AddGGUFMetadata), as a list.
func CaptureMeta(add func(w *gguf.Writer) error) ([]gguf.KV, error) {
	var b bytes.Buffer
	w := gguf.NewWriter(&b)
	if err := add(w); err != nil {
		return nil, err
	}
	if err := w.WriteHeader(); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	f, err := gguf.Parse(b.Bytes())
	if err != nil {
		return nil, err
	}
	meta := f.Meta()
	return meta, nil
}

// metaFile makes an in-memory GGUF file holding meta and no tensors.
func metaFile(meta []gguf.KV) (*gguf.File, error) {
	var b bytes.Buffer
	w := gguf.NewWriter(&b)
	for _, kv := range meta {
		w.Add(kv.Key, kv.Value)
	}
	if err := w.WriteHeader(); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return gguf.Parse(b.Bytes())
}

// EscapeSPMSpaces rewrites the tokens of a SentencePiece ("llama") vocabulary
// that writes spaces as " " (llama2.c's tokenizer files) with ▁, as GGUF
// vocabularies and llama.cpp expect. Other metadata is returned unchanged.
// The tokenization is the same either way.
func EscapeSPMSpaces(meta []gguf.KV) []gguf.KV {
	out := append([]gguf.KV(nil), meta...)
	m := newMetaMap(meta)
	if model, _ := m.str(tokenizer.KeyModel); model != "llama" {
		return out
	}
	toks, ok := m.strs(tokenizer.KeyTokens)
	if !ok || !needsEscape(toks) {
		return out
	}
	esc := make([]string, len(toks))
	for i, t := range toks {
		esc[i] = strings.ReplaceAll(t, " ", "▁")
	}
	for i := range out {
		if out[i].Key == tokenizer.KeyTokens {
			out[i].Value = gguf.StringsValue(esc)
		}
	}
	return out
}
