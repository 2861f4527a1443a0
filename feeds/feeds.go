// Package feeds makes the board move on its own: a price feed that simulates a stock
// market and a score feed that plays games of several sports. They write through the
// same tables and triggers as a human at psql, and never fight one: a price typed in
// is moved from, a score typed in is kept.
package feeds

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/tickerboard/tickerboard/store"
)

// PriceWriter is what the price feed needs from the database. *store.Store has it.
type PriceWriter interface {
	FeedQuotes(ctx context.Context, symbols []string) ([]store.FeedQuote, error)
	AddQuotes(ctx context.Context, quotes []store.NewQuote) (int64, error)
	MoveQuotes(ctx context.Context, moves []store.QuoteMove) (int64, error)
	OpenTradingDay(ctx context.Context, gaps []store.QuoteMove) (int64, error)
	SetMarket(ctx context.Context, m store.MarketSession) error
}

// ScoreWriter is what the score feed needs from the database. *store.Store has it.
type ScoreWriter interface {
	FeedGames(ctx context.Context, leagues []string) ([]store.FeedGame, error)
	ScheduleGame(ctx context.Context, g store.NewGame) (store.FeedGame, error)
	StartGame(ctx context.Context, id int64, period int, clock string) (store.FeedGame, error)
	SetGameClocks(ctx context.Context, clocks []store.GameClock) ([]store.FeedGame, error)
	AddPlay(ctx context.Context, p store.Play) error
	FinishGame(ctx context.Context, id int64, clock string, allowTie bool) (store.FeedGame, bool, error)
	PruneFinalGames(ctx context.Context, leagues []string, keep int) (int64, error)
}

// Writer is everything the feeds write with.
type Writer interface {
	PriceWriter
	ScoreWriter
}

// Run runs the enabled feeds until ctx ends, then returns nil. It is meant for the
// elected leader only, and may run again later in the same process after a failover:
// each feed starts from the database (the quotes listed, the games in play), never
// from memory. A feed whose database writes fail starts over from the database after
// a backoff. Run returns an error at once only for invalid options.
func Run(ctx context.Context, w Writer, o Options, logger *slog.Logger) error {
	if err := o.Validate(); err != nil {
		return fmt.Errorf("feeds: %w", err)
	}
	o = o.withDefaults()
	seed := o.Seed
	if seed == 0 {
		seed = rand.Int64N(1<<53) + 1 // printable in JSON logs without loss
	}
	logger.Info("feeds starting", "prices", o.Prices, "scores", o.Scores, "seed", seed)
	var wg sync.WaitGroup
	if o.Prices {
		wg.Go(func() {
			supervise(ctx, logger, "price", func(ctx context.Context) error {
				p, err := startPrices(ctx, w, o, seed, logger)
				if err != nil {
					return err
				}
				return p.run(ctx)
			})
		})
	}
	if o.Scores {
		wg.Go(func() {
			supervise(ctx, logger, "score", func(ctx context.Context) error {
				f, err := startScores(ctx, w, o, seed, logger)
				if err != nil {
					return err
				}
				return f.run(ctx)
			})
		})
	}
	wg.Wait()
	logger.Info("feeds stopped")
	return nil
}

// Backoff between restarts of a failed feed.
const (
	minRestart = 100 * time.Millisecond
	maxRestart = 5 * time.Second
)

// supervise runs a feed until ctx ends, starting it over (from the database) after a
// growing pause whenever it fails.
func supervise(ctx context.Context, logger *slog.Logger, name string, run func(context.Context) error) {
	backoff := minRestart
	for {
		began := time.Now()
		err := run(ctx)
		if ctx.Err() != nil {
			return
		}
		if time.Since(began) > maxRestart {
			backoff = minRestart // it had been healthy: this is a new problem
		}
		logger.Warn(name+" feed failed; starting over from the database", "err", err, "retry_in", backoff)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, maxRestart)
	}
}
