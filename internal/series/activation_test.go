package series

import (
	"math"
	"strings"
	"testing"
)

func TestParseActivation(t *testing.T) {
	tests := []struct {
		in   string
		want Activation
	}{
		{"silu", SiLU},
		{"SiLU", SiLU},
		{"swish", SiLU},
		{"gelu", GELU},
		{"gelu_erf", GELU},
		{" GELU ", GELU},
		{"gelu_tanh", GELUTanh},
		{"gelu_new", GELUTanh},
		{"gelu_pytorch_tanh", GELUTanh},
	}
	for _, tt := range tests {
		got, err := ParseActivation(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("ParseActivation(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
	for _, a := range allActivations {
		if got, err := ParseActivation(a.String()); err != nil || got != a {
			t.Errorf("ParseActivation(%q) = %v, %v; want %v", a.String(), got, err, a)
		}
	}
	for _, bad := range []string{"", "relu", "gelu_fast2", "silu x"} {
		_, err := ParseActivation(bad)
		if err == nil || !strings.Contains(err.Error(), "unknown activation") {
			t.Errorf("ParseActivation(%q) error = %v, want an unknown-activation error", bad, err)
		}
	}
	if s := Activation(9).String(); s != "Activation(9)" {
		t.Errorf("Activation(9).String() = %q", s)
	}
}

// TestEvalMatchesReference compares Eval with the 256-bit reference values
// (the reference's c_0), including the negative tail, where the textbook
// forms ½x(1 + erf) and ½x(1 + tanh) cancel.
func TestEvalMatchesReference(t *testing.T) {
	for _, a := range allActivations {
		worst := 0.0
		for i := -40; i <= 40; i++ {
			x := float64(i)/4 + 0.01
			want := refTaylor(a, x, 0)[0]
			got := a.Eval(x)
			rel := math.Abs(got-want) / math.Abs(want)
			worst = math.Max(worst, rel)
			if !(rel <= 5e-14) {
				t.Errorf("%v.Eval(%g) = %.17g, reference %.17g (relative error %.2g)", a, x, got, want, rel)
			}
		}
		t.Logf("%v: max relative error of Eval on [-10, 10]: %.2g", a, worst)
	}
}

// TestEvalFormulas checks Eval against the textbook formulas where those are
// accurate (no cancellation in 1 + erf or 1 + tanh).
func TestEvalFormulas(t *testing.T) {
	for _, x := range []float64{-2, -0.5, 0, 0.3, 1, 4, 20} {
		want := map[Activation]float64{
			SiLU:     x / (1 + math.Exp(-x)),
			GELU:     0.5 * x * (1 + math.Erf(x/math.Sqrt2)),
			GELUTanh: 0.5 * x * (1 + math.Tanh(math.Sqrt(2/math.Pi)*(x+0.044715*x*x*x))),
		}
		for a, w := range want {
			if got := a.Eval(x); !(math.Abs(got-w) <= 1e-15*math.Max(1, math.Abs(w))) {
				t.Errorf("%v.Eval(%g) = %.17g, want %.17g", a, x, got, w)
			}
		}
	}
	if v := Activation(-1).Eval(1); !math.IsNaN(v) {
		t.Errorf("Eval of an unknown activation = %g, want NaN", v)
	}
}
