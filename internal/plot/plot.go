// Package plot draws line charts for reports, as SVG text or as PNG images, with
// no dependency beyond the standard library. It covers what the evaluation reports
// need: one or two y axes (the right one for series with Axis 1), linear or
// logarithmic axes with nice ticks (powers of ten on log axes), dashed and solid
// series with markers, labels on individual points, horizontal reference lines
// and a legend placed where it hides the least data.
//
// PNG text is drawn with a built-in 5×7 bitmap font (ASCII plus a few symbols such
// as − × ± ‖ ≈ ≤ ≥ µ); lines, markers and rectangles are anti-aliased.
package plot

import (
	"errors"
	"fmt"
	"image/color"
	"io"
	"math"
	"strconv"
)

// Series is one line of a chart. Markers (circle, square, diamond, triangle by
// series index) are drawn at the points of series of at most 60 points.
type Series struct {
	Name   string    // legend entry; no entry when empty
	X, Y   []float64 // points, in order; NaN (or ≤ 0 on a log axis) breaks the line
	Labels []string  // optional text beside each point ("" for none); nil or len(X)
	Axis   int       // 0: left y axis, 1: right y axis (the only one, drawn left, if no series uses 0)
	Dashed bool
	NoLine bool   // markers only
	Color  string // "#rrggbb"; empty: the palette color of the series' index
}

// HLine is a horizontal (dashed) reference line across the plot, such as the
// original model's latency. Its label goes at one end of it, above or below,
// wherever it hides the least data.
type HLine struct {
	Y     float64
	Axis  int // the y axis Y refers to
	Label string
	Color string // "#rrggbb"; empty: dark gray
}

// Range fixes an axis' extent; the zero value lets the data decide. Either way a
// margin of 4% of the extent is added at both ends, so that points on the limits
// are drawn whole; data outside a fixed range is clipped.
type Range struct{ Min, Max float64 }

// Chart is a line chart. The zero value of every option is a sensible default.
type Chart struct {
	Title, XLabel, YLabel, Y2Label string
	LogX, LogY, LogY2              bool // logarithmic x, left y, right y axis
	XRange, YRange, Y2Range        Range
	Series                         []Series
	HLines                         []HLine
	Width, Height                  int // SVG size in pixels; 0 means 800×500
}

// palette holds the default series colors, chosen to stay distinct in print.
var palette = []string{"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#7f7f7f", "#bcbd22"}

var (
	colText   = color.RGBA{0x22, 0x22, 0x22, 0xff}
	colTick   = color.RGBA{0x44, 0x44, 0x44, 0xff}
	colFrame  = color.RGBA{0x55, 0x55, 0x55, 0xff}
	colGrid   = color.RGBA{0xe4, 0xe4, 0xe4, 0xff}
	colRef    = color.RGBA{0x55, 0x55, 0x55, 0xff}
	colWhite  = color.RGBA{0xff, 0xff, 0xff, 0xff}
	colLegend = color.RGBA{0xc8, 0xc8, 0xc8, 0xff}
)

// parseColor reads "#rrggbb".
func parseColor(s string) (color.RGBA, error) {
	if len(s) != 7 || s[0] != '#' {
		return color.RGBA{}, fmt.Errorf("color %q is not #rrggbb", s)
	}
	v, err := strconv.ParseUint(s[1:], 16, 32)
	if err != nil {
		return color.RGBA{}, fmt.Errorf("color %q is not #rrggbb", s)
	}
	return color.RGBA{uint8(v >> 16), uint8(v >> 8), uint8(v), 0xff}, nil
}

// SVG writes the chart as an SVG document of c.Width × c.Height pixels.
func (c *Chart) SVG(w io.Writer) error {
	width, height := c.Width, c.Height
	if width == 0 && height == 0 {
		width, height = 800, 500
	}
	if err := checkSize(width, height); err != nil {
		return err
	}
	s := newSVG(width, height)
	if err := c.draw(s, float64(width), float64(height)); err != nil {
		return err
	}
	return s.writeTo(w)
}

// PNG writes the chart as a PNG image of width × height pixels. Text scales with
// the image: the bitmap font is drawn at an integer scale of about height/250.
func (c *Chart) PNG(w io.Writer, width, height int) error {
	if err := checkSize(width, height); err != nil {
		return err
	}
	r := newRaster(width, height)
	if err := c.draw(r, float64(width), float64(height)); err != nil {
		return err
	}
	return r.encode(w)
}

func checkSize(w, h int) error {
	if w < 160 || h < 120 || w > 10000 || h > 10000 {
		return fmt.Errorf("plot: size %d×%d outside 160×120 … 10000×10000", w, h)
	}
	return nil
}

// pt is a point in pixels, y downwards.
type pt struct{ x, y float64 }

// role is the kind of a piece of text, which sets its size.
type role int

const (
	roleTick  role = iota // tick labels, legend
	roleLabel             // axis labels
	roleTitle             // the title
	roleSmall             // point and reference-line labels, superscripts
)

// canvas is what the chart is drawn on. Lengths are pixels, y grows downwards.
type canvas interface {
	// unit is the size of a nominal pixel: line widths, marker sizes and gaps
	// are multiples of it.
	unit() float64
	// textWidth is the advance of l; capHeight and descent the extent of a role's
	// text above and below the baseline.
	textWidth(l label, r role) float64
	capHeight(r role) float64
	descent(r role) float64

	setClip(x0, y0, x1, y1 float64) // applies to polyline and marker with clip set
	rect(x0, y0, x1, y1 float64, fill color.RGBA, fillAlpha float64, stroke color.RGBA, strokeW float64)
	polyline(p []pt, c color.RGBA, width float64, dash []float64, clip bool)
	marker(p pt, shape int, r float64, c color.RGBA, clip bool)
	// text draws l with its baseline through (x, y); anchor is 0 (start), 0.5
	// (middle) or 1 (end) along the text; rot is 0, −90 (reads upwards) or 90
	// (reads downwards), turning about (x, y).
	text(x, y float64, l label, r role, anchor float64, rot int, c color.RGBA, bold bool)
	group(name string) // SVG: open a named group; PNG: nothing
	endGroup()
}

// Marker shapes, cycled through by series index.
const (
	markerCircle = iota
	markerSquare
	markerDiamond
	markerTriangle
	numMarkers
)

// axis maps data values to pixels.
type axis struct {
	log          bool
	lo, hi       float64 // domain, data units
	p0, p1       float64 // pixels of lo and hi
	ticks, minor []float64
	labels       []label
}

func (a *axis) valid(v float64) bool {
	return !math.IsNaN(v) && !math.IsInf(v, 0) && (!a.log || v > 0)
}

func (a *axis) frac(v float64) float64 {
	if a.log {
		return (math.Log10(v) - math.Log10(a.lo)) / (math.Log10(a.hi) - math.Log10(a.lo))
	}
	return (v - a.lo) / (a.hi - a.lo)
}

func (a *axis) pos(v float64) float64 { return a.p0 + a.frac(v)*(a.p1-a.p0) }

// domain returns the padded extent of an axis: the fixed range if set, else the
// span of the valid values; 4% of the span (in log space for a log axis) is added
// at each end so that no marker sits on the frame.
func domain(vals []float64, log bool, fixed Range, name string) (lo, hi float64, err error) {
	a := axis{log: log}
	if fixed != (Range{}) {
		lo, hi = fixed.Min, fixed.Max
		if !(lo < hi) || !a.valid(lo) || !a.valid(hi) {
			return 0, 0, fmt.Errorf("plot: %s range [%g, %g] is empty or invalid for a %s axis", name, lo, hi, map[bool]string{true: "log", false: "linear"}[log])
		}
	} else {
		lo, hi = math.Inf(1), math.Inf(-1)
		for _, v := range vals {
			if a.valid(v) {
				lo, hi = min(lo, v), max(hi, v)
			}
		}
		if lo > hi {
			return 0, 0, fmt.Errorf("plot: no plottable values for the %s axis", name)
		}
		if lo == hi {
			switch {
			case log:
				lo, hi = lo/2, hi*2
			case lo == 0:
				lo, hi = -1, 1
			default:
				d := math.Abs(lo) * 0.1
				lo, hi = lo-d, hi+d
			}
		}
	}
	if log {
		l0, l1 := math.Log10(lo), math.Log10(hi)
		p := 0.04 * (l1 - l0)
		return math.Pow(10, l0-p), math.Pow(10, l1+p), nil
	}
	p := 0.04 * (hi - lo)
	return lo - p, hi + p, nil
}

// setTicks fills the axis' ticks and labels for at most n major ticks.
func (a *axis) setTicks(n int) {
	if a.log {
		a.ticks, a.minor = LogTicks(a.lo, a.hi, n)
	} else {
		a.ticks = NiceTicks(a.lo, a.hi, n)
	}
	a.labels = tickLabels(a.ticks, a.log)
}

// validate checks the chart's data and options.
func (c *Chart) validate() error {
	if len(c.Series) == 0 {
		return errors.New("plot: chart has no series")
	}
	for i, s := range c.Series {
		name := fmt.Sprintf("series %d (%q)", i, s.Name)
		if len(s.X) != len(s.Y) {
			return fmt.Errorf("plot: %s has %d x values and %d y values", name, len(s.X), len(s.Y))
		}
		if s.Labels != nil && len(s.Labels) != len(s.X) {
			return fmt.Errorf("plot: %s has %d labels for %d points", name, len(s.Labels), len(s.X))
		}
		if s.Axis != 0 && s.Axis != 1 {
			return fmt.Errorf("plot: %s has axis %d, want 0 (left) or 1 (right)", name, s.Axis)
		}
		if s.Color != "" {
			if _, err := parseColor(s.Color); err != nil {
				return fmt.Errorf("plot: %s: %v", name, err)
			}
		}
	}
	for i, h := range c.HLines {
		if h.Axis != 0 && h.Axis != 1 {
			return fmt.Errorf("plot: reference line %d has axis %d, want 0 or 1", i, h.Axis)
		}
		if h.Color != "" {
			if _, err := parseColor(h.Color); err != nil {
				return fmt.Errorf("plot: reference line %d: %v", i, err)
			}
		}
	}
	return nil
}

// seriesColor returns the color of series i.
func (c *Chart) seriesColor(i int) color.RGBA {
	s := c.Series[i].Color
	if s == "" {
		s = palette[i%len(palette)]
	}
	col, _ := parseColor(s)
	return col
}

// layout is the computed geometry of a chart.
type layout struct {
	x, y, y2      *axis // y2 is nil without right-axis series
	left, right   float64
	top, bottom   float64 // plot area in pixels
	width, height float64
}

// lay computes the axes and plot area for a canvas of w × h pixels.
func (c *Chart) lay(cv canvas, w, h float64) (*layout, error) {
	if err := c.validate(); err != nil {
		return nil, err
	}
	var xs, ys, y2s []float64
	for _, s := range c.Series {
		xs = append(xs, s.X...)
		if s.Axis == 1 {
			y2s = append(y2s, s.Y...)
		} else {
			ys = append(ys, s.Y...)
		}
	}
	for _, hl := range c.HLines {
		if hl.Axis == 1 {
			y2s = append(y2s, hl.Y)
		} else {
			ys = append(ys, hl.Y)
		}
	}
	L := &layout{x: &axis{log: c.LogX}, width: w, height: h}
	var err error
	if L.x.lo, L.x.hi, err = domain(xs, c.LogX, c.XRange, "x"); err != nil {
		return nil, err
	}
	hasLeft := len(ys) > 0
	logY, rangeY := c.LogY, c.YRange
	if !hasLeft {
		// Only right-axis series: they get the one (left) axis, with the
		// right axis' settings.
		ys, logY, rangeY = y2s, c.LogY2, c.Y2Range
	}
	L.y = &axis{log: logY}
	if L.y.lo, L.y.hi, err = domain(ys, logY, rangeY, "left y"); err != nil {
		return nil, err
	}
	if len(y2s) > 0 && hasLeft {
		L.y2 = &axis{log: c.LogY2}
		if L.y2.lo, L.y2.hi, err = domain(y2s, c.LogY2, c.Y2Range, "right y"); err != nil {
			return nil, err
		}
	}

	u := cv.unit()
	pad := 12 * u
	tickLen := 5 * u
	gap := 5 * u
	capT, descT := cv.capHeight(roleTick), cv.descent(roleTick)
	capL, descL := cv.capHeight(roleLabel), cv.descent(roleLabel)

	L.top = pad
	if c.Title != "" {
		L.top += cv.capHeight(roleTitle) + cv.descent(roleTitle) + 2*gap
	} else {
		L.top += capT / 2
	}
	L.bottom = h - pad - tickLen - gap - capT - descT
	if c.XLabel != "" {
		L.bottom -= 1.5*gap + capL + descL
	}
	plotH := L.bottom - L.top
	yTicks := clampInt(int(plotH/(3.2*capT)), 3, 9)
	L.y.setTicks(yTicks)
	if L.y2 != nil {
		L.y2.setTicks(yTicks)
	}
	maxW := func(a *axis) float64 {
		m := 0.0
		for _, l := range a.labels {
			m = max(m, cv.textWidth(l, roleTick))
		}
		return m
	}
	L.left = pad + maxW(L.y) + gap + tickLen
	if c.yLabel() != "" {
		L.left += capL + descL + 2*gap
	}
	L.right = w - pad
	if L.y2 != nil {
		L.right -= maxW(L.y2) + gap + tickLen
		if c.Y2Label != "" {
			L.right -= capL + descL + 2*gap
		}
	}
	// x ticks: as many as fit with room between labels; the last label may not
	// stick out of the image.
	for n := 10; n >= 2; n-- {
		L.x.setTicks(n)
		widest := 0.0
		for _, l := range L.x.labels {
			widest = max(widest, cv.textWidth(l, roleTick))
		}
		if float64(len(L.x.ticks))*(widest+3*capT) <= L.right-L.left || n == 2 {
			break
		}
	}
	if L.y2 == nil && len(L.x.labels) > 0 {
		half := cv.textWidth(L.x.labels[len(L.x.labels)-1], roleTick) / 2
		L.right = min(L.right, w-half-pad/2)
	}
	if L.right-L.left < 40*u || L.bottom-L.top < 30*u {
		return nil, fmt.Errorf("plot: image %.0f×%.0f too small for the labels", w, h)
	}
	// Whole pixels, so that 1-pixel lines at +0.5 are crisp.
	L.left, L.right, L.top, L.bottom = math.Round(L.left), math.Round(L.right), math.Round(L.top), math.Round(L.bottom)
	L.x.p0, L.x.p1 = L.left, L.right
	L.y.p0, L.y.p1 = L.bottom, L.top
	if L.y2 != nil {
		L.y2.p0, L.y2.p1 = L.bottom, L.top
	}
	return L, nil
}

func clampInt(v, lo, hi int) int { return max(lo, min(hi, v)) }

// yAxis returns the y axis that values of the given side (0 left, 1 right) use.
func (L *layout) yAxis(side int) *axis {
	if side == 1 && L.y2 != nil {
		return L.y2
	}
	return L.y
}

// box is an axis-aligned rectangle in pixels.
type box struct{ x0, y0, x1, y1 float64 }

func (b box) overlaps(o box) bool {
	return b.x0 < o.x1 && o.x0 < b.x1 && b.y0 < o.y1 && o.y0 < b.y1
}

func (b box) contains(p pt) bool { return p.x >= b.x0 && p.x <= b.x1 && p.y >= b.y0 && p.y <= b.y1 }

// draw lays out and draws the chart on cv.
func (c *Chart) draw(cv canvas, w, h float64) error {
	L, err := c.lay(cv, w, h)
	if err != nil {
		return err
	}
	u := cv.unit()
	plot := box{L.left, L.top, L.right, L.bottom}
	cv.rect(0, 0, w, h, colWhite, 1, colWhite, 0)

	// Grid at the major ticks of x and of the left axis.
	for _, t := range L.x.ticks {
		x := crisp(L.x.pos(t))
		cv.polyline([]pt{{x, L.top}, {x, L.bottom}}, colGrid, 1, nil, false)
	}
	for _, t := range L.y.ticks {
		y := crisp(L.y.pos(t))
		cv.polyline([]pt{{L.left, y}, {L.right, y}}, colGrid, 1, nil, false)
	}

	cv.setClip(L.left, L.top, L.right, L.bottom)
	var taken []box // text already placed inside the plot

	// Reference lines, under the data; their labels go on top of it later.
	type hlabel struct {
		l   label
		y   float64
		col color.RGBA
	}
	var hlabels []hlabel
	for _, hl := range c.HLines {
		a := L.yAxis(hl.Axis)
		if !a.valid(hl.Y) || a.frac(hl.Y) < 0 || a.frac(hl.Y) > 1 {
			continue // outside a fixed range
		}
		col := colRef
		if hl.Color != "" {
			col, _ = parseColor(hl.Color)
		}
		y := a.pos(hl.Y)
		cv.polyline([]pt{{L.left, y}, {L.right, y}}, col, 1.5*u, []float64{7 * u, 4 * u}, true)
		if hl.Label != "" {
			hlabels = append(hlabels, hlabel{label{text: hl.Label}, y, col})
		}
	}

	// Series: pixel points, lines, then markers on top.
	pix := make([][]pt, len(c.Series))
	ok := make([][]bool, len(c.Series))
	for i, s := range c.Series {
		a := L.yAxis(s.Axis)
		pix[i] = make([]pt, len(s.X))
		ok[i] = make([]bool, len(s.X))
		for j := range s.X {
			if L.x.valid(s.X[j]) && a.valid(s.Y[j]) {
				pix[i][j] = pt{L.x.pos(s.X[j]), a.pos(s.Y[j])}
				ok[i][j] = true
			}
		}
	}
	// The drawn polylines (each point alone for marker-only series), which labels
	// and the legend try not to cover.
	var runs [][]pt
	for i := range pix {
		var run []pt
		for j := range pix[i] {
			switch {
			case !ok[i][j]:
				runs, run = appendRun(runs, run), nil
			case c.Series[i].NoLine:
				runs = append(runs, []pt{pix[i][j], pix[i][j]})
			default:
				run = append(run, pix[i][j])
			}
		}
		runs = appendRun(runs, run)
	}
	lineW := 2 * u
	markR := 3.5 * u
	for i, s := range c.Series {
		col := c.seriesColor(i)
		cv.group(s.Name)
		if !s.NoLine {
			var dash []float64
			if s.Dashed {
				dash = []float64{6 * u, 4 * u}
			}
			var run []pt
			for j := range pix[i] {
				if ok[i][j] {
					run = append(run, pix[i][j])
					continue
				}
				if len(run) > 1 {
					cv.polyline(run, col, lineW, dash, true)
				}
				run = nil
			}
			if len(run) > 1 {
				cv.polyline(run, col, lineW, dash, true)
			}
		}
		if s.NoLine || len(s.X) <= 60 {
			for j, p := range pix[i] {
				if ok[i][j] {
					cv.marker(p, i%numMarkers, markR, col, true)
				}
			}
		}
		cv.endGroup()
	}

	// Frame, ticks and tick labels.
	cv.rect(L.left+0.5, L.top+0.5, L.right-0.5, L.bottom-0.5, colWhite, 0, colFrame, 1)
	tickLen := 5 * u
	gap := 5 * u
	capT := cv.capHeight(roleTick)
	for i, t := range L.x.ticks {
		x := crisp(L.x.pos(t))
		cv.polyline([]pt{{x, L.bottom}, {x, L.bottom + tickLen}}, colFrame, 1, nil, false)
		cv.text(x, L.bottom+tickLen+gap+capT, L.x.labels[i], roleTick, 0.5, 0, colTick, false)
	}
	for _, t := range L.x.minor {
		x := crisp(L.x.pos(t))
		cv.polyline([]pt{{x, L.bottom}, {x, L.bottom + tickLen/2}}, colFrame, 1, nil, false)
	}
	yTicks := func(a *axis, x float64, dir float64, anchor float64) {
		for i, t := range a.ticks {
			y := crisp(a.pos(t))
			cv.polyline([]pt{{x, y}, {x + dir*tickLen, y}}, colFrame, 1, nil, false)
			cv.text(x+dir*(tickLen+gap), y+capT/2, a.labels[i], roleTick, anchor, 0, colTick, false)
		}
		for _, t := range a.minor {
			y := crisp(a.pos(t))
			cv.polyline([]pt{{x, y}, {x + dir*tickLen/2, y}}, colFrame, 1, nil, false)
		}
	}
	yTicks(L.y, L.left, -1, 1)
	if L.y2 != nil {
		yTicks(L.y2, L.right, 1, 0)
	}

	// Axis labels and title.
	capL := cv.capHeight(roleLabel)
	pad := 12 * u
	midX := (L.left + L.right) / 2
	midY := (L.top + L.bottom) / 2
	if c.XLabel != "" {
		base := L.bottom + tickLen + gap + capT + cv.descent(roleTick) + 1.5*gap + capL
		cv.text(midX, base, label{text: c.XLabel}, roleLabel, 0.5, 0, colText, false)
	}
	if yl := c.yLabel(); yl != "" {
		cv.text(pad+capL, midY, label{text: yl}, roleLabel, 0.5, -90, c.axisColor(0), false)
	}
	if c.Y2Label != "" && L.y2 != nil {
		cv.text(w-pad-capL, midY, label{text: c.Y2Label}, roleLabel, 0.5, 90, c.axisColor(1), false)
	}
	if c.Title != "" {
		cv.text(midX, pad+cv.capHeight(roleTitle), label{text: c.Title}, roleTitle, 0.5, 0, colText, true)
	}

	var markers []box
	for i := range pix {
		for j, p := range pix[i] {
			if ok[i][j] {
				markers = append(markers, box{p.x - markR, p.y - markR, p.x + markR, p.y + markR})
			}
		}
	}

	// Reference line labels at either end of their line, above or below it,
	// wherever they cross the fewest data.
	for _, h := range hlabels {
		tw := cv.textWidth(h.l, roleSmall)
		ch, de := cv.capHeight(roleSmall), cv.descent(roleSmall)
		var best box
		var bx, bbase, banchor float64
		bestScore := math.Inf(1)
		for k, s := range []struct{ x, dy, anchor float64 }{
			{L.right - 6*u, -4 * u, 1}, {L.right - 6*u, 4*u + ch, 1},
			{L.left + 6*u, -4 * u, 0}, {L.left + 6*u, 4*u + ch, 0},
		} {
			base := h.y + s.dy
			b := box{s.x - s.anchor*tw, base - ch, s.x - s.anchor*tw + tw, base + de}
			score := float64(k)*0.01 + float64(segmentHits(b, runs))
			if b.y0 < L.top || b.y1 > L.bottom {
				score += 1000
			}
			for _, o := range taken {
				if b.overlaps(o) {
					score += 20
				}
			}
			for _, m := range markers {
				if b.overlaps(m) {
					score += 5
				}
			}
			if score < bestScore {
				best, bx, bbase, banchor, bestScore = b, s.x, base, s.anchor, score
			}
		}
		cv.rect(best.x0-2*u, best.y0-u, best.x1+2*u, best.y1, colWhite, 0.7, colWhite, 0)
		cv.text(bx, bbase, h.l, roleSmall, banchor, 0, h.col, false)
		taken = append(taken, best)
	}

	// Point labels, placed where they overlap the least.
	for i, s := range c.Series {
		for j, text := range s.Labels {
			if text == "" || !ok[i][j] || !plot.contains(pix[i][j]) {
				continue
			}
			l := label{text: text}
			b, x, base, anchor := placeLabel(cv, l, pix[i][j], markR+2*u, plot, taken, markers, runs)
			cv.text(x, base, l, roleSmall, anchor, 0, c.seriesColor(i), false)
			taken = append(taken, b)
		}
	}

	c.drawLegend(cv, plot, runs, taken)
	return nil
}

// axisColor is the color for the label of a y axis: its series' color when all
// its series share one, else the text color.
func (c *Chart) axisColor(side int) color.RGBA {
	var col color.RGBA
	n := 0
	for i, s := range c.Series {
		if s.Axis != side {
			continue
		}
		sc := c.seriesColor(i)
		if n > 0 && sc != col {
			return colText
		}
		col = sc
		n++
	}
	if n == 0 || !c.twoAxes() {
		return colText
	}
	return col
}

// yLabel is the label of the left axis: YLabel, or Y2Label when all series are
// on the right axis and so drawn on the left one.
func (c *Chart) yLabel() string {
	for _, s := range c.Series {
		if s.Axis == 0 {
			return c.YLabel
		}
	}
	if c.YLabel != "" {
		return c.YLabel
	}
	return c.Y2Label
}

// twoAxes reports whether series use both y axes.
func (c *Chart) twoAxes() bool {
	var l, r bool
	for _, s := range c.Series {
		l = l || s.Axis == 0
		r = r || s.Axis == 1
	}
	return l && r
}

// appendRun adds a polyline of at least one point to runs.
func appendRun(runs [][]pt, run []pt) [][]pt {
	switch len(run) {
	case 0:
		return runs
	case 1:
		return append(runs, []pt{run[0], run[0]})
	}
	return append(runs, run)
}

// crisp moves a coordinate to the middle of its pixel.
func crisp(v float64) float64 { return math.Floor(v) + 0.5 }

// placeLabel chooses where the label of the point at p goes among eight spots
// around it, scoring overlaps with placed text, markers, lines and the plot frame.
// It returns the label's box, its anchor point (baseline) and anchor.
func placeLabel(cv canvas, l label, p pt, off float64, plot box, taken, markers []box, lines [][]pt) (box, float64, float64, float64) {
	tw := cv.textWidth(l, roleSmall)
	ch, de := cv.capHeight(roleSmall), cv.descent(roleSmall)
	type spot struct{ dx, dy, anchor float64 } // dy: baseline offset
	d := off * 0.75
	spots := []spot{
		{d, -d - de, 0}, {d, d + ch, 0}, {-d, -d - de, 1}, {-d, d + ch, 1},
		{0, -off - de, 0.5}, {0, off + ch, 0.5}, {off, ch / 2, 0}, {-off, ch / 2, 1},
	}
	best, bestScore := 0, math.Inf(1)
	var bestBox box
	for k, s := range spots {
		x, base := p.x+s.dx, p.y+s.dy
		b := box{x - s.anchor*tw, base - ch, x - s.anchor*tw + tw, base + de}
		score := float64(k) * 0.01
		if b.x0 < plot.x0 || b.x1 > plot.x1 || b.y0 < plot.y0 || b.y1 > plot.y1 {
			score += 100
		}
		for _, o := range taken {
			if b.overlaps(o) {
				score += 20
			}
		}
		for _, m := range markers {
			if b.overlaps(m) {
				score += 5
			}
		}
		score += float64(segmentHits(b, lines))
		if score < bestScore {
			best, bestScore, bestBox = k, score, b
		}
	}
	s := spots[best]
	return bestBox, p.x + s.dx, p.y + s.dy, s.anchor
}

// segmentHits counts sample points of the polylines (every ~2 pixels) inside b.
func segmentHits(b box, lines [][]pt) int {
	n := 0
	for _, line := range lines {
		for i := 1; i < len(line); i++ {
			p, q := line[i-1], line[i]
			steps := int(math.Hypot(q.x-p.x, q.y-p.y)/2) + 1
			for k := 0; k <= steps; k++ {
				t := float64(k) / float64(steps)
				if b.contains(pt{p.x + t*(q.x-p.x), p.y + t*(q.y-p.y)}) {
					n++
				}
			}
		}
	}
	return n
}

// drawLegend draws the legend in the corner of the plot where it covers the least.
func (c *Chart) drawLegend(cv canvas, plot box, lines [][]pt, taken []box) {
	var idx []int
	for i, s := range c.Series {
		if s.Name != "" {
			idx = append(idx, i)
		}
	}
	if len(idx) == 0 {
		return
	}
	u := cv.unit()
	capT, descT := cv.capHeight(roleTick), cv.descent(roleTick)
	padIn := 6 * u
	sample := 26 * u
	row := max(capT+descT, 8*u) + 5*u
	tw := 0.0
	for _, i := range idx {
		tw = max(tw, cv.textWidth(label{text: c.legendName(i)}, roleTick))
	}
	bw := padIn + sample + 6*u + tw + padIn
	bh := 2*padIn + float64(len(idx))*row - 5*u
	inset := 8 * u
	corners := []box{
		{plot.x1 - inset - bw, plot.y0 + inset, plot.x1 - inset, plot.y0 + inset + bh},
		{plot.x0 + inset, plot.y0 + inset, plot.x0 + inset + bw, plot.y0 + inset + bh},
		{plot.x1 - inset - bw, plot.y1 - inset - bh, plot.x1 - inset, plot.y1 - inset},
		{plot.x0 + inset, plot.y1 - inset - bh, plot.x0 + inset + bw, plot.y1 - inset},
	}
	best, bestScore := corners[0], math.Inf(1)
	for k, b := range corners {
		score := float64(segmentHits(b, lines)) + float64(k)*0.01
		for _, t := range taken {
			if b.overlaps(t) {
				score += 20
			}
		}
		if score < bestScore {
			best, bestScore = b, score
		}
	}
	b := best
	cv.rect(math.Round(b.x0)+0.5, math.Round(b.y0)+0.5, math.Round(b.x1)+0.5, math.Round(b.y1)+0.5, colWhite, 0.88, colLegend, 1)
	for k, i := range idx {
		s := c.Series[i]
		col := c.seriesColor(i)
		cy := b.y0 + padIn + float64(k)*row + (capT+descT)/2
		x0 := b.x0 + padIn
		if !s.NoLine {
			var dash []float64
			if s.Dashed {
				dash = []float64{6 * u, 4 * u}
			}
			cv.polyline([]pt{{x0, cy}, {x0 + sample, cy}}, col, 2*u, dash, false)
		}
		cv.marker(pt{x0 + sample/2, cy}, i%numMarkers, 3.5*u, col, false)
		cv.text(x0+sample+6*u, cy+capT/2, label{text: c.legendName(i)}, roleTick, 0, 0, colText, false)
	}
}

// legendName is a series' name, marked with its axis when there are two.
func (c *Chart) legendName(i int) string {
	s := c.Series[i]
	if !c.twoAxes() {
		return s.Name
	}
	if s.Axis == 1 {
		return s.Name + " (right)"
	}
	return s.Name + " (left)"
}
