package chat

import (
	"strings"
	"testing"
)

func TestStopFilter(t *testing.T) {
	for _, tc := range []struct {
		name    string
		stops   []string
		pieces  []string
		trim    bool
		want    string
		stopped bool
	}{
		{"no stops", nil, []string{"a", "b", "c"}, false, "abc", false},
		{"stop inside a piece", []string{"lo w"}, []string{"hel", "lo wor", "ld"}, false, "hel", true},
		{"stop across pieces", []string{"abc"}, []string{"xa", "b", "cy"}, false, "x", true},
		{"false start released", []string{"abc"}, []string{"xa", "b", "d"}, false, "xabd", false},
		{"earliest of several", []string{"c", "b"}, []string{"abc"}, false, "a", true},
		{"overlapping prefixes", []string{"aab"}, []string{"a", "a", "a", "b"}, false, "a", true},
		{"prefix held at the end", []string{"user:"}, []string{"hi\nus"}, false, "hi\nus", false},
		{"leading space trimmed", nil, []string{" ", "\n ", "Hi there"}, true, "Hi there", false},
		{"multibyte stop", []string{"é!"}, []string{"caf", "é", "!"}, false, "caf", true},
		{"empty stop ignored", []string{""}, []string{"a", "b"}, false, "ab", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out strings.Builder
			f := &StopFilter{Stops: tc.stops, TrimLead: tc.trim, Out: func(s string) error {
				if s == "" {
					t.Error("empty text passed on")
				}
				out.WriteString(s)
				return nil
			}}
			stopped := false
			for _, p := range tc.pieces {
				var err error
				if stopped, err = f.Write(p); err != nil {
					t.Fatal(err)
				}
				if stopped {
					break
				}
			}
			if !stopped {
				if err := f.Flush(); err != nil {
					t.Fatal(err)
				}
			}
			if out.String() != tc.want || stopped != tc.stopped {
				t.Errorf("got %q (stopped %v), want %q (stopped %v)", out.String(), stopped, tc.want, tc.stopped)
			}
		})
	}
}

// FuzzStopFilter checks the stop filter against a direct reference: after
// each piece, if the text so far contains a stop sequence the output is the
// text before the earliest one; the output never contains a stop sequence.
func FuzzStopFilter(f *testing.F) {
	f.Add("hello world", "lo w", "", uint8(3))
	f.Add("aaab", "aab", "b", uint8(1))
	f.Add("abcd", "abcd", "bc", uint8(1))
	f.Add("café!", "é!", "", uint8(2))
	f.Fuzz(func(t *testing.T, text, stop1, stop2 string, size uint8) {
		var stops []string
		for _, s := range []string{stop1, stop2} {
			if s != "" {
				stops = append(stops, s)
			}
		}
		n := int(size%8) + 1
		var out strings.Builder
		fl := &StopFilter{Stops: stops, Out: func(s string) error { out.WriteString(s); return nil }}
		want, stopped := text, false
		for i := 0; i < len(text) && !stopped; i += n {
			end := min(i+n, len(text))
			prefix := text[:end]
			cut := -1
			for _, s := range stops {
				if j := strings.Index(prefix, s); j >= 0 && (cut < 0 || j < cut) {
					cut = j
				}
			}
			got, err := fl.Write(text[i:end])
			if err != nil {
				t.Fatal(err)
			}
			switch {
			case cut >= 0 && !got:
				t.Fatalf("text %q contains a stop of %q but the filter went on", prefix, stops)
			case cut >= 0:
				want, stopped = prefix[:cut], true
			case got:
				t.Fatalf("stopped early at %q", prefix)
			}
		}
		if !stopped {
			fl.Flush()
		}
		if out.String() != want {
			t.Fatalf("text %q, stops %q, pieces of %d: got %q, want %q", text, stops, n, out.String(), want)
		}
	})
}
