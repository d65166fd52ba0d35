package hf

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
)

// ConfigFile is the name of a model directory's configuration.
const ConfigFile = "config.json"

// Config is the part of a Hugging Face config.json that unswift reads. Fields
// that a file may omit are pointers (nil: absent) where the default depends
// on the architecture.
type Config struct {
	Architectures []string `json:"architectures"`
	ModelType     string   `json:"model_type"`
	NameOrPath    string   `json:"_name_or_path"`
	TorchDType    string   `json:"torch_dtype"`

	// Llama, Mistral, Qwen2 and Phi.
	HiddenSize            int          `json:"hidden_size"`
	IntermediateSize      int          `json:"intermediate_size"`
	NumHiddenLayers       int          `json:"num_hidden_layers"`
	NumAttentionHeads     int          `json:"num_attention_heads"`
	NumKeyValueHeads      *int         `json:"num_key_value_heads"`
	HeadDim               *int         `json:"head_dim"`
	VocabSize             int          `json:"vocab_size"`
	MaxPositionEmbeddings int          `json:"max_position_embeddings"`
	RMSNormEps            *float64     `json:"rms_norm_eps"`
	RopeTheta             *float64     `json:"rope_theta"`
	RopeScaling           *RopeScaling `json:"rope_scaling"`
	TieWordEmbeddings     *bool        `json:"tie_word_embeddings"`
	HiddenAct             string       `json:"hidden_act"`
	AttentionBias         bool         `json:"attention_bias"`
	MLPBias               bool         `json:"mlp_bias"`
	BOSTokenID            TokenIDs     `json:"bos_token_id"`
	EOSTokenID            TokenIDs     `json:"eos_token_id"`

	// Mistral and Qwen2: attention over a sliding window of this many
	// positions (Qwen2 only when UseSlidingWindow).
	SlidingWindow    *int  `json:"sliding_window"`
	UseSlidingWindow *bool `json:"use_sliding_window"`

	// Phi.
	PartialRotaryFactor *float64 `json:"partial_rotary_factor"`
	LayerNormEps        *float64 `json:"layer_norm_eps"`
	QKLayerNorm         bool     `json:"qk_layernorm"`

	// GPT-2.
	NEmbd              int      `json:"n_embd"`
	NLayer             int      `json:"n_layer"`
	NHead              int      `json:"n_head"`
	NPositions         int      `json:"n_positions"`
	NCtx               int      `json:"n_ctx"`
	NInner             *int     `json:"n_inner"`
	LayerNormEpsilon   *float64 `json:"layer_norm_epsilon"`
	ActivationFunction string   `json:"activation_function"`
}

// RopeScaling is config.json's rope_scaling. Only the "llama3" type (Llama
// 3.1 and later) is supported.
type RopeScaling struct {
	RopeType                      string  `json:"rope_type"`
	Type                          string  `json:"type"` // older spelling of rope_type
	Factor                        float64 `json:"factor"`
	LowFreqFactor                 float64 `json:"low_freq_factor"`
	HighFreqFactor                float64 `json:"high_freq_factor"`
	OriginalMaxPositionEmbeddings int     `json:"original_max_position_embeddings"`
}

// Kind returns the scaling type (rope_type, or the older type).
func (r *RopeScaling) Kind() string {
	if r.RopeType != "" {
		return r.RopeType
	}
	return r.Type
}

// TokenIDs is a special token id of config.json, which may be a number or a
// list of numbers (Llama 3.1 lists several end-of-sequence ids) or null.
type TokenIDs []int

// UnmarshalJSON accepts a number, a list of numbers or null.
func (t *TokenIDs) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch {
	case bytes.Equal(b, []byte("null")):
		*t = nil
		return nil
	case len(b) > 0 && b[0] == '[':
		var ids []int
		if err := json.Unmarshal(b, &ids); err != nil {
			return err
		}
		*t = ids
		return nil
	}
	var id int
	if err := json.Unmarshal(b, &id); err != nil {
		return err
	}
	*t = TokenIDs{id}
	return nil
}

// First returns the first id, or -1 when there is none.
func (t TokenIDs) First() int {
	if len(t) == 0 {
		return -1
	}
	return t[0]
}

// ReadConfig reads and parses a config.json file.
func ReadConfig(path string) (*Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("hf: %w", err)
	}
	c, err := ParseConfig(b)
	if err != nil {
		return nil, fmt.Errorf("hf: %s: %v", path, err)
	}
	return c, nil
}

// ParseConfig parses the contents of a config.json file.
func ParseConfig(b []byte) (*Config, error) {
	var c Config
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, fmt.Errorf("not a valid config: %v", err)
	}
	return &c, nil
}
