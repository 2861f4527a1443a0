package feeds

import (
	"context"
	"errors"
	"log/slog"
	"maps"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/tickerboard/tickerboard/store"
)

// resyncEvery is how often the score feed rereads the games in play, to adopt games a
// human scheduled in its leagues and let go of those a human finished or deleted.
const resyncEvery = 10 * time.Second

// scoreFeed keeps about LiveGames games in play: it starts scheduled games when they
// are due, plays them, makes them final and schedules new ones so the board never
// empties.
type scoreFeed struct {
	w         ScoreWriter
	o         Options
	logger    *slog.Logger
	seed      int64
	rng       *rand.Rand // for scheduling; each game has its own
	leagues   []string
	live      map[int64]*game
	scheduled map[int64]store.FeedGame
	shown     map[int64]store.GameClock // the clock last written, per live game
	step      time.Duration             // game clock per tick
	spacing   time.Duration             // wall time between scheduled starts
	clockAt   time.Time                 // when clocks were last written
	syncedAt  time.Time                 // when games were last reread
}

// startScores resumes from the games in play in the database: live games carry on
// from their period and clock, scheduled ones start when due.
func startScores(ctx context.Context, w ScoreWriter, o Options, seed int64, logger *slog.Logger) (*scoreFeed, error) {
	f := &scoreFeed{
		w: w, o: o, logger: logger, seed: seed,
		rng:       rand.New(rand.NewPCG(uint64(seed), 0x5c0e)),
		leagues:   leagueNames(),
		live:      map[int64]*game{},
		scheduled: map[int64]store.FeedGame{},
		shown:     map[int64]store.GameClock{},
		step:      time.Duration(float64(o.scoreTick) * o.GameSpeed),
	}
	// Space the starts so that, as games end, about LiveGames stay in play: the mean
	// game's wall-clock length shared among them.
	var total, weights float64
	for _, l := range leagues {
		total += leagueWeights[l.Name] * l.duration().Seconds()
		weights += leagueWeights[l.Name]
	}
	f.spacing = time.Duration(total / weights / o.GameSpeed / float64(o.LiveGames) * float64(time.Second))
	if err := f.resync(ctx, o.now()); err != nil {
		return nil, err
	}
	if _, err := w.PruneFinalGames(ctx, f.leagues, o.KeepFinals); err != nil {
		return nil, err
	}
	logger.Info("score feed started", "live", len(f.live), "scheduled", len(f.scheduled),
		"speed", o.GameSpeed, "seed", seed)
	return f, nil
}

// run ticks until ctx ends; the first tick is at once, so a new leader fills the board.
func (f *scoreFeed) run(ctx context.Context) error {
	t := time.NewTicker(f.o.scoreTick)
	defer t.Stop()
	for {
		if err := f.tick(ctx, f.o.now()); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// tick is one step of every game and of the schedule.
func (f *scoreFeed) tick(ctx context.Context, now time.Time) error {
	if now.Sub(f.syncedAt) >= resyncEvery {
		if err := f.resync(ctx, now); err != nil {
			return err
		}
	}
	for _, id := range slices.Sorted(maps.Keys(f.scheduled)) {
		g := f.scheduled[id]
		if g.Status == "live" || g.StartsAt == nil || !g.StartsAt.After(now) {
			if err := f.start(ctx, g); err != nil {
				return err
			}
		}
	}
	for _, id := range slices.Sorted(maps.Keys(f.live)) {
		if err := f.play(ctx, f.live[id]); err != nil {
			return err
		}
	}
	if now.Sub(f.clockAt) >= f.o.clockEvery {
		if err := f.writeClocks(ctx); err != nil {
			return err
		}
		f.clockAt = now
	}
	return f.topUp(ctx, now)
}

// resync rereads the games of the feed's leagues that are not final and makes the
// feed's view match: scores from the rows, new games adopted, vanished ones dropped.
func (f *scoreFeed) resync(ctx context.Context, now time.Time) error {
	rows, err := f.w.FeedGames(ctx, f.leagues)
	if err != nil {
		return err
	}
	f.syncedAt = now
	seen := map[int64]bool{}
	for _, row := range rows {
		seen[row.ID] = true
		if g, ok := f.live[row.ID]; ok {
			g.sync(row)
			continue
		}
		if row.Status == "live" && f.scheduled[row.ID].Status != "scheduled" {
			g := newGame(f.seed, leagueNamed(row.League), row)
			f.live[row.ID] = g
			f.shown[row.ID] = store.GameClock{ID: row.ID, Period: row.Period, Clock: row.Clock}
			continue
		}
		f.scheduled[row.ID] = row // a scheduled game, or one a human started by scoring
	}
	for id := range f.live {
		if !seen[id] {
			f.drop(id, "finished or deleted by someone else")
		}
	}
	for id := range f.scheduled {
		if !seen[id] {
			delete(f.scheduled, id)
		}
	}
	return nil
}

// start puts a scheduled game in play at the top of its first period.
func (f *scoreFeed) start(ctx context.Context, row store.FeedGame) error {
	delete(f.scheduled, row.ID)
	g := newGame(f.seed, leagueNamed(row.League), store.FeedGame{
		ID: row.ID, HomeTeam: row.HomeTeam, AwayTeam: row.AwayTeam, HomeScore: row.HomeScore, AwayScore: row.AwayScore,
	})
	row, err := f.w.StartGame(ctx, row.ID, g.period, g.clock())
	if errors.Is(err, store.ErrGameOver) {
		return nil
	}
	if err != nil {
		return err
	}
	g.sync(row)
	f.live[row.ID] = g
	f.shown[row.ID] = store.GameClock{ID: row.ID, Period: row.Period, Clock: row.Clock}
	f.logger.Debug("game started", "game", row.ID, "league", row.League, "home", row.HomeTeam, "away", row.AwayTeam)
	return nil
}

// play advances one game a tick, writes its plays and makes it final when it is over.
func (f *scoreFeed) play(ctx context.Context, g *game) error {
	plays := g.advance(f.step)
	for g.over {
		if ok, err := f.writePlays(ctx, g, plays); !ok || err != nil {
			return err
		}
		row, finished, err := f.w.FinishGame(ctx, g.id, g.finalClock(), g.tieAllowed())
		if errors.Is(err, store.ErrGameOver) {
			f.drop(g.id, "finished or deleted by someone else")
			return nil
		}
		if err != nil {
			return err
		}
		if finished {
			f.drop(g.id, "")
			f.logger.Debug("game final", "game", g.id, "home", row.HomeScore, "away", row.AwayScore, "clock", row.Clock)
			_, err := f.w.PruneFinalGames(ctx, f.leagues, f.o.KeepFinals)
			return err
		}
		plays = g.reopen(row) // someone levelled it: play on
	}
	_, err := f.writePlays(ctx, g, plays)
	return err
}

// writePlays inserts plays in order. It reports false if the game turned out to be
// final or gone (a human finished or deleted it), and lets the game go.
func (f *scoreFeed) writePlays(ctx context.Context, g *game, plays []store.Play) (bool, error) {
	for _, p := range plays {
		err := f.w.AddPlay(ctx, p)
		if errors.Is(err, store.ErrGameOver) {
			f.drop(g.id, "finished or deleted by someone else")
			return false, nil
		}
		if err != nil {
			return false, err
		}
	}
	return true, nil
}

// writeClocks writes, in one statement, the clock of every live game whose clock
// text moved, and learns their scores back.
func (f *scoreFeed) writeClocks(ctx context.Context) error {
	var clocks []store.GameClock
	for _, id := range slices.Sorted(maps.Keys(f.live)) {
		g := f.live[id]
		c := store.GameClock{ID: id, Period: g.period, Clock: g.clock()}
		if c != f.shown[id] {
			clocks = append(clocks, c)
		}
	}
	if len(clocks) == 0 {
		return nil
	}
	rows, err := f.w.SetGameClocks(ctx, clocks)
	if err != nil {
		return err
	}
	updated := map[int64]bool{}
	for _, row := range rows {
		updated[row.ID] = true
		f.live[row.ID].sync(row)
	}
	for _, c := range clocks {
		if updated[c.ID] {
			f.shown[c.ID] = c
		} else {
			f.drop(c.ID, "finished or deleted by someone else")
		}
	}
	return nil
}

func (f *scoreFeed) drop(id int64, why string) {
	delete(f.live, id)
	delete(f.shown, id)
	if why != "" {
		f.logger.Info("score feed: leaving a game alone", "game", id, "why", why)
	}
}
