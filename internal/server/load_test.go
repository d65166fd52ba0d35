package server

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/unswift/unswift/internal/kernel"
	"github.com/unswift/unswift/internal/model"
	"github.com/unswift/unswift/internal/sample"
	"github.com/unswift/unswift/internal/shared"
)

// loadSeconds is how long TestLoad keeps its clients busy; the environment
// variable UNSWIFT_LOAD_SECONDS lengthens it for a soak run.
func loadSeconds(t *testing.T) time.Duration {
	if s := os.Getenv("UNSWIFT_LOAD_SECONDS"); s != "" {
		n, err := strconv.ParseFloat(s, 64)
		if err != nil || n <= 0 {
			t.Fatalf("UNSWIFT_LOAD_SECONDS=%q is not a positive number", s)
		}
		return time.Duration(n * float64(time.Second))
	}
	return 3 * time.Second
}

// TestLoad runs 64 concurrent streaming clients against stories260K with 4
// parallel sequences and a queue of 32 over loopback for a bounded time.
// Every accepted stream must end with [DONE] and carry the greedy text of its
// prompt, the overflow must get 429s, memory must stay bounded, and the
// aggregate generation rate must reach 80% of model.Bench (what `unswift
// bench` measures) on the same machine.
func TestLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("load test skipped in -short mode")
	}
	const (
		clients   = 64
		parallel  = 4
		queue     = 32
		maxTokens = 100
	)
	path := shared.Need(t, stories)
	m := openModel(t, stories)
	prompts := []string{"Once upon a time", "The cat sat", "Lily and Ben went", "One day, a bird"}
	want := map[string]string{}
	for _, p := range prompts {
		want[p] = runGreedy(t, path, p, positions(m, p, maxTokens))
	}
	best := benchGen(t, m)
	share := machineShare()
	before := sustainedBench(t, m, time.Second)

	_, ts := startServer(t, Config{Model: m, Parallel: parallel, Queue: queue})
	tr := &http.Transport{MaxIdleConnsPerHost: clients, MaxConnsPerHost: 0}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr}
	goroutines := runtime.NumGoroutine()

	var (
		ok, rejected, tokens atomic.Int64
		mu                   sync.Mutex
		failures             []string
	)
	fail := func(format string, args ...any) {
		mu.Lock()
		if len(failures) < 10 {
			failures = append(failures, fmt.Sprintf(format, args...))
		}
		mu.Unlock()
	}
	d := loadSeconds(t)
	cpu0 := cpuTime()
	start := time.Now()
	stop := start.Add(d)
	var wg sync.WaitGroup
	for c := 0; c < clients; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(c), 1))
			for i := 0; time.Now().Before(stop); i++ {
				p := prompts[(c+i)%len(prompts)]
				code, text, n, err := streamOnce(hc, ts.URL, p, maxTokens)
				switch {
				case err != nil:
					fail("client %d: %v", c, err)
					return
				case code == http.StatusTooManyRequests:
					rejected.Add(1)
					time.Sleep(time.Duration(2+rng.IntN(8)) * time.Millisecond)
				case code != http.StatusOK:
					fail("client %d: status %d", c, code)
					return
				case text != want[p]:
					fail("client %d: prompt %q streamed %q, want %q", c, p, text, want[p])
					return
				default:
					ok.Add(1)
					tokens.Add(int64(n))
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	cores := (cpuTime() - cpu0).Seconds() / elapsed.Seconds()
	after := sustainedBench(t, m, time.Second)
	benchRate := (before.rate + after.rate) / 2
	for _, f := range failures {
		t.Error(f)
	}

	rate := float64(tokens.Load()) / elapsed.Seconds()
	t.Logf("%d clients, %s: %d streams completed, %d answered 429; %d tokens: %.0f tokens/s aggregate on %.2f cores, peak RSS %.1f MiB",
		clients, elapsed.Round(time.Millisecond), ok.Load(), rejected.Load(), tokens.Load(), rate, cores, peakRSS()/(1<<20))
	t.Logf("bench: best of 5 %.0f tokens/s; sustained %.0f tokens/s on %.2f cores before the load, %.0f on %.2f after; load/bench %.0f%%",
		best, before.rate, before.cores, after.rate, after.cores, 100*rate/benchRate)
	if cpu := (cpuTime() - cpu0).Seconds(); cpu > 0 {
		t.Logf("CPU per generated token: %.1f µs for the load (server and clients), %.1f µs for the engine alone on one thread",
			1e6*cores*elapsed.Seconds()/float64(tokens.Load()), 1e6*engineCPUPerToken(m))
	}
	if ok.Load() == 0 {
		t.Fatal("no stream completed")
	}
	if rejected.Load() == 0 {
		t.Error("64 clients on 4 slots and a queue of 32 never got a 429")
	}
	if got := metricValue(t, ts, `unswift_requests_total{route="/v1/completions",code="429"}`); got != float64(rejected.Load()) {
		t.Errorf("server counted %v 429s, clients %d", got, rejected.Load())
	}
	if got := metricValue(t, ts, "unswift_tokens_generated_total"); got != float64(tokens.Load()) {
		t.Errorf("server counted %v tokens, clients %d", got, tokens.Load())
	}
	// The rates compare only when this process had the machine to itself:
	// when other processes take the cores, the comparison would measure
	// them.
	if share = min(share, machineShare()); share < 0.8 {
		t.Logf("machine busy (a probe got %.0f%% of the cores): the 80%% requirement is not checked", 100*share)
	} else if rate < 0.8*benchRate {
		t.Errorf("aggregate %.0f tokens/s is below 80%% of the %.0f tokens/s bench rate measured around it", rate, benchRate)
	}

	// Bounded memory: after the load, the heap is back to a small size and no
	// goroutine is left behind.
	tr.CloseIdleConnections()
	http.DefaultClient.CloseIdleConnections() // metricValue's connection
	if !eventually(5*time.Second, func() bool { return runtime.NumGoroutine() <= goroutines+2 }) {
		buf := make([]byte, 1<<20)
		t.Errorf("%d goroutines left after the load, %d before:\n%s", runtime.NumGoroutine(), goroutines, buf[:runtime.Stack(buf, true)])
	}
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	if ms.HeapInuse > 64<<20 {
		t.Errorf("heap in use %d MiB after the load", ms.HeapInuse>>20)
	}
	if rss := peakRSS(); rss > 512<<20 {
		t.Errorf("peak RSS %.0f MiB", rss/(1<<20))
	}
}

// streamOnce sends one streaming completion and returns the status, and for
// a 200 the streamed text and completion token count. A stream must end
// with [DONE] after a usage chunk.
func streamOnce(hc *http.Client, url, prompt string, maxTokens int) (int, string, int, error) {
	body, _ := json.Marshal(map[string]any{"prompt": prompt, "max_tokens": maxTokens, "temperature": 0, "stream": true,
		"stream_options": map[string]bool{"include_usage": true}})
	resp, err := hc.Post(url+"/v1/completions", "application/json", strings.NewReader(string(body)))
	if err != nil {
		return 0, "", 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode == http.StatusTooManyRequests && !strings.Contains(string(b), `"code":"queue_full"`) {
			return 0, "", 0, fmt.Errorf("429 body %s", b)
		}
		return resp.StatusCode, "", 0, nil
	}
	var text strings.Builder
	tokens, done := -1, false
	sc := bufio.NewScanner(resp.Body)
	// Only the fields the check needs, so that the clients, which share the
	// process (and its garbage collector) with the server, stay light.
	var ch struct {
		Choices []struct {
			Text string `json:"text"`
		} `json:"choices"`
		Usage *usage `json:"usage"`
	}
	for sc.Scan() {
		line := sc.Bytes()
		if len(line) == 0 {
			continue
		}
		data, found := bytes.CutPrefix(line, []byte("data: "))
		if !found || done {
			return 0, "", 0, fmt.Errorf("unexpected line %q", line)
		}
		if string(data) == "[DONE]" {
			done = true
			continue
		}
		ch.Choices, ch.Usage = ch.Choices[:0], nil
		if err := json.Unmarshal(data, &ch); err != nil {
			return 0, "", 0, fmt.Errorf("chunk %q: %v", data, err)
		}
		for _, c := range ch.Choices {
			text.WriteString(c.Text)
		}
		if ch.Usage != nil {
			tokens = ch.Usage.CompletionTokens
		}
	}
	if err := sc.Err(); err != nil {
		return 0, "", 0, err
	}
	if !done || tokens < 0 {
		return 0, "", 0, fmt.Errorf("stream ended without usage and [DONE] (text %q)", text.String())
	}
	return resp.StatusCode, text.String(), tokens, nil
}

// benchGen is the generation rate model.Bench measures with the default
// pool of `unswift bench` (every core), for prompts and lengths like the
// load's.
func benchGen(t *testing.T, m *model.Model) float64 {
	pool := kernel.NewPool(0)
	defer pool.Close()
	r, err := model.Bench(m, pool, model.BenchOptions{PromptTokens: 8, GenTokens: 100, Reps: 5})
	if err != nil {
		t.Fatal(err)
	}
	return r.GenTokensPerS
}

type benchRate struct {
	rate  float64 // tokens per second
	cores float64 // CPU seconds per second
}

// sustainedBench runs model.Bench (pool as `unswift bench`) back to back for
// about d and returns the generation rate over the whole time: on a busy
// machine it shares the CPU the way the load does, where a best-of-5 does
// not.
func sustainedBench(t *testing.T, m *model.Model, d time.Duration) benchRate {
	pool := kernel.NewPool(0)
	defer pool.Close()
	var gen time.Duration
	tokens := 0
	cpu0, t0 := cpuTime(), time.Now()
	for time.Since(t0) < d {
		r, err := model.Bench(m, pool, model.BenchOptions{PromptTokens: 8, GenTokens: 100, Reps: 1})
		if err != nil {
			t.Fatal(err)
		}
		gen += time.Duration(float64(r.GenTokens) / r.GenTokensPerS * float64(time.Second))
		tokens += r.GenTokens
	}
	el := time.Since(t0)
	return benchRate{rate: float64(tokens) / gen.Seconds(), cores: (cpuTime() - cpu0).Seconds() / el.Seconds()}
}

// engineCPUPerToken is the CPU seconds per generated token of greedy
// generation on a one-thread pool, as the load's sequences run, without HTTP.
func engineCPUPerToken(m *model.Model) float64 {
	pool := kernel.NewPool(1)
	defer pool.Close()
	st := m.NewState(pool, 0)
	prompt := m.Tokenizer.Encode("Once upon a time", true)
	tokens := 0
	cpu0, t0 := cpuTime(), time.Now()
	for time.Since(t0) < 500*time.Millisecond {
		smp, _ := sample.New(0, 0, 1, 0)
		s, _ := st.Generate(context.Background(), prompt, model.GenerateOptions{Positions: len(prompt) + 99, Sampler: smp})
		tokens += s.GenTokens
	}
	return (cpuTime() - cpu0).Seconds() / float64(tokens)
}

// machineShare is the fraction of the machine's cores that busy loops on
// every core get for 200 ms: about 1 on an idle machine.
func machineShare() float64 {
	n := runtime.NumCPU()
	cpu0, t0 := cpuTime(), time.Now()
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			x := 0
			for time.Since(t0) < 200*time.Millisecond {
				for i := range 10000 {
					x += i
				}
			}
			_ = x
		}()
	}
	wg.Wait()
	return (cpuTime() - cpu0).Seconds() / time.Since(t0).Seconds() / float64(n)
}

// peakRSS is the process's peak resident set size in bytes (0 where
// /proc/self/status is absent).
func peakRSS() float64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			f := strings.Fields(rest)
			if len(f) == 2 && f[1] == "kB" {
				n, _ := strconv.ParseFloat(f[0], 64)
				return n * 1024
			}
		}
	}
	return 0
}
