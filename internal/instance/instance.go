// Package instance assembles one Tickerboard instance — notifier, streaming engine,
// HTTP server — the one way production (cmd/tickerboard's run) and the tests both
// use, so no test passes on wiring production does not run. Serve owns every
// goroutine it starts and returns only when all of them have ended.
package instance

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/tickerboard/tickerboard/api"
	"github.com/tickerboard/tickerboard/api/hub"
	"github.com/tickerboard/tickerboard/store"
)

// DefaultShutdown bounds the whole shutdown: streams get their last comment, the
// HTTP server its idle connections, and whatever is still open then is cut.
const DefaultShutdown = 5 * time.Second

// Config is what an instance is built from.
type Config struct {
	Store  *store.Store // reads: snapshots, catch-up, the JSON API, the position
	Listen *store.Store // the notifier's connection; nil means Store
	Ring   int          // frames the engine keeps for fan-out and resumes
	Logger *slog.Logger
	Static fs.FS // the page
	Stream hub.StreamConfig
	Limits api.Limits
	Access api.Access
	Gauges api.Gauges // the caller's (Leading, Locks); the notifier's are added
	// Portable keeps every stream in its own goroutine (never parked), as on systems
	// without epoll; tests use it to prove both paths deliver the same.
	Portable bool
	// Shutdown bounds the whole shutdown; 0 means DefaultShutdown.
	Shutdown time.Duration
	// Notifier, if set, adjusts the notifier before it runs (tests: backoff, idle poll).
	Notifier func(*store.Notifier)
}

// Instance is one assembled instance, ready to Serve.
type Instance struct {
	Hub      *hub.Hub
	Notifier *store.Notifier
	Handler  http.Handler
	cfg      Config
}

// New builds an instance starting after the log's current head. It starts nothing:
// Serve does, and stops it all.
func New(ctx context.Context, cfg Config) (*Instance, error) {
	if cfg.Listen == nil {
		cfg.Listen = cfg.Store
	}
	if cfg.Shutdown == 0 {
		cfg.Shutdown = DefaultShutdown
	}
	pos, err := cfg.Store.Position(ctx)
	if err != nil {
		return nil, fmt.Errorf("read the log's position: %w", err)
	}
	opts := []hub.Option{hub.WithLogger(cfg.Logger), hub.WithBoard(cfg.Store), hub.WithStreamConfig(cfg.Stream)}
	if cfg.Portable {
		opts = append(opts, hub.WithoutParking())
	}
	h := hub.New(pos.Head, cfg.Ring, opts...)
	n := store.NewNotifier(cfg.Listen, pos.Head, h.Publish, cfg.Logger)
	if cfg.Notifier != nil {
		cfg.Notifier(n)
	}
	g := cfg.Gauges
	g.EventsRead, g.Reconnects = n.Fetched, n.Reconnects
	handler := api.NewServer(api.Deps{
		Board:  cfg.Store,
		Hub:    h,
		Static: cfg.Static,
		Logger: cfg.Logger,
		Listening: func() bool {
			connected, _ := n.State()
			return connected
		},
		Gauges: g,
		Limits: cfg.Limits,
		Access: cfg.Access,
	})
	return &Instance{Hub: h, Notifier: n, Handler: handler, cfg: cfg}, nil
}

// Serve runs the notifier, the engine and the HTTP server on ln until ctx ends, then
// shuts them down within the configured deadline and returns once every goroutine it
// started has ended. It serves HTTP/1.1 and HTTP/2 without TLS (h2c), for proxies
// that speak it.
func (in *Instance) Serve(ctx context.Context, ln net.Listener) error {
	logger := in.cfg.Logger
	if err := in.Hub.Start(); err != nil {
		logger.Warn("streams will not park", "err", err)
	}
	srv := &http.Server{
		Handler:           in.Handler,
		ReadHeaderTimeout: 5 * time.Second, // slowloris; no WriteTimeout: it would cut every stream
		MaxHeaderBytes:    16 << 10,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelDebug),
		Protocols:         new(http.Protocols),
	}
	srv.Protocols.SetHTTP1(true)
	srv.Protocols.SetUnencryptedHTTP2(true)
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return in.Notifier.Run(gctx) })
	g.Go(func() error {
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("serve: %w", err)
		}
		return nil
	})
	g.Go(func() error {
		<-gctx.Done()
		in.shutdown(srv)
		return nil
	})
	return g.Wait()
}

// shutdown stops taking requests and ends every stream, all within one deadline:
// Shutdown closes the listener and waits for idle connections while the engine sends
// each stream its last comment; at the deadline, whatever is still open is cut.
func (in *Instance) shutdown(srv *http.Server) {
	ctx, cancel := context.WithTimeout(context.Background(), in.cfg.Shutdown)
	defer cancel()
	served := make(chan error, 1)
	go func() { served <- srv.Shutdown(ctx) }()
	hubErr := in.Hub.Close(ctx)
	if err := <-served; err != nil || hubErr != nil {
		in.cfg.Logger.Warn("shutdown deadline passed; cutting what is left", "after", in.cfg.Shutdown)
		srv.Close()
	}
	in.Hub.Wait() // every stream was ended or cut: their goroutines are finishing
}
