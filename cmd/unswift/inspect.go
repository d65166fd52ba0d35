package main

import (
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/unswift/unswift/internal/model"
)

func cmdInspect(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("inspect", "-m MODEL [flags]", stderr)
	var mf modelFlags
	mf.register(fs)
	mf.registerOrder(fs)
	meta := fs.Bool("meta", false, "also list every GGUF metadata key")
	if err := parse(fs, args); err != nil {
		return err
	}
	m, pool, err := mf.open()
	if err != nil {
		return err
	}
	pool.Close()
	defer m.Close()
	c := m.Config
	fmt.Fprintf(stdout, "file:          %s (%s)\n", m.Path, m.Format)
	fmt.Fprintf(stdout, "architecture:  %s (%s)\n", c.Arch, c.Family)
	fmt.Fprintf(stdout, "dim %d, hidden %d, layers %d, heads %d, kv heads %d, head size %d, vocab %d, context %d\n",
		c.Dim, c.Hidden, c.Layers, c.Heads, c.KVHeads, c.HeadSize(), c.Vocab, c.Context)
	if c.Family.Rope != model.RopeNone {
		fmt.Fprintf(stdout, "rope base %g, rope dim %d, ", c.RopeBase, c.RopeDim)
	}
	fmt.Fprintf(stdout, "norm eps %g", c.NormEps)
	if c.SlidingWindow > 0 {
		fmt.Fprintf(stdout, ", sliding window %d", c.SlidingWindow)
	}
	fmt.Fprintln(stdout)
	var params, bytes int64
	for _, t := range m.Tensors {
		params += int64(t.Len())
		bytes += int64(len(t.Data))
	}
	fmt.Fprintf(stdout, "parameters:    %d (%.1f MB of tensor data); %.1f MB read per generated token\n",
		params, float64(bytes)/1e6, float64(m.WeightBytesPerToken())/1e6)
	if t := m.Taylor; t != nil {
		e := 0
		for _, n := range t.Expanded {
			e += n
		}
		fmt.Fprintf(stdout, "TaylorMLP:     order %d (running at %d), activation %s, basis %s, centre %s, expand %s\n",
			t.Order, m.Order(), t.Activation, t.Basis, t.Center, t.ExpandRule)
		fmt.Fprintf(stdout, "               %d of %d MLP channels expanded (%.1f%%), per layer %v; predicted slowdown %.2f×\n",
			e, c.Hidden*c.Layers, 100*float64(e)/float64(c.Hidden*c.Layers), t.Expanded, m.PredictedSlowdown())
	}
	tok := m.Tokenizer
	fmt.Fprintf(stdout, "tokenizer:     %T, %d tokens, BOS %d, EOS %d\n", tok, tok.VocabSize(), tok.BOS(), tok.EOS())
	if *meta && m.GGUF != nil {
		fmt.Fprintln(stdout, "\nmetadata:")
		for _, k := range m.GGUF.Keys() {
			v, _ := m.GGUF.Value(k)
			fmt.Fprintf(stdout, "  %s = %s\n", k, v)
		}
	}
	fmt.Fprintln(stdout, "\ntensors:")
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  name\ttype\tshape\tbytes")
	for _, t := range m.Tensors {
		fmt.Fprintf(tw, "  %s\t%s\t%v\t%d\n", t.Name, t.Type, t.Shape, len(t.Data))
	}
	return tw.Flush()
}
