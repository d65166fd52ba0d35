package tasks

import (
	"bufio"
	"compress/bzip2"
	"fmt"
	"io"
	"os"
	"regexp"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// hellaswagLines is the number of lines per task in the HellaSwag text file.
const hellaswagLines = 6

// LoadHellaSwag reads HellaSwag tasks from a text file, bzip2-compressed or not
// (recognized by its "BZh" signature), with 6 lines per task:
//
//	activity label: context
//	gold ending index (0–3)
//	ending 0
//	ending 1
//	ending 2
//	ending 3
//
// It returns the first limit tasks (all of them when limit ≤ 0). The shared file
// data/hellaswag_val_full.txt.bz2 holds the 10,042 validation tasks in this form.
//
// The text is preprocessed as lm-evaluation-harness's hellaswag task does it: the
// query is preprocess(activity_label + ": " + ctx_a + " " + capitalize(ctx_b)) and
// each ending is preprocess(ending), where preprocess strips surrounding white
// space, replaces " [title]" with ". ", deletes every bracketed span "[...]" and
// replaces each double space with a single one. The file has ctx = ctx_a + " " +
// ctx_b already joined with ctx_b in lower case (and its WikiHow tags already
// rewritten, though not all bracketed spans removed); ctx_b is recovered as the
// text after the context's last sentence end (". ", "? " or "! ") when that text
// starts with a lower-case letter (the 3,243 ActivityNet-derived tasks, e.g.
// "… on a roof. he" becomes "… on a roof. He"), and its first letter is
// upper-cased. (Python's capitalize also lower-cases the rest, which changes
// nothing in this file.)
//
// Errors name the file and line: a file that cannot be read, a gold line that is
// not an integer in [0, 3], a context line without "label: ", an ending that is
// empty after preprocessing, or a last task with fewer than 6 lines.
func LoadHellaSwag(path string, limit int) ([]Item, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("hellaswag: %w", err)
	}
	defer f.Close()
	br := bufio.NewReader(f)
	var r io.Reader = br
	if sig, _ := br.Peek(3); string(sig) == "BZh" {
		r = bzip2.NewReader(br)
	}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)

	var items []Item
	var group [hellaswagLines]string
	line, n := 0, 0 // lines read; lines of the current group
	fail := func(at int, format string, args ...any) error {
		return fmt.Errorf("hellaswag: %s:%d: %s", path, at, fmt.Sprintf(format, args...))
	}
	for sc.Scan() {
		line++
		group[n] = strings.TrimSuffix(sc.Text(), "\r")
		n++
		if n < hellaswagLines {
			continue
		}
		n = 0
		start := line - hellaswagLines + 1
		it, bad, msg := parseHellaSwag(group)
		if msg != "" {
			return nil, fail(start+bad, "%s", msg)
		}
		it.Line = start
		items = append(items, it)
		if limit > 0 && len(items) >= limit {
			return items, nil
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fail(line+1, "reading: %v", err)
	}
	if n > 0 {
		blank := true
		for _, s := range group[:n] {
			blank = blank && strings.TrimSpace(s) == ""
		}
		if !blank {
			return nil, fail(line-n+1, "truncated task: %d of %d lines before end of file", n, hellaswagLines)
		}
	}
	if len(items) == 0 {
		return nil, fmt.Errorf("hellaswag: %s: no tasks", path)
	}
	return items, nil
}

// parseHellaSwag turns a task's six lines into an Item. On failure it returns the
// offending line's offset within the group and a message.
func parseHellaSwag(g [hellaswagLines]string) (it Item, bad int, msg string) {
	label, ctx, ok := strings.Cut(g[0], ": ")
	if !ok || strings.TrimSpace(label) == "" {
		return it, 0, fmt.Sprintf("context line %q does not start with \"activity label: \"", clip(g[0]))
	}
	gold, err := strconv.Atoi(strings.TrimSpace(g[1]))
	if err != nil || gold < 0 || gold > 3 {
		return it, 1, fmt.Sprintf("gold label %q is not an integer in [0, 3]", clip(g[1]))
	}
	it.Context = hellaswagPreprocess(label + ": " + capitalizeLast(ctx))
	it.Gold = gold
	it.Endings = make([]string, 4)
	for j := range it.Endings {
		e := hellaswagPreprocess(g[2+j])
		if e == "" {
			return it, 2 + j, fmt.Sprintf("ending %d is empty", j)
		}
		it.Endings[j] = e
	}
	return it, 0, ""
}

var bracketed = regexp.MustCompile(`\[.*?\]`)

// hellaswagPreprocess is the harness's preprocess: strip, " [title]" → ". ", drop
// bracketed spans, "  " → " " (one pass, as Python's str.replace).
func hellaswagPreprocess(s string) string {
	s = strings.TrimSpace(s)
	s = strings.ReplaceAll(s, " [title]", ". ")
	if strings.Contains(s, "[") {
		s = bracketed.ReplaceAllString(s, "")
	}
	return strings.ReplaceAll(s, "  ", " ")
}

// capitalizeLast upper-cases the first letter of the text after the last sentence
// end of ctx when that text starts with a lower-case letter: the harness's
// ctx_b.capitalize() on a context whose ctx_a and ctx_b are already joined.
func capitalizeLast(ctx string) string {
	i := max(strings.LastIndex(ctx, ". "), strings.LastIndex(ctx, "? "), strings.LastIndex(ctx, "! "))
	if i < 0 {
		return ctx
	}
	i += 2
	r, size := utf8.DecodeRuneInString(ctx[i:])
	if !unicode.IsLower(r) {
		return ctx
	}
	return ctx[:i] + string(unicode.ToUpper(r)) + ctx[i+size:]
}

// clip shortens s for an error message.
func clip(s string) string {
	const n = 60
	if len(s) <= n {
		return s
	}
	i := n
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i] + "…"
}
