package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"sync"
	"sync/atomic"
	"time"
)

// load is one run in progress.
type load struct {
	cfg    *config
	tgt    target
	plan   plan
	res    *Result
	stderr io.Writer

	tally   *tally
	clients []*client
	readers sync.WaitGroup
	errMu   sync.Mutex
	errs    []error
}

func (l *load) failed(err error) {
	l.errMu.Lock()
	defer l.errMu.Unlock()
	l.errs = append(l.errs, err)
}

func (l *load) firstErr() (int, error) {
	l.errMu.Lock()
	defer l.errMu.Unlock()
	if len(l.errs) == 0 {
		return 0, nil
	}
	return len(l.errs), l.errs[0]
}

func (l *load) progressf(format string, args ...any) {
	if !l.cfg.quiet {
		fmt.Fprintf(l.stderr, "\r\033[K"+format, args...)
	}
}

func (l *load) progressDone() {
	if !l.cfg.quiet {
		fmt.Fprint(l.stderr, "\r\033[K")
	}
}

func (l *load) sample() procSample {
	if l.tgt.pid() == 0 {
		return procSample{at: time.Now()}
	}
	s, err := readProc(l.tgt.pid())
	if err != nil {
		l.failed(err)
	}
	return s
}

func (l *load) run(ctx context.Context, n int) error {
	res := l.res
	before := l.sample()
	res.RSSBeforeMiB = mib(before.rss)
	if err := l.connect(ctx, n); err != nil {
		l.closeClients()
		return err
	}
	defer l.closeClients()

	// Idle: everyone connected, nothing changing.
	if err := sleep(ctx, l.cfg.settle); err != nil {
		return err
	}
	idle := l.sample()
	res.RSSIdleMiB = mib(idle.rss)
	res.IdleKiBPerClient = float64(idle.rss-before.rss) / 1024 / float64(n)
	if l.cfg.mode == "idle" {
		return l.hold(ctx, before)
	}
	return l.publish(ctx, before)
}

// connect opens n clients at the configured pace and waits for every snapshot.
func (l *load) connect(ctx context.Context, n int) error {
	base, err := url.Parse(l.tgt.baseURL())
	if err != nil {
		return fmt.Errorf("server URL: %w", err)
	}
	l.tally = newTally(16)
	l.clients = make([]*client, n)
	var connected sync.WaitGroup
	var done atomic.Int64
	sem := make(chan struct{}, l.cfg.connPar)
	start := time.Now()
	interval := time.Duration(float64(time.Second) / l.cfg.connRate)
	connected.Add(n)
	l.readers.Add(n)
	stop := l.every(func() { l.progressf("[%s] connecting %d/%d", l.tgt.name(), done.Load(), n) })
	for i := range n {
		c := &client{base: base, query: l.cfg.query, tally: l.tally, hist: l.tally.hists[i%len(l.tally.hists)], symbols: l.plan.symbols}
		l.clients[i] = c
		if wait := time.Until(start.Add(time.Duration(i) * interval)); wait > 0 {
			time.Sleep(wait) // pacing new connections, not synchronising
		}
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			connected.Add(i - n) // those never started
			l.readers.Add(i - n)
			stop()
			connected.Wait()
			return ctx.Err()
		}
		go func() {
			defer l.readers.Done()
			p, err := c.connect(ctx)
			<-sem
			done.Add(1)
			connected.Done()
			if err != nil {
				l.failed(fmt.Errorf("client %d: %w", i, err))
				return
			}
			c.read(p)
			if !l.tally.closing.Load() {
				if c.err == nil || errors.Is(c.err, io.EOF) {
					c.err = errors.New("the server ended the stream")
				}
				l.failed(fmt.Errorf("client %d: %w", i, c.err))
			}
		}()
	}
	connected.Wait()
	stop()
	l.progressDone()
	l.res.ConnectSeconds = time.Since(start).Seconds()
	if k, err := l.firstErr(); err != nil {
		return fmt.Errorf("%d of %d clients failed; the first: %w", k, n, err)
	}
	return nil
}

// every calls f at the progress interval until the returned stop is called.
func (l *load) every(f func()) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(l.cfg.progress)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				f()
			}
		}
	}()
	return func() { close(done); wg.Wait() }
}

func (l *load) closeClients() {
	if l.tally == nil {
		return
	}
	l.tally.closing.Store(true)
	for _, c := range l.clients {
		if c != nil {
			c.close()
		}
	}
	l.readers.Wait()
}

// hold keeps the idle clients connected for the duration, tracking memory.
func (l *load) hold(ctx context.Context, before procSample) error {
	end := time.Now().Add(l.cfg.duration)
	peak := l.sample().rss
	for time.Now().Before(end) {
		if err := sleep(ctx, min(l.cfg.progress, time.Until(end))); err != nil {
			return err
		}
		s := l.sample()
		peak = max(peak, s.rss)
		l.progressf("[%s] %d clients idle, server RSS %.1f MiB (%.1f KiB/client)", l.tgt.name(), len(l.clients),
			mib(s.rss), float64(s.rss-before.rss)/1024/float64(len(l.clients)))
	}
	l.progressDone()
	l.res.RSSPeakMiB = mib(peak)
	l.res.LoadedKiBPerClient = float64(peak-before.rss) / 1024 / float64(len(l.clients))
	if k, err := l.firstErr(); err != nil {
		return fmt.Errorf("%d clients failed while idle; the first: %w", k, err)
	}
	return nil
}
