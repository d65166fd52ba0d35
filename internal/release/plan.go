// Package release turns a model and its calibration into a TaylorMLP release:
// a GGUF file in which each MLP's down projection of the expanded channels is
// replaced by Taylor-series coefficients of the activation (Θ_0..Θ_N), so that
// the file lacks those weights and each token costs about N times more MLP work.
//
// The transform follows ../shared/docs/TAYLORMLP.md: per channel j with
// expansion point z0_j, Θ_n[:, j] = W_down[:, j] · act^(n)(z0_j)/n!, and the MLP
// computes Σ_n Θ_n ((g − z0)^n ⊙ u). A secret random sign per expanded channel
// multiplies the released gate row and z0; Θ_n[:, j] picks up s_j^n.
package release

import (
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"math"
	mrand "math/rand/v2"
	"sort"
	"strconv"
	"strings"

	"github.com/unswift/unswift/internal/calib"
	"github.com/unswift/unswift/internal/model"
	"github.com/unswift/unswift/internal/series"
	"github.com/unswift/unswift/internal/tensor"
)

// MaxOrder is the highest order a release may be built at.
const MaxOrder = 32

// Pad is the column padding of the coefficient blocks (a multiple of every
// quantized block size, and of the SIMD width).
const Pad = 32

// Options control a release.
type Options struct {
	Order  int          // Taylor order N (0..MaxOrder)
	Basis  string       // "taylor" (the paper's), "chebyshev" (interpolation) or "lsq" (least squares on calibration samples)
	Center string       // taylor: expansion point rule: "mid" ((min+max)/2, the reference's) or "mean"
	Margin float64      // chebyshev, lsq: widen the calibrated interval by this fraction of its range (default 0.1)
	Tail   string       // chebyshev, lsq: "exact" (default: clamp t to [−1, 1] and add act(g) − act(edge)), "linear" (add the edge slope) or "none"
	Expand string       // "auto", "all", a count K or a fraction (0,1) of the narrowest channels
	Safety float64      // auto: largest distance from z0 as a fraction of the convergence radius (default 0.7)
	DType  tensor.DType // coefficient tensor type: F32, F16 or BF16
	// Seed fixes the secret sign perturbation for reproducible builds; nil draws
	// it from crypto/rand. The signs are never written to the release.
	Seed     *uint64
	Progress func(done, total int) // called after each layer is written
}

// DefaultMargin widens a fitted basis's interval by 10% of the calibrated range.
const DefaultMargin = 0.1

// DefaultSafety is the fraction of the SiLU convergence radius within which
// "auto" expands a channel (TAYLORMLP.md §6: KL 4.8e-6 at N = 8 on stories260K).
const DefaultSafety = 0.7

func (o *Options) check() error {
	if o.Order < 0 || o.Order > MaxOrder {
		return fmt.Errorf("order %d is outside 0..%d", o.Order, MaxOrder)
	}
	switch o.Basis {
	case "":
		o.Basis = "taylor"
	case "taylor", "chebyshev", "lsq":
	default:
		return fmt.Errorf("unknown basis %q (taylor, chebyshev or lsq)", o.Basis)
	}
	switch o.Center {
	case "":
		o.Center = "mid"
	case "mid", "mean":
	default:
		return fmt.Errorf("unknown centre rule %q (mid or mean)", o.Center)
	}
	if o.Basis == "taylor" {
		if o.Tail != "" && o.Tail != "none" {
			return fmt.Errorf("tail rule %q applies to the chebyshev and lsq bases only", o.Tail)
		}
		o.Tail = ""
	} else {
		switch o.Tail {
		case "":
			o.Tail = "exact"
		case "exact", "linear", "none":
		default:
			return fmt.Errorf("unknown tail rule %q (exact, linear or none)", o.Tail)
		}
		if o.Margin == 0 {
			o.Margin = DefaultMargin
		}
		if !(o.Margin >= 0 && o.Margin <= 10) {
			return fmt.Errorf("margin %v must be in [0, 10]", o.Margin)
		}
	}
	if o.Expand == "" {
		// A polynomial fitted on each channel's interval converges on every
		// channel; the Taylor series does not.
		o.Expand = "auto"
		if o.Basis != "taylor" {
			o.Expand = "all"
		}
	}
	if o.Safety == 0 {
		o.Safety = DefaultSafety
	}
	if !(o.Safety > 0 && o.Safety <= 1) {
		return fmt.Errorf("safety %v must be in (0, 1]", o.Safety)
	}
	switch o.DType {
	case tensor.F32, tensor.F16, tensor.BF16:
	default:
		return fmt.Errorf("coefficient type %s is not supported (f32, f16 or bf16)", o.DType)
	}
	return nil
}

// Plan is the per-layer choice of expanded channels, expansion points and signs.
type Plan struct {
	Order      int
	Activation series.Activation
	Basis      string
	Center     string
	Tail       string
	Expand     string
	Layers     []LayerPlan
}

// LayerPlan is one layer's plan. Release channel i < len(Expanded) is original
// channel Expanded[i]; the rest are Plain, in order.
type LayerPlan struct {
	Expanded []int        // original indices of the expanded channels
	Plain    []int        // original indices of the channels kept plain
	Z0       []float64    // expansion point (taylor) or interval centre c (chebyshev, lsq) of each expanded channel, before the sign
	H        []float64    // chebyshev, lsq: half-width h of each expanded channel's interval
	Coef     [][]float64  // per expanded channel: the basis coefficients b_0..b_N (before the sign)
	Slope    [][2]float64 // linear tail: the activation's slope at each expanded channel's interval edges
	Sign     []float64    // secret ±1 per expanded channel
	// Statistics for the summary, over all channels of the layer.
	HalfRange []float64 // per original channel: largest distance of the calibrated range from its z0
	Radius    []float64 // per original channel: convergence radius at its z0
}

// NewPlan chooses, from the calibration, what each layer of m expands.
func NewPlan(m *model.Model, cal *calib.Calibration, opt Options) (*Plan, error) {
	if err := opt.check(); err != nil {
		return nil, err
	}
	if m.Taylor != nil {
		return nil, fmt.Errorf("%s is already a TaylorMLP release", m.Path)
	}
	c := &m.Config
	if _, ok := model.Families[c.Arch]; !ok {
		return nil, fmt.Errorf("architecture %q has no supported MLP for TaylorMLP (supported: gated SiLU in llama and qwen2, GELU in phi2 and gpt2)", c.Arch)
	}
	if len(cal.Layers) != c.Layers {
		return nil, fmt.Errorf("calibration has %d layers, the model %d", len(cal.Layers), c.Layers)
	}
	act := c.Family.Act
	p := &Plan{Order: opt.Order, Activation: act, Basis: opt.Basis, Center: opt.Center, Tail: opt.Tail, Expand: opt.Expand}
	if p.Basis != "taylor" {
		p.Center = "interval"
	}
	seed, err := signSeed(opt.Seed)
	if err != nil {
		return nil, err
	}
	rng := mrand.New(mrand.NewPCG(seed, seed>>7^0xa5a5))
	for l := range cal.Layers {
		cl := &cal.Layers[l]
		if len(cl.Min) != c.Hidden || cl.N == 0 {
			return nil, fmt.Errorf("calibration of layer %d has %d channels and %d values, the model %d channels", l, len(cl.Min), cl.N, c.Hidden)
		}
		lp := LayerPlan{HalfRange: make([]float64, c.Hidden), Radius: make([]float64, c.Hidden)}
		z0 := make([]float64, c.Hidden)
		for j := range z0 {
			if opt.Center == "mean" && opt.Basis == "taylor" {
				z0[j] = cl.Mean(j)
			} else {
				z0[j] = (cl.Min[j] + cl.Max[j]) / 2
			}
			lp.HalfRange[j] = max(cl.Max[j]-z0[j], z0[j]-cl.Min[j])
			lp.Radius[j] = series.Radius(act, z0[j])
		}
		if opt.Basis == "lsq" && cl.Samples == nil {
			return nil, fmt.Errorf("the lsq basis needs calibration samples (calib.Options.Samples)")
		}
		chosen, err := choose(opt, lp.HalfRange, lp.Radius, cl)
		if err != nil {
			return nil, err
		}
		for j := 0; j < c.Hidden; j++ {
			if chosen[j] {
				lp.Expanded = append(lp.Expanded, j)
				lp.Z0 = append(lp.Z0, z0[j])
				if err := lp.fit(opt, act, cl, j, z0[j]); err != nil {
					return nil, fmt.Errorf("layer %d channel %d: %w", l, j, err)
				}
				s := 1.0
				if rng.IntN(2) == 1 {
					s = -1
				}
				lp.Sign = append(lp.Sign, s)
			} else {
				lp.Plain = append(lp.Plain, j)
			}
		}
		p.Layers = append(p.Layers, lp)
	}
	return p, nil
}

func signSeed(s *uint64) (uint64, error) {
	if s != nil {
		return *s, nil
	}
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return 0, fmt.Errorf("drawing the secret signs: %w", err)
	}
	return binary.LittleEndian.Uint64(b[:]), nil
}

// choose marks the channels to expand under the policy.
func choose(opt Options, half, radius []float64, cl *calib.Layer) ([]bool, error) {
	n := len(half)
	chosen := make([]bool, n)
	narrowest := func(k int) {
		idx := make([]int, n)
		for j := range idx {
			idx[j] = j
		}
		sort.SliceStable(idx, func(a, b int) bool { return cl.Range(idx[a]) < cl.Range(idx[b]) })
		for _, j := range idx[:k] {
			chosen[j] = true
		}
	}
	switch e := opt.Expand; {
	case e == "auto":
		for j := range chosen {
			chosen[j] = half[j] <= opt.Safety*radius[j]
		}
	case e == "all":
		for j := range chosen {
			chosen[j] = true
		}
	case strings.ContainsAny(e, ".eE"):
		f, err := strconv.ParseFloat(e, 64)
		if err != nil || !(f > 0 && f <= 1) {
			return nil, fmt.Errorf("--expand %q: a fraction must be in (0, 1]", e)
		}
		narrowest(int(math.Round(f * float64(n))))
	default:
		k, err := strconv.Atoi(e)
		if err != nil {
			return nil, fmt.Errorf("--expand %q: want auto, all, a channel count or a fraction", e)
		}
		if k < 0 || k > n {
			return nil, fmt.Errorf("--expand %d: the model has %d channels per layer", k, n)
		}
		narrowest(k)
	}
	return chosen, nil
}

// Expanded returns the number of expanded channels per layer.
func (p *Plan) Expanded() []int {
	e := make([]int, len(p.Layers))
	for l, lp := range p.Layers {
		e[l] = len(lp.Expanded)
	}
	return e
}

// Share is the fraction of all hidden channels that are expanded.
func (p *Plan) Share() float64 {
	var e, n int
	for _, lp := range p.Layers {
		e += len(lp.Expanded)
		n += len(lp.Expanded) + len(lp.Plain)
	}
	return float64(e) / float64(max(n, 1))
}
