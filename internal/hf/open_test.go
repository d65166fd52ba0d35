package hf

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/unswift/unswift/internal/gguf"
	"github.com/unswift/unswift/internal/tensor"
)

// mapping is the test's own account of how an HF tensor becomes a GGUF one
// (names as llama.cpp's converter writes them).
type mapping struct {
	hf, gguf string
	shape    []int  // HF shape, outermost first
	op       string // "", "perm:N" (RoPE rows over N heads), "T" (transpose)
}

// testModel is a tiny model directory built by the test.
type testModel struct {
	dir    string
	config map[string]any
	maps   []mapping
	extra  []stEntry // HF tensors that are not weights (buffers)
	dtype  string    // "F32" or "BF16"
	values map[string][]float32
}

func (tm *testModel) write(t *testing.T) {
	t.Helper()
	rng := rand.New(rand.NewPCG(7, uint64(len(tm.maps))))
	tm.values = map[string][]float32{}
	var entries []stEntry
	for _, m := range tm.maps {
		n := 1
		for _, d := range m.shape {
			n *= d
		}
		v := randF32(rng, n, 0.5)
		var data []byte
		if tm.dtype == "BF16" {
			data = bf16le(v)
			for i := range v {
				v[i] = tensor.BF16ToF32(tensor.F32ToBF16(v[i]))
			}
		} else {
			data = f32le(v)
		}
		tm.values[m.hf] = v
		entries = append(entries, stEntry{m.hf, tm.dtype, m.shape, data})
	}
	entries = append(entries, tm.extra...)
	writeST(t, filepath.Join(tm.dir, "model.safetensors"), entries)
	writeJSON(t, filepath.Join(tm.dir, ConfigFile), tm.config)
	writeByteLevelTokenizer(t, tm.dir)
}

// expected computes the GGUF data of a mapping from the HF values.
func (tm *testModel) expected(m mapping) []float32 {
	v := tm.values[m.hf]
	out := make([]float32, len(v))
	switch {
	case m.op == "":
		copy(out, v)
	case m.op == "T":
		rows, cols := m.shape[0], m.shape[1]
		for r := 0; r < rows; r++ {
			for c := 0; c < cols; c++ {
				out[c*rows+r] = v[r*cols+c]
			}
		}
	case strings.HasPrefix(m.op, "perm:"):
		var heads int
		fmt.Sscanf(m.op, "perm:%d", &heads)
		rows := m.shape[0]
		cols := len(v) / rows
		hd := rows / heads
		for h := 0; h < heads; h++ {
			for i := 0; i < hd/2; i++ {
				for j := 0; j < 2; j++ {
					copy(out[(h*hd+2*i+j)*cols:(h*hd+2*i+j+1)*cols], v[(h*hd+j*hd/2+i)*cols:(h*hd+j*hd/2+i+1)*cols])
				}
			}
		}
	}
	return out
}

func llamaMaps(layers, dim, q, kv, hidden, vocab, heads, kvHeads int, bias, tied, permute bool) []mapping {
	pq, pk := fmt.Sprintf("perm:%d", heads), fmt.Sprintf("perm:%d", kvHeads)
	if !permute {
		pq, pk = "", ""
	}
	ms := []mapping{{"model.embed_tokens.weight", "token_embd.weight", []int{vocab, dim}, ""}}
	for l := 0; l < layers; l++ {
		h, g := fmt.Sprintf("model.layers.%d.", l), fmt.Sprintf("blk.%d.", l)
		ms = append(ms,
			mapping{h + "input_layernorm.weight", g + "attn_norm.weight", []int{dim}, ""},
			mapping{h + "self_attn.q_proj.weight", g + "attn_q.weight", []int{q, dim}, pq},
			mapping{h + "self_attn.k_proj.weight", g + "attn_k.weight", []int{kv, dim}, pk},
			mapping{h + "self_attn.v_proj.weight", g + "attn_v.weight", []int{kv, dim}, ""},
			mapping{h + "self_attn.o_proj.weight", g + "attn_output.weight", []int{dim, q}, ""},
			mapping{h + "post_attention_layernorm.weight", g + "ffn_norm.weight", []int{dim}, ""},
			mapping{h + "mlp.gate_proj.weight", g + "ffn_gate.weight", []int{hidden, dim}, ""},
			mapping{h + "mlp.up_proj.weight", g + "ffn_up.weight", []int{hidden, dim}, ""},
			mapping{h + "mlp.down_proj.weight", g + "ffn_down.weight", []int{dim, hidden}, ""},
		)
		if bias {
			ms = append(ms,
				mapping{h + "self_attn.q_proj.bias", g + "attn_q.bias", []int{q}, pq},
				mapping{h + "self_attn.k_proj.bias", g + "attn_k.bias", []int{kv}, pk},
				mapping{h + "self_attn.v_proj.bias", g + "attn_v.bias", []int{kv}, ""},
			)
		}
	}
	ms = append(ms, mapping{"model.norm.weight", "output_norm.weight", []int{dim}, ""})
	if !tied {
		ms = append(ms, mapping{"lm_head.weight", "output.weight", []int{vocab, dim}, ""})
	}
	return ms
}

func phiMaps(layers, dim, hidden, vocab int) []mapping {
	wb := func(h, g string, shape []int) []mapping {
		return []mapping{{h + ".weight", g + ".weight", shape, ""}, {h + ".bias", g + ".bias", shape[:1], ""}}
	}
	ms := []mapping{{"model.embed_tokens.weight", "token_embd.weight", []int{vocab, dim}, ""}}
	for l := 0; l < layers; l++ {
		h, g := fmt.Sprintf("model.layers.%d.", l), fmt.Sprintf("blk.%d.", l)
		ms = append(ms, wb(h+"input_layernorm", g+"attn_norm", []int{dim})...)
		ms = append(ms, wb(h+"self_attn.q_proj", g+"attn_q", []int{dim, dim})...)
		ms = append(ms, wb(h+"self_attn.k_proj", g+"attn_k", []int{dim, dim})...)
		ms = append(ms, wb(h+"self_attn.v_proj", g+"attn_v", []int{dim, dim})...)
		ms = append(ms, wb(h+"self_attn.dense", g+"attn_output", []int{dim, dim})...)
		ms = append(ms, wb(h+"mlp.fc1", g+"ffn_up", []int{hidden, dim})...)
		ms = append(ms, wb(h+"mlp.fc2", g+"ffn_down", []int{dim, hidden})...)
	}
	ms = append(ms, wb("model.final_layernorm", "output_norm", []int{dim})...)
	return append(ms, wb("lm_head", "output", []int{vocab, dim})...)
}

func gpt2Maps(layers, dim, ctx, vocab int) []mapping {
	p := "transformer."
	ms := []mapping{{p + "wte.weight", "token_embd.weight", []int{vocab, dim}, ""}, {p + "wpe.weight", "position_embd.weight", []int{ctx, dim}, ""}}
	for l := 0; l < layers; l++ {
		h, g := fmt.Sprintf("%sh.%d.", p, l), fmt.Sprintf("blk.%d.", l)
		ms = append(ms,
			mapping{h + "ln_1.weight", g + "attn_norm.weight", []int{dim}, ""},
			mapping{h + "ln_1.bias", g + "attn_norm.bias", []int{dim}, ""},
			mapping{h + "attn.c_attn.weight", g + "attn_qkv.weight", []int{dim, 3 * dim}, "T"},
			mapping{h + "attn.c_attn.bias", g + "attn_qkv.bias", []int{3 * dim}, ""},
			mapping{h + "attn.c_proj.weight", g + "attn_output.weight", []int{dim, dim}, "T"},
			mapping{h + "attn.c_proj.bias", g + "attn_output.bias", []int{dim}, ""},
			mapping{h + "ln_2.weight", g + "ffn_norm.weight", []int{dim}, ""},
			mapping{h + "ln_2.bias", g + "ffn_norm.bias", []int{dim}, ""},
			mapping{h + "mlp.c_fc.weight", g + "ffn_up.weight", []int{dim, 4 * dim}, "T"},
			mapping{h + "mlp.c_fc.bias", g + "ffn_up.bias", []int{4 * dim}, ""},
			mapping{h + "mlp.c_proj.weight", g + "ffn_down.weight", []int{4 * dim, dim}, "T"},
			mapping{h + "mlp.c_proj.bias", g + "ffn_down.bias", []int{dim}, ""},
		)
	}
	return append(ms, mapping{p + "ln_f.weight", "output_norm.weight", []int{dim}, ""}, mapping{p + "ln_f.bias", "output_norm.bias", []int{dim}, ""})
}

func llamaConfig(class string, extra map[string]any) map[string]any {
	c := map[string]any{"architectures": []string{class}, "hidden_size": 16, "intermediate_size": 24, "num_hidden_layers": 2,
		"num_attention_heads": 4, "num_key_value_heads": 2, "vocab_size": 262, "max_position_embeddings": 64,
		"rms_norm_eps": 1e-5, "rope_theta": 10000.0, "tie_word_embeddings": false}
	for k, v := range extra {
		c[k] = v
	}
	return c
}

func metaValue(meta []gguf.KV, key string) (gguf.Value, bool) {
	for _, kv := range meta {
		if kv.Key == key {
			return kv.Value, true
		}
	}
	return gguf.Value{}, false
}

func TestOpenArchitectures(t *testing.T) {
	for _, tc := range []struct {
		name   string
		config map[string]any
		maps   []mapping
		extra  []stEntry
		dtype  string
		arch   string
		meta   map[string]float64 // numeric metadata to check
	}{
		{"llama gqa untied", llamaConfig("LlamaForCausalLM", nil), llamaMaps(2, 16, 16, 8, 24, 262, 4, 2, false, false, true), nil, "F32", "llama",
			map[string]float64{"llama.embedding_length": 16, "llama.attention.head_count_kv": 2, "llama.rope.dimension_count": 4, "llama.context_length": 64, "llama.vocab_size": 262}},
		{"llama tied bf16", llamaConfig("LlamaForCausalLM", map[string]any{"tie_word_embeddings": true, "rope_theta": 500000.0}),
			llamaMaps(2, 16, 16, 8, 24, 262, 4, 2, false, true, true), []stEntry{{"model.layers.0.self_attn.rotary_emb.inv_freq", "F32", []int{2}, make([]byte, 8)}}, "BF16", "llama",
			map[string]float64{"llama.rope.freq_base": 500000}},
		{"mistral", llamaConfig("MistralForCausalLM", map[string]any{"sliding_window": 4096}), llamaMaps(2, 16, 16, 8, 24, 262, 4, 2, false, false, true), nil, "F32", "llama",
			map[string]float64{"llama.attention.sliding_window": 4096}},
		{"qwen2", llamaConfig("Qwen2ForCausalLM", map[string]any{"rms_norm_eps": 1e-6}), llamaMaps(2, 16, 16, 8, 24, 262, 4, 2, true, false, false), nil, "BF16", "qwen2",
			map[string]float64{"qwen2.attention.layer_norm_rms_epsilon": float64(float32(1e-6))}},
		{"phi", map[string]any{"architectures": []string{"PhiForCausalLM"}, "hidden_size": 16, "intermediate_size": 64, "num_hidden_layers": 2,
			"num_attention_heads": 2, "vocab_size": 270, "max_position_embeddings": 32, "layer_norm_eps": 1e-5, "partial_rotary_factor": 0.5,
			"hidden_act": "gelu_new"}, phiMaps(2, 16, 64, 270), nil, "F32", "phi2",
			map[string]float64{"phi2.rope.dimension_count": 4, "phi2.attention.layer_norm_epsilon": float64(float32(1e-5)), "phi2.feed_forward_length": 64}},
		{"gpt2", map[string]any{"architectures": []string{"GPT2LMHeadModel"}, "n_embd": 16, "n_layer": 2, "n_head": 2, "n_positions": 32,
			"vocab_size": 259, "layer_norm_epsilon": 1e-5, "activation_function": "gelu_new"}, gpt2Maps(2, 16, 32, 259),
			[]stEntry{{"transformer.h.0.attn.bias", "F32", []int{1}, make([]byte, 4)}, {"transformer.h.1.attn.masked_bias", "F32", []int{1}, make([]byte, 4)}}, "F32", "gpt2",
			map[string]float64{"gpt2.feed_forward_length": 64, "gpt2.context_length": 32}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tm := &testModel{dir: t.TempDir(), config: tc.config, maps: tc.maps, extra: tc.extra, dtype: tc.dtype}
			tm.write(t)
			for _, lazy := range []bool{false, true} {
				m, err := Open(tm.dir, Options{Lazy: lazy})
				if err != nil {
					t.Fatal(err)
				}
				if m.Arch != tc.arch {
					t.Errorf("arch %q, want %q", m.Arch, tc.arch)
				}
				if a, _ := metaValue(m.Meta, gguf.KeyArchitecture); a.String() != fmt.Sprintf("%q", tc.arch) {
					t.Errorf("general.architecture = %v", a)
				}
				for k, want := range tc.meta {
					v, ok := metaValue(m.Meta, k)
					got, _ := v.AsFloat()
					if !ok || got != want {
						t.Errorf("%s = %v (present %v), want %v", k, got, ok, want)
					}
				}
				if len(m.Tensors) != len(tc.maps) {
					t.Errorf("%d tensors, want %d", len(m.Tensors), len(tc.maps))
				}
				for _, mp := range tc.maps {
					g := m.Tensor(mp.gguf)
					if g == nil {
						t.Errorf("no tensor %s (from %s)", mp.gguf, mp.hf)
						continue
					}
					want := tm.expected(mp)
					wantShape := slices.Clone(mp.shape)
					if mp.op != "T" {
						slices.Reverse(wantShape)
					}
					if !slices.Equal(g.Shape, wantShape) {
						t.Errorf("%s: shape %v, want %v", mp.gguf, g.Shape, wantShape)
					}
					data, err := m.Data(g)
					if err != nil {
						t.Fatal(err)
					}
					if len(g.Shape) == 1 && g.Type != tensor.F32 {
						t.Errorf("%s: 1-D tensor of type %s, want F32", mp.gguf, g.Type)
					}
					got := make([]float32, len(want))
					if err := tensor.Dequantize(got, g.Type, data); err != nil {
						t.Fatal(err)
					}
					if !slices.Equal(got, want) {
						t.Errorf("%s (op %q): data differs from %s", mp.gguf, mp.op, mp.hf)
					}
					if hfName, file := m.SourceName(mp.gguf); hfName != mp.hf || filepath.Base(file) != "model.safetensors" {
						t.Errorf("SourceName(%s) = %s, %s", mp.gguf, hfName, file)
					}
				}
				if lazy && m.Copied != 0 {
					t.Errorf("lazy open copied %d bytes", m.Copied)
				}
				if _, err := m.MetaFile(); err != nil {
					t.Error(err)
				}
				m.Close()
			}
		})
	}
}

func TestOpenLlama3RopeScaling(t *testing.T) {
	rs := map[string]any{"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0, "original_max_position_embeddings": 16}
	tm := &testModel{dir: t.TempDir(), config: llamaConfig("LlamaForCausalLM", map[string]any{"rope_scaling": rs}),
		maps: llamaMaps(2, 16, 16, 8, 24, 262, 4, 2, false, false, true), dtype: "F32"}
	tm.write(t)
	m, err := Open(tm.dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	rf := m.Tensor("rope_freqs.weight")
	if rf == nil || !slices.Equal(rf.Shape, []int{2}) {
		t.Fatalf("rope_freqs.weight: %v", rf)
	}
	want, _ := Llama3RopeFactors(4, 10000, &RopeScaling{Factor: 8, LowFreqFactor: 1, HighFreqFactor: 4, OriginalMaxPositionEmbeddings: 16})
	if !slices.Equal(rf.F32s(), want) {
		t.Errorf("rope_freqs %v, want %v", rf.F32s(), want)
	}
}

func TestOpenErrors(t *testing.T) {
	maps := llamaMaps(2, 16, 16, 8, 24, 262, 4, 2, false, false, true)
	good := func(t *testing.T) *testModel {
		tm := &testModel{dir: t.TempDir(), config: llamaConfig("LlamaForCausalLM", nil), maps: maps, dtype: "F32"}
		tm.write(t)
		return tm
	}
	for _, tc := range []struct {
		name  string
		edit  func(t *testing.T, tm *testModel)
		wants []string
	}{
		{"unknown architecture", func(t *testing.T, tm *testModel) {
			tm.config["architectures"] = []string{"FalconForCausalLM"}
			writeJSON(t, filepath.Join(tm.dir, ConfigFile), tm.config)
		}, []string{"config.json", `"FalconForCausalLM" is not supported`, "LlamaForCausalLM", "GPT2LMHeadModel", "PhiForCausalLM", "Qwen2ForCausalLM", "MistralForCausalLM"}},
		{"size mismatch", func(t *testing.T, tm *testModel) {
			tm.config["num_key_value_heads"] = 4
			writeJSON(t, filepath.Join(tm.dir, ConfigFile), tm.config)
		}, []string{"model.safetensors", `"model.layers.0.self_attn.k_proj.weight"`, "[8 16]", "[16 16]", "num_key_value_heads"}},
		{"too few layers in config", func(t *testing.T, tm *testModel) {
			tm.config["num_hidden_layers"] = 1
			writeJSON(t, filepath.Join(tm.dir, ConfigFile), tm.config)
		}, []string{"model.safetensors", `unexpected tensor "model.layers.1.`}},
		{"missing tensor", func(t *testing.T, tm *testModel) {
			tm.maps = slices.DeleteFunc(slices.Clone(tm.maps), func(m mapping) bool { return m.hf == "lm_head.weight" })
			tm.write(t)
		}, []string{`missing tensor "lm_head.weight"`}},
		{"unsupported dtype", func(t *testing.T, tm *testModel) {
			var entries []stEntry
			for _, m := range tm.maps {
				dt, data := "F32", f32le(tm.values[m.hf])
				if m.hf == "model.norm.weight" {
					dt, data = "F64", make([]byte, 8*16)
				}
				entries = append(entries, stEntry{m.hf, dt, m.shape, data})
			}
			writeST(t, filepath.Join(tm.dir, "model.safetensors"), entries)
		}, []string{"model.safetensors", `"model.norm.weight"`, "F64", "not supported"}},
		{"missing shard", func(t *testing.T, tm *testModel) {
			os.Rename(filepath.Join(tm.dir, "model.safetensors"), filepath.Join(tm.dir, "model-00001-of-00002.safetensors"))
			wm := map[string]string{}
			for _, m := range tm.maps {
				wm[m.hf] = "model-00001-of-00002.safetensors"
			}
			wm["lm_head.weight"] = "model-00002-of-00002.safetensors"
			writeJSON(t, filepath.Join(tm.dir, "model.safetensors.index.json"), map[string]any{"weight_map": wm})
		}, []string{"model-00002-of-00002.safetensors", "missing", `"lm_head.weight"`}},
		{"tokenizer larger than vocab", func(t *testing.T, tm *testModel) {
			tm.config["vocab_size"] = 100
			writeJSON(t, filepath.Join(tm.dir, ConfigFile), tm.config)
		}, []string{"259 tokens", "vocabulary of 100"}},
		{"no tokenizer", func(t *testing.T, tm *testModel) {
			os.Remove(filepath.Join(tm.dir, TokenizerFile))
		}, []string{TokenizerFile}},
		{"bad config", func(t *testing.T, tm *testModel) {
			os.WriteFile(filepath.Join(tm.dir, ConfigFile), []byte(`{"hidden_size": "big"}`), 0o644)
		}, []string{"config.json", "not a valid config"}},
		{"rope scaling", func(t *testing.T, tm *testModel) {
			tm.config["rope_scaling"] = map[string]any{"type": "yarn", "factor": 4.0}
			writeJSON(t, filepath.Join(tm.dir, ConfigFile), tm.config)
		}, []string{`rope_scaling type "yarn" is not supported`}},
		{"head_dim", func(t *testing.T, tm *testModel) {
			tm.config["head_dim"] = 8
			writeJSON(t, filepath.Join(tm.dir, ConfigFile), tm.config)
		}, []string{"head_dim 8"}},
		{"missing field", func(t *testing.T, tm *testModel) {
			delete(tm.config, "intermediate_size")
			writeJSON(t, filepath.Join(tm.dir, ConfigFile), tm.config)
		}, []string{"intermediate_size is 0"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tm := good(t)
			tc.edit(t, tm)
			_, err := Open(tm.dir, Options{})
			if err == nil {
				t.Fatal("no error")
			}
			t.Log(err)
			for _, w := range tc.wants {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

// TestCopies: only the permuted Q and K are copied; the others view the
// mapped file.
func TestCopies(t *testing.T) {
	tm := &testModel{dir: t.TempDir(), config: llamaConfig("LlamaForCausalLM", nil), maps: llamaMaps(2, 16, 16, 8, 24, 262, 4, 2, false, false, true), dtype: "F32"}
	tm.write(t)
	m, err := Open(tm.dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	// Q (16×16) and K (8×16) of two layers, F32.
	if want := int64(2 * (16*16 + 8*16) * 4); m.Copied != want {
		t.Errorf("copied %d bytes, want %d", m.Copied, want)
	}
	emb := m.Tensor("token_embd.weight").Data
	if string(emb[:64]) != string(f32le(tm.values["model.embed_tokens.weight"][:16])) {
		t.Error("token_embd.weight data differs")
	}
	for _, file := range m.st.Files {
		if file.DataOffset%8 != 0 {
			t.Fatalf("test file has a misaligned data section at %d", file.DataOffset)
		}
	}
}
