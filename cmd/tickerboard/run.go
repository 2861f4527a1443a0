package main

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/tickerboard/tickerboard/api"
	"github.com/tickerboard/tickerboard/api/hub"
	"github.com/tickerboard/tickerboard/feeds"
	"github.com/tickerboard/tickerboard/frontend"
	"github.com/tickerboard/tickerboard/internal/instance"
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
		case "version":
			return runVersion(args[1:], stdout)
		}
	}
	cfg, err := parseConfig(args, getenv, stderr)
	if err != nil {
		return err
	}
	logger, err := newLogger(cfg.logLevel, cfg.logFormat, stderr)
	if err != nil {
		return err
	}
	build := currentBuild()
	logger.Info("starting", "version", build.Version, "goversion", build.GoVersion, "revision", build.Revision)

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
	capture, err := st.ChooseCapture(ctx, cfg.capture)
	if err != nil {
		return err
	}
	logger.Info("capture: "+capture.Mode+" ("+capture.Why+")", "capture", capture.Mode)

	leader := store.NewLeader(st, logger)
	static, err := fs.Sub(frontend.Files, "static")
	if err != nil {
		return err
	}
	stream := hub.DefaultStreamConfig
	stream.Heartbeat = cfg.heartbeat // -heartbeat
	in, err := instance.New(ctx, instance.Config{
		Store:  st,
		Ring:   ringSize,
		Logger: logger,
		Static: static,
		Gauges: api.Gauges{Leading: leader.Leading, Locks: store.NewLockWatch(st, logger).Holders, Capture: st.CaptureStatus,
			Build: api.BuildInfo(build)},
		Stream: stream,
		Limits: api.Limits{MaxStreams: cfg.maxStreams, MaxStreamsPerIP: cfg.maxPerIP},
		Access: cfg.access,
	})
	if err != nil {
		return err
	}

	ln, err := net.Listen("tcp", cfg.addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.addr, err)
	}
	fmt.Fprintf(stdout, "listening on http://%s\n", displayAddr(cfg.addr, ln.Addr()))
	logger.Info("serving", "addr", ln.Addr().String(), "feeds", cfg.feeds)

	// Every goroutine is in this group, and the store closes only after all of them
	// (and so every query) have ended: instance.Serve returns within its shutdown
	// deadline, with every stream ended or cut.
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error { return in.Serve(ctx, ln) })
	g.Go(func() error {
		return leader.Run(ctx, func(ctx context.Context) error { return lead(ctx, st, cfg, capture.Mode, in.Notifier, logger) })
	})
	err = g.Wait()
	logger.Info("stopped")
	return err
}

// lead is the work only the elected instance does: the capture from the WAL (which
// hands what it appends straight to this instance's notifier), the simulated feeds
// and pruning.
func lead(ctx context.Context, st *store.Store, cfg *config, capture string, n *store.Notifier, logger *slog.Logger) error {
	g, ctx := errgroup.WithContext(ctx)
	if capture == store.CaptureWAL {
		c := store.NewCapture(st, logger)
		c.Notifier = n
		g.Go(func() error { return c.Run(ctx) })
	} else if err := st.CaptureWithTriggers(ctx, logger); err != nil {
		return err
	}
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
