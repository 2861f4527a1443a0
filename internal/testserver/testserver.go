// Package testserver runs Tickerboard's API in-process for tests: the real store,
// notifier, hub and handler on a test database, wired as cmd/tickerboard wires them,
// behind an httptest server.
package testserver

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/tickerboard/tickerboard/api"
	"github.com/tickerboard/tickerboard/store"
)

// Options adjusts the server.
type Options struct {
	Ring      int                   // hub ring size; 0 means 1024
	ListenURL string                // where the notifier connects, e.g. through a proxy; "" means the board's database
	Logger    *slog.Logger          // nil discards
	Notifier  func(*store.Notifier) // adjusts the notifier before it runs
	Deps      func(*api.Deps)       // adjusts the handler's dependencies
}

// Server is one running in-process instance.
type Server struct {
	URL      string
	Notifier *store.Notifier
	Hub      *api.Hub
}

// Start serves st (at dbURL) until the test ends, and returns once the notifier is
// listening. At cleanup the notifier stops before the hub closes, as in run.
func Start(t testing.TB, st *store.Store, dbURL string, o Options) *Server {
	t.Helper()
	if o.Ring == 0 {
		o.Ring = 1024
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	ctx, cancel := context.WithCancel(context.Background())
	listen := st
	if o.ListenURL != "" {
		var err error
		if listen, err = store.Open(ctx, o.ListenURL); err != nil {
			cancel()
			t.Fatalf("open the notifier's store: %v", err)
		}
		t.Cleanup(listen.Close)
	}
	pos, err := st.Position(ctx)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	hub := api.NewHub(pos.Head, o.Ring)
	n := store.NewNotifier(listen, pos.Head, hub.Publish, o.Logger)
	if o.Notifier != nil {
		o.Notifier(n)
	}
	done := make(chan struct{})
	go func() { defer close(done); n.Run(ctx) }()
	deps := api.Deps{
		Board: st, Hub: hub, Logger: o.Logger,
		Static:    fstest.MapFS{"index.html": {Data: []byte("<!doctype html><title>t</title>")}},
		Listening: func() bool { c, _ := n.State(); return c },
		Gauges:    api.Gauges{EventsRead: n.Fetched, Reconnects: n.Reconnects},
	}
	if o.Deps != nil {
		o.Deps(&deps)
	}
	srv := httptest.NewServer(api.NewServer(deps))
	t.Cleanup(func() {
		cancel()
		<-done
		hub.Close()
		srv.Close()
	})
	for {
		connected, changed := n.State()
		if connected {
			break
		}
		<-changed
	}
	return &Server{URL: srv.URL, Notifier: n, Hub: hub}
}

// Metric scrapes base/metrics and returns one unlabelled sample, failing the test if
// the series is missing.
func Metric(t testing.TB, base, name string) float64 {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("%s = %q", name, v)
			}
			return f
		}
	}
	t.Fatalf("%s/metrics has no %s", base, name)
	return 0
}
