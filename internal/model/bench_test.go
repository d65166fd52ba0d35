package model

import (
	"testing"

	"github.com/unswift/unswift/internal/kernel"
)

// BenchmarkDecode measures generation of one token at a time on stories260K
// (the context grows to 128 positions).
func BenchmarkDecode(b *testing.B) {
	for _, threads := range []int{1, 2} {
		b.Run(map[int]string{1: "1thread", 2: "2threads"}[threads], func(b *testing.B) {
			m := open(b, "models/stories260K/stories260K.gguf")
			pool := kernel.NewPool(threads)
			defer pool.Close()
			s := m.NewState(pool, 0)
			b.SetBytes(m.WeightBytesPerToken())
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if s.Pos() == 128 {
					s.Reset(0)
				}
				if _, err := s.Forward([]int{1 + i%500}); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "tokens/s")
		})
	}
}

// BenchmarkPrompt measures prompt processing of a 128-token batch on stories260K.
func BenchmarkPrompt(b *testing.B) {
	m := open(b, "models/stories260K/stories260K.gguf")
	pool := kernel.NewPool(0)
	defer pool.Close()
	s := m.NewState(pool, 0)
	prompt := make([]int, 128)
	for i := range prompt {
		prompt[i] = 3 + i
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		s.Reset(0)
		if _, err := s.Forward(prompt); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*len(prompt))/b.Elapsed().Seconds(), "tokens/s")
}
