package series

import (
	"fmt"
	"math"
	"strings"
)

// Activation names one of the MLP activation functions the package can expand.
type Activation int

// The supported activations.
const (
	// SiLU is x·σ(x) with σ the logistic sigmoid (Llama, Mistral, Qwen).
	SiLU Activation = iota
	// GELU is the exact Gaussian error linear unit x·Φ(x) = ½x(1 + erf(x/√2)).
	GELU
	// GELUTanh is the tanh approximation ½x(1 + tanh(√(2/π)(x + 0.044715x³)))
	// (GPT-2's and Phi-2's "gelu_new", PyTorch's approximate="tanh").
	GELUTanh
)

// geluTanhA is the cubic coefficient of the GELUTanh argument.
const geluTanhA = 0.044715

// sqrt2OverPi is √(2/π).
var sqrt2OverPi = math.Sqrt(2 / math.Pi)

var activationNames = [...]string{SiLU: "silu", GELU: "gelu", GELUTanh: "gelu_tanh"}

// String returns the canonical name of a ("silu", "gelu", "gelu_tanh"), which
// ParseActivation accepts.
func (a Activation) String() string {
	if a.valid() {
		return activationNames[a]
	}
	return fmt.Sprintf("Activation(%d)", int(a))
}

func (a Activation) valid() bool { return a >= 0 && int(a) < len(activationNames) }

// ParseActivation returns the activation with the given name. Besides the
// canonical names returned by String it accepts the Hugging Face hidden_act
// spellings "swish" (SiLU), "gelu_new" and "gelu_pytorch_tanh" (GELUTanh), and
// "gelu_erf" (GELU). Matching ignores case and surrounding spaces.
func ParseActivation(s string) (Activation, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "silu", "swish":
		return SiLU, nil
	case "gelu", "gelu_erf":
		return GELU, nil
	case "gelu_tanh", "gelu_new", "gelu_pytorch_tanh":
		return GELUTanh, nil
	}
	return 0, fmt.Errorf("series: unknown activation %q (want silu, gelu or gelu_tanh)", s)
}

// Eval returns a(x). It keeps full relative accuracy (about 1e-14 measured)
// for large negative x too, where the value is tiny: GELUTanh is evaluated
// as x·σ(2√(2/π)(x + 0.044715x³)), which equals the tanh form exactly in real
// arithmetic but does not cancel in 1 + tanh. Eval returns NaN for an unknown
// activation.
func (a Activation) Eval(x float64) float64 {
	switch a {
	case SiLU:
		return x * sigmoid(x)
	case GELU:
		return 0.5 * x * math.Erfc(-x/math.Sqrt2)
	case GELUTanh:
		return x * sigmoid(geluTanhArg(x))
	}
	return math.NaN()
}

// geluTanhArg returns 2√(2/π)(x + 0.044715x³), the argument p with
// GELUTanh(x) = x·σ(p).
func geluTanhArg(x float64) float64 {
	return 2 * sqrt2OverPi * (x + geluTanhA*x*x*x)
}

// sigmoid returns 1/(1+e^(−x)) without overflow or cancellation.
func sigmoid(x float64) float64 {
	if x >= 0 {
		return 1 / (1 + math.Exp(-x))
	}
	e := math.Exp(x)
	return e / (1 + e)
}
