package safetensors

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/unswift/unswift/internal/tensor"
)

// File names of a Hugging Face model directory.
const (
	// SingleFile is the checkpoint of an unsharded model.
	SingleFile = "model.safetensors"
	// IndexFile lists the shards of a sharded model.
	IndexFile = "model.safetensors.index.json"
)

// Set is the tensors of one model, held in one or several safetensors files.
type Set struct {
	// Files are the open files, in the order they were opened.
	Files []*File
	names []string         // every tensor, file by file in header order
	where map[string]*File // tensor name → file
}

// OpenDir opens the safetensors checkpoint of a model directory: the shards
// listed by model.safetensors.index.json when present, else model.safetensors.
func OpenDir(dir string) (*Set, error) {
	index := filepath.Join(dir, IndexFile)
	if _, err := os.Stat(index); err == nil {
		return OpenIndex(index)
	}
	single := filepath.Join(dir, SingleFile)
	if _, err := os.Stat(single); err != nil {
		hint := ""
		if m, _ := filepath.Glob(filepath.Join(dir, "*.bin")); len(m) > 0 {
			hint = " (PyTorch .bin checkpoints are not supported: save the model with safetensors)"
		}
		return nil, fmt.Errorf("safetensors: %s has neither %s nor %s%s", dir, SingleFile, IndexFile, hint)
	}
	return OpenFiles(single)
}

// OpenFiles opens the given safetensors files as one set. A tensor name may
// appear in only one of them.
func OpenFiles(paths ...string) (*Set, error) {
	s := &Set{where: map[string]*File{}}
	for _, p := range paths {
		if err := s.add(p); err != nil {
			s.Close()
			return nil, err
		}
	}
	return s, nil
}

func (s *Set) add(path string) error {
	f, err := Open(path)
	if err != nil {
		return err
	}
	s.Files = append(s.Files, f)
	for _, t := range f.Tensors {
		if g, dup := s.where[t.Name]; dup {
			return fmt.Errorf("safetensors: tensor %q is in both %s and %s", t.Name, g.Path, path)
		}
		s.where[t.Name] = f
		s.names = append(s.names, t.Name)
	}
	return nil
}

// index is model.safetensors.index.json.
type index struct {
	WeightMap map[string]string `json:"weight_map"`
}

// OpenIndex opens the shards listed in a model.safetensors.index.json file
// (its weight_map maps each tensor name to the shard that holds it, a file in
// the same directory). A missing shard, or a tensor that is not in the shard
// the index names, is an error naming both.
func OpenIndex(path string) (*Set, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("safetensors: %w", err)
	}
	var ix index
	if err := json.Unmarshal(b, &ix); err != nil {
		return nil, fmt.Errorf("safetensors: %s: %v", path, err)
	}
	if len(ix.WeightMap) == 0 {
		return nil, fmt.Errorf("safetensors: %s has no weight_map", path)
	}
	// Group the tensors by shard, shards in name order.
	byShard := map[string][]string{}
	for name, shard := range ix.WeightMap {
		if shard == "" || shard != filepath.Base(shard) || shard == ".." || strings.ContainsAny(shard, `/\`) {
			return nil, fmt.Errorf("safetensors: %s: tensor %q: shard %q is not a file name in the index's directory", path, name, shard)
		}
		byShard[shard] = append(byShard[shard], name)
	}
	shards := make([]string, 0, len(byShard))
	for sh := range byShard {
		shards = append(shards, sh)
	}
	sort.Strings(shards)
	dir := filepath.Dir(path)
	s := &Set{where: map[string]*File{}}
	for _, sh := range shards {
		p := filepath.Join(dir, sh)
		if err := s.add(p); err != nil {
			s.Close()
			if errors.Is(err, fs.ErrNotExist) {
				names := byShard[sh]
				sort.Strings(names)
				return nil, fmt.Errorf("safetensors: %s: shard %s (holding %q and %d other tensors) is missing: %w", path, sh, names[0], len(names)-1, err)
			}
			return nil, err
		}
	}
	for name, sh := range ix.WeightMap {
		f := s.where[name]
		switch {
		case f == nil:
			s.Close()
			return nil, fmt.Errorf("safetensors: %s: tensor %q should be in %s, which has no such tensor", path, name, sh)
		case filepath.Base(f.Path) != sh:
			s.Close()
			return nil, fmt.Errorf("safetensors: %s: tensor %q should be in %s, but it is in %s", path, name, sh, f.Path)
		}
	}
	return s, nil
}

// Close closes every file of the set.
func (s *Set) Close() error {
	var first error
	for _, f := range s.Files {
		if err := f.Close(); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// Names returns the names of all tensors, file by file in header order.
func (s *Set) Names() []string { return append([]string(nil), s.names...) }

// Has reports whether the set holds a tensor called name.
func (s *Set) Has(name string) bool { return s.where[name] != nil }

// Info returns the header entry of the tensor called name and the path of
// the file that holds it.
func (s *Set) Info(name string) (Info, string, bool) {
	f := s.where[name]
	if f == nil {
		return Info{}, "", false
	}
	i, _ := f.Info(name)
	return i, f.Path, true
}

// Tensor returns the tensor called name (see File.Tensor).
func (s *Set) Tensor(name string) (*tensor.Tensor, error) {
	f := s.where[name]
	if f == nil {
		return nil, fmt.Errorf("safetensors: no tensor %q in %s", name, s.describe())
	}
	t, err := f.Tensor(name)
	if err != nil {
		return nil, fmt.Errorf("safetensors: %w", err)
	}
	return t, nil
}

// describe names the set's files for messages.
func (s *Set) describe() string {
	switch len(s.Files) {
	case 0:
		return "an empty set of files"
	case 1:
		return s.Files[0].Path
	}
	return fmt.Sprintf("%s and %d other shards", s.Files[0].Path, len(s.Files)-1)
}
