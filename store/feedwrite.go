package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// The writes of the built-in feeds. They go through the same tables and triggers as
// anything typed into psql, and are shaped so the feeds never fight a human: prices
// are moved by a factor from whatever the row holds now, and games' scores are only
// ever changed by inserting plays.

// ErrGameOver is returned when a feed writes to a game that is final or was deleted,
// typically because a human finished or removed it.
var ErrGameOver = errors.New("game is final or deleted")

// FeedQuote is a quote row as the price feed resumes from it.
type FeedQuote struct {
	Symbol    string    `db:"symbol"`
	Name      string    `db:"name"`
	Price     float64   `db:"price"`
	PrevClose float64   `db:"prev_close"`
	DayOpen   float64   `db:"day_open"`
	DayHigh   float64   `db:"day_high"`
	DayLow    float64   `db:"day_low"`
	Volume    int64     `db:"volume"`
	UpdatedAt time.Time `db:"updated_at"`
}

// NewQuote is a symbol the price feed lists if it is not listed yet.
type NewQuote struct {
	Symbol string
	Name   string
	Price  float64
}

// QuoteMove moves one quote: its price is multiplied by Factor and Volume shares are
// added to the day's volume. A factor rather than a price means a price typed into
// psql is moved from, not overwritten.
type QuoteMove struct {
	Symbol string
	Factor float64
	Volume int64
}

// FeedQuotes returns the quotes of symbols that exist, ordered by symbol.
func (s *Store) FeedQuotes(ctx context.Context, symbols []string) ([]FeedQuote, error) {
	rows, err := s.pool.Query(ctx, `SELECT symbol, name, price, prev_close, day_open, day_high, day_low,
		volume, updated_at FROM quotes WHERE symbol = ANY($1) ORDER BY symbol`, symbols)
	if err != nil {
		return nil, fmt.Errorf("read feed quotes: %w", err)
	}
	quotes, err := pgx.CollectRows(rows, pgx.RowToStructByName[FeedQuote])
	if err != nil {
		return nil, fmt.Errorf("read feed quotes: %w", err)
	}
	return quotes, nil
}

// AddQuotes lists the quotes that are missing, in one statement, and leaves existing
// ones as they are. It returns how many it added.
func (s *Store) AddQuotes(ctx context.Context, quotes []NewQuote) (int64, error) {
	symbols := make([]string, len(quotes))
	names := make([]string, len(quotes))
	prices := make([]float64, len(quotes))
	for i, q := range quotes {
		symbols[i], names[i], prices[i] = q.Symbol, q.Name, q.Price
	}
	tag, err := s.pool.Exec(ctx, `INSERT INTO quotes (symbol, name, price)
		SELECT symbol, name, price::numeric FROM unnest($1::text[], $2::text[], $3::float8[]) AS n(symbol, name, price)
		ON CONFLICT (symbol) DO NOTHING`, symbols, names, prices)
	if err != nil {
		return 0, fmt.Errorf("add %d quotes: %w", len(quotes), err)
	}
	return tag.RowsAffected(), nil
}

// maxPrice keeps a runaway factor inside numeric(14,4).
const maxPrice = 9_999_999_999

// MoveQuotes applies one tick of many symbols in a single UPDATE, so a high feed rate
// costs one statement (and one commit) per tick rather than one per symbol. Each row
// still fires its own price event. It returns how many quotes it moved: fewer than
// len(moves) means some were deleted.
//
// The UPDATE is planned for each tick (pgx.QueryExecModeExec: an unnamed statement,
// which Postgres plans with the tick's own arrays and the table as it is now). A
// prepared statement's generic plan is made once: made while quotes was small, it
// joins the tick to a scan of the whole table, and it kept doing so while the table
// grew — by new symbols, or by the dead row versions a fast feed leaves until
// autovacuum comes, 30 MB for 1,000 quotes within 20 s at 40,000 changes/s. The writer
// then spent 40 % of its CPU reading them. Planning each tick costs 0.1–0.2 ms (200
// symbols), and the plan follows the table: the primary key once scanning would cost
// more.
func (s *Store) MoveQuotes(ctx context.Context, moves []QuoteMove) (int64, error) {
	symbols, factors, volumes := splitMoves(moves)
	tag, err := s.pool.Exec(ctx, `UPDATE quotes q SET
			price = least(greatest(round(q.price * m.factor::numeric, 4), 0.0001), $4),
			volume = q.volume + m.volume
		FROM unnest($1::text[], $2::float8[], $3::bigint[]) AS m(symbol, factor, volume)
		WHERE q.symbol = m.symbol`, pgx.QueryExecModeExec, symbols, factors, volumes, maxPrice)
	if err != nil {
		return 0, fmt.Errorf("move %d quotes: %w", len(moves), err)
	}
	return tag.RowsAffected(), nil
}

// OpenTradingDay starts a new trading day for the given quotes in one UPDATE: the last
// price becomes prev_close, the price gaps by Factor (the overnight move), the day's
// open, high and low start again from it (the quotes_fill trigger fills them) and the
// volume starts again from Volume. It is planned each time, as MoveQuotes is.
func (s *Store) OpenTradingDay(ctx context.Context, gaps []QuoteMove) (int64, error) {
	symbols, factors, volumes := splitMoves(gaps)
	tag, err := s.pool.Exec(ctx, `UPDATE quotes q SET
			prev_close = q.price,
			price = least(greatest(round(q.price * m.factor::numeric, 4), 0.0001), $4),
			day_open = NULL, day_high = NULL, day_low = NULL,
			volume = m.volume
		FROM unnest($1::text[], $2::float8[], $3::bigint[]) AS m(symbol, factor, volume)
		WHERE q.symbol = m.symbol`, pgx.QueryExecModeExec, symbols, factors, volumes, maxPrice)
	if err != nil {
		return 0, fmt.Errorf("open trading day for %d quotes: %w", len(gaps), err)
	}
	return tag.RowsAffected(), nil
}

func splitMoves(moves []QuoteMove) (symbols []string, factors []float64, volumes []int64) {
	symbols = make([]string, len(moves))
	factors = make([]float64, len(moves))
	volumes = make([]int64, len(moves))
	for i, m := range moves {
		symbols[i], factors[i], volumes[i] = m.Symbol, m.Factor, m.Volume
	}
	return symbols, factors, volumes
}

// FeedGame is a game row as the score feed sees it.
type FeedGame struct {
	ID        int64      `db:"id"`
	League    string     `db:"league"`
	HomeTeam  string     `db:"home_team"`
	AwayTeam  string     `db:"away_team"`
	HomeScore int        `db:"home_score"`
	AwayScore int        `db:"away_score"`
	Period    int        `db:"period"`
	Clock     string     `db:"clock"`
	Status    string     `db:"status"`
	StartsAt  *time.Time `db:"starts_at"`
}

const gameColumns = `id, league, home_team, away_team, home_score, away_score, period, clock, status, starts_at`

// NewGame is a game the score feed schedules.
type NewGame struct {
	League   string
	HomeTeam string
	AwayTeam string
	StartsAt time.Time
}

// GameClock is where a live game's clock stands.
type GameClock struct {
	ID     int64
	Period int
	Clock  string
}

// Play is a scoring play, written exactly as a human would: INSERT INTO scores.
type Play struct {
	GameID int64
	Team   string // home or away
	Points int
	Scorer string
	Period int
	Clock  string
}

// FeedGames returns the games of the given leagues that are not final, by id.
func (s *Store) FeedGames(ctx context.Context, leagues []string) ([]FeedGame, error) {
	return s.games(ctx, "read feed games", `SELECT `+gameColumns+` FROM games
		WHERE status <> 'final' AND league = ANY($1) ORDER BY id`, leagues)
}

// ScheduleGame inserts a scheduled game.
func (s *Store) ScheduleGame(ctx context.Context, g NewGame) (FeedGame, error) {
	games, err := s.games(ctx, "schedule game", `INSERT INTO games (league, home_team, away_team, starts_at)
		VALUES ($1, $2, $3, $4) RETURNING `+gameColumns, g.League, g.HomeTeam, g.AwayTeam, g.StartsAt)
	if err != nil {
		return FeedGame{}, err
	}
	return games[0], nil
}

// StartGame makes a game live at the given period and clock (a game a human already
// started by scoring is simply given its clock). It changes no score. It returns
// ErrGameOver if the game is final or gone.
func (s *Store) StartGame(ctx context.Context, id int64, period int, clock string) (FeedGame, error) {
	games, err := s.games(ctx, "start game", `UPDATE games SET status = 'live', period = $2, clock = $3
		WHERE id = $1 AND status <> 'final' RETURNING `+gameColumns, id, period, clock)
	if err != nil {
		return FeedGame{}, err
	}
	if len(games) == 0 {
		return FeedGame{}, fmt.Errorf("start game %d: %w", id, ErrGameOver)
	}
	return games[0], nil
}

// SetGameClocks moves the period and clock of live games in one UPDATE, touching no
// other column, so scores typed into psql meanwhile are kept. It returns the games it
// updated as they are now (scores included); a game missing from the result has been
// finished or deleted by someone else.
func (s *Store) SetGameClocks(ctx context.Context, clocks []GameClock) ([]FeedGame, error) {
	ids := make([]int64, len(clocks))
	periods := make([]int32, len(clocks))
	texts := make([]string, len(clocks))
	for i, c := range clocks {
		ids[i], periods[i], texts[i] = c.ID, int32(c.Period), c.Clock
	}
	return s.games(ctx, "set game clocks", `UPDATE games g SET period = c.period, clock = c.clock
		FROM unnest($1::bigint[], $2::int[], $3::text[]) AS c(id, period, clock)
		WHERE g.id = c.id AND g.status = 'live'
		RETURNING g.id, g.league, g.home_team, g.away_team, g.home_score, g.away_score,
		          g.period, g.clock, g.status, g.starts_at`, ids, periods, texts)
}

// AddPlay inserts a scoring play; the schema's trigger adds its points to the game.
// It returns ErrGameOver if the game is final or gone.
//
// The game row is locked first: the schema's scores_check reads the game's status
// without a lock, so a play racing a human's "UPDATE games SET status = 'final'"
// could otherwise land on a game that has just become final.
func (s *Store) AddPlay(ctx context.Context, p Play) error {
	tag, err := s.pool.Exec(ctx, `INSERT INTO scores (game_id, team, points, scorer, period, clock)
		SELECT id, $2, $3, $4, $5, $6 FROM games WHERE id = $1 AND status <> 'final' FOR NO KEY UPDATE`,
		p.GameID, p.Team, p.Points, p.Scorer, p.Period, p.Clock)
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && (pgErr.ConstraintName == "scores_game_exists" || pgErr.ConstraintName == "scores_game_not_final") {
		return fmt.Errorf("add play to game %d: %w (%s)", p.GameID, ErrGameOver, pgErr.ConstraintName)
	}
	if err != nil {
		return fmt.Errorf("add play to game %d: %w", p.GameID, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("add play to game %d: %w", p.GameID, ErrGameOver)
	}
	return nil
}

// FinishGame makes a live game final with the given clock. Unless allowTie, a game
// that is tied is not finished (a human may have just levelled it): it is returned
// as it is with finished false, so the feed can play overtime. It returns ErrGameOver
// if the game is already final or gone.
func (s *Store) FinishGame(ctx context.Context, id int64, clock string, allowTie bool) (g FeedGame, finished bool, err error) {
	games, err := s.games(ctx, "finish game", `UPDATE games SET status = 'final', clock = $2
		WHERE id = $1 AND status = 'live' AND ($3 OR home_score <> away_score)
		RETURNING `+gameColumns, id, clock, allowTie)
	if err != nil {
		return FeedGame{}, false, err
	}
	if len(games) == 1 {
		return games[0], true, nil
	}
	games, err = s.games(ctx, "finish game", `SELECT `+gameColumns+` FROM games
		WHERE id = $1 AND status = 'live'`, id)
	if err != nil {
		return FeedGame{}, false, err
	}
	if len(games) == 0 {
		return FeedGame{}, false, fmt.Errorf("finish game %d: %w", id, ErrGameOver)
	}
	return games[0], false, nil
}

// PruneFinalGames deletes the final games of the given leagues but the keep most
// recently finished, so the board and the games table stay bounded. Each deletion
// emits a score event with "deleted": true. Games of other leagues (a human's) are
// never touched.
func (s *Store) PruneFinalGames(ctx context.Context, leagues []string, keep int) (int64, error) {
	tag, err := s.pool.Exec(ctx, `DELETE FROM games WHERE id IN (
		SELECT id FROM games WHERE status = 'final' AND league = ANY($1)
		ORDER BY updated_at DESC, id DESC OFFSET $2)`, leagues, keep)
	if err != nil {
		return 0, fmt.Errorf("prune final games: %w", err)
	}
	return tag.RowsAffected(), nil
}

func (s *Store) games(ctx context.Context, what, sql string, args ...any) ([]FeedGame, error) {
	rows, err := s.pool.Query(ctx, sql, args...)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	games, err := pgx.CollectRows(rows, pgx.RowToStructByName[FeedGame])
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return games, nil
}
