// Package mmap maps files into memory read-only.
//
// On Linux the file is mapped with mmap(2), so opening even a large model is
// cheap and its pages are shared with the page cache. On other systems the
// file is read into memory instead; the API is the same.
package mmap

// File is a read-only view of a whole file's contents.
type File struct {
	// Data is the file's contents. It must not be modified, and it is
	// invalid after Close.
	Data []byte

	mapped bool // Data was obtained from mmap and must be unmapped
}

// Open maps the file at path into memory read-only. A zero-length file gives
// an empty Data and no mapping. Errors mention the path.
func Open(path string) (*File, error) { return open(path) }

// Anon returns n bytes of zeroed, writable, page-aligned memory outside the
// Go heap, for large buffers that live as long as a model: on Linux an
// anonymous mapping advised to use huge pages (filling 400 MB of permuted
// weights then costs a few hundred page faults instead of a hundred
// thousand), elsewhere a heap slice. Close releases it.
func Anon(n int) (*File, error) { return anon(n) }

// Close releases the mapping. Data must not be used afterwards. Closing a
// File twice is harmless.
func (f *File) Close() error {
	if f == nil {
		return nil
	}
	return f.close()
}
