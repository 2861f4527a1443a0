package main

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"time"
)

// publish offers the plan's load to the connected clients, prints progress, waits for
// the clients to catch up, and fills in the result.
func (l *load) publish(ctx context.Context, before procSample) error {
	res := l.res
	n := len(l.clients)
	conflBefore, hasConfl := l.tgt.conflated(ctx)
	pgBefore := postgresCPU()
	px, _ := l.tgt.(*proxied)
	var pxBefore time.Duration
	if px != nil {
		pxBefore = nginxCPU(px.p)
	}
	toolBefore, _ := procCPU(selfPID())
	busyBefore, totalBefore := machineCPU()
	var page *browserPage
	if l.cfg.browser && l.tgt.name() == "tickerboard" {
		profile, err := os.MkdirTemp("", "tbload-chromium-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(profile)
		if page, err = openBrowser(ctx, l.tgt.baseURL()+"/", profile); err != nil {
			return fmt.Errorf("browser: %w", err)
		}
		defer page.stop()
	}
	var windows []pageLag
	pageCleared, lastRead := false, time.Now()
	readPage := func(final bool) error {
		if page == nil || !l.tally.measuring.Load() {
			return nil
		}
		if !pageCleared { // drop what the page saw during the warm-up
			pageCleared = true
			_, err := page.lagWindow()
			lastRead = time.Now()
			return err
		}
		if !final && time.Since(lastRead) < 5*time.Second { // the page keeps 1,000 changes
			return nil
		}
		w, err := page.lagWindow()
		lastRead = time.Now()
		windows = append(windows, w)
		return err
	}
	srvBefore := l.sample()
	start := time.Now()
	if l.cfg.warmup <= 0 {
		l.tally.measuring.Store(true)
	}
	warm := time.AfterFunc(l.cfg.warmup, func() { l.tally.measuring.Store(true) })
	defer warm.Stop()

	type outcome struct {
		n   int64
		err error
	}
	pub := make(chan outcome, 1)
	go func() {
		k, err := l.tgt.publish(ctx, l.plan)
		pub <- outcome{k, err}
	}()

	peak := srvBefore.rss
	prevHist, prevDelivered, prevSrv := merge(l.tally.hists), int64(0), srvBefore
	progress := func(phase string) {
		s := l.sample()
		peak = max(peak, s.rss)
		h := merge(l.tally.hists)
		d := h.sub(prevHist)
		delivered, _, _ := l.sums()
		dt := s.at.Sub(prevSrv.at).Seconds()
		l.progressf("[%s %d clients] %s %.0fs: %.0f deliveries/s, p50 %.1f p99 %.1f ms | server %.2f cores, RSS %.1f MiB",
			l.tgt.name(), n, phase, time.Since(start).Seconds(), float64(delivered-prevDelivered)/dt,
			d.quantile(0.5), d.quantile(0.99), (s.cpu-prevSrv.cpu).Seconds()/dt, mib(s.rss))
		prevHist, prevDelivered, prevSrv = h, delivered, s
	}
	ticker := time.NewTicker(l.cfg.progress)
	defer ticker.Stop()
	var out outcome
wait:
	for {
		select {
		case out = <-pub:
			break wait
		case <-ticker.C:
			progress("publishing")
			if err := readPage(false); err != nil {
				return err
			}
		}
	}
	res.Published = out.n
	res.PublishSeconds = time.Since(start).Seconds()
	res.CommitRate = float64(out.n) / res.PublishSeconds
	if out.err != nil {
		l.progressDone()
		return fmt.Errorf("publish: %w", out.err)
	}

	expected := out.n * int64(n)
	deadline := time.Now().Add(l.cfg.drain)
	poll := time.NewTicker(5 * time.Millisecond)
	defer poll.Stop()
	for _, covered, _ := l.sums(); covered < expected && time.Now().Before(deadline); _, covered, _ = l.sums() {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-poll.C:
		case <-ticker.C:
			progress("draining")
		}
	}
	end := time.Now()
	l.progressDone()
	if page != nil {
		if err := readPage(true); err != nil {
			return err
		}
		b := summarize(windows)
		b.Chromium = page.binary
		page.eval(`window.tickerboard.stats.events`, &b.PageCount)
		res.Browser = &b
	}
	srvAfter := l.sample()
	peak = max(peak, srvAfter.rss)
	pgAfter := postgresCPU()
	if px != nil {
		res.ProxyCPUCores = (nginxCPU(px.p) - pxBefore).Seconds() / end.Sub(start).Seconds()
	}
	toolAfter, _ := procCPU(selfPID())
	busyAfter, totalAfter := machineCPU()
	window := end.Sub(start).Seconds()

	final, err := l.tgt.finalVolumes(ctx, l.plan)
	if err != nil {
		return err
	}
	if confl, ok := l.tgt.conflated(ctx); ok && hasConfl {
		res.Conflated = confl - conflBefore
	}
	l.closeClients()
	res.Delivered, _, _ = l.sums()
	for _, c := range l.clients {
		res.Gaps += c.gaps
		res.Dups += c.dups
		res.Lost += c.lost(final)
	}
	_, _, lastNs := l.sums()
	last := time.Unix(0, lastNs)
	if d := last.Sub(start).Seconds(); d > 0 {
		res.DeliveriesPerSec = float64(res.Delivered) / d
	}
	lat := merge(l.tally.hists)
	res.P50Ms, res.P90Ms, res.P99Ms, res.MaxMs = lat.quantile(0.5), lat.quantile(0.9), lat.quantile(0.99), lat.maxMs()
	if l.tgt.pid() != 0 {
		cpu := (srvAfter.cpu - srvBefore.cpu).Seconds()
		res.ServerCPUCores = cpu / window
		if res.Delivered > 0 {
			res.ServerCPUPerDelivUs = cpu * 1e6 / float64(res.Delivered)
		}
		res.RSSPeakMiB = mib(peak)
		res.LoadedKiBPerClient = float64(peak-before.rss) / 1024 / float64(n)
	}
	res.PostgresCPUCores = (pgAfter - pgBefore).Seconds() / window
	res.ToolCPUCores = (toolAfter - toolBefore).Seconds() / window
	if totalAfter > totalBefore {
		res.MachineBusyCores = float64(busyAfter-busyBefore) / float64(totalAfter-totalBefore) * float64(runtime.NumCPU())
	}
	if k, err := l.firstErr(); err != nil {
		res.ClientErr = k
		fmt.Fprintf(l.stderr, "%s: %d client errors; the first: %v\n", l.tgt.name(), k, err)
	}
	return nil
}

// sums adds up the clients' counts: deliveries, changes covered, newest delivery.
func (l *load) sums() (delivered, covered, lastRecv int64) {
	for _, c := range l.clients {
		delivered += c.delivered.Load()
		covered += c.covered.Load()
		lastRecv = max(lastRecv, c.lastRecv.Load())
	}
	return delivered, covered, lastRecv
}
