package model

import (
	"encoding/binary"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/unswift/unswift/internal/kernel"
	"github.com/unswift/unswift/internal/synth"
	"github.com/unswift/unswift/internal/tensor"
)

// TestOpenMutatedFiles corrupts small model files of every family (bytes
// overwritten with edge values, inserted and deleted) and opens each one;
// when a file opens, two tokens run through it. Nothing may panic, hang or
// allocate without bound (a claimed billion blocks once did). The parsers
// have their own fuzz targets; this covers what the model builds on top.
func TestOpenMutatedFiles(t *testing.T) {
	pool := kernel.NewPool(1)
	defer pool.Close()
	r := rand.New(rand.NewPCG(5, 6))
	dir := t.TempDir()
	edges := []uint64{0, 1, 2, 0xFF, 0xFFFF, 0x7FFFFFFF, 0xFFFFFFFF, 1 << 31, 1 << 40, 1 << 62, ^uint64(0)}
	n := 600
	if testing.Short() {
		n = 100
	}
	for _, shape := range []string{"tiny", "tiny-qwen2", "tiny-gpt2", "tiny-phi2"} {
		s := synth.Shapes[shape]
		s.Dim, s.Hidden, s.Layers, s.Heads, s.KVHeads, s.Context = 8, 32, 2, 2, 2, 16
		path := filepath.Join(dir, shape+".gguf")
		if err := synth.Write(path, s, synth.Options{Type: tensor.F32, Seed: 1}); err != nil {
			t.Fatal(err)
		}
		seed, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		opened := 0
		for it := 0; it < n; it++ {
			b := append([]byte(nil), seed...)
			for k := 0; k < 1+r.IntN(3); k++ {
				i := r.IntN(len(b) - 8)
				switch r.IntN(5) {
				case 0:
					binary.LittleEndian.PutUint64(b[i:], edges[r.IntN(len(edges))])
				case 1:
					binary.LittleEndian.PutUint32(b[i:], uint32(edges[r.IntN(len(edges))]))
				case 2:
					b[i] ^= 1 << r.IntN(8)
				case 3:
					b = append(b[:i], b[min(len(b), i+1+r.IntN(16)):]...)
				case 4:
					b = append(b[:i], append(make([]byte, 1+r.IntN(16)), b[i:]...)...)
				}
			}
			p := filepath.Join(dir, "m.gguf")
			if err := os.WriteFile(p, b, 0o644); err != nil {
				t.Fatal(err)
			}
			m, err := Open(p, Options{})
			if err != nil {
				continue
			}
			opened++
			if m.Config.Dim*m.Config.Layers <= 1<<16 {
				if _, err := m.NewState(pool, 8).Forward([]int{1, 2}); err != nil {
					t.Logf("%s: opened, but: %v", shape, err)
				}
			}
			m.Close()
		}
		t.Logf("%s: %d of %d corrupted files opened (corrupted weights or unused metadata)", shape, opened, n)
	}
}
