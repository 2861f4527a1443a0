package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/tickerboard/tickerboard/api"
	"github.com/tickerboard/tickerboard/feeds"
	"github.com/tickerboard/tickerboard/frontend"
	"github.com/tickerboard/tickerboard/store"
)

// ringSize is how many recent events each instance keeps in memory for fan-out and
// for resuming clients without a query.
const ringSize = 1 << 16

// run is the whole program; main only supplies the process's context, arguments,
// environment and output. It returns when ctx ends and everything it started has stopped.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) > 0 {
		switch args[0] {
		case "migrate":
			return runMigrate(ctx, args[1:], getenv, stdout, stderr)
		case "healthcheck":
			return runHealthcheck(ctx, args[1:], getenv, stderr)
		}
	}
	cfg, err := parseConfig(args, getenv, stderr)
	if err != nil {
		return err
	}
	logger, err := newLogger(cfg.logLevel, stderr)
	if err != nil {
		return err
	}

	if err := store.EnsureDatabase(ctx, cfg.databaseURL); err != nil {
		return err
	}
	st, err := store.Open(ctx, cfg.databaseURL)
	if err != nil {
		return err
	}
	defer st.Close()
	version, err := st.Migrate("up")
	if err != nil {
		return err
	}
	pos, err := st.Position(ctx)
	if err != nil {
		return err
	}
	logger.Info("database ready", "schema_version", version, "last_event", pos.Head)

	hub := api.NewHub(pos.Head, ringSize, api.WithLogger(logger))
	notifier := store.NewNotifier(st, pos.Head, hub.Publish, logger)
	leader := store.NewLeader(st, logger)
	notifier.Leads = leader.Leading // the leader ticks; followers only if it is late
	static, err := fs.Sub(frontend.Files, "static")
	if err != nil {
		return err
	}
	handler := api.NewServer(api.Deps{
		Board:  st,
		Hub:    hub,
		Static: static,
		Logger: logger,
		Listening: func() bool {
			connected, _ := notifier.State()
			return connected
		},
		Gauges: api.Gauges{EventsRead: func() int64 { return notifier.Fetched() + notifier.Carried() }, // from the log or a tick's NOTIFY
			Reconnects: notifier.Reconnects, Leading: leader.Leading,
			Locks: store.NewLockWatch(st, logger).Holders},
		Stream: api.DefaultStreamConfig,
		Limits: api.Limits{MaxStreams: cfg.maxStreams, MaxStreamsPerIP: cfg.maxPerIP},
		Access: cfg.access,
	})

	ln, err := net.Listen("tcp", cfg.addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.addr, err)
	}
	srv := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 5 * time.Second, // slowloris; no WriteTimeout: it would cut every stream
		MaxHeaderBytes:    16 << 10,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelDebug),
	}
	srv.RegisterOnShutdown(hub.Close) // streams end with a last frame instead of hanging Shutdown
	fmt.Fprintf(stdout, "listening on http://%s\n", displayAddr(cfg.addr, ln.Addr()))
	logger.Info("serving", "addr", ln.Addr().String(), "feeds", cfg.feeds)

	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error { return notifier.Run(ctx) })
	g.Go(func() error {
		return leader.Run(ctx, func(ctx context.Context) error { return lead(ctx, st, cfg, logger) })
	})
	g.Go(func() error {
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("serve: %w", err)
		}
		return nil
	})
	g.Go(func() error {
		<-ctx.Done()
		shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(shutdownCtx); err != nil {
			srv.Close()
		}
		return nil
	})
	err = g.Wait()
	logger.Info("stopped")
	return err
}

// lead is the work only the elected instance does: the simulated feeds and pruning.
func lead(ctx context.Context, st *store.Store, cfg *config, logger *slog.Logger) error {
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error { return prune(ctx, st, cfg.retention, cfg.pruneEvery, logger) })
	if cfg.feedOpts.Prices || cfg.feedOpts.Scores {
		g.Go(func() error { return feeds.Run(ctx, st, cfg.feedOpts, logger) })
	}
	return g.Wait()
}

// prune deletes change-log events and price ticks older than retention, now and then.
func prune(ctx context.Context, st *store.Store, retention, every time.Duration, logger *slog.Logger) error {
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		events, ticks, err := st.Prune(ctx, retention)
		if err != nil && ctx.Err() == nil {
			logger.Warn("prune failed", "err", err)
		} else if events+ticks > 0 {
			logger.Info("pruned", "events", events, "price_ticks", ticks, "retention", retention)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

func newLogger(level string, w io.Writer) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("-log-level %q: want debug, info, warn or error", level)
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: l})), nil
}

// displayAddr is the address to print: the configured host (0.0.0.0 stays 0.0.0.0,
// not Go's [::]) with the port actually bound.
func displayAddr(configured string, bound net.Addr) string {
	host, _, err := net.SplitHostPort(configured)
	_, port, err2 := net.SplitHostPort(bound.String())
	if err != nil || err2 != nil || host == "" {
		return bound.String()
	}
	return net.JoinHostPort(host, port)
}
