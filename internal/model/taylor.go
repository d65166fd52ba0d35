package model

import (
	"fmt"

	"github.com/unswift/unswift/internal/gguf"
	"github.com/unswift/unswift/internal/series"
	"github.com/unswift/unswift/internal/tensor"
)

// Metadata keys of a TaylorMLP release (see the README's release layout).
const (
	KeyTaylorVersion    = "unswift.taylor.version"
	KeyTaylorOrder      = "unswift.taylor.order"
	KeyTaylorActivation = "unswift.taylor.activation"
	KeyTaylorBasis      = "unswift.taylor.basis"
	KeyTaylorCenter     = "unswift.taylor.center"
	KeyTaylorExpandRule = "unswift.taylor.expand"
	KeyTaylorExpanded   = "unswift.taylor.expanded"  // int32 per layer: expanded channels
	KeyTaylorPad        = "unswift.taylor.pad"       // column blocks are padded to a multiple of this
	KeyTaylorDownType   = "unswift.taylor.down_type" // GGML type id of the original down projection
	KeyTaylorTail       = "unswift.taylor.tail"      // chebyshev: "none" or "linear"
)

// TaylorVersion is the release format version this build reads and writes.
const TaylorVersion = 1

// Taylor describes the TaylorMLP of a release. In each layer the hidden
// channels are ordered expanded first (Expanded[l] of them), then plain.
type Taylor struct {
	Order      int    // released order N
	Activation string // "silu", "gelu_tanh" or "gelu": the family's
	Basis      string // "taylor" (powers of g−z0) or "chebyshev" (T_k of (g−c)/h)
	Tail       string // chebyshev: "none", "linear" (clamp t to [−1, 1], add the edge slope) or "exact" (clamp, add act(g) − act(edge))
	Center     string // centre rule used
	ExpandRule string // expansion policy used
	Expanded   []int  // per layer
	Pad        int    // column block padding
	DownType   tensor.DType
}

// PlainCols is the padded number of plain (unexpanded) columns of layer l.
func (t *Taylor) PlainCols(l, hidden int) int { return padTo(hidden-t.Expanded[l], t.Pad) }

// TermCols is the padded number of columns of one order's block in layer l.
func (t *Taylor) TermCols(l int) int { return padTo(t.Expanded[l], t.Pad) }

// TailCols is the number of columns of the tail blocks (0 without a tail rule).
func (t *Taylor) TailCols(l int) int {
	switch t.Tail {
	case "linear":
		return t.TermCols(l)
	case "exact":
		return 2 * t.TermCols(l)
	}
	return 0
}

// Cols is the row length of layer l's coefficient matrix used at order n:
// plain columns, the tail block, then n+1 term blocks.
func (t *Taylor) Cols(l, hidden, n int) int {
	return t.PlainCols(l, hidden) + t.TailCols(l) + (n+1)*t.TermCols(l)
}

func padTo(n, p int) int { return (n + p - 1) / p * p }

func taylorFromGGUF(f *gguf.File, c *Config) (*Taylor, error) {
	v, ok := f.Uint(KeyTaylorVersion)
	if !ok {
		return nil, nil
	}
	if v != TaylorVersion {
		return nil, fmt.Errorf("release format version %d is not supported (this build reads %d)", v, TaylorVersion)
	}
	t := &Taylor{}
	order, ok := f.Uint(KeyTaylorOrder)
	if !ok || order > 64 {
		return nil, fmt.Errorf("release metadata: %s missing or out of range", KeyTaylorOrder)
	}
	t.Order = int(order)
	t.Activation, _ = f.String(KeyTaylorActivation)
	if t.Activation != c.Family.Act.String() {
		return nil, fmt.Errorf("release metadata: activation %q does not match architecture %s (%s)", t.Activation, c.Arch, c.Family.Act)
	}
	t.Basis, _ = f.String(KeyTaylorBasis)
	t.Tail, _ = f.String(KeyTaylorTail)
	switch {
	case t.Basis == "taylor" && t.Tail == "":
	case t.Basis == "chebyshev" && (t.Tail == "none" || t.Tail == "linear" || t.Tail == "exact"):
	default:
		return nil, fmt.Errorf("release metadata: basis %q with tail %q is not supported (taylor; chebyshev with tail none, linear or exact)", t.Basis, t.Tail)
	}
	t.Center, _ = f.String(KeyTaylorCenter)
	t.ExpandRule, _ = f.String(KeyTaylorExpandRule)
	exp, ok := f.Ints(KeyTaylorExpanded)
	if !ok || len(exp) != c.Layers {
		return nil, fmt.Errorf("release metadata: %s must list %d layers, has %d", KeyTaylorExpanded, c.Layers, len(exp))
	}
	for l, e := range exp {
		if e < 0 || e > int64(c.Hidden) {
			return nil, fmt.Errorf("release metadata: layer %d expands %d channels of %d", l, e, c.Hidden)
		}
		t.Expanded = append(t.Expanded, int(e))
	}
	pad, ok := f.Uint(KeyTaylorPad)
	if !ok || pad == 0 || pad > 4096 {
		return nil, fmt.Errorf("release metadata: %s missing or out of range", KeyTaylorPad)
	}
	t.Pad = int(pad)
	dt, _ := f.Uint(KeyTaylorDownType)
	t.DownType = tensor.DType(dt)
	if !t.DownType.Known() {
		return nil, fmt.Errorf("release metadata: %s %d is not a known tensor type", KeyTaylorDownType, dt)
	}
	return t, nil
}

// checkTaylor verifies that every layer's release tensors agree with the metadata.
func (m *Model) checkTaylor() error {
	t, c := m.Taylor, &m.Config
	for l := range m.Weights.Layers {
		ly := &m.Weights.Layers[l]
		name := fmt.Sprintf("blk.%d.", l)
		if ly.Taylor == nil || ly.Center == nil {
			return fmt.Errorf("release metadata and tensors disagree: layer %d lacks %sffn_taylor.weight or %sffn_taylor_center.weight", l, name, name)
		}
		if ly.Down != nil {
			return fmt.Errorf("release layer %d has both ffn_down and ffn_taylor", l)
		}
		want := []int{t.Cols(l, c.Hidden, t.Order), c.Dim}
		if !equalInts(ly.Taylor.Shape, want) {
			return fmt.Errorf("release metadata and tensors disagree: %s has shape %v, order %d with %d expanded channels implies %v",
				ly.Taylor.Name, ly.Taylor.Shape, t.Order, t.Expanded[l], want)
		}
		if err := ly.Taylor.Check(); err != nil {
			return err
		}
		if ly.Center.Type != tensor.F32 || !equalInts(ly.Center.Shape, []int{t.TermCols(l)}) {
			return fmt.Errorf("release metadata and tensors disagree: %s is %s %v, want F32 [%d]", ly.Center.Name, ly.Center.Type, ly.Center.Shape, t.TermCols(l))
		}
		if t.Basis == "chebyshev" {
			if ly.Scale == nil || ly.Scale.Type != tensor.F32 || !equalInts(ly.Scale.Shape, []int{t.TermCols(l)}) {
				return fmt.Errorf("release metadata and tensors disagree: a chebyshev release needs %sffn_taylor_scale.weight, F32 [%d]", name, t.TermCols(l))
			}
		}
		if t.Tail == "linear" {
			if ly.Slope == nil || ly.Slope.Type != tensor.F32 || !equalInts(ly.Slope.Shape, []int{t.TermCols(l), 2}) {
				return fmt.Errorf("release metadata and tensors disagree: a linear tail needs %sffn_taylor_slope.weight, F32 [%d 2]", name, t.TermCols(l))
			}
		}
		if bs := ly.Taylor.Type.BlockSize(); t.Pad%bs != 0 {
			return fmt.Errorf("release: padding %d is not a multiple of the %s block size %d", t.Pad, ly.Taylor.Type, bs)
		}
	}
	return nil
}

// SetOrder selects the order the release runs at (0..released N). It applies
// to states made afterwards.
func (m *Model) SetOrder(n int) error {
	if m.Taylor == nil {
		return fmt.Errorf("--order applies to TaylorMLP releases only; %s is a plain model", m.Path)
	}
	if n < 0 || n > m.Taylor.Order {
		return fmt.Errorf("order %d is outside 0..%d (the release was built at order %d)", n, m.Taylor.Order, m.Taylor.Order)
	}
	m.order = n
	return nil
}

// Order is the order a release runs at (-1 for a plain model).
func (m *Model) Order() int {
	if m.Taylor == nil {
		return -1
	}
	return m.order
}

// taylorMLP computes the down projection of a release layer for n tokens from
// the gate pre-activations g and up projections u (both n × hidden) into out.
func (s *State) taylorMLP(out []float32, l int, g, u []float32, n int) {
	m := s.m
	t, c := m.Taylor, &m.Config
	ly := &m.Weights.Layers[l]
	order := m.order
	e := t.Expanded[l]
	plain := t.PlainCols(l, c.Hidden)
	term := t.TermCols(l)
	k := t.Cols(l, c.Hidden, order)
	if len(s.tv) < n*k {
		s.tv = make([]float32, n*k)
	}
	v := s.tv[:n*k]
	center := ly.Center.F32s()[:e]
	for i := 0; i < n; i++ {
		gi, ui := g[i*c.Hidden:(i+1)*c.Hidden], u[i*c.Hidden:(i+1)*c.Hidden]
		vi := v[i*k : (i+1)*k]
		// Plain channels: act(g)·u, then zero padding.
		pv := vi[:plain]
		act := c.Family.Act
		for j := e; j < c.Hidden; j++ {
			pv[j-e] = actf(act, gi[j]) * ui[j]
		}
		clear(pv[c.Hidden-e:])
		if t.Basis == "chebyshev" {
			s.chebyshevTerms(vi[plain:], gi[:e], ui[:e], l, order)
			continue
		}
		// Expanded channels: the powers (g−z0)^n·u, built incrementally.
		prev := vi[plain : plain+term]
		copy(prev, ui[:e])
		clear(prev[e:])
		for o := 1; o <= order; o++ {
			cur := vi[plain+o*term : plain+(o+1)*term]
			for j := 0; j < e; j++ {
				cur[j] = prev[j] * (gi[j] - center[j])
			}
			clear(cur[e:])
			prev = cur
		}
	}
	s.matmul(out, ly.Taylor, v, n)
}

// OriginalBytesPerToken is, for a release, the weight bytes per token of the
// plain model it was made from (its down projections in the recorded type).
func (m *Model) OriginalBytesPerToken() int64 {
	n := m.WeightBytesPerToken()
	if m.Taylor == nil {
		return n
	}
	c := &m.Config
	for l, ly := range m.Weights.Layers {
		used, _ := ly.Taylor.Type.Bytes(m.Taylor.Cols(l, c.Hidden, m.order))
		n -= int64(used) * int64(c.Dim)
		down, _ := m.Taylor.DownType.Bytes(c.Hidden * c.Dim)
		n += int64(down)
	}
	return n
}

// PredictedSlowdown is a release's bytes per token at its current order over
// the original's (1 for a plain model).
func (m *Model) PredictedSlowdown() float64 {
	return float64(m.WeightBytesPerToken()) / float64(m.OriginalBytesPerToken())
}

// chebyshevTerms fills v with the tail block (if any) and the blocks
// T_k(t)·u, k = 0..order, of the expanded channels, where t = (g − c)/h is
// clamped to [−1, 1] under the linear tail rule. The T_k follow the three-term
// recurrence T_{k+1} = 2t·T_k − T_{k−1}, applied to the u-scaled values.
func (s *State) chebyshevTerms(v, g, u []float32, l, order int) {
	t := s.m.Taylor
	ly := &s.m.Weights.Layers[l]
	e, term := len(g), t.TermCols(l)
	center, inv := ly.Center.F32s()[:e], ly.Scale.F32s()[:e]
	if cap(s.tt) < e {
		s.tt = make([]float32, e)
	}
	tt := s.tt[:e]
	for j := range tt {
		tt[j] = (g[j] - center[j]) * inv[j]
	}
	if t.Tail == "exact" {
		// Beyond the interval, add act(g) − act(g_edge) = E(g) − E(g_edge) +
		// s·(g − g_edge)/2 (the even part E = act − x/2 of SiLU and GELU does
		// not see the secret sign s; their odd part x/2 is linear): two
		// blocks, the second scaled by s in the coefficients.
		act := s.m.Config.Family.Act
		even, odd := v[:term], v[term:2*term]
		for j, x := range tt {
			if x >= -1 && x <= 1 {
				even[j], odd[j] = 0, 0
				continue
			}
			edge := float32(1)
			if x < -1 {
				edge = -1
			}
			ge := center[j] + edge/inv[j]
			even[j] = (actEven(act, g[j]) - actEven(act, ge)) * inv[j] * u[j]
			odd[j] = (x - edge) * u[j]
			tt[j] = edge
		}
		clear(even[e:])
		clear(odd[e:])
		v = v[2*term:]
	}
	if t.Tail == "linear" {
		slope := ly.Slope.F32s()
		lo, hi := slope[:e], slope[term:term+e]
		lin := v[:term]
		for j, x := range tt {
			switch {
			case x > 1:
				lin[j] = (x - 1) * hi[j] * u[j]
				tt[j] = 1
			case x < -1:
				lin[j] = (x + 1) * lo[j] * u[j]
				tt[j] = -1
			default:
				lin[j] = 0
			}
		}
		clear(lin[e:])
		v = v[term:]
	}
	p0 := v[:term]
	copy(p0, u)
	clear(p0[e:])
	if order == 0 {
		return
	}
	p1 := v[term : 2*term]
	for j := range tt {
		p1[j] = tt[j] * u[j]
	}
	clear(p1[e:])
	for o := 2; o <= order; o++ {
		cur := v[o*term : (o+1)*term]
		for j := range tt {
			cur[j] = 2*tt[j]*p1[j] - p0[j]
		}
		clear(cur[e:])
		p0, p1 = p1, cur
	}
}

// actEven is the even part of the activation: act(x) − x/2 (for SiLU,
// (x/2)·tanh(x/2); for GELU, x·(Φ(x) − ½)).
func actEven(act series.Activation, x float32) float32 {
	return actf(act, x) - x/2
}
