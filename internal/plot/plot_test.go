package plot

import (
	"bytes"
	"encoding/xml"
	"image"
	"image/color"
	"image/png"
	"io"
	"math"
	"slices"
	"strings"
	"testing"
)

func TestNiceTicks(t *testing.T) {
	for _, tc := range []struct {
		lo, hi float64
		n      int
		want   []float64
	}{
		{0, 1, 6, []float64{0, 0.2, 0.4, 0.6, 0.8, 1}},
		{0, 97, 6, []float64{0, 20, 40, 60, 80}},
		{-3.2, 7.9, 5, []float64{-2, 0, 2, 4, 6}},
		{-1, 1, 5, []float64{-1, -0.5, 0, 0.5, 1}},
		{0, 0.3, 4, []float64{0, 0.1, 0.2, 0.3}}, // exact decimals, not 0.30000000000000004
		{0.001, 0.0037, 4, []float64{0.001, 0.002, 0.003}},
		{-0.48, 12.48, 8, []float64{0, 2, 4, 6, 8, 10, 12}},
		{1e6, 3.2e6, 3, []float64{1e6, 2e6, 3e6}},
		{5, 5, 5, []float64{5}},
		{0, 10, 0, []float64{0, 10}}, // fewer than 2 counts as 2
		{2, 1, 5, nil},
		{0, math.Inf(1), 5, nil},
		{math.NaN(), 1, 5, nil},
	} {
		if got := NiceTicks(tc.lo, tc.hi, tc.n); !slices.Equal(got, tc.want) {
			t.Errorf("NiceTicks(%g, %g, %d) = %v, want %v", tc.lo, tc.hi, tc.n, got, tc.want)
		}
	}
}

func TestLogTicks(t *testing.T) {
	decades := func(e0, e1, k int) []float64 {
		var out []float64
		for e := e0; e <= e1; e += k {
			out = append(out, math.Pow(10, float64(e)))
		}
		return out
	}
	for _, tc := range []struct {
		lo, hi    float64
		n         int
		want      []float64
		wantMinor int
	}{
		// 10^-7 … 10^0, every decade; minors 2…9 × 10^e from 2e-7 to 3.
		{1e-7, 3.5, 10, decades(-7, 0, 1), 7*8 + 2},
		// 16 decades, at most 6 labels: every third decade; the other 10 are minor.
		{1e-12, 1e3, 6, decades(-12, 3, 3), 10},
		// Less than two powers of ten: 1-2-5 steps.
		{0.02, 0.9, 6, []float64{0.02, 0.05, 0.1, 0.2, 0.5}, 0},
		// Too narrow even for those: linear nice ticks.
		{2, 3, 5, []float64{2, 2.5, 3}, 0},
		{0, 1, 5, nil, 0},
		{-1, 1, 5, nil, 0},
	} {
		major, minor := LogTicks(tc.lo, tc.hi, tc.n)
		if !slices.EqualFunc(major, tc.want, func(a, b float64) bool { return math.Abs(a-b) <= 1e-12*b }) || len(minor) != tc.wantMinor {
			t.Errorf("LogTicks(%g, %g, %d) = %v (%d minor), want %v (%d minor)", tc.lo, tc.hi, tc.n, major, len(minor), tc.want, tc.wantMinor)
		}
		for _, v := range append(slices.Clone(major), minor...) {
			if v < tc.lo || v > tc.hi {
				t.Errorf("LogTicks(%g, %g): tick %g outside the range", tc.lo, tc.hi, v)
			}
		}
	}
}

func TestTickLabels(t *testing.T) {
	str := func(ls []label) []string {
		var out []string
		for _, l := range ls {
			out = append(out, l.String())
		}
		return out
	}
	for _, tc := range []struct {
		ticks []float64
		log   bool
		want  []string
	}{
		{[]float64{1e-6, 1e-3, 1, 1000}, true, []string{"10^−6", "10^−3", "10^0", "10^3"}},
		{[]float64{0.02, 0.05, 0.1, 20}, true, []string{"0.02", "0.05", "0.1", "20"}},
		{[]float64{2e-5, 5e-5}, true, []string{"2×10^−5", "5×10^−5"}},
		{[]float64{0, 0.25, 0.5}, false, []string{"0.00", "0.25", "0.50"}},
		{[]float64{-5, 0, 5}, false, []string{"−5", "0", "5"}},
		{[]float64{0, 1e7, 2e7}, false, []string{"0", "1e+07", "2e+07"}},
	} {
		if got := str(tickLabels(tc.ticks, tc.log)); !slices.Equal(got, tc.want) {
			t.Errorf("tickLabels(%v, log=%v) = %q, want %q", tc.ticks, tc.log, got, tc.want)
		}
	}
}

// twoAxisChart is the paper's Figure 5 shape: KL on a log left axis, ROUGE-1 on
// the right.
func twoAxisChart() *Chart {
	return &Chart{
		Title: "KL & ROUGE <vs> order", XLabel: "N", YLabel: "KL", Y2Label: "ROUGE-1", LogY: true,
		Series: []Series{
			{Name: "KL <mean> & co", X: []float64{0, 1, 2, 3, 4}, Y: []float64{1, 0.1, 1e-3, 1e-5, 1e-7}},
			{Name: "ROUGE-1", X: []float64{0, 1, 2, 3, 4}, Y: []float64{0.1, 0.4, 0.8, 1, 1}, Axis: 1, Dashed: true,
				Labels: []string{"a", "", "c", "", "e"}},
		},
		HLines: []HLine{{Y: 0.5, Axis: 1, Label: "half"}},
	}
}

func TestSVGIsWellFormedAndHasTheSeries(t *testing.T) {
	var b bytes.Buffer
	if err := twoAxisChart().SVG(&b); err != nil {
		t.Fatal(err)
	}
	dec := xml.NewDecoder(bytes.NewReader(b.Bytes()))
	var stack []string
	var texts, titles []string
	polylines := map[string][]string{} // series title → points attributes
	var root xml.StartElement
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("SVG does not parse: %v\n%s", err, b.String())
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			if len(stack) == 0 {
				root = tok.Copy()
			}
			stack = append(stack, tok.Name.Local)
			if tok.Name.Local == "polyline" && len(titles) > 0 && slices.Contains(stack, "g") {
				for _, a := range tok.Attr {
					if a.Name.Local == "points" {
						name := titles[len(titles)-1]
						polylines[name] = append(polylines[name], a.Value)
					}
				}
			}
		case xml.EndElement:
			stack = stack[:len(stack)-1]
		case xml.CharData:
			if len(stack) == 0 {
				continue
			}
			switch stack[len(stack)-1] {
			case "text", "tspan":
				texts = append(texts, string(tok))
			case "title":
				titles = append(titles, string(tok))
			}
		}
	}
	if root.Name.Local != "svg" || root.Name.Space != "http://www.w3.org/2000/svg" {
		t.Errorf("root element %v, want svg in the SVG namespace", root.Name)
	}
	if len(stack) != 0 {
		t.Errorf("unclosed elements %v", stack)
	}
	for _, name := range []string{"KL <mean> & co", "ROUGE-1"} {
		if len(polylines[name]) != 1 {
			t.Errorf("series %q: %d polylines, want 1", name, len(polylines[name]))
			continue
		}
		if n := len(strings.Fields(polylines[name][0])); n != 5 {
			t.Errorf("series %q: polyline of %d points, want 5", name, n)
		}
	}
	all := strings.Join(texts, "|")
	for _, want := range []string{"KL & ROUGE <vs> order", "KL <mean> & co (left)", "ROUGE-1 (right)", "half", "a", "c", "e", "ROUGE-1", "−6", "1.0"} {
		if !strings.Contains(all, want) {
			t.Errorf("no text %q in %q", want, all)
		}
	}
}

// onePNG renders c and decodes it again.
func onePNG(t *testing.T, c *Chart, w, h int) *image.RGBA {
	t.Helper()
	var b bytes.Buffer
	if err := c.PNG(&b, w, h); err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(&b)
	if err != nil {
		t.Fatalf("PNG does not decode: %v", err)
	}
	if got := img.Bounds(); got.Dx() != w || got.Dy() != h {
		t.Fatalf("PNG is %v, want %d×%d", got, w, h)
	}
	rgba := image.NewRGBA(img.Bounds())
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			rgba.Set(x, y, img.At(x, y))
		}
	}
	return rgba
}

func near(c color.RGBA, want color.RGBA, tol int) bool {
	d := func(a, b uint8) int { return max(int(a)-int(b), int(b)-int(a)) }
	return d(c.R, want.R) <= tol && d(c.G, want.G) <= tol && d(c.B, want.B) <= tol
}

func TestPNGDrawsTheLine(t *testing.T) {
	c := &Chart{
		Series: []Series{{X: []float64{0, 10}, Y: []float64{0, 10}, Color: "#d62728"}},
		HLines: []HLine{{Y: 2, Color: "#2ca02c"}},
	}
	const w, h = 640, 400
	img := onePNG(t, c, w, h)
	L, err := c.lay(newRaster(w, h), w, h)
	if err != nil {
		t.Fatal(err)
	}
	red, _ := parseColor("#d62728")
	green, _ := parseColor("#2ca02c")
	// Along the diagonal, away from the end markers, the pixel under the line's
	// centre is the series color.
	for _, v := range []float64{2.7, 5.3, 7.9} {
		x, y := int(L.x.pos(v)), int(L.y.pos(v))
		if got := img.RGBAAt(x, y); !near(got, red, 40) {
			t.Errorf("pixel (%d, %d) on the line at %g is %v, want about %v", x, y, v, got, red)
		}
	}
	// The dashed reference line: along its row, a good share of the pixels are
	// green, and there are gaps.
	y := int(L.y.pos(2))
	greens := 0
	for x := int(L.left) + 2; x < int(L.right)-2; x++ {
		if near(img.RGBAAt(x, y), green, 40) {
			greens++
		}
	}
	if span := int(L.right - L.left - 4); greens < span/3 || greens > span*5/6 {
		t.Errorf("%d of %d pixels of the dashed line's row are green, want a dashed share", greens, span)
	}
	// Far from the line, between grid lines, the plot is background.
	bx := int((L.x.pos(L.x.ticks[0]) + L.x.pos(L.x.ticks[1])) / 2)
	n := len(L.y.ticks)
	by := int((L.y.pos(L.y.ticks[n-1]) + L.y.pos(L.y.ticks[n-2])) / 2)
	if got := img.RGBAAt(bx, by); got != colWhite {
		t.Errorf("background pixel (%d, %d) is %v, want white", bx, by, got)
	}
	// Outside the plot but inside the image: the top-left corner is white.
	if got := img.RGBAAt(1, 1); got != colWhite {
		t.Errorf("corner pixel is %v, want white", got)
	}
}

func TestPNGTwoAxes(t *testing.T) {
	c := twoAxisChart()
	img := onePNG(t, c, 800, 500)
	L, err := c.lay(newRaster(800, 500), 800, 500)
	if err != nil {
		t.Fatal(err)
	}
	if L.y2 == nil || L.y.log != true || L.y2.log {
		t.Fatalf("axes: left log %v, right %v", L.y.log, L.y2)
	}
	// The right axis has tick labels in the margin to the right of the plot.
	inked := 0
	for y := int(L.top); y < int(L.bottom); y++ {
		for x := int(L.right) + 8; x < 800; x++ {
			if img.RGBAAt(x, y) != colWhite {
				inked++
			}
		}
	}
	if inked < 200 {
		t.Errorf("%d inked pixels right of the plot, want tick labels and the axis label there", inked)
	}
}

func TestLogAxisSkipsNonPositive(t *testing.T) {
	c := &Chart{LogY: true, Series: []Series{{Name: "s", X: []float64{0, 1, 2, 3, 4}, Y: []float64{1, 0.1, 0, 1e-3, 1e-4}}}}
	var b bytes.Buffer
	if err := c.SVG(&b); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "<title>s</title>") {
		t.Error("series group missing")
	}
	g := b.String()[strings.Index(b.String(), "<title>s</title>"):]
	g = g[:strings.Index(g, "</g>")]
	if n := strings.Count(g, "<polyline"); n != 2 {
		t.Errorf("series drawn as %d polylines, want 2 (broken at the zero)", n)
	}
	if n := strings.Count(g, "<circle"); n != 4 {
		t.Errorf("%d markers, want 4", n)
	}
}

func TestFixedRangeClips(t *testing.T) {
	c := &Chart{YRange: Range{0, 1}, Series: []Series{{X: []float64{0, 1, 2}, Y: []float64{0.5, 2, 0.7}, Labels: []string{"in", "out", ""}}},
		HLines: []HLine{{Y: 3, Label: "far"}}}
	var b bytes.Buffer
	if err := c.SVG(&b); err != nil {
		t.Fatal(err)
	}
	svg := b.String()
	if !strings.Contains(svg, `clip-path="url(#plotarea)"`) || !strings.Contains(svg, ">in</text>") {
		t.Errorf("series not clipped to the plot area or label missing:\n%s", svg)
	}
	if strings.Contains(svg, ">out</text>") || strings.Contains(svg, ">far</text>") {
		t.Errorf("labels of a point and a line outside the fixed range are drawn:\n%s", svg)
	}
	L, err := c.lay(newSVG(800, 500), 800, 500)
	if err != nil {
		t.Fatal(err)
	}
	if got := L.y.ticks; got[0] != 0 || got[len(got)-1] != 1 {
		t.Errorf("ticks %v, want 0 … 1", got)
	}
}

func TestRightAxisOnly(t *testing.T) {
	c := &Chart{Y2Label: "right", LogY2: true, Series: []Series{{Name: "r", X: []float64{1, 2}, Y: []float64{1e-3, 1}, Axis: 1}}}
	L, err := c.lay(newSVG(800, 500), 800, 500)
	if err != nil {
		t.Fatal(err)
	}
	if L.y2 != nil || !L.y.log {
		t.Errorf("right-only chart: second axis %v, log %v; want one log axis", L.y2, L.y.log)
	}
	var b bytes.Buffer
	if err := c.SVG(&b); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), ">right</text>") || strings.Contains(b.String(), "(right)") {
		t.Errorf("right-only chart: axis label or legend wrong:\n%s", b.String())
	}
}

func TestChartErrors(t *testing.T) {
	ok := Series{X: []float64{1, 2}, Y: []float64{1, 2}}
	for _, tc := range []struct {
		name string
		c    Chart
		w, h int
		want string
	}{
		{"no series", Chart{}, 400, 300, "no series"},
		{"length mismatch", Chart{Series: []Series{{Name: "a", X: []float64{1}, Y: []float64{1, 2}}}}, 400, 300, `series 0 ("a") has 1 x values and 2 y values`},
		{"labels", Chart{Series: []Series{{X: []float64{1, 2}, Y: []float64{1, 2}, Labels: []string{"x"}}}}, 400, 300, "1 labels for 2 points"},
		{"axis", Chart{Series: []Series{{X: []float64{1}, Y: []float64{1}, Axis: 2}}}, 400, 300, "axis 2"},
		{"color", Chart{Series: []Series{{X: []float64{1}, Y: []float64{1}, Color: "red"}}}, 400, 300, `color "red"`},
		{"hline axis", Chart{Series: []Series{ok}, HLines: []HLine{{Axis: -1}}}, 400, 300, "reference line 0 has axis -1"},
		{"log without positives", Chart{LogY: true, Series: []Series{{X: []float64{1, 2}, Y: []float64{0, -1}}}}, 400, 300, "no plottable values for the left y axis"},
		{"all NaN", Chart{Series: []Series{{X: []float64{math.NaN()}, Y: []float64{1}}}}, 400, 300, "no plottable values for the x axis"},
		{"bad range", Chart{YRange: Range{2, 1}, Series: []Series{ok}}, 400, 300, "left y range [2, 1]"},
		{"tiny", Chart{Series: []Series{ok}}, 100, 50, "size 100×50"},
	} {
		var b bytes.Buffer
		err := tc.c.PNG(&b, tc.w, tc.h)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: PNG error %v, want %q", tc.name, err, tc.want)
		}
		if tc.w == 400 {
			if err := tc.c.SVG(&b); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("%s: SVG error %v, want %q", tc.name, err, tc.want)
			}
		}
	}
}

func TestFont(t *testing.T) {
	for r := rune(' '); r <= '~'; r++ {
		if _, ok := font[r]; !ok {
			t.Errorf("no glyph for %q", r)
		}
	}
	if g := glyphFor('7'); g.w != glyphW {
		t.Errorf("digit width %d, want %d (tabular)", g.w, glyphW)
	}
	if g := glyphFor('.'); g.w != 2 {
		t.Errorf("'.' is %d columns, want 2 (trimmed)", g.w)
	}
	if g, box := glyphFor('☃'), glyphFor('□'); g != box {
		t.Error("missing glyphs do not fall back to the box")
	}
	// "10" is two 5-column digits and a 1-column gap.
	if w := bitmapWidth("10"); w != 11 {
		t.Errorf("bitmapWidth(\"10\") = %d, want 11", w)
	}
	// 'g' descends below the baseline, 'a' does not.
	if glyphFor('g').rows[glyphRows-1] == 0 || glyphFor('a').rows[glyphRows-1] != 0 {
		t.Error("descender rows wrong for g or a")
	}
}

func TestDashed(t *testing.T) {
	// A 100-pixel line under a 6 on / 4 off pattern draws 10 dashes of 6 pixels.
	segs := dashed([]pt{{0, 0}, {60, 0}, {60, 40}}, []float64{6, 4})
	var on float64
	for _, s := range segs {
		on += math.Hypot(s[1].x-s[0].x, s[1].y-s[0].y)
	}
	if math.Abs(on-60) > 1e-9 {
		t.Errorf("dashes cover %g pixels, want 60", on)
	}
	if got := dashed([]pt{{0, 0}, {3, 4}}, nil); len(got) != 1 {
		t.Errorf("solid line: %d segments, want 1", len(got))
	}
}
