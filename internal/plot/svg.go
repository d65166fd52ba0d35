package plot

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"image/color"
	"io"
	"math"
	"strconv"
	"strings"
)

// svgFont is the font-family list of SVG text.
const svgFont = "Helvetica, Arial, 'DejaVu Sans', sans-serif"

// svgSize is the font size in pixels of each text role.
var svgSize = map[role]float64{roleTick: 13, roleLabel: 14, roleTitle: 16, roleSmall: 11}

// svgCanvas writes SVG elements to a buffer.
type svgCanvas struct {
	b       bytes.Buffer
	w, h    int
	clipSet bool
}

func newSVG(w, h int) *svgCanvas { return &svgCanvas{w: w, h: h} }

func (s *svgCanvas) writeTo(w io.Writer) error {
	var head bytes.Buffer
	fmt.Fprintf(&head, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n")
	fmt.Fprintf(&head, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" font-family=\"%s\">\n", s.w, s.h, s.w, s.h, svgFont)
	if _, err := w.Write(head.Bytes()); err != nil {
		return err
	}
	if _, err := w.Write(s.b.Bytes()); err != nil {
		return err
	}
	_, err := io.WriteString(w, "</svg>\n")
	return err
}

func (s *svgCanvas) unit() float64 { return 1 }

func (s *svgCanvas) capHeight(r role) float64 { return 0.72 * svgSize[r] }
func (s *svgCanvas) descent(r role) float64   { return 0.22 * svgSize[r] }

// textWidth estimates the advance of l from typical Helvetica/Arial widths,
// rounded up (wider fonts such as DejaVu Sans stand in for them) so that boxes around text rather err on the large side.
func (s *svgCanvas) textWidth(l label, r role) float64 {
	w := emWidth(l.text) * svgSize[r]
	if l.sup != "" {
		w += emWidth(l.sup) * svgSize[r] * 0.75
	}
	return w * 1.12
}

// emWidth returns the approximate width of s in ems.
func emWidth(s string) float64 {
	var w float64
	for _, r := range s {
		switch {
		case r >= '0' && r <= '9':
			w += 0.556
		case strings.ContainsRune(" .,:;!'|", r):
			w += 0.278
		case strings.ContainsRune("ijl", r):
			w += 0.222
		case strings.ContainsRune("frt()[]-", r):
			w += 0.333
		case strings.ContainsRune("mw", r):
			w += 0.8
		case strings.ContainsRune("MW@", r):
			w += 0.9
		case r == 'I':
			w += 0.278
		case r >= 'A' && r <= 'Z':
			w += 0.68
		case r >= 'a' && r <= 'z':
			w += 0.53
		default:
			w += 0.6
		}
	}
	return w
}

func num(v float64) string {
	v = math.Round(v*100) / 100
	if v == 0 {
		return "0"
	}
	return strconv.FormatFloat(v, 'f', -1, 64)
}

func hex(c color.RGBA) string { return fmt.Sprintf("#%02x%02x%02x", c.R, c.G, c.B) }

func (s *svgCanvas) clipAttr(clip bool) string {
	if clip && s.clipSet {
		return ` clip-path="url(#plotarea)"`
	}
	return ""
}

func (s *svgCanvas) setClip(x0, y0, x1, y1 float64) {
	if s.clipSet {
		return
	}
	fmt.Fprintf(&s.b, "<defs><clipPath id=\"plotarea\"><rect x=\"%s\" y=\"%s\" width=\"%s\" height=\"%s\"/></clipPath></defs>\n",
		num(x0), num(y0), num(x1-x0), num(y1-y0))
	s.clipSet = true
}

func (s *svgCanvas) rect(x0, y0, x1, y1 float64, fill color.RGBA, fillAlpha float64, stroke color.RGBA, strokeW float64) {
	fmt.Fprintf(&s.b, "<rect x=\"%s\" y=\"%s\" width=\"%s\" height=\"%s\"", num(x0), num(y0), num(x1-x0), num(y1-y0))
	if fillAlpha > 0 {
		fmt.Fprintf(&s.b, " fill=\"%s\"", hex(fill))
		if fillAlpha < 1 {
			fmt.Fprintf(&s.b, " fill-opacity=\"%s\"", num(fillAlpha))
		}
	} else {
		s.b.WriteString(" fill=\"none\"")
	}
	if strokeW > 0 {
		fmt.Fprintf(&s.b, " stroke=\"%s\" stroke-width=\"%s\"", hex(stroke), num(strokeW))
	}
	s.b.WriteString("/>\n")
}

func (s *svgCanvas) polyline(p []pt, c color.RGBA, width float64, dash []float64, clip bool) {
	s.b.WriteString("<polyline points=\"")
	for i, q := range p {
		if i > 0 {
			s.b.WriteByte(' ')
		}
		s.b.WriteString(num(q.x) + "," + num(q.y))
	}
	fmt.Fprintf(&s.b, "\" fill=\"none\" stroke=\"%s\" stroke-width=\"%s\" stroke-linejoin=\"round\"", hex(c), num(width))
	if len(dash) > 0 {
		parts := make([]string, len(dash))
		for i, d := range dash {
			parts[i] = num(d)
		}
		fmt.Fprintf(&s.b, " stroke-dasharray=\"%s\"", strings.Join(parts, " "))
	} else if width > 1 {
		s.b.WriteString(" stroke-linecap=\"round\"")
	}
	s.b.WriteString(s.clipAttr(clip) + "/>\n")
}

func (s *svgCanvas) marker(p pt, shape int, r float64, c color.RGBA, clip bool) {
	attr := fmt.Sprintf(" fill=\"%s\"%s/>\n", hex(c), s.clipAttr(clip))
	switch shape {
	case markerSquare:
		h := r * 0.85
		fmt.Fprintf(&s.b, "<rect x=\"%s\" y=\"%s\" width=\"%s\" height=\"%s\"%s", num(p.x-h), num(p.y-h), num(2*h), num(2*h), attr)
	case markerDiamond:
		h := r * 1.2
		fmt.Fprintf(&s.b, "<polygon points=\"%s,%s %s,%s %s,%s %s,%s\"%s", num(p.x), num(p.y-h), num(p.x+h), num(p.y), num(p.x), num(p.y+h), num(p.x-h), num(p.y), attr)
	case markerTriangle:
		h := r * 1.55
		fmt.Fprintf(&s.b, "<polygon points=\"%s,%s %s,%s %s,%s\"%s", num(p.x), num(p.y-h), num(p.x+h*0.866), num(p.y+h*0.5), num(p.x-h*0.866), num(p.y+h*0.5), attr)
	default:
		fmt.Fprintf(&s.b, "<circle cx=\"%s\" cy=\"%s\" r=\"%s\"%s", num(p.x), num(p.y), num(r), attr)
	}
}

func (s *svgCanvas) text(x, y float64, l label, r role, anchor float64, rot int, c color.RGBA, bold bool) {
	fmt.Fprintf(&s.b, "<text x=\"%s\" y=\"%s\" font-size=\"%s\" fill=\"%s\"", num(x), num(y), num(svgSize[r]), hex(c))
	switch anchor {
	case 0.5:
		s.b.WriteString(" text-anchor=\"middle\"")
	case 1:
		s.b.WriteString(" text-anchor=\"end\"")
	}
	if bold {
		s.b.WriteString(" font-weight=\"bold\"")
	}
	if rot != 0 {
		fmt.Fprintf(&s.b, " transform=\"rotate(%d %s %s)\"", rot, num(x), num(y))
	}
	s.b.WriteByte('>')
	xml.EscapeText(&s.b, []byte(l.text))
	if l.sup != "" {
		fmt.Fprintf(&s.b, "<tspan dy=\"%s\" font-size=\"%s\">", num(-0.45*svgSize[r]), num(0.75*svgSize[r]))
		xml.EscapeText(&s.b, []byte(l.sup))
		s.b.WriteString("</tspan>")
	}
	s.b.WriteString("</text>\n")
}

func (s *svgCanvas) group(name string) {
	s.b.WriteString("<g class=\"series\">")
	if name != "" {
		s.b.WriteString("<title>")
		xml.EscapeText(&s.b, []byte(name))
		s.b.WriteString("</title>")
	}
	s.b.WriteByte('\n')
}

func (s *svgCanvas) endGroup() { s.b.WriteString("</g>\n") }
