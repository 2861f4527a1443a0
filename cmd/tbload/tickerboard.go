package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/jackc/pgx/v5"
	"golang.org/x/sync/errgroup"

	"github.com/tickerboard/tickerboard/store"
)

// tickerboardTarget is a Tickerboard server, started by the load tool or already
// running, and the Postgres database it follows. Changes are committed through SQL
// and reach clients the full way: trigger → events → NOTIFY → notifier → hub → SSE.
type tickerboardTarget struct {
	url   string
	proc  *child // nil when attached to a running server
	pidN  int
	dbURL string
	st    *store.Store
	batch bool // commit with the feeds' batched writer instead of single-row statements
}

func (t *tickerboardTarget) name() string    { return "tickerboard" }
func (t *tickerboardTarget) baseURL() string { return t.url }
func (t *tickerboardTarget) pid() int        { return t.pidN }

func (t *tickerboardTarget) close() error {
	t.st.Close()
	if t.proc != nil {
		return t.proc.stop()
	}
	return nil
}

// prepare lists the TB symbols that are missing (leaving existing ones as they are:
// clients learn each one's volume from their snapshot).
func (t *tickerboardTarget) prepare(ctx context.Context, p plan) error {
	quotes := make([]store.NewQuote, p.symbols)
	for i := range quotes {
		quotes[i] = store.NewQuote{Symbol: symbolName(i), Name: "tbload", Price: 100}
	}
	if _, err := t.st.AddQuotes(ctx, quotes); err != nil {
		return fmt.Errorf("create the load symbols: %w", err)
	}
	return nil
}

// publish commits the plan's changes: each adds one to a symbol's volume, so the
// volumes number every symbol's changes and clients can tell a loss from a repeat.
func (t *tickerboardTarget) publish(ctx context.Context, p plan) (int64, error) {
	if t.batch {
		return t.publishBatched(ctx, p)
	}
	return t.publishSingle(ctx, p)
}

// publishSingle commits one UPDATE per transaction, as psql would, over p.writers
// connections; each symbol always goes through the same connection.
func (t *tickerboardTarget) publishSingle(ctx context.Context, p plan) (int64, error) {
	cfg, err := pgx.ParseConfig(t.dbURL)
	if err != nil {
		return 0, fmt.Errorf("parse database url: %w", err)
	}
	cfg.DefaultQueryExecMode = pgx.QueryExecModeSimpleProtocol // as psql sends it
	var committed atomic.Int64
	g, gctx := errgroup.WithContext(ctx)
	work := make([]chan int, p.writers)
	for w := range work {
		work[w] = make(chan int, 256)
		conn, err := pgx.ConnectConfig(ctx, cfg)
		if err != nil {
			for _, ch := range work[:w+1] {
				close(ch)
			}
			g.Wait()
			return 0, fmt.Errorf("connect publisher: %w", err)
		}
		ch := work[w]
		g.Go(func() error {
			defer conn.Close(context.Background())
			for sym := range ch {
				_, err := conn.Exec(gctx, `UPDATE quotes SET price = round((90 + random() * 20)::numeric, 4),
					volume = volume + 1 WHERE symbol = $1`, symbolName(sym))
				if err != nil {
					return fmt.Errorf("commit a change of %s: %w", symbolName(sym), err)
				}
				committed.Add(1)
			}
			return nil
		})
	}
	next := 0
	_, perr := pace(gctx, p.rate, 1, p.duration, func(n int) error {
		for range n {
			sym := next % p.symbols
			next++
			select {
			case work[sym%p.writers] <- sym:
			case <-gctx.Done():
				return gctx.Err()
			}
		}
		return nil
	})
	for _, ch := range work {
		close(ch)
	}
	if err := g.Wait(); err != nil {
		return committed.Load(), err
	}
	return committed.Load(), perr
}

// publishBatched commits p.batch changes per transaction with store.MoveQuotes, the
// writer the price feed uses: one UPDATE of many rows, one commit. With several
// writers, each moves its own share of the symbols at its share of the rate.
func (t *tickerboardTarget) publishBatched(ctx context.Context, p plan) (int64, error) {
	writers := min(p.writers, p.symbols/p.batch)
	writers = max(writers, 1)
	var committed atomic.Int64
	g, gctx := errgroup.WithContext(ctx)
	for w := range writers {
		var mine []string
		for i := w; i < p.symbols; i += writers {
			mine = append(mine, symbolName(i))
		}
		g.Go(func() error {
			next := 0
			_, err := pace(gctx, p.rate/float64(writers), p.batch, p.duration, func(n int) error {
				moves := make([]store.QuoteMove, n)
				for i := range moves {
					moves[i] = store.QuoteMove{Symbol: mine[next%len(mine)], Factor: 1 + (rand.Float64()-0.5)/500, Volume: 1}
					next++
				}
				moved, err := t.st.MoveQuotes(gctx, moves)
				committed.Add(moved)
				if err == nil && moved != int64(n) {
					err = fmt.Errorf("moved %d of %d quotes: were load symbols deleted?", moved, n)
				}
				return err
			})
			return err
		})
	}
	err := g.Wait()
	return committed.Load(), err
}

func (t *tickerboardTarget) finalVolumes(ctx context.Context, p plan) ([]int64, error) {
	rows, err := t.st.Pool().Query(ctx, `SELECT symbol, volume FROM quotes WHERE symbol LIKE 'TB____'`)
	if err != nil {
		return nil, fmt.Errorf("read final volumes: %w", err)
	}
	out := make([]int64, p.symbols)
	for i := range out {
		out[i] = -1
	}
	var sym string
	var vol int64
	_, err = pgx.ForEachRow(rows, []any{&sym, &vol}, func() error {
		if i := symbolIndex([]byte(sym)); i >= 0 && i < p.symbols {
			out[i] = vol
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read final volumes: %w", err)
	}
	return out, nil
}

// conflated reads tickerboard_frames_conflated_total from /metrics.
func (t *tickerboardTarget) conflated(ctx context.Context) (int64, bool) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, t.url+"/metrics", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, false
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(io.LimitReader(resp.Body, 4<<20))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "tickerboard_frames_conflated_total "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			return int64(f), err == nil
		}
	}
	return 0, false
}
