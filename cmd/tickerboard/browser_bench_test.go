package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/performance"
	"github.com/chromedp/chromedp"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tickerboard/tickerboard/internal/testdb"
)

// BenchmarkBrowserRender measures how the page copes with a stream of price updates
// committed through SQL at a fixed rate: frame intervals and long tasks (from the
// Performance API in the page), and the page's own commit-to-screen lag figures.
//
//	go test ./cmd/tickerboard -run '^$' -bench BrowserRender -benchtime 1x
//
// Every process (Postgres, the server, Chromium, the driver) shares this machine, so
// the figures are for the whole stack on it, not for the page alone.
func BenchmarkBrowserRender(b *testing.B) {
	for _, c := range []struct {
		rate         int
		direct, calm bool
	}{{0, false, false}, {100, false, false}, {500, false, false}, {1000, false, false}, {500, true, false}, {500, false, true}} {
		name := fmt.Sprintf("rate=%d", c.rate)
		if c.direct {
			name += "/direct" // no SharedWorker: the tab holds the stream
		}
		if c.calm {
			name += "/reduced-motion" // no flashes: what the animations cost
		}
		b.Run(name, func(b *testing.B) { benchRender(b, c.rate, c.direct, c.calm) })
	}
}

// benchDuration is how long each run drives updates.
const benchDuration = 5 * time.Second

// benchResult is what the page measured during one run.
type benchResult struct {
	Frames  []float64  `json:"frames"` // ms between animation frames
	Long    []float64  `json:"long"`   // durations of long tasks (over 50 ms)
	Events  int        `json:"events"` // events the page applied
	Paints  int        `json:"paints"` // frames in which the page painted changes
	Seconds float64    `json:"seconds"`
	Lag     lagFigures `json:"lag"`
	// Main-thread time the page's own code took: painting, and folding messages in.
	PaintMs    float64 `json:"paintMs"`
	PaintMaxMs float64 `json:"paintMaxMs"`
	HandleMs   float64 `json:"handleMs"`
}

const startMeasuring = `(() => {
	const m = {frames: [], long: [], stop: false};
	m.observer = new PerformanceObserver((list) => { for (const e of list.getEntries()) m.long.push(e.duration); });
	m.observer.observe({type: 'longtask'});
	let last = performance.now();
	const loop = (t) => { m.frames.push(t - last); last = t; if (!m.stop) requestAnimationFrame(loop); };
	requestAnimationFrame(loop);
	const s = window.tickerboard.stats;
	m.events = s.events;
	m.paints = s.frames;
	m.paintMs = s.paintMs;
	m.handleMs = s.handleMs;
	s.paintMaxMs = 0;
	m.t0 = performance.now();
	window.tickerboard.clearLag();
	window.__bench = m;
	return true;
})()`

const stopMeasuring = `(() => {
	const m = window.__bench;
	m.stop = true;
	m.observer.disconnect();
	const s = window.tickerboard.stats;
	return {frames: m.frames.slice(1), long: m.long, events: s.events - m.events, paints: s.frames - m.paints,
		seconds: (performance.now() - m.t0) / 1000, lag: window.tickerboard.lag(),
		paintMs: s.paintMs - m.paintMs, paintMaxMs: s.paintMaxMs, handleMs: s.handleMs - m.handleMs};
})()`

func benchRender(b *testing.B, rate int, direct, calm bool) {
	_, dbURL := testdb.Open(b)
	symbols := make([]string, 40)
	for i := range symbols {
		symbols[i] = fmt.Sprintf("T%02d", i)
		testdb.Exec(b, dbURL, `INSERT INTO quotes (symbol, name, price, volume) VALUES ($1, $2, $3, 1000)`,
			symbols[i], fmt.Sprintf("Test Corp. %02d", i), 50+i)
	}
	game := queryInt(b, dbURL, `INSERT INTO games (league, home_team, away_team, status, period, clock)
		VALUES ('NBA', 'Celtics', 'Lakers', 'live', 1, '12:00') RETURNING id`)
	url := startServer(b, dbURL, "127.0.0.1:0").URL
	var opts []tabOption
	if direct {
		opts = append(opts, withoutSharedWorker)
	}
	if calm {
		opts = append(opts, withReducedMotion)
	}
	page := newTab(b, newBrowser(b), "", opts...)
	page.open(url + "/")
	page.waitFor("every sparkline's history", `window.tickerboard.stats.histories >= 40`)

	ctx := context.Background()
	pool, err := pgxpool.New(ctx, dbURL)
	if err != nil {
		b.Fatalf("connect: %v", err)
	}
	defer pool.Close()

	// The renderer's main thread, in CPU time (thread ticks), so what other processes
	// on the machine take does not count against the page.
	page.do(chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := cdp.Call(ctx, t, performance.Enable, performance.EnableParams{TimeDomain: performance.EnableTimeDomainThreadTicks})
		return err
	}))

	var runs []benchResult
	var sent int
	var driven time.Duration
	var cpu mainThread
	for b.Loop() {
		before := mainThreadNow(page)
		eval[bool](page, startMeasuring)
		start := time.Now()
		sent += drive(b, ctx, pool, symbols, game, rate, benchDuration)
		driven += time.Since(start)
		head := queryInt(b, dbURL, `SELECT coalesce(max(id), 0) FROM events`)
		page.waitFor("the page to catch up", fmt.Sprintf(`window.tickerboard.lastId >= %d`, head))
		runs = append(runs, eval[benchResult](page, stopMeasuring))
		cpu = cpu.add(mainThreadNow(page).sub(before))
	}

	var frames, long []float64
	var events, paints int
	var seconds, paintMs, paintMax, handleMs float64
	for _, r := range runs {
		frames = append(frames, r.Frames...)
		long = append(long, r.Long...)
		events += r.Events
		paints += r.Paints
		seconds += r.Seconds
		paintMs += r.PaintMs
		handleMs += r.HandleMs
		paintMax = max(paintMax, r.PaintMaxMs)
	}
	slices.Sort(frames)
	janky := 0
	for _, f := range frames {
		if f > 33.4 { // a frame that took more than two vsyncs at 60 Hz
			janky++
		}
	}
	longTotal := 0.0
	for _, l := range long {
		longTotal += l
	}
	last := runs[len(runs)-1].Lag
	b.ReportMetric(float64(sent)/driven.Seconds(), "sent/s")
	b.ReportMetric(float64(events)/seconds, "shown/s")
	b.ReportMetric(float64(events)/max(1, float64(paints)), "events/paint")
	b.ReportMetric(percentile(frames, 0.50), "frame-p50-ms")
	b.ReportMetric(percentile(frames, 0.99), "frame-p99-ms")
	b.ReportMetric(percentile(frames, 1), "frame-max-ms")
	b.ReportMetric(100*float64(janky)/max(1, float64(len(frames))), "%janky-frames")
	b.ReportMetric(float64(len(long)), "long-tasks")
	// The page's JavaScript cost: share of one core, and the worst single paint.
	b.ReportMetric((paintMs+handleMs)/(10*seconds), "%js-cpu")
	b.ReportMetric(100*cpu.Task/seconds, "%main-cpu")
	b.ReportMetric(100*(cpu.Style+cpu.Layout)/seconds, "%style+layout-cpu")
	b.ReportMetric(paintMax, "paint-max-ms")
	b.ReportMetric(longTotal, "long-task-ms")
	if last.P50 != nil {
		b.ReportMetric(*last.P50, "lag-p50-ms")
		b.ReportMetric(*last.P99, "lag-p99-ms")
	}
}

// drive commits price updates (and a scoring play every 200 ms) at rate per second
// for d, a statement every 10 ms or as fast as commits allow, and returns how many
// quotes it updated.
func drive(b *testing.B, ctx context.Context, pool *pgxpool.Pool, symbols []string, game int64, rate int, d time.Duration) int {
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	end := time.Now().Add(d)
	start := time.Now()
	sent, ticks := 0, 0
	for now := range tick.C {
		if now.After(end) {
			break
		}
		ticks++
		// What is due by now, so a slow commit makes the next statement bigger rather
		// than the rate lower.
		k := min(int(float64(rate)*now.Sub(start).Seconds())-sent, len(symbols))
		if k > 0 {
			pick := make([]string, k)
			for i, j := range rand.Perm(len(symbols))[:k] {
				pick[i] = symbols[j]
			}
			if _, err := pool.Exec(ctx, `UPDATE quotes SET price = round((price * (1 + (random() - 0.5) / 100))::numeric, 4),
				volume = volume + 100 WHERE symbol = ANY($1)`, pick); err != nil {
				b.Fatalf("update quotes: %v", err)
			}
			sent += k
		}
		if rate > 0 && ticks%20 == 0 {
			if _, err := pool.Exec(ctx, `INSERT INTO scores (game_id, team, points, scorer) VALUES ($1, 'home', 2, 'Bench')`, game); err != nil {
				b.Fatalf("insert score: %v", err)
			}
		}
	}
	return sent
}

// mainThread is CPU seconds the renderer's main thread spent in all tasks, and in
// style and layout work, from the DevTools Performance domain.
type mainThread struct{ Task, Style, Layout float64 }

func mainThreadNow(tb *tab) mainThread {
	tb.t.Helper()
	var m mainThread
	tb.do(chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		res, err := cdp.Call(ctx, t, performance.GetMetrics, cdp.Empty{})
		for _, metric := range res.Metrics {
			switch metric.Name {
			case "TaskDuration":
				m.Task = metric.Value
			case "RecalcStyleDuration":
				m.Style = metric.Value
			case "LayoutDuration":
				m.Layout = metric.Value
			}
		}
		return err
	}))
	return m
}

func (m mainThread) sub(o mainThread) mainThread {
	return mainThread{m.Task - o.Task, m.Style - o.Style, m.Layout - o.Layout}
}

func (m mainThread) add(o mainThread) mainThread {
	return mainThread{m.Task + o.Task, m.Style + o.Style, m.Layout + o.Layout}
}

// percentile of sorted values, q in [0, 1].
func percentile(sorted []float64, q float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[min(len(sorted)-1, int(q*float64(len(sorted))))]
}
