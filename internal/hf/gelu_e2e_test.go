package hf_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"path/filepath"
	"testing"

	"github.com/unswift/unswift/internal/safetensors"
	"github.com/unswift/unswift/internal/tensor"
)

// refGELU is a Phi-2 (PhiForCausalLM) or GPT-2 (GPT2LMHeadModel) model in
// Hugging Face's conventions, run by a plain float64 forward pass that shares
// nothing with the engine. Phi-2: parallel attention and MLP from one
// LayerNorm, rotate_half RoPE on the first rotary dimensions of each head,
// biases on every projection, an untied classifier with a bias. GPT-2:
// learned positions, sequential blocks, Conv1D weights stored [in, out] with
// y = x·W + b, a fused c_attn (q, k, v), a classifier tied to the embedding.
type refGELU struct {
	class                                  string
	dim, hidden, layers, heads, vocab, ctx int
	eps, base, rotary                      float64 // rotary: Phi's partial_rotary_factor
	prefix                                 string  // GPT-2: written before every name ("transformer.")

	w map[string][]float64 // by Hugging Face name
}

func (r *refGELU) phi() bool    { return r.class == "PhiForCausalLM" }
func (r *refGELU) headDim() int { return r.dim / r.heads }
func (r *refGELU) rotDim() int  { return int(float64(r.headDim()) * r.rotary) }
func (r *refGELU) get(n string) []float64 {
	v, ok := r.w[n]
	if !ok {
		panic("reference: no tensor " + n)
	}
	return v
}

// specs lists the model's tensors: name and shape (outermost first).
func (r *refGELU) specs() []hfTensor {
	d, hd := r.dim, r.hidden
	var ts []hfTensor
	add := func(name string, shape ...int) { ts = append(ts, hfTensor{name: name, shape: shape}) }
	if r.phi() {
		add("model.embed_tokens.weight", r.vocab, d)
		for l := 0; l < r.layers; l++ {
			p := fmt.Sprintf("model.layers.%d.", l)
			add(p+"input_layernorm.weight", d)
			add(p+"input_layernorm.bias", d)
			for _, n := range []string{"q_proj", "k_proj", "v_proj", "dense"} {
				add(p+"self_attn."+n+".weight", d, d)
				add(p+"self_attn."+n+".bias", d)
			}
			add(p+"mlp.fc1.weight", hd, d)
			add(p+"mlp.fc1.bias", hd)
			add(p+"mlp.fc2.weight", d, hd)
			add(p+"mlp.fc2.bias", d)
		}
		add("model.final_layernorm.weight", d)
		add("model.final_layernorm.bias", d)
		add("lm_head.weight", r.vocab, d)
		add("lm_head.bias", r.vocab)
		return ts
	}
	add("wte.weight", r.vocab, d)
	add("wpe.weight", r.ctx, d)
	for l := 0; l < r.layers; l++ {
		p := fmt.Sprintf("h.%d.", l)
		add(p+"ln_1.weight", d)
		add(p+"ln_1.bias", d)
		add(p+"attn.c_attn.weight", d, 3*d) // Conv1D: [in, out]
		add(p+"attn.c_attn.bias", 3*d)
		add(p+"attn.c_proj.weight", d, d)
		add(p+"attn.c_proj.bias", d)
		add(p+"ln_2.weight", d)
		add(p+"ln_2.bias", d)
		add(p+"mlp.c_fc.weight", d, hd)
		add(p+"mlp.c_fc.bias", hd)
		add(p+"mlp.c_proj.weight", hd, d)
		add(p+"mlp.c_proj.bias", d)
	}
	add("ln_f.weight", d)
	add("ln_f.bias", d)
	return ts
}

func (r *refGELU) randomize(seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 7))
	r.w = map[string][]float64{}
	for _, s := range r.specs() {
		n := 1
		for _, d := range s.shape {
			n *= d
		}
		v := make([]float64, n)
		for i := range v {
			x := rng.NormFloat64() * 0.3
			if len(s.shape) == 1 && filepath.Ext(s.name) == ".weight" { // norm gains
				x = 1 + rng.NormFloat64()*0.1
			}
			v[i] = float64(float32(x))
		}
		r.w[s.name] = v
	}
}

func (r *refGELU) write(t *testing.T, dir string) {
	t.Helper()
	var config map[string]any
	if r.phi() {
		config = map[string]any{"architectures": []string{r.class}, "hidden_size": r.dim, "intermediate_size": r.hidden,
			"num_hidden_layers": r.layers, "num_attention_heads": r.heads, "vocab_size": r.vocab,
			"max_position_embeddings": r.ctx, "layer_norm_eps": r.eps, "rope_theta": r.base,
			"partial_rotary_factor": r.rotary, "hidden_act": "gelu_new", "tie_word_embeddings": false,
			"bos_token_id": 256, "eos_token_id": 256}
	} else {
		config = map[string]any{"architectures": []string{r.class}, "n_embd": r.dim, "n_inner": r.hidden,
			"n_layer": r.layers, "n_head": r.heads, "vocab_size": r.vocab, "n_positions": r.ctx,
			"layer_norm_epsilon": r.eps, "activation_function": "gelu_new", "bos_token_id": 256, "eos_token_id": 256}
	}
	writeJSON(t, filepath.Join(dir, "config.json"), config)
	writeTokenizer(t, dir)
	var ts []*tensor.Tensor
	for _, s := range r.specs() {
		f := make([]float32, len(r.w[s.name]))
		for i, x := range r.w[s.name] {
			f[i] = float32(x)
		}
		shape := make([]int, len(s.shape))
		for j, d := range s.shape {
			shape[len(shape)-1-j] = d
		}
		ts = append(ts, &tensor.Tensor{Name: r.prefix + s.name, Type: tensor.F32, Shape: shape, Data: tensor.Bytes(f)})
	}
	if err := safetensors.WriteFile(filepath.Join(dir, "model.safetensors"), map[string]string{"format": "pt"}, ts); err != nil {
		t.Fatal(err)
	}
}

func layerNorm(x, w, b []float64, eps float64) []float64 {
	var mean, v float64
	for _, a := range x {
		mean += a
	}
	mean /= float64(len(x))
	for _, a := range x {
		v += (a - mean) * (a - mean)
	}
	v /= float64(len(x))
	out := make([]float64, len(x))
	for i := range x {
		out[i] = (x[i]-mean)/math.Sqrt(v+eps)*w[i] + b[i]
	}
	return out
}

// linear is y = W x + b with W stored [out, in] (torch.nn.Linear).
func linear(w, b, x []float64) []float64 {
	y := matvec(w, x, len(b))
	for i := range y {
		y[i] += b[i]
	}
	return y
}

// conv1d is y = x W + b with W stored [in, out] (transformers' Conv1D).
func conv1d(w, b, x []float64) []float64 {
	out := len(b)
	y := append([]float64(nil), b...)
	for i, xv := range x {
		for o := 0; o < out; o++ {
			y[o] += xv * w[i*out+o]
		}
	}
	return y
}

// geluNew is transformers' "gelu_new": 0.5x(1 + tanh(√(2/π)(x + 0.044715x³))).
func geluNew(x float64) float64 {
	return 0.5 * x * (1 + math.Tanh(math.Sqrt(2/math.Pi)*(x+0.044715*x*x*x)))
}

// attend is causal multi-head attention of q over the cached keys and values.
func attend(q []float64, keys, vals [][]float64, heads int) []float64 {
	hd := len(q) / heads
	out := make([]float64, len(q))
	for h := 0; h < heads; h++ {
		scores := make([]float64, len(keys))
		maxs := math.Inf(-1)
		for p, k := range keys {
			var s float64
			for i := 0; i < hd; i++ {
				s += q[h*hd+i] * k[h*hd+i]
			}
			scores[p] = s / math.Sqrt(float64(hd))
			maxs = math.Max(maxs, scores[p])
		}
		var sum float64
		for p := range scores {
			scores[p] = math.Exp(scores[p] - maxs)
			sum += scores[p]
		}
		for p, v := range vals {
			for i := 0; i < hd; i++ {
				out[h*hd+i] += scores[p] / sum * v[h*hd+i]
			}
		}
	}
	return out
}

// forward returns the logits after every token.
func (r *refGELU) forward(tokens []int) [][]float64 {
	d := r.dim
	keys := make([][][]float64, r.layers)
	vals := make([][][]float64, r.layers)
	var logits [][]float64
	for pos, tok := range tokens {
		var x []float64
		if r.phi() {
			x = append(x, r.get("model.embed_tokens.weight")[tok*d:(tok+1)*d]...)
		} else {
			x = append(x, r.get("wte.weight")[tok*d:(tok+1)*d]...)
			for i, p := range r.get("wpe.weight")[pos*d : (pos+1)*d] {
				x[i] += p
			}
		}
		for l := 0; l < r.layers; l++ {
			if r.phi() {
				p := fmt.Sprintf("model.layers.%d.", l)
				g := func(n string) []float64 { return r.get(p + n) }
				h := layerNorm(x, g("input_layernorm.weight"), g("input_layernorm.bias"), r.eps)
				q := linear(g("self_attn.q_proj.weight"), g("self_attn.q_proj.bias"), h)
				k := linear(g("self_attn.k_proj.weight"), g("self_attn.k_proj.bias"), h)
				v := linear(g("self_attn.v_proj.weight"), g("self_attn.v_proj.bias"), h)
				r.rotateHalf(q, pos)
				r.rotateHalf(k, pos)
				keys[l] = append(keys[l], k)
				vals[l] = append(vals[l], v)
				att := linear(g("self_attn.dense.weight"), g("self_attn.dense.bias"), attend(q, keys[l], vals[l], r.heads))
				m := linear(g("mlp.fc1.weight"), g("mlp.fc1.bias"), h)
				for i := range m {
					m[i] = geluNew(m[i])
				}
				m = linear(g("mlp.fc2.weight"), g("mlp.fc2.bias"), m)
				for i := range x {
					x[i] += att[i] + m[i]
				}
				continue
			}
			p := fmt.Sprintf("h.%d.", l)
			g := func(n string) []float64 { return r.get(p + n) }
			h := layerNorm(x, g("ln_1.weight"), g("ln_1.bias"), r.eps)
			qkv := conv1d(g("attn.c_attn.weight"), g("attn.c_attn.bias"), h)
			q, k, v := qkv[:d], qkv[d:2*d], qkv[2*d:]
			keys[l] = append(keys[l], k)
			vals[l] = append(vals[l], v)
			att := conv1d(g("attn.c_proj.weight"), g("attn.c_proj.bias"), attend(q, keys[l], vals[l], r.heads))
			for i := range x {
				x[i] += att[i]
			}
			h = layerNorm(x, g("ln_2.weight"), g("ln_2.bias"), r.eps)
			m := conv1d(g("mlp.c_fc.weight"), g("mlp.c_fc.bias"), h)
			for i := range m {
				m[i] = geluNew(m[i])
			}
			m = conv1d(g("mlp.c_proj.weight"), g("mlp.c_proj.bias"), m)
			for i := range x {
				x[i] += m[i]
			}
		}
		if r.phi() {
			h := layerNorm(x, r.get("model.final_layernorm.weight"), r.get("model.final_layernorm.bias"), r.eps)
			logits = append(logits, linear(r.get("lm_head.weight"), r.get("lm_head.bias"), h))
		} else {
			h := layerNorm(x, r.get("ln_f.weight"), r.get("ln_f.bias"), r.eps)
			logits = append(logits, matvec(r.get("wte.weight"), h, r.vocab))
		}
	}
	return logits
}

// rotateHalf applies transformers' partial rotary embedding: the first rotDim
// dimensions of each head, dimension i paired with i + rotDim/2.
func (r *refGELU) rotateHalf(v []float64, pos int) {
	hd, rd := r.headDim(), r.rotDim()
	half := rd / 2
	for h := 0; h < r.heads; h++ {
		for i := 0; i < half; i++ {
			f := 1 / math.Pow(r.base, float64(2*i)/float64(rd))
			c, s := math.Cos(float64(pos)*f), math.Sin(float64(pos)*f)
			a, b := v[h*hd+i], v[h*hd+i+half]
			v[h*hd+i] = a*c - b*s
			v[h*hd+i+half] = b*c + a*s
		}
	}
}

// TestGELULogits builds tiny random Phi-2 and GPT-2 models in the Hugging
// Face layout and checks the engine's logits at every position against the
// float64 reference, from the directory and from its GGUF conversion.
func TestGELULogits(t *testing.T) {
	tokens := []int{256, 72, 101, 108, 108, 111, 44, 32, 119, 111, 114, 108, 100, 33, 299, 3}
	for _, r := range []refGELU{
		{class: "PhiForCausalLM", dim: 32, hidden: 64, layers: 2, heads: 4, vocab: 300, ctx: 64, eps: 1e-5, base: 10000, rotary: 0.5},
		{class: "PhiForCausalLM", dim: 48, hidden: 40, layers: 3, heads: 3, vocab: 300, ctx: 64, eps: 1e-5, base: 500, rotary: 0.25},
		{class: "GPT2LMHeadModel", dim: 32, hidden: 128, layers: 2, heads: 4, vocab: 300, ctx: 40, eps: 1e-5},
		{class: "GPT2LMHeadModel", dim: 24, hidden: 56, layers: 3, heads: 2, vocab: 300, ctx: 20, eps: 1e-5, prefix: "transformer."},
	} {
		t.Run(fmt.Sprintf("%s dim %d rotary %v", r.class, r.dim, r.rotary), func(t *testing.T) {
			r.randomize(uint64(r.dim))
			dir := t.TempDir()
			r.write(t, dir)
			want := r.forward(tokens)
			if d := maxDiff(engineLogits(t, dir, tokens), want); d > 1e-5 {
				t.Errorf("directory: logits differ from the reference by %.3g (relative)", d)
			} else {
				t.Logf("directory: max |engine − reference| / scale = %.2g", d)
			}
			if d := maxDiff(engineLogits(t, toGGUF(t, dir), tokens), want); d > 1e-5 {
				t.Errorf("GGUF: logits differ from the reference by %.3g (relative)", d)
			}
			checkRoundTrip(t, dir)
		})
	}
}
