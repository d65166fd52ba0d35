package release

import (
	"fmt"
	"io"
	"sort"
	"text/tabwriter"
)

// WriteSummary prints a per-layer table of the plan: channels expanded, the
// calibrated half-ranges against the convergence radius, and the totals.
func (p *Plan) WriteSummary(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "layer\texpanded\tshare\tmedian h/R (expanded)\tmax h/R (expanded)\tmedian h/R (all)\t")
	for l, lp := range p.Layers {
		var all, exp []float64
		isExp := make(map[int]bool, len(lp.Expanded))
		for _, j := range lp.Expanded {
			isExp[j] = true
		}
		for j := range lp.HalfRange {
			r := lp.HalfRange[j] / lp.Radius[j]
			all = append(all, r)
			if isExp[j] {
				exp = append(exp, r)
			}
		}
		n := len(lp.Expanded) + len(lp.Plain)
		fmt.Fprintf(tw, "%d\t%d/%d\t%.1f%%\t%s\t%s\t%s\t\n", l, len(lp.Expanded), n,
			100*float64(len(lp.Expanded))/float64(n), quantile(exp, 0.5), quantile(exp, 1), quantile(all, 0.5))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "basis %s, order %d, centre %s, expand %s: %.1f%% of all channels expanded (h = largest distance of the calibrated range from its midpoint or z0, R = the Taylor series' convergence radius there)\n",
		p.Basis, p.Order, p.Center, p.Expand, 100*p.Share())
	return err
}

func quantile(x []float64, q float64) string {
	if len(x) == 0 {
		return "-"
	}
	s := append([]float64(nil), x...)
	sort.Float64s(s)
	return fmt.Sprintf("%.3f", s[int(q*float64(len(s)-1))])
}
