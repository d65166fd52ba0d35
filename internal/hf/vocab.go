package hf

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strings"

	"github.com/unswift/unswift/internal/gguf"
	"github.com/unswift/unswift/internal/tokenizer"
)

// Tokenizer file names of a model directory.
const (
	TokenizerFile       = "tokenizer.json"
	TokenizerConfigFile = "tokenizer_config.json"
	ChatTemplateFile    = "chat_template.jinja"
)

// GGUF tokenizer keys beyond those package tokenizer reads.
const (
	keyUNK          = "tokenizer.ggml.unknown_token_id"
	keyAddBOS       = "tokenizer.ggml.add_bos_token"
	keyAddEOS       = "tokenizer.ggml.add_eos_token"
	keyChatTemplate = "tokenizer.chat_template"
)

// Vocab is a tokenizer's vocabulary in the form GGUF stores it.
type Vocab struct {
	// Model is "llama" for SentencePiece-style BPE (scores drive the merges)
	// or "gpt2" for byte-level BPE (ranked merges).
	Model string
	// Pre is the pre-tokenizer of a "gpt2" vocabulary.
	Pre tokenizer.Pretokenizer
	// IgnoreMerges: a "gpt2" word that is a token is not merged (Llama 3).
	IgnoreMerges bool
	Tokens       []string
	Scores       []float32 // "llama" only
	Types        []int32   // tokenizer.TokenType values
	Merges       []string  // "gpt2" only: "left right" in rank order
	// BOS, EOS and UNK are token ids, or -1.
	BOS, EOS, UNK  int
	AddBOS, AddEOS bool
	// ChatTemplate is the Jinja chat template ("" when none).
	ChatTemplate string
}

// Tokenizer builds the tokenizer of the vocabulary.
func (v *Vocab) Tokenizer() (tokenizer.Tokenizer, error) {
	switch v.Model {
	case "llama":
		return tokenizer.NewSentencePiece(v.Tokens, v.Scores, v.Types, v.BOS, v.EOS)
	case "gpt2":
		return tokenizer.NewBPEWithOptions(v.Tokens, v.Merges, v.Types, v.BOS, v.EOS,
			tokenizer.BPEOptions{Pre: v.Pre, IgnoreMerges: v.IgnoreMerges})
	}
	return nil, fmt.Errorf("hf: tokenizer model %q is not supported", v.Model)
}

// Pad extends the vocabulary to n tokens with unused "[PADi]" tokens, as
// llama.cpp does when a model's embedding has more rows than its tokenizer
// has tokens. A vocabulary larger than n is an error.
func (v *Vocab) Pad(n int) error {
	if len(v.Tokens) > n {
		return fmt.Errorf("the tokenizer has %d tokens, more than the model's vocabulary of %d", len(v.Tokens), n)
	}
	for i := len(v.Tokens); i < n; i++ {
		v.Tokens = append(v.Tokens, fmt.Sprintf("[PAD%d]", i))
		v.Types = append(v.Types, int32(tokenizer.TypeUnused))
		if v.Model == "llama" {
			v.Scores = append(v.Scores, 0)
		}
	}
	return nil
}

// Meta returns the vocabulary as GGUF tokenizer metadata.
func (v *Vocab) Meta() []gguf.KV {
	kv := []gguf.KV{{Key: tokenizer.KeyModel, Value: gguf.StringValue(v.Model)}}
	if v.Model == "gpt2" {
		kv = append(kv, gguf.KV{Key: tokenizer.KeyPre, Value: gguf.StringValue(v.Pre.String())})
	}
	kv = append(kv, gguf.KV{Key: tokenizer.KeyTokens, Value: gguf.StringsValue(v.Tokens)})
	if v.Model == "llama" {
		kv = append(kv, gguf.KV{Key: tokenizer.KeyScores, Value: gguf.Float32sValue(v.Scores)})
	}
	kv = append(kv, gguf.KV{Key: tokenizer.KeyTokenTypes, Value: gguf.Int32sValue(v.Types)})
	if v.Model == "gpt2" {
		kv = append(kv, gguf.KV{Key: tokenizer.KeyMerges, Value: gguf.StringsValue(v.Merges)})
	}
	// BOS and EOS are always written (0xFFFFFFFF for none), as readers
	// require them; UNK only when there is one.
	for _, s := range []struct {
		key string
		id  int
	}{{tokenizer.KeyBOS, v.BOS}, {tokenizer.KeyEOS, v.EOS}, {keyUNK, v.UNK}} {
		switch {
		case s.id >= 0:
			kv = append(kv, gguf.KV{Key: s.key, Value: gguf.Uint32Value(uint32(s.id))})
		case s.key != keyUNK:
			kv = append(kv, gguf.KV{Key: s.key, Value: gguf.Uint32Value(math.MaxUint32)})
		}
	}
	kv = append(kv, gguf.KV{Key: keyAddBOS, Value: gguf.BoolValue(v.AddBOS)}, gguf.KV{Key: keyAddEOS, Value: gguf.BoolValue(v.AddEOS)})
	if v.ChatTemplate != "" {
		kv = append(kv, gguf.KV{Key: keyChatTemplate, Value: gguf.StringValue(v.ChatTemplate)})
	}
	return kv
}

// metaMap indexes GGUF metadata by key.
type metaMap map[string]gguf.Value

// Typed accessors: each reports false when key is absent or of another type.

func (m metaMap) str(key string) (string, bool) {
	v, ok := m[key]
	if !ok {
		return "", false
	}
	return v.AsString()
}

func (m metaMap) strs(key string) ([]string, bool) {
	v, ok := m[key]
	if !ok {
		return nil, false
	}
	return v.AsStrings()
}

func (m metaMap) floats(key string) ([]float32, bool) {
	v, ok := m[key]
	if !ok {
		return nil, false
	}
	return v.AsFloat32s()
}

func (m metaMap) ints(key string) ([]int64, bool) {
	v, ok := m[key]
	if !ok {
		return nil, false
	}
	return v.AsInts()
}

func (m metaMap) uint(key string) (uint64, bool) {
	v, ok := m[key]
	if !ok {
		return 0, false
	}
	return v.AsUint()
}

func (m metaMap) float(key string) (float64, bool) {
	v, ok := m[key]
	if !ok {
		return 0, false
	}
	return v.AsFloat()
}

func (m metaMap) bool(key string) (bool, bool) {
	v, ok := m[key]
	if !ok {
		return false, false
	}
	return v.AsBool()
}

func newMetaMap(meta []gguf.KV) metaMap {
	m := make(metaMap, len(meta))
	for _, kv := range meta {
		m[kv.Key] = kv.Value
	}
	return m
}

func (m metaMap) id(key string) (int, error) {
	v, ok := m[key]
	if !ok {
		return -1, nil
	}
	n, ok := v.AsInt()
	switch {
	case !ok:
		return 0, fmt.Errorf("GGUF %s is not an integer", key)
	case n == -1 || n == math.MaxUint32:
		return -1, nil
	case n < 0 || n > math.MaxInt32:
		return 0, fmt.Errorf("GGUF %s = %d is not a token id", key, n)
	}
	return int(n), nil
}

// VocabFromMeta reads a vocabulary from GGUF tokenizer metadata.
func VocabFromMeta(meta []gguf.KV) (*Vocab, error) {
	m := newMetaMap(meta)
	v := &Vocab{}
	var ok bool
	if v.Model, ok = m.str(tokenizer.KeyModel); !ok {
		return nil, fmt.Errorf("hf: GGUF metadata lacks %s", tokenizer.KeyModel)
	}
	if v.Tokens, ok = m.strs(tokenizer.KeyTokens); !ok {
		return nil, fmt.Errorf("hf: GGUF metadata lacks %s", tokenizer.KeyTokens)
	}
	n := len(v.Tokens)
	if ts, ok := m.ints(tokenizer.KeyTokenTypes); ok && len(ts) == n {
		v.Types = make([]int32, n)
		for i, t := range ts {
			v.Types[i] = int32(t)
		}
	} else {
		return nil, fmt.Errorf("hf: GGUF metadata lacks %s for its %d tokens", tokenizer.KeyTokenTypes, n)
	}
	switch v.Model {
	case "llama":
		if v.Scores, ok = m.floats(tokenizer.KeyScores); !ok || len(v.Scores) != n {
			return nil, fmt.Errorf("hf: GGUF metadata lacks %s for its %d tokens", tokenizer.KeyScores, n)
		}
	case "gpt2":
		if v.Merges, ok = m.strs(tokenizer.KeyMerges); !ok {
			return nil, fmt.Errorf("hf: GGUF metadata lacks %s", tokenizer.KeyMerges)
		}
		if name, ok := m.str(tokenizer.KeyPre); ok {
			pre, err := tokenizer.ParsePretokenizer(name)
			if err != nil {
				return nil, fmt.Errorf("hf: %w", err)
			}
			v.Pre, v.IgnoreMerges = pre, pre == tokenizer.PreLlama3
		}
	default:
		return nil, fmt.Errorf("hf: GGUF %s %q is not supported (want \"llama\" or \"gpt2\")", tokenizer.KeyModel, v.Model)
	}
	var err error
	for _, s := range []struct {
		key string
		dst *int
	}{{tokenizer.KeyBOS, &v.BOS}, {tokenizer.KeyEOS, &v.EOS}, {keyUNK, &v.UNK}} {
		if *s.dst, err = m.id(s.key); err != nil {
			return nil, fmt.Errorf("hf: %w", err)
		}
		if *s.dst >= n {
			return nil, fmt.Errorf("hf: GGUF %s = %d is outside the vocabulary of %d", s.key, *s.dst, n)
		}
	}
	if v.UNK < 0 && v.Model == "llama" {
		for i, t := range v.Types {
			if t == int32(tokenizer.TypeUnknown) {
				v.UNK = i
				break
			}
		}
	}
	v.AddBOS = v.Model == "llama"
	if b, ok := m.bool(keyAddBOS); ok {
		v.AddBOS = b
	}
	v.AddEOS, _ = m.bool(keyAddEOS)
	v.ChatTemplate, _ = m.str(keyChatTemplate)
	return v, nil
}

// ReadTokenizer reads the tokenizer of a model directory: tokenizer.json,
// with tokenizer_config.json (special tokens, add_bos_token, chat_template)
// and chat_template.jinja when present. cfg, when not nil, supplies the
// BOS and EOS ids that tokenizer_config.json does not name.
func ReadTokenizer(dir string, cfg *Config) (*Vocab, error) {
	return ReadTokenizerFile(filepath.Join(dir, TokenizerFile), cfg)
}

// ReadTokenizerFile is ReadTokenizer for a tokenizer.json at any path; the
// other files are looked for beside it.
func ReadTokenizerFile(path string, cfg *Config) (*Vocab, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("hf: %s is missing (a SentencePiece tokenizer.model alone is not supported; give a tokenizer.json)", path)
	}
	if err != nil {
		return nil, fmt.Errorf("hf: %w", err)
	}
	tj, err := parseTokenizerJSON(b)
	if err != nil {
		return nil, fmt.Errorf("hf: %s: %w", path, err)
	}
	dir := filepath.Dir(path)
	var tc *tokenizerConfig
	cpath := filepath.Join(dir, TokenizerConfigFile)
	if b, err := os.ReadFile(cpath); err == nil {
		if tc, err = parseTokenizerConfig(b); err != nil {
			return nil, fmt.Errorf("hf: %s: %w", cpath, err)
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("hf: %w", err)
	}
	v, err := tj.vocab(tc, cfg)
	if err != nil {
		return nil, fmt.Errorf("hf: %s: %w", path, err)
	}
	if v.ChatTemplate == "" {
		if b, err := os.ReadFile(filepath.Join(dir, ChatTemplateFile)); err == nil {
			v.ChatTemplate = string(b)
		}
	}
	return v, nil
}

// ParseTokenizerJSON parses the contents of a tokenizer.json file, without a
// tokenizer_config.json (the BOS and EOS come from its post-processor, if
// any).
func ParseTokenizerJSON(b []byte) (*Vocab, error) {
	tj, err := parseTokenizerJSON(b)
	if err != nil {
		return nil, fmt.Errorf("hf: tokenizer.json: %w", err)
	}
	v, err := tj.vocab(nil, nil)
	if err != nil {
		return nil, fmt.Errorf("hf: tokenizer.json: %w", err)
	}
	return v, nil
}

// tokenizer.json.

type tjFile struct {
	AddedTokens   []tjAdded `json:"added_tokens"`
	Normalizer    *tjComp   `json:"normalizer"`
	PreTokenizer  *tjComp   `json:"pre_tokenizer"`
	PostProcessor *tjComp   `json:"post_processor"`
	Model         *tjModel  `json:"model"`
}

type tjAdded struct {
	ID      *int    `json:"id"`
	Content *string `json:"content"`
	Special bool    `json:"special"`
}

type tjModel struct {
	Type                    string          `json:"type"`
	Vocab                   json.RawMessage `json:"vocab"`
	Merges                  json.RawMessage `json:"merges"`
	ByteFallback            bool            `json:"byte_fallback"`
	UnkToken                *string         `json:"unk_token"`
	IgnoreMerges            bool            `json:"ignore_merges"`
	ContinuingSubwordPrefix *string         `json:"continuing_subword_prefix"`
	EndOfWordSuffix         *string         `json:"end_of_word_suffix"`
	Dropout                 *float64        `json:"dropout"`
}

// tjComp is any normalizer, pre-tokenizer or post-processor.
type tjComp struct {
	Type          string    `json:"type"`
	Normalizers   []*tjComp `json:"normalizers"`
	Pretokenizers []*tjComp `json:"pretokenizers"`
	Processors    []*tjComp `json:"processors"`
	Pattern       struct {
		String *string `json:"String"`
		Regex  *string `json:"Regex"`
	} `json:"pattern"`
	Content        string          `json:"content"`
	Prepend        string          `json:"prepend"`
	Replacement    string          `json:"replacement"`
	PrependScheme  string          `json:"prepend_scheme"`
	AddPrefixSpace *bool           `json:"add_prefix_space"`
	UseRegex       *bool           `json:"use_regex"`
	Split          *bool           `json:"split"`
	Behavior       string          `json:"behavior"`
	Invert         bool            `json:"invert"`
	Single         json.RawMessage `json:"single"`
}

// flatten lists the components of a (possibly nested) sequence.
func (c *tjComp) flatten() []*tjComp {
	if c == nil {
		return nil
	}
	if c.Type != "Sequence" {
		return []*tjComp{c}
	}
	var out []*tjComp
	for _, list := range [][]*tjComp{c.Normalizers, c.Pretokenizers, c.Processors} {
		for _, s := range list {
			out = append(out, s.flatten()...)
		}
	}
	return out
}

func parseTokenizerJSON(b []byte) (*tjFile, error) {
	var tj tjFile
	if err := json.Unmarshal(b, &tj); err != nil {
		return nil, fmt.Errorf("not a valid tokenizer.json: %v", err)
	}
	if tj.Model == nil {
		return nil, errors.New("no \"model\" section")
	}
	return &tj, nil
}

// Patterns of the Split pre-tokenizers that are supported.
const (
	gpt2Pattern   = `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`
	llama3Pattern = `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`
	qwen2Pattern  = `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`
)

var splitPatterns = map[string]tokenizer.Pretokenizer{
	gpt2Pattern:   tokenizer.PreGPT2,
	llama3Pattern: tokenizer.PreLlama3,
	qwen2Pattern:  tokenizer.PreQwen2,
}

// maxVocab bounds the vocabulary size of a tokenizer.json.
const maxVocab = 1 << 24

// vocab interprets the tokenizer.json (with its tokenizer_config.json and
// config.json, either possibly nil).
func (tj *tjFile) vocab(tc *tokenizerConfig, cfg *Config) (*Vocab, error) {
	m := tj.Model
	switch m.Type {
	case "BPE":
	case "":
		return nil, errors.New("model has no type")
	default:
		return nil, fmt.Errorf("model type %q is not supported (only BPE: byte-level as in GPT-2, Llama 3 and Qwen2, or SentencePiece-style with byte fallback as in Llama 2 and Mistral)", m.Type)
	}
	if m.ContinuingSubwordPrefix != nil && *m.ContinuingSubwordPrefix != "" || m.EndOfWordSuffix != nil && *m.EndOfWordSuffix != "" {
		return nil, errors.New("BPE with a continuing_subword_prefix or end_of_word_suffix is not supported")
	}
	if m.Dropout != nil && *m.Dropout != 0 {
		return nil, errors.New("BPE dropout is not supported")
	}
	var vocab map[string]int
	if err := json.Unmarshal(m.Vocab, &vocab); err != nil {
		return nil, fmt.Errorf("model vocab is not an object of token ids: %v", err)
	}
	merges, err := parseMerges(m.Merges)
	if err != nil {
		return nil, err
	}

	// Tokens: the model's vocabulary and the added tokens.
	n := 0
	for tok, id := range vocab {
		if id < 0 || id >= maxVocab {
			return nil, fmt.Errorf("token %q has id %d, outside 0 to %d", tok, id, maxVocab-1)
		}
		n = max(n, id+1)
	}
	for i, a := range tj.AddedTokens {
		if a.ID == nil || a.Content == nil {
			return nil, fmt.Errorf("added token %d lacks an id or content", i)
		}
		if *a.ID < 0 || *a.ID >= maxVocab {
			return nil, fmt.Errorf("added token %q has id %d, outside 0 to %d", *a.Content, *a.ID, maxVocab-1)
		}
		n = max(n, *a.ID+1)
	}
	if n == 0 {
		return nil, errors.New("empty vocabulary")
	}
	if holes := n - len(vocab); holes > len(vocab)+len(tj.AddedTokens)+256 {
		return nil, fmt.Errorf("token ids up to %d for %d tokens: too sparse", n-1, len(vocab)+len(tj.AddedTokens))
	}
	v := &Vocab{Tokens: make([]string, n), Types: make([]int32, n), BOS: -1, EOS: -1, UNK: -1}
	filled := make([]bool, n)
	for tok, id := range vocab {
		if filled[id] {
			return nil, fmt.Errorf("tokens %q and %q share the id %d", v.Tokens[id], tok, id)
		}
		v.Tokens[id], v.Types[id], filled[id] = tok, int32(tokenizer.TypeNormal), true
	}
	special := map[string]int{}
	for _, a := range tj.AddedTokens {
		id := *a.ID
		if filled[id] && v.Tokens[id] != *a.Content {
			return nil, fmt.Errorf("added token %q has the id %d of token %q", *a.Content, id, v.Tokens[id])
		}
		v.Tokens[id], filled[id] = *a.Content, true
		v.Types[id] = int32(tokenizer.TypeUserDefined)
		if a.Special {
			v.Types[id] = int32(tokenizer.TypeControl)
		}
		special[*a.Content] = id
	}
	for i := range v.Tokens {
		if !filled[i] {
			v.Tokens[i], v.Types[i] = fmt.Sprintf("[PAD%d]", i), int32(tokenizer.TypeUnused)
		}
	}
	lookup := func(s string) (int, bool) {
		if id, ok := special[s]; ok {
			return id, true
		}
		id, ok := vocab[s]
		return id, ok
	}

	norms, pres := tj.Normalizer.flatten(), tj.PreTokenizer.flatten()
	if spm, err := isSentencePiece(norms, pres); err != nil {
		return nil, err
	} else if spm {
		if err := v.sentencePiece(m, merges, lookup); err != nil {
			return nil, err
		}
	} else {
		if err := v.byteLevel(m, merges, norms, pres); err != nil {
			return nil, err
		}
	}

	// Special tokens and flags: tokenizer_config.json, then config.json,
	// then the post-processor.
	postBOS := postProcessorBOS(tj.PostProcessor)
	if tc != nil {
		for _, s := range []struct {
			name string
			tok  *string
			dst  *int
		}{{"bos_token", tc.BOS.content(), &v.BOS}, {"eos_token", tc.EOS.content(), &v.EOS}} {
			if s.tok == nil {
				continue
			}
			id, ok := lookup(*s.tok)
			if !ok {
				return nil, fmt.Errorf("tokenizer_config.json %s %q is not a token", s.name, *s.tok)
			}
			*s.dst = id
		}
		if tc.ChatTemplate != nil {
			v.ChatTemplate = *tc.ChatTemplate
		}
	}
	if cfg != nil {
		if v.BOS < 0 {
			v.BOS = cfg.BOSTokenID.First()
		}
		if v.EOS < 0 {
			v.EOS = cfg.EOSTokenID.First()
		}
	}
	if v.BOS < 0 && postBOS != "" {
		v.BOS, _ = lookup(postBOS)
	}
	for _, id := range []int{v.BOS, v.EOS} {
		if id >= n {
			return nil, fmt.Errorf("special token id %d is outside the vocabulary of %d", id, n)
		}
	}
	v.AddBOS = postBOS != "" || (v.Model == "llama" && tj.PostProcessor == nil)
	if tc != nil && tc.AddBOS != nil {
		v.AddBOS = *tc.AddBOS
	}
	if tc != nil && tc.AddEOS != nil {
		v.AddEOS = *tc.AddEOS
	}
	return v, nil
}

// parseMerges reads the merges, written "left right" or ["left", "right"].
func parseMerges(raw json.RawMessage) ([][2]string, error) {
	if len(raw) == 0 || bytes.Equal(bytes.TrimSpace(raw), []byte("null")) {
		return nil, nil
	}
	// Fast paths: all strings, or all pairs.
	var strs []string
	if json.Unmarshal(raw, &strs) == nil {
		out := make([][2]string, len(strs))
		for i, s := range strs {
			l, r, ok := strings.Cut(s, " ")
			if !ok || strings.Contains(r, " ") {
				return nil, fmt.Errorf("merge %d (%q) is not two tokens separated by a space", i, s)
			}
			out[i] = [2]string{l, r}
		}
		return out, nil
	}
	var pairs [][]string
	if json.Unmarshal(raw, &pairs) == nil {
		out := make([][2]string, len(pairs))
		for i, p := range pairs {
			if len(p) != 2 {
				return nil, fmt.Errorf("merge %d (%q) is not a pair of tokens", i, p)
			}
			out[i] = [2]string{p[0], p[1]}
		}
		return out, nil
	}
	var list []json.RawMessage
	if err := json.Unmarshal(raw, &list); err != nil {
		return nil, fmt.Errorf("model merges is not a list: %v", err)
	}
	out := make([][2]string, len(list))
	for i, e := range list {
		var s string
		if err := json.Unmarshal(e, &s); err == nil {
			l, r, ok := strings.Cut(s, " ")
			if !ok || strings.Contains(r, " ") {
				return nil, fmt.Errorf("merge %d (%q) is not two tokens separated by a space", i, s)
			}
			out[i] = [2]string{l, r}
			continue
		}
		var pair []string
		if err := json.Unmarshal(e, &pair); err != nil || len(pair) != 2 {
			return nil, fmt.Errorf("merge %d (%s) is neither \"left right\" nor [left, right]", i, firstBytes(e, 40))
		}
		out[i] = [2]string{pair[0], pair[1]}
	}
	return out, nil
}

func firstBytes(b []byte, n int) []byte {
	if len(b) > n {
		return b[:n]
	}
	return b
}

// isSentencePiece reports whether the normalizer and pre-tokenizer are those
// of a SentencePiece vocabulary converted to tokenizer.json (spaces written
// as ▁, a ▁ prepended), and checks that they are supported.
func isSentencePiece(norms, pres []*tjComp) (bool, error) {
	const mark = "▁"
	prefix, escape, seen := false, false, false
	for _, n := range norms {
		switch {
		case n.Type == "Prepend" && n.Prepend == mark:
			prefix, seen = true, true
		case n.Type == "Replace" && n.Pattern.String != nil && *n.Pattern.String == " " && n.Content == mark:
			escape, seen = true, true
		case n.Type == "NFC":
			// Accepted: the text is taken to be in NFC already.
		default:
			return false, fmt.Errorf("normalizer %q is not supported", n.Type)
		}
	}
	for _, p := range pres {
		if p.Type != "Metaspace" {
			continue
		}
		seen, escape = true, true
		if p.Replacement != "" && p.Replacement != mark {
			return false, fmt.Errorf("Metaspace replacement %q is not supported (want %q)", p.Replacement, mark)
		}
		switch p.PrependScheme {
		case "always", "first":
			prefix = true
		case "":
			prefix = p.AddPrefixSpace == nil || *p.AddPrefixSpace
		}
		if p.Split != nil && *p.Split {
			return false, errors.New("Metaspace with split true is not supported (SentencePiece merges across spaces)")
		}
	}
	if !seen {
		return false, nil
	}
	for _, p := range pres {
		if p.Type != "Metaspace" {
			return false, fmt.Errorf("pre-tokenizer %q is not supported in a SentencePiece-style tokenizer", p.Type)
		}
	}
	if !prefix || !escape {
		return false, errors.New("SentencePiece-style tokenizer that does not both prepend ▁ and write spaces as ▁ is not supported")
	}
	return true, nil
}

// sentencePiece fills a SentencePiece-style vocabulary. Hugging Face merges
// by the rank of a pair, SentencePiece by the score of the merged piece;
// converted vocabularies list every split of every piece, ordered by the
// piece's score, so the score of a piece is minus the rank of its first
// merge. Pieces no merge produces get a score below all of those.
func (v *Vocab) sentencePiece(m *tjModel, merges [][2]string, lookup func(string) (int, bool)) error {
	if !m.ByteFallback {
		return errors.New("SentencePiece-style tokenizer without byte_fallback is not supported")
	}
	v.Model = "llama"
	n := len(v.Tokens)
	v.Scores = make([]float32, n)
	done := make([]bool, n)
	for rank, mg := range merges {
		id, ok := lookup(mg[0] + mg[1])
		if !ok {
			return fmt.Errorf("merge %d (%q %q) makes %q, which is not a token", rank, mg[0], mg[1], mg[0]+mg[1])
		}
		if _, ok := lookup(mg[0]); !ok {
			return fmt.Errorf("merge %d (%q %q): %q is not a token", rank, mg[0], mg[1], mg[0])
		}
		if _, ok := lookup(mg[1]); !ok {
			return fmt.Errorf("merge %d (%q %q): %q is not a token", rank, mg[0], mg[1], mg[1])
		}
		if !done[id] {
			v.Scores[id], done[id] = -float32(rank), true
		}
	}
	floor := -float32(len(merges))
	for i, t := range v.Types {
		if !done[i] && t == int32(tokenizer.TypeNormal) {
			v.Scores[i] = floor
		}
		if t == int32(tokenizer.TypeNormal) {
			if _, ok := byteToken(v.Tokens[i]); ok {
				v.Types[i] = int32(tokenizer.TypeByte)
			}
		}
	}
	if m.UnkToken != nil {
		id, ok := lookup(*m.UnkToken)
		if !ok {
			return fmt.Errorf("unk_token %q is not a token", *m.UnkToken)
		}
		v.UNK, v.Types[id] = id, int32(tokenizer.TypeUnknown)
	}
	return nil
}

// byteToken parses a "<0xNN>" byte token.
func byteToken(s string) (byte, bool) {
	var b byte
	if len(s) != 6 || !strings.HasPrefix(s, "<0x") || s[5] != '>' {
		return 0, false
	}
	for _, c := range s[3:5] {
		switch {
		case '0' <= c && c <= '9':
			b = b<<4 | byte(c-'0')
		case 'A' <= c && c <= 'F':
			b = b<<4 | byte(c-'A'+10)
		default:
			return 0, false
		}
	}
	return b, true
}

// byteLevel fills a byte-level BPE vocabulary.
func (v *Vocab) byteLevel(m *tjModel, merges [][2]string, norms, pres []*tjComp) error {
	for _, n := range norms {
		if n.Type != "NFC" {
			return fmt.Errorf("normalizer %q is not supported with a byte-level tokenizer", n.Type)
		}
	}
	pre, havePre, byteLevel := tokenizer.PreGPT2, false, false
	for _, p := range pres {
		switch p.Type {
		case "Split":
			if p.Pattern.Regex == nil {
				return errors.New("Split pre-tokenizer without a Regex pattern is not supported")
			}
			got, ok := splitPatterns[*p.Pattern.Regex]
			if !ok {
				return fmt.Errorf("Split pattern %q is not supported (known: those of GPT-2, Llama 3 and Qwen2)", *p.Pattern.Regex)
			}
			if p.Invert || (p.Behavior != "Isolated" && p.Behavior != "") || havePre || byteLevel {
				return errors.New("Split pre-tokenizer: only one Split, before ByteLevel, with behavior Isolated, is supported")
			}
			pre, havePre = got, true
		case "ByteLevel":
			if p.AddPrefixSpace != nil && *p.AddPrefixSpace {
				return errors.New("ByteLevel with add_prefix_space true is not supported")
			}
			if p.UseRegex == nil || *p.UseRegex {
				if havePre {
					return errors.New("ByteLevel with use_regex true after a Split is not supported")
				}
				havePre = true
			}
			byteLevel = true
		default:
			return fmt.Errorf("pre-tokenizer %q is not supported", p.Type)
		}
	}
	if !byteLevel {
		return errors.New("BPE without a ByteLevel pre-tokenizer or SentencePiece-style normalizer is not supported")
	}
	if !havePre {
		return errors.New("ByteLevel without a regular expression (use_regex false and no Split) is not supported")
	}
	if m.ByteFallback {
		return errors.New("byte-level BPE with byte_fallback is not supported")
	}
	v.Model, v.Pre, v.IgnoreMerges = "gpt2", pre, m.IgnoreMerges
	v.Merges = make([]string, len(merges))
	for i, mg := range merges {
		if strings.Contains(mg[0], " ") || strings.Contains(mg[1], " ") {
			return fmt.Errorf("merge %d (%q %q) has a token with a space, which a byte-level vocabulary cannot hold", i, mg[0], mg[1])
		}
		v.Merges[i] = mg[0] + " " + mg[1]
	}
	return nil
}

// postProcessorBOS returns the special token a TemplateProcessing puts before
// a single sequence, or "".
func postProcessorBOS(pp *tjComp) string {
	for _, c := range pp.flatten() {
		if c.Type != "TemplateProcessing" {
			continue
		}
		var single []struct {
			SpecialToken *struct {
				ID string `json:"id"`
			} `json:"SpecialToken"`
		}
		if json.Unmarshal(c.Single, &single) == nil && len(single) > 0 && single[0].SpecialToken != nil {
			return single[0].SpecialToken.ID
		}
	}
	return ""
}

// tokenizer_config.json.

type tokenizerConfig struct {
	BOS          addedToken `json:"bos_token"`
	EOS          addedToken `json:"eos_token"`
	AddBOS       *bool      `json:"add_bos_token"`
	AddEOS       *bool      `json:"add_eos_token"`
	ChatTemplate *string    `json:"-"`
}

// addedToken is a special token of tokenizer_config.json: a string, an
// object with "content", or null.
type addedToken struct{ s *string }

func (a *addedToken) UnmarshalJSON(b []byte) error {
	if bytes.Equal(bytes.TrimSpace(b), []byte("null")) {
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		a.s = &s
		return nil
	}
	var o struct {
		Content *string `json:"content"`
	}
	if err := json.Unmarshal(b, &o); err != nil {
		return fmt.Errorf("special token %s is neither a string nor an object with content", firstBytes(b, 40))
	}
	a.s = o.Content
	return nil
}

func (a addedToken) content() *string { return a.s }

func parseTokenizerConfig(b []byte) (*tokenizerConfig, error) {
	var tc tokenizerConfig
	if err := json.Unmarshal(b, &tc); err != nil {
		return nil, fmt.Errorf("not a valid tokenizer config: %v", err)
	}
	// chat_template is a string, or a list of named templates.
	var raw struct {
		ChatTemplate json.RawMessage `json:"chat_template"`
	}
	json.Unmarshal(b, &raw)
	if len(raw.ChatTemplate) > 0 && !bytes.Equal(raw.ChatTemplate, []byte("null")) {
		var s string
		if err := json.Unmarshal(raw.ChatTemplate, &s); err == nil {
			tc.ChatTemplate = &s
		} else {
			var named []struct {
				Name     string `json:"name"`
				Template string `json:"template"`
			}
			if err := json.Unmarshal(raw.ChatTemplate, &named); err != nil {
				return nil, fmt.Errorf("chat_template is neither a string nor a list of named templates")
			}
			for _, t := range named {
				if t.Name == "default" || tc.ChatTemplate == nil {
					s := t.Template
					tc.ChatTemplate = &s
				}
			}
		}
	}
	return &tc, nil
}
