// Package sample picks the next token from a vector of logits: greedy, or by
// temperature with optional top-k and top-p (nucleus) truncation, from a seeded
// random source so that runs are reproducible.
package sample

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
)

// Sampler chooses tokens. The zero value is not usable; use New.
type Sampler struct {
	Temp float64 // 0 means greedy
	TopK int     // 0 means no top-k truncation
	TopP float64 // 1 (or 0) means no top-p truncation
	rng  *rand.Rand
	idx  []int
	prob []float64
}

// New returns a sampler with the given settings and seed.
func New(temp float64, topK int, topP float64, seed uint64) (*Sampler, error) {
	if temp < 0 || math.IsNaN(temp) || math.IsInf(temp, 0) {
		return nil, fmt.Errorf("temperature %v must be a finite number ≥ 0", temp)
	}
	if topK < 0 {
		return nil, fmt.Errorf("top-k %d must be ≥ 0", topK)
	}
	if topP < 0 || topP > 1 || math.IsNaN(topP) {
		return nil, fmt.Errorf("top-p %v must be in [0, 1]", topP)
	}
	return &Sampler{Temp: temp, TopK: topK, TopP: topP, rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))}, nil
}

// Argmax returns the index of the largest logit (the first on ties).
func Argmax(logits []float32) int {
	best := 0
	for i, v := range logits {
		if v > logits[best] {
			best = i
		}
	}
	return best
}

// Sample picks the next token from logits (not modified).
func (s *Sampler) Sample(logits []float32) int {
	if s.Temp == 0 || s.TopK == 1 {
		return Argmax(logits)
	}
	n := len(logits)
	if cap(s.idx) < n {
		s.idx = make([]int, n)
		s.prob = make([]float64, n)
	}
	idx, prob := s.idx[:n], s.prob[:n]
	m := logits[Argmax(logits)]
	var sum float64
	for i, v := range logits {
		p := math.Exp(float64(v-m) / s.Temp)
		prob[i] = p
		sum += p
		idx[i] = i
	}
	k := n
	if s.TopK > 0 && s.TopK < n || s.TopP > 0 && s.TopP < 1 {
		sort.Slice(idx, func(a, b int) bool { return prob[idx[a]] > prob[idx[b]] })
		if s.TopK > 0 && s.TopK < n {
			k = s.TopK
		}
		if s.TopP > 0 && s.TopP < 1 {
			var c float64
			for i := 0; i < k; i++ {
				c += prob[idx[i]] / sum
				if c >= s.TopP {
					k = i + 1
					break
				}
			}
		}
		sum = 0
		for _, i := range idx[:k] {
			sum += prob[i]
		}
	}
	r := s.rng.Float64() * sum
	for _, i := range idx[:k] {
		r -= prob[i]
		if r < 0 {
			return i
		}
	}
	return idx[k-1]
}
