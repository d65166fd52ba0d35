package metrics

import (
	"slices"
	"testing"
)

func TestRougeTokens(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string
	}{
		{"The cat's mat!", []string{"the", "cat", "s", "mat"}},
		{"  Hello,\tWORLD 42\n", []string{"hello", "world", "42"}},
		{"naïve café", []string{"na", "ve", "caf"}}, // non-ASCII letters separate
		{"!!! ...", nil},
		{"", nil},
	} {
		if got := RougeTokens(tc.in); !slices.Equal(got, tc.want) {
			t.Errorf("RougeTokens(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestRouge(t *testing.T) {
	for _, tc := range []struct {
		name, ref, cand string
		r1, rl          float64
	}{
		// ref: the cat sat on the mat (6 tokens); cand: the cat on the mat (5).
		// Unigram overlap: the×2, cat, on, mat = 5 → P = 5/5, R = 5/6,
		// F = 2·1·(5/6)/(1+5/6) = 10/11. LCS "the cat on the mat" = 5, same F.
		{"dropped word", "the cat sat on the mat", "the cat on the mat", 10.0 / 11, 10.0 / 11},
		// Same words, scrambled: all 4 unigrams match (F = 1), but the longest
		// common subsequence is "the gunman" = 2 → P = R = 2/4 → F = 1/2.
		{"reordered", "police killed the gunman", "the gunman killed police", 1, 0.5},
		// Fully reversed: LCS 1 → P = R = 1/4.
		{"reversed", "a b c d", "d c b a", 1, 0.25},
		// Multiplicity: ref has "the" three times, cand once: overlap 1,
		// P = 1, R = 1/3, F = 2·(1/3)/(4/3) = 1/2.
		{"multiplicity", "the the the", "the", 0.5, 0.5},
		// Case and punctuation are ignored by the tokenizer.
		{"case and punctuation", "Hello, World!", "hello world", 1, 1},
		// ref: a b c (3), cand: a x c y (4): overlap a, c = 2 → P = 2/4, R = 2/3,
		// F = 2·(1/2)(2/3)/(1/2+2/3) = 4/7; LCS "a c" = 2, same.
		{"partial", "a b c", "a x c y", 4.0 / 7, 4.0 / 7},
		{"disjoint", "one two", "three four", 0, 0},
		{"empty candidate", "one two", "", 0, 0},
		{"no tokens at all", "?!", "...", 0, 0},
	} {
		if got := Rouge1(tc.ref, tc.cand); !near(got, tc.r1, 1e-15) {
			t.Errorf("%s: Rouge1 = %.15g, want %.15g", tc.name, got, tc.r1)
		}
		if got := RougeL(tc.ref, tc.cand); !near(got, tc.rl, 1e-15) {
			t.Errorf("%s: RougeL = %.15g, want %.15g", tc.name, got, tc.rl)
		}
	}
}

func TestLCS(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want int
	}{
		{"ABCBDAB", "BDCABA", 4}, // CLRS §15.4: "BCBA"
		{"AGGTAB", "GXTXAYB", 4}, // "GTAB"
		{"", "abc", 0},
		{"abc", "abc", 3},
		{"abc", "def", 0},
	} {
		if got := LCS([]byte(tc.a), []byte(tc.b)); got != tc.want {
			t.Errorf("LCS(%q, %q) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
		if got := LCS([]byte(tc.b), []byte(tc.a)); got != tc.want {
			t.Errorf("LCS(%q, %q) = %d, want %d", tc.b, tc.a, got, tc.want)
		}
	}
}
