package model

import (
	"math"
	"testing"
)

// TestLlama3RopeFactors checks the Llama 3.1 scaling (base 500000, head size
// 128, factor 8, low/high frequency factors 1 and 4, original context 8192):
// short wavelengths keep their frequency, long ones are divided by 8, and the
// band between is interpolated monotonically in the frequency's inverse.
func TestLlama3RopeFactors(t *testing.T) {
	f := Llama3RopeFactors(500000, 128, 8, 1, 4, 8192)
	if len(f) != 64 {
		t.Fatalf("%d factors, want 64", len(f))
	}
	for i, v := range f {
		wave := 2 * math.Pi * math.Pow(500000, float64(2*i)/128)
		switch {
		case wave < 8192/4.0 && v != 1:
			t.Errorf("pair %d (wavelength %.0f < 2048): factor %v, want 1", i, wave, v)
		case wave > 8192 && v != 8:
			t.Errorf("pair %d (wavelength %.0f > 8192): factor %v, want 8", i, wave, v)
		case v < 1 || v > 8:
			t.Errorf("pair %d: factor %v outside [1, 8]", i, v)
		}
		if i > 0 && v < f[i-1] {
			t.Errorf("factors not monotone at %d: %v < %v", i, v, f[i-1])
		}
	}
	// In the band, the new frequency freq/f is the blend (1−s)·freq/8 + s·freq
	// with s = (8192/wavelength − 1)/(4 − 1): recover s from f and compare.
	inBand := 0
	for i, v := range f {
		wave := 2 * math.Pi * math.Pow(500000, float64(2*i)/128)
		if wave < 2048 || wave > 8192 {
			continue
		}
		inBand++
		s := (1/float64(v) - 1.0/8) / (1 - 1.0/8)
		if want := (8192/wave - 1) / 3; math.Abs(s-want) > 1e-6 {
			t.Errorf("pair %d: blend %v, want %v", i, s, want)
		}
	}
	if inBand == 0 {
		t.Fatal("no pair in the interpolation band: nothing checked")
	}
}
