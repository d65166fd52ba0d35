package llama2c

import (
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/unswift/unswift/internal/gguf"
	"github.com/unswift/unswift/internal/shared"
)

func TestTok512(t *testing.T) {
	v, err := ReadTokenizer(shared.Need(t, "models/stories260K/tok512.bin"), 512)
	if err != nil {
		t.Fatal(err)
	}
	if len(v.Tokens) != 512 || len(v.Scores) != 512 {
		t.Fatalf("%d tokens, %d scores; want 512", len(v.Tokens), len(v.Scores))
	}
	longest := 0
	for _, s := range v.Tokens {
		longest = max(longest, len(s))
	}
	if v.MaxTokenLength != longest {
		t.Errorf("MaxTokenLength %d, longest token %d", v.MaxTokenLength, longest)
	}
	// The same vocabulary, converted independently, is in the GGUF file:
	// there "▁" stands for a space and the specials lack llama2.c's newlines.
	g, err := gguf.Open(shared.Need(t, "models/stories260K/stories260K.gguf"))
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	toks, _ := g.Strings("tokenizer.ggml.tokens")
	scores, _ := g.Float32s("tokenizer.ggml.scores")
	if len(toks) != 512 || len(scores) != 512 {
		t.Fatalf("GGUF vocabulary has %d tokens, %d scores", len(toks), len(scores))
	}
	for i := range toks {
		want := strings.ReplaceAll(toks[i], "▁", " ")
		if i == 1 || i == 2 {
			want = "\n" + want + "\n"
		}
		if v.Tokens[i] != want || v.Scores[i] != scores[i] {
			t.Errorf("token %d: %q %g, GGUF has %q %g", i, v.Tokens[i], v.Scores[i], toks[i], scores[i])
		}
	}
}

func TestByteTokenizer(t *testing.T) {
	v, err := ReadTokenizer(shared.Need(t, "models/shakespeare2M-q80/byte_tokenizer.bin"), 259)
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []string{"<unk>", "<s>", "</s>"} {
		if v.Tokens[i] != want {
			t.Errorf("token %d = %q, want %q", i, v.Tokens[i], want)
		}
	}
	// Token 3+b stands for byte b, as itself or as "<0xNN>".
	for b := range 256 {
		if tok := v.Tokens[3+b]; tok != string([]byte{byte(b)}) && tok != fmt.Sprintf("<0x%02X>", b) {
			t.Errorf("token %d = %q, want byte %#02x", 3+b, tok, b)
		}
	}
}

// tokFile encodes a tokenizer file.
func tokFile(maxLen int32, toks ...string) []byte {
	b := le32(nil, uint32(maxLen))
	for i, s := range toks {
		b = le32(b, math.Float32bits(float32(-i)))
		b = le32(b, uint32(len(s)))
		b = append(b, s...)
	}
	return b
}

func TestParseTokenizer(t *testing.T) {
	v, err := ParseTokenizer(tokFile(3, "a", "", "xyz"), 3)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(v.Tokens, ",") != "a,,xyz" || v.Scores[2] != -2 || v.MaxTokenLength != 3 {
		t.Errorf("got %+v", v)
	}
	good := tokFile(3, "a", "bb", "ccc")
	negLen := tokFile(3, "a", "bb")
	binary.LittleEndian.PutUint32(negLen[len(negLen)-6:], 0xffffffff)
	for _, c := range []struct {
		name  string
		data  []byte
		vocab int
		want  string
	}{
		{"empty", nil, 3, "truncated file: 0 bytes, too short for max_token_length"},
		{"bad max length", tokFile(0, "a"), 1, "bad max_token_length 0"},
		{"too few tokens", good, 4, "truncated file: 34 bytes cannot hold 4 tokens"},
		{"too many tokens", good, 2, "11 trailing bytes after 2 tokens"},
		{"cut in a token", good[:len(good)-1], 3, "truncated file: token 2 at offset 31: need 3 bytes, 2 left"},
		{"token too long", tokFile(2, "a", "bbb"), 2, "token 1 at offset 17: length 3, want 0 to max_token_length 2"},
		{"negative length", negLen, 2, "token 1 at offset 17: length -1"},
		{"zero vocab", good, 0, "vocabulary size 0 out of range"},
	} {
		_, err := ParseTokenizer(c.data, c.vocab)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want it to contain %q", c.name, err, c.want)
		}
	}
	p := filepath.Join(t.TempDir(), "tok.bin")
	if err := os.WriteFile(p, good, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadTokenizer(p, 5); err == nil || !strings.Contains(err.Error(), p) {
		t.Errorf("ReadTokenizer error %v does not name the path", err)
	}
}
