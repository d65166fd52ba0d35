package release

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/unswift/unswift/internal/kernel"
	"github.com/unswift/unswift/internal/series"
)

// TestDenseMatchesPlain: a random GELU layer with biases, every channel
// expanded around the middle of its input range: at N = 24 the release
// computes the plain layer to 1e-5 relative, for both GELU forms, and the
// error falls with N.
func TestDenseMatchesPlain(t *testing.T) {
	for _, act := range []series.Activation{series.GELU, series.GELUTanh} {
		t.Run(act.String(), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(1, 2))
			d := &Dense{Dim: 48, Hidden: 80, Act: act}
			fill := func(n int, s float64) []float32 {
				x := make([]float32, n)
				for i := range x {
					x[i] = float32(rng.NormFloat64() * s)
				}
				return x
			}
			// Inputs inside the convergence region (GELU-tanh's radius is finite).
			d.V, d.B = fill(d.Hidden*d.Dim, 0.05), fill(d.Hidden, 0.5)
			d.W, d.C = fill(d.Dim*d.Hidden, 0.1), fill(d.Dim, 0.1)
			xs := make([][]float32, 64)
			for i := range xs {
				xs[i] = fill(d.Dim, 1)
			}
			// Calibrate: the midpoint of each channel's activation input over xs.
			lo, hi := make([]float64, d.Hidden), make([]float64, d.Hidden)
			for j := range lo {
				lo[j], hi[j] = math.Inf(1), math.Inf(-1)
			}
			for _, x := range xs {
				for j := 0; j < d.Hidden; j++ {
					var a float64
					for k := 0; k < d.Dim; k++ {
						a += float64(d.V[j*d.Dim+k]) * float64(x[k])
					}
					a += float64(d.B[j])
					lo[j], hi[j] = min(lo[j], a), max(hi[j], a)
				}
			}
			a0 := make([]float64, d.Hidden)
			var expand []int
			var sign []float64
			for j := range a0 {
				a0[j] = (lo[j] + hi[j]) / 2
				if h, r := (hi[j]-lo[j])/2, series.Radius(act, a0[j]); h > 0.6*r {
					t.Fatalf("channel %d: half-range %.3g is not inside the convergence radius %.3g", j, h, r)
				}
				expand = append(expand, j)
				sign = append(sign, float64(1-2*(j%2)))
			}
			r, err := SecureDense(d, a0, expand, sign, 24)
			if err != nil {
				t.Fatal(err)
			}
			pool := kernel.NewPool(1)
			defer pool.Close()
			want, got := make([]float32, d.Dim), make([]float32, d.Dim)
			errAt := func(n int) float64 {
				var diff, scale float64
				for _, x := range xs {
					d.Forward(want, x)
					r.Forward(pool, got, x, n)
					for i := range want {
						diff = max(diff, math.Abs(float64(got[i]-want[i])))
						scale = max(scale, math.Abs(float64(want[i])))
					}
				}
				return diff / scale
			}
			if e := errAt(24); e > 1e-5 {
				t.Fatalf("N=24: relative error %.3g > 1e-5", e)
			} else {
				t.Logf("N=24: relative error %.2g", e)
			}
			if e2, e8 := errAt(2), errAt(8); !(e8 < e2) {
				t.Errorf("error did not fall with N: N=2 %.3g, N=8 %.3g", e2, e8)
			}
		})
	}
}
