package eval

import (
	"bytes"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/unswift/unswift/internal/plot"
)

// Table1Orders are the orders the report's summary table shows (those that
// were run), as the paper's Table 1 does.
var Table1Orders = []int{0, 2, 4, 6, 8}

// Plot sizes: PNG pixels, and the SVG's nominal size.
const (
	pngWidth, pngHeight = 900, 540
	svgWidth, svgHeight = 800, 480
)

// WriteReport writes dir/report.md, dir/results.json and the plots (PNG and
// SVG), creating dir.
func (r *Results) WriteReport(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	var js bytes.Buffer
	if err := r.WriteJSON(&js); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "results.json"), js.Bytes(), 0o644); err != nil {
		return err
	}
	charts := r.Charts()
	for _, c := range charts {
		var svg, png bytes.Buffer
		c.Chart.Width, c.Chart.Height = svgWidth, svgHeight
		if err := c.Chart.SVG(&svg); err != nil {
			return fmt.Errorf("plot %s: %w", c.Name, err)
		}
		if err := c.Chart.PNG(&png, pngWidth, pngHeight); err != nil {
			return fmt.Errorf("plot %s: %w", c.Name, err)
		}
		if err := os.WriteFile(filepath.Join(dir, c.Name+".svg"), svg.Bytes(), 0o644); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, c.Name+".png"), png.Bytes(), 0o644); err != nil {
			return err
		}
	}
	var md bytes.Buffer
	r.Markdown(&md, charts)
	return os.WriteFile(filepath.Join(dir, "report.md"), md.Bytes(), 0o644)
}

// NamedChart is a chart and the file name (without extension) it is written as.
type NamedChart struct {
	Name, Caption string
	Chart         *plot.Chart
}

// Charts returns the report's plots: fidelity vs N (the paper's Figure 5),
// latency vs N, accuracy vs N per task and, with releases, the frontier of
// KL against predicted slowdown.
func (r *Results) Charts() []NamedChart {
	var out []NamedChart
	rels := r.orderedReleases()
	if len(rels) == 0 {
		return nil
	}
	// With several releases each gets one color and a short name; the kind
	// of line tells the series of one release apart.
	multi := len(rels) > 1
	short := shortLabels(rels)
	name := func(i int, what string) string {
		if multi {
			return what + ", " + short[i]
		}
		return what
	}
	color := func(i int, single string) string {
		if multi {
			return releaseColors[i%len(releaseColors)]
		}
		return single
	}
	// Figure 5.
	fig := &plot.Chart{Title: "Fidelity vs order N: KL (left, log) and ROUGE-1 of greedy text (right)",
		XLabel: "order N", YLabel: "mean KL(original ‖ release), nats", Y2Label: "ROUGE-1 vs original", LogY: true, Y2Range: plot.Range{Min: 0, Max: 1}}
	for i, rr := range rels {
		x, kl, rouge := ordersX(rr), ordersY(rr, func(o *OrderResult) Num { return o.KLMean }), ordersY(rr, func(o *OrderResult) Num { return o.Rouge1 })
		fig.Series = append(fig.Series,
			plot.Series{Name: name(i, "KL"), X: x, Y: kl, Color: color(i, "")},
			plot.Series{Name: name(i, "ROUGE-1"), X: x, Y: rouge, Axis: 1, Dashed: true, Color: color(i, "")})
	}
	out = append(out, NamedChart{"fig5", "Fidelity vs order (the paper's Figure 5): mean per-token KL on held-out text (left, log scale) and ROUGE-1 of greedy continuations against the original's (right).", fig})

	// Latency.
	lat := &plot.Chart{Title: "Time per generated token vs order N", XLabel: "order N", YLabel: "ms per token (median of measurements)"}
	origWall, origCPU := float64(r.Original.GenMsPerToken), float64(r.Original.GenCPUMsPerToken)
	for i, rr := range rels {
		x := ordersX(rr)
		lat.Series = append(lat.Series,
			plot.Series{Name: name(i, "CPU time"), X: x, Y: ordersY(rr, func(o *OrderResult) Num { return o.GenCPUMsPerToken }), Color: color(i, "")},
			plot.Series{Name: name(i, "wall time"), X: x, Y: ordersY(rr, func(o *OrderResult) Num { return o.GenMsPerToken }), NoLine: multi, Color: color(i, "")})
		if !math.IsNaN(origCPU) {
			pred := ordersY(rr, func(o *OrderResult) Num { return Num(float64(o.PredictedSlowdownFile) * origCPU) })
			lat.Series = append(lat.Series, plot.Series{Name: name(i, "predicted"), X: x, Y: pred, Dashed: true, Color: color(i, "")})
		}
	}
	switch {
	case math.IsNaN(origCPU):
		lat.HLines = []plot.HLine{{Y: origWall, Label: fmt.Sprintf("original, wall: %.3g ms", origWall)}}
	case math.Abs(origWall-origCPU) < 0.15*origCPU: // one line, or the labels collide
		lat.HLines = []plot.HLine{{Y: origCPU, Label: fmt.Sprintf("original: CPU %.3g ms, wall %.3g ms", origCPU, origWall)}}
	default:
		lat.HLines = []plot.HLine{{Y: origCPU, Label: fmt.Sprintf("original, CPU: %.3g ms", origCPU)},
			{Y: origWall, Label: fmt.Sprintf("original, wall: %.3g ms", origWall), Color: "#999999"}}
	}
	latCaption := "Time per generated token against the order, measured interleaved with the original (horizontal lines: the original; dashed: predicted, the original's CPU time times the release's weight bytes per token over the original file's)."
	if multi {
		latCaption += " Wall times are drawn as markers only."
	}
	out = append(out, NamedChart{"latency", latCaption, lat})

	// Tasks.
	for _, t := range r.Settings.Tasks {
		metrics := taskMetrics(t)
		c := &plot.Chart{Title: "Task accuracy vs order N: " + t, XLabel: "order N", YLabel: "score"}
		lo, hi := 1.0, 0.0
		for i, rr := range rels {
			x := ordersX(rr)
			for k, m := range metrics {
				y := ordersY(rr, func(o *OrderResult) Num { return m.get(o.Tasks) })
				c.Series = append(c.Series, plot.Series{Name: name(i, m.label), X: x, Y: y, Dashed: multi && k > 0, Color: color(i, "")})
				for _, v := range y {
					if !math.IsNaN(v) {
						lo, hi = min(lo, v), max(hi, v)
					}
				}
			}
		}
		for _, m := range metrics {
			v := float64(m.get(r.Original.Tasks))
			ch := float64(m.chance(r.Original.Tasks))
			c.HLines = append(c.HLines, plot.HLine{Y: v, Label: fmt.Sprintf("original %s %.3f", m.label, v)})
			if !slices.ContainsFunc(c.HLines, func(h plot.HLine) bool { return h.Y == ch }) {
				c.HLines = append(c.HLines, plot.HLine{Y: ch, Label: fmt.Sprintf("chance %.3f", ch), Color: "#999999"})
			}
			lo, hi = min(lo, v, ch), max(hi, v, ch)
		}
		if lo <= hi {
			pad := max(0.02, (hi-lo)*0.15)
			c.YRange = plot.Range{Min: max(0, lo-pad), Max: min(1, hi+pad)}
		}
		out = append(out, NamedChart{"tasks-" + t, fmt.Sprintf("%s against the order (horizontal lines: the original and the chance level).", t), c})
	}

	// Frontier.
	fr := &plot.Chart{Title: "Fidelity per cost: mean KL vs predicted slowdown", XLabel: "predicted slowdown (weight bytes per token, × original)", YLabel: "mean KL(original ‖ release), nats", LogY: true}
	for i, rr := range rels {
		var x, y []float64
		var labels []string
		for i := range rr.Orders {
			o := &rr.Orders[i]
			x = append(x, float64(o.PredictedSlowdown))
			y = append(y, float64(o.KLMean))
			labels = append(labels, "N="+strconv.Itoa(o.Order))
		}
		fr.Series = append(fr.Series, plot.Series{Name: short[i], X: x, Y: y, Labels: labels, Color: color(i, "")})
	}
	out = append(out, NamedChart{"frontier", "The fidelity-per-cost frontier: mean KL against the predicted slowdown, one curve per release, points labelled by order.", fr})
	return out
}

// releaseColors tell releases apart in plots with several.
var releaseColors = []string{"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"}

// shortLabels names each release in legends as briefly as keeps them apart:
// by basis, then by basis and expansion rule, else by file name.
func shortLabels(rels []*ReleaseResult) []string {
	for _, f := range []func(*ReleaseResult) string{
		func(r *ReleaseResult) string { return r.Basis },
		func(r *ReleaseResult) string { return r.Basis + " " + r.ExpandRule },
		func(r *ReleaseResult) string { return baseName(r.File.Path) },
	} {
		var out []string
		for _, r := range rels {
			out = append(out, f(r))
		}
		s := slices.Clone(out)
		slices.Sort(s)
		if len(slices.Compact(s)) == len(out) {
			return out
		}
	}
	out := make([]string, len(rels))
	for i, r := range rels {
		out[i] = fmt.Sprintf("%d: %s", i+1, baseName(r.File.Path))
	}
	return out
}

// orderedReleases are the releases that have orders (plain copies excluded from plots).
func (r *Results) orderedReleases() []*ReleaseResult {
	var out []*ReleaseResult
	for i := range r.Releases {
		if r.Releases[i].ReleasedOrder >= 0 {
			out = append(out, &r.Releases[i])
		}
	}
	return out
}

func ordersX(rr *ReleaseResult) []float64 {
	x := make([]float64, len(rr.Orders))
	for i := range rr.Orders {
		x[i] = float64(rr.Orders[i].Order)
	}
	return x
}

func ordersY(rr *ReleaseResult, f func(*OrderResult) Num) []float64 {
	y := make([]float64, len(rr.Orders))
	for i := range rr.Orders {
		y[i] = float64(f(&rr.Orders[i]))
	}
	return y
}

// taskMetric reads one metric of a task from a score map.
type taskMetric struct {
	label  string
	get    func(map[string]TaskScore) Num
	ci     func(map[string]TaskScore) [2]Num
	chance func(map[string]TaskScore) Num
}

func taskMetrics(task string) []taskMetric {
	simple := func(key, label string) taskMetric {
		return taskMetric{label: label,
			get: func(m map[string]TaskScore) Num {
				if s, ok := m[key]; ok {
					return s.Acc
				}
				return Num(math.NaN())
			},
			ci: func(m map[string]TaskScore) [2]Num {
				if s, ok := m[key]; ok {
					return s.AccCI
				}
				return [2]Num{Num(math.NaN()), Num(math.NaN())}
			},
			chance: func(m map[string]TaskScore) Num {
				if s, ok := m[key]; ok {
					return s.Chance
				}
				return Num(math.NaN())
			}}
	}
	switch task {
	case "hellaswag":
		norm := taskMetric{label: "acc_norm",
			get: func(m map[string]TaskScore) Num {
				if s, ok := m["hellaswag"]; ok && s.AccNorm != nil {
					return *s.AccNorm
				}
				return Num(math.NaN())
			},
			ci: func(m map[string]TaskScore) [2]Num {
				if s, ok := m["hellaswag"]; ok && s.AccNormCI != nil {
					return *s.AccNormCI
				}
				return [2]Num{Num(math.NaN()), Num(math.NaN())}
			},
			chance: func(m map[string]TaskScore) Num {
				if s, ok := m["hellaswag"]; ok && s.AccNormChance != nil {
					return *s.AccNormChance
				}
				return Num(math.NaN())
			}}
		acc := simple("hellaswag", "acc")
		return []taskMetric{acc, norm}
	case "truthfulqa":
		return []taskMetric{simple("truthfulqa_mc1", "MC1"), simple("truthfulqa_mc2", "MC2")}
	}
	return nil
}

// Markdown writes the report.
func (r *Results) Markdown(b io.Writer, charts []NamedChart) {
	p := func(format string, a ...any) { fmt.Fprintf(b, format, a...) }
	o := &r.Original
	rels := r.orderedReleases()
	if len(r.Releases) == 0 {
		p("# Evaluation of %s\n\n", baseName(o.File.Path))
	} else {
		var names []string
		for i := range r.Releases {
			names = append(names, "`"+baseName(r.Releases[i].File.Path)+"`")
		}
		p("# Evaluation of %s against %s\n\n", strings.Join(names, ", "), "`"+baseName(o.File.Path)+"`")
	}
	p("Written by `unswift eval` on %s. Every number is also in [results.json](results.json).\n\n", r.Machine.Date)
	if r.Settings.Command != "" {
		p("```sh\n%s\n```\n\n", r.Settings.Command)
	}
	if r.Settings.Note != "" {
		p("%s\n\n", r.Settings.Note)
	}

	// What was compared.
	p("## Models and data\n\n")
	p("| | file | SHA-256 | details |\n|---|---|---|---|\n")
	mi := o.Model
	p("| original | `%s` | `%s…` | %s, dim %d, hidden %d, %d layers, %d heads (%d kv), vocab %d, context %d |\n",
		o.File.Path, short(o.File.SHA256), mi.Format, mi.Dim, mi.Hidden, mi.Layers, mi.Heads, mi.KVHeads, mi.Vocab, mi.Context)
	for i := range r.Releases {
		rr := &r.Releases[i]
		det := "plain model (compared as is)"
		if rr.ReleasedOrder >= 0 {
			det = fmt.Sprintf("basis %s, released at N = %d, expand %s, %.1f%% of MLP channels expanded", rr.Basis, rr.ReleasedOrder, rr.ExpandRule, 100*float64(rr.ExpandedShare))
			if rr.Tail != "" {
				det += ", tail " + rr.Tail
			}
			if len(rr.SkippedOrders) > 0 {
				det += fmt.Sprintf("; orders %v skipped (above N)", rr.SkippedOrders)
			}
		}
		p("| release | `%s` | `%s…` | %s |\n", rr.File.Path, short(rr.File.SHA256), det)
	}
	p("| data | `%s` | `%s…` | %d tokens |\n\n", r.Data.Path, short(r.Data.SHA256), r.Settings.DataTokens)
	p("- **Held-out text**: %s. (`unswift secure` calibrates on the *first* tokens of its file, so the end of the same file is text the release never saw.)\n", r.Settings.HeldOut)
	if r.Settings.PPLProtocol == "paragraphs" {
		p("- **Perplexity**: paragraph protocol on the whole data file: its first %d blank-line separated paragraphs, each encoded with BOS and truncated to the context; NLL of tokens 1..n−1 summed in float64; bits per byte over the paragraphs' bytes. These paragraphs come from the start of the file and may overlap a calibration slice there; the KL above is always measured on the held-out end.\n", ParagraphPieces)
	} else {
		p("- **Perplexity**: teacher-forced on the held-out windows (every token after BOS predicted); bits per byte over the UTF-8 bytes of the predicted tokens' text.\n")
	}
	p("- **Generation**: greedy, %d new tokens at most (fewer at EOS or a full context), from %d prompts: %s.\n", r.Settings.GenTokens, len(r.Prompts), r.Settings.PromptSource)
	if len(r.Settings.Tasks) > 0 {
		var lim []string
		for _, t := range r.Settings.Tasks {
			n := r.Settings.TaskLimits[t]
			if n < 0 {
				lim = append(lim, t+": every item")
			} else {
				lim = append(lim, fmt.Sprintf("%s: %d items", t, n))
			}
		}
		p("- **Tasks**: %s, a random sample with seed %d (in file order), scored as lm-evaluation-harness scores multiple choice (summed log-likelihood of \" \"+ending after the context; acc_norm divides by the ending's length in characters). Context and continuation are encoded together and split at the context's token count; a context too long for the model loses its oldest tokens (BOS kept), once per question for its longest ending.\n", strings.Join(lim, ", "), r.Settings.Seed)
	} else {
		p("- **Tasks**: none.\n")
	}
	co := r.Settings.Cost
	p("- **Cost**: %d round(s) after a warm-up, each measuring the original before and after every release order (A B A C A D … A) on %d thread(s); a measurement repeats a batch of %d random prompt tokens followed by %d tokens generated greedily one at a time until the one-at-a-time steps took %d ms. Wall and CPU time per generated token are the medians over measurements; a slowdown is the median over rounds of the release's time over the mean of the two original measurements around it (moments apart, so load drifts cancel), with the smallest and largest ratio as its range. CPU time leaves out the time the process waited for a core, which wall time on a shared machine includes, so on a loaded machine the CPU slowdown is the trustworthy one. Predicted slowdown: weight bytes read per token over the original's.\n\n", co.Rounds, co.Threads, co.PromptTokens, co.GenTokens, co.MinMillis)

	// Table 1.
	if len(rels) > 0 {
		for _, rr := range rels {
			r.table1(b, rr, len(rels) > 1)
		}
	} else {
		p("## The original\n\n")
		p("| metric | value |\n|---|---|\n")
		p("| perplexity | %s |\n| bits per byte | %s |\n", f4(o.PPL), f4(o.BitsPerByte))
		for _, t := range r.Settings.Tasks {
			for _, m := range taskMetrics(t) {
				ci := m.ci(o.Tasks)
				p("| %s %s (chance %s) | %s [%s, %s] |\n", t, m.label, f3(m.chance(o.Tasks)), f3(m.get(o.Tasks)), f3(ci[0]), f3(ci[1]))
			}
		}
		p("| generation, wall time | %s ms/token (range %s–%s) |\n", f3(o.GenMsPerToken), f3(o.GenMsRange[0]), f3(o.GenMsRange[1]))
		p("| generation, CPU time | %s ms/token (range %s–%s) |\n", f3(o.GenCPUMsPerToken), f3(o.GenCPUMsRange[0]), f3(o.GenCPUMsRange[1]))
		p("| prompt throughput | %.0f tokens/s |\n\n", float64(o.PromptTokensPerS))
	}

	// Full per-order tables.
	for _, rr := range rels {
		title := "## Every order"
		if len(rels) > 1 {
			title += ": " + rr.Label()
		}
		p("%s\n\n", title)
		p("| N | mean KL | p99 KL | max KL | top-1 | PPL | bits/byte | ROUGE-1 | ROUGE-L | identical | agreeing tokens |\n")
		p("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
		p("| original | 0 | 0 | 0 | 1 | %s | %s | 1 | 1 | %d/%d | |\n", f4(o.PPL), f4(o.BitsPerByte), len(r.Prompts), len(r.Prompts))
		for i := range rr.Orders {
			x := &rr.Orders[i]
			p("| %d | %s | %s | %s | %s | %s | %s | %s | %s | %d/%d | %s |\n", x.Order,
				sci(x.KLMean), sci(x.KLP99), sci(x.KLMax), f4(x.Top1), f4(x.PPL), f4(x.BitsPerByte), f3(x.Rouge1), f3(x.RougeL),
				x.Identical, len(r.Prompts), f1(x.MeanAgreeing))
		}
		p("\nKL in nats per token (%d held-out predictions); top-1: share of positions where both models' most likely token agrees; identical: greedy continuations equal token for token; agreeing tokens: mean count of leading generated tokens that agree.\n\n", rr.Orders[0].HeldOutTokens)
		p("Cost at every order (ms per generated token: median [smallest–largest measurement]; slowdown: median [range] of the paired per-round ratios):\n\n")
		p("| N | wall ms/token | slowdown (wall) | CPU ms/token | slowdown (CPU) | predicted slowdown | predicted vs original file | prompt tokens/s |\n|---:|---:|---:|---:|---:|---:|---:|---:|\n")
		p("| original | %s [%s–%s] | 1 | %s [%s–%s] | 1 | 1 | 1 | %.0f |\n", f3(o.GenMsPerToken), f3(o.GenMsRange[0]), f3(o.GenMsRange[1]),
			f3(o.GenCPUMsPerToken), f3(o.GenCPUMsRange[0]), f3(o.GenCPUMsRange[1]), float64(o.PromptTokensPerS))
		for i := range rr.Orders {
			x := &rr.Orders[i]
			p("| %d | %s [%s–%s] | %s× [%s–%s] | %s [%s–%s] | %s× [%s–%s] | %s× | %s× | %.0f |\n", x.Order,
				f3(x.GenMsPerToken), f3(x.GenMsRange[0]), f3(x.GenMsRange[1]), f2(x.Slowdown), f2(x.SlowdownRange[0]), f2(x.SlowdownRange[1]),
				f3(x.GenCPUMsPerToken), f3(x.GenCPUMsRange[0]), f3(x.GenCPUMsRange[1]), f2(x.SlowdownCPU), f2(x.SlowdownCPURange[0]), f2(x.SlowdownCPURange[1]),
				f2(x.PredictedSlowdown), f2(x.PredictedSlowdownFile), float64(x.PromptTokensPerS))
		}
		p("\n")
		if x := rr.Orders[0]; math.Abs(float64(x.PredictedSlowdownFile)/float64(x.PredictedSlowdown)-1) > 0.01 {
			p("The release stores the tensors it copies in another type than the original file (a llama2.c Q8_0 checkpoint's are released dequantized to F32), so even at N = %d it reads %s× the original file's bytes per token: the *predicted* column counts only what the TaylorMLP adds (against the same file with the original down projections back), *vs original file* counts everything. Measured slowdowns are against the original file.\n\n", x.Order, f2(Num(float64(x.PredictedSlowdownFile)/float64(x.PredictedSlowdown))))
		}
		if len(r.Settings.Tasks) > 0 {
			p("Task scores at every order:\n\n| N |")
			var ms []taskMetric
			for _, t := range r.Settings.Tasks {
				for _, m := range taskMetrics(t) {
					ms = append(ms, m)
					p(" %s %s |", t, m.label)
				}
			}
			p("\n|---:|%s\n| original |", strings.Repeat("---:|", len(ms)))
			for _, m := range ms {
				p(" %s |", f3(m.get(o.Tasks)))
			}
			p("\n")
			for i := range rr.Orders {
				x := &rr.Orders[i]
				p("| %d |", x.Order)
				for _, m := range ms {
					p(" %s |", f3(m.get(x.Tasks)))
				}
				p("\n")
			}
			p("\n")
		}
	}
	// Plain copies.
	for i := range r.Releases {
		rr := &r.Releases[i]
		if rr.ReleasedOrder >= 0 {
			continue
		}
		x := &rr.Orders[0]
		p("## %s (plain)\n\nmean KL %s (max %s), top-1 %s, ROUGE-1 %s, ROUGE-L %s, identical %d/%d, %s ms/token (CPU-time slowdown %s×).\n\n",
			baseName(rr.File.Path), sci(x.KLMean), sci(x.KLMax), f4(x.Top1), f3(x.Rouge1), f3(x.RougeL), x.Identical, len(r.Prompts), f3(x.GenMsPerToken), f2(x.SlowdownCPU))
	}

	// Plots.
	if len(charts) > 0 {
		p("## Plots\n\n")
		for _, c := range charts {
			p("![%s](%s.png)\n\n%s ([SVG](%s.svg))\n\n", c.Chart.Title, c.Name, c.Caption, c.Name)
		}
	}

	// Generations.
	if len(r.Prompts) > 0 {
		if len(rels) > 0 {
			p("## How the text changes with N\n\n")
		} else {
			p("## Generation\n\n")
		}
		p("Greedy continuations of the first prompt, %q:\n\n", r.Prompts[0])
		p("| model | continuation |\n|---|---|\n")
		p("| original | %s |\n", cell(o.Generations[0]))
		for _, rr := range rels {
			for i := range rr.Orders {
				x := &rr.Orders[i]
				label := fmt.Sprintf("N = %d", x.Order)
				if len(rels) > 1 {
					label = rr.Label() + " " + label
				}
				p("| %s | %s |\n", label, cell(x.Generations[0]))
			}
		}
		p("\n")
	}

	// Time.
	p("## Time\n\n| phase | wall | CPU |\n|---|---:|---:|\n")
	for _, t := range r.Timings {
		p("| %s | %.1f s | %.1f s |\n", t.Phase, float64(t.WallS), float64(t.CPUS))
	}
	p("| **total** | **%.1f s** | **%.1f s** |\n\n", float64(r.Machine.WallTotalS), float64(r.Machine.CPUTotalS))
	workers := "each matrix product split over the threads"
	if r.Machine.Workers > 1 {
		workers = fmt.Sprintf("%d independent single-thread workers (windows, prompts and task items in parallel)", r.Machine.Workers)
	}
	p("Machine: %s, %d logical CPUs, %s, %s; %s. Load average %s at the start, %s at the end (other processes share the machine when it exceeds the core count: wall times then stretch, CPU times much less).\n",
		orUnknown(r.Machine.CPU), r.Machine.Cores, r.Machine.GoVersion, r.Machine.OS, workers, orUnknown(r.Machine.LoadStart), orUnknown(r.Machine.LoadEnd))
}

// table1 writes the paper's Table 1 analogue for one release.
func (r *Results) table1(b io.Writer, rr *ReleaseResult, multi bool) {
	p := func(format string, a ...any) { fmt.Fprintf(b, format, a...) }
	o := &r.Original
	var cols []*OrderResult
	for _, n := range Table1Orders {
		for i := range rr.Orders {
			if rr.Orders[i].Order == n {
				cols = append(cols, &rr.Orders[i])
			}
		}
	}
	var ns []string
	for _, c := range cols {
		ns = append(ns, strconv.Itoa(c.Order))
	}
	title := "## Table 1: the original against the release at N = " + strings.Join(ns, ", ")
	if multi {
		title += " — " + rr.Label()
	}
	p("%s\n\n| task | metric (chance) | original [95%% CI] |", title)
	for _, c := range cols {
		p(" N = %d |", c.Order)
	}
	p("\n|---|---|---:|%s\n", strings.Repeat("---:|", len(cols)))
	for _, t := range r.Settings.Tasks {
		for _, m := range taskMetrics(t) {
			ci := m.ci(o.Tasks)
			p("| %s | %s (%s) | %s [%s, %s] |", t, m.label, f3(m.chance(o.Tasks)), f3(m.get(o.Tasks)), f3(ci[0]), f3(ci[1]))
			for _, c := range cols {
				p(" %s |", f3(m.get(c.Tasks)))
			}
			p("\n")
		}
	}
	p("| held-out text | mean KL (nats) | 0 |")
	for _, c := range cols {
		p(" %s |", sci(c.KLMean))
	}
	p("\n| held-out text | perplexity | %s |", f3(o.PPL))
	for _, c := range cols {
		p(" %s |", f3(c.PPL))
	}
	p("\n| generation | ROUGE-1 vs original | 1 |")
	for _, c := range cols {
		p(" %s |", f3(c.Rouge1))
	}
	p("\n| cost | latency per token, wall (slowdown) | %s ms |", f3(o.GenMsPerToken))
	for _, c := range cols {
		p(" %s ms (%s×) |", f3(c.GenMsPerToken), f2(c.Slowdown))
	}
	p("\n| cost | CPU time per token (slowdown) | %s ms |", f3(o.GenCPUMsPerToken))
	for _, c := range cols {
		p(" %s ms (%s×) |", f3(c.GenCPUMsPerToken), f2(c.SlowdownCPU))
	}
	p("\n| cost | predicted slowdown | 1× |")
	for _, c := range cols {
		p(" %s× |", f2(c.PredictedSlowdown))
	}
	p("\n\n")
	if len(r.Settings.Tasks) > 0 {
		n := []string{}
		for _, t := range r.Settings.Tasks {
			for k, s := range o.Tasks {
				if strings.HasPrefix(k, t) && !slices.Contains(n, fmt.Sprintf("%s %d", t, s.N)) {
					n = append(n, fmt.Sprintf("%s %d", t, s.N))
				}
			}
		}
		for _, t := range r.Settings.Tasks {
			if k := r.Settings.TaskSkipped[t]; k > 0 {
				n = append(n, fmt.Sprintf("%d %s items dropped: an ending longer than the model's context", k, t))
			}
		}
		p("Items scored: %s. The 95%% interval (Wilson for accuracies, normal for the MC2 mean) shows how far a score may move by chance alone: differences between columns smaller than that are noise.\n\n", strings.Join(n, ", "))
	}
}

func short(h string) string {
	if len(h) > 12 {
		return h[:12]
	}
	return h
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

func fmtNum(v Num, f func(float64) string) string {
	x := float64(v)
	if math.IsNaN(x) {
		return "–"
	}
	return f(x)
}

func f1(v Num) string {
	return fmtNum(v, func(x float64) string { return strconv.FormatFloat(x, 'f', 1, 64) })
}
func f2(v Num) string {
	return fmtNum(v, func(x float64) string { return strconv.FormatFloat(x, 'f', 2, 64) })
}
func f3(v Num) string {
	return fmtNum(v, func(x float64) string { return strconv.FormatFloat(x, 'f', 3, 64) })
}
func f4(v Num) string {
	return fmtNum(v, func(x float64) string { return strconv.FormatFloat(x, 'f', 4, 64) })
}
func sci(v Num) string {
	return fmtNum(v, func(x float64) string {
		if x == 0 {
			return "0"
		}
		return strconv.FormatFloat(x, 'e', 2, 64)
	})
}

// cell makes text fit a markdown table cell: one line, pipes escaped, cut
// to about 300 characters.
func cell(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > 300 {
		s = string(r[:300]) + "…"
	}
	return strings.ReplaceAll(s, "|", `\|`)
}
