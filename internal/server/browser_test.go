package server

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestChatPageInChromium opens the chat page in headless Chromium, types a
// prompt, sends it and watches the reply stream in: part of it shows while
// the stream is still open, and the final text equals the API's greedy
// reply to the same message; a screenshot of the conversation is saved in
// the test's temporary directory. Then it opens the page of a release
// server, which must show the release's order and predicted slowdown.
//
// Without a Chromium binary the test skips, except under CI=true where it
// fails; a Chromium that cannot start always fails the test with the reason.
// UNSWIFT_CHROMIUM names the binary to use; UNSWIFT_SCREENSHOT, a file to
// copy the screenshot to.
func TestChatPageInChromium(t *testing.T) {
	bin := findChromium()
	if bin == "" {
		msg := "no Chromium found (looked for $UNSWIFT_CHROMIUM, chromium, chromium-browser, google-chrome); install Debian's chromium package (.ci/run does)"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	// About 10 ms a token, so that the reply takes a moment to stream in.
	_, ts := startServer(t, Config{}, 10*time.Millisecond)

	b := startBrowser(t, bin)
	target, err := b.call("", "Target.createTarget", map[string]any{"url": "about:blank"})
	if err != nil {
		t.Fatal(err)
	}
	var created struct{ TargetID string }
	json.Unmarshal(target, &created)
	attached, err := b.call("", "Target.attachToTarget", map[string]any{"targetId": created.TargetID, "flatten": true})
	if err != nil {
		t.Fatal(err)
	}
	var session struct{ SessionID string }
	json.Unmarshal(attached, &session)
	sid := session.SessionID
	if _, err := b.call(sid, "Page.navigate", map[string]any{"url": ts.URL + "/"}); err != nil {
		t.Fatal(err)
	}
	eval := func(expr string) string {
		t.Helper()
		res, err := b.call(sid, "Runtime.evaluate", map[string]any{"expression": expr, "returnByValue": true})
		if err != nil {
			t.Fatal(err)
		}
		var r struct {
			Result struct {
				Value any `json:"value"`
			} `json:"result"`
			ExceptionDetails any `json:"exceptionDetails"`
		}
		json.Unmarshal(res, &r)
		if r.ExceptionDetails != nil {
			t.Fatalf("%s: %v", expr, r.ExceptionDetails)
		}
		return fmt.Sprint(r.Result.Value)
	}
	waitFor(t, 20*time.Second, "the page to load the model list", func() bool {
		return strings.Contains(eval(`document.getElementById("model-info") ? document.getElementById("model-info").textContent : ""`), "stories260K")
	})
	if info := eval(`document.getElementById("model-info").textContent`); !strings.Contains(info, "plain model") {
		t.Errorf("model info %q does not say it is a plain model", info)
	}

	const prompt = "Tell me a story about a cat."
	eval(`document.getElementById("temperature").value = "0";
	      document.getElementById("max-tokens").value = "80";
	      document.getElementById("prompt").value = ` + jsString(prompt) + `;
	      document.getElementById("send").click(); "sent"`)
	reply := `(document.querySelector(".msg.assistant") || {textContent: ""}).textContent`
	var partial string
	waitFor(t, 30*time.Second, "the reply to finish streaming", func() bool {
		state := eval(`document.body.dataset.state`)
		if state == "streaming" && partial == "" {
			partial = eval(reply)
		}
		return state == "done" || state == "error"
	})
	if state := eval(`document.body.dataset.state`); state != "done" {
		t.Fatalf("page state %q: %s", state, eval(`document.getElementById("messages").textContent`))
	}
	final := eval(reply)

	// The API's greedy reply to the same message is what the page must show.
	body, _ := json.Marshal(map[string]any{"messages": []map[string]string{{"role": "user", "content": prompt}}, "temperature": 0, "max_tokens": 80})
	code, _, out := post(t, ts.URL+"/v1/chat/completions", string(body))
	if code != 200 {
		t.Fatalf("%d %s", code, out)
	}
	var res chatResponse
	json.Unmarshal(out, &res)
	want := res.Choices[0].Message.Content
	if final != want {
		t.Errorf("page shows the reply %q, the API gives %q", final, want)
	}
	if partial == "" || len(partial) >= len(final) || !strings.HasPrefix(final, partial) {
		t.Errorf("no partial reply seen while streaming (saw %q of %q)", partial, final)
	}
	if stats := eval(`document.getElementById("stats").textContent`); !strings.Contains(stats, "tokens/s") {
		t.Errorf("stats %q show no tokens/s", stats)
	}
	if user := eval(`document.querySelector(".msg.user").textContent`); user != prompt {
		t.Errorf("user bubble %q", user)
	}

	shot, err := b.call(sid, "Page.captureScreenshot", map[string]any{"format": "png"})
	if err != nil {
		t.Fatal(err)
	}
	var img struct{ Data string }
	json.Unmarshal(shot, &img)
	png, err := base64.StdEncoding.DecodeString(img.Data)
	if err != nil || !bytes.HasPrefix(png, []byte("\x89PNG")) {
		t.Fatalf("screenshot is not a PNG (%v)", err)
	}
	path := filepath.Join(t.TempDir(), "chat.png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	if keep := os.Getenv("UNSWIFT_SCREENSHOT"); keep != "" { // a copy that outlives the test
		if err := os.WriteFile(keep, png, 0o644); err != nil {
			t.Error(err)
		}
	}
	t.Logf("screenshot (%d bytes): %s; partial reply seen while streaming: %q", len(png), path, partial)

	// For a release, the page shows its order and predicted slowdown.
	_, rm := buildRelease(t)
	_, rts := startServer(t, Config{Model: rm})
	if _, err := b.call(sid, "Page.navigate", map[string]any{"url": rts.URL + "/"}); err != nil {
		t.Fatal(err)
	}
	wantInfo := fmt.Sprintf("TaylorMLP release at order 2 of 4, predicted slowdown %.2f×", rm.PredictedSlowdown())
	if !eventually(20*time.Second, func() bool {
		return strings.Contains(eval(`document.getElementById("model-info") ? document.getElementById("model-info").textContent : ""`), wantInfo)
	}) {
		t.Errorf("release page shows %q, want it to contain %q", eval(`document.getElementById("model-info").textContent`), wantInfo)
	}
}

func findChromium() string {
	if p := os.Getenv("UNSWIFT_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// jsString quotes s as a JavaScript string literal.
func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// browser speaks the Chrome DevTools Protocol to a headless Chromium over
// the pipes of --remote-debugging-pipe: JSON messages ended by a NUL byte,
// commands on the child's fd 3, replies and events on its fd 4.
type browser struct {
	cmd    *exec.Cmd
	in     *os.File
	mu     sync.Mutex
	nextID int
	wait   map[int]chan cdpReply
	dead   chan struct{} // closed when the reply pipe ends
	stderr *lockedWriter
}

type cdpReply struct {
	ID     int             `json:"id"`
	Result json.RawMessage `json:"result"`
	Error  *struct {
		Message string `json:"message"`
	} `json:"error"`
}

func startBrowser(t *testing.T, bin string) *browser {
	t.Helper()
	profile := t.TempDir()
	cmdR, cmdW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	b := &browser{in: cmdW, wait: map[int]chan cdpReply{}, dead: make(chan struct{}), stderr: &lockedWriter{}}
	b.cmd = exec.Command(bin, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
		"--window-size=1000,700", "--remote-debugging-pipe", "--user-data-dir="+profile, "about:blank")
	b.cmd.ExtraFiles = []*os.File{cmdR, outW} // fds 3 and 4
	b.cmd.Stderr = b.stderr
	if err := b.cmd.Start(); err != nil {
		t.Fatalf("cannot start Chromium %s: %v", bin, err)
	}
	cmdR.Close()
	outW.Close()
	exited := make(chan struct{})
	go func() {
		b.cmd.Wait()
		close(exited)
	}()
	t.Cleanup(func() { // before the profile directory is removed
		b.call("", "Browser.close", nil)
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			b.cmd.Process.Kill()
			<-exited
		}
		cmdW.Close()
	})
	go b.read(outR)
	if _, err := b.call("", "Browser.getVersion", nil); err != nil {
		t.Fatalf("Chromium %s did not start: %v\nstderr:\n%s", bin, err, b.stderr)
	}
	return b
}

// read dispatches the replies coming from the browser.
func (b *browser) read(r *os.File) {
	defer close(b.dead)
	br := bufio.NewReader(r)
	for {
		msg, err := br.ReadBytes(0)
		if err != nil {
			return
		}
		var rep cdpReply
		if json.Unmarshal(msg[:len(msg)-1], &rep) != nil || rep.ID == 0 {
			continue // an event
		}
		b.mu.Lock()
		ch := b.wait[rep.ID]
		delete(b.wait, rep.ID)
		b.mu.Unlock()
		if ch != nil {
			ch <- rep
		}
	}
}

// call sends a command (to a page session when sid is set) and waits for its
// result.
func (b *browser) call(sid, method string, params any) (json.RawMessage, error) {
	b.mu.Lock()
	b.nextID++
	id := b.nextID
	ch := make(chan cdpReply, 1)
	b.wait[id] = ch
	b.mu.Unlock()
	msg := map[string]any{"id": id, "method": method}
	if params != nil {
		msg["params"] = params
	}
	if sid != "" {
		msg["sessionId"] = sid
	}
	data, _ := json.Marshal(msg)
	if _, err := b.in.Write(append(data, 0)); err != nil {
		return nil, fmt.Errorf("%s: writing to Chromium: %v", method, err)
	}
	select {
	case rep := <-ch:
		if rep.Error != nil {
			return nil, fmt.Errorf("%s: %s", method, rep.Error.Message)
		}
		return rep.Result, nil
	case <-b.dead:
		return nil, fmt.Errorf("%s: Chromium closed the DevTools pipe (exited?)", method)
	case <-time.After(30 * time.Second):
		return nil, fmt.Errorf("%s: no answer from Chromium within 30 s", method)
	}
}

// lockedWriter is a buffer that the exec package may write to from a
// goroutine while the test reads it.
type lockedWriter struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedWriter) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
