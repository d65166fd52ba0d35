package sample

import (
	"math"
	"testing"
)

func TestArgmax(t *testing.T) {
	for _, tc := range []struct {
		in   []float32
		want int
	}{
		{[]float32{1, 3, 2}, 1},
		{[]float32{-5}, 0},
		{[]float32{2, 2, 1}, 0},
		{[]float32{-3, -1, -2}, 1},
	} {
		if got := Argmax(tc.in); got != tc.want {
			t.Errorf("Argmax(%v) = %d, want %d", tc.in, got, tc.want)
		}
	}
}

func TestGreedyAtZeroTemperature(t *testing.T) {
	s, err := New(0, 0, 1, 1)
	if err != nil {
		t.Fatal(err)
	}
	if got := s.Sample([]float32{0.1, 0.5, 0.2}); got != 1 {
		t.Fatalf("got %d, want 1", got)
	}
}

// TestFrequencies draws many samples and checks the empirical frequencies
// against the softmax probabilities after truncation.
func TestFrequencies(t *testing.T) {
	logits := []float32{0, float32(math.Log(2)), float32(math.Log(3)), float32(math.Log(4))}
	for _, tc := range []struct {
		name string
		topK int
		topP float64
		want []float64
	}{
		{"full", 0, 1, []float64{0.1, 0.2, 0.3, 0.4}},
		{"topk2", 2, 1, []float64{0, 0, 3.0 / 7, 4.0 / 7}},
		{"topp0.65", 0, 0.65, []float64{0, 0, 3.0 / 7, 4.0 / 7}},
		{"topp0.3", 0, 0.3, []float64{0, 0, 0, 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := New(1, tc.topK, tc.topP, 42)
			if err != nil {
				t.Fatal(err)
			}
			const n = 200000
			count := make([]float64, len(logits))
			for i := 0; i < n; i++ {
				count[s.Sample(logits)]++
			}
			for i := range count {
				if got := count[i] / n; math.Abs(got-tc.want[i]) > 0.005 {
					t.Errorf("P(%d) = %.4f, want %.4f", i, got, tc.want[i])
				}
			}
		})
	}
}

func TestSeedReproducible(t *testing.T) {
	logits := []float32{1, 1, 1, 1, 1, 1, 1, 1}
	a, _ := New(1, 0, 1, 7)
	b, _ := New(1, 0, 1, 7)
	for i := 0; i < 100; i++ {
		if x, y := a.Sample(logits), b.Sample(logits); x != y {
			t.Fatalf("draw %d: %d != %d with the same seed", i, x, y)
		}
	}
}

func TestBadSettings(t *testing.T) {
	for _, tc := range []struct {
		temp float64
		topK int
		topP float64
	}{{-1, 0, 1}, {math.NaN(), 0, 1}, {1, -2, 1}, {1, 0, 1.5}, {1, 0, -0.1}} {
		if _, err := New(tc.temp, tc.topK, tc.topP, 0); err == nil {
			t.Errorf("New(%v, %d, %v) accepted bad settings", tc.temp, tc.topK, tc.topP)
		}
	}
}
