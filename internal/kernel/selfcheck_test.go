package kernel

import "testing"

func TestSelfCheck(t *testing.T) {
	for _, im := range impls() {
		if err := selfCheck(im); err != nil {
			t.Errorf("%s: %v", im.name, err)
		}
	}
	l := impls()
	if got := choose(""); got != l[len(l)-1] {
		t.Errorf("choose(\"\") = %s, want the best available, %s", got.name, l[len(l)-1].name)
	}
	if got := choose("go"); got != goImpl {
		t.Errorf("choose(\"go\") = %s", got.name)
	}
	if got := choose("no-such-kernel"); got != l[len(l)-1] {
		t.Errorf("choose of an unknown name = %s, want %s", got.name, l[len(l)-1].name)
	}
	if Implementation() != cur.name {
		t.Errorf("Implementation() = %q, want %q", Implementation(), cur.name)
	}
}

// BenchmarkSelfCheck is the start-up cost of checking one implementation.
func BenchmarkSelfCheck(b *testing.B) {
	l := impls()
	im := l[len(l)-1]
	for b.Loop() {
		if err := selfCheck(im); err != nil {
			b.Fatal(err)
		}
	}
}
