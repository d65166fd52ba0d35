package plot

import (
	"bytes"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

// sampleCharts are charts like the evaluation reports draw.
func sampleCharts() map[string]*Chart {
	var ns, kl, rouge []float64
	var nlabels []string
	for n := 0; n <= 12; n++ {
		ns = append(ns, float64(n))
		kl = append(kl, 3*math.Exp(-1.6*float64(n))+1e-7)
		rouge = append(rouge, 1-0.85*math.Exp(-0.45*float64(n*n)/4))
		nlabels = append(nlabels, "N="+strconv.Itoa(n))
	}
	lat := []float64{0.0031, 0.0062, 0.0089, 0.0121, 0.0148, 0.0182, 0.0213, 0.0240, 0.0271}
	flat := make([]float64, len(lat))
	copy(flat, kl[:len(lat)])
	return map[string]*Chart{
		"fig5": {
			Title:   "TaylorMLP fidelity vs expansion order",
			XLabel:  "Taylor order N",
			YLabel:  "KL(P‖Q), nats",
			Y2Label: "ROUGE-1 of greedy text",
			LogY:    true,
			Y2Range: Range{0, 1},
			Series: []Series{
				{Name: "mean KL", X: ns, Y: kl},
				{Name: "ROUGE-1", X: ns, Y: rouge, Axis: 1, Dashed: true},
			},
		},
		"frontier": {
			Title:  "Latency vs fidelity",
			XLabel: "seconds per token",
			YLabel: "mean KL (nats)",
			LogY:   true,
			Series: []Series{
				{Name: "TaylorMLP", X: lat, Y: flat, Labels: nlabels[:len(lat)]},
			},
			HLines: []HLine{{Y: 0.5, Label: "original model KL = 0.5 (reference)"}},
		},
		"accuracy": {
			Title:  "Task accuracy vs order (chance dashed)",
			XLabel: "Taylor order N",
			YLabel: "accuracy",
			YRange: Range{0, 1},
			Series: []Series{
				{Name: "HellaSwag acc_norm", X: ns[:9], Y: []float64{0.26, 0.27, 0.29, 0.33, 0.38, 0.40, 0.41, 0.41, 0.41}},
				{Name: "TruthfulQA MC1", X: ns[:9], Y: []float64{0.20, 0.21, 0.22, 0.24, 0.25, 0.26, 0.26, 0.26, 0.26}},
				{Name: "TruthfulQA MC2", X: ns[:9], Y: []float64{0.45, 0.46, 0.47, 0.50, 0.52, 0.53, 0.53, 0.53, 0.53}},
				{Name: "original (MC2)", X: []float64{8}, Y: []float64{0.535}, NoLine: true},
			},
			HLines: []HLine{{Y: 0.25, Label: "HellaSwag chance 0.25"}, {Y: 0.4637, Label: "MC2 chance 0.464", Color: "#2ca02c"}},
		},
		"latency": {
			Title:  "Latency per token",
			XLabel: "Taylor order N",
			YLabel: "ms per token",
			Series: []Series{
				{Name: "TaylorMLP", X: ns[:9], Y: []float64{3.3, 6.1, 8.9, 12.0, 14.9, 18.3, 21.1, 24.0, 27.2}},
				{Name: "plain MLP (measured)", X: ns[:9], Y: []float64{3.1, 3.1, 3.2, 3.1, 3.1, 3.2, 3.1, 3.1, 3.2}, Dashed: true},
			},
			HLines: []HLine{{Y: 3.1, Label: "original: 3.1 ms"}},
		},
	}
}

// TestSamples renders the sample charts; with PLOT_SAMPLES=dir set it keeps them
// there for looking at.
func TestSamples(t *testing.T) {
	dir := os.Getenv("PLOT_SAMPLES")
	if dir == "" {
		dir = t.TempDir()
	}
	for name, c := range sampleCharts() {
		var svg, img bytes.Buffer
		if err := c.SVG(&svg); err != nil {
			t.Fatalf("%s: SVG: %v", name, err)
		}
		if err := c.PNG(&img, 800, 500); err != nil {
			t.Fatalf("%s: PNG: %v", name, err)
		}
		os.WriteFile(filepath.Join(dir, name+".svg"), svg.Bytes(), 0o644)
		os.WriteFile(filepath.Join(dir, name+".png"), img.Bytes(), 0o644)
		for _, size := range [][2]int{{400, 250}, {1600, 1000}} {
			img.Reset()
			if err := c.PNG(&img, size[0], size[1]); err != nil {
				t.Fatalf("%s: PNG %v: %v", name, size, err)
			}
			os.WriteFile(filepath.Join(dir, fmt.Sprintf("%s_%d.png", name, size[0])), img.Bytes(), 0o644)
		}
	}
}
