package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
)

// ErrNotFound is returned when a requested quote or game does not exist.
var ErrNotFound = errors.New("not found")

// SnapshotLimit bounds how many quotes and games one snapshot carries: a board of
// 1,000 symbols (the feeds' largest CSV universe) is carried whole.
const SnapshotLimit = 2000

// Filter narrows a snapshot: nil slices mean "all".
type Filter struct {
	Symbols []string
	Games   []int64
	Quotes  bool // include quotes
	Scores  bool // include games and plays
}

// Snapshot is the board as it stands at event ID: every event up to it is reflected.
// Under the trigger capture none after it is; under the WAL capture the log trails the
// tables, so events after ID may be too: those whose transaction Visible saw. Each row
// has the same JSON shape as the events, so a client folds both the same way. The API
// sends it in parts small enough for any SSE client.
type Snapshot struct {
	ID     int64
	Quotes []json.RawMessage // by symbol
	Games  []json.RawMessage // by id
	Plays  []json.RawMessage // oldest first
	// Market is the market table's row (session, day, opens_at, closes_at,
	// updated_at), or nil when there is none or the price topic was not asked for.
	Market json.RawMessage
	// Visible is which transactions the tables were read with: an event whose Xid
	// it saw is already in the snapshot, whatever its id.
	Visible Visibility
}

// Snapshot reads the board in a single statement, so it is consistent with its ID and
// its Visible. Games are those not final plus the 20 most recently finished; plays are
// the latest 20.
func (s *Store) Snapshot(ctx context.Context, f Filter) (Snapshot, error) {
	var snap Snapshot
	var visible string
	err := s.pool.QueryRow(ctx, `
WITH head AS (SELECT greatest((SELECT coalesce(max(id), 0) FROM events WHERE id <= `+issuedSQL+`), (SELECT through FROM events_pruned)) AS id),
q AS (SELECT quote_json(q) AS j, q.symbol FROM quotes q
      WHERE $3 AND ($1::text[] IS NULL OR q.symbol = ANY($1)) ORDER BY q.symbol LIMIT $5),
g AS (SELECT * FROM (
        (SELECT * FROM games WHERE status <> 'final' ORDER BY id LIMIT $5)
        UNION ALL
        (SELECT * FROM games WHERE status = 'final' ORDER BY updated_at DESC LIMIT 20)) g
      WHERE $4 AND ($2::bigint[] IS NULL OR g.id = ANY($2))),
p AS (SELECT play_json(s) AS j, s.id FROM scores s
      WHERE $4 AND ($2::bigint[] IS NULL OR s.game_id = ANY($2)) ORDER BY s.id DESC LIMIT 20)
SELECT head.id,
	coalesce((SELECT array_agg(j ORDER BY symbol) FROM q), '{}'),
	coalesce((SELECT array_agg(game_json(g) ORDER BY g.id) FROM g), '{}'),
	coalesce((SELECT array_agg(j ORDER BY id) FROM p), '{}'),
	(SELECT market_json(m) FROM market m WHERE $3),
	pg_current_snapshot()::text
FROM head`, f.Symbols, f.Games, f.Quotes, f.Scores, SnapshotLimit).Scan(&snap.ID, &snap.Quotes, &snap.Games, &snap.Plays, &snap.Market, &visible)
	if err != nil {
		return Snapshot{}, fmt.Errorf("read snapshot: %w", err)
	}
	if snap.Visible, err = ParseVisibility(visible); err != nil {
		return Snapshot{}, fmt.Errorf("read snapshot: %w", err)
	}
	return snap, nil
}

// Visibility is which transactions a statement's snapshot saw, as pg_current_snapshot()
// reports it: those below xmin, and those below xmax not in xip (in progress then).
// The zero Visibility saw none.
type Visibility struct {
	xmin, xmax uint64
	xip        []uint64 // ascending
}

// ParseVisibility reads pg_current_snapshot()'s text form, xmin:xmax:xip,xip,...
func ParseVisibility(s string) (Visibility, error) {
	var v Visibility
	xmin, rest, ok1 := strings.Cut(s, ":")
	xmax, xip, ok2 := strings.Cut(rest, ":")
	var err1, err2 error
	v.xmin, err1 = strconv.ParseUint(xmin, 10, 64)
	v.xmax, err2 = strconv.ParseUint(xmax, 10, 64)
	if !ok1 || !ok2 || err1 != nil || err2 != nil || v.xmin > v.xmax {
		return Visibility{}, fmt.Errorf("snapshot %q is not xmin:xmax:xip,...", s)
	}
	if xip != "" {
		v.xip = make([]uint64, 0, strings.Count(xip, ",")+1)
		for x := range strings.SplitSeq(xip, ",") {
			id, err := strconv.ParseUint(x, 10, 64)
			if err != nil || id < v.xmin || id >= v.xmax {
				return Visibility{}, fmt.Errorf("snapshot %q: in-progress xid %q is not between xmin and xmax", s, x)
			}
			v.xip = append(v.xip, id)
		}
		slices.Sort(v.xip)
	}
	return v, nil
}

// Visible reports whether the snapshot saw transaction xid committed. 0 (no
// transaction recorded: an event the triggers wrote) is never visible.
func (v Visibility) Visible(xid uint64) bool {
	if xid >= v.xmax || xid == 0 { // the usual case once a stream is past its snapshot
		return false
	}
	return xid < v.xmin || !running(v.xip, xid)
}

// running reports whether xid is one of xip (ascending).
func running(xip []uint64, xid uint64) bool {
	_, found := slices.BinarySearch(xip, xid)
	return found
}

// NoneFrom reports whether the snapshot saw no transaction numbered xid or above.
func (v Visibility) NoneFrom(xid uint64) bool { return v.xmax <= xid }

// String is the snapshot in pg_current_snapshot()'s text form.
func (v Visibility) String() string {
	b := strconv.AppendUint(nil, v.xmin, 10)
	b = append(b, ':')
	b = strconv.AppendUint(b, v.xmax, 10)
	b = append(b, ':')
	for i, x := range v.xip {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendUint(b, x, 10)
	}
	return string(b)
}

// QuotesJSON returns every quote as a JSON array, ordered by symbol.
func (s *Store) QuotesJSON(ctx context.Context) ([]byte, error) {
	return s.jsonValue(ctx, "read quotes",
		`SELECT coalesce(jsonb_agg(quote_json(q) ORDER BY q.symbol), '[]') FROM quotes q`)
}

// QuoteHistoryJSON returns the last limit price ticks of symbol, oldest first, as
// [{"price", "ts"}], or ErrNotFound when the symbol has no quote.
func (s *Store) QuoteHistoryJSON(ctx context.Context, symbol string, limit int) ([]byte, error) {
	return s.jsonValue(ctx, "read price history",
		`SELECT (SELECT coalesce(jsonb_agg(jsonb_build_object('price', t.price, 'ts', t.ts) ORDER BY t.ts), '[]')
		         FROM (SELECT price, ts FROM price_ticks WHERE symbol = $1 ORDER BY ts DESC LIMIT $2) t)
		 FROM quotes WHERE symbol = $1`, symbol, limit)
}

// GamesJSON returns every game as a JSON array, newest first, at most SnapshotLimit.
func (s *Store) GamesJSON(ctx context.Context) ([]byte, error) {
	return s.jsonValue(ctx, "read games",
		`SELECT coalesce(jsonb_agg(game_json(g) ORDER BY g.id DESC), '[]')
		 FROM (SELECT * FROM games ORDER BY id DESC LIMIT $1) g`, SnapshotLimit)
}

// GameJSON returns one game with its plays as {"game": …, "plays": […]}, or ErrNotFound.
func (s *Store) GameJSON(ctx context.Context, id int64) ([]byte, error) {
	return s.jsonValue(ctx, "read game",
		`SELECT game_json(g) || jsonb_build_object('plays',
		   (SELECT coalesce(jsonb_agg(play_json(s) ORDER BY s.id), '[]') FROM scores s WHERE s.game_id = g.id))
		 FROM games g WHERE g.id = $1`, id)
}

func (s *Store) jsonValue(ctx context.Context, what, sql string, args ...any) ([]byte, error) {
	var data []byte
	err := s.pool.QueryRow(ctx, sql, args...).Scan(&data)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return data, nil
}
