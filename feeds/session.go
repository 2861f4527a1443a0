package feeds

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/tickerboard/tickerboard/store"
)

// The market's session over one -trading-day, as on a real exchange: open for the
// first 80% (prices move), closed for the next 15% and pre-open for the last 5%
// before the next day opens with its overnight gaps (no prices move in either). With
// the default ten-minute day: 8 min open, 1 min 30 s closed, 30 s pre-open. So the
// feed writes 80% of -price-rate on average over a day.
const (
	openShare    = 0.80
	closedShare  = 0.15
	preOpenShare = 1 - openShare - closedShare
)

// Session names, as the market table's market_session_valid allows them.
const (
	sessionPreOpen = "pre-open"
	sessionOpen    = "open"
	sessionClosed  = "closed"
)

// sessionPlan is a trading day in ticks of the price schedule.
type sessionPlan struct {
	open, closed, preOpen int // ticks of each stretch; each at least one
	tick                  time.Duration
}

func newSessionPlan(tradingDay time.Duration, sched schedule) sessionPlan {
	ticks := tradingDay.Seconds() * sched.perSecond
	return sessionPlan{
		open:    ticksOf(ticks * openShare),
		closed:  ticksOf(ticks * closedShare),
		preOpen: ticksOf(ticks * preOpenShare),
		tick:    sched.interval(),
	}
}

func ticksOf(x float64) int { return max(1, int(math.Round(x))) }

// between is the session idle ticks after the close (counting from 1), or "" when the
// market is due to open.
func (pl sessionPlan) between(idle int) string {
	switch {
	case idle <= pl.closed:
		return sessionClosed
	case idle <= pl.closed+pl.preOpen:
		return sessionPreOpen
	}
	return ""
}

// at is the market row for session entered now, idle ticks after the close: when the
// (next) session opens and closes. A session lasts one tick more than its trades: the
// tick that opens it publishes the overnight gaps.
func (pl sessionPlan) at(session string, now time.Time, idle int, newDay bool) store.MarketSession {
	opens := now
	if session != sessionOpen {
		opens = now.Add(time.Duration(pl.closed+pl.preOpen+1-idle) * pl.tick)
	}
	return store.MarketSession{Session: session, OpensAt: opens, ClosesAt: opens.Add(time.Duration(pl.open+1) * pl.tick), NewDay: newDay}
}

// setSession writes the market's session if it changed.
func (p *priceFeed) setSession(ctx context.Context, session string, newDay bool) error {
	if session == p.session {
		return nil
	}
	if err := p.w.SetMarket(ctx, p.plan.at(session, p.now(), p.idle, newDay)); err != nil {
		return fmt.Errorf("market %s: %w", session, err)
	}
	p.session = session
	return nil
}
