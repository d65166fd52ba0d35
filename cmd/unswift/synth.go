package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/unswift/unswift/internal/synth"
	"github.com/unswift/unswift/internal/tensor"
)

func cmdSynth(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("synth", "--shape NAME -o FILE.gguf [flags]", stderr)
	shape := fs.String("shape", "", "shape: "+strings.Join(synth.ShapeNames(), ", "))
	out := fs.String("o", "", "output GGUF file")
	dtype := fs.String("dtype", "f32", "matrix type: f32, f16, bf16 or q8_0")
	seed := fs.Uint64("seed", 1, "random seed")
	if err := parse(fs, args); err != nil {
		return err
	}
	s, ok := synth.Shapes[*shape]
	if !ok {
		return fmt.Errorf("unknown shape %q (known: %s)", *shape, strings.Join(synth.ShapeNames(), ", "))
	}
	if *out == "" {
		return fmt.Errorf("no output file: pass -o FILE.gguf")
	}
	typ, err := tensor.ParseDType(*dtype)
	if err != nil {
		return err
	}
	fmt.Fprintf(stderr, "writing %s: shape %s, %s, %.1f MB\n", *out, s.Name, typ, float64(synth.Bytes(s, typ))/1e6)
	bar := newProgress(stderr, "synth")
	err = synth.Write(*out, s, synth.Options{Type: typ, Seed: *seed, Progress: bar.update})
	bar.done()
	return err
}
