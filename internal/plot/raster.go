package plot

import (
	"image"
	"image/color"
	"image/png"
	"io"
	"math"
)

// raster draws on an RGBA image: anti-aliased strokes and markers (coverage from
// the distance of each pixel center to the shape), and bitmap-font text.
type raster struct {
	img  *image.RGBA
	s    int // font scale of tick labels and axis labels
	clip box // plot area, for clipped drawing
	cov  []float32
}

func newRaster(w, h int) *raster {
	s := int(math.Round(min(float64(h)/250, float64(w)/400)))
	return &raster{img: image.NewRGBA(image.Rect(0, 0, w, h)), s: clampInt(s, 1, 8),
		clip: box{0, 0, float64(w), float64(h)}}
}

func (r *raster) encode(w io.Writer) error { return png.Encode(w, r.img) }

func (r *raster) unit() float64 { return float64(r.s) / 2 }

// scale returns the font scale of a role.
func (r *raster) scale(ro role) int {
	if ro == roleSmall && r.s > 2 {
		return r.s - 1
	}
	return r.s
}

// supScale is the scale of superscripts in text of scale sc.
func supScale(sc int) int { return max(1, sc-1) }

func (r *raster) textWidth(l label, ro role) float64 {
	sc := r.scale(ro)
	w := bitmapWidth(l.text) * sc
	if l.sup != "" {
		w += glyphGap*sc + bitmapWidth(l.sup)*supScale(sc)
	}
	return float64(w)
}

func (r *raster) capHeight(ro role) float64 { return float64(glyphCap * r.scale(ro)) }
func (r *raster) descent(ro role) float64   { return float64((glyphRows - glyphCap) * r.scale(ro)) }

func (r *raster) setClip(x0, y0, x1, y1 float64) { r.clip = box{x0, y0, x1, y1} }

// blend mixes c into pixel (x, y) with opacity a ∈ [0, 1].
func (r *raster) blend(x, y int, c color.RGBA, a float64) {
	if a <= 0 || x < 0 || y < 0 || x >= r.img.Rect.Dx() || y >= r.img.Rect.Dy() {
		return
	}
	if a > 1 {
		a = 1
	}
	i := r.img.PixOffset(x, y)
	p := r.img.Pix[i : i+4 : i+4]
	mix := func(d, s uint8) uint8 { return uint8(math.Round(float64(d) + (float64(s)-float64(d))*a)) }
	p[0], p[1], p[2], p[3] = mix(p[0], c.R), mix(p[1], c.G), mix(p[2], c.B), 0xff
}

// bounds returns the integer pixel range covering [x0, x1) × [y0, y1), limited to
// the image and, if clip is set, to the plot area.
func (r *raster) bounds(x0, y0, x1, y1 float64, clip bool) (ix0, iy0, ix1, iy1 int) {
	if clip {
		x0, y0 = max(x0, r.clip.x0), max(y0, r.clip.y0)
		x1, y1 = min(x1, r.clip.x1), min(y1, r.clip.y1)
	}
	ix0, iy0 = max(0, int(math.Floor(x0))), max(0, int(math.Floor(y0)))
	ix1, iy1 = min(r.img.Rect.Dx(), int(math.Ceil(x1))), min(r.img.Rect.Dy(), int(math.Ceil(y1)))
	return
}

func (r *raster) rect(x0, y0, x1, y1 float64, fill color.RGBA, fillAlpha float64, stroke color.RGBA, strokeW float64) {
	if fillAlpha > 0 {
		ix0, iy0, ix1, iy1 := r.bounds(x0, y0, x1, y1, false)
		for y := iy0; y < iy1; y++ {
			cy := overlap(float64(y), y0, y1)
			for x := ix0; x < ix1; x++ {
				r.blend(x, y, fill, fillAlpha*cy*overlap(float64(x), x0, x1))
			}
		}
	}
	if strokeW > 0 {
		r.polyline([]pt{{x0, y0}, {x1, y0}, {x1, y1}, {x0, y1}, {x0, y0}}, stroke, strokeW, nil, false)
	}
}

// overlap is the length of [p, p+1] ∩ [a, b].
func overlap(p, a, b float64) float64 { return max(0, min(p+1, b)-max(p, a)) }

// polyline strokes the path with round caps and joins. Coverage of overlapping
// segments is combined by maximum, so joins are not darker than the line.
func (r *raster) polyline(p []pt, c color.RGBA, width float64, dash []float64, clip bool) {
	segs := dashed(p, dash)
	if len(segs) == 0 {
		return
	}
	hw := width / 2
	bx0, by0, bx1, by1 := math.Inf(1), math.Inf(1), math.Inf(-1), math.Inf(-1)
	for _, s := range segs {
		bx0, bx1 = min(bx0, s[0].x, s[1].x), max(bx1, s[0].x, s[1].x)
		by0, by1 = min(by0, s[0].y, s[1].y), max(by1, s[0].y, s[1].y)
	}
	ix0, iy0, ix1, iy1 := r.bounds(bx0-hw-1, by0-hw-1, bx1+hw+1, by1+hw+1, clip)
	bw, bh := ix1-ix0, iy1-iy0
	if bw <= 0 || bh <= 0 {
		return
	}
	if cap(r.cov) < bw*bh {
		r.cov = make([]float32, bw*bh)
	}
	cov := r.cov[:bw*bh]
	clear(cov)
	for _, s := range segs {
		sx0, sy0, sx1, sy1 := r.bounds(min(s[0].x, s[1].x)-hw-1, min(s[0].y, s[1].y)-hw-1,
			max(s[0].x, s[1].x)+hw+1, max(s[0].y, s[1].y)+hw+1, clip)
		for y := sy0; y < sy1; y++ {
			for x := sx0; x < sx1; x++ {
				d := segDist(pt{float64(x) + 0.5, float64(y) + 0.5}, s[0], s[1])
				a := float32(min(1, hw+0.5-d))
				if i := (y-iy0)*bw + (x - ix0); a > cov[i] {
					cov[i] = a
				}
			}
		}
	}
	for y := 0; y < bh; y++ {
		for x := 0; x < bw; x++ {
			if a := cov[y*bw+x]; a > 0 {
				r.blend(ix0+x, iy0+y, c, float64(a))
			}
		}
	}
}

// segDist is the distance from p to the segment ab.
func segDist(p, a, b pt) float64 {
	dx, dy := b.x-a.x, b.y-a.y
	l2 := dx*dx + dy*dy
	t := 0.0
	if l2 > 0 {
		t = max(0, min(1, ((p.x-a.x)*dx+(p.y-a.y)*dy)/l2))
	}
	return math.Hypot(p.x-a.x-t*dx, p.y-a.y-t*dy)
}

// dashed cuts a polyline into the segments that are drawn under the on/off dash
// pattern (all of them for no pattern).
func dashed(p []pt, dash []float64) [][2]pt {
	var out [][2]pt
	if len(dash) == 0 {
		for i := 1; i < len(p); i++ {
			out = append(out, [2]pt{p[i-1], p[i]})
		}
		if len(p) == 1 {
			out = append(out, [2]pt{p[0], p[0]})
		}
		return out
	}
	k, left := 0, dash[0] // pattern index, length left in it
	for i := 1; i < len(p); i++ {
		a, b := p[i-1], p[i]
		l := math.Hypot(b.x-a.x, b.y-a.y)
		t := 0.0
		for t < l {
			step := min(left, l-t)
			if k%2 == 0 {
				f0, f1 := t/l, (t+step)/l
				out = append(out, [2]pt{{a.x + f0*(b.x-a.x), a.y + f0*(b.y-a.y)}, {a.x + f1*(b.x-a.x), a.y + f1*(b.y-a.y)}})
			}
			t += step
			left -= step
			if left <= 1e-9 {
				k = (k + 1) % len(dash)
				left = dash[k]
			}
		}
	}
	return out
}

// marker fills a marker shape of nominal radius rad centred on p.
func (r *raster) marker(p pt, shape int, rad float64, c color.RGBA, clip bool) {
	ext := rad*1.3 + 1
	ix0, iy0, ix1, iy1 := r.bounds(p.x-ext, p.y-ext, p.x+ext, p.y+ext, clip)
	for y := iy0; y < iy1; y++ {
		for x := ix0; x < ix1; x++ {
			dx, dy := float64(x)+0.5-p.x, float64(y)+0.5-p.y
			var sd float64 // signed distance to the outline, negative inside
			switch shape {
			case markerSquare:
				sd = max(math.Abs(dx), math.Abs(dy)) - rad*0.85
			case markerDiamond:
				sd = (math.Abs(dx) + math.Abs(dy) - rad*1.2) / math.Sqrt2
			case markerTriangle:
				h := rad * 1.55
				sd = max(dy, 0.866*dx-0.5*dy, -0.866*dx-0.5*dy) - h/2
			default:
				sd = math.Hypot(dx, dy) - rad
			}
			r.blend(x, y, c, 0.5-sd)
		}
	}
}

// text draws l with the bitmap font; see canvas.text.
func (r *raster) text(x, y float64, l label, ro role, anchor float64, rot int, c color.RGBA, bold bool) {
	sc := r.scale(ro)
	w := r.textWidth(l, ro)
	ax, ay := int(math.Round(x)), int(math.Round(y))
	u0 := -int(math.Round(anchor * w))
	// fill paints a block given in text space (u along the text from the anchor,
	// v down from the baseline) after rotating it about the anchor.
	fill := func(u, v, du, dv int) {
		var x0, y0, x1, y1 int
		switch rot {
		case -90:
			x0, y0, x1, y1 = ax+v, ay-u-du, ax+v+dv, ay-u
		case 90:
			x0, y0, x1, y1 = ax-v-dv, ay+u, ax-v, ay+u+du
		default:
			x0, y0, x1, y1 = ax+u, ay+v, ax+u+du, ay+v+dv
		}
		for py := y0; py < y1; py++ {
			for px := x0; px < x1; px++ {
				r.blend(px, py, c, 1)
			}
		}
	}
	run := func(s string, u, base, sc int) int {
		for _, ch := range s {
			g := glyphFor(ch)
			for row := 0; row < glyphRows; row++ {
				for col := 0; col < g.w; col++ {
					if g.set(col, row) {
						v := base - glyphCap*sc + row*sc
						fill(u+col*sc, v, sc, sc)
						if bold {
							fill(u+col*sc+max(1, sc/2), v, sc, sc)
						}
					}
				}
			}
			u += (g.w + glyphGap) * sc
		}
		return u
	}
	u := run(l.text, u0, 0, sc)
	if l.sup != "" {
		ss := supScale(sc)
		run(l.sup, u, -int(math.Round(0.5*float64(glyphCap*sc))), ss)
	}
}

func (r *raster) group(string) {}
func (r *raster) endGroup()    {}
