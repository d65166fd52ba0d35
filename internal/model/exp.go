package model

import "github.com/unswift/unswift/internal/kernel"

// expf is a float32 exponential accurate to about 1 ulp: [kernel.Expf], the
// scalar form of the vectorised exponential the attention softmax and SwiGLU
// use.
func expf(x float32) float32 { return kernel.Expf(x) }
