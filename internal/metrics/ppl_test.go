package metrics

import (
	"math"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/unswift/unswift/internal/shared"
)

func TestPPL(t *testing.T) {
	// A model that gives every token probability 1/4 has NLL ln 4 per token and
	// perplexity 4; over 10 tokens encoding 20 bytes that is 10·2 bits / 20 bytes.
	var p PPL
	p.Add(PPL{NLL: 6 * math.Log(4), Tokens: 6, Bytes: 12})
	p.Add(PPL{NLL: 4 * math.Log(4), Tokens: 4, Bytes: 8})
	if got := p.PPL(); !near(got, 4, 1e-14) {
		t.Errorf("PPL = %.16g, want 4", got)
	}
	if got := p.BitsPerByte(); !near(got, 1, 1e-14) {
		t.Errorf("BitsPerByte = %.16g, want 1", got)
	}
	var zero PPL
	if !math.IsNaN(zero.PPL()) || !math.IsNaN(zero.BitsPerByte()) {
		t.Errorf("empty PPL = %g, %g bits/byte; want NaN", zero.PPL(), zero.BitsPerByte())
	}
}

func TestParagraphs(t *testing.T) {
	for _, tc := range []struct {
		name  string
		text  string
		limit int
		want  []string
	}{
		{"two", "a\n\nb", 200, []string{"a", "b"}},
		{"multi-line paragraph", "line 1\nline 2\n\nx\n", 200, []string{"line 1\nline 2", "x"}},
		{"surrounding spaces", "  a  \n\n\n\n  b\n", 200, []string{"a", "b"}},
		{"whitespace-only blank line", " = T = \n \n Body . \n \n", 200, []string{"= T =", "Body ."}},
		{"CRLF", "a\r\n\r\nb\r\n", 200, []string{"a", "b"}},
		{"limit", "a\n\nb\n\nc", 2, []string{"a", "b"}},
		{"no limit", "a\n\nb\n\nc", 0, []string{"a", "b", "c"}},
		{"empty", "", 200, nil},
		{"only blank", "\n \n\n", 200, nil},
	} {
		if got := Paragraphs(tc.text, tc.limit); !slices.Equal(got, tc.want) {
			t.Errorf("%s: Paragraphs = %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestParagraphsRealText(t *testing.T) {
	for _, tc := range []struct{ file, first string }{
		{"data/wikitext2_test.txt", "= Robert <unk> ="},
		{"data/tinystories_valid_prefix.txt", ""},
	} {
		b, err := os.ReadFile(shared.Need(t, tc.file))
		if err != nil {
			t.Fatal(err)
		}
		text := string(b)
		ps := Paragraphs(text, 200)
		if len(ps) != 200 {
			t.Fatalf("%s: %d paragraphs, want 200", tc.file, len(ps))
		}
		first := tc.first
		if first == "" {
			// TinyStories has no whitespace-only lines: the first paragraph is
			// everything before the first "\n\n".
			first = strings.TrimSpace(text[:strings.Index(text, "\n\n")])
		}
		if ps[0] != first {
			t.Errorf("%s: first paragraph %q, want %q", tc.file, ps[0], first)
		}
		for i, p := range ps {
			if p == "" || strings.Contains(p, "\n\n") || strings.TrimSpace(p) != p {
				t.Fatalf("%s: paragraph %d is not a stripped, blank-line-free piece: %q", tc.file, i, p)
			}
		}
	}
}
