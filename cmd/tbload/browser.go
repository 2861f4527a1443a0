package main

import (
	"context"
	"fmt"
	"github.com/tickerboard/tickerboard/internal/chromium"
	"math"
	"time"

	"github.com/chromedp/chromedp"
)

// The browser check: headless Chromium shows the board while the publisher commits,
// and the page reports its own lag, from each change's commit (updated_at) to the
// animation frame that painted it (window.tickerboard.lag(), frontend/static/js).

// pageLag is window.tickerboard.lag(): milliseconds over the last 1,000 painted changes.
type pageLag struct {
	N   int      `json:"n"`
	P50 *float64 `json:"p50"`
	P99 *float64 `json:"p99"`
	Max *float64 `json:"max"`
}

// BrowserResult is what the page measured, over windows of at most 1,000 changes
// (the page keeps no more), read and cleared every few seconds.
type BrowserResult struct {
	Windows   int     `json:"windows"`
	Changes   int     `json:"changes"`
	P50Ms     float64 `json:"p50_ms"`       // median of the windows' medians
	P99Ms     float64 `json:"p99_ms"`       // the worst window's p99
	MaxMs     float64 `json:"max_ms"`       // the worst single change
	Chromium  string  `json:"chromium"`     // the browser binary
	PageCount int     `json:"events_shown"` // window.tickerboard.stats.events at the end
}

// browserPage is one headless Chromium with the board open.
type browserPage struct {
	ctx    context.Context
	stop   func()
	binary string
}

func openBrowser(ctx context.Context, url, profile string) (*browserPage, error) {
	path, err := chromium.Path()
	if err != nil {
		return nil, err
	}
	opts := chromium.Options(path, profile)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	tabCtx, cancelTab := chromedp.NewContext(allocCtx)
	p := &browserPage{ctx: tabCtx, binary: path, stop: func() { cancelTab(); cancelAlloc() }}
	if err := chromedp.Do(tabCtx); err != nil {
		p.stop()
		return nil, fmt.Errorf("start chromium: %w", err)
	}
	loadCtx, cancel := context.WithTimeout(tabCtx, time.Minute)
	defer cancel()
	if err := chromedp.Do(loadCtx, chromedp.Navigate(url)); err != nil {
		p.stop()
		return nil, fmt.Errorf("load %s: %w", url, err)
	}
	const live = `window.tickerboard?.state === 'live' && window.tickerboard.stats.snapshots > 0`
	if _, err := chromedp.Run(loadCtx, chromedp.Poll[chromedp.Void](live, chromedp.WithPollingTimeout(time.Minute))); err != nil {
		p.stop()
		return nil, fmt.Errorf("wait for the board to be live: %w", err)
	}
	return p, nil
}

func (p *browserPage) eval(expr string, out any) error {
	ctx, cancel := context.WithTimeout(p.ctx, 20*time.Second)
	defer cancel()
	switch v := out.(type) {
	case *pageLag:
		r, err := chromedp.Run(ctx, chromedp.Evaluate[pageLag](expr))
		*v = r
		return err
	case *int:
		r, err := chromedp.Run(ctx, chromedp.Evaluate[int](expr))
		*v = r
		return err
	default:
		_, err := chromedp.Run(ctx, chromedp.Evaluate[chromedp.Void](expr))
		return err
	}
}

// lagWindow reads and clears the page's lag figures.
func (p *browserPage) lagWindow() (pageLag, error) {
	var l pageLag
	if err := p.eval(`window.tickerboard.lag()`, &l); err != nil {
		return l, fmt.Errorf("read the page's lag: %w", err)
	}
	if err := p.eval(`window.tickerboard.clearLag()`, nil); err != nil {
		return l, fmt.Errorf("clear the page's lag: %w", err)
	}
	return l, nil
}

// summarize folds the windows into one result.
func summarize(windows []pageLag) BrowserResult {
	var r BrowserResult
	var medians []float64
	for _, w := range windows {
		if w.N == 0 || w.P50 == nil || w.P99 == nil || w.Max == nil {
			continue
		}
		r.Windows++
		r.Changes += w.N
		medians = append(medians, *w.P50)
		r.P99Ms = math.Max(r.P99Ms, *w.P99)
		r.MaxMs = math.Max(r.MaxMs, *w.Max)
	}
	r.P50Ms = median(medians)
	return r
}
