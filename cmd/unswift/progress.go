package main

import (
	"fmt"
	"io"
	"time"
)

// progress draws a one-line progress bar with an ETA on stderr.
type progress struct {
	w     io.Writer
	label string
	start time.Time
	last  time.Time
	drawn bool
}

func newProgress(w io.Writer, label string) *progress {
	return &progress{w: w, label: label, start: time.Now()}
}

func (p *progress) update(done, total int) {
	now := time.Now()
	if done < total && now.Sub(p.last) < 100*time.Millisecond {
		return
	}
	p.last = now
	frac := float64(done) / float64(max(total, 1))
	const width = 30
	bar := make([]byte, width)
	for i := range bar {
		bar[i] = ' '
		if float64(i) < frac*width {
			bar[i] = '='
		}
	}
	eta := ""
	if done > 0 && done < total {
		el := now.Sub(p.start)
		eta = fmt.Sprintf(" ETA %s", (time.Duration(float64(el)/frac) - el).Round(time.Second))
	}
	fmt.Fprintf(p.w, "\r%s [%s] %d/%d%s   ", p.label, bar, done, total, eta)
	p.drawn = true
}

func (p *progress) done() {
	if p.drawn {
		fmt.Fprintf(p.w, " %s\n", time.Since(p.start).Round(time.Millisecond))
	}
}
