// Package shared locates the project's read-only material (real models, text,
// reference outputs) that lives beside the repository in ../shared. Nothing in it
// is ever committed; tests that need it skip with a clear message when it is absent.
package shared

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// Dir returns the shared directory: $UNSWIFT_SHARED if set, else ../shared next to
// the module root (found by walking up from the working directory to go.mod).
func Dir() (string, error) {
	if d := os.Getenv("UNSWIFT_SHARED"); d != "" {
		return d, nil
	}
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for d := wd; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			s := filepath.Join(filepath.Dir(d), "shared")
			if _, err := os.Stat(s); err != nil {
				return "", errors.New("shared material not found at " + s + " (set UNSWIFT_SHARED)")
			}
			return s, nil
		}
		if filepath.Dir(d) == d {
			return "", errors.New("no go.mod above " + wd + " (set UNSWIFT_SHARED)")
		}
	}
}

// Path returns the absolute path of rel inside the shared directory, or an error
// naming what is missing.
func Path(rel string) (string, error) {
	d, err := Dir()
	if err != nil {
		return "", err
	}
	p := filepath.Join(d, rel)
	if _, err := os.Stat(p); err != nil {
		return "", err
	}
	return p, nil
}

// Need returns the path of rel inside the shared directory, or skips the test with a
// message naming the missing file.
func Need(tb testing.TB, rel string) string {
	tb.Helper()
	p, err := Path(rel)
	if err != nil {
		tb.Skipf("skipping: shared material %s is absent: %v", rel, err)
	}
	return p
}
