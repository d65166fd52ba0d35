package llama2c

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unsafe"

	"github.com/unswift/unswift/internal/gguf"
	"github.com/unswift/unswift/internal/shared"
	"github.com/unswift/unswift/internal/tensor"
)

// params counts a model's parameters the way ../shared/README.md does: every
// tensor once (a shared classifier is the embedding).
func params(m *Model) int {
	n := 0
	for _, t := range m.Tensors {
		if t.Name == "output.weight" && m.Shared {
			continue
		}
		n += t.Len()
	}
	return n
}

// checkTensors verifies the names, order and shapes of a model's tensors.
func checkTensors(t *testing.T, m *Model) {
	t.Helper()
	c := m.Config
	want := []string{"token_embd.weight"}
	for l := range c.Layers {
		for _, w := range c.layerWeights(l) {
			want = append(want, w.name)
		}
	}
	want = append(want, "output_norm.weight", "output.weight")
	if len(m.Tensors) != len(want) {
		t.Fatalf("%d tensors, want %d", len(m.Tensors), len(want))
	}
	for i, tt := range m.Tensors {
		if tt.Name != want[i] {
			t.Errorf("tensor %d is %s, want %s", i, tt.Name, want[i])
		}
		if err := tt.Check(); err != nil {
			t.Error(err)
		}
		if m.Tensor(tt.Name) != tt {
			t.Errorf("Tensor(%q) is not the listed tensor", tt.Name)
		}
	}
	if m.Shared && &m.Tensor("output.weight").Data[0] != &m.Tensor("token_embd.weight").Data[0] {
		t.Error("shared classifier does not share the embedding's data")
	}
}

func TestStories260K(t *testing.T) {
	m, err := Open(shared.Need(t, "models/stories260K/stories260K.bin"))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	// ../shared/README.md: 260,032 parameters; 64, 172, 5, 8, 4, 512, 512.
	want := Config{Dim: 64, HiddenDim: 172, Layers: 5, Heads: 8, KVHeads: 4, Vocab: 512, SeqLen: 512}
	if m.Config != want || m.Version != 0 || !m.Shared || m.GroupSize != 0 {
		t.Errorf("got %+v version %d shared %v group %d; want %+v, 0, true, 0", m.Config, m.Version, m.Shared, m.GroupSize, want)
	}
	checkTensors(t, m)
	if n := params(m); n != 260032 {
		t.Errorf("%d parameters, want 260,032", n)
	}
	base := uintptr(unsafe.Pointer(&m.m.Data[0]))
	for _, tt := range m.Tensors {
		p := uintptr(unsafe.Pointer(&tt.Data[0]))
		if tt.Type != tensor.F32 || p < base || p >= base+uintptr(len(m.m.Data)) {
			t.Errorf("%s: %v, not a view of the mapped file", tt.Name, tt.Type)
		}
	}
}

// TestStories260KMatchesGGUF compares the checkpoint with its GGUF conversion
// made by an independent tool.
func TestStories260KMatchesGGUF(t *testing.T) {
	m, err := Open(shared.Need(t, "models/stories260K/stories260K.bin"))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	g, err := gguf.Open(shared.Need(t, "models/stories260K/stories260K.gguf"))
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	if len(g.Tensors) != len(m.Tensors) {
		t.Errorf("GGUF has %d tensors, checkpoint %d", len(g.Tensors), len(m.Tensors))
	}
	for _, tt := range m.Tensors {
		gt := g.Tensor(tt.Name)
		if gt == nil {
			t.Errorf("%s missing from the GGUF file", tt.Name)
			continue
		}
		if gt.Type != tt.Type || !equalInts(gt.Shape, tt.Shape) || !bytes.Equal(gt.Data, tt.Data) {
			t.Errorf("%s: GGUF %v %v differs from checkpoint %v %v", tt.Name, gt.Type, gt.Shape, tt.Type, tt.Shape)
		}
	}
	for key, want := range map[string]int{
		"llama.embedding_length":        m.Config.Dim,
		"llama.feed_forward_length":     m.Config.HiddenDim,
		"llama.block_count":             m.Config.Layers,
		"llama.attention.head_count":    m.Config.Heads,
		"llama.attention.head_count_kv": m.Config.KVHeads,
	} {
		if got, _ := g.Uint(key); got != uint64(want) {
			t.Errorf("%s = %d, checkpoint says %d", key, got, want)
		}
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// dequantQ8F32 expands Q8F32 blocks to float32.
func dequantQ8F32(b []byte) []float32 {
	var out []float32
	for ; len(b) >= 36; b = b[36:] {
		s := math.Float32frombits(binary.LittleEndian.Uint32(b))
		for _, q := range b[4:36] {
			out = append(out, float32(int8(q))*s)
		}
	}
	return out
}

func TestShakespeareQ80(t *testing.T) {
	path := shared.Need(t, "models/shakespeare2M-q80/shakespeare_q80.bin")
	m, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	// ../shared/README.md: 2,263,680 parameters; 192, 512, 5, 6, 6, 259, 256; groups of 64.
	want := Config{Dim: 192, HiddenDim: 512, Layers: 5, Heads: 6, KVHeads: 6, Vocab: 259, SeqLen: 256}
	if m.Config != want || m.Version != 2 || m.GroupSize != 64 {
		t.Errorf("got %+v version %d group %d; want %+v, 2, 64", m.Config, m.Version, m.GroupSize, want)
	}
	checkTensors(t, m)
	if n := params(m); n != 2263680 {
		t.Errorf("%d parameters, want 2,263,680", n)
	}

	// Read the file again by the README's layout and compare dequantized values.
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	off := 256
	f32 := func(n int) []float32 {
		out := make([]float32, n)
		for i := range out {
			out[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[off+4*i:]))
		}
		off += 4 * n
		return out
	}
	c := m.Config
	norms := f32((2*c.Layers + 1) * c.Dim)
	for l := range c.Layers {
		for i, kind := range []string{"attn_norm", "ffn_norm"} {
			got := m.Tensor(fmt.Sprintf("blk.%d.%s.weight", l, kind)).F32s()
			w := norms[(i*c.Layers+l)*c.Dim:][:c.Dim]
			if !equalF32(got, w) {
				t.Errorf("layer %d %s differs from the file", l, kind)
			}
		}
	}
	if !equalF32(m.Tensor("output_norm.weight").F32s(), norms[2*c.Layers*c.Dim:]) {
		t.Error("output_norm differs from the file")
	}
	order := []string{"token_embd"}
	for _, kind := range []string{"attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_down", "ffn_up"} {
		for l := range c.Layers {
			order = append(order, fmt.Sprintf("blk.%d.", l)+kind)
		}
	}
	for _, name := range order {
		tt := m.Tensor(name + ".weight")
		n := tt.Len()
		q := raw[off : off+n]
		off += n
		scales := f32(n / 64)
		w := make([]float32, n)
		for i := range w {
			w[i] = float32(int8(q[i])) * scales[i/64]
		}
		if !equalF32(dequantQ8F32(tt.Data), w) {
			t.Errorf("%s: dequantized values differ from the file", name)
		}
		// llama2.c scales each group by max|w|/127, so every group that is
		// not all zeros holds a ±127.
		for g := 0; g < n; g += 64 {
			peak := 0
			for _, v := range q[g : g+64] {
				peak = max(peak, abs(int(int8(v))))
			}
			if peak != 127 && scales[g/64] != 0 {
				t.Fatalf("%s: group %d peaks at %d, want 127 (misread layout?)", name, g/64, peak)
			}
		}
	}
	if off != len(raw) {
		t.Errorf("layout walk ended at %d of %d bytes", off, len(raw))
	}
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

func equalF32(a, b []float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
			return false
		}
	}
	return true
}

// TestSynthetic checks every tensor's placement in small files written by the
// test's own encoder, in all variants.
func TestSynthetic(t *testing.T) {
	for _, shared := range []bool{true, false} {
		for _, freq := range []bool{true, false} {
			data, names := legacyFile(tiny, shared, freq)
			for _, shift := range []int{0, 1} { // a misaligned copy exercises the copying path
				buf := append(make([]byte, shift), data...)[shift:]
				m, err := Parse(buf)
				if err != nil {
					t.Fatalf("legacy shared=%v freq=%v: %v", shared, freq, err)
				}
				if m.Config != tiny || m.Shared != shared || m.Version != 0 {
					t.Errorf("legacy: %+v shared %v version %d", m.Config, m.Shared, m.Version)
				}
				checkTensors(t, m)
				for ti, name := range names {
					got := m.Tensor(name).F32s()
					for i, v := range got {
						if v != value(ti, i) {
							t.Fatalf("legacy shared=%v freq=%v: %s[%d] = %g, want %g", shared, freq, name, i, v, value(ti, i))
						}
					}
				}
			}
		}
		for _, gs := range []int{32, 64} {
			data, names := v2File(tiny, shared, gs)
			m, err := Parse(data)
			if err != nil {
				t.Fatalf("v2 shared=%v gs=%d: %v", shared, gs, err)
			}
			if m.Config != tiny || m.Shared != shared || m.Version != 2 || m.GroupSize != gs {
				t.Errorf("v2: %+v shared %v version %d group %d", m.Config, m.Shared, m.Version, m.GroupSize)
			}
			checkTensors(t, m)
			for ti, name := range names {
				got := dequantQ8F32(m.Tensor(name).Data)
				for i, v := range got {
					if want := float32(q8Value(ti, i)) * q8Scale(ti, i/gs); v != want {
						t.Fatalf("v2 shared=%v gs=%d: %s[%d] = %g, want %g", shared, gs, name, i, v, want)
					}
				}
			}
			// Norms: all attention norms, then all MLP norms, then the final one.
			var normNames []string
			for _, kind := range []string{"attn_norm", "ffn_norm"} {
				for l := range tiny.Layers {
					normNames = append(normNames, fmt.Sprintf("blk.%d.", l)+kind+".weight")
				}
			}
			normNames = append(normNames, "output_norm.weight")
			for ti, name := range normNames {
				for i, v := range m.Tensor(name).F32s() {
					if v != value(ti, i) {
						t.Fatalf("v2: %s[%d] = %g, want %g", name, i, v, value(ti, i))
					}
				}
			}
		}
	}
}

func TestErrors(t *testing.T) {
	legacy, _ := legacyFile(tiny, true, true)
	legacyNoFreq, _ := legacyFile(tiny, true, false)
	legacyUnshared, _ := legacyFile(tiny, false, true)
	v2, _ := v2File(tiny, true, 64)
	v2Unshared, _ := v2File(tiny, false, 64)
	setInt := func(b []byte, off int, v int32) []byte {
		b = bytes.Clone(b)
		binary.LittleEndian.PutUint32(b[off:], uint32(v))
		return b
	}
	v2Group := func(gs int32) []byte { return setInt(v2, 37, gs) }
	for _, c := range []struct {
		name string
		data []byte
		want string
	}{
		{"empty", nil, "truncated file: 0 bytes, too short for the 28-byte llama2.c header"},
		{"short header", legacy[:20], "too short for the 28-byte"},
		{"truncated legacy", legacy[:len(legacy)-1], fmt.Sprintf("truncated file: the header implies %d bytes (or %d without freq_cis), the file has %d", len(legacy), len(legacyNoFreq), len(legacy)-1)},
		{"truncated legacy mid", legacyNoFreq[:1000], fmt.Sprintf("truncated file: the header implies %d bytes", len(legacy))},
		{"trailing legacy", append(bytes.Clone(legacy), 0, 0, 0, 0), fmt.Sprintf("4 trailing bytes: the header implies %d bytes", len(legacy))},
		{"unshared but short", setInt(legacy, 20, -int32(tiny.Vocab)), fmt.Sprintf("truncated file: the header implies %d bytes (or %d without freq_cis), the file has %d", len(legacyUnshared), len(legacyUnshared)-len(legacy)+len(legacyNoFreq), len(legacy))},
		{"zero dim", setInt(legacy, 0, 0), "dim = 0"},
		{"negative layers", setInt(legacy, 8, -2), "n_layers = -2"},
		{"huge vocab", setInt(legacy, 20, math.MinInt32), "vocab_size = -2147483648"},
		{"heads do not divide dim", setInt(legacy, 12, 3), "n_heads 3 does not divide dim 32"},
		{"kv heads do not divide heads", setInt(legacy, 16, 3), "n_kv_heads 3 does not divide n_heads 4"},
		{"odd head size", setInt(setInt(legacy, 12, 32), 16, 32), "head size 1"},
		{"gguf", []byte("GGUF\x03\x00\x00\x00"), "this is a GGUF file"},
		{"magic only", le32(nil, Magic), "too short for a version"},
		{"version 1", setInt(v2, 4, 1), "unsupported llama2.c checkpoint version 1"},
		{"version 3", setInt(v2, 4, 3), "unsupported llama2.c checkpoint version 3"},
		{"short v2 header", v2[:100], "too short for the 256-byte version 2 header"},
		{"truncated v2", v2[:len(v2)-3], "truncated file: the header implies"},
		{"trailing v2", append(bytes.Clone(v2), 1), "1 trailing bytes"},
		{"v2 unshared flag", append(bytes.Clone(v2[:36]), append([]byte{0}, v2[37:]...)...), "truncated file"},
		{"v2 shared flag on unshared file", append(bytes.Clone(v2Unshared[:36]), append([]byte{1}, v2Unshared[37:]...)...), "trailing bytes"},
		{"v2 bad flag", append(bytes.Clone(v2[:36]), append([]byte{2}, v2[37:]...)...), "shared classifier flag 2"},
		{"v2 group 48", v2Group(48), "unsupported group size 48"},
		{"v2 group 16", v2Group(16), "unsupported group size 16"},
		{"v2 group 0", v2Group(0), "unsupported group size 0"},
		{"v2 group not dividing", v2Group(96), "group size 96 does not divide the 256 values of token_embd.weight"},
		{"v2 bad header", setInt(v2, 8, -1), "dim = -1"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse(c.data)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("Parse error = %v\nwant it to contain %q", err, c.want)
			}
		})
	}
}

func TestV2RowLength(t *testing.T) {
	c := tiny
	c.HiddenDim = 80 // ffn_down rows are 80 long: not a multiple of 32
	data, _ := v2File(c, true, 32)
	_, err := Parse(data)
	if err == nil || !strings.Contains(err.Error(), "blk.0.ffn_down.weight: row length 80 is not a multiple of 32") {
		t.Errorf("Parse = %v", err)
	}
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "bad.bin")
	if err := os.WriteFile(p, []byte("tiny"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{p, filepath.Join(dir, "missing.bin")} {
		if _, err := Open(path); err == nil || !strings.Contains(err.Error(), path) {
			t.Errorf("Open(%s) = %v, want an error naming the path", path, err)
		}
	}
}
