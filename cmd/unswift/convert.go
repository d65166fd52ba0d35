package main

import (
	"fmt"
	"io"
	"path/filepath"

	"github.com/unswift/unswift/internal/gguf"
	"github.com/unswift/unswift/internal/hf"
	"github.com/unswift/unswift/internal/model"
	"github.com/unswift/unswift/internal/tensor"
)

func cmdConvert(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("convert", "-m SRC -o DST [--to gguf|hf] [--dtype TYPE] [--tokenizer FILE]", stderr)
	src := fs.String("m", "", "source: a Hugging Face model directory (config.json, safetensors, tokenizer.json), a GGUF file or a llama2.c checkpoint")
	out := fs.String("o", "", "output: a GGUF file, or with --to hf a directory that does not exist yet (or is empty)")
	to := fs.String("to", "gguf", "output format: gguf, or hf for a Hugging Face directory (llama models)")
	dtype := fs.String("dtype", "", "type of the matrices: f32, f16, bf16 or q8_0 (hf: f32, f16 or bf16); default: the source's (f32 where the output cannot hold it)")
	tok := fs.String("tokenizer", "", "tokenizer: a llama2.c tokenizer.bin for a checkpoint (default: the one beside it), or a tokenizer.json for a Hugging Face directory")
	if err := parse(fs, args); err != nil {
		return err
	}
	switch {
	case *src == "":
		return fmt.Errorf("no source: pass -m DIR or -m FILE")
	case *out == "":
		return fmt.Errorf("no output: pass -o FILE.gguf (or -o DIR with --to hf)")
	case *to != "gguf" && *to != "hf":
		return fmt.Errorf("--to %q: want gguf or hf", *to)
	case filepath.Clean(*src) == filepath.Clean(*out):
		return fmt.Errorf("the output %s is the source", *out)
	}
	keep := *dtype == ""
	var typ tensor.DType
	if !keep {
		t, err := tensor.ParseDType(*dtype)
		if err != nil {
			return fmt.Errorf("--dtype: %w", err)
		}
		typ = t
	}

	var (
		meta    []gguf.KV
		tensors []*tensor.Tensor
		data    func(*tensor.Tensor) ([]byte, error)
		what    string
	)
	if hf.IsDir(*src) {
		if *to == "hf" {
			return fmt.Errorf("%s is already a Hugging Face directory", *src)
		}
		m, err := hf.Open(*src, hf.Options{Tokenizer: *tok, Lazy: true})
		if err != nil {
			return err
		}
		defer m.Close()
		meta, tensors, data = m.Meta, m.Tensors, m.Data
		what = fmt.Sprintf("Hugging Face %s (GGUF %s)", m.Params.Class, m.Arch)
	} else {
		m, err := model.Open(*src, model.Options{Tokenizer: *tok})
		if err != nil {
			return err
		}
		defer m.Close()
		what = m.Format
		tensors = m.Tensors
		if m.GGUF != nil {
			meta = m.GGUF.Meta()
		} else {
			if meta, err = hf.CaptureMeta(func(w *gguf.Writer) error { return model.AddGGUFMetadata(w, m) }); err != nil {
				return err
			}
			meta = hf.EscapeSPMSpaces(meta)
			tensors = untie(tensors)
		}
	}
	fmt.Fprintf(stderr, "converting %s (%s, %d tensors) to %s\n", *src, what, len(tensors), *out)
	bar := newProgress(stderr, "convert")
	var err error
	if *to == "hf" {
		err = hf.WriteDir(*out, meta, tensors, hf.DirOptions{Type: typ, KeepType: keep, Progress: bar.update})
	} else {
		err = hf.WriteGGUF(*out, meta, tensors, hf.GGUFOptions{Type: typ, KeepType: keep, Data: data, Progress: bar.update})
	}
	bar.done()
	return err
}

// untie drops output.weight when it shares token_embd.weight's data (a
// llama2.c checkpoint with a shared classifier), so that the GGUF is tied.
func untie(ts []*tensor.Tensor) []*tensor.Tensor {
	var emb, out *tensor.Tensor
	for _, t := range ts {
		switch t.Name {
		case "token_embd.weight":
			emb = t
		case "output.weight":
			out = t
		}
	}
	if emb == nil || out == nil || len(emb.Data) == 0 || len(out.Data) != len(emb.Data) || &emb.Data[0] != &out.Data[0] {
		return ts
	}
	var kept []*tensor.Tensor
	for _, t := range ts {
		if t != out {
			kept = append(kept, t)
		}
	}
	return kept
}
