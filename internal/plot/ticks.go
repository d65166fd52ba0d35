package plot

import (
	"math"
	"strconv"
	"strings"
)

// NiceTicks returns tick values in [lo, hi] spaced by a "nice" step (1, 2 or 5
// times a power of ten), the smallest such step that gives at most maxTicks ticks
// (maxTicks < 2 counts as 2). Values are multiples of the step, rounded so that
// they print exactly (0.1·3 is 0.3, not 0.30000000000000004), and −0 is 0. It
// returns nil when lo > hi or either is not finite, and [lo] when lo == hi.
func NiceTicks(lo, hi float64, maxTicks int) []float64 {
	if !(lo <= hi) || math.IsInf(lo, 0) || math.IsInf(hi, 0) {
		return nil
	}
	if lo == hi {
		return []float64{lo}
	}
	n := max(maxTicks, 2)
	// Start a decade below span/n and walk up the 1-2-5 sequence.
	mag := math.Pow(10, math.Floor(math.Log10((hi-lo)/float64(n)))-1)
	for {
		for _, m := range []float64{1, 2, 5} {
			step := m * mag
			k0 := math.Ceil(lo/step - 1e-9)
			k1 := math.Floor(hi/step + 1e-9)
			if k1-k0+1 <= float64(n) {
				return stepTicks(lo, hi, step)
			}
		}
		mag *= 10
	}
}

// stepTicks returns the multiples of step in [lo, hi] (with a relative tolerance of
// 1e-9 step at both ends).
func stepTicks(lo, hi, step float64) []float64 {
	k0 := math.Ceil(lo/step - 1e-9)
	k1 := math.Floor(hi/step + 1e-9)
	var out []float64
	for k := k0; k <= k1; k++ {
		out = append(out, roundTo(k*step, step))
	}
	return out
}

// roundTo rounds v to the decimal precision of step, so that it prints cleanly.
func roundTo(v, step float64) float64 {
	if v == 0 || math.Abs(v) < step*1e-9 {
		return 0
	}
	d := decimalsOf(step)
	if d > 15 {
		return v
	}
	r, err := strconv.ParseFloat(strconv.FormatFloat(v, 'f', d, 64), 64)
	if err != nil {
		return v
	}
	return r
}

// decimalsOf returns the number of decimals needed to write step exactly enough
// (at most 20).
func decimalsOf(step float64) int {
	for d := 0; d < 20; d++ {
		p := math.Pow(10, float64(d))
		if math.Abs(math.Round(step*p)-step*p) < 1e-6 {
			return d
		}
	}
	return 20
}

// LogTicks returns tick values for a logarithmic axis over [lo, hi] (0 < lo ≤ hi)
// with at most about maxTicks labelled (major) ticks, and unlabelled minor ticks.
// When the range holds at least two powers of ten, the majors are powers of ten
// (every k-th decade, 10^e with e divisible by k, for wide ranges) and the minors
// are 2…9 times each power of ten (or the skipped decades). Narrower ranges get
// 1, 2 and 5 times powers of ten, and ranges too narrow even for those fall back to
// NiceTicks. It returns nils for an invalid range.
func LogTicks(lo, hi float64, maxTicks int) (major, minor []float64) {
	if !(lo > 0 && lo <= hi) || math.IsInf(hi, 0) {
		return nil, nil
	}
	maxTicks = max(maxTicks, 2)
	e0 := int(math.Ceil(math.Log10(lo) - 1e-9))
	e1 := int(math.Floor(math.Log10(hi) + 1e-9))
	if n := e1 - e0 + 1; n >= 2 {
		// Every k-th decade, with k as small as keeps the count within maxTicks,
		// but at least two majors (a smaller k always gets there: k = 1 gives n).
		for k := (n + maxTicks - 1) / maxTicks; k >= 1; k-- {
			major, minor = nil, nil
			for e := e0; e <= e1; e++ {
				if e%k == 0 {
					major = append(major, pow10(e))
				} else {
					minor = append(minor, pow10(e))
				}
			}
			if len(major) < 2 {
				continue
			}
			if k == 1 {
				for e := e0 - 1; e <= e1; e++ {
					for m := 2.0; m <= 9; m++ {
						if v := m * pow10(e); v >= lo*(1-1e-9) && v <= hi*(1+1e-9) {
							minor = append(minor, v)
						}
					}
				}
			}
			return major, minor
		}
	}
	major, minor = nil, nil
	for e := e0 - 1; e <= e1; e++ {
		for _, m := range []float64{1, 2, 5} {
			if v := m * pow10(e); v >= lo*(1-1e-9) && v <= hi*(1+1e-9) {
				major = append(major, v)
			}
		}
	}
	if len(major) >= 2 && len(major) <= maxTicks+1 {
		return major, nil
	}
	return NiceTicks(lo, hi, maxTicks), nil
}

// pow10 returns 10^e exactly as the decimal literal would be parsed.
func pow10(e int) float64 {
	v, _ := strconv.ParseFloat("1e"+strconv.Itoa(e), 64)
	return v
}

// isPow10 reports whether v is an exact power of ten and returns its exponent.
func isPow10(v float64) (int, bool) {
	if v <= 0 {
		return 0, false
	}
	e := int(math.Round(math.Log10(v)))
	return e, pow10(e) == v
}

// label is tick or annotation text; a non-empty sup is drawn as a superscript
// after text (used for 10^e).
type label struct{ text, sup string }

func (l label) String() string {
	if l.sup == "" {
		return l.text
	}
	return l.text + "^" + l.sup
}

// tickLabels formats tick values, with a minus sign (−) for negatives. On a log
// axis they read 10^e when all ticks are powers of ten, else each value is written
// in its shortest form (m×10^e below 0.001 and from 10,000 on); on a linear axis all get the fewest decimals that write
// every tick exactly (scientific notation from 10^7 on).
func tickLabels(ticks []float64, log bool) []label {
	out := make([]label, len(ticks))
	if log {
		all := len(ticks) > 0
		for _, v := range ticks {
			if _, ok := isPow10(v); !ok {
				all = false
			}
		}
		if all {
			for i, v := range ticks {
				e, _ := isPow10(v)
				out[i] = label{text: "10", sup: minus(strconv.Itoa(e))}
			}
			return out
		}
	}
	if log {
		// 1-2-5 ticks on a log axis: each value as short as it goes.
		for i, v := range ticks {
			if a := math.Abs(v); a != 0 && (a < 1e-3 || a >= 1e4) {
				e := int(math.Floor(math.Log10(a)))
				m := strconv.FormatFloat(v/math.Pow(10, float64(e)), 'g', 3, 64)
				out[i] = label{text: minus(m) + "×10", sup: minus(strconv.Itoa(e))}
				continue
			}
			out[i] = label{text: minus(strconv.FormatFloat(v, 'g', -1, 64))}
		}
		return out
	}
	d := 0
	for _, v := range ticks {
		d = max(d, decimalsOf(v))
	}
	big := false
	for _, v := range ticks {
		big = big || math.Abs(v) >= 1e7
	}
	for i, v := range ticks {
		var s string
		switch {
		case big || d > 8:
			s = strconv.FormatFloat(v, 'g', 4, 64)
		default:
			s = strconv.FormatFloat(v, 'f', d, 64)
		}
		out[i] = label{text: minus(s)}
	}
	return out
}

// minus replaces ASCII hyphen-minus signs with the typographic minus sign.
func minus(s string) string { return strings.ReplaceAll(s, "-", "−") }
