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
	w      PriceWriter
	logger *slog.Logger
	market *market
	inst   []Instrument // the universe; market holds those still listed
}

// startPrices lists the universe's missing symbols and resumes from the quotes table:
// if the newest quote is older than a trading day, the market was closed meanwhile,
// so a new day opens first.
func startPrices(ctx context.Context, w PriceWriter, o Options, seed int64, logger *slog.Logger) (*priceFeed, error) {
	inst := o.universe()
	newQuotes := make([]store.NewQuote, len(inst))
	for i, in := range inst {
		newQuotes[i] = store.NewQuote{Symbol: in.Symbol, Name: in.Name, Price: in.Price}
	}
	added, err := w.AddQuotes(ctx, newQuotes)
	if err != nil {
		return nil, fmt.Errorf("list symbols: %w", err)
	}
	p := &priceFeed{w: w, logger: logger, inst: inst}
	listed, newest, err := p.listed(ctx)
	if err != nil {
		return nil, err
	}
	sched := newSchedule(o.PriceRate, len(listed))
	p.market = newMarket(seed, listed, sched, o.TradingDay)
	logger.Info("price feed started", "symbols", len(listed), "listed_now", added,
		"rate", o.PriceRate, "tick", sched.interval(), "seed", seed)
	if int(added) < len(listed) && o.now().Sub(newest) > o.TradingDay {
		gaps := p.market.open()
		if _, err := w.OpenTradingDay(ctx, gaps); err != nil {
			return nil, fmt.Errorf("open trading day: %w", err)
		}
		logger.Info("price feed opened a new trading day", "idle_since", newest)
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

// run steps the market at the schedule's pace until ctx ends. When the writes are
// slower than the schedule, ticks are dropped, not queued.
func (p *priceFeed) run(ctx context.Context) error {
	t := time.NewTicker(p.market.sched.interval())
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		if _, err := p.step(ctx); err != nil {
			return err
		}
	}
}

// step writes one tick (one statement) and returns how many quotes it moved. A quote
// deleted meanwhile (by a human) is dropped from the market, not listed again.
func (p *priceFeed) step(ctx context.Context) (int, error) {
	moves, newDay := p.market.step()
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
