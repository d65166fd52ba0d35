package mmap

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestOpen(t *testing.T) {
	dir := t.TempDir()
	big := bytes.Repeat([]byte("0123456789abcdef"), 5000) // spans several pages
	for _, tc := range []struct {
		name string
		data []byte
	}{
		{"empty", nil},
		{"one byte", []byte{42}},
		{"small", []byte("hello, world")},
		{"multi-page", big},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "_"))
			if err := os.WriteFile(p, tc.data, 0o644); err != nil {
				t.Fatal(err)
			}
			f, err := Open(p)
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			if f.Data == nil {
				t.Error("Data is nil, want non-nil (possibly empty) slice")
			}
			if !bytes.Equal(f.Data, tc.data) {
				t.Errorf("Data differs from file contents (len %d, want %d)", len(f.Data), len(tc.data))
			}
			if err := f.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
			if f.Data != nil {
				t.Error("Data not cleared by Close")
			}
			if err := f.Close(); err != nil {
				t.Errorf("second Close: %v", err)
			}
		})
	}
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing")
	if _, err := Open(missing); err == nil || !strings.Contains(err.Error(), missing) {
		t.Errorf("Open(missing) = %v, want an error naming %s", err, missing)
	}
	if _, err := Open(dir); err == nil || !strings.Contains(err.Error(), dir) {
		t.Errorf("Open(directory) = %v, want an error naming %s", err, dir)
	}
}

func TestNilClose(t *testing.T) {
	var f *File
	if err := f.Close(); err != nil {
		t.Errorf("nil Close: %v", err)
	}
}

func TestAnon(t *testing.T) {
	for _, n := range []int{0, 1, 4096, 3 << 20} {
		f, err := Anon(n)
		if err != nil {
			t.Fatal(err)
		}
		if len(f.Data) != n {
			t.Fatalf("Anon(%d) gave %d bytes", n, len(f.Data))
		}
		for i := range f.Data {
			if f.Data[i] != 0 {
				t.Fatalf("Anon(%d): byte %d is %d, want zeroed memory", n, i, f.Data[i])
			}
		}
		for i := range f.Data {
			f.Data[i] = byte(i)
		}
		if n > 0 && f.Data[n-1] != byte(n-1) {
			t.Fatal("write did not stick")
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
		if err := f.Close(); err != nil {
			t.Fatalf("second Close: %v", err)
		}
	}
}
