package train

import (
	"testing"

	"github.com/unswift/unswift/internal/kernel"
)

// TestTranspose checks both transposes on shapes with partial tiles and
// blocks, and a leading dimension larger than the row.
func TestTranspose(t *testing.T) {
	pool := kernel.NewPool(2)
	defer pool.Close()
	b32, b64 := newBackend[float32](pool), newBackend[float64](pool)
	for _, sh := range [][3]int{{1, 1, 1}, {16, 8, 8}, {17, 9, 9}, {33, 20, 25}, {40, 3, 7}, {5, 40, 40}, {130, 70, 75}, {300, 200, 200}} {
		r, c, ld := sh[0], sh[1], sh[2]
		s32, s64 := make([]float32, r*ld), make([]float64, r*ld)
		for i := range s32 {
			s32[i], s64[i] = float32(i), float64(i)
		}
		d32, d64 := make([]float32, r*c), make([]float64, r*c)
		b32.transpose(d32, s32, r, c, ld)
		b64.transpose(d64, s64, r, c, ld)
		for i := 0; i < r; i++ {
			for j := 0; j < c; j++ {
				if d32[j*r+i] != s32[i*ld+j] || d64[j*r+i] != s64[i*ld+j] {
					t.Fatalf("%d×%d (ld %d): element (%d, %d) misplaced", r, c, ld, i, j)
				}
			}
		}
	}
}
