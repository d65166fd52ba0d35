package attack

import (
	"bytes"
	"fmt"
	"io"
	"math"
	"path/filepath"
	"sort"
	"strings"

	"github.com/unswift/unswift/internal/eval"
	"github.com/unswift/unswift/internal/metrics"
	"github.com/unswift/unswift/internal/plot"
	"github.com/unswift/unswift/internal/safefile"
)

// writeFile writes data to path atomically.
func writeFile(path string, data []byte) error {
	f, err := safefile.Create(path)
	if err != nil {
		return err
	}
	defer f.Abort()
	if _, err := f.Write(data); err != nil {
		return err
	}
	return f.Commit()
}

// writePlots draws the charts the results have data for as SVG files and
// returns their file names.
func writePlots(dir string, res *Results) ([]string, error) {
	var names []string
	for _, nc := range charts(res) {
		var b bytes.Buffer
		if err := nc.chart.SVG(&b); err != nil {
			return nil, fmt.Errorf("plot %s: %w", nc.name, err)
		}
		if err := writeFile(filepath.Join(dir, nc.name), b.Bytes()); err != nil {
			return nil, err
		}
		names = append(names, nc.name)
	}
	return names, nil
}

type namedChart struct {
	name  string
	chart *plot.Chart
}

// charts returns the charts the results have data for.
func charts(res *Results) []namedChart {
	var out []namedChart
	save := func(name string, c *plot.Chart) { out = append(out, namedChart{name, c}) }
	if r := res.Regression; r != nil && len(r.Points) > 0 && !isNaN(r.Points[0].RelativeError) {
		var x, e, kl []float64
		for _, p := range r.Points {
			x = append(x, float64(p.Tokens))
			e = append(e, positive(float64(p.RelativeError)))
			kl = append(kl, positive(float64(p.KLToOriginal)))
		}
		c := &plot.Chart{
			Title:  fmt.Sprintf("Regression recovery vs tokens (%d unknowns per output)", r.Unknowns),
			XLabel: "tokens of public text M", YLabel: "relative error of W", Y2Label: "mean KL to the original",
			LogX: true, LogY: true, LogY2: true,
			Series: []plot.Series{{Name: "relative error", X: x, Y: e}, {Name: "KL of the recovered model", X: x, Y: kl, Axis: 1, Dashed: true}},
		}
		if a := res.Algebraic; a != nil && !isNaN(a.RelativeError) {
			c.HLines = append(c.HLines, plot.HLine{Y: positive(float64(a.RelativeError)), Label: "algebraic attack"})
		}
		save("regression.svg", c)
	}
	if ti := res.Training; ti != nil {
		var s []plot.Series
		add := func(name string, loss []float64) {
			if len(loss) == 0 {
				return
			}
			var x, y []float64
			w := max(1, len(loss)/50) // smooth over windows of w steps
			for i := 0; i+w <= len(loss); i += w {
				var m float64
				for _, v := range loss[i : i+w] {
					m += v
				}
				x = append(x, float64(i+w))
				y = append(y, m/float64(w))
			}
			s = append(s, plot.Series{Name: name, X: x, Y: y})
		}
		add("fine-tune (down projections), cross-entropy", ti.FinetuneLoss)
		add("fine-tune (all weights), cross-entropy", ti.FinetuneAll)
		add("distillation, KL to the release", ti.DistillLoss)
		if len(s) > 0 {
			c := &plot.Chart{Title: "Training attacks: loss per step", XLabel: "step", YLabel: "training loss (nats)", LogY: true, Series: s}
			if !isNaN(ti.PPLOriginal) {
				c.HLines = append(c.HLines, plot.HLine{Y: math.Log(float64(ti.PPLOriginal)), Label: "original, held out"})
			}
			save("loss.svg", c)
		}
		var ps []plot.Series
		for _, set := range []struct {
			name string
			pts  []TrainPoint
		}{{"fine-tune", res.Finetune}, {"distillation", res.Distill}} {
			for _, phase := range []string{"down", "all"} {
				var x, y []float64
				for _, p := range set.pts {
					if p.Phase == phase && p.Steps > 0 {
						x = append(x, float64(p.Steps))
						y = append(y, float64(p.PPL))
					}
				}
				if len(x) > 0 {
					ps = append(ps, plot.Series{Name: fmt.Sprintf("%s (%s)", set.name, phaseName(phase)), X: x, Y: y})
				}
			}
		}
		if len(ps) > 0 {
			c := &plot.Chart{Title: "Training attacks: held-out perplexity vs step budget", XLabel: "steps", YLabel: "perplexity", LogX: true, LogY: true, Series: ps}
			if !isNaN(ti.PPLOriginal) {
				c.HLines = append(c.HLines, plot.HLine{Y: float64(ti.PPLOriginal), Label: "original"})
			}
			if !isNaN(ti.PPLRelease) && math.Abs(float64(ti.PPLRelease)-float64(ti.PPLOriginal)) > 0.02*float64(ti.PPLRelease) {
				c.HLines = append(c.HLines, plot.HLine{Y: float64(ti.PPLRelease), Label: "release"})
			}
			save("ppl.svg", c)
		}
	}
	return out
}

func phaseName(p string) string {
	if p == "all" {
		return "all weights"
	}
	return "down projections"
}

func isNaN(n eval.Num) bool { return math.IsNaN(float64(n)) || math.IsInf(float64(n), 0) }

// positive maps non-positive values to NaN (a gap on a log axis).
func positive(v float64) float64 {
	if v > 0 {
		return v
	}
	return math.NaN()
}

// num formats a number for the report: "–" when absent.
func num(n eval.Num, format string) string {
	if isNaN(n) {
		return "–"
	}
	return fmt.Sprintf(format, float64(n))
}

// writeReport writes report.md.
func writeReport(w io.Writer, res *Results, plots []string) {
	p := func(format string, a ...any) { fmt.Fprintf(w, format, a...) }
	ri := res.Release
	p("# Attack report: %s\n\n", filepath.Base(ri.Path))
	tail := ""
	if ri.Tail != "" {
		tail = ", tail " + ri.Tail
	}
	arch := ""
	if ri.Arch != "" {
		arch = fmt.Sprintf("%s (%s), ", ri.Arch, ri.Family)
	}
	p("Release: %sbasis %s%s, order N = %d, %d layers, dim %d, d_ff %d, expanded channels per layer %v (%.1f%% of all).\n",
		arch, ri.Basis, tail, ri.Order, ri.Layers, ri.Dim, ri.Hidden, ri.Expanded, 100*ri.Share)
	if res.Original != "" {
		p("Original (used only to score): %s.", filepath.Base(res.Original))
	} else {
		p("No original given: errors against the true weights are not measured.")
	}
	p(" Fidelity measured on %d tokens (%s)", res.EvalTokens, res.EvalText)
	if res.Data != "" {
		p(" of %s", filepath.Base(res.Data))
	}
	p(".\n")
	if !isNaN(res.ReleaseKL) {
		p("The release itself: mean KL to the original %s nats, top-1 agreement %s.\n", num(res.ReleaseKL, "%.3g"), num(res.ReleaseTop1, "%.4f"))
	}
	if res.Command != "" {
		p("\nCommand: `%s` (%.0f s).\n", res.Command, res.Seconds)
	}
	for _, n := range res.Notes {
		p("\nNote: %s.\n", n)
	}
	writeSummary(w, res)
	if a := res.Algebraic; a != nil {
		p("\n## Algebraic recovery (the release file alone)\n\n")
		p("Per expanded channel, the coefficient columns of every order are the down-projection column times a scalar that ")
		p("depends only on released numbers; the attack fits the column for both secret signs and keeps the better fit ")
		p("(or reads it from the tail blocks, which hold it directly).\n\n")
		p("| layer | expanded | method | decided from the file | relative error | recovered | signs right | smallest order-0 scale | time |\n|---|---|---|---|---|---|---|---|---|\n")
		for _, l := range a.Layers {
			p("| %d | %d | %s | %.1f%% | %s | %s | %s | %s | %.1f ms |\n", l.Layer, l.Expanded, methodList(l.Methods), 100*l.FractionConfident,
				num(l.RelativeError, "%.2g"), pct(l.FractionRecovered), pct(l.SignAccuracy), num(l.MinScale, "%.3g"), 1000*l.Seconds)
		}
		p("\nAll layers: relative error %s over the protected columns, %.1f%% of channels recovered", num(a.RelativeError, "%.3g"), 100*a.FractionRecovered)
		if !isNaN(a.RelativeError) {
			p(" (column within %.0e and sign right)", ColumnTolerance)
		} else {
			p(" (the attack's own confidence)")
		}
		p(", in %.3f s. The recovered model (`%s`, a plain GGUF) ", a.Seconds, a.Recovered)
		if !isNaN(a.KLToOriginal) {
			p("has mean KL %s nats to the original (max %s), top-1 agreement %s", num(a.KLToOriginal, "%.3g"), num(a.KLMax, "%.3g"), num(a.Top1Agreement, "%.4f"))
			if a.GreedyIdentical != nil {
				if *a.GreedyIdentical {
					p(", and its greedy text is identical to the original's")
				} else {
					p(", and its greedy text differs from the original's")
				}
			}
			p(".\n")
		} else {
			p("was written for `unswift run`.\n")
		}
		if a.GreedyIdentical != nil {
			p("\nGreedy, original: %q\n\nGreedy, recovered: %q\n", a.GreedyOriginal, a.GreedyRecovered)
		}
		for _, n := range a.Notes {
			p("\nNote: %s.\n", n)
		}
	}
	if r := res.Regression; r != nil {
		p("\n## Regression recovery (the release's behaviour on public text)\n\n")
		p("Run the release on M tokens, read each layer's MLP input and output, and solve the down projection by least squares ")
		if strings.Contains(ri.Family, "plain") {
			p("on the features act(g') of the released gate g' = V'x + b' (the up projection of the plain MLP) and the input x with a constant; ")
			p("the secret signs are then the least-squares solution of the linear part = −W·diag([s < 0])·[V' | b']. ")
		} else {
			p("on the features act(g')⊙u and g'⊙u of the released gate g' (which makes the secret sign a linear unknown). ")
		}
		p("%d unknowns per output in the widest layer; %.1f s for all points.\n\n", r.Unknowns, r.Seconds)
		p("| tokens M | relative error | signs right | columns within %.0e | KL to original | top-1 agreement |\n|---|---|---|---|---|---|\n", ColumnTolerance)
		for _, pt := range r.Points {
			p("| %d | %s | %s | %s | %s | %s |\n", pt.Tokens, num(pt.RelativeError, "%.3g"), pct(pt.SignAccuracy), pct(pt.FractionRecovered),
				num(pt.KLToOriginal, "%.3g"), num(pt.Top1Agreement, "%.4f"))
		}
		for _, n := range r.Notes {
			p("\nNote: %s.\n", n)
		}
		if contains(plots, "regression.svg") {
			p("\n![regression error vs tokens](regression.svg)\n")
		}
	}
	if ti := res.Training; ti != nil {
		p("\n## Fine-tuning and distillation (the paper's RQ2)\n\n")
		p("Start from the release's public weights with the protected down-projection columns drawn at random (std %.3g, the released plain columns' scale), ", ti.InitStd)
		p("gate rows as released; AdamW (lr %.0e, all weights %.0e, weight decay %g, clip %g, %d warm-up steps, then constant), batches of %d × %d tokens of the data's attacker part. ",
			ti.LR, ti.LRAll, ti.WeightDecay, ti.ClipNorm, ti.Warmup, ti.Batch, ti.SeqLen)
		p("Fine-tuning minimises cross-entropy on the text; distillation the KL from the release's own predictions. Reference: original perplexity %s, release %s",
			num(ti.PPLOriginal, "%.4g"), num(ti.PPLRelease, "%.4g"))
		if ti.TaskItems > 0 {
			p("; HellaSwag acc_norm on %d items: original %s, release %s, chance %s", ti.TaskItems, num(ti.AccOriginal, "%.3f"), num(ti.AccRelease, "%.3f"), num(ti.AccChance, "%.3f"))
		}
		p(".")
		if ti.TaskItems > 0 && !isNaN(ti.AccOriginal) {
			lo, _ := metrics.WilsonCI(int(math.Round(float64(ti.AccOriginal)*float64(ti.TaskItems))), ti.TaskItems, 1.959964)
			if lo <= float64(ti.AccChance) {
				p(" The original's own 95%% interval on HellaSwag includes chance, so task accuracy cannot tell the models apart here; perplexity and agreement with the original can.")
			}
		}
		p("\n\n")
		for _, set := range []struct {
			name string
			pts  []TrainPoint
		}{{"Fine-tuning", res.Finetune}, {"Distillation", res.Distill}} {
			if len(set.pts) == 0 {
				continue
			}
			p("%s:\n\n| trained | steps | tokens | held-out ppl | KL to original | top-1 vs original | KL to release | top-1 vs release | acc_norm | train loss | steps/s |\n|---|---|---|---|---|---|---|---|---|---|---|\n", set.name)
			for _, t := range set.pts {
				sps := "–"
				if t.StepsPerSec > 0 {
					sps = fmt.Sprintf("%.2f", t.StepsPerSec)
				}
				p("| %s | %d | %d | %s | %s | %s | %s | %s | %s | %s | %s |\n", phaseName(t.Phase), t.Steps, t.Tokens, num(t.PPL, "%.4g"),
					num(t.KLToOriginal, "%.3g"), num(t.Top1Original, "%.4f"), num(t.KLToRelease, "%.3g"), num(t.Top1Release, "%.4f"),
					num(t.AccNorm, "%.3f"), num(t.TrainLoss, "%.4g"), sps)
			}
			p("\n")
		}
		for _, name := range []string{"loss.svg", "ppl.svg"} {
			if contains(plots, name) {
				p("![%s](%s)\n\n", strings.TrimSuffix(name, ".svg"), name)
			}
		}
	}
}

// writeSummary writes one line per attack with its headline numbers.
func writeSummary(w io.Writer, res *Results) {
	p := func(format string, a ...any) { fmt.Fprintf(w, format, a...) }
	p("\n## Summary\n\n")
	if a := res.Algebraic; a != nil {
		p("- Algebraic (file only): %.1f%% of the protected channels recovered", 100*a.FractionRecovered)
		if !isNaN(a.RelativeError) {
			p(", relative error %s", num(a.RelativeError, "%.2g"))
		}
		if !isNaN(a.KLToOriginal) {
			p(", recovered model's KL to the original %s", num(a.KLToOriginal, "%.2g"))
		}
		p(", %.3f s.\n", a.Seconds)
	}
	if r := res.Regression; r != nil && len(r.Points) > 0 {
		p("- Regression (public text): ")
		for _, pt := range r.Points {
			if float64(pt.RelativeError) < 0.01 {
				p("relative error below 1%% from %d tokens (%s, KL %s); ", pt.Tokens, num(pt.RelativeError, "%.2g"), num(pt.KLToOriginal, "%.2g"))
				break
			}
		}
		last := r.Points[len(r.Points)-1]
		p("at %d tokens relative error %s, KL %s.\n", last.Tokens, num(last.RelativeError, "%.2g"), num(last.KLToOriginal, "%.2g"))
	}
	for _, set := range []struct {
		name string
		pts  []TrainPoint
	}{{"Fine-tuning", res.Finetune}, {"Distillation", res.Distill}} {
		best := -1
		for i, t := range set.pts {
			if t.Steps > 0 && (best < 0 || float64(t.KLToOriginal) < float64(set.pts[best].KLToOriginal) || isNaN(set.pts[best].KLToOriginal)) {
				best = i
			}
		}
		if best >= 0 {
			t := set.pts[best]
			p("- %s: best after %d steps (%s): held-out perplexity %s", set.name, t.Steps, phaseName(t.Phase), num(t.PPL, "%.4g"))
			if res.Training != nil && !isNaN(res.Training.PPLOriginal) {
				p(" (original %s)", num(res.Training.PPLOriginal, "%.4g"))
			}
			p(", KL to the original %s, top-1 agreement %s.\n", num(t.KLToOriginal, "%.3g"), num(t.Top1Original, "%.3f"))
		}
	}
}

func pct(n eval.Num) string {
	if isNaN(n) {
		return "–"
	}
	return fmt.Sprintf("%.1f%%", 100*float64(n))
}

func methodList(m map[string]int) string {
	var keys []string
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s %d", k, m[k]))
	}
	if len(parts) == 0 {
		return "–"
	}
	return strings.Join(parts, ", ")
}

func contains(s []string, x string) bool {
	for _, v := range s {
		if v == x {
			return true
		}
	}
	return false
}
