package safefile

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var _ io.Writer = (*File)(nil)

// entries lists the names in dir.
func entries(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	return names
}

func TestCommit(t *testing.T) {
	for _, old := range []bool{false, true} {
		dir := t.TempDir()
		p := filepath.Join(dir, "out.bin")
		if old {
			if err := os.WriteFile(p, []byte("old contents"), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		f, err := Create(p)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Abort()
		if _, err := io.WriteString(f, "new "); err != nil {
			t.Fatal(err)
		}
		if _, err := f.Write([]byte("data")); err != nil {
			t.Fatal(err)
		}
		// Before Commit the destination is untouched.
		got, err := os.ReadFile(p)
		switch {
		case old && string(got) != "old contents":
			t.Errorf("before Commit: destination = %q, %v; want old contents", got, err)
		case !old && !os.IsNotExist(err):
			t.Errorf("before Commit: destination exists (%q, %v)", got, err)
		}
		if err := f.Commit(); err != nil {
			t.Fatalf("Commit: %v", err)
		}
		got, err = os.ReadFile(p)
		if err != nil || string(got) != "new data" {
			t.Errorf("after Commit: %q, %v; want %q", got, err, "new data")
		}
		if n := entries(t, dir); len(n) != 1 || n[0] != "out.bin" {
			t.Errorf("directory holds %v, want only out.bin", n)
		}
		if err := f.Abort(); err != nil {
			t.Errorf("Abort after Commit: %v", err)
		}
		if _, err := os.Stat(p); err != nil {
			t.Errorf("Abort after Commit removed the file: %v", err)
		}
		if _, err := f.Write([]byte("x")); err == nil {
			t.Error("Write after Commit succeeded")
		}
		if err := f.Commit(); err == nil {
			t.Error("second Commit succeeded")
		}
	}
}

func TestAbort(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "out.bin")
	if err := os.WriteFile(p, []byte("keep me"), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := Create(p)
	if err != nil {
		t.Fatal(err)
	}
	// Write more than the buffer so that some data reaches the temp file.
	if _, err := f.Write(make([]byte, 3<<20)); err != nil {
		t.Fatal(err)
	}
	if n := entries(t, dir); len(n) != 2 {
		t.Errorf("while writing, directory holds %v; want out.bin and a temp file", n)
	}
	if err := f.Abort(); err != nil {
		t.Fatalf("Abort: %v", err)
	}
	if err := f.Abort(); err != nil {
		t.Errorf("second Abort: %v", err)
	}
	if n := entries(t, dir); len(n) != 1 || n[0] != "out.bin" {
		t.Errorf("after Abort directory holds %v, want only out.bin", n)
	}
	if got, _ := os.ReadFile(p); string(got) != "keep me" {
		t.Errorf("Abort changed the destination to %q", got)
	}
	if err := f.Commit(); err == nil {
		t.Error("Commit after Abort succeeded")
	}
}

func TestCreateErrors(t *testing.T) {
	p := filepath.Join(t.TempDir(), "no", "such", "dir", "f")
	_, err := Create(p)
	if err == nil || !strings.Contains(err.Error(), p) {
		t.Errorf("Create in a missing directory = %v, want an error naming %s", err, p)
	}
}

func TestCommitFailureRemovesTemp(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "target")
	// A non-empty directory at the destination makes the rename fail.
	if err := os.MkdirAll(filepath.Join(p, "x"), 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := Create(p)
	if err != nil {
		t.Fatal(err)
	}
	f.Write([]byte("data"))
	if err := f.Commit(); err == nil || !strings.Contains(err.Error(), p) {
		t.Errorf("Commit over a directory = %v, want an error naming %s", err, p)
	}
	if n := entries(t, dir); len(n) != 1 || n[0] != "target" {
		t.Errorf("after failed Commit directory holds %v, want only target", n)
	}
}

func TestRelativePath(t *testing.T) {
	t.Chdir(t.TempDir())
	f, err := Create("rel.txt")
	if err != nil {
		t.Fatal(err)
	}
	f.Write([]byte("ok"))
	if err := f.Commit(); err != nil {
		t.Fatal(err)
	}
	if got, err := os.ReadFile("rel.txt"); err != nil || string(got) != "ok" {
		t.Errorf("got %q, %v", got, err)
	}
}

func TestFlushTempName(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "f")
	f, err := Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Abort()
	if filepath.Dir(f.TempName()) != dir {
		t.Errorf("temp file %s is not in %s", f.TempName(), dir)
	}
	f.Write([]byte("abc"))
	if err := f.Flush(); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(f.TempName())
	if err != nil || string(got) != "abc" {
		t.Errorf("temp file holds %q, %v after Flush; want abc", got, err)
	}
	st, err := os.Stat(f.TempName())
	if err != nil || st.Mode().Perm() != 0o644 {
		t.Errorf("temp file mode %v, %v; want 0644", st.Mode().Perm(), err)
	}
}

func TestFinish(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		err    error
		exists bool
	}{{nil, true}, {errors.New("boom"), false}} {
		p := filepath.Join(dir, "f")
		os.Remove(p)
		f, err := Create(p)
		if err != nil {
			t.Fatal(err)
		}
		f.Write([]byte("x"))
		if got := f.Finish(tc.err); got != tc.err {
			t.Fatalf("Finish(%v) = %v", tc.err, got)
		}
		if _, err := os.Stat(p); (err == nil) != tc.exists {
			t.Fatalf("Finish(%v): file exists = %v, want %v", tc.err, err == nil, tc.exists)
		}
		if tmp, _ := filepath.Glob(filepath.Join(dir, ".*")); len(tmp) != 0 {
			t.Fatalf("temp files left: %v", tmp)
		}
	}
}
