package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/stylelab/stylelab/tracker"
	"github.com/stylelab/stylelab/tracker/dashboard"
)

func init() {
	register(&command{name: "serve", summary: "serve the read-only web dashboard of recorded runs (http://127.0.0.1:8080)", run: runServe})
}

func runServe(args []string) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return serve(ctx, args, os.Stdout, os.Stderr)
}

// serve runs the dashboard until ctx is done (Ctrl-C), printing its URL on stdout.
func serve(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("serve")
	fs.SetOutput(stderr)
	db := fs.String("db", tracker.DefaultPath(), "tracker database, opened read-only (default $STYLELAB_DB, else ./runs/stylelab.db)")
	addr := fs.String("addr", "127.0.0.1:8080", "HOST:PORT to listen on; a non-loopback host exposes your runs to the network without authentication")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: stylelab serve [--db FILE] [--addr 127.0.0.1:8080]\n\nServes the read-only dashboard: runs table (filter, sort), run pages, comparisons, a JSON API under /api/.\nFlags:")
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		return usagef("serve takes no arguments (got %q): use --db FILE and --addr HOST:PORT", fs.Args())
	}
	host, _, err := net.SplitHostPort(*addr)
	if err != nil {
		return usagef("--addr must be HOST:PORT, e.g. 127.0.0.1:8080 (got %q)", *addr)
	}
	st, err := tracker.OpenReadOnly(*db)
	if err != nil {
		return err
	}
	defer st.Close()
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("cannot listen on %s: %w (is another server using the port? pick another with --addr 127.0.0.1:8081)", *addr, err)
	}
	loopback := isLoopback(host)
	if !loopback {
		fmt.Fprintf(stderr, "warning: --addr %s is not a loopback address: anyone who can reach this machine on that port can read your runs and artifacts (there is no authentication). Use --addr 127.0.0.1:PORT to keep it local.\n", *addr)
	}
	h := dashboard.New(st, dashboard.Options{Source: st.Path(), LoopbackOnly: loopback})
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
		WriteTimeout: 5 * time.Minute, IdleTimeout: 2 * time.Minute}
	url := "http://" + ln.Addr().String() + "/"
	if tcp, ok := ln.Addr().(*net.TCPAddr); ok && tcp.IP.IsUnspecified() {
		url = fmt.Sprintf("http://127.0.0.1:%d/ (listening on all interfaces, port %d)", tcp.Port, tcp.Port)
	}
	fmt.Fprintf(stdout, "stylelab dashboard: %s\ndatabase %s (read-only); Ctrl-C to stop\n", url, st.Path())

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("dashboard server stopped: %w", err)
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdown); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return nil
}

// isLoopback reports whether a listening host keeps the server on this machine: "localhost" or a loopback
// IP. The empty host and 0.0.0.0/:: listen on every interface.
func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
