package kernel

import (
	"fmt"
	"testing"
)

// BenchmarkPoolFor measures the cost of one parallel loop with trivial work:
// the hand-off to the workers and back.
func BenchmarkPoolFor(b *testing.B) {
	for _, th := range []int{1, 2} {
		b.Run(fmt.Sprintf("t%d", th), func(b *testing.B) {
			p := NewPool(th)
			defer p.Close()
			var sink [2][64]int
			for b.Loop() {
				p.For(2, 1, func(lo, hi int) { sink[lo][0]++ })
			}
		})
	}
}
