package server

import (
	"fmt"
	"io"
	"net/http"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// rateWindow is the span over which /metrics reports tokens per second.
const rateWindow = 10 * time.Second

// metrics are the server's counters, exported at /metrics in the Prometheus
// text format.
type metrics struct {
	queued atomic.Int64 // requests waiting for a slot
	active atomic.Int64 // sequences generating

	mu           sync.Mutex
	requests     map[[2]string]uint64 // {route, status code} → count
	promptTokens uint64
	genTokens    uint64
	genSeconds   float64
	buckets      [10]bucket // tokens generated per second of the last rateWindow
	start        time.Time
}

type bucket struct {
	sec    int64
	tokens uint64
}

func newMetrics() *metrics {
	return &metrics{requests: map[[2]string]uint64{}, start: time.Now()}
}

// request counts one answered request.
func (m *metrics) request(route string, code int) {
	m.mu.Lock()
	m.requests[[2]string{route, strconv.Itoa(code)}]++
	m.mu.Unlock()
}

// generated records a finished (or stopped) generation.
func (m *metrics) generated(prompt, gen int, d time.Duration, now time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.promptTokens += uint64(prompt)
	m.genTokens += uint64(gen)
	m.genSeconds += d.Seconds()
	sec := now.Unix()
	b := &m.buckets[sec%int64(len(m.buckets))]
	if b.sec != sec {
		*b = bucket{sec: sec}
	}
	b.tokens += uint64(gen)
}

// rate is the tokens generated per second over the last rateWindow (or since
// the start, when that is shorter).
func (m *metrics) rate(now time.Time) float64 {
	sec := now.Unix()
	var n uint64
	for _, b := range m.buckets {
		if b.sec > sec-int64(len(m.buckets)) && b.sec <= sec {
			n += b.tokens
		}
	}
	span := min(now.Sub(m.start), rateWindow).Seconds()
	if span <= 0 {
		return 0
	}
	return float64(n) / span
}

// gauges are values /metrics reports besides the counters.
type gauges struct {
	parallel, queue int
	order, maxOrder int // -1 for a plain model
	slowdown        float64
	model, format   string
}

func (m *metrics) write(w io.Writer, g gauges) {
	now := time.Now()
	m.mu.Lock()
	keys := make([][2]string, 0, len(m.requests))
	for k := range m.requests {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i][0] != keys[j][0] {
			return keys[i][0] < keys[j][0]
		}
		return keys[i][1] < keys[j][1]
	})
	counts := make([]uint64, len(keys))
	for i, k := range keys {
		counts[i] = m.requests[k]
	}
	prompt, gen, secs, rate := m.promptTokens, m.genTokens, m.genSeconds, m.rate(now)
	m.mu.Unlock()

	metric := func(name, typ, help string) {
		fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, typ)
	}
	metric("unswift_requests_total", "counter", "HTTP requests answered, by route and status code.")
	for i, k := range keys {
		fmt.Fprintf(w, "unswift_requests_total{route=%q,code=%q} %d\n", k[0], k[1], counts[i])
	}
	metric("unswift_prompt_tokens_total", "counter", "Prompt tokens processed (BOS included).")
	fmt.Fprintf(w, "unswift_prompt_tokens_total %d\n", prompt)
	metric("unswift_tokens_generated_total", "counter", "Tokens generated.")
	fmt.Fprintf(w, "unswift_tokens_generated_total %d\n", gen)
	metric("unswift_generation_seconds_total", "counter", "Seconds spent in generation, summed over sequences.")
	fmt.Fprintf(w, "unswift_generation_seconds_total %g\n", secs)
	metric("unswift_tokens_per_second", "gauge", "Tokens generated per second over the last 10 s, all sequences together (counted as requests finish).")
	fmt.Fprintf(w, "unswift_tokens_per_second %g\n", rate)
	metric("unswift_queue_depth", "gauge", "Requests waiting for a free sequence slot.")
	fmt.Fprintf(w, "unswift_queue_depth %d\n", m.queued.Load())
	metric("unswift_active_sequences", "gauge", "Sequences generating now.")
	fmt.Fprintf(w, "unswift_active_sequences %d\n", m.active.Load())
	metric("unswift_parallel_slots", "gauge", "Sequences that may generate at once (--parallel).")
	fmt.Fprintf(w, "unswift_parallel_slots %d\n", g.parallel)
	metric("unswift_queue_capacity", "gauge", "Requests that may wait for a slot (--queue).")
	fmt.Fprintf(w, "unswift_queue_capacity %d\n", g.queue)
	metric("unswift_model_info", "gauge", "The served model (always 1).")
	fmt.Fprintf(w, "unswift_model_info{model=%q,format=%q} 1\n", g.model, g.format)
	metric("unswift_release_order", "gauge", "Order a TaylorMLP release runs at (-1 for a plain model).")
	fmt.Fprintf(w, "unswift_release_order %d\n", g.order)
	metric("unswift_release_max_order", "gauge", "Order a TaylorMLP release was built at (-1 for a plain model).")
	fmt.Fprintf(w, "unswift_release_max_order %d\n", g.maxOrder)
	metric("unswift_release_predicted_slowdown", "gauge", "A release's weight bytes per token over its original's (1 for a plain model).")
	fmt.Fprintf(w, "unswift_release_predicted_slowdown %g\n", g.slowdown)
}

// statusRecorder remembers the status code a handler wrote.
type statusRecorder struct {
	http.ResponseWriter
	code int
}

func (r *statusRecorder) WriteHeader(code int) {
	if r.code == 0 {
		r.code = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	if r.code == 0 {
		r.code = http.StatusOK
	}
	return r.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection (to flush).
func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }
