// Package server is unswift's local HTTP server: an OpenAI-compatible API
// (/v1/models, /v1/completions, /v1/chat/completions, with streaming as
// server-sent events) over one model or TaylorMLP release, a Prometheus
// /metrics endpoint, and a self-contained chat page at /.
//
// Up to Config.Parallel sequences generate at once, each with its own KV
// cache; up to Config.Queue more requests wait for a free slot and the rest
// are refused with 429. A client that goes away frees its slot at once, every
// request has a deadline, and Shutdown refuses new work and finishes (or, at
// its deadline, cancels) the work in flight.
//
// Chat messages are rendered with a chat template (package chat): the one
// named in Config.Template, else the one detected from the model's
// tokenizer.chat_template metadata (see chat.ForModel), else
// TemplateTranscript, a plain "role: content" transcript.
package server

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/unswift/unswift/internal/chat"
	"github.com/unswift/unswift/internal/kernel"
	"github.com/unswift/unswift/internal/model"
)

// Defaults for the zero values of Config fields.
const (
	DefaultTimeout = 5 * time.Minute
	DefaultMaxBody = 1 << 20
)

// Config configures a Server.
type Config struct {
	// Model is the model or release to serve (required). A release runs at
	// the order set on it (Model.SetOrder) before New.
	Model *model.Model
	// Name is the model id clients use; "" means the model file's base name
	// without its extension.
	Name string
	// Parallel is the number of sequences generating at once (0 means 1).
	Parallel int
	// Queue is the number of requests that may wait for a free slot; more are
	// refused with 429.
	Queue int
	// Context is each sequence's context length (0: the model's).
	Context int
	// Threads is the number of kernel threads in all (0: every core). They are
	// split among the parallel sequences.
	Threads int
	// APIKey, when set, must come with every request but GET /healthz, as
	// "Authorization: Bearer KEY" (or as the password of HTTP basic
	// authentication, which lets a browser open the chat page).
	APIKey string
	// Timeout is each request's deadline, queueing included (0: DefaultTimeout).
	Timeout time.Duration
	// MaxBody is the largest request body accepted (0: DefaultMaxBody).
	MaxBody int64
	// Template names the chat template (one of Templates); "" detects it from
	// the model's metadata.
	Template string
	// AllowRemote accepts requests whose Host header is not a loopback name or
	// address. Without it such requests get 403, which defeats DNS-rebinding
	// attacks from web pages against a server on localhost.
	AllowRemote bool
	// Log, when set, receives one line per generation request.
	Log *log.Logger
}

// Server serves one model over HTTP. Make it with New; it is an
// http.Handler.
type Server struct {
	cfg     Config
	m       *model.Model
	name    string
	created int64
	tmpl    *chat.Template
	enc     *chat.Encoder
	mux     *http.ServeMux
	met     *metrics

	slots   chan *slot    // free slots
	tickets chan struct{} // one per admitted request (generating or queued)
	all     []*slot

	mu       sync.Mutex
	draining bool
	drained  chan struct{} // closed when draining starts
	inflight sync.WaitGroup
	hard     context.Context // canceled when in-flight work must stop
	cancel   context.CancelFunc

	// testHookToken, when set, runs before each emitted piece of text (tests
	// use it to slow generation down).
	testHookToken func()
}

// slot is a sequence that can generate: its own state (KV cache) and pool.
type slot struct {
	st   *model.State
	pool *kernel.Pool
}

// New makes a server for cfg.Model and allocates the KV caches of its
// parallel sequences.
func New(cfg Config) (*Server, error) {
	m := cfg.Model
	if m == nil {
		return nil, errors.New("server: no model")
	}
	if cfg.Parallel == 0 {
		cfg.Parallel = 1
	}
	switch {
	case cfg.Parallel < 0:
		return nil, fmt.Errorf("server: parallel %d must be ≥ 1", cfg.Parallel)
	case cfg.Queue < 0:
		return nil, fmt.Errorf("server: queue %d must be ≥ 0", cfg.Queue)
	case cfg.Context < 0:
		return nil, fmt.Errorf("server: context %d must be ≥ 0", cfg.Context)
	case cfg.Threads < 0:
		return nil, fmt.Errorf("server: threads %d must be ≥ 0", cfg.Threads)
	case cfg.Timeout < 0:
		return nil, fmt.Errorf("server: timeout %s must be ≥ 0", cfg.Timeout)
	case cfg.MaxBody < 0:
		return nil, fmt.Errorf("server: max body %d must be ≥ 0", cfg.MaxBody)
	}
	if cfg.Context > m.Config.Context {
		return nil, fmt.Errorf("server: context %d is longer than the model's %d", cfg.Context, m.Config.Context)
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.MaxBody == 0 {
		cfg.MaxBody = DefaultMaxBody
	}
	tmpl, err := chat.ForModel(m, cfg.Template)
	if err != nil {
		return nil, fmt.Errorf("server: %w", err)
	}
	s := &Server{
		cfg:     cfg,
		m:       m,
		name:    cfg.Name,
		created: time.Now().Unix(),
		tmpl:    tmpl,
		enc:     tmpl.Encoder(m.Tokenizer),
		met:     newMetrics(),
		slots:   make(chan *slot, cfg.Parallel),
		tickets: make(chan struct{}, cfg.Parallel+cfg.Queue),
		drained: make(chan struct{}),
	}
	if s.name == "" {
		s.name = strings.TrimSuffix(filepath.Base(m.Path), filepath.Ext(m.Path))
	}
	if fi, err := os.Stat(m.Path); err == nil {
		s.created = fi.ModTime().Unix()
	}
	s.hard, s.cancel = context.WithCancel(context.Background())
	// Each sequence gets its own pool: a kernel.Pool runs one job at a time,
	// so sequences sharing one would mostly run alone anyway, and separate
	// pools let them use the cores side by side.
	threads := cfg.Threads
	if threads == 0 {
		threads = runtime.NumCPU()
	}
	per := max(1, threads/cfg.Parallel)
	for range cfg.Parallel {
		pool := kernel.NewPool(per)
		sl := &slot{st: m.NewState(pool, cfg.Context), pool: pool}
		s.all = append(s.all, sl)
		s.slots <- sl
	}
	s.routes()
	return s, nil
}

// Name is the model id the server answers to.
func (s *Server) Name() string { return s.name }

// Template is the name of the chat template in use.
func (s *Server) Template() string { return s.tmpl.Name() }

// Close stops the kernel pools. Call it after Shutdown (or once no request
// can arrive); the model stays open, it belongs to the caller.
func (s *Server) Close() {
	s.cancel()
	for _, sl := range s.all {
		sl.pool.Close()
	}
}

// Shutdown makes the server refuse new work with 503 (requests still waiting
// for a slot included), then waits for the generations in flight to finish.
// When ctx is done first it cancels them, waits for them to end and returns
// ctx's error.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	if !s.draining {
		s.draining = true
		close(s.drained)
	}
	s.mu.Unlock()
	done := make(chan struct{})
	go func() {
		s.inflight.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		s.cancel()
		<-done
		return ctx.Err()
	}
}

// Serve accepts connections on ln until ctx is done, then shuts down: new
// requests get 503 while the ones in flight get up to grace to finish (then
// they are canceled), and the listener and connections are closed. It
// returns nil after a shutdown caused by ctx.
func (s *Server) Serve(ctx context.Context, ln net.Listener, grace time.Duration) error {
	hs := &http.Server{
		Handler:           s,
		ReadHeaderTimeout: 30 * time.Second,
		IdleTimeout:       2 * time.Minute,
	}
	if s.cfg.Log != nil {
		hs.ErrorLog = s.cfg.Log
	}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	gctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	if err := s.Shutdown(gctx); err != nil && s.cfg.Log != nil {
		s.cfg.Log.Printf("shutdown: canceled the requests still generating after %s", grace)
	}
	// Handlers return promptly now; give connections a moment to flush.
	cctx, cancel2 := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel2()
	if err := hs.Shutdown(cctx); err != nil {
		hs.Close()
	}
	return nil
}

// route is one path of the API.
type route struct {
	path    string
	method  string // "GET" or "POST"
	handler http.HandlerFunc
}

func (s *Server) routes() {
	s.mux = http.NewServeMux()
	for _, r := range []route{
		{"/{$}", http.MethodGet, s.handlePage},
		{"/healthz", http.MethodGet, s.handleHealth},
		{"/metrics", http.MethodGet, s.handleMetrics},
		{"/v1/models", http.MethodGet, s.handleModels},
		{"/v1/models/{id...}", http.MethodGet, s.handleModel},
		{"/v1/completions", http.MethodPost, s.handleCompletions},
		{"/v1/chat/completions", http.MethodPost, s.handleChat},
	} {
		s.mux.HandleFunc(r.path, func(w http.ResponseWriter, req *http.Request) {
			if req.Method != r.method && !(r.method == http.MethodGet && req.Method == http.MethodHead) {
				w.Header().Set("Allow", r.method)
				writeError(w, errMethod(req.Method, req.URL.Path, r.method))
				return
			}
			r.handler(w, req)
		})
	}
	s.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, errNotFound("unknown route %s %s (see /v1/models, /v1/completions, /v1/chat/completions)", r.Method, r.URL.Path))
	})
}

// ServeHTTP checks the Host header and the API key, then routes the request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rec := &statusRecorder{ResponseWriter: w}
	_, pattern := s.mux.Handler(r)
	route := strings.TrimSuffix(strings.TrimSuffix(pattern, "{$}"), "{id...}")
	if route == "/" && r.URL.Path != "/" {
		route = "other"
	}
	defer func() {
		code := rec.code
		if code == 0 {
			code = http.StatusOK
		}
		s.met.request(route, code)
	}()
	if !s.cfg.AllowRemote && !loopbackHost(r.Host) {
		writeError(rec, &apiError{Status: http.StatusForbidden, Type: "invalid_request_error", Code: "forbidden_host",
			Message: fmt.Sprintf("host %q is not a loopback name or address; start the server with --allow-remote to serve other hosts", r.Host)})
		return
	}
	if s.cfg.APIKey != "" && r.URL.Path != "/healthz" && !s.authorized(r) {
		if r.URL.Path == "/" {
			rec.Header().Set("WWW-Authenticate", `Basic realm="unswift (any user name, the API key as password)"`)
			http.Error(rec, "401 unauthorized: give the API key as the password", http.StatusUnauthorized)
			return
		}
		writeError(rec, errUnauthorized())
		return
	}
	s.mux.ServeHTTP(rec, r)
}

func (s *Server) authorized(r *http.Request) bool {
	key := ""
	if _, pass, ok := r.BasicAuth(); ok {
		key = pass
	} else if h := r.Header.Get("Authorization"); len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
		key = strings.TrimSpace(h[7:])
	}
	return subtle.ConstantTimeCompare([]byte(key), []byte(s.cfg.APIKey)) == 1
}

// loopbackHost reports whether a Host header names this machine's loopback.
func loopbackHost(hostport string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if strings.EqualFold(host, "localhost") || strings.HasSuffix(strings.ToLower(host), ".localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// CheckAddr checks a listen address: its host must be a loopback address
// or name unless allowRemote is set. An empty host (all interfaces) is not
// loopback.
func CheckAddr(addr string, allowRemote bool) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("listen address %q: %v (want HOST:PORT, for example 127.0.0.1:8080)", addr, err)
	}
	if allowRemote {
		return nil
	}
	if host == "" {
		return fmt.Errorf("listen address %q listens on every interface, not just loopback; pass --allow-remote to do so", addr)
	}
	if ip := net.ParseIP(host); ip != nil {
		if !ip.IsLoopback() {
			return fmt.Errorf("listen address %q is not a loopback address; pass --allow-remote to serve other machines", addr)
		}
		return nil
	}
	ips, err := net.LookupIP(host)
	if err != nil {
		return fmt.Errorf("listen address %q: %v", addr, err)
	}
	for _, ip := range ips {
		if !ip.IsLoopback() {
			return fmt.Errorf("listen address %q resolves to %s, which is not a loopback address; pass --allow-remote to serve other machines", addr, ip)
		}
	}
	return nil
}

func (s *Server) handleHealth(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	draining := s.draining
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	if draining {
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprintln(w, `{"status":"shutting down"}`)
		return
	}
	fmt.Fprintln(w, `{"status":"ok"}`)
}

func (s *Server) handleMetrics(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	s.met.write(w, gauges{
		parallel: s.cfg.Parallel, queue: s.cfg.Queue,
		order: s.m.Order(), maxOrder: s.maxOrder(), slowdown: s.m.PredictedSlowdown(),
		model: s.name, format: s.m.Format,
	})
}

func (s *Server) maxOrder() int {
	if s.m.Taylor == nil {
		return -1
	}
	return s.m.Taylor.Order
}

// modelObject is an entry of GET /v1/models. The "unswift" member is an
// extension that OpenAI clients ignore; the chat page reads it.
type modelObject struct {
	ID      string    `json:"id"`
	Object  string    `json:"object"`
	Created int64     `json:"created"`
	OwnedBy string    `json:"owned_by"`
	Unswift modelInfo `json:"unswift"`
}

type modelInfo struct {
	Format   string       `json:"format"`
	Context  int          `json:"context"`
	Parallel int          `json:"parallel"`
	Template string       `json:"chat_template"`
	Release  *releaseInfo `json:"release"` // null for a plain model
}

type releaseInfo struct {
	Order             int     `json:"order"`
	MaxOrder          int     `json:"max_order"`
	PredictedSlowdown float64 `json:"predicted_slowdown"`
}

func (s *Server) modelObject() modelObject {
	o := modelObject{ID: s.name, Object: "model", Created: s.created, OwnedBy: "unswift",
		Unswift: modelInfo{Format: s.m.Format, Context: s.all[0].st.Context(), Parallel: s.cfg.Parallel, Template: s.tmpl.Name()}}
	if s.m.Taylor != nil {
		o.Unswift.Release = &releaseInfo{Order: s.m.Order(), MaxOrder: s.m.Taylor.Order, PredictedSlowdown: s.m.PredictedSlowdown()}
	}
	return o
}

func (s *Server) handleModels(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, struct {
		Object string        `json:"object"`
		Data   []modelObject `json:"data"`
	}{"list", []modelObject{s.modelObject()}})
}

func (s *Server) handleModel(w http.ResponseWriter, r *http.Request) {
	if id := r.PathValue("id"); id != s.name {
		writeError(w, errModelNotFound(id, s.name))
		return
	}
	writeJSON(w, s.modelObject())
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}
