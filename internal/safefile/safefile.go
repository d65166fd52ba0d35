// Package safefile writes files atomically: data goes to a temporary file in
// the destination's directory, which is renamed over the destination only
// when the caller commits. Readers see either the old file or the complete
// new one, never a partial write.
//
// Typical use:
//
//	f, err := safefile.Create(path)
//	if err != nil {
//		return err
//	}
//	defer f.Abort()
//	if _, err := f.Write(data); err != nil {
//		return err
//	}
//	return f.Commit()
package safefile

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// File is a pending atomic write. It is an io.Writer; writes are buffered.
type File struct {
	path string // destination
	tmp  *os.File
	w    *bufio.Writer
	done bool // committed or aborted
	err  error
}

// Create starts an atomic write of path. The temporary file is created in the
// same directory (so the final rename cannot cross file systems).
func Create(path string) (*File, error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	tmp, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return nil, fmt.Errorf("create %s: %w", path, err)
	}
	// CreateTemp uses mode 0600; give the result the usual mode of a new file.
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return nil, fmt.Errorf("create %s: %w", path, err)
	}
	return &File{path: path, tmp: tmp, w: bufio.NewWriterSize(tmp, 1<<20)}, nil
}

// Name returns the destination path.
func (f *File) Name() string { return f.path }

// Write appends p to the pending file.
func (f *File) Write(p []byte) (int, error) {
	if f.done {
		return 0, fmt.Errorf("write %s: file already committed or aborted", f.path)
	}
	if f.err != nil {
		return 0, f.err
	}
	n, err := f.w.Write(p)
	if err != nil {
		f.err = fmt.Errorf("write %s: %w", f.path, err)
		return n, f.err
	}
	return n, nil
}

// TempName returns the path of the temporary file that receives the data
// until Commit. Together with Flush it lets a caller verify the data before
// committing it.
func (f *File) TempName() string { return f.tmp.Name() }

// Flush writes any buffered data to the temporary file.
func (f *File) Flush() error {
	if f.done {
		return fmt.Errorf("flush %s: file already committed or aborted", f.path)
	}
	if f.err != nil {
		return f.err
	}
	if err := f.w.Flush(); err != nil {
		f.err = fmt.Errorf("write %s: %w", f.path, err)
		return f.err
	}
	return nil
}

// Commit flushes and syncs the data, closes the temporary file and renames it
// over the destination. After a failed Commit the temporary file is removed.
func (f *File) Commit() error {
	if f.done {
		return fmt.Errorf("commit %s: file already committed or aborted", f.path)
	}
	if f.err != nil {
		f.Abort()
		return f.err
	}
	err := f.w.Flush()
	if err == nil {
		err = f.tmp.Sync()
	}
	if cerr := f.tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.tmp.Name(), f.path)
	}
	f.done = true
	if err != nil {
		os.Remove(f.tmp.Name())
		return fmt.Errorf("commit %s: %w", f.path, err)
	}
	syncDir(filepath.Dir(f.path))
	return nil
}

// Abort discards the pending write and removes the temporary file. It is a
// no-op after Commit or a previous Abort, so it is safe to defer.
func (f *File) Abort() error {
	if f.done {
		return nil
	}
	f.done = true
	err := f.tmp.Close()
	if rerr := os.Remove(f.tmp.Name()); rerr != nil && !errors.Is(rerr, os.ErrNotExist) {
		err = rerr
	}
	if err != nil {
		return fmt.Errorf("abort %s: %w", f.path, err)
	}
	return nil
}

// syncDir makes the rename durable where the system supports it; failures
// are ignored because the data itself is already safely written.
// Finish ends a write: it commits the file when err is nil and discards it
// otherwise, returning err or the commit's error.
func (f *File) Finish(err error) error {
	if err != nil {
		f.Abort()
		return err
	}
	return f.Commit()
}

func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}
