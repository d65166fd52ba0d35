package main

import (
	"fmt"
	"io"
	"os"
	"time"
)

// progress draws a one-line progress bar with an ETA on stderr.
// On a terminal it redraws in place ten times a second; elsewhere (a log
// file, CI) it prints a line every five seconds.
type progress struct {
	w     io.Writer
	label string
	start time.Time
	last  time.Time
	drawn bool
	tty   bool
}

func newProgress(w io.Writer, label string) *progress {
	p := &progress{w: w, label: label, start: time.Now()}
	if f, ok := w.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			p.tty = true
		}
	}
	return p
}

func (p *progress) update(done, total int) {
	now := time.Now()
	every := 100 * time.Millisecond
	if !p.tty {
		every = 5 * time.Second
		if p.last.IsZero() {
			p.last = now // no line at the very start
		}
	}
	if done < total && now.Sub(p.last) < every {
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
	if p.tty {
		fmt.Fprintf(p.w, "\r%s [%s] %d/%d%s   ", p.label, bar, done, total, eta)
		p.drawn = true
	} else if done < total {
		fmt.Fprintf(p.w, "%s %d/%d%s\n", p.label, done, total, eta)
	}
}

func (p *progress) done() {
	switch {
	case p.drawn:
		fmt.Fprintf(p.w, " %s\n", time.Since(p.start).Round(time.Millisecond))
	case !p.tty:
		fmt.Fprintf(p.w, "%s done in %s\n", p.label, time.Since(p.start).Round(time.Millisecond))
	}
}
