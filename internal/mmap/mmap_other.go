//go:build !linux

package mmap

import (
	"fmt"
	"os"
	"unsafe"
)

func open(path string) (*File, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("mmap %s: not a regular file", path)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return &File{Data: data}, nil
}

func (f *File) close() error {
	f.Data = nil
	return nil
}

func anon(n int) (*File, error) {
	w := make([]uint64, (max(n, 0)+7)/8)
	if n <= 0 {
		return &File{Data: []byte{}}, nil
	}
	return &File{Data: unsafe.Slice((*byte)(unsafe.Pointer(&w[0])), n)}, nil
}
