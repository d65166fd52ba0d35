package chat

import (
	"strings"
	"unicode"
)

// StopFilter passes generated text on, holding back what may be the start of
// a stop sequence, and reports the first complete one, which is dropped with
// everything after it.
type StopFilter struct {
	// Stops are the stop sequences.
	Stops []string
	// Out receives the text; it is never called with "".
	Out func(text string) error
	// TrimLead drops the text's leading white space.
	TrimLead bool

	held string
}

// Write adds s and reports whether a stop sequence is now complete, after
// passing on the text before it. Text written after that is not expected.
func (f *StopFilter) Write(s string) (stopped bool, err error) {
	if f.TrimLead {
		s = strings.TrimLeftFunc(s, unicode.IsSpace)
		if s == "" {
			return false, nil
		}
		f.TrimLead = false
	}
	f.held += s
	cut := -1
	for _, stop := range f.Stops {
		if i := strings.Index(f.held, stop); stop != "" && i >= 0 && (cut < 0 || i < cut) {
			cut = i
		}
	}
	if cut >= 0 {
		err := f.send(f.held[:cut])
		f.held = ""
		return true, err
	}
	keep := 0 // the longest tail of held that starts a stop sequence
	for _, stop := range f.Stops {
		for k := min(len(stop)-1, len(f.held)); k > keep; k-- {
			if strings.HasSuffix(f.held, stop[:k]) {
				keep = k
				break
			}
		}
	}
	n := len(f.held) - keep
	err = f.send(f.held[:n])
	f.held = f.held[n:]
	return false, err
}

// Flush passes on the text held back, at the end of the generation.
func (f *StopFilter) Flush() error {
	s := f.held
	f.held = ""
	return f.send(s)
}

func (f *StopFilter) send(s string) error {
	if s == "" {
		return nil
	}
	return f.Out(s)
}
