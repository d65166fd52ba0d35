package attack

import (
	"errors"
	"fmt"
	"math"

	"github.com/unswift/unswift/internal/model"
	"github.com/unswift/unswift/internal/series"
	"github.com/unswift/unswift/internal/tensor"
)

// ErrNotRelease is returned (wrapped) for a model that is not a TaylorMLP release.
var ErrNotRelease = errors.New("not an unswift TaylorMLP release")

// layerData is one release layer's MLP tensors, read into float64: what the
// attacker has.
type layerData struct {
	l           int
	dim, hidden int
	act         series.Activation // the MLP activation
	e           int               // expanded channels
	plain       int               // padded plain columns
	tailRule    string            // chebyshev: "none", "linear" or "exact"
	tail        int               // tail block columns (linear: one block, exact: two)
	term        int               // padded columns of one order's block
	cols        int               // row length of theta
	theta       []float64         // dim × cols: [W_plain | pad | tail | Θ_0 | … | Θ_N]
	center      []float64         // e released expansion points / interval centres (sign-perturbed)
	invH        []float64         // chebyshev: e released 1/h
	slopeLo     []float64         // linear tail: act' at the released low edge
	slopeHi     []float64         // linear tail: act' at the released high edge
}

// checkRelease verifies that rel is a release this package can attack.
func checkRelease(rel *model.Model) error {
	if rel == nil {
		return errors.New("no release")
	}
	if rel.Taylor == nil {
		return fmt.Errorf("%s: %w (a plain model: its down projections are in the file as they are)", rel.Path, ErrNotRelease)
	}
	t := rel.Taylor
	// Every activation the runtime knows (SiLU, GELU, GELU-tanh) is x/2 plus
	// an even function, so act(−x) = act(x) − x: what the attacks rely on.
	if a, err := series.ParseActivation(t.Activation); err != nil || a != rel.Config.Family.Act {
		return fmt.Errorf("%s: activation %q is not supported (the %s architecture uses %s)", rel.Path, t.Activation, rel.Config.Arch, rel.Config.Family.Act)
	}
	switch {
	case t.Basis == "taylor":
	case t.Basis == "chebyshev" && (t.Tail == "none" || t.Tail == "linear" || t.Tail == "exact"):
	default:
		return fmt.Errorf("%s: basis %q with tail %q is not supported", rel.Path, t.Basis, t.Tail)
	}
	return nil
}

// col is the column of order n's block for expanded channel k.
func (d *layerData) col(n, k int) int { return d.plain + d.tail + n*d.term + k }

// column copies column c of theta into dst.
func (d *layerData) column(c int, dst []float64) {
	for i := range dst {
		dst[i] = d.theta[i*d.cols+c]
	}
}

// readLayer reads layer l of a release and checks that its tensors agree
// with the metadata beyond what loading checks: padding columns and padded
// centres are zero, centres, scales and slopes are finite.
func readLayer(rel *model.Model, l int) (*layerData, error) {
	t, c := rel.Taylor, &rel.Config
	ly := &rel.Weights.Layers[l]
	d := &layerData{l: l, dim: c.Dim, hidden: c.Hidden, act: c.Family.Act, e: t.Expanded[l],
		plain: t.PlainCols(l, c.Hidden), tailRule: t.Tail, tail: t.TailCols(l), term: t.TermCols(l)}
	d.cols = t.Cols(l, c.Hidden, t.Order)
	if ly.Taylor.Cols() != d.cols || ly.Taylor.Rows() != d.dim {
		return nil, fmt.Errorf("inconsistent release: layer %d: %s has %d×%d values, the metadata implies %d×%d",
			l, ly.Taylor.Name, ly.Taylor.Rows(), ly.Taylor.Cols(), d.dim, d.cols)
	}
	var err error
	if d.theta, err = matrix(ly.Taylor); err != nil {
		return nil, err
	}
	bad := func(what string, i int) error {
		return fmt.Errorf("inconsistent release: layer %d: %s %d is not zero, so the metadata's %d expanded channels disagree with the tensors",
			l, what, i, d.e)
	}
	zeroCol := func(c int) bool {
		for i := 0; i < d.dim; i++ {
			if d.theta[i*d.cols+c] != 0 {
				return false
			}
		}
		return true
	}
	for k := d.hidden - d.e; k < d.plain; k++ {
		if !zeroCol(k) {
			return nil, bad("padding column of the plain block at", k)
		}
	}
	for blk := 0; blk < (d.cols-d.plain)/max(d.term, 1); blk++ {
		for k := d.e; k < d.term; k++ {
			if c := d.plain + blk*d.term + k; !zeroCol(c) {
				return nil, bad("padding column", c)
			}
		}
	}
	center := vector(ly.Center)
	for k, v := range center {
		if k < d.e && (math.IsNaN(v) || math.IsInf(v, 0)) {
			return nil, fmt.Errorf("inconsistent release: layer %d: expansion point %d is %v", l, k, v)
		}
		if k >= d.e && v != 0 {
			return nil, bad("padded expansion point", k)
		}
	}
	d.center = center[:d.e]
	if t.Basis == "chebyshev" {
		inv := vector(ly.Scale)
		for k := 0; k < d.e; k++ {
			if !(inv[k] > 0) || math.IsInf(inv[k], 0) {
				return nil, fmt.Errorf("inconsistent release: layer %d: interval scale 1/h of channel %d is %v, must be positive", l, k, inv[k])
			}
		}
		d.invH = inv[:d.e]
	}
	if t.Tail == "linear" {
		s := vector(ly.Slope)
		d.slopeLo, d.slopeHi = s[:d.e], s[d.term:d.term+d.e]
		for k := 0; k < d.e; k++ {
			if math.IsNaN(d.slopeLo[k]+d.slopeHi[k]) || math.IsInf(d.slopeLo[k]+d.slopeHi[k], 0) {
				return nil, fmt.Errorf("inconsistent release: layer %d: tail slope of channel %d is not finite", l, k)
			}
		}
	}
	return d, nil
}

// coefEps is the relative rounding of the release's coefficient type.
func coefEps(t tensor.DType) float64 {
	switch t {
	case tensor.F16:
		return 0x1p-11
	case tensor.BF16:
		return 0x1p-8
	}
	return 0x1p-24
}

// gateOf returns layer l's released gate matrix and its bias (nil if none):
// ffn_gate of a gated MLP, ffn_up and ffn_up.bias of a plain one, whose up
// projection plays the gate's part (its up factor is 1).
func gateOf(m *model.Model, l int) (w, b *tensor.Tensor) {
	ly := &m.Weights.Layers[l]
	if m.Config.Family.Gated {
		return ly.Gate, nil
	}
	return ly.Up, ly.UpB
}
