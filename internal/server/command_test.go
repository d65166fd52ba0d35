package server

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/openai/openai-go"
	"github.com/openai/openai-go/option"
	"github.com/unswift/unswift/internal/calib"
	"github.com/unswift/unswift/internal/kernel"
	"github.com/unswift/unswift/internal/model"
	"github.com/unswift/unswift/internal/release"
	"github.com/unswift/unswift/internal/shared"
	"github.com/unswift/unswift/internal/tensor"
)

// TestServeCommand starts `unswift serve` as a process: it announces its
// address on stderr, answers the OpenAI client with `unswift run`'s greedy
// text, and exits cleanly on SIGINT.
func TestServeCommand(t *testing.T) {
	path := shared.Need(t, stories)
	bin := unswiftBin(t)
	cmd := exec.Command(bin, "serve", "-m", path, "--addr", "127.0.0.1:0", "--parallel", "2")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	lines := make(chan string, 64)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	var url string
	timeout := time.After(30 * time.Second)
	for url == "" {
		select {
		case line, ok := <-lines:
			if !ok {
				t.Fatal("serve exited before listening")
			}
			if rest, ok := strings.CutPrefix(line, "listening on "); ok {
				url = rest
			}
		case <-timeout:
			t.Fatal("serve did not print 'listening on' within 30 s")
		}
	}
	c := openai.NewClient(option.WithBaseURL(url+"/v1/"), option.WithAPIKey("x"), option.WithMaxRetries(0))
	res, err := c.Completions.New(ctxTimeout(t), openai.CompletionNewParams{Model: "stories260K",
		Prompt: openai.CompletionNewParamsPromptUnion{OfString: openai.String("Once upon a time")}, MaxTokens: openai.Int(30), Temperature: openai.Float(0)})
	if err != nil {
		t.Fatal(err)
	}
	m := openModel(t, stories)
	if want := runGreedy(t, path, "Once upon a time", positions(m, "Once upon a time", 30)); res.Choices[0].Text != want {
		t.Errorf("text %q, want %q", res.Choices[0].Text, want)
	}
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	var rest []string
	for line := range lines {
		rest = append(rest, line)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("serve exited with %v after SIGINT; stderr: %q", err, rest)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("serve did not exit within 15 s of SIGINT")
	}
	if !strings.Contains(strings.Join(rest, "\n"), "POST /v1/completions") {
		t.Errorf("request not logged: %q", rest)
	}
}

// TestServeCommandRefuses checks the flag errors of `unswift serve`.
func TestServeCommandRefuses(t *testing.T) {
	path := shared.Need(t, stories)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--addr", "0.0.0.0:0"}, "--allow-remote"},
		{[]string{"--addr", ":0"}, "--allow-remote"},
		{[]string{"--parallel", "-1"}, "parallel -1"},
		{[]string{"--chat-template", "vicuna"}, "unknown chat template"},
		{[]string{"--order", "2"}, "plain model"},
		{[]string{"--ctx", "100000"}, "longer than the model's"},
	} {
		cmd := exec.Command(unswiftBin(t), append([]string{"serve", "-m", path, "-q"}, tc.args...)...)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		err := runWith(ctx, cmd)
		cancel()
		if err == nil || !strings.Contains(stderr.String(), tc.want) {
			t.Errorf("serve %v: %v, stderr %q; want an error containing %q", tc.args, err, stderr.String(), tc.want)
		}
	}
}

func runWith(ctx context.Context, cmd *exec.Cmd) error {
	if err := cmd.Start(); err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		cmd.Process.Kill()
		<-done
		return fmt.Errorf("still running after the deadline")
	}
}

// TestRelease serves a TaylorMLP release of stories260K at a lower order than
// it was built at: /v1/models and /metrics report the order and predicted
// slowdown, and greedy completions equal `unswift run --order` on it.
func TestRelease(t *testing.T) {
	path, m := buildRelease(t)
	slowdown := m.PredictedSlowdown()
	if !(slowdown > 1) {
		t.Fatalf("predicted slowdown %v of a release", slowdown)
	}
	_, ts := startServer(t, Config{Model: m})

	resp, err := http.Get(ts.URL + "/v1/models")
	if err != nil {
		t.Fatal(err)
	}
	var list struct{ Data []modelObject }
	err = json.NewDecoder(resp.Body).Decode(&list)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	if r := list.Data[0].Unswift.Release; r == nil || r.Order != 2 || r.MaxOrder != 4 || r.PredictedSlowdown != slowdown {
		t.Errorf("release info %+v, want order 2 of 4, slowdown %v", r, slowdown)
	}
	for name, want := range map[string]float64{
		"unswift_release_order": 2, "unswift_release_max_order": 4, "unswift_release_predicted_slowdown": slowdown,
	} {
		if got := metricValue(t, ts, name); got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}

	prompt := "Once upon a time"
	n := positions(m, prompt, 40)
	cmd := exec.Command(unswiftBin(t), "run", "-m", path, "--order", "2", "--temp", "0", "-n", fmt.Sprint(n), "-p", prompt)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("unswift run on the release: %v", err)
	}
	want := strings.TrimPrefix(strings.TrimSuffix(string(out), "\n"), prompt)
	code, _, b := post(t, ts.URL+"/v1/completions", `{"prompt":"Once upon a time","max_tokens":40,"temperature":0}`)
	if code != 200 {
		t.Fatalf("%d %s", code, b)
	}
	var r struct {
		Choices []struct{ Text string }
	}
	json.Unmarshal(b, &r)
	if len(r.Choices) != 1 || r.Choices[0].Text != want {
		t.Errorf("release completion %q, want %q", r.Choices, want)
	}
}

// buildRelease writes a TaylorMLP release of stories260K at order 4 into the
// test's temporary directory and opens it at order 2.
func buildRelease(t *testing.T) (string, *model.Model) {
	t.Helper()
	src := openModel(t, stories)
	text, err := os.ReadFile(shared.Need(t, "data/tinystories_valid_prefix.txt"))
	if err != nil {
		t.Fatal(err)
	}
	pool := kernel.NewPool(1)
	defer pool.Close()
	cal, err := calib.Collect(context.Background(), src, pool, string(text[:20000]), calib.Options{Tokens: 1500})
	if err != nil {
		t.Fatal(err)
	}
	seed := uint64(7)
	opt := release.Options{Order: 4, DType: tensor.F32, Seed: &seed}
	plan, err := release.NewPlan(src, cal, opt)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "release.gguf")
	if err := release.Write(path, src, plan, opt); err != nil {
		t.Fatal(err)
	}
	m, err := model.Open(path, model.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	if err := m.SetOrder(2); err != nil {
		t.Fatal(err)
	}
	return path, m
}
