// Package testserver runs Tickerboard's API in-process for tests: the real store,
// notifier, engine and handler on a test database, assembled and served by
// internal/instance exactly as cmd/tickerboard's run does, shutdown included.
package testserver

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/tickerboard/tickerboard/api"
	"github.com/tickerboard/tickerboard/api/hub"
	"github.com/tickerboard/tickerboard/internal/instance"
	"github.com/tickerboard/tickerboard/store"
)

// Options adjusts the server.
type Options struct {
	Ring      int                   // hub ring size; 0 means 1024
	ListenURL string                // where the notifier connects, e.g. through a proxy; "" means the board's database
	Logger    *slog.Logger          // nil discards
	Notifier  func(*store.Notifier) // adjusts the notifier before it runs
	// Deps adjusts the handler's Limits, Access and Gauges (the rest is the
	// instance's own wiring).
	Deps     func(*api.Deps)
	Stream   hub.StreamConfig // zero means hub.DefaultStreamConfig
	Portable bool             // streams never park (instance.Config.Portable)
}

// Server is one running in-process instance.
type Server struct {
	URL      string
	Notifier *store.Notifier
	Hub      *hub.Hub
}

// shutdownBound is how long a test waits for the instance to stop: its own deadline
// and a margin, so a shutdown that hangs fails the test instead of holding it.
const shutdownBound = instance.DefaultShutdown + 10*time.Second

// Start serves st (at dbURL) until the test ends, and returns once the notifier is
// listening. At cleanup the instance shuts down as run's does, and the test fails if
// it does not stop in time.
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
	deps := api.Deps{}
	if o.Deps != nil {
		o.Deps(&deps)
	}
	in, err := instance.New(ctx, instance.Config{
		Store: st, Listen: listen, Ring: o.Ring, Logger: o.Logger,
		Static: fstest.MapFS{"index.html": {Data: []byte("<!doctype html><title>t</title>")}},
		Stream: o.Stream, Limits: deps.Limits, Access: deps.Access, Gauges: deps.Gauges,
		Portable: o.Portable, Notifier: o.Notifier,
	})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- in.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("serve: %v", err)
			}
		case <-time.After(shutdownBound):
			t.Errorf("the instance did not stop within %s", shutdownBound)
		}
	})
	timeout := time.After(30 * time.Second)
	for {
		connected, changed := in.Notifier.State()
		if connected {
			break
		}
		select {
		case <-changed:
		case <-timeout:
			t.Fatal("the notifier did not connect within 30s")
		}
	}
	return &Server{URL: "http://" + ln.Addr().String(), Notifier: in.Notifier, Hub: in.Hub}
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
