package feeds

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/tickerboard/tickerboard/store"
)

// priceFeed publishes the market's ticks to the quotes table.
type priceFeed struct {
	w       PriceWriter
	logger  *slog.Logger
	market  *market
	inst    []Instrument // the universe; market holds those still listed
	plan    sessionPlan
	now     func() time.Time
	idle    int    // ticks since the close; 0 while open
	session string // the session last written
}

// startPrices resumes from the quotes table and lists the universe's missing symbols.
// If the newest quote is older than a trading day, the market was closed meanwhile,
// so a new day opens first. Either way the market is open when it starts.
func startPrices(ctx context.Context, w PriceWriter, o Options, seed int64, logger *slog.Logger) (*priceFeed, error) {
	inst := o.universe()
	p := &priceFeed{w: w, logger: logger, inst: inst, now: o.now}
	existing, newest, err := p.listed(ctx)
	if err != nil {
		return nil, err
	}
	newQuotes := make([]store.NewQuote, len(inst))
	for i, in := range inst {
		newQuotes[i] = store.NewQuote{Symbol: in.Symbol, Name: in.Name, Price: in.Price}
	}
	added, err := w.AddQuotes(ctx, newQuotes)
	if err != nil {
		return nil, fmt.Errorf("list symbols: %w", err)
	}
	listed, _, err := p.listed(ctx)
	if err != nil {
		return nil, err
	}
	sched := newSchedule(o.PriceRate, len(listed))
	p.plan = newSessionPlan(o.TradingDay, sched)
	p.market = newMarket(seed, listed, sched, time.Duration(p.plan.open)*sched.interval())
	logger.Info("price feed started", "symbols", len(listed), "listed_now", added,
		"rate", o.PriceRate, "tick", sched.interval(), "seed", seed)
	newDay := len(existing) > 0 && o.now().Sub(newest) > o.TradingDay
	if newDay {
		if _, err := w.OpenTradingDay(ctx, p.market.open()); err != nil {
			return nil, fmt.Errorf("open trading day: %w", err)
		}
		logger.Info("price feed opened a new trading day", "idle_since", newest)
	}
	if err := p.setSession(ctx, sessionOpen, newDay); err != nil {
		return nil, err
	}
	return p, nil
}

// listed returns the universe's instruments that have a quote, and the newest update.
func (p *priceFeed) listed(ctx context.Context) ([]Instrument, time.Time, error) {
	symbols := make([]string, len(p.inst))
	for i, in := range p.inst {
		symbols[i] = in.Symbol
	}
	quotes, err := p.w.FeedQuotes(ctx, symbols)
	if err != nil {
		return nil, time.Time{}, err
	}
	have := map[string]bool{}
	var newest time.Time
	for _, q := range quotes {
		have[q.Symbol] = true
		if q.UpdatedAt.After(newest) {
			newest = q.UpdatedAt
		}
	}
	var listed []Instrument
	for _, in := range p.inst {
		if have[in.Symbol] {
			listed = append(listed, in)
		}
	}
	return listed, newest, nil
}

// maxMerge bounds how many ticks one write may carry when the database falls behind.
const maxMerge = maxTicksPerSecond

// run steps the market at the schedule's pace until ctx ends. When a write takes
// longer than a tick, the ticks missed meanwhile are merged into the next write (each
// symbol's moves multiplied, its volumes added), so the market keeps its pace and
// Postgres gets fewer, bigger statements; beyond maxMerge ticks behind, the feed slows.
func (p *priceFeed) run(ctx context.Context) error {
	interval := p.market.sched.interval()
	t := time.NewTicker(interval)
	defer t.Stop()
	began, done := time.Now(), 0
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		due := int(time.Since(began)/interval) - done
		if due > maxMerge {
			done += due - maxMerge
			due = maxMerge
		}
		if due < 1 {
			continue
		}
		done += due
		if _, err := p.step(ctx, due); err != nil {
			return err
		}
	}
}

// step advances the market ticks ticks and writes them, merged, as one statement (more
// if the session changes among them: the moves so far, then the session, then the
// next day's gaps). Between the close and the next open no prices move; the ticks
// only count down the closed and pre-open stretches. It returns how many quote
// updates it wrote.
// A quote deleted meanwhile (by a human) is dropped from the market, not listed again.
func (p *priceFeed) step(ctx context.Context, ticks int) (int, error) {
	var merged []store.QuoteMove
	index := map[string]int{}
	written := 0
	for range ticks {
		if p.market.dayOver() && p.idle < p.plan.closed+p.plan.preOpen {
			p.idle++
			if next := p.plan.between(p.idle); next != p.session {
				n, err := p.write(ctx, merged, false)
				written += n
				if err != nil {
					return written, err
				}
				merged, index = nil, map[string]int{}
				if err := p.setSession(ctx, next, next == sessionPreOpen); err != nil {
					return written, err
				}
			}
			continue
		}
		moves, newDay := p.market.step()
		if !newDay {
			for _, m := range moves {
				if i, ok := index[m.Symbol]; ok {
					merged[i].Factor *= m.Factor
					merged[i].Volume += m.Volume
				} else {
					index[m.Symbol] = len(merged)
					merged = append(merged, m)
				}
			}
			continue
		}
		n, err := p.write(ctx, merged, false)
		written += n
		if err != nil {
			return written, err
		}
		merged, index = nil, map[string]int{}
		n, err = p.write(ctx, moves, true)
		written += n
		if err != nil {
			return written, err
		}
		p.idle = 0
		if err := p.setSession(ctx, sessionOpen, false); err != nil {
			return written, err
		}
	}
	n, err := p.write(ctx, merged, false)
	return written + n, err
}

// write is one statement: moves, or the opening gaps of a new trading day.
func (p *priceFeed) write(ctx context.Context, moves []store.QuoteMove, newDay bool) (int, error) {
	if len(moves) == 0 {
		return 0, nil
	}
	write, what := p.w.MoveQuotes, "move quotes"
	if newDay {
		write, what = p.w.OpenTradingDay, "open trading day"
	}
	n, err := write(ctx, moves)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", what, err)
	}
	if int(n) < len(moves) {
		listed, _, err := p.listed(ctx)
		if err != nil {
			return int(n), err
		}
		p.logger.Info("price feed: symbols were deleted; no longer moving them", "symbols", len(listed))
		p.market.setInstruments(listed)
	}
	if newDay {
		p.logger.Info("price feed opened a new trading day", "symbols", n)
	}
	return int(n), nil
}
