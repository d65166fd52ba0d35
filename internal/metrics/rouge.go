package metrics

import "strings"

// RougeTokens splits text into the tokens ROUGE compares, the way the rouge-score
// package's default tokenizer does without stemming: lower-case the text, treat
// every character outside [a-z0-9] as a separator, and keep the non-empty runs.
// So "The cat's mat!" gives [the cat s mat]; letters outside ASCII are separators.
func RougeTokens(text string) []string {
	return strings.FieldsFunc(strings.ToLower(text), func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9')
	})
}

// Rouge1 returns the ROUGE-1 F1 score of a candidate text against a reference text.
// With both tokenized by RougeTokens, the overlap is the number of unigram matches
// counted with multiplicity, Σ_w min(count_ref(w), count_cand(w)); precision is
// overlap / |cand|, recall is overlap / |ref| and F1 = 2PR/(P+R). It is 0 when either
// text has no tokens or nothing overlaps, and 1 exactly when the two token multisets
// are equal.
func Rouge1(ref, cand string) float64 {
	r, c := RougeTokens(ref), RougeTokens(cand)
	if len(r) == 0 || len(c) == 0 {
		return 0
	}
	counts := make(map[string]int, len(r))
	for _, t := range r {
		counts[t]++
	}
	overlap := 0
	for _, t := range c {
		if counts[t] > 0 {
			counts[t]--
			overlap++
		}
	}
	return f1(overlap, len(r), len(c))
}

// RougeL returns the ROUGE-L F1 score of a candidate text against a reference text:
// with both tokenized by RougeTokens and L the length of their longest common
// subsequence (tokens in order, not necessarily adjacent), precision is L / |cand|,
// recall is L / |ref| and F1 = 2PR/(P+R). It is 0 when either text has no tokens.
// This is the sentence-level "rougeL", not the summary-level "rougeLsum".
func RougeL(ref, cand string) float64 {
	r, c := RougeTokens(ref), RougeTokens(cand)
	if len(r) == 0 || len(c) == 0 {
		return 0
	}
	return f1(LCS(r, c), len(r), len(c))
}

// LCS returns the length of the longest common subsequence of a and b, in
// O(len(a)·len(b)) time and O(len(b)) memory.
func LCS[T comparable](a, b []T) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for i := range a {
		for j := range b {
			switch {
			case a[i] == b[j]:
				cur[j+1] = prev[j] + 1
			case prev[j+1] >= cur[j]:
				cur[j+1] = prev[j+1]
			default:
				cur[j+1] = cur[j]
			}
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// f1 is the harmonic mean of precision match/nCand and recall match/nRef.
func f1(match, nRef, nCand int) float64 {
	if match == 0 {
		return 0
	}
	p := float64(match) / float64(nCand)
	r := float64(match) / float64(nRef)
	return 2 * p * r / (p + r)
}
