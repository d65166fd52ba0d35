package server

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openai/openai-go"
	"github.com/openai/openai-go/option"
	"github.com/unswift/unswift/internal/model"
	"github.com/unswift/unswift/internal/shared"
)

const stories = "models/stories260K/stories260K.gguf"

// openModel opens a shared model for the test.
func openModel(t testing.TB, rel string) *model.Model {
	t.Helper()
	m, err := model.Open(shared.Need(t, rel), model.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

// startServer serves cfg (its Model defaulting to stories260K) over real
// HTTP on loopback. A delay slows generation to about one token per delay,
// so that tests can act while a request generates.
func startServer(t testing.TB, cfg Config, delay ...time.Duration) (*Server, *httptest.Server) {
	t.Helper()
	if cfg.Model == nil {
		cfg.Model = openModel(t, stories)
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if len(delay) > 0 {
		d := delay[0]
		s.testHookToken = func() { time.Sleep(d) }
	}
	ts := httptest.NewServer(s)
	t.Cleanup(func() {
		ts.Close()
		s.Close()
	})
	return s, ts
}

// client is an OpenAI client for ts that does not retry.
func client(ts *httptest.Server, opts ...option.RequestOption) openai.Client {
	return openai.NewClient(append([]option.RequestOption{option.WithBaseURL(ts.URL + "/v1/"),
		option.WithAPIKey("unused"), option.WithMaxRetries(0)}, opts...)...)
}

var (
	binOnce sync.Once
	binPath string
	binErr  error
	binDir  string
)

// TestMain removes the unswift binary built for the tests.
func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// unswiftBin builds cmd/unswift once per test run.
func unswiftBin(t testing.TB) string {
	t.Helper()
	binOnce.Do(func() {
		binDir, binErr = os.MkdirTemp("", "unswift-server-test")
		if binErr != nil {
			return
		}
		binPath = filepath.Join(binDir, "unswift")
		out, err := exec.Command("go", "build", "-o", binPath, "github.com/unswift/unswift/cmd/unswift").CombinedOutput()
		if err != nil {
			binErr = fmt.Errorf("building cmd/unswift: %v\n%s", err, out)
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
}

var (
	runMu    sync.Mutex
	runCache = map[string]string{}
)

// runGreedy returns the continuation that `unswift run --temp 0 -n n -p
// prompt` prints after the prompt: the reference a temperature-0 completion
// of the same length must equal.
func runGreedy(t testing.TB, modelPath, prompt string, n int) string {
	t.Helper()
	key := fmt.Sprintf("%s\x00%s\x00%d", modelPath, prompt, n)
	runMu.Lock()
	defer runMu.Unlock()
	if s, ok := runCache[key]; ok {
		return s
	}
	cmd := exec.Command(unswiftBin(t), "run", "-m", modelPath, "--temp", "0", "-n", fmt.Sprint(n), "-p", prompt)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("unswift run: %v\n%s", err, stderr.Bytes())
	}
	s, ok := strings.CutSuffix(string(out), "\n")
	if !ok {
		t.Fatalf("unswift run output does not end with a newline: %q", out)
	}
	cont, ok := strings.CutPrefix(s, prompt)
	if !ok {
		t.Fatalf("unswift run output %q does not start with the prompt %q", s, prompt)
	}
	runCache[key] = cont
	return cont
}

// positions is the -n of `unswift run` that generates maxTokens tokens
// after prompt (BOS included in the count).
func positions(m *model.Model, prompt string, maxTokens int) int {
	return len(m.Tokenizer.Encode(prompt, true)) + maxTokens - 1
}

// post sends a JSON body and returns the response status, header and body.
func post(t testing.TB, url, body string, header ...string) (int, http.Header, []byte) {
	t.Helper()
	code, h, b, err := postE(url, body, header...)
	if err != nil {
		t.Fatal(err)
	}
	return code, h, b
}

// postE is post for goroutines other than the test's: it returns errors.
func postE(url, body string, header ...string) (int, http.Header, []byte, error) {
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		return 0, nil, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, b, err
}

// errorBody is the OpenAI error shape.
type errorBody struct {
	Error struct {
		Message string  `json:"message"`
		Type    string  `json:"type"`
		Param   *string `json:"param"`
		Code    *string `json:"code"`
	} `json:"error"`
}

// decodeError parses an OpenAI error body, failing the test when b is not one.
func decodeError(t testing.TB, b []byte) errorBody {
	t.Helper()
	var e errorBody
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&e); err != nil || e.Error.Message == "" || e.Error.Type == "" {
		t.Fatalf("not an OpenAI error body (%v): %s", err, b)
	}
	return e
}

// sse reads a server-sent event stream: the data of each event, until EOF.
func sse(r io.Reader) ([]string, error) {
	var events []string
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" {
			continue
		}
		data, ok := strings.CutPrefix(line, "data: ")
		if !ok {
			return events, fmt.Errorf("unexpected stream line %q", line)
		}
		events = append(events, data)
	}
	return events, sc.Err()
}

// metricValue reads one sample from the /metrics text of ts.
func metricValue(t testing.TB, ts *httptest.Server, name string) float64 {
	t.Helper()
	resp, err := http.Get(ts.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, name+" "); ok {
			var v float64
			if _, err := fmt.Sscan(rest, &v); err != nil {
				t.Fatalf("metric %s: %v", line, err)
			}
			return v
		}
	}
	t.Fatalf("metric %s not in /metrics:\n%s", name, b)
	return 0
}

// waitFor polls cond every few milliseconds until it holds or d passes.
func waitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// eventually polls cond until it holds (true) or d passes (false).
func eventually(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(5 * time.Millisecond)
	}
	return true
}

// ctxTimeout is a context for one test request.
func ctxTimeout(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}
