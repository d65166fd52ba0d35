// Package model holds a language model (its configuration, its weights bound by
// tensor name, its tokenizer) and the forward pass that runs it.
package model

import (
	"fmt"
	"math"
)

// Config is the hyper-parameters of a model.
type Config struct {
	Arch     string  // architecture name, as in GGUF general.architecture
	Family   Family  // the forward pass of Arch
	Dim      int     // embedding length
	Hidden   int     // feed-forward (MLP hidden) length
	Layers   int     // number of transformer blocks
	Heads    int     // attention heads
	KVHeads  int     // key/value heads (grouped-query attention)
	Vocab    int     // vocabulary size
	Context  int     // maximum sequence length
	RopeBase float64 // RoPE frequency base
	RopeDim  int     // dimensions rotated per head (the head size unless partial rotary)
	NormEps  float32 // RMSNorm or LayerNorm epsilon
	// SlidingWindow limits attention to the last SlidingWindow positions
	// (Mistral); 0 attends to the whole context.
	SlidingWindow int
}

// HeadSize is the dimension of one attention head.
func (c *Config) HeadSize() int { return c.Dim / c.Heads }

// KVDim is the width of the key and value projections.
func (c *Config) KVDim() int { return c.KVHeads * c.HeadSize() }

// Validate checks that the hyper-parameters are consistent.
func (c *Config) Validate() error {
	for _, f := range []struct {
		name string
		v    int
	}{{"embedding length", c.Dim}, {"feed-forward length", c.Hidden}, {"block count", c.Layers},
		{"head count", c.Heads}, {"kv head count", c.KVHeads}, {"vocabulary size", c.Vocab}, {"context length", c.Context}} {
		if f.v <= 0 {
			return fmt.Errorf("model config: %s is %d, must be positive", f.name, f.v)
		}
	}
	if c.Dim%c.Heads != 0 {
		return fmt.Errorf("model config: embedding length %d is not a multiple of the head count %d", c.Dim, c.Heads)
	}
	if c.Heads%c.KVHeads != 0 {
		return fmt.Errorf("model config: head count %d is not a multiple of the kv head count %d", c.Heads, c.KVHeads)
	}
	if c.SlidingWindow < 0 {
		return fmt.Errorf("model config: sliding window %d is negative", c.SlidingWindow)
	}
	if !(c.NormEps > 0) {
		return fmt.Errorf("model config: norm epsilon %v must be positive", c.NormEps)
	}
	if c.Family.Rope == RopeNone {
		return nil
	}
	if c.HeadSize()%2 != 0 {
		return fmt.Errorf("model config: head size %d is odd; RoPE needs pairs", c.HeadSize())
	}
	if c.RopeDim <= 0 || c.RopeDim > c.HeadSize() || c.RopeDim%2 != 0 {
		return fmt.Errorf("model config: rope dimension %d must be even and at most the head size %d", c.RopeDim, c.HeadSize())
	}
	if !(c.RopeBase > 0) || math.IsInf(c.RopeBase, 0) {
		return fmt.Errorf("model config: rope frequency base %v must be positive", c.RopeBase)
	}
	return nil
}

// dims returns the named sizes used in tensor shape tags.
func (c *Config) dims() map[string]int {
	return map[string]int{
		"dim":      c.Dim,
		"hidden":   c.Hidden,
		"kvdim":    c.KVDim(),
		"vocab":    c.Vocab,
		"qkv":      c.Dim + 2*c.KVDim(),
		"context":  c.Context,
		"ropehalf": c.RopeDim / 2,
	}
}
