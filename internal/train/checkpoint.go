package train

import (
	"encoding/json"
	"fmt"
	"slices"

	"github.com/unswift/unswift/internal/gguf"
	"github.com/unswift/unswift/internal/model"
	"github.com/unswift/unswift/internal/tensor"
)

// Checkpoint metadata keys. A checkpoint is a GGUF file (not a model: it has
// no architecture metadata) holding every parameter tensor under its model
// name and, for each tensor with optimizer state, its AdamW moments as
// "adam_m.NAME" and "adam_v.NAME".
const (
	keyCkptVersion   = "unswift.train.version"
	keyCkptStep      = "unswift.train.step"
	keyCkptConfig    = "unswift.train.config"     // JSON of model.Config
	keyCkptOptions   = "unswift.train.options"    // JSON of Options (informational)
	keyCkptWithheld  = "unswift.train.withheld"   // int32 per layer
	keyCkptAdamNames = "unswift.train.adam_names" // tensors with optimizer state
	keyCkptAdamSteps = "unswift.train.adam_steps" // their update counts
	ckptVersion      = 1
)

// Save writes a checkpoint of the parameters and the optimizer state (step
// count, AdamW moments) to path atomically.
func (t *Trainer) Save(path string) error {
	cfg, err := json.Marshal(t.p.Config)
	if err != nil {
		return fmt.Errorf("train: checkpoint: %w", err)
	}
	optj, err := json.Marshal(t.opt)
	if err != nil {
		return fmt.Errorf("train: checkpoint: %w", err)
	}
	w, err := gguf.Create(path)
	if err != nil {
		return fmt.Errorf("train: checkpoint: %w", err)
	}
	defer w.Abort()
	w.AddUint32(keyCkptVersion, ckptVersion)
	w.AddUint64(keyCkptStep, uint64(t.step))
	w.AddString(keyCkptConfig, string(cfg))
	w.AddString(keyCkptOptions, string(optj))
	withheld := make([]int32, len(t.p.Withheld))
	for i, e := range t.p.Withheld {
		withheld[i] = int32(e)
	}
	w.AddInt32s(keyCkptWithheld, withheld)
	var names []string
	steps := []int32{}
	type blob struct {
		name string
		data []float32
	}
	var blobs []blob
	for _, p := range t.p.All() {
		w.AddTensorInfo(p.Name, tensor.F32, p.Shape...)
		blobs = append(blobs, blob{p.Name, p.W})
	}
	for _, p := range t.p.All() {
		st := t.state[p.Name]
		if st == nil {
			continue
		}
		names = append(names, p.Name)
		steps = append(steps, int32(st.t))
		w.AddTensorInfo("adam_m."+p.Name, tensor.F32, p.Shape...)
		w.AddTensorInfo("adam_v."+p.Name, tensor.F32, p.Shape...)
		blobs = append(blobs, blob{"adam_m." + p.Name, st.m}, blob{"adam_v." + p.Name, st.v})
	}
	if names == nil {
		names = []string{}
	}
	w.AddStrings(keyCkptAdamNames, names)
	w.AddInt32s(keyCkptAdamSteps, steps)
	if err := w.WriteHeader(); err != nil {
		return fmt.Errorf("train: checkpoint %s: %w", path, err)
	}
	for _, b := range blobs {
		if err := w.WriteTensorData(b.name, tensor.Bytes(b.data)); err != nil {
			return fmt.Errorf("train: checkpoint %s: %w", path, err)
		}
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("train: checkpoint %s: %w", path, err)
	}
	return nil
}

// Load restores a checkpoint written by Save into the trainer's parameters
// and optimizer state. The checkpoint must be of a model of the same shape.
// The trainer's options and the set of trainable tensors are kept; tensors
// without saved optimizer state start it afresh when next updated. Nothing
// is changed when Load fails.
func (t *Trainer) Load(path string) error {
	f, err := gguf.Open(path)
	if err != nil {
		return fmt.Errorf("train: checkpoint: %w", err)
	}
	defer f.Close()
	fail := func(format string, args ...any) error {
		return fmt.Errorf("train: checkpoint %s: "+format, append([]any{path}, args...)...)
	}
	if v, ok := f.Uint(keyCkptVersion); !ok || v != ckptVersion {
		return fail("not a training checkpoint of version %d (%s is %v)", ckptVersion, keyCkptVersion, v)
	}
	step, ok := f.Uint(keyCkptStep)
	if !ok || step > 1<<40 {
		return fail("%s missing or out of range", keyCkptStep)
	}
	cfgj, _ := f.String(keyCkptConfig)
	var cfg model.Config
	if err := json.Unmarshal([]byte(cfgj), &cfg); err != nil {
		return fail("bad %s: %v", keyCkptConfig, err)
	}
	if err := sameShape(&t.p.Config, &cfg); err != nil {
		return fail("%v", err)
	}
	withheld, ok := f.Ints(keyCkptWithheld)
	if !ok || len(withheld) != len(t.p.Layers) {
		return fail("%s must list %d layers", keyCkptWithheld, len(t.p.Layers))
	}
	names, ok1 := f.Strings(keyCkptAdamNames)
	steps, ok2 := f.Ints(keyCkptAdamSteps)
	if !ok1 || !ok2 || len(names) != len(steps) {
		return fail("%s and %s missing or of different lengths", keyCkptAdamNames, keyCkptAdamSteps)
	}
	get := func(name string, shape []int) ([]float32, error) {
		g := f.Tensor(name)
		if g == nil {
			return nil, fail("lacks tensor %s", name)
		}
		if g.Type != tensor.F32 || !slices.Equal(g.Shape, shape) {
			return nil, fail("tensor %s is %s %v, want F32 %v", name, g.Type, g.Shape, shape)
		}
		out := make([]float32, g.Len())
		if err := tensor.Dequantize(out, g.Type, g.Data); err != nil {
			return nil, fail("tensor %s: %v", name, err)
		}
		return out, nil
	}
	// Read everything first, then commit.
	ps := t.p.All()
	values := make([][]float32, len(ps))
	for i, p := range ps {
		if values[i], err = get(p.Name, p.Shape); err != nil {
			return err
		}
	}
	state := map[string]*adamState{}
	for i, name := range names {
		p := t.p.Lookup(name)
		if p == nil {
			return fail("optimizer state of unknown tensor %s", name)
		}
		if steps[i] < 1 || steps[i] > 1<<40 {
			return fail("tensor %s: optimizer step count %d out of range", name, steps[i])
		}
		st := &adamState{t: int(steps[i])}
		if st.m, err = get("adam_m."+name, p.Shape); err != nil {
			return err
		}
		if st.v, err = get("adam_v."+name, p.Shape); err != nil {
			return err
		}
		state[name] = st
	}
	for i, p := range ps {
		copy(p.W, values[i])
	}
	for l, e := range withheld {
		t.p.Withheld[l] = int(e)
	}
	t.state = state
	t.step = int(step)
	return nil
}
