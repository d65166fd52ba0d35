package main

import (
	"context"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/unswift/unswift/internal/model"
	"github.com/unswift/unswift/internal/server"
)

func cmdServe(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("serve", "-m MODEL_OR_RELEASE [flags]", stderr)
	var mf modelFlags
	mf.register(fs) // -m, --tokenizer, --threads
	mf.registerOrder(fs)
	addr := fs.String("addr", "127.0.0.1:8080", "listen address HOST:PORT; must be loopback unless --allow-remote")
	allowRemote := fs.Bool("allow-remote", false, "allow a non-loopback listen address and Host headers")
	apiKey := fs.String("api-key", os.Getenv("UNSWIFT_API_KEY"), "require this key (Authorization: Bearer KEY) on every route but /healthz (default: $UNSWIFT_API_KEY)")
	parallel := fs.Int("parallel", 1, "sequences generating at once, each with its own KV cache")
	queue := fs.Int("queue", 16, "requests that may wait for a free sequence; more get 429")
	ctxLen := fs.Int("ctx", 0, fmt.Sprintf("context length of each sequence (default: the model's, at most %d)", model.DefaultContext))
	timeout := fs.Duration("timeout", server.DefaultTimeout, "deadline of each request, queueing included")
	grace := fs.Duration("grace", 10*time.Second, "on SIGINT/SIGTERM, time given to requests in flight before they are canceled")
	name := fs.String("name", "", "model id for the API (default: the file's base name)")
	tmpl := fs.String("chat-template", "", "chat template: "+strings.Join(server.Templates, ", ")+" (default: detected from the model's metadata, else transcript)")
	quiet := fs.Bool("q", false, "do not log each request to stderr")
	if err := parse(fs, args); err != nil {
		return err
	}
	if err := server.CheckAddr(*addr, *allowRemote); err != nil {
		return err
	}
	m, pool, err := mf.open()
	if err != nil {
		return err
	}
	pool.Close() // the server makes a pool per sequence
	defer m.Close()
	logger := log.New(stderr, "", log.LstdFlags)
	cfg := server.Config{
		Model: m, Name: *name, Parallel: *parallel, Queue: *queue, Context: *ctxLen, Threads: mf.threads,
		APIKey: *apiKey, Timeout: *timeout, Template: *tmpl, AllowRemote: *allowRemote,
	}
	if !*quiet {
		cfg.Log = logger
	}
	srv, err := server.New(cfg)
	if err != nil {
		return err
	}
	defer srv.Close()
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	if *allowRemote && *apiKey == "" {
		fmt.Fprintln(stderr, "warning: serving beyond loopback without --api-key: anyone who can reach the address can use the model")
	}
	fmt.Fprintf(stderr, "serving %s (%s, chat template %s) with %d parallel sequences and a queue of %d\n",
		srv.Name(), m.Format, srv.Template(), *parallel, *queue)
	fmt.Fprintf(stderr, "listening on http://%s\n", ln.Addr())
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done() // a signal, or the stop below
		stop()       // a second signal ends the process at once
	}()
	err = srv.Serve(ctx, ln, *grace)
	fmt.Fprintln(stderr, "server stopped")
	return err
}
