package metrics

import (
	"math"
	"testing"
)

func TestSummarize(t *testing.T) {
	// Sorted sample 1 2 3 4: mean 2.5; sample variance ((1.5²+0.5²)·2)/3 = 5/3;
	// type-7 quantiles: P50 at h = 1.5 → 2.5, P99 at h = 2.97 → 3 + 0.97 = 3.97.
	d := Summarize([]float64{3, 1, math.NaN(), 2, 4})
	want := Dist{N: 4, NaN: 1, Mean: 2.5, Std: math.Sqrt(5.0 / 3), Min: 1, Max: 4, P50: 2.5, P99: 3.97}
	if d.N != want.N || d.NaN != want.NaN || !near(d.Mean, want.Mean, 1e-15) || !near(d.Std, want.Std, 1e-15) ||
		d.Min != want.Min || d.Max != want.Max || !near(d.P50, want.P50, 1e-15) || !near(d.P99, want.P99, 1e-14) {
		t.Errorf("Summarize = %+v, want %+v", d, want)
	}

	one := Summarize([]float64{7})
	if one.N != 1 || one.Mean != 7 || one.Std != 0 || one.P50 != 7 || one.P99 != 7 || one.Max != 7 {
		t.Errorf("Summarize([7]) = %+v", one)
	}
	empty := Summarize([]float64{math.NaN()})
	if empty.N != 0 || empty.NaN != 1 || !math.IsNaN(empty.Mean) || !math.IsNaN(empty.P99) {
		t.Errorf("Summarize([NaN]) = %+v, want N=0 NaN=1 and NaN statistics", empty)
	}
}

func TestQuantile(t *testing.T) {
	s := []float64{10, 20, 30, 40, 50} // h = 4p
	for _, tc := range []struct{ p, want float64 }{
		{0, 10}, {1, 50}, {0.5, 30}, {0.25, 20}, {0.1, 14}, {0.99, 49.6},
	} {
		if got := Quantile(s, tc.p); !near(got, tc.want, 1e-14) {
			t.Errorf("Quantile(%g) = %g, want %g", tc.p, got, tc.want)
		}
	}
	for _, p := range []float64{-0.1, 1.1, math.NaN()} {
		if got := Quantile(s, p); !math.IsNaN(got) {
			t.Errorf("Quantile(%g) = %g, want NaN", p, got)
		}
	}
}

func TestWilsonCI(t *testing.T) {
	// Newcombe (1998), "Two-sided confidence intervals for the single proportion:
	// comparison of seven methods", Statistics in Medicine 17:857–872, Table II,
	// method 3 (Wilson score interval without continuity correction), 95%.
	for _, tc := range []struct {
		k, n   int
		lo, hi float64
	}{
		{81, 263, 0.2553, 0.3662},
		{15, 148, 0.0624, 0.1605},
		{0, 20, 0.0000, 0.1611},
		{1, 29, 0.0061, 0.1718},
	} {
		lo, hi := WilsonCI(tc.k, tc.n, 1.96)
		if math.Abs(lo-tc.lo) > 5e-5 || math.Abs(hi-tc.hi) > 5e-5 {
			t.Errorf("WilsonCI(%d, %d) = [%.4f, %.4f], want [%.4f, %.4f]", tc.k, tc.n, lo, hi, tc.lo, tc.hi)
		}
	}
	// Symmetry: the interval for n−k mirrors the one for k.
	lo, hi := WilsonCI(29, 29, 1.96)
	lo0, hi0 := WilsonCI(0, 29, 1.96)
	if !near(lo, 1-hi0, 1e-12) || hi != 1 || lo0 != 0 {
		t.Errorf("WilsonCI(29,29) = [%g, %g], WilsonCI(0,29) = [%g, %g]; want mirrored", lo, hi, lo0, hi0)
	}
	for _, bad := range [][2]int{{0, 0}, {-1, 5}, {6, 5}} {
		if lo, hi := WilsonCI(bad[0], bad[1], 1.96); !math.IsNaN(lo) || !math.IsNaN(hi) {
			t.Errorf("WilsonCI(%d, %d) = [%g, %g], want NaN", bad[0], bad[1], lo, hi)
		}
	}
}

func TestMeanCI(t *testing.T) {
	// mean 2.5, s = √(5/3), half width 1.96·s/√4.
	lo, hi := MeanCI([]float64{1, 2, 3, 4}, 1.96)
	half := 1.96 * math.Sqrt(5.0/3) / 2
	if !near(lo, 2.5-half, 1e-14) || !near(hi, 2.5+half, 1e-14) {
		t.Errorf("MeanCI = [%g, %g], want [%g, %g]", lo, hi, 2.5-half, 2.5+half)
	}
	if lo, hi := MeanCI([]float64{1}, 1.96); !math.IsNaN(lo) || !math.IsNaN(hi) {
		t.Errorf("MeanCI of one value = [%g, %g], want NaN", lo, hi)
	}
}
