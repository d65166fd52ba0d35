//go:build linux

package mmap

import (
	"fmt"
	"os"
	"syscall"
)

func open(path string) (*File, error) {
	fd, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer fd.Close()
	st, err := fd.Stat()
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("mmap %s: not a regular file", path)
	}
	size := st.Size()
	if size == 0 {
		return &File{Data: []byte{}}, nil
	}
	if size != int64(int(size)) || size < 0 {
		return nil, fmt.Errorf("mmap %s: file too large (%d bytes)", path, size)
	}
	data, err := syscall.Mmap(int(fd.Fd()), 0, int(size), syscall.PROT_READ, syscall.MAP_SHARED)
	if err != nil {
		return nil, &os.PathError{Op: "mmap", Path: path, Err: err}
	}
	return &File{Data: data, mapped: true}, nil
}

func (f *File) close() error {
	if !f.mapped {
		f.Data = nil
		return nil
	}
	data := f.Data
	f.Data, f.mapped = nil, false
	if err := syscall.Munmap(data); err != nil {
		return fmt.Errorf("munmap: %w", err)
	}
	return nil
}

func anon(n int) (*File, error) {
	if n <= 0 {
		return &File{Data: []byte{}}, nil
	}
	data, err := syscall.Mmap(-1, 0, n, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_PRIVATE|syscall.MAP_ANON)
	if err != nil {
		return nil, fmt.Errorf("mmap %d anonymous bytes: %w", n, err)
	}
	_ = syscall.Madvise(data, syscall.MADV_HUGEPAGE) // a hint: without it the memory is the same
	return &File{Data: data, mapped: true}, nil
}
