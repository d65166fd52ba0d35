package model

import (
	"math"
	"testing"
)

func TestExpf(t *testing.T) {
	var worst float64
	for x := -103.0; x < 88.72; x += 0.0013 {
		got := float64(expf(float32(x)))
		want := math.Exp(float64(float32(x)))
		if want > math.MaxFloat32 {
			continue
		}
		if want < 1e-37 { // subnormal range: absolute check
			if math.Abs(got-want) > 1e-44 {
				t.Fatalf("expf(%g) = %g, want %g", x, got, want)
			}
			continue
		}
		worst = max(worst, math.Abs(got-want)/want)
	}
	if worst > 3e-7 {
		t.Errorf("worst relative error %g > 3e-7", worst)
	}
	for _, tc := range []struct{ in, want float32 }{{0, 1}, {-200, 0}, {100, float32(math.Inf(1))}} {
		if got := expf(tc.in); got != tc.want {
			t.Errorf("expf(%g) = %g, want %g", tc.in, got, tc.want)
		}
	}
	if nan := float32(math.NaN()); expf(nan) == expf(nan) {
		t.Error("expf(NaN) is not NaN")
	}
}

func BenchmarkExpf(b *testing.B) {
	x := make([]float32, 1024)
	for i := range x {
		x[i] = float32(i%200) * -0.1
	}
	b.ResetTimer()
	var s float32
	for i := 0; i < b.N; i++ {
		for _, v := range x {
			s += expf(v)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(x)), "ns/exp")
	_ = s
}

func BenchmarkMathExp(b *testing.B) {
	x := make([]float32, 1024)
	for i := range x {
		x[i] = float32(i%200) * -0.1
	}
	b.ResetTimer()
	var s float32
	for i := 0; i < b.N; i++ {
		for _, v := range x {
			s += float32(math.Exp(float64(v)))
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(x)), "ns/exp")
	_ = s
}
